#!/usr/bin/env python3
"""Makes GGUF files in the K-quant and related formats with llama.cpp's own
quantizer (`llama_model_quantize`, as `llama-quantize` runs it), for minke's
format work: SmolLM2-135M-Instruct in the usual mixes, a random
Qwen2-1.5B-shaped model in every format (pure) and the usual mixes, and a
random DeepSeek-V2-Lite-shaped Q4_K_M. Run by make-kquants.sh, with the
python of build-llama-cpp.sh's venv (llama_cpp and gguf==0.19.0 installed).

Sources (written once under OUT/src/, kept for reruns unless said below):
  smollm2-135m-f32.gguf       the Q4_1 file of scripts/fetch-model.sh with
                              every tensor dequantized to f32 (exact: a Q4_1
                              or Q8_0 value is an f32), metadata copied
  qwen2-1.5b-random-f16.gguf  the shapes and metadata of
                              core/examples/make_qwen2_gguf.rs (which writes
                              only Q4_0), uniform random f16 weights
  v2-lite-random-q8_0.gguf    DeepSeek-V2-Lite's shapes in llama.cpp's
                              current layout (split attn_k_b/attn_v_b,
                              stacked experts), random Q8_0 weights (f16
                              would be 31 GB); deleted once its output
                              exists (16.7 GB)

Every layer of a random model shares one set of random bytes, as in
make_qwen2_gguf.rs: the file still holds each layer, and writing it needs
one layer's memory.

  make_kquants.py --out DIR --smollm2 Q4_1.gguf [--models smollm2,qwen2,v2lite]
                  [--threads N] [--verbose]

Files that exist are skipped. Each new file is loaded by llama.cpp: the
SmolLM2 ones generate a greedy continuation (printed), the random ones
evaluate four tokens (finite logits). Progress goes to stderr; the table of
files and their tensor types to stdout.
"""

import argparse
import collections
import ctypes
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

import gguf
from gguf import GGMLQuantizationType as T
from gguf import GGUFValueType as V

import llama_cpp
import llama_cpp._logger

# llama_ftype values, from the vendored include/llama.h.
FTYPE = {
    "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10,
    "Q3_K_S": 11, "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15,
    "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18, "IQ4_NL": 25, "IQ4_XS": 30,
}
# With `pure`, every quantizable tensor gets the ftype's default type; the
# K mixes share one default (Q3_K_S/M/L -> Q3_K, Q4_K_S/M -> Q4_K, ...).
PURE = {
    "q2_k": "Q2_K", "q3_k": "Q3_K_M", "q4_k": "Q4_K_M", "q5_k": "Q5_K_M",
    "q6_k": "Q6_K", "q5_0": "Q5_0", "q5_1": "Q5_1", "iq4_nl": "IQ4_NL",
    "iq4_xs": "IQ4_XS",
}
SMOLLM2_MIXES = ["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_XS", "IQ4_NL", "Q5_0", "Q5_1"]
# The Q6_K mix gives this model the same bytes as pure Q6_K: left out.
QWEN2_MIXES = ["Q4_K_M", "Q5_K_M", "Q3_K_M", "Q2_K"]

VERBOSE = False


def log(msg: str) -> None:
    print(f"make-kquants: {msg}", file=sys.stderr, flush=True)


# --- GGUF writing ---------------------------------------------------------


def copy_metadata(r: gguf.GGUFReader, w: gguf.GGUFWriter, file_type: int) -> None:
    """Every key-value pair of `r` into `w`, with its own value types, except
    the header counts (the writer makes its own) and the architecture
    (given to the writer); general.file_type says what the file now holds."""
    for key, f in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        if key == "general.file_type":
            w.add_file_type(file_type)
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == V.ARRAY else None
        if vtype == V.ARRAY and len(f.types) > 2:
            raise SystemExit(f"make-kquants: nested array {key} is not copied by this script")
        w.add_key_value(key, f.contents(), vtype, sub_type=sub)


