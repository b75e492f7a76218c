//! Interleaved formats: the blocks of 16 weight rows rearranged so that a
//! kernel reads the 16 rows as one sequential stream and keeps one row per
//! register lane (16 f32 lanes in AVX-512; two ymm on AVX2; four q
//! registers on NEON).
//!
//! [`DType::Q4_0x16`]: a matrix of `rows` (a multiple of 16) Q4_0 rows of
//! `nb` blocks is `rows / 16` groups back to back. Group `g` holds rows
//! `16 g..16 g + 16` as `nb` group blocks of 288 bytes, one per block
//! index `b`:
//!
//! | bytes | what |
//! |---|---|
//! | `0..32` | the 16 rows' f16 scales `d`, row `i` at `2 i` |
//! | `32 + 64 c + 4 i..+4` | bytes `4 c..4 c + 4` of row `i`'s packed nibbles, for `c < 4` |
//!
//! So each 64-byte line after the scales holds four nibble bytes of every
//! row: its low nibbles are elements `4c..4c+4` of the 16 rows, its high
//! nibbles elements `16+4c..16+4c+4`, which is what a "4 bytes per i32
//! lane" dot product instruction (`vpdpbusd`, `sdot`) wants. A group block
//! is 16 × 18 bytes, so a matrix takes exactly its Q4_0 size, and the
//! nibbles and scales are Q4_0's own: conversion either way is exact.
//!
//! The layout is minke's (no GGUF type holds it); llama.cpp builds similar
//! groups in memory at load time, which doubles a mapped model's footprint.

use crate::DType;

/// Rows per group.
pub const GROUP: usize = 16;

/// Bytes of one Q4_0x16 group block (16 Q4_0 blocks).
pub const Q4_0X16_BLOCK: usize = 16 * 18;

/// Checks a whole-matrix call's sizes and returns `(groups, nb)`.
fn shape(dtype: DType, plain_len: usize, cols: usize, other_len: usize) -> (usize, usize) {
    assert_eq!(dtype, DType::Q4_0x16, "not an interleaved format: {dtype}");
    let rb = DType::Q4_0
        .row_bytes(cols)
        .expect("row length is not a whole number of blocks");
    assert_eq!(plain_len, other_len, "source and destination sizes differ");
    assert!(
        rb > 0 && plain_len % (rb * GROUP) == 0,
        "an interleaved matrix needs a multiple of {GROUP} rows"
    );
    (plain_len / (rb * GROUP), rb / 18)
}

/// Rearranges `rows` Q4_0 rows of `cols` elements (`plain`, row after row)
/// into `dtype`'s layout in `dst` (same size).
///
/// # Panics
/// When `dtype` is not interleaved, or the sizes are not a whole number of
/// 16-row groups (caller bugs).
pub fn interleave(dtype: DType, plain: &[u8], cols: usize, dst: &mut [u8]) {
    let (groups, nb) = shape(dtype, plain.len(), cols, dst.len());
    let rb = nb * 18;
    for g in 0..groups {
        for b in 0..nb {
            let out = &mut dst[(g * nb + b) * Q4_0X16_BLOCK..][..Q4_0X16_BLOCK];
            for i in 0..GROUP {
                let blk = &plain[(g * GROUP + i) * rb + b * 18..][..18];
                out[2 * i..2 * i + 2].copy_from_slice(&blk[..2]);
                for c in 0..4 {
                    out[32 + 64 * c + 4 * i..][..4].copy_from_slice(&blk[2 + 4 * c..][..4]);
                }
            }
        }
    }
}

/// The inverse of [`interleave`]: `src` in `dtype`'s layout back to
/// row-after-row Q4_0 in `plain`.
///
/// # Panics
/// As [`interleave`].
pub fn deinterleave(dtype: DType, src: &[u8], cols: usize, plain: &mut [u8]) {
    let (groups, nb) = shape(dtype, plain.len(), cols, src.len());
    for g in 0..groups {
        for i in 0..GROUP {
            deinterleave_row(
                src,
                nb,
                g * GROUP + i,
                &mut plain[(g * GROUP + i) * nb * 18..][..nb * 18],
            );
        }
    }
}

/// Row `r` of a Q4_0x16 matrix of `nb` blocks per row, as Q4_0 bytes.
pub(crate) fn deinterleave_row(src: &[u8], nb: usize, r: usize, out: &mut [u8]) {
    let (g, i) = (r / GROUP, r % GROUP);
    for b in 0..nb {
        let blk = &src[(g * nb + b) * Q4_0X16_BLOCK..][..Q4_0X16_BLOCK];
        let o = &mut out[b * 18..][..18];
        o[..2].copy_from_slice(&blk[2 * i..2 * i + 2]);
        for c in 0..4 {
            o[2 + 4 * c..][..4].copy_from_slice(&blk[32 + 64 * c + 4 * i..][..4]);
        }
    }
}
