#!/usr/bin/env python3
"""Writes tests/fixtures/gguf/pygguf_small.gguf with the `gguf` package, an
independent GGUF writer, so that core/tests/gguf.rs can check minke's reader
against a file minke did not write.

Run from the repository root:

    python3 -m venv .venv-gguf && .venv-gguf/bin/pip install gguf==0.19.0
    .venv-gguf/bin/python scripts/gen_gguf_fixtures.py

The file is deterministic; the Rust test hard-codes every value below, so a
change here must be mirrored there.
"""

from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V
from gguf import GGUFWriter

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "gguf" / "pygguf_small.gguf"


def ramp(n: int) -> np.ndarray:
    """`n` bytes 0, 7, 14, ... (mod 256): raw block data, content irrelevant."""
    return ((np.arange(n, dtype=np.uint32) * 7) % 256).astype(np.uint8)


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    w = GGUFWriter(str(OUT), arch="llama")  # writes general.architecture first
    w.add_custom_alignment(64)
    w.add_key_value("t.u8", 200, V.UINT8)
    w.add_key_value("t.i8", -100, V.INT8)
    w.add_key_value("t.u16", 60000, V.UINT16)
    w.add_key_value("t.i16", -30000, V.INT16)
    w.add_key_value("t.u32", 4000000000, V.UINT32)
    w.add_key_value("t.i32", -2000000000, V.INT32)
    w.add_key_value("t.u64", 2**63 + 5, V.UINT64)
    w.add_key_value("t.i64", -(2**62), V.INT64)
    w.add_key_value("t.f32", 1.5, V.FLOAT32)
    w.add_key_value("t.f64", -0.125, V.FLOAT64)
    w.add_key_value("t.bool", True, V.BOOL)
    w.add_key_value("t.str", "héllo ∑", V.STRING)
    w.add_key_value("t.arr_str", ["a", "", "Ġb"], V.ARRAY)
    w.add_key_value("t.arr_i32", [1, -2, 3], V.ARRAY, sub_type=V.INT32)
    w.add_key_value("t.arr_f32", [0.5, -1.0], V.ARRAY, sub_type=V.FLOAT32)
    w.add_key_value("t.arr_u8", [1, 2, 255], V.ARRAY, sub_type=V.UINT8)
    w.add_key_value("t.arr_bool", [True, False], V.ARRAY, sub_type=V.BOOL)
    w.add_key_value("t.arr_nested", [[1, 2], [3]], V.ARRAY)

    # f32 [rows=2, cols=3] in numpy order: GGUF shape [3, 2].
    w.add_tensor("f32", np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32))
    w.add_tensor("f16", np.array([0.5, -2.0, 65504.0, 0.0], dtype=np.float16))
    # Quantized tensors from raw bytes: byte shape (rows, row_bytes).
    w.add_tensor("q8_0", ramp(2 * 34).reshape(2, 34), raw_dtype=Q.Q8_0)
    w.add_tensor("q4_0", ramp(2 * 18).reshape(1, 36), raw_dtype=Q.Q4_0)
    w.add_tensor("q4_1", ramp(20).reshape(1, 1, 20), raw_dtype=Q.Q4_1)
    w.add_tensor("bf16", ramp(8).reshape(1, 8), raw_dtype=Q.BF16)
    w.add_tensor("q6_k", ramp(210).reshape(1, 210), raw_dtype=Q.Q6_K)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
