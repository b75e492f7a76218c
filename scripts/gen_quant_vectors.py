#!/usr/bin/env python3
"""Writes the byte-compatibility vectors for minke-quant's block formats.

The `gguf` Python package (the GGUF reference tooling) quantizes a fixed set
of f32 blocks to Q8_0, Q4_0 and Q4_1 and dequantizes the result; the Rust
test `quant/tests/gguf_vectors.rs` checks that minke produces the same bytes
from the same floats and the same floats from the same bytes.

Files written to quant/tests/data/ (all little-endian):
  inputs.f32          (n_blocks, 32) f32   the source values
  <fmt>.bin           n_blocks blocks      gguf.quants.quantize(inputs, fmt)
  <fmt>.dequant.f32   (n_blocks, 32) f32   gguf.quants.dequantize(<fmt>.bin)

Run from the repository root:
  python3 -m venv .venv-quant && .venv-quant/bin/pip install gguf numpy
  .venv-quant/bin/python scripts/gen_quant_vectors.py
"""

from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

OUT = Path(__file__).resolve().parent.parent / "quant" / "tests" / "data"
QK = 32


def blocks() -> np.ndarray:
    """The source blocks: typical data plus the edge cases a format meets."""
    rng = np.random.default_rng(20240611)
    i = np.arange(QK, dtype=np.float64)
    rows = [
        rng.standard_normal(QK),  # typical weights
        rng.standard_normal(QK) * 0.02,  # small weights, as in real models
        np.zeros(QK),  # all zero: scale 0
        np.full(QK, 1.5),  # all equal, positive
        np.full(QK, -0.75),  # all equal, negative
        0.1 + 2.0 * np.cos(i),  # ggml's test data
        np.where(i % 2 == 0, 1.0, -1.0) * (i + 1) * 1000.0,  # large, alternating
        rng.uniform(-1e-6, 1e-6, QK),  # tiny: the f16 scale underflows
        # Exact halves once scaled (max 127 gives d = 1 for Q8_0): rounding ties.
        np.concatenate([[127.0], np.arange(QK - 1) - 15.5]),
        # Q4_0 ties: the largest magnitude -8 gives d = 1, values at k + 0.5.
        np.concatenate([[-8.0], (np.arange(QK - 1) % 15) - 7.5]),
        rng.standard_normal(QK) * 100.0 + 50.0,  # offset data (Q4_1's minimum)
        np.concatenate([[60000.0], rng.standard_normal(QK - 1)]),  # one outlier
    ]
    return np.stack(rows).astype(np.float32)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    x = blocks()
    (OUT / "inputs.f32").write_bytes(x.astype("<f4").tobytes())
    for name, qtype in [("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1)]:
        q = quants.quantize(x, qtype)
        y = quants.dequantize(q, qtype).astype(np.float32)
        (OUT / f"{name}.bin").write_bytes(q.tobytes())
        (OUT / f"{name}.dequant.f32").write_bytes(y.astype("<f4").tobytes())
        print(f"{name}: {x.shape[0]} blocks, {q.nbytes} bytes")


if __name__ == "__main__":
    main()
