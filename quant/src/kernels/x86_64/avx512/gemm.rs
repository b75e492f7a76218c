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
//! The formats of [`crate::kernels::rows`] (K-quants, Q5, IQ4) come in
//! through [`Rows`]: a "block" here is one 32-value chunk, unpacked by
//! the format's own `chunk` function. Signed values are packed as `w +
//! 128`, as Q8_0's are. Formats with a scale per 16 values (Q2_K, Q3_K,
//! Q6_K) keep two dots a chunk, one for each half, each starting from its
//! half's offset (`-128 Σx` over the half, from a byte sum of the
//! activations). (Taking the signed side for the weights instead, with
//! the activations as `x + 128`, cost an XOR for every `vpdpbusd` and ran
//! at half the speed.)
//!
//! Each output is one chain over the blocks in order, in one lane
//! ([`step`]), so it does not depend on how rows or tokens are split
//! between calls or threads. Batches below [`MIN_TOKENS`] go through
//! `gemv.rs`, which forms the same exact integer dots another way and
//! runs the same chain, so every batch size gives the same bits.

use super::tiles::{Q4_0, Q4_1, Q8_0};
use crate::formats::BlockQ8A;
use crate::kernels::rows::{Min, RowFormat};
use crate::kernels::x86_64::rows::X86;
use std::arch::x86_64::*;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::addr_of;

/// Batches at least this large go through [`gemm`]; smaller ones through
/// `gemv.rs`, up to seven tokens a pass. At 7 tokens the two ran within
/// 10% of each other on SmolLM2 and Qwen2 shapes (the GEMV ahead on the
/// K-quants, behind on Q5_0 and Q8_0); below that the GEMV is faster.
pub(super) const MIN_TOKENS: usize = 8;
/// Tokens per register tile.
const T: usize = 8;
/// Blocks packed at a time (36 × 768 bytes = 27 KiB, in L1 with room).
const SEG: usize = 36;
/// Tokens whose running sums are kept while rows longer than [`SEG`]
/// blocks are packed piece by piece (128 × 64 bytes).
const TB: usize = 128;

/// One block of 16 rows, packed: `q[j]` lane `i` holds elements
/// `4j..4j + 4` of row `i` (unsigned), `s` the rows' scales.
#[repr(C)]
struct Packed {
    q: [__m512i; 8],
    s: Lanes,
}

/// The scales of one block of 16 rows, a row a lane: `d` (for values
/// 0-15 and `d2` for 16-31 with [`Gemm::HALVES`]), and the minimum
/// factors `c` (and `c2` for the second half) that [`Gemm::MIN`] adds.
#[derive(Clone, Copy)]
#[repr(C)]
pub(super) struct Lanes {
    pub d: __m512,
    pub d2: __m512,
    pub c: __m512,
    pub c2: __m512,
}

/// A weight format [`gemm`] can pack.
pub(super) trait Gemm {
    /// Bytes per weight block, and 32-value chunks (the blocks [`gemm`]
    /// packs) per weight block.
    const BB: usize;
    const NB: usize = 1;
    /// The unsigned weights are `w + 2^SHIFT`, so `2^SHIFT Σx` comes off
    /// each block's integer dot (each half's, with [`Gemm::HALVES`]).
    const SHIFT: u32 = 0;
    /// Scales per 16 values.
    const HALVES: bool = false;
    /// How the minimum enters: `c · s_x` by chunk, `c · d_x Σ x` by half.
    const MIN: Min = Min::None;

    /// Chunk `b` of the row at `w` as 32 unsigned bytes in element order.
    ///
    /// # Safety
    /// Chunk `b` readable; inlined into an AVX-512 trampoline.
    unsafe fn row_u8(w: *const u8, b: usize) -> __m256i;

    /// The scales of chunk `b` for the first `rv` of the 16 rows (zero
    /// elsewhere), row `i` at `w + i · rb`, also `w + off[i]` for the
    /// lanes of `valid`.
    ///
    /// # Safety
    /// Chunk `b` of every valid row readable; inlined into an AVX-512
    /// trampoline.
    unsafe fn scales(
        w: *const u8,
        rb: usize,
        rv: usize,
        off: __m512i,
        valid: __mmask16,
        b: usize,
    ) -> Lanes;
}

/// The scale of formats with one f16 scale first in a block and no
/// minimum (`c` is never read, and its conversion is dropped), for the
/// valid rows' blocks at `w + off[i] + at`.
///
/// # Safety
/// As [`f16_pair_columns`].
#[inline(always)]
unsafe fn scale_only(w: *const u8, off: __m512i, valid: __mmask16, at: usize) -> Lanes {
    // SAFETY: forwarded.
    unsafe { lanes(f16_pair_columns(w, off, valid, at).0, _mm512_setzero_ps()) }
}

