//! Block layouts and row-level quantize/dequantize for every [`DType`].
//!
//! The quantized blocks are byte-for-byte ggml's (`block_q8_0`,
//! `block_q4_K`, ...), so GGUF tensor data can be reinterpreted in place.

pub mod iq4;
mod q2_k;
pub mod q3_k;
mod q4_0;
mod q4_1;
pub mod q4_k;
mod q5;
mod q6_k;
mod q8_0;
mod q8a;
pub mod x16;

pub use iq4::{BlockIq4Nl, BlockIq4Xs, KVALUES_IQ4NL};
pub use q2_k::BlockQ2K;
pub use q3_k::BlockQ3K;
pub use q4_0::BlockQ4_0;
pub use q4_1::BlockQ4_1;
pub use q4_k::{BlockQ4K, BlockQ5K};
pub use q5::{BlockQ5_0, BlockQ5_1};
pub use q6_k::BlockQ6K;
pub use q8_0::BlockQ8_0;
pub use q8a::{quantize_act_row_scalar, BlockQ8A};

use crate::DType;
use bytemuck::Pod;
use half::{bf16, f16};

/// Elements per quantized block (ggml's `QK8_0`, `QK4_0`, `QK5_0`, ...),
/// and per activation block ([`BlockQ8A`]).
pub const QK: usize = 32;
/// Elements per super-block of the K-quants and IQ4_XS (ggml's `QK_K`).
pub const QK_K: usize = 256;

