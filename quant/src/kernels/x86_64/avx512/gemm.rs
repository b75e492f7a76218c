//! Prompt-sized products on AVX512-VNNI: sixteen weight rows side by side,
//! one row per lane, for batches of [`MIN_TOKENS`] tokens and more.
//!
//! The small-batch tiles (`tiles.rs`) keep a row's blocks in one register
//! and pay a convert, a scale product and an FMA for every four elements
//! of each row. Here a block of 16 rows is rearranged ("packed") once per
//! call into 8 registers whose lane `i` holds four bytes of row `i`, so
//! one `vpdpbusd` against a broadcast of four activation bytes advances 16
//! rows at once, and after 8 of them every lane holds a whole block's
//! integer dot: one convert, one scale product and one FMA (two for Q4_1)
//! then serve 16 rows × 32 elements. Packing costs about a hundred
//! operations per block of 16 rows and is shared by up to [`TB`] tokens.
//!
//! The weights take the unsigned side of `vpdpbusd` (Q4 nibbles as stored,
//! Q8_0 as `w + 128`) and the activations the signed side, so the offset
//! is the activation block's: each block's dot starts at `-8 Σx` (Q4_0) or
//! `-128 Σx` (Q8_0), from the exact sum the block carries
//! ([`BlockQ8A::sum`]), and ends as the exact integer `Σ w x`. Q4_1 adds
//! its minimum's `m_w s_x` in float.
//!
//! Each output is one chain over the blocks in order, in one lane, so it
//! does not depend on how rows or tokens are split between calls or
//! threads. It is not the small-batch tiles' order (those keep partial
//! sums in lanes across blocks), so a product differs in its last bits
//! between a batch of [`MIN_TOKENS`] or more and a smaller one. (A matrix-
//! vector kernel in this order was tried for decoding: turning the
//! per-row dots into row lanes and gathering the scales made it compute
//! bound at half the memory speed of the small-batch tiles.)

use super::Format;
use crate::formats::BlockQ8A;
use std::arch::x86_64::*;
use std::mem::MaybeUninit;
use std::ptr::addr_of;

use super::tiles::{Q4_0, Q4_1, Q8_0};

/// Batches at least this large go through [`gemm`]; smaller ones through
/// the small-batch tiles (measured on SmolLM2, 1 thread: 4 and 6 tokens
/// run faster there, 8 and more here).
pub(super) const MIN_TOKENS: usize = 8;
/// Tokens per register tile.
const T: usize = 8;
/// Blocks packed at a time (48 × 640 bytes = 30 KiB, in L1 with room).
const SEG: usize = 48;
/// Tokens whose running sums are kept while rows longer than [`SEG`]
/// blocks are packed piece by piece (128 × 64 bytes).
const TB: usize = 128;

/// One block of 16 rows, packed: `q[j]` lane `i` holds elements
/// `4j..4j + 4` of row `i` (unsigned), `d` and `c` the rows' scale and
/// offset factor.
#[repr(C)]
struct Packed {
    q: [__m512i; 8],
    d: __m512,
    c: __m512,
}

/// A weight format [`gemm`] can pack.
pub(super) trait Gemm: Format {
    /// Block `b` of the row at `w` as 32 unsigned bytes in element order.
    ///
    /// # Safety
    /// Block `b` readable; inlined into an AVX-512 trampoline.
    unsafe fn row_u8(w: *const u8, b: usize) -> __m256i;

    /// Q4_1: the block's minimum adds `m_w s_x` (as `c` from
    /// [`Gemm::scales`]).
    const MIN: bool;
    /// For the other formats, the unsigned weights are `w + 2^SHIFT`, so
    /// `2^SHIFT Σx` comes off each block's integer dot.
    const SHIFT: u32;

    /// `(d, c)` of block `b` for the rows of `valid` (zero elsewhere), row
    /// `i` at `w + off[i]`: the scale, and for Q4_1 the minimum (zero for
    /// the other formats).
    ///
    /// # Safety
    /// Block `b` of every valid row readable; inlined into an AVX-512
    /// trampoline.
    unsafe fn scales(w: *const u8, off: __m512i, valid: __mmask16, b: usize) -> (__m512, __m512);
}

/// The first two f16s of block `b` (at `w + off[i] + b · bb`) of each
/// valid row, as `(first, second)` in f32 (the second is garbage for
/// formats with one f16 per block, and unused).
///
/// # Safety
/// Four bytes readable at each valid row's block; inlined into an AVX-512
/// trampoline.
#[inline(always)]
unsafe fn f16_pair_columns(
    w: *const u8,
    off: __m512i,
    valid: __mmask16,
    at: usize,
) -> (__m512, __m512) {
    // SAFETY: the gather reads only the lanes in `valid`, four bytes each.
    unsafe {
        let g =
            _mm512_mask_i32gather_epi32::<1>(_mm512_setzero_si512(), valid, off, w.add(at).cast());
        let lo = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
        let hi = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(g)));
        (lo, hi)
    }
}