def write_gguf(w: gguf.GGUFWriter, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    w.write_header_to_file(path=tmp)
    w.write_kv_data_to_file()
    w.write_tensors_to_file(progress=False)
    w.close()
    tmp.rename(path)


def smollm2_f32(src: Path, dst: Path) -> None:
    """The Q4_1 SmolLM2 file with every tensor in f32."""
    log(f"writing {dst.name} (f32) from {src}")
    r = gguf.GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(None, arch)
    copy_metadata(r, w, file_type=0)  # LLAMA_FTYPE_ALL_F32
    for t in r.tensors:
        x = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        w.add_tensor(t.name, x, raw_dtype=T.F32)
    write_gguf(w, dst)


def byte_symbols() -> list[str]:
    """GPT-2's byte-level alphabet, as make_qwen2_gguf.rs writes it."""
    out, nxt = [], 256
    for b in range(256):
        if 33 <= b <= 126 or 161 <= b <= 172 or b >= 174:
            out.append(chr(b))
        else:
            out.append(chr(nxt))
            nxt += 1
    return out


def stand_in_vocab(w: gguf.GGUFWriter, n: int, pre: str, bos: int, eos: int) -> None:
    """A vocabulary llama.cpp's loader accepts: the byte symbols, one merge
    (space + t, token 256; the gguf package writes no empty array, and
    llama.cpp needs the merges key), then `<t{i}>`."""
    sym = byte_symbols()
    tokens = sym + [sym[32] + "t"] + [f"<t{i}>" for i in range(257, n)]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types([1] * n)
    w.add_token_merges([f"{sym[32]} t"])
    w.add_bos_token_id(bos)
    w.add_eos_token_id(eos)


def uniform_f16(rng: np.random.Generator, shape: tuple[int, ...], amp: float) -> np.ndarray:
    """Uniform values in ±amp as f16, made in pieces to bound the f32 copy."""
    out = np.empty(shape, dtype=np.float16)
    flat = out.reshape(-1)
    step = 1 << 24
    for i in range(0, flat.size, step):
        n = min(step, flat.size - i)
        flat[i : i + n] = (rng.random(n, dtype=np.float32) * 2 - 1) * amp
    return out


def random_q8_0(rng: np.random.Generator, shape: tuple[int, ...], amp: float) -> np.ndarray:
    """Q8_0 blocks of uniform values in ±amp, as bytes: (..., cols/32*34)."""
    *lead, cols = shape
    nb = cols // 32
    blocks = np.empty((*lead, nb, 34), dtype=np.uint8)
    d = np.float16(amp / 127)
    blocks[..., 0:2] = np.frombuffer(d.tobytes(), dtype=np.uint8)
    blocks[..., 2:] = rng.integers(-127, 128, size=(*lead, nb, 32), dtype=np.int8).view(np.uint8)
    return blocks.reshape(*lead, nb * 34)


def random_qwen2_f16(dst: Path) -> None:
    """make_qwen2_gguf.rs's model (Qwen2: hidden 1536, 28 layers, 12 heads,
    2 KV heads, FFN 8960, vocabulary 151936, untied head, q/k/v bias), f16."""
    hidden, layers, heads, kv_heads, ffn, vocab = 1536, 28, 12, 2, 8960, 151936
    kv = kv_heads * hidden // heads
    log(f"writing {dst.name} (f16, random, {hidden}x{layers}, vocabulary {vocab})")
    rng = np.random.default_rng(0x9E3779B97F4A7C15)
    w = gguf.GGUFWriter(None, "qwen2")
    w.add_name("random-qwen2-1.5b")
    w.add_context_length(131072)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(1)  # LLAMA_FTYPE_MOSTLY_F16
    stand_in_vocab(w, vocab, "qwen2", vocab - 2, vocab - 1)
    # numpy shapes are (rows, cols); GGUF's are the reverse.
    m = lambda rows, cols, amp=0.05: uniform_f16(rng, (rows, cols), amp)
    embed, head = m(vocab, hidden), m(vocab, hidden)
    q, k, v, o = m(hidden, hidden), m(kv, hidden), m(kv, hidden), m(hidden, hidden)
    gate, up, down = m(ffn, hidden), m(ffn, hidden), m(hidden, ffn, 0.03)
    ones = np.ones(hidden, dtype=np.float32)
    qb, kvb = np.full(hidden, 0.01, np.float32), np.full(kv, 0.01, np.float32)
    w.add_tensor("token_embd.weight", embed)
    for i in range(layers):
        for name, x in [
            ("attn_norm.weight", ones), ("attn_q.weight", q), ("attn_q.bias", qb),
            ("attn_k.weight", k), ("attn_k.bias", kvb), ("attn_v.weight", v),
            ("attn_v.bias", kvb), ("attn_output.weight", o), ("ffn_norm.weight", ones),
            ("ffn_gate.weight", gate), ("ffn_up.weight", up), ("ffn_down.weight", down),
        ]:
            w.add_tensor(f"blk.{i}.{name}", x)
    w.add_tensor("output_norm.weight", ones)
    w.add_tensor("output.weight", head)
    write_gguf(w, dst)


def random_v2_lite_q8_0(dst: Path) -> None:
    """DeepSeek-V2-Lite's shapes (make_v2_lite.rs's config) as llama.cpp's
    converter lays them out today, random Q8_0 weights."""
    vocab, hidden, layers, heads = 102400, 2048, 27, 16
    nope, rope, v_dim, rank = 128, 64, 128, 512
    dense_ffn, n_exp, n_used, n_shared, exp_ffn = 10944, 64, 6, 2, 1408
    log(f"writing {dst.name} (Q8_0, random, 27 layers, 64 experts of width {exp_ffn})")
    rng = np.random.default_rng(0x5EED_0002)
    w = gguf.GGUFWriter(None, "deepseek2")
    w.add_name("random-deepseek-v2-lite")
    w.add_context_length(163840)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(dense_ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(1)  # MLA stored as MQA over the latent, as convert_hf_to_gguf does
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_expert_used_count(n_used)
    w.add_leading_dense_block_count(1)
    w.add_vocab_size(vocab)
    w.add_kv_lora_rank(rank)
    w.add_key_length(rank + rope)
    w.add_value_length(rank)
    w.add_key_length_mla(nope + rope)
    w.add_value_length_mla(v_dim)
    w.add_expert_feed_forward_length(exp_ffn)
    w.add_expert_count(n_exp)
    w.add_expert_shared_count(n_shared)
    w.add_expert_weights_scale(1.0)
    w.add_rope_dimension_count(rope)
    w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
    w.add_rope_scaling_factor(40.0)
    w.add_rope_scaling_orig_ctx_len(4096)
    w.add_rope_scaling_yarn_log_mul(0.1 * 0.707)
    w.add_file_type(7)  # LLAMA_FTYPE_MOSTLY_Q8_0
    stand_in_vocab(w, vocab, "deepseek-llm", 100000, 100001)
    q8 = lambda *shape, amp=0.05: random_q8_0(rng, shape, amp)
    ones = lambda n: np.ones(n, dtype=np.float32)
    embed, head = q8(vocab, hidden), q8(vocab, hidden)
    attn = {
        "attn_q.weight": q8(heads * (nope + rope), hidden),
        "attn_kv_a_mqa.weight": q8(rank + rope, hidden),
        "attn_k_b.weight": q8(heads, rank, nope),  # GGUF {nope, rank, heads}
        "attn_v_b.weight": q8(heads, v_dim, rank),  # GGUF {rank, v_dim, heads}
        "attn_output.weight": q8(hidden, heads * v_dim),
    }
    dense = {
        "ffn_gate.weight": q8(dense_ffn, hidden),
        "ffn_up.weight": q8(dense_ffn, hidden),
        "ffn_down.weight": q8(hidden, dense_ffn, amp=0.03),
    }
    moe = {
        "ffn_gate_inp.weight": (rng.random((n_exp, hidden), dtype=np.float32) * 2 - 1) * 0.05,
        "ffn_gate_exps.weight": q8(n_exp, exp_ffn, hidden),
        "ffn_up_exps.weight": q8(n_exp, exp_ffn, hidden),
        "ffn_down_exps.weight": q8(n_exp, hidden, exp_ffn, amp=0.03),
        "ffn_gate_shexp.weight": q8(n_shared * exp_ffn, hidden),
        "ffn_up_shexp.weight": q8(n_shared * exp_ffn, hidden),
        "ffn_down_shexp.weight": q8(hidden, n_shared * exp_ffn, amp=0.03),
    }
    add = lambda name, x: w.add_tensor(name, x, raw_dtype=T.Q8_0 if x.dtype == np.uint8 else T.F32)
    add("token_embd.weight", embed)
    for i in range(layers):
        add(f"blk.{i}.attn_norm.weight", ones(hidden))
        add(f"blk.{i}.attn_kv_a_norm.weight", ones(rank))
        for name, x in attn.items():
            add(f"blk.{i}.{name}", x)
        add(f"blk.{i}.ffn_norm.weight", ones(hidden))
        for name, x in (dense if i == 0 else moe).items():
            add(f"blk.{i}.{name}", x)
    add("output_norm.weight", ones(hidden))
    add("output.weight", head)
    write_gguf(w, dst)


# --- llama.cpp ------------------------------------------------------------


def quantize(src: Path, dst: Path, ftype: str, pure: bool, threads: int) -> None:
    p = llama_cpp.llama_model_quantize_default_params()
    p.nthread = threads
    p.ftype = FTYPE[ftype]
    p.pure = pure
    p.allow_requantize = True  # the V2-Lite source is Q8_0; the others are float
    p.max_buf_size = 1 << 30  # 1 GiB of rows at a time, not the default 8
    tmp = dst.with_name(dst.name + ".tmp")
    log(f"quantizing {dst.name} ({ftype}{', pure' if pure else ''}) from {src.name}")
    t0 = time.monotonic()
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(p))
    if rc != 0:
        tmp.unlink(missing_ok=True)
        raise SystemExit(f"make-kquants: llama_model_quantize {src} -> {dst} failed ({rc})")
    tmp.rename(dst)
    log(f"  {dst.stat().st_size / 2**20:.0f} MiB in {time.monotonic() - t0:.0f} s")


def check_generates(path: Path, threads: int) -> None:
    """llama.cpp loads the file and continues a prompt greedily."""
    m = llama_cpp.Llama(model_path=str(path), n_ctx=256, n_threads=threads, verbose=VERBOSE)
    prompt = "The capital of France is"
    out = m.create_completion(prompt, max_tokens=16, temperature=0.0, top_k=1)["choices"][0]["text"]
    log(f"  llama.cpp: {prompt!r} -> {out!r}{'' if 'Paris' in out else '  (no Paris!)'}")
    m.close()


def check_evaluates(path: Path, threads: int) -> None:
    """llama.cpp loads the file and evaluates four tokens to finite logits."""
    m = llama_cpp.Llama(model_path=str(path), n_ctx=64, n_threads=threads, logits_all=True, verbose=VERBOSE)
    m.eval([300, 301, 302, 303])
    x = np.asarray(m.scores[: m.n_tokens])
    if not np.isfinite(x).all():
        raise SystemExit(f"make-kquants: llama.cpp gives non-finite logits for {path}")
    log(f"  llama.cpp: loads, 4 tokens evaluate, logits std {x.std():.3f}")
    m.close()


# --- the plan -------------------------------------------------------------


def table(out: Path) -> None:
    """Each file with its size and tensor types, most common first."""
    print(f"{'file':44s} {'MiB':>7s}  tensor types")
    for f in sorted(out.glob("*.gguf")):
        r = gguf.GGUFReader(f)
        c = collections.Counter(t.tensor_type.name for t in r.tensors)
        types = ", ".join(f"{k} {v}" for k, v in c.most_common())
        print(f"{f.name:44s} {f.stat().st_size / 2**20:7.0f}  {types}")


def main() -> None:
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--smollm2", type=Path, help="SmolLM2-135M-Instruct Q4_1 GGUF (scripts/fetch-model.sh)")
    ap.add_argument("--models", default="smollm2,qwen2,v2lite")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--verbose", action="store_true", help="show llama.cpp's own log")
    a = ap.parse_args()
    VERBOSE = a.verbose
    llama_cpp._logger.set_verbose(a.verbose)
    src_dir = a.out / "src"
    src_dir.mkdir(parents=True, exist_ok=True)
    models = set(a.models.split(","))
    unknown = models - {"smollm2", "qwen2", "v2lite"}
    if unknown:
        raise SystemExit(f"make-kquants: unknown models {sorted(unknown)} (smollm2, qwen2, v2lite)")

    # (source, make source, [(output, ftype, pure)], check, delete source after)
    jobs = []
    if "smollm2" in models:
        if a.smollm2 is None:
            raise SystemExit("make-kquants: --smollm2 is needed for the smollm2 files")
        outs = [(a.out / f"smollm2-135m-{f.lower()}.gguf", f, False) for f in SMOLLM2_MIXES]
        jobs.append((src_dir / "smollm2-135m-f32.gguf", lambda d: smollm2_f32(a.smollm2, d), outs, check_generates, False))
    if "qwen2" in models:
        outs = [(a.out / f"qwen2-1.5b-random-pure-{n}.gguf", f, True) for n, f in PURE.items()]
        outs += [(a.out / f"qwen2-1.5b-random-{f.lower()}.gguf", f, False) for f in QWEN2_MIXES]
        jobs.append((src_dir / "qwen2-1.5b-random-f16.gguf", random_qwen2_f16, outs, check_evaluates, False))
    if "v2lite" in models:
        outs = [(a.out / "v2-lite-random-q4_k_m.gguf", "Q4_K_M", False)]
        jobs.append((src_dir / "v2-lite-random-q8_0.gguf", random_v2_lite_q8_0, outs, check_evaluates, True))

    for src, make_src, outs, check, drop_src in jobs:
        todo = [o for o in outs if not o[0].exists()]
        for o in outs:
            if o[0].exists():
                log(f"{o[0].name} exists, skipped")
        if not todo:
            continue
        if src.exists():
            log(f"using {src}")
        else:
            make_src(src)
        for dst, ftype, pure in todo:
            quantize(src, dst, ftype, pure, a.threads)
            check(dst, a.threads)
        if drop_src:
            log(f"removing the source {src} ({src.stat().st_size / 2**30:.1f} GiB)")
            src.unlink()
    table(a.out)


if __name__ == "__main__":
    main()
