//! The row-format block products, written once for every SIMD set.
//!
//! A quantized weight row is a run of blocks; its product with an int8
//! activation row ([`BlockQ8A`], 32 values a block) is, block by block,
//! "unpack the weights into int8 lanes, integer dot product, scale in f32".
//! Only the unpacking differs between formats, and only the primitives
//! (load, mask, shift, table lookup, 4-way int8 dot, FMA) differ between
//! instruction sets. So this module holds:
//!
//! - [`Simd`], the primitives, on 32-value chunks: AVX2 (`x86_64/rows.rs`,
//!   also used by the AVX-512 table without VNNI) and NEON
//!   (`aarch64/rows.rs`, with or without `sdot`);
//! - [`RowFormat`], what a format is: each 32-value chunk's scales
//!   (scalar) and how it unpacks, written over `Simd`
//!   ([`formats`], [`kquants`]); one block body ([`block`]) serves them
//!   all, and the AVX512-VNNI GEMM and matrix-vector kernels
//!   (`x86_64/avx512/gemm.rs`, `gemv.rs`) unpack with them too;
//! - [`drive`], the tiling shared by every format and set: decoding
//!   (`n == 1`) in tiles of 4 weight rows × 1 activation row, so four weight
//!   streams share each activation load and the next four rows are
//!   prefetched in address order; batches in 1 × 4 tiles, so each weight
//!   block is unpacked once for four tokens.
//!
//! Results per row depend only on that row and its activations, in a
//! fixed order, so `matmul` equals `vec_dot` bit for bit, and splitting
//! rows or tokens across threads changes nothing.
//!
//! Every function here is `#[inline(always)]` without target features:
//! each set instantiates them inside its own `#[target_feature]`
//! trampolines, where the intrinsics get their features (as
//! [`super::lanes`] does for attention). AVX-512 without VNNI keeps its
//! own tiles for Q8_0, Q4_0 and Q4_1, whose two- and four-block register
//! layouts have no counterpart here (`x86_64/avx512.rs`).

pub(super) mod formats;
pub(super) mod kquants;

use crate::formats::BlockQ8A;
use std::ptr::{addr_of, null};

/// The primitives of one instruction set, on chunks of 32 bytes.
///
/// `I` and `F` hold the sums of one chunk in lanes whose first half covers
/// the chunk's values 0-15 and whose second half covers 16-31 (in any
/// order within a half), so that formats with one scale per 16 values can
/// scale the halves apart ([`Simd::fma2`]).
///
/// # Safety
/// Every method may only run where the set's features are enabled (inside
/// its trampolines); pointer arguments must be readable for the bytes
/// stated.
pub(super) trait Simd: Copy {
    /// 32 bytes.
    type B: Copy;
    /// Integer sums of one chunk's products (i32 lanes).
    type I: Copy;
    /// f32 accumulator lanes.
    type F: Copy;

