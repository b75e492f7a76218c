//! AVX-512 attention over an f16 KV cache: query-key scores and the
//! probability-weighted sum of values, 16 f32 lanes, keys and values
//! widened with `vcvtph2ps` as they are read. Over a Q8_0 cache, the
//! shared loops of [`lanes_q8_0`] on 16-lane registers ([`Zmm`]).
//!
//! Each score is one chain of FMAs over the head's 16-lane chunks in order,
//! then a fixed horizontal sum; each output value is one FMA chain over the
//! positions in order. Neither depends on how many query rows a call gets,
//! so callers may split queries across threads freely.

use super::super::super::lanes::Lanes;
use super::super::super::{
    attn_scores_checked, attn_values_checked, lanes_q8_0, scalar, KvRows, KvRowsQ8,
};
use super::hsum;
use half::f16;
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// Widest head the vector paths keep in registers (16 chunks of 16).
const MAX_D: usize = 256;

/// The lane mask of chunk `c` of a row of `d` values.
#[inline(always)]
fn chunk_mask(d: usize, c: usize) -> __mmask16 {
    let left = d - c * 16;
    if left >= 16 {
        0xFFFF
    } else {
        (1u16 << left) - 1
    }
}

/// [`super::super::super::AttnScoresF16`].
pub(in crate::kernels) fn attn_scores_f16(
    q: &[f32],
    k: KvRows<'_>,
    scale: f32,
    out: &mut [f32],
    os: usize,
) {
    if k.d > MAX_D {
        return scalar::attn_scores_f16(q, k, scale, out, os);
    }
    // SAFETY: AVX-512 F/BW/VL and F16C were detected before this table was
    // handed out; `attn_scores_checked` checked the sizes.
    attn_scores_checked(q, k, scale, out, os, |q, nq, k, scale, out, os| unsafe {
        scores(q.as_ptr(), nq, k, scale, out.as_mut_ptr(), os)
    })
}

/// # Safety
/// AVX-512 F and F16C available; `q` readable for `nq * k.d` floats, every
/// key row inside `k.data`, `out` writable at `i * os + j` for `i < nq`,
/// `j < k.len`, and `0 < k.d <= MAX_D`.
///
/// Keys go 16 at a time: widened once into a buffer, then each query's 16
/// FMA chains are summed together by [`hsum16`], which adds the same lane
/// pairs in the same order as [`hsum`] does for one; the last `len mod 16`
/// keys go one at a time through [`hsum`]. So a score's bits depend on
/// neither the query count nor the key count.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn scores(q: *const f32, nq: usize, k: KvRows<'_>, scale: f32, out: *mut f32, os: usize) {
    let d = k.d;
    if d <= 16 * REG_CHUNKS {
        let mut i0 = 0;
        while i0 < nq {
            // SAFETY: queries `i0..i0 + qb` and their output rows are in
            // bounds (`qb <= nq - i0`); the rest is the caller's promise.
            unsafe {
                let (qi, oi) = (q.add(i0 * d), out.add(i0 * os));
                let qb = match nq - i0 {
                    1 => scores_regs::<1>(qi, k, scale, oi, os),
                    2 => scores_regs::<2>(qi, k, scale, oi, os),
                    _ => scores_regs::<3>(qi, k, scale, oi, os),
                };
                i0 += qb;
            }
        }
        return;
    }
    let chunks = d.div_ceil(16);
    let mut kb = [MaybeUninit::<__m512>::uninit(); MAX_D];
    let kb = kb.as_mut_ptr().cast::<__m512>();
    let widen = |j: usize, c: usize| {
        // SAFETY: row `j < k.len` lies inside `k.data` (checked by the
        // caller); the masked load touches only the row's `d` values.
        unsafe {
            let row = k.data.as_ptr().add(j * k.stride).cast::<u16>();
            _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(
                chunk_mask(d, c),
                row.add(c * 16).cast(),
            ))
        }
    };
    let vscale = _mm512_set1_ps(scale);
    let mut j0 = 0;
    while j0 + 16 <= k.len {
        // SAFETY: `kb` holds 16 keys × `chunks ≤ MAX_D / 16` vectors, each
        // written before it is read; query `i < nq` and outputs
        // `i * os + j0 + 15 < i * os + k.len` are in bounds.
        unsafe {
            for jj in 0..16 {
                for c in 0..chunks {
                    kb.add(jj * chunks + c).write(widen(j0 + jj, c));
                }
            }
            for i in 0..nq {
                let qi = q.add(i * d);
                let mut acc = [_mm512_setzero_ps(); 16];
                for c in 0..chunks {
                    let qc = _mm512_maskz_loadu_ps(chunk_mask(d, c), qi.add(c * 16));
                    for (jj, a) in acc.iter_mut().enumerate() {
                        *a = _mm512_fmadd_ps(qc, *kb.add(jj * chunks + c), *a);
                    }
                }
                _mm512_storeu_ps(out.add(i * os + j0), _mm512_mul_ps(vscale, hsum16(acc)));
            }
        }
        j0 += 16;
    }
    let mut kv = [_mm512_setzero_ps(); MAX_D / 16];
    for j in j0..k.len {
        for (c, v) in kv.iter_mut().enumerate().take(chunks) {
            *v = widen(j, c);
        }
        for i in 0..nq {
            // SAFETY: query `i < nq` readable, output `i * os + j` writable.
            unsafe {
                let qi = q.add(i * d);
                let mut acc = _mm512_setzero_ps();
                for (c, v) in kv.iter().enumerate().take(chunks) {
                    let m = chunk_mask(d, c);
                    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, qi.add(c * 16)), *v, acc);
                }
                *out.add(i * os + j) = scale * hsum(acc);
            }
        }
    }
}

