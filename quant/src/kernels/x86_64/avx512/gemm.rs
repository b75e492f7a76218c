//! Prompt-sized products on AVX512-VNNI: tiles of 2 weight rows × 8 tokens
//! for Q4_0 and Q8_0, with the tokens' int8 blocks rearranged once per
//! call so that the inner loop is one `vpdpbusd`, one convert, one multiply
//! and one FMA per row, token and pair of blocks.
//!
//! The small-batch tiles of `tiles.rs` give the activations the signed side
//! of `vpdpbusd` and pay a per-token offset (`-8 Σx`, `-128 Σx`) every time
//! a token meets a block; with 8 tokens per weight row that bookkeeping
//! costs more than the dot products. Here the roles swap: the activations
//! become unsigned once per call (`x + 128`, stored as `x ^ 0x80` in the
//! weight format's lane order) and the weights signed (`q - 8` for Q4_0,
//! as stored for Q8_0), so the offset `-128 Σw` belongs to the weight block
//! and is computed once per row for all 8 tokens:
//!
//! `Σ (x + 128)(w) - 128 Σ w = Σ x w`, exactly, in i32.
//!
//! Every output goes through the same float operations, in the same lane
//! layout and order, as the `tiles.rs` kernels (same block products, same
//! scale products `d_w · d_x`, same FMA chain, same horizontal sum), so a
//! product is bit for bit the same whichever path computed it, and results
//! do not depend on how rows and tokens were split.

use super::{
    act_pair, act_pair_nibble_order, act_scales, f16_pairs, hsum, nibble_pair, prefetch_next,
    spread_natural, spread_nibble, widen, Format,
};
use crate::formats::BlockQ8A;
use std::arch::x86_64::*;
use std::mem::MaybeUninit;
use std::ptr::null;

use super::tiles::{Q4_0, Q8_0};

/// Tokens per tile.
const C: usize = 8;
/// Rearranged activation pairs that fit the stack buffer (64 KiB): 8 tokens
/// of up to 128 pairs (k ≤ 8192), else 4 tokens of up to 256.
const BUF_PAIRS: usize = 1024;

/// A weight format with a GEMM tile.
pub(super) trait Gemm: Format {
    /// Activation blocks `b`, `b + 1` of `x` in this format's lane order,
    /// as unsigned bytes `x + 128`.
    ///
    /// # Safety
    /// Blocks `b`, `b + 1` readable; inlined into an AVX-512 trampoline.
    unsafe fn act_u8(x: *const BlockQ8A, b: usize) -> __m512i;

    /// Weight blocks `b`, `b + 1` of the row at `w` as signed bytes in the
    /// lane order of [`Gemm::act_u8`], and the f32 xmm `[d_b, _, d_b1, _]`
    /// of their scales.
    ///
    /// # Safety
    /// Blocks `b`, `b + 1` readable; inlined into an AVX-512 trampoline.
    unsafe fn weights_s8(w: *const u8, b: usize) -> (__m512i, __m128);

    /// Spreads lanes 0 and 2 of an xmm over the i32 lanes of the format's
    /// layout ([`spread_nibble`] or [`spread_natural`]).
    ///
    /// # Safety
    /// Inlined into an AVX-512 trampoline.
    unsafe fn spread(s: __m128) -> __m512;

    /// The odd last block `b` of the row at `w` against `x`, as the 8 lanes
    /// the small-batch tile adds with [`widen`].
    ///
    /// # Safety
    /// Block `b` readable in both; inlined into an AVX-512 trampoline.
    unsafe fn tail(w: *const u8, x: *const BlockQ8A, b: usize) -> __m256;
}

impl Gemm for Q4_0 {
    #[inline(always)]
    unsafe fn act_u8(x: *const BlockQ8A, b: usize) -> __m512i {
        // SAFETY: forwarded.
        unsafe { _mm512_xor_si512(act_pair_nibble_order(x, b), _mm512_set1_epi8(-128)) }
    }