    /// 32 bytes from `p`.
    unsafe fn load(p: *const u8) -> Self::B;
    /// 16 bytes from `p` as 32 values in 0..=15: the low nibbles are
    /// values 0-15, the high nibbles 16-31 (the layout of Q4_0's blocks).
    unsafe fn nibbles(p: *const u8) -> Self::B;
    /// Every byte `v`.
    unsafe fn splat(v: u8) -> Self::B;
    unsafe fn and(a: Self::B, b: Self::B) -> Self::B;
    unsafe fn or(a: Self::B, b: Self::B) -> Self::B;
    /// Bytewise wrapping `a - b`.
    unsafe fn sub(a: Self::B, b: Self::B) -> Self::B;
    /// Bytewise logical shift right by `N < 8`.
    unsafe fn shr<const N: i32>(a: Self::B) -> Self::B;
    /// Bytewise shift left by `N < 8`.
    unsafe fn shl<const N: i32>(a: Self::B) -> Self::B;
    /// `0xFF` in each byte where `a & bit != 0`, else 0; `bit` has one bit
    /// set in every byte.
    unsafe fn test(a: Self::B, bit: Self::B) -> Self::B;
    /// `0xFF` in byte `i` where bit `i` of `bits` is set, else 0.
    unsafe fn bits(bits: u32) -> Self::B;
    /// `table[idx]` bytewise, for indices in 0..=15 (`table` 16 bytes).
    unsafe fn lookup(table: *const i8, idx: Self::B) -> Self::B;
    /// The 4-way sums of `w · x` with `w` in 0..=127 and `x` signed.
    unsafe fn dot_u(w: Self::B, x: Self::B) -> Self::I;
    /// The 4-way sums of `w · x`, both signed (`x` in -127..=127).
    unsafe fn dot_s(w: Self::B, x: Self::B) -> Self::I;
    /// [`Simd::dot_u`] with `corr` added to one lane: lanes whose total is
    /// `Σ w x + corr`, exactly.
    unsafe fn dot_off(w: Self::B, x: Self::B, corr: i32) -> Self::I;
    /// The f16 at `p`, as f32.
    unsafe fn f16(p: *const u8) -> f32;
    /// Every lane 0.
    unsafe fn zero() -> Self::F;
    /// `acc + s · i`, one rounding a lane.
    unsafe fn fma(acc: Self::F, i: Self::I, s: f32) -> Self::F;
    /// `acc + s · i` with `s = lo` on the lanes of values 0-15 and `hi` on
    /// those of 16-31.
    unsafe fn fma2(acc: Self::F, i: Self::I, lo: f32, hi: f32) -> Self::F;
    /// The sum of the lanes, in the set's fixed order.
    unsafe fn sum(acc: Self::F) -> f32;
    /// Asks for the cache line at `p` (a hint: any address).
    unsafe fn prefetch(p: *const u8);
}

/// How a format's minimum enters a chunk's product.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Min {
    /// No minimum.
    None,
    /// One per chunk: `- min · s_x` (the activation block's scaled sum).
    Chunk,
    /// One per 16 values: `- min · d_x Σ x` over each half (Q2_K).
    Half,
}

/// One chunk's scales: `lo` for values 0-15 and `hi` for 16-31 (equal
/// where the format has one scale a chunk), and the minimums the chunk's
/// product subtracts (see [`Min`]).
#[derive(Clone, Copy, Default)]
pub(super) struct Scale {
    pub lo: f32,
    pub hi: f32,
    pub min_lo: f32,
    pub min_hi: f32,
}

impl Scale {
    /// One scale for the whole chunk, no minimum.
    pub fn one(d: f32) -> Scale {
        Scale {
            lo: d,
            hi: d,
            ..Scale::default()
        }
    }
}

/// A weight format: a block of `BB` bytes holds `NB` chunks of 32 values;
/// chunk `i` is `scale · q - min` with `q` the 32 int8 values
/// [`RowFormat::chunk`] unpacks. The products of every set ([`drive`],
/// and the AVX-512 GEMM) are written over these two functions.
pub(super) trait RowFormat {
    /// Bytes per weight block.
    const BB: usize;
    /// Chunks (activation blocks) per weight block: 1 or 8.
    const NB: usize;
    /// Whether `q` is signed (else in 0..=127).
    const SIGNED: bool;
    /// The values of `q` lie in `0..RANGE` (unsigned) or in `-RANGE /
    /// 2..RANGE / 2` (signed); a power of two. Kernels that add unsigned
    /// offsets, or sum products in narrow lanes, size them by it.
    const RANGE: i32;
    /// An offset the unsigned `q` carry (a power of two): the values are
    /// `q - OFFSET`, and `OFFSET Σx` comes off each chunk's integer dot
    /// exactly ([`Simd::dot_off`]). Only for formats with one scale a
    /// chunk.
    const OFFSET: i32 = 0;
    /// Whether the two halves of a chunk have their own scales.
    const HALVES: bool;
    /// How the minimum enters.
    const MIN: Min;

    /// The scales of chunk `i < NB` of the block at `w`.
    ///
    /// # Safety
    /// `BB` bytes readable at `w`; `S`'s features.
    unsafe fn scale<S: Simd>(w: *const u8, i: usize) -> Scale;

