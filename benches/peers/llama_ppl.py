#!/usr/bin/env python3
"""llama.cpp's reference numbers for a GGUF file, through llama-cpp-python
(run with the python of build-llama-cpp.sh's venv):

  perplexity   as `llama-perplexity -f TEXT -c CTX` computes it:
               the text tokenized with the model's special prefix (BOS where
               the model adds one; special tokens in the text not parsed),
               cut into tokens/CTX non-overlapping chunks (a partial last
               chunk dropped; at least two chunks), each evaluated from an
               empty cache with its first token replaced by BOS when the
               model adds one, and only the second half scored: the logits
               at positions CTX/2 .. CTX-2 against the next token. Prints
               `PPL = x.xxxx +/- y.yyyyy` (llama.cpp's error estimate) on
               stdout.
  logits       --tokens-file T.json (a JSON list of token ids) --npy OUT.npy:
               the logits at every position of that sequence, evaluated
               from an empty cache as one sequence, float32
               [positions, vocab], as `minke logits --all --npy` writes.
               Without --npy, the perplexity of those ids (taken as the
               tokenized text: the BOS rule above still applies).
  tokens       --print-tokens: the text's tokens as llama.cpp makes them
               (JSON list on stdout), to check a tokenizer against.

`minke perplexity -f TEXT -c CTX` (core/src/score.rs) uses the same chunks,
positions and BOS rule. Differences on purpose or by default:
  - the KV cache: llama.cpp's default is f16 (as here, --kv f16), minke's
    perplexity and logits commands keep it in f32; pass --kv f32 to match;
  - llama.cpp evaluates a chunk as one batch (n_batch = CTX), minke in
    batches of at most 128 tokens: the same numbers up to rounding;
  - minke's tokenizer splits special tokens written in the text (e.g.
    `<|im_end|>`) out as their ids; llama-perplexity does not parse them.
    Plain prose has none.

  llama_ppl.py MODEL.gguf -f TEXT [-c 512] [-t 2] [--kv f16|f32|q8_0] [--flash-attn] [--chunks N]
  llama_ppl.py MODEL.gguf --tokens-file T.json [-c 512]     (perplexity of ids)
  llama_ppl.py MODEL.gguf --tokens-file T.json --npy OUT.npy [--kv f32]
  llama_ppl.py MODEL.gguf -f TEXT --print-tokens
"""

import argparse
import json
import math
import sys
import time

import numpy as np

import llama_cpp
import llama_cpp._logger

KV = {
    "f16": llama_cpp.GGML_TYPE_F16,
    "f32": llama_cpp.GGML_TYPE_F32,
    "q8_0": llama_cpp.GGML_TYPE_Q8_0,
}


def log(msg: str) -> None:
    print(f"llama_ppl: {msg}", file=sys.stderr, flush=True)


def load(
    path: str, n_ctx: int, threads: int, kv: str, verbose: bool, flash_attn: bool = False
) -> llama_cpp.Llama:
    return llama_cpp.Llama(
        model_path=path,
        n_ctx=n_ctx,
        n_batch=n_ctx,
        n_ubatch=n_ctx,
        n_threads=threads,
        n_threads_batch=threads,
        logits_all=True,
        type_k=KV[kv],
        type_v=KV[kv],
        # llama.cpp quantizes the V cache only under flash attention.
        flash_attn=flash_attn or kv == "q8_0",
        verbose=verbose,
    )


def tokenize(m: llama_cpp.Llama, text: str) -> list[int]:
    # common_tokenize(ctx, text, add_special=true, parse_special=false)
    return m.tokenize(text.encode("utf-8"), add_bos=True, special=False)