    #[inline(always)]
    unsafe fn weights_s8(w: *const u8, b: usize) -> (__m512i, __m128) {
        // SAFETY: blocks `b`, `b + 1` are 18 readable bytes each.
        unsafe {
            let (p0, p1) = (w.add(b * 18), w.add(b * 18 + 18));
            let q = nibble_pair(p0.add(2), p1.add(2));
            let d = f16_pairs(p0, p1);
            (_mm512_sub_epi8(q, _mm512_set1_epi8(8)), d)
        }
    }

    #[inline(always)]
    unsafe fn spread(s: __m128) -> __m512 {
        // SAFETY: forwarded.
        unsafe { spread_nibble(s) }
    }

    #[inline(always)]
    unsafe fn tail(w: *const u8, x: *const BlockQ8A, b: usize) -> __m256 {
        // SAFETY: forwarded.
        unsafe { Self::tail_block(w, x, b) }
    }
}

impl Gemm for Q8_0 {
    #[inline(always)]
    unsafe fn act_u8(x: *const BlockQ8A, b: usize) -> __m512i {
        // SAFETY: forwarded.
        unsafe { _mm512_xor_si512(act_pair(x, b), _mm512_set1_epi8(-128)) }
    }

    #[inline(always)]
    unsafe fn weights_s8(w: *const u8, b: usize) -> (__m512i, __m128) {
        // SAFETY: blocks `b`, `b + 1` are 34 readable bytes each.
        unsafe {
            let (p0, p1) = (w.add(b * 34), w.add(b * 34 + 34));
            let q = _mm512_inserti64x4::<1>(
                _mm512_castsi256_si512(_mm256_loadu_si256(p0.add(2).cast())),
                _mm256_loadu_si256(p1.add(2).cast()),
            );
            (q, f16_pairs(p0, p1))
        }
    }

    #[inline(always)]
    unsafe fn spread(s: __m128) -> __m512 {
        // SAFETY: forwarded.
        unsafe { spread_natural(s) }
    }

    #[inline(always)]
    unsafe fn tail(w: *const u8, x: *const BlockQ8A, b: usize) -> __m256 {
        // SAFETY: forwarded.
        unsafe { Self::tail_block(w, x, b) }
    }
}

/// `out[r * n + t] = W[r] · x[t]` for `rows` rows and `n ≥ 8` tokens, if
/// the tokens' rearranged blocks fit the stack buffer; returns `false`
/// (having written nothing) when they do not.
///
/// Tokens go in tiles of 8 (4 for long rows); the last `n mod 8` through
/// `finish`, which the caller points at the small-batch tiles.
///
/// # Safety
/// AVX-512 F/BW/VL, VNNI, AVX2, FMA, F16C available (inlined into the VNNI
/// trampoline); `w` readable for `rows * nb` blocks of `F`, `x` for
/// `n * nb` blocks, `out` writable for `rows * n` floats.
#[inline(always)]
pub(super) unsafe fn gemm<F: Gemm>(
    w: *const u8,
    x: *const BlockQ8A,
    rows: usize,
    nb: usize,
    n: usize,
    out: *mut f32,
    finish: impl Fn(usize),
) -> bool {
    let pairs = nb / 2;
    let wide = pairs * C <= BUF_PAIRS;
    if !wide && pairs * 4 > BUF_PAIRS {
        return false;
    }
    let mut buf = [MaybeUninit::<__m512i>::uninit(); BUF_PAIRS];
    let buf = buf.as_mut_ptr().cast::<__m512i>();
    let tile = if wide { C } else { 4 };
    // SAFETY: tokens `t < n`, rows `r < rows`, blocks `< nb`: all inside
    // the caller's sizes; `buf` holds `tile * pairs ≤ BUF_PAIRS` vectors,
    // each written before it is read.
    unsafe {
        let mut t = 0;
        while t + tile <= n {
            for c in 0..tile {
                let xc = x.add((t + c) * nb);
                for p in 0..pairs {
                    buf.add(c * pairs + p).write(F::act_u8(xc, 2 * p));
                }
            }
            if wide {
                token_tile::<F, C>(w, x.add(t * nb), buf, rows, nb, n, t == 0, out.add(t));
            } else {
                token_tile::<F, 4>(w, x.add(t * nb), buf, rows, nb, n, t == 0, out.add(t));
            }
            t += tile;
        }
        if t < n {
            finish(t);
        }
    }
    true
}

