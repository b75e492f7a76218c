#!/usr/bin/env python3
"""Reference data from real implementations for SmolLM2-135M-Instruct (GGUF).

Writes tests/fixtures/smollm2/ so that Rust tests (no Python in CI) can check
minke end to end against:

  * transformers' own load of the same GGUF (dequantized to f32): teacher-forced
    top-32 log-probabilities for three texts, full logits of the first
    positions, greedy continuations, and a llama-perplexity style PPL;
  * llama.cpp (through llama-cpp-python, built by
    benches/peers/build-llama-cpp.sh into its own venv): greedy continuations
    from the same prompt ids, the same PPL, and how far its teacher-forced
    distributions are from transformers' (to calibrate test thresholds).

Usage (from the repository root):

    .venv/bin/python scripts/gen_real_refs.py $(scripts/fetch-model.sh)

The llama.cpp part runs in a child process with the llama venv's python
(found by running benches/peers/build-llama-cpp.sh, which builds it the first
time); `--llama-python PATH` picks another interpreter, `--skip-llama` leaves
the llama.cpp fields out. The same file is the child's entry point
(`--llama-worker REQUEST.json`); that mode imports only llama_cpp and numpy.

No BOS is added anywhere: the GGUF says tokenizer.ggml.add_bos_token = false,
so transformers' tokenizer adds nothing and llama-perplexity would add nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DEFAULT = ROOT / "tests" / "fixtures" / "smollm2"
TEXTS = ("english", "code", "chinese")
TOP_K = 32
HEAD_POSITIONS = 8
GREEDY_NEW = 32
GREEDY_PROMPTS = (
    "The capital of France is",
    "def fibonacci(n):",
    "中国的首都是",
    "Once upon a time",
)
PPL_CTX = 256
N_THREADS = 2


# --------------------------------------------------------------------------
# shared helpers (numpy only)
# --------------------------------------------------------------------------


def log_softmax64(logits):
    """Row-wise log-softmax in float64 of a [n, vocab] float32 array."""
    import numpy as np

    x = np.asarray(logits, dtype=np.float64)
    m = x.max(axis=-1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
    return x - lse


def chunk_nll(logits, chunk, first):
    """llama-perplexity scoring of one chunk.

    logits: [n_ctx, vocab] f32 for the chunk evaluated from an empty cache;
    chunk: its n_ctx token ids. Rows first..n_ctx-2 predict tokens
    first+1..n_ctx-1 (n_ctx-1-first scores). Returns (sum nll, sum nll^2, n).
    """
    n_ctx = len(chunk)
    lp = log_softmax64(logits[first : n_ctx - 1])
    targets = chunk[first + 1 : n_ctx]
    nll = [-float(lp[i, t]) for i, t in enumerate(targets)]
    return sum(nll), sum(v * v for v in nll), len(nll)


# --------------------------------------------------------------------------
# llama.cpp worker (runs in the llama venv; imports no torch)
# --------------------------------------------------------------------------


def llama_worker(request_path: str) -> None:
    import numpy as np
    import llama_cpp

    req = json.loads(Path(request_path).read_text())
    model = req["model"]
    out_dir = Path(req["out_dir"])
    result: dict = {"llama_cpp_python": llama_cpp.__version__}

    # Greedy: the exact settings of the brief, prompt fed as ids.
    llm = llama_cpp.Llama(
        model_path=model,
        n_threads=N_THREADS,
        logits_all=False,
        seed=0,
        n_ctx=512,
        verbose=False,
    )
    n_vocab = llm.n_vocab()
    result["add_bos"] = bool(llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model)))
    greedy = []
    for prompt_ids in req["greedy"]:
        llm.reset()
        llm.eval(prompt_ids)
        gen, margins = [], []
        for step in range(req["greedy_new"]):
            ptr = llm._ctx.get_logits_ith(-1)
            row = np.ctypeslib.as_array(ptr, shape=(n_vocab,)).astype(np.float32).copy()
            order = np.argsort(-row, kind="stable")[:2]
            tok = int(order[0])
            gen.append(tok)
            margins.append(float(row[order[0]] - row[order[1]]))
            if step + 1 < req["greedy_new"]:
                llm.eval([tok])
        greedy.append({"ids": gen, "margins": margins})
    result["greedy"] = greedy
    del llm

    # Perplexity: each chunk from an empty cache, all logits kept.
    llm = llama_cpp.Llama(
        model_path=model,
        n_threads=N_THREADS,
        logits_all=True,
        seed=0,
        n_ctx=req["ppl_ctx"],
        n_batch=req["ppl_ctx"],
        verbose=False,
    )
    chunks = []
    for chunk in req["ppl_chunks"]:
        llm.reset()
        llm.eval(chunk)
        logits = np.array(llm.scores[: len(chunk)], dtype=np.float32)
        s, s2, n = chunk_nll(logits, chunk, req["ppl_first"])
        chunks.append({"nll_sum": s, "nll2_sum": s2, "count": n})
    result["ppl_chunks"] = chunks
    del llm

    # Teacher-forced logits of the texts (for the llama-vs-transformers stats).
    longest = max(len(v) for v in req["texts"].values())
    n_ctx = 1 << max(9, (longest - 1).bit_length())
    llm = llama_cpp.Llama(
        model_path=model,
        n_threads=N_THREADS,
        logits_all=True,
        seed=0,
        n_ctx=n_ctx,
        n_batch=512,
        verbose=False,
    )
    for name, ids in req["texts"].items():
        llm.reset()
        llm.eval(ids)
        np.save(out_dir / f"llama_{name}.npy", np.array(llm.scores[: len(ids)], dtype=np.float32))
    del llm

    (out_dir / "llama_result.json").write_text(json.dumps(result))


# --------------------------------------------------------------------------
# transformers side (runs in .venv)
# --------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_llama_python(explicit: str | None) -> str:
    if explicit:
        return explicit
    script = ROOT / "benches" / "peers" / "build-llama-cpp.sh"
    proc = subprocess.run([str(script)], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"gen_real_refs: {script} failed (exit {proc.returncode}); pass --llama-python or --skip-llama")
    return proc.stdout.strip().splitlines()[-1]


def tokenize(tok, text: str, what: str) -> list[int]:
    ids = tok(text, add_special_tokens=False)["input_ids"]
    with_special = tok(text)["input_ids"]
    if with_special != ids:
        sys.exit(f"gen_real_refs: tokenizer adds special tokens to {what}; this GGUF should not (add_bos_token=false)")
    if tok.decode(ids) != text:
        sys.exit(f"gen_real_refs: decode(encode({what})) does not round-trip")
    return ids


def hf_logits(model, ids: list[int]):
    import torch

    with torch.no_grad():
        out = model(torch.tensor([ids], dtype=torch.long)).logits[0]
    return out.to(torch.float32).numpy()


def hf_greedy(model, prompt_ids: list[int], n_new: int):
    """Greedy decoding with a full recompute each step (no cache, no EOS stop)."""
    import numpy as np

    seq = list(prompt_ids)
    gen, margins = [], []
    for _ in range(n_new):
        row = hf_logits(model, seq)[-1]
        order = np.argsort(-row, kind="stable")[:2]
        tok = int(order[0])
        gen.append(tok)
        margins.append(float(row[order[0]] - row[order[1]]))
        seq.append(tok)
    return gen, margins


def topk_tables(logits):
    """top ids [n,K] i32, their log-probs [n,K] f32, log of their mass [n] f32."""
    import numpy as np

    lp = log_softmax64(logits)
    idx = np.argsort(-lp, axis=-1, kind="stable")[:, :TOP_K]
    top_lp = np.take_along_axis(lp, idx, axis=-1)
    m = top_lp.max(axis=-1, keepdims=True)
    mass = (m + np.log(np.exp(top_lp - m).sum(axis=-1, keepdims=True)))[:, 0]
    return idx.astype(np.int32), top_lp.astype(np.float32), mass.astype(np.float32), lp


def compare_dists(ref_lp, ref_top_ids, ref_top_lp, ref_mass, test_logits):
    """Stats of a test implementation's distributions against the reference."""
    import numpy as np

    test_lp = log_softmax64(test_logits)
    p = np.exp(ref_lp)
    kl_full = (p * (ref_lp - test_lp)).sum(axis=-1)
    # Truncated lower bound from top-32 data only (what a Rust test can do):
    # sum over top-32 of p*(log p - log q) + p_rest*log(p_rest/q_rest).
    rp = np.exp(ref_top_lp.astype(np.float64))
    q_top = np.take_along_axis(test_lp, ref_top_ids.astype(np.int64), axis=-1)
    head = (rp * (ref_top_lp - q_top)).sum(axis=-1)
    p_rest = np.clip(1.0 - np.exp(ref_mass.astype(np.float64)), 0.0, 1.0)
    q_rest = np.clip(1.0 - np.exp(q_top).sum(axis=-1), 1e-30, 1.0)
    tail = np.where(p_rest > 0, p_rest * np.log(np.maximum(p_rest, 1e-30) / q_rest), 0.0)
    kl_bound = head + tail
    top1 = (ref_lp.argmax(axis=-1) == test_lp.argmax(axis=-1)).mean()
    return {
        "top1_agreement": float(top1),
        "kl_full_mean": float(kl_full.mean()),
        "kl_full_max": float(kl_full.max()),
        "kl_top32_bound_mean": float(kl_bound.mean()),
        "kl_top32_bound_max": float(kl_bound.max()),
        "max_abs_logprob_diff_on_ref_top32": float(np.abs(q_top - ref_top_lp).max()),
    }