/// `(d, c)` as [`Lanes`] for formats with one scale (and minimum) a block.
///
/// # Safety
/// Inlined into an AVX-512 trampoline.
#[inline(always)]
unsafe fn lanes(d: __m512, c: __m512) -> Lanes {
    Lanes { d, d2: d, c, c2: c }
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
    const BB: usize = 18;
    const SHIFT: u32 = 3;

    #[inline(always)]
    unsafe fn row_u8(w: *const u8, b: usize) -> __m256i {
        // SAFETY: block `b` is 18 readable bytes, nibbles from byte 2.
        unsafe { nibbles(w.add(b * 18 + 2)) }
    }

    #[inline(always)]
    unsafe fn scales(
        w: *const u8,
        _: usize,
        _: usize,
        off: __m512i,
        valid: __mmask16,
        b: usize,
    ) -> Lanes {
        // SAFETY: forwarded; a block is longer than four bytes.
        unsafe { scale_only(w, off, valid, b * 18) }
    }
}

impl Gemm for Q4_1 {
    const BB: usize = 20;
    const MIN: Min = Min::Chunk;

    #[inline(always)]
    unsafe fn row_u8(w: *const u8, b: usize) -> __m256i {
        // SAFETY: block `b` is 20 readable bytes, nibbles from byte 4.
        unsafe { nibbles(w.add(b * 20 + 4)) }
    }

    #[inline(always)]
    unsafe fn scales(
        w: *const u8,
        _: usize,
        _: usize,
        off: __m512i,
        valid: __mmask16,
        b: usize,
    ) -> Lanes {
        // SAFETY: forwarded; `d` and `m` are the block's first four bytes.
        unsafe {
            let (d, m) = f16_pair_columns(w, off, valid, b * 20);
            lanes(d, m)
        }
    }
}

impl Gemm for Q8_0 {
    const BB: usize = 34;
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
    unsafe fn scales(
        w: *const u8,
        _: usize,
        _: usize,
        off: __m512i,
        valid: __mmask16,
        b: usize,
    ) -> Lanes {
        // SAFETY: forwarded; a block is longer than four bytes.
        unsafe { scale_only(w, off, valid, b * 34) }
    }
}

/// A format of [`crate::kernels::rows`] as a [`Gemm`] format: its chunks
/// are the packed blocks.
pub(super) struct Rows<F>(PhantomData<F>);

impl<F: RowFormat> Gemm for Rows<F> {
    const BB: usize = F::BB;
    const NB: usize = F::NB;
    const SHIFT: u32 = if F::SIGNED {
        7
    } else {
        F::OFFSET.trailing_zeros() % 32
    };
    const HALVES: bool = F::HALVES;
    const MIN: Min = F::MIN;

    #[inline(always)]
    unsafe fn row_u8(w: *const u8, b: usize) -> __m256i {
        // SAFETY: the weight block holding chunk `b` is readable; the
        // trampoline has the features `X86` needs.
        unsafe {
            let q = F::chunk::<X86>(w.add(b / F::NB * F::BB), b % F::NB);
            if F::SIGNED {
                _mm256_xor_si256(q, _mm256_set1_epi8(-128))
            } else {
                q
            }
        }
    }