/// Head chunks (16 lanes each) up to which [`scores_regs`] holds the
/// queries in registers: heads of up to 64 values (SmolLM2, TinyLlama).
const REG_CHUNKS: usize = 4;

/// Keys per step of [`scores_regs`].
const KS: usize = 4;

/// [`scores`] for heads of at most `16 * REG_CHUNKS` values, `QB` queries
/// at a time: the queries stay in registers (`QB × 4`), each key row is
/// widened once per `QB` queries and goes straight into `QB` FMA chains,
/// and the `QB × KS` sums of a step take one [`hsum16`]. The general path
/// writes each widened key to a buffer and reads it back once per query,
/// and those stores and reloads, not the FMAs, bounded it. On SmolLM2's
/// heads (64 values, 3 queries per key), Zen 4: hot-cache decode attention
/// at 1024 positions on one core 60-67 → 50-52 µs (criterion
/// `attention/decode`); in decode at 2 threads, attention 20.3k → 17.0k
/// cycles a layer after a 32-token prompt and 175k → 152k after 1024
/// (rdtsc medians of 8 and 6 runs). Each score is the same chain of FMAs
/// over the chunks in order and the same halvings, so the bits are the
/// general path's. Returns `QB`.
///
/// # Safety
/// As [`scores`], for `QB` query rows from `q` and output rows from `out`,
/// and `k.d <= 16 * REG_CHUNKS`.
#[inline(always)]
unsafe fn scores_regs<const QB: usize>(
    q: *const f32,
    k: KvRows<'_>,
    scale: f32,
    out: *mut f32,
    os: usize,
) -> usize {
    let d = k.d;
    let chunks = d.div_ceil(16);
    let masks: [__mmask16; REG_CHUNKS] =
        std::array::from_fn(|c| if c < chunks { chunk_mask(d, c) } else { 0 });
    // SAFETY: inlined into `scores`, which has AVX-512 F/BW and F16C;
    // query `i < QB` holds `d` floats from `q + i * d`, and the
    // masks keep every load inside them; key rows `j < k.len` lie inside
    // `k.data`, chunk loads masked to the row; output `i * os + j` with
    // `j < k.len` is writable (the caller's promise).
    unsafe {
        let zero = _mm512_setzero_ps();
        let vscale = _mm512_set1_ps(scale);
        let mut qv = [[zero; REG_CHUNKS]; QB];
        for (i, qi) in qv.iter_mut().enumerate() {
            for (c, v) in qi.iter_mut().enumerate() {
                *v = _mm512_maskz_loadu_ps(masks[c], q.add(i * d + c * 16));
            }
        }
        let row = |j: usize| k.data.as_ptr().add(j * k.stride).cast::<u16>();
        let mut j0 = 0;
        while j0 + KS <= k.len {
            let mut acc = [[zero; KS]; QB];
            for jj in 0..KS {
                let r = row(j0 + jj);
                for c in 0..REG_CHUNKS {
                    if c < chunks {
                        let kc = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(
                            masks[c],
                            r.add(c * 16).cast(),
                        ));
                        for (a, qi) in acc.iter_mut().zip(&qv) {
                            a[jj] = _mm512_fmadd_ps(qi[c], kc, a[jj]);
                        }
                    }
                }
            }
            // Sums in `v[i * KS + jj]`; lanes past `QB * KS` are unused.
            let mut v = [zero; 16];
            for (i, a) in acc.iter().enumerate() {
                v[i * KS..(i + 1) * KS].copy_from_slice(a);
            }
            let mut lanes = [0f32; 16];
            _mm512_storeu_ps(lanes.as_mut_ptr(), _mm512_mul_ps(vscale, hsum16(v)));
            for i in 0..QB {
                std::ptr::copy_nonoverlapping(lanes.as_ptr().add(i * KS), out.add(i * os + j0), KS);
            }
            j0 += KS;
        }
        for j in j0..k.len {
            let r = row(j);
            let mut acc = [zero; QB];
            for c in 0..chunks {
                let kc = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(masks[c], r.add(c * 16).cast()));
                for (a, qi) in acc.iter_mut().zip(&qv) {
                    *a = _mm512_fmadd_ps(qi[c], kc, *a);
                }
            }
            for (i, a) in acc.iter().enumerate() {
                *out.add(i * os + j) = scale * hsum(*a);
            }
        }
    }
    QB
}