def first_disagreement(a: list[int], b: list[int]):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def ppl_summary(chunks: list[dict]) -> dict:
    s = sum(c["nll_sum"] for c in chunks)
    s2 = sum(c["nll2_sum"] for c in chunks)
    n = sum(c["count"] for c in chunks)
    mean = s / n
    var = s2 / n - mean * mean
    unc = math.sqrt(var / (n - 1)) * math.exp(mean) if var > 0 else None
    return {
        "ppl": math.exp(mean),
        "ppl_uncertainty": unc,
        "mean_nll": mean,
        "scored_tokens": n,
        "chunk_nll_sums": [c["nll_sum"] for c in chunks],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", help="path of SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-model.sh prints it)")
    ap.add_argument("--out", default=str(OUT_DEFAULT), help="output folder (default: tests/fixtures/smollm2)")
    ap.add_argument("--llama-python", help="python of a venv with llama-cpp-python")
    ap.add_argument("--skip-llama", action="store_true", help="leave out the llama.cpp fields")
    ap.add_argument("--llama-worker", metavar="REQUEST", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.llama_worker:
        llama_worker(args.llama_worker)
        return
    if not args.model:
        ap.error("the model path is required (scripts/fetch-model.sh prints it)")

    import importlib.metadata as md

    import numpy as np
    import torch
    from safetensors.numpy import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_path = Path(args.model).resolve()
    if not model_path.is_file():
        sys.exit(f"gen_real_refs: model file {model_path} does not exist")
    out = Path(args.out)
    texts_dir = out / "texts"
    torch.set_num_threads(N_THREADS)

    gguf_sha = sha256_of(model_path)
    versions = {
        "torch": torch.__version__,
        "transformers": md.version("transformers"),
        "gguf": md.version("gguf"),
        "tokenizers": md.version("tokenizers"),
    }
    print(f"gen_real_refs: model {model_path} sha256 {gguf_sha}", file=sys.stderr)

    tok = AutoTokenizer.from_pretrained(str(model_path.parent), gguf_file=model_path.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(model_path.parent),
        gguf_file=model_path.name,
        dtype=torch.float32,
        attn_implementation="eager",
    )
    model.eval()
    if getattr(tok, "add_bos_token", False):
        sys.exit("gen_real_refs: tokenizer says add_bos_token=true; this script assumes the GGUF's false")

    meta = {
        "gguf_sha256": gguf_sha,
        "reference": "transformers GGUF load, dequantized to f32, eager attention",
        "bos": "none (GGUF add_bos_token=false)",
        **{f"version_{k}": v for k, v in versions.items()},
    }

    # ---- teacher-forced texts -------------------------------------------
    text_ids: dict[str, list[int]] = {}
    text_lp = {}
    text_tables = {}
    for name in TEXTS:
        text = (texts_dir / f"{name}.txt").read_text(encoding="utf-8")
        ids = tokenize(tok, text, f"texts/{name}.txt")
        if len(ids) < 256:
            sys.exit(f"gen_real_refs: texts/{name}.txt has only {len(ids)} tokens (need >= 256)")
        text_ids[name] = ids
        logits = hf_logits(model, ids)  # [n, vocab] f32
        top_ids, top_lp, mass, lp = topk_tables(logits)
        tgt = np.array(ids[1:], dtype=np.int64)
        next_lp = lp[np.arange(len(ids) - 1), tgt].astype(np.float32)  # [n-1]
        tensors = {
            "tokens": np.array(ids, dtype=np.int32),  # [n]
            "top_ids": top_ids,  # [n, 32]
            "top_logprobs": top_lp,  # [n, 32]
            "top_logmass": mass,  # [n]
            "next_logprobs": next_lp,  # [n-1]
        }
        if name == "english":
            tensors["logits_head"] = np.ascontiguousarray(logits[:HEAD_POSITIONS], dtype=np.float32)  # [8, vocab]
        save_file(tensors, str(out / f"ref_{name}.safetensors"), metadata={**meta, "text": f"texts/{name}.txt"})
        text_lp[name] = lp
        text_tables[name] = (top_ids, top_lp, mass)
        print(f"gen_real_refs: {name}: {len(ids)} tokens, mean nll {-next_lp.mean():.4f}", file=sys.stderr)

    # ---- greedy ---------------------------------------------------------------
    greedy = []
    for prompt in GREEDY_PROMPTS:
        pids = tokenize(tok, prompt, repr(prompt))
        gen, margins = hf_greedy(model, pids, GREEDY_NEW)
        greedy.append({"prompt": prompt, "prompt_ids": pids, "transformers": gen, "transformers_margins": margins})
        print(f"gen_real_refs: greedy {prompt!r} -> {tok.decode(gen)!r}", file=sys.stderr)

    # ---- perplexity -----------------------------------------------------------
    ppl_text = (texts_dir / "ppl.txt").read_text(encoding="utf-8")
    ppl_ids = tokenize(tok, ppl_text, "texts/ppl.txt")
    n_chunk = len(ppl_ids) // PPL_CTX
    if len(ppl_ids) < 4096 or n_chunk < 2:
        sys.exit(f"gen_real_refs: texts/ppl.txt has only {len(ppl_ids)} tokens (need >= 4096)")
    first = PPL_CTX // 2
    chunks = [ppl_ids[i * PPL_CTX : (i + 1) * PPL_CTX] for i in range(n_chunk)]
    hf_chunks = []
    for chunk in chunks:
        s, s2, n = chunk_nll(hf_logits(model, chunk), chunk, first)
        hf_chunks.append({"nll_sum": s, "nll2_sum": s2, "count": n})
    hf_ppl = ppl_summary(hf_chunks)
    print(f"gen_real_refs: transformers PPL {hf_ppl['ppl']:.4f} over {n_chunk} chunks", file=sys.stderr)

    # ---- llama.cpp ------------------------------------------------------------
    llama = None
    llama_stats = None
    if not args.skip_llama:
        py = find_llama_python(args.llama_python)
        with tempfile.TemporaryDirectory(prefix="minke-refs-") as tmp:
            req = {
                "model": str(model_path),
                "out_dir": tmp,
                "greedy": [g["prompt_ids"] for g in greedy],
                "greedy_new": GREEDY_NEW,
                "ppl_chunks": chunks,
                "ppl_ctx": PPL_CTX,
                "ppl_first": first,
                "texts": text_ids,
            }
            req_path = Path(tmp) / "request.json"
            req_path.write_text(json.dumps(req))
            print(f"gen_real_refs: running the llama.cpp part with {py}", file=sys.stderr)
            subprocess.run([py, str(Path(__file__).resolve()), "--llama-worker", str(req_path)], check=True)
            llama = json.loads((Path(tmp) / "llama_result.json").read_text())
            if llama["add_bos"]:
                sys.exit("gen_real_refs: llama.cpp says add_bos=true; the PPL here assumes false")
            llama_stats = {}
            for name in TEXTS:
                test_logits = np.load(Path(tmp) / f"llama_{name}.npy")
                top_ids, top_lp, mass = text_tables[name]
                llama_stats[name] = compare_dists(text_lp[name], top_ids, top_lp, mass, test_logits)

    # ---- write JSON -----------------------------------------------------------
    for i, g in enumerate(greedy):
        g["transformers_text"] = tok.decode(g["transformers"])
        if llama is not None:
            lg = llama["greedy"][i]
            g["llama_cpp"] = lg["ids"]
            g["llama_cpp_margins"] = lg["margins"]
            g["llama_cpp_text"] = tok.decode(lg["ids"])
            g["first_disagreement"] = first_disagreement(g["transformers"], lg["ids"])
    common = {
        "gguf_sha256": gguf_sha,
        "versions": {**versions, **({"llama_cpp_python": llama["llama_cpp_python"]} if llama else {})},
    }
    greedy_doc = {
        **common,
        "n_new": GREEDY_NEW,
        "notes": "raw prompts, no chat template, no BOS; argmax each step (ties: lowest id), no EOS stop; "
        "transformers recomputes the whole sequence each step; llama.cpp gets the same prompt ids "
        "(n_threads=2, n_ctx=512, logits_all=False, seed=0). margins = top1 - top2 logit at each step.",
        "prompts": greedy,
    }
    (out / "greedy.json").write_text(json.dumps(greedy_doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    ppl_doc = {
        **common,
        "method": "llama-perplexity default: floor(n_tokens/n_ctx) non-overlapping chunks, each from an empty "
        "KV cache, no BOS (add_bos=false); logits at positions first..n_ctx-2 predict tokens first+1..n_ctx-1; "
        "PPL = exp(sum nll / count)",
        "n_ctx": PPL_CTX,
        "first": first,
        "n_tokens": len(ppl_ids),
        "n_chunks": n_chunk,
        "scored_per_chunk": PPL_CTX - 1 - first,
        "transformers": hf_ppl,
        "llama_cpp": ppl_summary(llama["ppl_chunks"]) if llama else None,
    }
    (out / "ppl.json").write_text(json.dumps(ppl_doc, indent=1) + "\n")
    (out / "ppl_tokens.json").write_text(
        json.dumps({"text": "texts/ppl.txt", "n_tokens": len(ppl_ids), "ids": ppl_ids}) + "\n"
    )
    if llama_stats is not None:
        (out / "llama_vs_ref.json").write_text(
            json.dumps(
                {
                    **common,
                    "notes": "llama.cpp teacher-forced distributions on texts/*.txt compared with the transformers "
                    "reference (n_threads=2, logits_all=True). kl_* = KL(reference || llama.cpp) in nats per "
                    "position; kl_top32_bound = the lower bound computable from ref_*.safetensors alone.",
                    "texts": llama_stats,
                },
                indent=1,
            )
            + "\n"
        )
    if llama:
        print(
            f"gen_real_refs: llama.cpp PPL {ppl_doc['llama_cpp']['ppl']:.4f}; greedy first disagreements "
            f"{[g['first_disagreement'] for g in greedy]}",
            file=sys.stderr,
        )
        for name, st in llama_stats.items():
            print(f"gen_real_refs: llama.cpp vs ref on {name}: {st}", file=sys.stderr)


if __name__ == "__main__":
    main()
