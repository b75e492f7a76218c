#!/usr/bin/env python3
"""Writes the byte-compatibility vectors for GGUF's K-quant and related
formats: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (256-value super-blocks), Q5_0, Q5_1,
IQ4_NL (32-value blocks) and IQ4_XS (256).

The `gguf` Python package implements no quantizer for most of these, so the
blocks come from llama.cpp's own: `ggml_quantize_chunk` of the libggml-base
that benches/peers/build-llama-cpp.sh builds (llama-cpp-python 0.3.36), with
no importance matrix, as `llama-quantize` calls it. The `gguf` package
(gguf.quants.dequantize) turns the blocks back into floats, and the script
checks that ggml's own dequantizer (`ggml_get_type_traits(t)->to_float`)
gives the same floats bit for bit; it stops with an error where they differ.

Files written to quant/tests/data/ (all little-endian):
  kq_inputs.f32          (16, 256) f32   the source rows
  <fmt>.bin              16 rows         ggml_quantize_chunk(inputs, fmt)
  <fmt>.dequant.f32      (16, 256) f32   gguf.quants.dequantize(<fmt>.bin)
with <fmt> one of q2_k q3_k q4_k q5_k q6_k q5_0 q5_1 iq4_nl iq4_xs.

Run from the repository root:
  JOBS=2 benches/peers/build-llama-cpp.sh     # once; several minutes
  python3 -m venv .venv-quant && .venv-quant/bin/pip install gguf==0.19.0 numpy
  .venv-quant/bin/python scripts/gen_kquant_vectors.py [--lib DIR]

--lib is the folder holding libggml-base.so; by default it is found in the
venv of build-llama-cpp.sh ($MINKE_CACHE, default ~/.cache/minke).
"""

import argparse
import ctypes
import glob
import os
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

OUT = Path(__file__).resolve().parent.parent / "quant" / "tests" / "data"
N = 256  # values per row: one K-quant super-block, eight 32-value blocks

# (file name, GGUF type); the enum values are ggml's type ids (ggml.h).
FORMATS = [
    ("q2_k", T.Q2_K),
    ("q3_k", T.Q3_K),
    ("q4_k", T.Q4_K),
    ("q5_k", T.Q5_K),
    ("q6_k", T.Q6_K),
    ("q5_0", T.Q5_0),
    ("q5_1", T.Q5_1),
    ("iq4_nl", T.IQ4_NL),
    ("iq4_xs", T.IQ4_XS),
]