/// The 16 packed bytes at `p` as 32 nibbles `[lo | hi]` (element order of
/// Q4_0 and Q4_1).
///
/// # Safety
/// 16 bytes readable at `p`; inlined into an AVX-512 trampoline.
#[inline(always)]
unsafe fn nibbles(p: *const u8) -> __m256i {
    // SAFETY: 16 readable bytes; unaligned load.
    unsafe {
        let v = _mm_loadu_si128(p.cast());
        let m = _mm_set1_epi8(0x0F);
        _mm256_set_m128i(
            _mm_and_si128(_mm_srli_epi16::<4>(v), m),
            _mm_and_si128(v, m),
        )
    }
}

impl Gemm for Q4_0 {
    const MIN: bool = false;
    const SHIFT: u32 = 3;

    #[inline(always)]
    unsafe fn row_u8(w: *const u8, b: usize) -> __m256i {
        // SAFETY: block `b` is 18 readable bytes, nibbles from byte 2.
        unsafe { nibbles(w.add(b * 18 + 2)) }
    }

    #[inline(always)]
    unsafe fn scales(w: *const u8, off: __m512i, valid: __mmask16, b: usize) -> (__m512, __m512) {
        // SAFETY: forwarded; a block is longer than four bytes.
        // No minimum: `c` is never read (and its conversion is dropped).
        unsafe {
            (
                f16_pair_columns(w, off, valid, b * 18).0,
                _mm512_setzero_ps(),
            )
        }
    }
}

impl Gemm for Q4_1 {
    const MIN: bool = true;
    const SHIFT: u32 = 0;

    #[inline(always)]
    unsafe fn row_u8(w: *const u8, b: usize) -> __m256i {
        // SAFETY: block `b` is 20 readable bytes, nibbles from byte 4.
        unsafe { nibbles(w.add(b * 20 + 4)) }
    }

    #[inline(always)]
    unsafe fn scales(w: *const u8, off: __m512i, valid: __mmask16, b: usize) -> (__m512, __m512) {
        // SAFETY: forwarded; `d` and `m` are the block's first four bytes.
        unsafe { f16_pair_columns(w, off, valid, b * 20) }
    }
}

impl Gemm for Q8_0 {
    const MIN: bool = false;
    const SHIFT: u32 = 7;

    #[inline(always)]
    unsafe fn row_u8(w: *const u8, b: usize) -> __m256i {
        // SAFETY: block `b` is 34 readable bytes, values from byte 2.
        unsafe {
            let v = _mm256_loadu_si256(w.add(b * 34 + 2).cast());
            _mm256_xor_si256(v, _mm256_set1_epi8(-128))
        }
    }

    #[inline(always)]
    unsafe fn scales(w: *const u8, off: __m512i, valid: __mmask16, b: usize) -> (__m512, __m512) {
        // SAFETY: forwarded; a block is longer than four bytes.
        // No minimum: `c` is never read (and its conversion is dropped).
        unsafe {
            (
                f16_pair_columns(w, off, valid, b * 34).0,
                _mm512_setzero_ps(),
            )
        }
    }
}

