//! Byte compatibility with GGUF: blocks and floats made by the `gguf` Python
//! package (`scripts/gen_quant_vectors.py`, committed under `tests/data/`)
//! must agree with ours in both directions, bit for bit.

use minke_quant::formats::{dequantize_row, quantize_row};
use minke_quant::DType;

const INPUTS: &[u8] = include_bytes!("data/inputs.f32");

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// `(format, their blocks, their dequantized floats)`.
fn vectors() -> [(DType, &'static [u8], &'static [u8]); 3] {
    [
        (
            DType::Q8_0,
            include_bytes!("data/q8_0.bin"),
            include_bytes!("data/q8_0.dequant.f32"),
        ),
        (
            DType::Q4_0,
            include_bytes!("data/q4_0.bin"),
            include_bytes!("data/q4_0.dequant.f32"),
        ),
        (
            DType::Q4_1,
            include_bytes!("data/q4_1.bin"),
            include_bytes!("data/q4_1.dequant.f32"),
        ),
    ]
}

#[test]
fn our_dequantize_of_their_bytes_gives_their_floats() {
    for (dtype, blocks, want) in vectors() {
        let want = floats(want);
        let mut got = vec![0f32; want.len()];
        dequantize_row(dtype, blocks, &mut got);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "{dtype} element {i}: {g} vs {w}");
        }
    }
}

#[test]
fn our_quantize_of_their_inputs_gives_their_bytes() {
    let x = floats(INPUTS);
    for (dtype, want, _) in vectors() {
        let bb = dtype.block_bytes();
        let mut got = vec![0u8; want.len()];
        quantize_row(dtype, &x, &mut got);
        for (b, (g, w)) in got.chunks(bb).zip(want.chunks(bb)).enumerate() {
            assert_eq!(g, w, "{dtype} block {b}");
        }
    }
}
