//! AVX2 attention over an f16 or Q8_0 KV cache: [`lanes`]' and
//! [`lanes_q8_0`]'s loops on 8-lane ymm registers, F16C or `vpmovsxbd` to
//! widen, FMA to sum, [`hsum`]'s order across lanes.

use super::super::super::lanes::{self, Lanes, MAX_D};
use super::super::super::{
    attn_scores_checked, attn_values_checked, lanes_q8_0, scalar, KvRows, KvRowsQ8,
};
use super::hsum;
use half::f16;
use std::arch::x86_64::*;

/// Chunks of 8 per pass of the values loop: 2 queries × 4 accumulators, 4
/// widened chunks and a broadcast fit the 16 registers.
const VC: usize = 4;

#[derive(Clone, Copy)]
struct Ymm(__m256);

// SAFETY (for every method): only called inside the trampolines below,
// which enable AVX2, FMA and F16C; pointers valid for 8 elements (the
// trait's contract).
impl Lanes for Ymm {
    const N: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: AVX (the trampoline's).
        Ymm(unsafe { _mm256_setzero_ps() })
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: AVX (the trampoline's).
        Ymm(unsafe { _mm256_set1_ps(x) })
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the trait's contract.
        Ymm(unsafe { _mm256_loadu_ps(p) })
    }
    #[inline(always)]
    unsafe fn widen(p: *const f16) -> Self {
        // SAFETY: the trait's contract.
        Ymm(unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) })
    }
    #[inline(always)]
    unsafe fn widen_i8(p: *const i8) -> Self {
        // SAFETY: the trait's contract: 8 readable bytes; AVX2.
        Ymm(unsafe { _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p.cast()))) })
    }
    #[inline(always)]
    unsafe fn splat_f16(h: f16) -> Self {
        // SAFETY: F16C and AVX2 (the trampoline's).
        Ymm(unsafe { _mm256_cvtph_ps(_mm_set1_epi16(h.to_bits() as i16)) })
    }
    #[inline(always)]
    unsafe fn mul(self, a: Self) -> Self {
        // SAFETY: AVX (the trampoline's).
        Ymm(unsafe { _mm256_mul_ps(self.0, a.0) })
    }
    #[inline(always)]
    unsafe fn fma(self, a: Self, b: Self) -> Self {
        // SAFETY: FMA (the trampoline's).
        Ymm(unsafe { _mm256_fmadd_ps(a.0, b.0, self.0) })
    }
    #[inline(always)]
    unsafe fn sum(self) -> f32 {
        // SAFETY: AVX2 and FMA (the trampoline's).
        unsafe { hsum(self.0) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the trait's contract.
        unsafe { _mm256_storeu_ps(p, self.0) }
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
    // SAFETY: AVX2, FMA and F16C were detected before this table was
    // handed out; `attn_scores_checked` checked the sizes.
    attn_scores_checked(q, k, scale, out, os, |q, nq, k, scale, out, os| unsafe {
        scores(q, nq, k, scale, out, os)
    })
}

/// # Safety
/// AVX2, FMA and F16C available; the sizes checked, `k.d <= MAX_D`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn scores(q: &[f32], nq: usize, k: KvRows<'_>, scale: f32, out: &mut [f32], os: usize) {
    // SAFETY: the caller's features and checks.
    unsafe { lanes::scores::<Ymm>(q, nq, k, scale, out, os) }
}

/// [`super::super::super::AttnValuesF16`].
pub(in crate::kernels) fn attn_values_f16(p: &[f32], ps: usize, v: KvRows<'_>, out: &mut [f32]) {
    if v.d > MAX_D {
        return scalar::attn_values_f16(p, ps, v, out);
    }
    // SAFETY: as in `attn_scores_f16`; `attn_values_checked` checked the
    // sizes.
    attn_values_checked(p, ps, v, out, |p, ps, v, nq, out| unsafe {
        values(p, ps, v, nq, out)
    })
}

/// # Safety
/// AVX2, FMA and F16C available; the sizes checked, `v.d <= MAX_D`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn values(p: &[f32], ps: usize, v: KvRows<'_>, nq: usize, out: &mut [f32]) {
    // SAFETY: the caller's features and checks.
    unsafe { lanes::values::<Ymm, VC>(p, ps, v, nq, out) }
}

/// [`super::super::super::AttnScoresQ8`].
pub(in crate::kernels) fn attn_scores_q8_0(
    q: &[f32],
    k: KvRowsQ8<'_>,
    scale: f32,
    out: &mut [f32],
    os: usize,
) {
    // SAFETY: as in `attn_scores_f16`.
    attn_scores_checked(q, k, scale, out, os, |q, nq, k, scale, out, os| unsafe {
        scores_q8_0(q, nq, k, scale, out, os)
    })
}

/// # Safety
/// AVX2, FMA and F16C available; the sizes checked.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn scores_q8_0(
    q: &[f32],
    nq: usize,
    k: KvRowsQ8<'_>,
    scale: f32,
    out: &mut [f32],
    os: usize,
) {
    // SAFETY: the caller's features and checks; 8 lanes divide 32.
    unsafe { lanes_q8_0::scores::<Ymm, 3>(q, nq, k, scale, out, os) }
}

/// [`super::super::super::AttnValuesQ8`].
pub(in crate::kernels) fn attn_values_q8_0(p: &[f32], ps: usize, v: KvRowsQ8<'_>, out: &mut [f32]) {
    // SAFETY: as in `attn_scores_f16`; `attn_values_checked` checked the
    // sizes.
    attn_values_checked(p, ps, v, out, |p, ps, v, nq, out| unsafe {
        values_q8_0(p, ps, v, nq, out)
    })
}

/// # Safety
/// AVX2, FMA and F16C available; the sizes checked.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn values_q8_0(p: &[f32], ps: usize, v: KvRowsQ8<'_>, nq: usize, out: &mut [f32]) {
    // SAFETY: the caller's features and checks; 8 lanes divide 32.
    unsafe { lanes_q8_0::values::<Ymm, VC, 2>(p, ps, v, nq, out) }
}