/// Transposes the 8 × 8 matrix of i32 in each 256-bit half of `v` (row `r`
/// of half `h` is half `h` of `v[r]`): afterwards half `h` of `v[k]` holds
/// column `k` of half `h`.
///
/// # Safety
/// Inlined into an AVX-512 trampoline.
#[inline(always)]
unsafe fn transpose8(v: [__m512i; 8]) -> [__m512i; 8] {
    // SAFETY: features provided by the trampoline this is inlined into.
    unsafe {
        // (Loops, not closures: see `block_dots`.)
        let mut t = v;
        for i in (0..8).step_by(2) {
            t[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
            t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
        }
        // u[4g + c]: rows 4g..4g+4 of columns c and c + 4 of each half.
        let mut u = t;
        for g in 0..2 {
            for m in 0..2 {
                let (a, b) = (t[4 * g + m], t[4 * g + 2 + m]);
                u[4 * g + 2 * m] = _mm512_unpacklo_epi64(a, b);
                u[4 * g + 2 * m + 1] = _mm512_unpackhi_epi64(a, b);
            }
        }
        let lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
        let hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
        let mut out = u;
        for k in 0..4 {
            out[k] = _mm512_permutex2var_epi64(u[k], lo, u[4 + k]);
            out[k + 4] = _mm512_permutex2var_epi64(u[k], hi, u[4 + k]);
        }
        out
    }
}

/// Packs blocks `s0..s0 + pk.len()` of the `rv ≤ 16` rows at `w` (`rb`
/// bytes apart) into `pk`; rows past `rv` become zeros.
///
/// # Safety
/// The blocks readable in every valid row; inlined into the VNNI
/// trampoline.
#[inline(always)]
unsafe fn pack<F: Gemm>(
    w: *const u8,
    rb: usize,
    rv: usize,
    s0: usize,
    pk: &mut [MaybeUninit<Packed>],
) {
    // SAFETY: rows `< rv` and blocks `< s0 + pk.len()` are readable.
    unsafe {
        let off = _mm512_mullo_epi32(
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            _mm512_set1_epi32(rb as i32),
        );
        let valid = (((1u32 << rv) - 1) & 0xFFFF) as __mmask16;
        for (i, slot) in pk.iter_mut().enumerate() {
            let b = s0 + i;
            let mut rows = [_mm256_setzero_si256(); 16];
            for (r, v) in rows.iter_mut().enumerate().take(rv) {
                *v = F::row_u8(w.add(r * rb), b);
            }
            let mut z = [_mm512_setzero_si512(); 8];
            for (r, zr) in z.iter_mut().enumerate() {
                *zr = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(rows[r]), rows[r + 8]);
            }
            let (d, c) = F::scales(w, off, valid, b);
            slot.write(Packed {
                q: transpose8(z),
                d,
                c,
            });
        }
    }
}

/// Runs the packed blocks `pk` against `TT` tokens (`x[t]` at the tokens'
/// first packed block), continuing the sums in `acc`.
///
/// # Safety
/// `x[t]` readable for `pk.len()` blocks; inlined into the VNNI trampoline.
#[inline(always)]
unsafe fn run<F: Gemm, const TT: usize>(
    pk: &[Packed],
    x: [*const BlockQ8A; TT],
    acc: &mut [__m512; TT],
) {
    // SAFETY: block `b < pk.len()` of each token is readable.
    unsafe {
        for (b, p) in pk.iter().enumerate() {
            let mut dot = [_mm512_setzero_si512(); TT];
            for t in 0..TT {
                dot[t] = dot_start::<F>(x[t].add(b));
            }
            for (j, &q) in p.q.iter().enumerate() {
                for t in 0..TT {
                    let four = addr_of!((*x[t].add(b)).qs).cast::<i32>().add(j);
                    dot[t] =
                        _mm512_dpbusd_epi32(dot[t], q, _mm512_set1_epi32(four.read_unaligned()));
                }
            }
            for t in 0..TT {
                acc[t] = step::<F>(acc[t], dot[t], p.d, p.c, x[t].add(b));
            }
        }
    }
}

/// Writes the sums of `TT` tokens × the first `rv` of 16 rows:
/// `out[i * stride + t] = lane i of acc[t]`.
///
/// # Safety
/// `out` writable at those places; inlined into the VNNI trampoline.
#[inline(always)]
unsafe fn put<const TT: usize>(acc: &[__m512; TT], rv: usize, out: *mut f32, stride: usize) {
    // SAFETY: rows `i < rv` and tokens `t < TT` are inside the caller's
    // output.
    unsafe {
        if TT == 8 {
            let mut v = [_mm512_setzero_si512(); 8];
            for t in 0..8 {
                v[t] = _mm512_castps_si512(acc[t]);
            }
            let v = transpose8(v);
            for (k, vk) in v.iter().enumerate() {
                if k < rv {
                    _mm256_storeu_si256(out.add(k * stride).cast(), _mm512_castsi512_si256(*vk));
                }
                if k + 8 < rv {
                    let h = _mm512_extracti64x4_epi64::<1>(*vk);
                    _mm256_storeu_si256(out.add((k + 8) * stride).cast(), h);
                }
            }
        } else {
            for (t, a) in acc.iter().enumerate() {
                let mut lanes = [0f32; 16];
                _mm512_storeu_ps(lanes.as_mut_ptr(), *a);
                for (i, v) in lanes.iter().take(rv).enumerate() {
                    *out.add(i * stride + t) = *v;
                }
            }
        }
    }
}

