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

const KQ_INPUTS: &[u8] = include_bytes!("data/kq_inputs.f32");

/// The formats minke reads from llama.cpp's files: `(format, blocks written
/// by llama.cpp's quantizer from `kq_inputs.f32`, the `gguf` package's
/// dequantization of them)` (`scripts/gen_kquant_vectors.py`).
fn read_only_vectors() -> [(DType, &'static [u8], &'static [u8]); 9] {
    [
        (
            DType::Q2_K,
            include_bytes!("data/q2_k.bin"),
            include_bytes!("data/q2_k.dequant.f32"),
        ),
        (
            DType::Q3_K,
            include_bytes!("data/q3_k.bin"),
            include_bytes!("data/q3_k.dequant.f32"),
        ),
        (
            DType::Q4_K,
            include_bytes!("data/q4_k.bin"),
            include_bytes!("data/q4_k.dequant.f32"),
        ),
        (
            DType::Q5_K,
            include_bytes!("data/q5_k.bin"),
            include_bytes!("data/q5_k.dequant.f32"),
        ),
        (
            DType::Q6_K,
            include_bytes!("data/q6_k.bin"),
            include_bytes!("data/q6_k.dequant.f32"),
        ),
        (
            DType::Q5_0,
            include_bytes!("data/q5_0.bin"),
            include_bytes!("data/q5_0.dequant.f32"),
        ),
        (
            DType::Q5_1,
            include_bytes!("data/q5_1.bin"),
            include_bytes!("data/q5_1.dequant.f32"),
        ),
        (
            DType::IQ4_NL,
            include_bytes!("data/iq4_nl.bin"),
            include_bytes!("data/iq4_nl.dequant.f32"),
        ),
        (
            DType::IQ4_XS,
            include_bytes!("data/iq4_xs.bin"),
            include_bytes!("data/iq4_xs.dequant.f32"),
        ),
    ]
}

#[test]
fn our_dequantize_of_llama_cpp_blocks_gives_gguf_floats() {
    let inputs = floats(KQ_INPUTS);
    for (dtype, blocks, want) in read_only_vectors() {
        let want = floats(want);
        assert_eq!(want.len(), inputs.len(), "{dtype}: one value per input");
        assert_eq!(
            Some(blocks.len()),
            dtype.row_bytes(want.len()),
            "{dtype}: block bytes"
        );
        let mut got = vec![0f32; want.len()];
        dequantize_row(dtype, blocks, &mut got);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "{dtype} element {i}: {g} vs {w}");
        }
    }
}

/// The formats minke also writes (Q5_0, Q5_1): ggml's reference quantizer,
/// byte for byte.
#[test]
fn our_q5_quantize_gives_llama_cpp_bytes() {
    let x = floats(KQ_INPUTS);
    for (dtype, want, _) in read_only_vectors() {
        if !dtype.can_quantize() {
            continue;
        }
        let bb = dtype.block_bytes();
        let mut got = vec![0u8; want.len()];
        quantize_row(dtype, &x, &mut got);
        for (b, (g, w)) in got.chunks(bb).zip(want.chunks(bb)).enumerate() {
            assert_eq!(g, w, "{dtype} block {b}");
        }
    }
}