def log_softmax_at(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """log p(target) for each row, in float64."""
    x = logits.astype(np.float64)
    mx = x.max(axis=1, keepdims=True)
    lse = mx[:, 0] + np.log(np.exp(x - mx).sum(axis=1))
    return x[np.arange(len(targets)), targets] - lse


def perplexity(m: llama_cpp.Llama, tokens: list[int], n_ctx: int, max_chunks: int | None) -> None:
    add_bos = m._model.add_bos_token()
    bos = m.token_bos()
    if len(tokens) < 2 * n_ctx:
        raise SystemExit(f"llama_ppl: the text has {len(tokens)} tokens; llama-perplexity needs at least "
                         f"{2 * n_ctx} (two chunks of {n_ctx})")
    n_chunk = len(tokens) // n_ctx
    if max_chunks is not None:
        n_chunk = min(n_chunk, max_chunks)
    first = n_ctx // 2
    log(f"{len(tokens)} tokens, {n_chunk} chunks of {n_ctx}, BOS at chunk starts: {bool(add_bos)}")
    nll = nll2 = 0.0
    count = 0
    t0 = time.monotonic()
    for c in range(n_chunk):
        chunk = list(tokens[c * n_ctx : (c + 1) * n_ctx])
        if add_bos:
            chunk[0] = bos
        m.reset()  # n_tokens = 0: eval() then clears the cache from 0
        m.eval(chunk)
        logits = np.asarray(m.scores[first : n_ctx - 1], dtype=np.float32)
        targets = np.asarray(tokens[c * n_ctx + first + 1 : (c + 1) * n_ctx])
        lp = log_softmax_at(logits, targets)
        nll -= lp.sum()
        nll2 += (lp * lp).sum()
        count += len(lp)
        log(f"[{c + 1}/{n_chunk}] PPL {math.exp(nll / count):.4f} ({time.monotonic() - t0:.0f} s)")
    mean = nll / count
    var = nll2 / count - mean * mean
    err = math.sqrt(var / (count - 1)) * math.exp(mean) if var > 0 else float("nan")
    print(f"PPL = {math.exp(mean):.4f} +/- {err:.5f}")
    log(f"{count} tokens scored in {n_chunk} chunks")


def dump_logits(m: llama_cpp.Llama, tokens: list[int], npy: str) -> None:
    m.reset()
    m.eval(tokens)
    x = np.ascontiguousarray(m.scores[: len(tokens)], dtype="<f4")
    np.save(npy, x)
    log(f"wrote {npy} {list(x.shape)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("-f", "--file", help="text file (perplexity, --print-tokens)")
    ap.add_argument("-c", "--ctx", type=int, default=512, help="chunk length (default 512, as llama-perplexity)")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--kv", choices=KV, default="f16", help="KV cache type (llama.cpp's default f16; minke's f32)")
    ap.add_argument(
        "--flash-attn",
        action="store_true",
        help="flash attention (always on with --kv q8_0, which needs it)",
    )
    ap.add_argument("--chunks", type=int, help="score at most this many chunks")
    ap.add_argument("--tokens-file", help="JSON list of token ids: their logits (--npy) or perplexity")
    ap.add_argument("--npy", help="where --tokens-file's logits go ([positions, vocab] float32)")
    ap.add_argument("--print-tokens", action="store_true", help="print the text's tokens as JSON")
    ap.add_argument("--verbose", action="store_true", help="show llama.cpp's own log")
    a = ap.parse_args()
    llama_cpp._logger.set_verbose(a.verbose)

    if bool(a.file) == bool(a.tokens_file):
        raise SystemExit("llama_ppl: give one of -f TEXT and --tokens-file T.json")
    if a.npy and not a.tokens_file:
        raise SystemExit("llama_ppl: --npy dumps the logits of --tokens-file")
    if a.tokens_file:
        with open(a.tokens_file) as f:
            tokens = [int(t) for t in json.load(f)]
        if not tokens:
            raise SystemExit(f"llama_ppl: {a.tokens_file} holds no tokens")
        if a.npy:
            m = load(a.model, len(tokens), a.threads, a.kv, a.verbose, a.flash_attn)
            dump_logits(m, tokens, a.npy)
            return
        m = load(a.model, a.ctx, a.threads, a.kv, a.verbose, a.flash_attn)
    else:
        with open(a.file, encoding="utf-8") as f:
            text = f.read()
        m = load(a.model, a.ctx, a.threads, a.kv, a.verbose, a.flash_attn)
        tokens = tokenize(m, text)
        if a.print_tokens:
            print(json.dumps(tokens))
            return
    perplexity(m, tokens, a.ctx, a.chunks)


if __name__ == "__main__":
    main()