/// `out[r * n + t] = W[r] · x[t]` for `rows` rows of `nb` blocks and `n`
/// tokens. Uses about 40 KiB of stack (the packed blocks and the kept
/// sums).
///
/// # Safety
/// AVX-512 F/BW/VL, VNNI, AVX2, FMA and F16C available (inlined into the
/// VNNI trampoline); `w` readable for `rows * nb` blocks of `F`, `x` for
/// `n * nb` blocks, `out` writable for `rows * n` floats; `nb * F::BB`
/// fits an i32 sixteen times over.
#[inline(always)]
pub(super) unsafe fn gemm<F: Gemm>(
    w: *const u8,
    x: *const BlockQ8A,
    rows: usize,
    nb: usize,
    n: usize,
    out: *mut f32,
) {
    let rb = nb * F::BB;
    let mut pk = [const { MaybeUninit::<Packed>::uninit() }; SEG];
    // SAFETY: every row `r0 + i < rows`, token `< n` and block `< nb` used
    // below is inside the caller's sizes; `pk[..sn]` is written by `pack`
    // before it is read.
    unsafe {
        let mut keep = [_mm512_setzero_ps(); TB];
        for r0 in (0..rows).step_by(16) {
            let rv = (rows - r0).min(16);
            let wr = w.add(r0 * rb);
            let o = out.add(r0 * n);
            for t0 in (0..n).step_by(TB) {
                let tn = (n - t0).min(TB);
                for s0 in (0..nb).step_by(SEG) {
                    let sn = (nb - s0).min(SEG);
                    if t0 == 0 || nb > SEG {
                        pack::<F>(wr, rb, rv, s0, &mut pk[..sn]);
                    }
                    let packed = std::slice::from_raw_parts(pk.as_ptr().cast::<Packed>(), sn);
                    let (first, last) = (s0 == 0, s0 + sn == nb);
                    let xt = x.add(t0 * nb + s0);
                    let ot = o.add(t0);
                    let keep = &mut keep[..tn];
                    let mut t = 0;
                    while t < tn {
                        t += if t + T <= tn {
                            tokens::<F, T>(packed, xt, nb, t, keep, first, last, rv, ot, n)
                        } else if t + 4 <= tn {
                            tokens::<F, 4>(packed, xt, nb, t, keep, first, last, rv, ot, n)
                        } else {
                            tokens::<F, 1>(packed, xt, nb, t, keep, first, last, rv, ot, n)
                        };
                    }
                }
            }
        }
    }
}

/// Tokens `t..t + TT` of a token block (`x` at the block's first token
/// and packed block, `nb` blocks per token) against the packed blocks,
/// continuing from `keep` unless this is the `first` piece of the rows and
/// writing the sums to `out[i * stride + t + c]` if it is the `last`, else
/// back to `keep`. Returns `TT`.
///
/// # Safety
/// As [`gemm`] for these tokens and the first `rv` of 16 rows.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn tokens<F: Gemm, const TT: usize>(
    packed: &[Packed],
    x: *const BlockQ8A,
    nb: usize,
    t: usize,
    keep: &mut [__m512],
    first: bool,
    last: bool,
    rv: usize,
    out: *mut f32,
    stride: usize,
) -> usize {
    // SAFETY: tokens `t + c < keep.len()` are inside the caller's block.
    unsafe {
        let mut acc = [_mm512_setzero_ps(); TT];
        let mut xs = [x; TT];
        for c in 0..TT {
            if !first {
                acc[c] = keep[t + c];
            }
            xs[c] = x.add((t + c) * nb);
        }
        run::<F, TT>(packed, xs, &mut acc);
        if last {
            put::<TT>(&acc, rv, out.add(t), stride);
        } else {
            keep[t..t + TT].copy_from_slice(&acc);
        }
    }
    TT
}

/// The integer that starts block `xb`'s dot: `-2^SHIFT Σx`, the offset of
/// the unsigned weights (none for Q4_1), in every lane.
///
/// # Safety
/// `xb` readable; inlined into an AVX-512 trampoline.
#[inline(always)]
unsafe fn dot_start<F: Gemm>(xb: *const BlockQ8A) -> __m512i {
    // SAFETY: `xb` readable; features from the trampoline.
    unsafe {
        if F::MIN {
            _mm512_setzero_si512()
        } else {
            _mm512_set1_epi32(-((*xb).sum << F::SHIFT))
        }
    }
}

/// One block's step of every product's sum, for 16 rows (one per lane)
/// and the activation block `xb`: `acc + dot · (d_w d_x)`, then `+ m_w s_x`
/// for Q4_1. `dot` is the block's exact integer dot.
///
/// # Safety
/// `xb` readable; inlined into an AVX-512 trampoline.
#[inline(always)]
unsafe fn step<F: Gemm>(
    acc: __m512,
    dot: __m512i,
    d: __m512,
    c: __m512,
    xb: *const BlockQ8A,
) -> __m512 {
    // SAFETY: `xb` readable; features from the trampoline.
    unsafe {
        let s = _mm512_mul_ps(d, _mm512_set1_ps((*xb).d));
        let acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), s, acc);
        if F::MIN {
            _mm512_fmadd_ps(c, _mm512_set1_ps((*xb).s), acc)
        } else {
            acc
        }
    }
}
