//! NEON attention over an f16 or Q8_0 KV cache: [`lanes`]' and
//! [`lanes_q8_0`]'s loops on 4-lane registers, `fcvtl` ([`f16x4`]) or
//! `sxtl` twice and `scvtf` to widen, `fmla` to sum, `faddp` twice across
//! lanes (`vaddvq_f32`).

use super::super::super::lanes::{self, Lanes, MAX_D};
use super::super::super::{
    attn_scores_checked, attn_values_checked, lanes_q8_0, scalar, KvRows, KvRowsQ8,
};
use super::f16x4;
use half::f16;
use std::arch::aarch64::*;

/// Chunks of 4 per pass of the values loop: 2 queries × 8 accumulators and
/// 8 widened chunks fit the 32 registers.
const VC: usize = 8;

#[derive(Clone, Copy)]
struct Q4(float32x4_t);

// SAFETY (for every method): NEON is part of every aarch64 CPU; pointers
// valid for 4 elements (the trait's contract).
impl Lanes for Q4 {
    const N: usize = 4;
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: NEON.
        Q4(unsafe { vdupq_n_f32(0.0) })
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        // SAFETY: NEON.
        Q4(unsafe { vdupq_n_f32(x) })
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self {
        // SAFETY: the trait's contract.
        Q4(unsafe { vld1q_f32(p) })
    }
    #[inline(always)]
    unsafe fn widen(p: *const f16) -> Self {
        // SAFETY: the trait's contract: 8 readable bytes.
        Q4(unsafe { f16x4(p.cast()) })
    }
    #[inline(always)]
    unsafe fn widen_i8(p: *const i8) -> Self {
        // SAFETY: the trait's contract: 4 readable bytes, read as one
        // unaligned u32 (a 64-bit load could pass the end of a block);
        // NEON.
        unsafe {
            let b = vreinterpret_s8_u32(vdup_n_u32(p.cast::<u32>().read_unaligned()));
            Q4(vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(b)))))
        }
    }
    #[inline(always)]
    unsafe fn splat_f16(h: f16) -> Self {
        let four = [h; 4];
        // SAFETY: `four` is 8 readable bytes.
        Q4(unsafe { f16x4(four.as_ptr().cast()) })
    }
    #[inline(always)]
    unsafe fn mul(self, a: Self) -> Self {
        // SAFETY: NEON.
        Q4(unsafe { vmulq_f32(self.0, a.0) })
    }
    #[inline(always)]
    unsafe fn fma(self, a: Self, b: Self) -> Self {
        // SAFETY: NEON.
        Q4(unsafe { vfmaq_f32(self.0, a.0, b.0) })
    }
    #[inline(always)]
    unsafe fn sum(self) -> f32 {
        // SAFETY: NEON.
        unsafe { vaddvq_f32(self.0) }
    }
    #[inline(always)]
    unsafe fn store(self, p: *mut f32) {
        // SAFETY: the trait's contract.
        unsafe { vst1q_f32(p, self.0) }
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
    // SAFETY: NEON is part of every aarch64 CPU; `attn_scores_checked`
    // checked the sizes.
    attn_scores_checked(q, k, scale, out, os, |q, nq, k, scale, out, os| unsafe {
        lanes::scores::<Q4>(q, nq, k, scale, out, os)
    })
}

/// [`super::super::super::AttnValuesF16`].
pub(in crate::kernels) fn attn_values_f16(p: &[f32], ps: usize, v: KvRows<'_>, out: &mut [f32]) {
    if v.d > MAX_D {
        return scalar::attn_values_f16(p, ps, v, out);
    }
    // SAFETY: as in `attn_scores_f16`; `attn_values_checked` checked the
    // sizes.
    attn_values_checked(p, ps, v, out, |p, ps, v, nq, out| unsafe {
        lanes::values::<Q4, VC>(p, ps, v, nq, out)
    })
}

/// [`super::super::super::AttnScoresQ8`].
pub(in crate::kernels) fn attn_scores_q8_0(
    q: &[f32],
    k: KvRowsQ8<'_>,
    scale: f32,
    out: &mut [f32],
    os: usize,
) {
    // SAFETY: NEON is part of every aarch64 CPU; `attn_scores_checked`
    // checked the sizes; 4 lanes divide 32.
    attn_scores_checked(q, k, scale, out, os, |q, nq, k, scale, out, os| unsafe {
        lanes_q8_0::scores::<Q4, 6>(q, nq, k, scale, out, os)
    })
}

/// [`super::super::super::AttnValuesQ8`].
pub(in crate::kernels) fn attn_values_q8_0(p: &[f32], ps: usize, v: KvRowsQ8<'_>, out: &mut [f32]) {
    // SAFETY: as in `attn_scores_q8_0`; `attn_values_checked` checked the
    // sizes.
    attn_values_checked(p, ps, v, out, |p, ps, v, nq, out| unsafe {
        lanes_q8_0::values::<Q4, VC, 2>(p, ps, v, nq, out)
    })
}