/// `[hsum(v[0]), …, hsum(v[15])]`, bit for bit: the four halvings of
/// [`hsum`] (lanes `i + 8`, `i + 4`, `i + 2`, `i + 1` onto `i`) done for
/// all sixteen vectors at once, two, four, eight and sixteen of them per
/// register, then one permutation into key order.
///
/// # Safety
/// Inlined into a trampoline with AVX-512 F.
#[inline(always)]
unsafe fn hsum16(v: [__m512; 16]) -> __m512 {
    // SAFETY: features provided by the trampoline this is inlined into.
    unsafe {
        // (Loops, not closures: a closure would not get the trampoline's
        // target features, and its intrinsics would become calls.)
        // [a0..7 + a8..15 | b0..7 + b8..15]
        let mut h = [_mm512_setzero_ps(); 8];
        for (m, hm) in h.iter_mut().enumerate() {
            let (a, b) = (v[2 * m], v[2 * m + 1]);
            *hm = _mm512_add_ps(
                _mm512_shuffle_f32x4::<0x44>(a, b),
                _mm512_shuffle_f32x4::<0xEE>(a, b),
            );
        }
        // Four keys per register, four lanes each: lanes i + i+4.
        let mut s = [_mm512_setzero_ps(); 4];
        for (m, sm) in s.iter_mut().enumerate() {
            let (a, b) = (h[2 * m], h[2 * m + 1]);
            *sm = _mm512_add_ps(
                _mm512_shuffle_f32x4::<0x88>(a, b),
                _mm512_shuffle_f32x4::<0xDD>(a, b),
            );
        }
        // Per 128-bit lane L: keys 8m+L and 8m+4+L, two lanes each:
        // lanes i + i+2 (moved as f64 pairs, added as f32).
        let mut t = [_mm512_setzero_ps(); 2];
        for (m, tm) in t.iter_mut().enumerate() {
            let (a, b) = (_mm512_castps_pd(s[2 * m]), _mm512_castps_pd(s[2 * m + 1]));
            *tm = _mm512_add_ps(
                _mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
                _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)),
            );
        }
        // Lanes i + i+1: lane 4L + k now holds key L + 4k.
        let u = _mm512_add_ps(
            _mm512_shuffle_ps::<0x88>(t[0], t[1]),
            _mm512_shuffle_ps::<0xDD>(t[0], t[1]),
        );
        let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        _mm512_permutexvar_ps(idx, u)
    }
}