/// All `rows` against tokens `0..T` of `x` (rearranged in `xu`), writing
/// `out[r * stride + c]`; `first` says whether this is the first pass over
/// these rows (which then prefetches them in address order).
///
/// # Safety
/// As [`gemm`], for `T` tokens at `x` and `xu`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn token_tile<F: Gemm, const T: usize>(
    w: *const u8,
    x: *const BlockQ8A,
    xu: *const __m512i,
    rows: usize,
    nb: usize,
    stride: usize,
    first: bool,
    out: *mut f32,
) {
    let rb = nb * F::BB;
    // SAFETY: rows `r < rows` and tokens `c < T`, as the caller guarantees.
    unsafe {
        let xs: [*const BlockQ8A; T] = std::array::from_fn(|c| x.add(c * nb));
        let next = |r: usize| {
            if first {
                w.wrapping_add(r * rb)
            } else {
                null()
            }
        };
        let put = |r: usize, s: &[[f32; T]]| {
            for (i, row) in s.iter().enumerate() {
                for (c, v) in row.iter().enumerate() {
                    *out.add((r + i) * stride + c) = *v;
                }
            }
        };
        let mut r = 0;
        while r + 2 <= rows {
            let s = tile::<F, 2, T>(
                [w.add(r * rb), w.add((r + 1) * rb)],
                xs,
                xu,
                nb,
                next(r + 2),
            );
            put(r, &s);
            r += 2;
        }
        if r < rows {
            put(r, &tile::<F, 1, T>([w.add(r * rb)], xs, xu, nb, null()));
        }
    }
}

/// `R` weight rows × `T` tokens; `xu[c * (nb / 2) + p]` is token `c`'s
/// pair `p` from [`Gemm::act_u8`].
///
/// # Safety
/// As [`gemm`] for these rows and tokens.
#[inline(always)]
unsafe fn tile<F: Gemm, const R: usize, const T: usize>(
    w: [*const u8; R],
    x: [*const BlockQ8A; T],
    xu: *const __m512i,
    nb: usize,
    next: *const u8,
) -> [[f32; T]; R] {
    let pairs = nb / 2;
    // SAFETY: block pairs `p < nb / 2` and the odd block `nb - 1` are
    // readable behind every pointer; features come from the trampoline.
    unsafe {
        let zero = _mm512_setzero_si512();
        let u128 = _mm512_set1_epi8(-128);
        let mut acc = [[_mm512_setzero_ps(); T]; R];
        for p in 0..pairs {
            let b = 2 * p;
            prefetch_next::<R>(next, b, F::BB);
            let mut q = [zero; R];
            let mut corr = [zero; R];
            let mut dw = [_mm512_setzero_ps(); R];
            for r in 0..R {
                let (qs, d) = F::weights_s8(w[r], b);
                q[r] = qs;
                // -128 Σw per group of four: the offset of x + 128.
                corr[r] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, u128, qs));
                dw[r] = F::spread(d);
            }
            for c in 0..T {
                let xv = _mm512_loadu_si512(xu.add(c * pairs + p).cast());
                let dx = F::spread(act_scales(x[c], b));
                for r in 0..R {
                    let dot = _mm512_dpbusd_epi32(corr[r], xv, q[r]);
                    let s = _mm512_mul_ps(dw[r], dx);
                    acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), s, acc[r][c]);
                }
            }
        }
        if nb % 2 == 1 {
            for r in 0..R {
                for c in 0..T {
                    acc[r][c] = widen(acc[r][c], F::tail(w[r], x[c], nb - 1));
                }
            }
        }
        let mut res = [[0f32; T]; R];
        for r in 0..R {
            for c in 0..T {
                res[r][c] = hsum(acc[r][c]);
            }
        }
        res
    }
}