/// The value of largest magnitude in `x`, with its sign (the first of
/// equals): what ggml's offset formats (Q4_0, Q5_0) map to their lowest
/// level.
fn signed_absmax(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

/// `(min, max)` of `x`, as ggml's minimum formats (Q4_1, Q5_1) scan it.
fn min_max(x: &[f32]) -> (f32, f32) {
    x.iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

/// Quantizes `src` into `dst` block by block with `f`.
fn quantize_blocks<B: Pod, const N: usize>(
    src: &[f32],
    dst: &mut [u8],
    f: impl Fn(&[f32; N]) -> B,
) {
    let bb = std::mem::size_of::<B>();
    for (d, x) in dst.chunks_exact_mut(bb).zip(src.chunks_exact(N)) {
        d.copy_from_slice(bytemuck::bytes_of(&f(x.try_into().unwrap())));
    }
}

/// Expands `src` into `dst` block by block with `f`.
fn dequantize_blocks<B: Pod, const N: usize>(
    src: &[u8],
    dst: &mut [f32],
    f: impl Fn(&B, &mut [f32; N]),
) {
    let bb = std::mem::size_of::<B>();
    for (d, s) in dst.chunks_exact_mut(N).zip(src.chunks_exact(bb)) {
        let b: B = bytemuck::pod_read_unaligned(s);
        f(&b, d.try_into().unwrap());
    }
}

/// Quantizes `src` into `dst`, which must hold exactly
/// `dtype.row_bytes(src.len())` bytes.
///
/// # Panics
/// When `src.len()` is not a multiple of the block length or `dst` has the
/// wrong size: both are caller bugs, never data errors. Interleaved
/// formats have no rows of their own: quantize to [`DType::plain`], then
/// [`x16::interleave`] whole groups of rows.
pub fn quantize_row(dtype: DType, src: &[f32], dst: &mut [u8]) {
    let need = dtype
        .row_bytes(src.len())
        .expect("row length is not a whole number of blocks");
    assert_eq!(dst.len(), need, "destination size for {dtype}");
    match dtype {
        DType::F32 => dst.copy_from_slice(bytemuck::cast_slice(src)),
        DType::F16 => {
            for (d, &x) in dst.chunks_exact_mut(2).zip(src) {
                d.copy_from_slice(&f16::from_f32(x).to_le_bytes());
            }
        }
        DType::BF16 => {
            for (d, &x) in dst.chunks_exact_mut(2).zip(src) {
                d.copy_from_slice(&bf16::from_f32(x).to_le_bytes());
            }
        }
        DType::Q8_0 => quantize_blocks(src, dst, BlockQ8_0::quantize),
        DType::Q4_0 => quantize_blocks(src, dst, BlockQ4_0::quantize),
        DType::Q4_1 => quantize_blocks(src, dst, BlockQ4_1::quantize),
        DType::Q5_0 => quantize_blocks(src, dst, BlockQ5_0::quantize),
        DType::Q5_1 => quantize_blocks(src, dst, BlockQ5_1::quantize),
        DType::Q4_0x16 | DType::Q4_1x16 | DType::Q8_0x16 => {
            panic!("{dtype} is quantized by groups of rows, not by row")
        }
        _ => panic!("minke cannot write {dtype} yet (see DType::can_quantize)"),
    }
}

/// Expands one row of `dtype` data (`src`, a whole number of blocks) into
/// `dst`, which must have exactly the row's element count.
///
/// # Panics
/// When the sizes disagree (a caller bug), and for interleaved formats,
/// whose rows are spread over their group: see [`dequantize_row_of`].
pub fn dequantize_row(dtype: DType, src: &[u8], dst: &mut [f32]) {
    let need = dtype
        .row_bytes(dst.len())
        .expect("row length is not a whole number of blocks");
    assert_eq!(src.len(), need, "source size for {dtype}");
    match dtype {
        DType::F32 => {
            for (d, s) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *d = f32::from_le_bytes(s.try_into().unwrap());
            }
        }
        DType::F16 => {
            for (d, s) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = f16::from_le_bytes([s[0], s[1]]).to_f32();
            }
        }
        DType::BF16 => {
            for (d, s) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = bf16::from_le_bytes([s[0], s[1]]).to_f32();
            }
        }
        DType::Q8_0 => dequantize_blocks(src, dst, BlockQ8_0::dequantize),
        DType::Q4_0 => dequantize_blocks(src, dst, BlockQ4_0::dequantize),
        DType::Q4_1 => dequantize_blocks(src, dst, BlockQ4_1::dequantize),
        DType::Q5_0 => dequantize_blocks(src, dst, BlockQ5_0::dequantize),
        DType::Q5_1 => dequantize_blocks(src, dst, BlockQ5_1::dequantize),
        DType::IQ4_NL => dequantize_blocks(src, dst, BlockIq4Nl::dequantize),
        DType::Q2_K => dequantize_blocks(src, dst, BlockQ2K::dequantize),
        DType::Q3_K => dequantize_blocks(src, dst, BlockQ3K::dequantize),
        DType::Q4_K => dequantize_blocks(src, dst, BlockQ4K::dequantize),
        DType::Q5_K => dequantize_blocks(src, dst, BlockQ5K::dequantize),
        DType::Q6_K => dequantize_blocks(src, dst, BlockQ6K::dequantize),
        DType::IQ4_XS => dequantize_blocks(src, dst, BlockIq4Xs::dequantize),
        DType::Q4_0x16 | DType::Q4_1x16 | DType::Q8_0x16 => {
            panic!("{dtype} rows are read with dequantize_row_of")
        }
    }
}

/// Expands row `r` of a matrix in any format (`matrix` holds all its rows,
/// `dst.len()` elements each) into `dst`.
///
/// # Panics
/// When `r` is out of range or the sizes disagree (caller bugs).
pub fn dequantize_row_of(dtype: DType, matrix: &[u8], r: usize, dst: &mut [f32]) {
    let rb = dtype
        .row_bytes(dst.len())
        .expect("row length is not a whole number of blocks");
    assert!(
        rb.checked_mul(r + 1).is_some_and(|end| end <= matrix.len()),
        "row {r} outside the matrix"
    );
    if dtype.row_group() == 1 {
        return dequantize_row(dtype, &matrix[r * rb..(r + 1) * rb], dst);
    }
    let group = x16::GROUP * rb;
    assert!(matrix.len() % group == 0, "{dtype} matrix of whole groups");
    let plain = dtype.plain();
    let bb = plain.block_bytes();
    let gbb = x16::GROUP * bb;
    let g = r / x16::GROUP;
    let mut block = [0u8; 34];
    for (b, d) in dst.chunks_exact_mut(QK).enumerate() {
        // One block at a time: no allocation, a row's blocks are far apart.
        let blk = &mut block[..bb];
        x16::deinterleave_row(
            dtype,
            &matrix[g * group + b * gbb..][..gbb],
            1,
            r % x16::GROUP,
            blk,
        );
        dequantize_row(plain, blk, d);
    }
}