/// [`super::super::super::AttnValuesF16`].
pub(in crate::kernels) fn attn_values_f16(p: &[f32], ps: usize, v: KvRows<'_>, out: &mut [f32]) {
    if v.d > MAX_D {
        return scalar::attn_values_f16(p, ps, v, out);
    }
    // SAFETY: features detected before the table was handed out; sizes
    // checked by `attn_values_checked` (`out` holds `nq * d` floats).
    attn_values_checked(p, ps, v, out, |p, ps, v, nq, out| unsafe {
        let (p, o) = (p.as_ptr(), out.as_mut_ptr());
        if v.d <= 64 {
            values::<4, 4>(p, ps, v, nq, o)
        } else if v.d <= 128 {
            values::<2, 8>(p, ps, v, nq, o)
        } else {
            values::<1, 16>(p, ps, v, nq, o)
        }
    })
}

/// `QB` queries at a time, each with `CB` 16-lane accumulators
/// (`CB * 16 >= d`).
///
/// # Safety
/// AVX-512 F and F16C available; `p` readable at `i * ps + j`, `out`
/// writable for `nq * v.d` floats, every value row inside `v.data`,
/// `0 < v.d <= CB * 16`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn values<const QB: usize, const CB: usize>(
    p: *const f32,
    ps: usize,
    v: KvRows<'_>,
    nq: usize,
    out: *mut f32,
) {
    let d = v.d;
    let chunks = d.div_ceil(16);
    let mut i0 = 0;
    while i0 < nq {
        let qb = QB.min(nq - i0);
        let mut acc = [[_mm512_setzero_ps(); CB]; QB];
        for j in 0..v.len {
            // SAFETY: row `j` inside `v.data`, masked loads stay in the row;
            // `p` readable at `(i0 + b) * ps + j` for `b < qb`.
            unsafe {
                let row = v.data.as_ptr().add(j * v.stride).cast::<u16>();
                let mut x = [_mm512_setzero_ps(); CB];
                for (c, xc) in x.iter_mut().enumerate().take(chunks) {
                    let m = chunk_mask(d, c);
                    *xc = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, row.add(c * 16).cast()));
                }
                for (b, ab) in acc.iter_mut().enumerate().take(qb) {
                    let pj = _mm512_set1_ps(*p.add((i0 + b) * ps + j));
                    for (a, xc) in ab.iter_mut().zip(&x).take(chunks) {
                        *a = _mm512_fmadd_ps(pj, *xc, *a);
                    }
                }
            }
        }
        for (b, ab) in acc.iter().enumerate().take(qb) {
            for (c, a) in ab.iter().enumerate().take(chunks) {
                // SAFETY: output row `i0 + b < nq`, masked to the row's `d`.
                unsafe {
                    _mm512_mask_storeu_ps(out.add((i0 + b) * d + c * 16), chunk_mask(d, c), *a)
                };
            }
        }
        i0 += qb;
    }
}

/// One zmm register for [`lanes_q8_0`].
#[derive(Clone, Copy)]
struct Zmm(__m512);