def rows() -> np.ndarray:
    """The source rows: typical data plus the edge cases a format meets."""
    rng = np.random.default_rng(20250611)
    i = np.arange(N, dtype=np.float64)
    # Sub-block scales spanning five decades: the 6-bit (Q4_K/Q5_K), 4-bit
    # (Q2_K) and 6-bit signed (Q3_K, Q6_K) sub-scales round to 0 for some.
    decades = rng.standard_normal(N) * np.repeat(10.0 ** np.linspace(-4, 1, 16), 16)
    half = np.concatenate([np.zeros(N // 2), rng.standard_normal(N // 2)])
    x = [
        rng.standard_normal(N),  # typical weights
        rng.standard_normal(N) * 0.02,  # small weights, as in real models
        np.zeros(N),  # all zero: every scale 0
        np.full(N, 1.5),  # all equal, positive
        np.full(N, -0.75),  # all equal, negative
        0.1 + 2.0 * np.cos(i),  # ggml's test data
        np.where(i % 2 == 0, 1.0, -1.0) * (i + 1) * 100.0,  # large, alternating
        rng.uniform(-1e-6, 1e-6, N),  # tiny: under the quantizers' epsilons
        rng.standard_normal(N) * 100.0 + 50.0,  # offset data (the _1/K minimums)
        np.concatenate([[60000.0], rng.standard_normal(N - 1)]),  # one outlier
        decades,
        half,  # half zero: empty sub-blocks beside full ones
        np.abs(rng.standard_normal(N)),  # all positive: the minimum is 0
        -np.abs(rng.standard_normal(N)) * 3.0,  # all negative
        rng.uniform(-1.0, 1.0, N),  # uniform
        rng.standard_t(3, N),  # heavy tails
    ]
    return np.stack(x).astype(np.float32)


def find_lib(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    cache = Path(os.environ.get("MINKE_CACHE", Path.home() / ".cache" / "minke"))
    hits = glob.glob(str(cache / "venv-llama/lib/python3*/site-packages/llama_cpp/lib"))
    if not hits:
        sys.exit(f"gen_kquant_vectors: no llama_cpp/lib under {cache}/venv-llama; "
                 "run benches/peers/build-llama-cpp.sh or pass --lib")
    return Path(hits[0])


class TypeTraits(ctypes.Structure):
    """ggml.h's `struct ggml_type_traits`."""

    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("blck_size", ctypes.c_int64),
        ("blck_size_interleave", ctypes.c_int64),
        ("type_size", ctypes.c_size_t),
        ("is_quantized", ctypes.c_bool),
        ("to_float", ctypes.c_void_p),
        ("from_float_ref", ctypes.c_void_p),
    ]


# typedef void (*ggml_to_float_t)(const void * x, float * y, int64_t k);
TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


def load_ggml(libdir: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(str(libdir / "libggml-base.so"))
    lib.ggml_quantize_init.argtypes = [ctypes.c_int]
    lib.ggml_quantize_init.restype = None
    lib.ggml_quantize_requires_imatrix.argtypes = [ctypes.c_int]
    lib.ggml_quantize_requires_imatrix.restype = ctypes.c_bool
    lib.ggml_quantize_chunk.argtypes = [
        ctypes.c_int,  # enum ggml_type type
        ctypes.c_void_p,  # const float * src
        ctypes.c_void_p,  # void * dst
        ctypes.c_int64,  # int64_t start
        ctypes.c_int64,  # int64_t nrows
        ctypes.c_int64,  # int64_t n_per_row
        ctypes.c_void_p,  # const float * imatrix
    ]
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
    lib.ggml_row_size.restype = ctypes.c_size_t
    lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
    lib.ggml_get_type_traits.restype = ctypes.POINTER(TypeTraits)
    return lib


def ggml_quantize(lib: ctypes.CDLL, qtype: T, x: np.ndarray) -> np.ndarray:
    t = int(qtype)
    assert not lib.ggml_quantize_requires_imatrix(t), qtype.name
    lib.ggml_quantize_init(t)
    nrows, n = x.shape
    row = lib.ggml_row_size(t, n)
    dst = np.zeros(nrows * row, dtype=np.uint8)
    src = np.ascontiguousarray(x, dtype=np.float32)
    got = lib.ggml_quantize_chunk(t, src.ctypes.data, dst.ctypes.data, 0, nrows, n, None)
    assert got == dst.nbytes, f"{qtype.name}: ggml wrote {got} bytes, expected {dst.nbytes}"
    return dst


def ggml_dequantize(lib: ctypes.CDLL, qtype: T, q: np.ndarray, n: int) -> np.ndarray:
    traits = lib.ggml_get_type_traits(int(qtype)).contents
    assert traits.to_float, f"{qtype.name}: ggml has no to_float"
    y = np.zeros(n, dtype=np.float32)
    TO_FLOAT(traits.to_float)(q.ctypes.data, y.ctypes.data, n)
    return y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", help="folder with libggml-base.so (default: build-llama-cpp.sh's venv)")
    libdir = find_lib(ap.parse_args().lib)
    lib = load_ggml(libdir)
    print(f"ggml from {libdir}")

    OUT.mkdir(parents=True, exist_ok=True)
    x = rows()
    (OUT / "kq_inputs.f32").write_bytes(x.astype("<f4").tobytes())
    bad = []
    for name, qtype in FORMATS:
        q = ggml_quantize(lib, qtype, x)
        y = quants.dequantize(q.reshape(x.shape[0], -1), qtype).astype(np.float32)
        assert y.shape == x.shape, (name, y.shape)
        ours = ggml_dequantize(lib, qtype, q, x.size).reshape(x.shape)
        differ = int(np.sum(ours.view(np.uint32) != y.view(np.uint32)))
        if differ:
            bad.append(f"{name}: {differ} of {y.size} floats differ between gguf and ggml")
        # Where gguf has a quantizer of its own (Q5_0, Q5_1), compare bytes too.
        note = ""
        try:
            g = quants.quantize(x, qtype)
            same = int(np.sum(np.all(g.reshape(x.shape[0], -1) == q.reshape(x.shape[0], -1), axis=1)))
            note = f", gguf's own quantizer agrees on {same}/{x.shape[0]} rows"
        except NotImplementedError:
            pass
        (OUT / f"{name}.bin").write_bytes(q.tobytes())
        (OUT / f"{name}.dequant.f32").write_bytes(y.astype("<f4").tobytes())
        err = float(np.sqrt(np.mean((y[0] - x[0]) ** 2)))
        print(f"{name}: {x.shape[0]} rows, {q.nbytes} bytes, row 0 rms error {err:.4f}{note}")
    if bad:
        sys.exit("gen_kquant_vectors: dequantization disagrees:\n  " + "\n  ".join(bad))
    print("gguf and ggml dequantize every format identically")


if __name__ == "__main__":
    main()
