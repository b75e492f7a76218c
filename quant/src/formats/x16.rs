//! Interleaved formats: the blocks of 16 weight rows rearranged so that a
//! kernel reads the 16 rows as one sequential stream and keeps one row per
//! register lane (16 f32 lanes in AVX-512; two ymm on AVX2; four q
//! registers on NEON).
//!
//! A row block of Q4_0, Q4_1 or Q8_0 is `f` f16 fields (the scale `d`;
//! Q4_1 adds its minimum `m`) followed by `q` bytes of quants (16 packed
//! nibble bytes, or 32 int8). The interleaved form ([`DType::Q4_0x16`],
//! [`DType::Q4_1x16`], [`DType::Q8_0x16`]) of a matrix of `rows` (a
//! multiple of 16) rows of `nb` blocks is `rows / 16` groups back to back.
//! Group `g` holds rows `16 g..16 g + 16` as `nb` group blocks, one per
//! block index `b`, each the 16 rows' block `b`:
//!
//! | bytes | what |
//! |---|---|
//! | `32 j + 2 i..+2` | f16 field `j < f` of row `i` |
//! | `32 f + 64 c + 4 i..+4` | quant bytes `4 c..4 c + 4` of row `i`, for `c < q / 4` |
//!
//! So each 64-byte line after the fields holds four quant bytes of every
//! row, which is what a "4 bytes per i32 lane" dot product instruction
//! (`vpdpbusd`, `sdot`) wants: for Q8_0, elements `4c..4c+4` of the 16
//! rows; for the 4-bit formats, whose byte `k` packs elements `k` (low
//! nibble) and `k + 16` (high), elements `4c..4c+4` and `16+4c..16+4c+4`.
//! A group block is 16 row blocks' bytes, so a matrix takes exactly its
//! row format's size, and fields and quants are the row format's own:
//! conversion either way is exact.
//!
//! The layout is minke's (no GGUF type holds it); llama.cpp builds similar
//! groups in memory at load time, which doubles a mapped model's footprint.

use crate::DType;

/// Rows per group.
pub const GROUP: usize = 16;

/// `(f16 fields, quant bytes)` of one row block of an interleaved format.
///
/// # Panics
/// When `dtype` is not interleaved (a caller bug).
pub const fn layout(dtype: DType) -> (usize, usize) {
    match dtype {
        DType::Q4_0x16 => (1, 16),
        DType::Q4_1x16 => (2, 16),
        DType::Q8_0x16 => (1, 32),
        _ => panic!("not an interleaved format"),
    }
}

/// Checks a whole-matrix call's sizes and returns `(groups, nb)`.
fn shape(dtype: DType, plain_len: usize, cols: usize, other_len: usize) -> (usize, usize) {
    assert!(
        dtype.row_group() == GROUP,
        "not an interleaved format: {dtype}"
    );
    let rb = dtype
        .row_bytes(cols)
        .expect("row length is not a whole number of blocks");
    assert_eq!(plain_len, other_len, "source and destination sizes differ");
    assert!(
        rb > 0 && plain_len % (rb * GROUP) == 0,
        "an interleaved matrix needs a multiple of {GROUP} rows"
    );
    (plain_len / (rb * GROUP), rb / dtype.block_bytes())
}

/// Rearranges rows of `cols` elements in `dtype`'s row format (`plain`,
/// row after row; [`DType::plain`]) into `dtype`'s layout in `dst` (same
/// size).
///
/// # Panics
/// When `dtype` is not interleaved, or the sizes are not a whole number of
/// 16-row groups (caller bugs).
pub fn interleave(dtype: DType, plain: &[u8], cols: usize, dst: &mut [u8]) {
    let (groups, nb) = shape(dtype, plain.len(), cols, dst.len());
    let bb = dtype.block_bytes();
    let rb = nb * bb;
    for g in 0..groups {
        for b in 0..nb {
            let out = &mut dst[(g * nb + b) * GROUP * bb..][..GROUP * bb];
            for i in 0..GROUP {
                let blk = &plain[(g * GROUP + i) * rb + b * bb..][..bb];
                for (at_row, at_group, len) in pieces(dtype, i) {
                    out[at_group..][..len].copy_from_slice(&blk[at_row..][..len]);
                }
            }
        }
    }
}

/// Where row `i`'s block lies in a group block: `(offset in the row
/// block, offset in the group block, length)` for each f16 field, then
/// each four quant bytes.
fn pieces(dtype: DType, i: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    let (f, q) = layout(dtype);
    let fields = (0..f).map(move |j| (2 * j, 32 * j + 2 * i, 2));
    let quants = (0..q / 4).map(move |c| (2 * f + 4 * c, 32 * f + 64 * c + 4 * i, 4));
    fields.chain(quants)
}

/// The inverse of [`interleave`]: `src` in `dtype`'s layout back to
/// row-after-row blocks of its row format in `plain`.
///
/// # Panics
/// As [`interleave`].
pub fn deinterleave(dtype: DType, src: &[u8], cols: usize, plain: &mut [u8]) {
    let (groups, nb) = shape(dtype, plain.len(), cols, src.len());
    let rb = nb * dtype.block_bytes();
    for r in 0..groups * GROUP {
        deinterleave_row(dtype, src, nb, r, &mut plain[r * rb..][..rb]);
    }
}

/// Row `r` of a `dtype` matrix of `nb` blocks per row, as row-format
/// bytes in `out`.
pub(crate) fn deinterleave_row(dtype: DType, src: &[u8], nb: usize, r: usize, out: &mut [u8]) {
    let bb = dtype.block_bytes();
    let (g, i) = (r / GROUP, r % GROUP);
    for b in 0..nb {
        let blk = &src[(g * nb + b) * GROUP * bb..][..GROUP * bb];
        let o = &mut out[b * bb..][..bb];
        for (at_row, at_group, len) in pieces(dtype, i) {
            o[at_row..][..len].copy_from_slice(&blk[at_group..][..len]);
        }
    }
}