// SAFETY (for every method): only called inside the Q8_0 trampolines
// below, which enable AVX-512 F/BW/VL and F16C; pointers valid for 16
// elements (the trait's contract).
impl Lanes for Zmm {
    const N: usize = 16;
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: AVX-512 F (the trampoline's).
        Zmm(unsafe { _mm512_setzero_ps() })
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: AVX-512 F (the trampoline's).
        Zmm(unsafe { _mm512_set1_ps(x) })
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the trait's contract.
        Zmm(unsafe { _mm512_loadu_ps(p) })
    }
    #[inline(always)]
    unsafe fn widen(p: *const f16) -> Self {
        // SAFETY: the trait's contract: 32 readable bytes.
        Zmm(unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) })
    }
    #[inline(always)]
    unsafe fn widen_i8(p: *const i8) -> Self {
        // SAFETY: the trait's contract: 16 readable bytes.
        Zmm(unsafe { _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p.cast()))) })
    }
    #[inline(always)]
    unsafe fn splat_f16(h: f16) -> Self {
        // SAFETY: AVX-512 F and F16C (the trampoline's).
        Zmm(unsafe { _mm512_cvtph_ps(_mm256_set1_epi16(h.to_bits() as i16)) })
    }
    #[inline(always)]
    unsafe fn mul(self, a: Self) -> Self {
        // SAFETY: AVX-512 F (the trampoline's).
        Zmm(unsafe { _mm512_mul_ps(self.0, a.0) })
    }
    #[inline(always)]
    unsafe fn fma(self, a: Self, b: Self) -> Self {
        // SAFETY: AVX-512 F (the trampoline's).
        Zmm(unsafe { _mm512_fmadd_ps(a.0, b.0, self.0) })
    }
    #[inline(always)]
    unsafe fn sum(self) -> f32 {
        // SAFETY: AVX-512 F (the trampoline's).
        unsafe { hsum(self.0) }
    }
    /// 16 sums at a time in one [`hsum16`], which adds the lanes as
    /// [`hsum`] does, so the bits are `sum`'s. A score step's 12 or 24
    /// sums took as many separate reductions.
    #[inline(always)]
    unsafe fn sums(v: &[Self], out: &mut [f32]) {
        for (vc, oc) in v.chunks(16).zip(out.chunks_mut(16)) {
            // SAFETY: AVX-512 F (the trampoline's); `lanes` holds 16
            // floats.
            unsafe {
                let mut all = [_mm512_setzero_ps(); 16];
                for (a, x) in all.iter_mut().zip(vc) {
                    *a = x.0;
                }
                let mut lanes = [0f32; 16];
                _mm512_storeu_ps(lanes.as_mut_ptr(), hsum16(all));
                let n = vc.len().min(oc.len());
                oc[..n].copy_from_slice(&lanes[..n]);
            }
        }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the trait's contract.
        unsafe { _mm512_storeu_ps(p, self.0) }
    }
}

/// Chunks of 16 per pass of the Q8_0 values loop, with 3 queries (a
/// GQA group of 3 in one pass): 12 accumulators and 4 widened chunks take
/// 16 of the 32 registers.
const VC_Q8: usize = 4;

/// [`super::super::super::AttnScoresQ8`].
pub(in crate::kernels) fn attn_scores_q8_0(
    q: &[f32],
    k: KvRowsQ8<'_>,
    scale: f32,
    out: &mut [f32],
    os: usize,
) {
    // SAFETY: AVX-512 F/BW/VL and F16C were detected before this table was
    // handed out; `attn_scores_checked` checked the sizes.
    attn_scores_checked(q, k, scale, out, os, |q, nq, k, scale, out, os| unsafe {
        scores_q8_0(q, nq, k, scale, out, os)
    })
}

/// # Safety
/// AVX-512 F/BW/VL and F16C available; the sizes checked.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn scores_q8_0(
    q: &[f32],
    nq: usize,
    k: KvRowsQ8<'_>,
    scale: f32,
    out: &mut [f32],
    os: usize,
) {
    // SAFETY: the caller's features and checks; 16 lanes divide 32.
    unsafe { lanes_q8_0::scores::<Zmm, 6>(q, nq, k, scale, out, os) }
}

/// [`super::super::super::AttnValuesQ8`].
pub(in crate::kernels) fn attn_values_q8_0(p: &[f32], ps: usize, v: KvRowsQ8<'_>, out: &mut [f32]) {
    // SAFETY: as in `attn_scores_q8_0`; `attn_values_checked` checked the
    // sizes.
    attn_values_checked(p, ps, v, out, |p, ps, v, nq, out| unsafe {
        values_q8_0(p, ps, v, nq, out)
    })
}

/// # Safety
/// AVX-512 F/BW/VL and F16C available; the sizes checked.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn values_q8_0(p: &[f32], ps: usize, v: KvRowsQ8<'_>, nq: usize, out: &mut [f32]) {
    // SAFETY: the caller's features and checks; 16 lanes divide 32.
    unsafe { lanes_q8_0::values::<Zmm, VC_Q8, 3>(p, ps, v, nq, out) }
}