    /// Chunk `i < NB` of the block at `w`, unpacked.
    ///
    /// # Safety
    /// `BB` bytes readable at `w`; `S`'s features.
    unsafe fn chunk<S: Simd>(w: *const u8, i: usize) -> S::B;
}

/// Runs `$body` for each chunk `$i` of a block (`$nb` 1 or 8), written
/// out so that `$i` is a constant in each copy: the formats' unpacking
/// then has no branches, and each copy's loads are its own.
macro_rules! unroll_chunks {
    ($nb:expr, $i:ident => $body:block) => {{
        {
            let $i = 0usize;
            $body
        }
        if $nb == 8 {
            unroll_chunks!(@rest $i => $body; 1 2 3 4 5 6 7);
        }
    }};
    (@rest $i:ident => $body:block; $($k:literal)*) => {
        $({
            let $i: usize = $k;
            $body
        })*
    };
}

/// Adds weight block `w` of format `F` times the `NB` activation blocks at
/// each `x[c]` to `acc[c]` (lanes) and `accs[c]` (a scalar part, for
/// minimums by chunk). The one block body of every format.
///
/// # Safety
/// `S`'s features; `BB` bytes readable at `w`, `NB` blocks at every
/// `x[c]`.
#[inline(always)]
unsafe fn block<S: Simd, F: RowFormat, const C: usize>(
    w: *const u8,
    x: [*const BlockQ8A; C],
    acc: &mut [S::F; C],
    accs: &mut [f32; C],
) {
    const { assert!(F::NB == 1 || F::NB == 8, "blocks of 1 or 8 chunks") };
    const {
        assert!(
            F::OFFSET == 0 || !(F::SIGNED || F::HALVES) && F::OFFSET.count_ones() == 1,
            "offsets are powers of two, of unsigned whole chunks"
        )
    };
    const {
        assert!(
            F::RANGE.count_ones() == 1 && F::RANGE <= if F::SIGNED { 256 } else { 128 },
            "values fit `Simd::dot_u` (unsigned) or int8 (signed)"
        )
    };
    // SAFETY: as stated; activation block `i < NB` of each `x[c]`.
    unsafe {
        unroll_chunks!(F::NB, i => {
            let sc = &F::scale::<S>(w, i);
            let q = F::chunk::<S>(w, i);
            for c in 0..C {
                let xb = x[c].add(i);
                let xq = act::<S>(xb);
                let dot = if F::SIGNED {
                    S::dot_s(q, xq)
                } else if F::OFFSET != 0 {
                    S::dot_off(q, xq, -F::OFFSET * (*xb).sum)
                } else {
                    S::dot_u(q, xq)
                };
                let dx = (*xb).d;
                acc[c] = if F::HALVES {
                    S::fma2(acc[c], dot, sc.lo * dx, sc.hi * dx)
                } else {
                    S::fma(acc[c], dot, sc.lo * dx)
                };
                match F::MIN {
                    Min::None => {}
                    Min::Chunk => accs[c] -= sc.min_lo * (*xb).s,
                    Min::Half => {
                        let sums = S::dot_u(S::splat(1), xq);
                        acc[c] = S::fma2(acc[c], sums, -(sc.min_lo * dx), -(sc.min_hi * dx));
                    }
                }
            }
        });
    }
}

/// The 32 int8 values of activation block `x`.
///
/// # Safety
/// `S`'s features; `x` readable.
#[inline(always)]
pub(super) unsafe fn act<S: Simd>(x: *const BlockQ8A) -> S::B {
    // SAFETY: `qs` is 32 readable bytes; `addr_of!` makes no reference.
    unsafe { S::load(addr_of!((*x).qs).cast()) }
}

/// Checks the sizes a [`super::MatmulQ8`] of format `F` is given and returns
/// `(rows, weight blocks per row)`.
///
/// # Panics
/// When `n` is zero or the slices disagree (caller bugs).
pub(super) fn shape<F: RowFormat>(
    w: &[u8],
    x: &[BlockQ8A],
    n: usize,
    out: &[f32],
) -> (usize, usize) {
    super::block_shape(F::BB, F::NB, w, x, n, out)
}