    #[inline(always)]
    unsafe fn scales(
        w: *const u8,
        rb: usize,
        rv: usize,
        _: __m512i,
        _: __mmask16,
        b: usize,
    ) -> Lanes {
        let mut v = [[0f32; 16]; 4];
        for r in 0..rv {
            // SAFETY: chunk `b` of row `r < rv` is readable (the caller's).
            let s = unsafe { F::scale::<X86>(w.add(r * rb + b / F::NB * F::BB), b % F::NB) };
            // Minimums are subtracted in the formats, added here.
            for (lane, x) in v.iter_mut().zip([s.lo, s.hi, -s.min_lo, -s.min_hi]) {
                lane[r] = x;
            }
        }
        // SAFETY: 16 floats each; features from the trampoline.
        unsafe {
            let [d, d2, c, c2] = v.map(|a| _mm512_loadu_ps(a.as_ptr()));
            Lanes { d, d2, c, c2 }
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
            slot.write(Packed {
                q: transpose8(z),
                s: F::scales(w, rb, rv, off, valid, b),
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
            // `dot[h][t]`: half `h` (all in `dot[0]` without HALVES).
            let mut dot = [[_mm512_setzero_si512(); TT]; 2];
            for t in 0..TT {
                [dot[0][t], dot[1][t]] = dot_start::<F>(x[t].add(b));
            }
            for (j, &q) in p.q.iter().enumerate() {
                let h = if F::HALVES { j / 4 } else { 0 };
                for t in 0..TT {
                    let four = addr_of!((*x[t].add(b)).qs).cast::<i32>().add(j);
                    let four = _mm512_set1_epi32(four.read_unaligned());
                    dot[h][t] = _mm512_dpbusd_epi32(dot[h][t], q, four);
                }
            }
            for t in 0..TT {
                acc[t] = step::<F>(acc[t], [dot[0][t], dot[1][t]], &p.s, x[t].add(b));
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

/// Whether rows of `nb` chunks of `F` suit [`gemm`], which addresses 16
/// rows by i32 offsets: rows over 128 MiB (never seen in a model) do not.
pub(super) fn fits<F: Gemm>(nb: usize) -> bool {
    (nb / F::NB * F::BB)
        .checked_mul(16)
        .is_some_and(|b| b <= i32::MAX as usize)
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
    let rb = nb / F::NB * F::BB;
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

/// The integers that start block `xb`'s dot: `-2^SHIFT Σx`, the offset
/// of the unsigned weights (none for formats with a minimum), in every
/// lane of the first; with [`Gemm::HALVES`], each half's in the two.
///
/// # Safety
/// `xb` readable; inlined into an AVX-512 trampoline.
#[inline(always)]
unsafe fn dot_start<F: Gemm>(xb: *const BlockQ8A) -> [__m512i; 2] {
    // SAFETY: `xb` readable; features from the trampoline.
    unsafe {
        let zero = _mm512_setzero_si512();
        if F::SHIFT == 0 {
            [zero, zero]
        } else if F::HALVES {
            let (l, h) = half_sums(xb);
            [
                _mm512_set1_epi32(-(l << F::SHIFT)),
                _mm512_set1_epi32(-(h << F::SHIFT)),
            ]
        } else {
            [_mm512_set1_epi32(-((*xb).sum << F::SHIFT)), zero]
        }
    }
}

/// `(Σ x over values 0-15, over 16-31)` of activation block `xb`: the
/// SAD of `x + 128`, less `16 · 128`, and the block's sum less that.
///
/// # Safety
/// `xb` readable; inlined into an AVX-512 trampoline.
#[inline(always)]
pub(super) unsafe fn half_sums(xb: *const BlockQ8A) -> (i32, i32) {
    // SAFETY: `qs` is 32 readable bytes; features from the trampoline.
    unsafe {
        let v = _mm_loadu_si128(addr_of!((*xb).qs).cast());
        let sad = _mm_sad_epu8(_mm_xor_si128(v, _mm_set1_epi8(-128)), _mm_setzero_si128());
        let lo = (_mm_cvtsi128_si64(sad) + _mm_extract_epi64::<1>(sad)) as i32 - 2048;
        (lo, (*xb).sum - lo)
    }
}

/// One block's step of every product's sum, for 16 rows (one per lane)
/// and the activation block `xb`: `acc + dot · (d_w d_x)` (a dot and a
/// scale for each half with [`Gemm::HALVES`]), then the minimum's term.
/// `dot` is the block's exact integer dot.
///
/// # Safety
/// `xb` readable; inlined into an AVX-512 trampoline.
#[inline(always)]
pub(super) unsafe fn step<F: Gemm>(
    acc: __m512,
    dot: [__m512i; 2],
    s: &Lanes,
    xb: *const BlockQ8A,
) -> __m512 {
    // SAFETY: `xb` readable; features from the trampoline.
    unsafe {
        let dx = _mm512_set1_ps((*xb).d);
        let mut acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[0]), _mm512_mul_ps(s.d, dx), acc);
        if F::HALVES {
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[1]), _mm512_mul_ps(s.d2, dx), acc);
        }
        match F::MIN {
            Min::None => acc,
            Min::Chunk => _mm512_fmadd_ps(s.c, _mm512_set1_ps((*xb).s), acc),
            Min::Half => {
                let (lo, hi) = half_sums(xb);
                let d = (*xb).d;
                let acc = _mm512_fmadd_ps(s.c, _mm512_set1_ps(d * lo as f32), acc);
                _mm512_fmadd_ps(s.c2, _mm512_set1_ps(d * hi as f32), acc)
            }
        }
    }
}