/// Prefetches, in address order, the share of the next tile's `R` rows
/// (starting at `next`) that matches block `b` of this tile: `R · BB`
/// bytes. A tile reads its rows side by side, and on Zen 4 `R` interleaved
/// streams get only 35-50% of one sequential stream's bandwidth; a linear
/// walk one tile ahead restores it (see `x86_64/avx512.rs`).
#[inline(always)]
unsafe fn prefetch_next<S: Simd, const R: usize>(next: *const u8, b: usize, bb: usize) {
    if next.is_null() {
        return;
    }
    let span = R * bb;
    let at = next.wrapping_add(b * span);
    let mut off = 0;
    while off < span {
        // SAFETY: a prefetch is a hint; the address may be anything.
        unsafe { S::prefetch(at.wrapping_add(off)) };
        off += 64;
    }
}

/// `R` weight rows × `C` activation rows, `nbw` weight blocks each.
///
/// # Safety
/// `S`'s features; every `w[r]` readable for `nbw` blocks, every `x[c]`
/// for `nbw · NB` activation blocks.
#[inline(always)]
unsafe fn tile<S: Simd, F: RowFormat, const R: usize, const C: usize>(
    w: [*const u8; R],
    x: [*const BlockQ8A; C],
    nbw: usize,
    next: *const u8,
) -> [[f32; C]; R] {
    const { assert!(R <= 4, "tiles of at most 4 rows") };
    // SAFETY: block `b < nbw` of every row and its activation blocks are
    // readable (the caller's sizes); the features are the caller's.
    unsafe {
        let mut acc = [[S::zero(); C]; R];
        let mut accs = [[0f32; C]; R];
        for b in 0..nbw {
            prefetch_next::<S, R>(next, b, F::BB);
            let xb = x.map(|p| p.add(b * F::NB));
            // Rows by constant index (R ≤ 4), so that the accumulators
            // stay in registers: a loop over `r` was left rolled, with
            // them in memory.
            macro_rules! row {
                ($r:literal) => {
                    if $r < R {
                        block::<S, F, C>(w[$r].add(b * F::BB), xb, &mut acc[$r], &mut accs[$r]);
                    }
                };
            }
            row!(0);
            row!(1);
            row!(2);
            row!(3);
        }
        let mut res = [[0f32; C]; R];
        for r in 0..R {
            for c in 0..C {
                res[r][c] = S::sum(acc[r][c]) + accs[r][c];
            }
        }
        res
    }
}

/// The whole product of format `F`: `out[r * n + t] = W[r] · x[t]`.
///
/// # Safety
/// `S`'s features; `w` readable for `rows` rows of `nbw` blocks, `x` for
/// `n` rows of `nbw · NB` activation blocks, `out` writable for `rows · n`
/// floats.
#[inline(always)]
pub(super) unsafe fn drive<S: Simd, F: RowFormat>(
    w: *const u8,
    x: *const BlockQ8A,
    rows: usize,
    nbw: usize,
    n: usize,
    out: *mut f32,
) {
    let rb = nbw * F::BB;
    let wr = |r: usize| w.wrapping_add(r * rb);
    // SAFETY: row `r < rows` starts at `r * rb`, activation row `t < n` at
    // block `t * nbw * NB`, output `(r, t)` at `r * n + t`: all within the
    // caller's sizes; `next` pointers are only prefetched.
    unsafe {
        if n == 1 {
            let mut r = 0;
            while r + 4 <= rows {
                let rows4 = [wr(r), wr(r + 1), wr(r + 2), wr(r + 3)];
                let s = tile::<S, F, 4, 1>(rows4, [x], nbw, wr(r + 4));
                for (i, v) in s.iter().enumerate() {
                    *out.add(r + i) = v[0];
                }
                r += 4;
            }
            while r < rows {
                *out.add(r) = tile::<S, F, 1, 1>([wr(r)], [x], nbw, null())[0][0];
                r += 1;
            }
            return;
        }
        let xt = |t: usize| x.add(t * nbw * F::NB);
        for r in 0..rows {
            let o = out.add(r * n);
            // The first tile of a row reads it from memory; prefetch the next row.
            let next = |t: usize| if t == 0 { wr(r + 1) } else { null() };
            let mut t = 0;
            while t + 4 <= n {
                let xs = [xt(t), xt(t + 1), xt(t + 2), xt(t + 3)];
                let s = tile::<S, F, 1, 4>([wr(r)], xs, nbw, next(t));
                for (i, v) in s[0].iter().enumerate() {
                    *o.add(t + i) = *v;
                }
                t += 4;
            }
            match n - t {
                3 => {
                    let s =
                        tile::<S, F, 1, 3>([wr(r)], [xt(t), xt(t + 1), xt(t + 2)], nbw, next(t));
                    for (i, v) in s[0].iter().enumerate() {
                        *o.add(t + i) = *v;
                    }
                }
                2 => {
                    let s = tile::<S, F, 1, 2>([wr(r)], [xt(t), xt(t + 1)], nbw, next(t));
                    *o.add(t) = s[0][0];
                    *o.add(t + 1) = s[0][1];
                }
                1 => *o.add(t) = tile::<S, F, 1, 1>([wr(r)], [xt(t)], nbw, next(t))[0][0],
                _ => {}
            }
        }
    }
}

/// Defines `$entry::<F>`, the [`super::MatmulQ8`] of every row format
/// `F` for one set: sizes checked with [`shape`], then [`drive`] over
/// `$simd` inside a trampoline compiled with `$features`. The caller
/// promises that the table holding `$entry` is only handed out when the
/// CPU has those features.
macro_rules! rows_entry {
    ($vis:vis $entry:ident, $simd:ty, $features:literal) => {
        $vis fn $entry<F: $crate::kernels::rows::RowFormat>(
            w: &[u8],
            x: &[$crate::formats::BlockQ8A],
            n: usize,
            out: &mut [f32],
        ) {
            /// # Safety
            /// The features enabled here; pointers as
            /// [`crate::kernels::rows::drive`] requires.
            #[target_feature(enable = $features)]
            unsafe fn inner<F: $crate::kernels::rows::RowFormat>(
                w: *const u8,
                x: *const $crate::formats::BlockQ8A,
                (rows, nbw, n): (usize, usize, usize),
                out: *mut f32,
            ) {
                // SAFETY: forwarded from the caller.
                unsafe { $crate::kernels::rows::drive::<$simd, F>(w, x, rows, nbw, n, out) }
            }
            let (rows, nbw) = $crate::kernels::rows::shape::<F>(w, x, n, out);
            // SAFETY: the table holding this function is only handed out
            // when the CPU has the features (the macro's contract), and
            // `shape` checked that `w` holds `rows` rows of `nbw` blocks,
            // `x` holds `n` rows of `nbw · NB` blocks and `out` `rows · n`
            // floats.
            unsafe { inner::<F>(w.as_ptr(), x.as_ptr(), (rows, nbw, n), out.as_mut_ptr()) }
        }
    };
}
pub(super) use rows_entry;

/// A set's table entries for the row formats, from its generic entry
/// `$entry` (see [`rows_entry`]).
macro_rules! row_entries {
    ($entry:ident) => {
        $crate::kernels::RowKernels {
            q8_0: $entry::<$crate::kernels::rows::formats::Q8_0>,
            q4_0: $entry::<$crate::kernels::rows::formats::Q4_0>,
            q4_1: $entry::<$crate::kernels::rows::formats::Q4_1>,
            q5_0: $entry::<$crate::kernels::rows::formats::Q5_0>,
            q5_1: $entry::<$crate::kernels::rows::formats::Q5_1>,
            iq4_nl: $entry::<$crate::kernels::rows::formats::Iq4Nl>,
            q2_k: $entry::<$crate::kernels::rows::kquants::Q2K>,
            q3_k: $entry::<$crate::kernels::rows::kquants::Q3K>,
            q4_k: $entry::<$crate::kernels::rows::kquants::Q4K>,
            q5_k: $entry::<$crate::kernels::rows::kquants::Q5K>,
            q6_k: $entry::<$crate::kernels::rows::kquants::Q6K>,
            iq4_xs: $entry::<$crate::kernels::rows::kquants::Iq4Xs>,
        }
    };
}
pub(super) use row_entries;
