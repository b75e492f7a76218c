//! NEON kernels: 4 f32 lanes, 16 int8 lanes; a block is two registers.
//!
//! Two tables share this code: one for CPUs with the `dotprod` extension,
//! whose `sdot` adds four i8 × i8 products into each i32 lane, and one for
//! plain ARMv8 NEON, which widens with `smull`/`smlal2` (i8 × i8 → i16,
//! two products per lane: |x| ≤ 127 keeps the pair within i16) and adds
//! pairs into i32 with `sadalp`. Both are exact. `sdot` is signed × signed,
//! so unlike x86 no offset trick is needed: Q4_0 nibbles are shifted to
//! -8..=7 first.
//!
//! `sdot` and the f16 → f32 conversions are written as inline assembly:
//! Rust's intrinsics for them are not stable yet (the `f16` type and the
//! dotprod intrinsics). Each `asm!` block is one instruction on registers.
//!
//! The row formats' products are the shared tiles of [`rows`] over the
//! primitives in `aarch64/rows.rs`; this file keeps the interleaved
//! groups, float rows and activation quantization, and the trampolines
//! that give the shared code its features.

mod attn;

use super::rows::Neon;
use crate::formats::x16::GROUP;
use crate::formats::{BlockQ8A, QK};
use crate::kernels::rows;
use crate::kernels::{x16_tiles, Isa, Kernels};
use std::arch::aarch64::*;
use std::arch::asm;
use std::ptr::addr_of;

/// The NEON table for CPUs without dotprod.
pub(in crate::kernels) static KERNELS: Kernels = Kernels {
    isa: Isa::Neon,
    name: "neon",
    quantize_act,
    vec_dot_f32,
    vec_dot_f16,
    vec_dot_bf16,
    rows: rows::row_entries!(matmul_rows_neon),
    matmul_q4_0x16: matmul_x16::<1, 16, false>,
    matmul_q4_1x16: matmul_x16::<2, 16, false>,
    matmul_q8_0x16: matmul_x16::<1, 32, false>,
    attn_scores_f16: attn::attn_scores_f16,
    attn_values_f16: attn::attn_values_f16,
    attn_scores_q8_0: attn::attn_scores_q8_0,
    attn_values_q8_0: attn::attn_values_q8_0,
    exp_shifted: super::super::scalar::exp_shifted,
    silu_mul: super::super::scalar::silu_mul,
    gemm_min_tokens: usize::MAX,
};

/// The NEON table for CPUs with dotprod.
pub(in crate::kernels) static KERNELS_DOTPROD: Kernels = Kernels {
    isa: Isa::Neon,
    name: "neon-dotprod",
    quantize_act,
    vec_dot_f32,
    vec_dot_f16,
    vec_dot_bf16,
    rows: rows::row_entries!(matmul_rows_dotprod),
    matmul_q4_0x16: matmul_x16::<1, 16, true>,
    matmul_q4_1x16: matmul_x16::<2, 16, true>,
    matmul_q8_0x16: matmul_x16::<1, 32, true>,
    attn_scores_f16: attn::attn_scores_f16,
    attn_values_f16: attn::attn_values_f16,
    attn_scores_q8_0: attn::attn_scores_q8_0,
    attn_values_q8_0: attn::attn_values_q8_0,
    exp_shifted: super::super::scalar::exp_shifted,
    silu_mul: super::super::scalar::silu_mul,
    gemm_min_tokens: usize::MAX,
};

/// Whether this CPU can run [`KERNELS`].
pub(in crate::kernels) fn detected() -> bool {
    std::arch::is_aarch64_feature_detected!("neon")
}

/// Whether this CPU can run [`KERNELS_DOTPROD`].
pub(in crate::kernels) fn detected_dotprod() -> bool {
    detected() && std::arch::is_aarch64_feature_detected!("dotprod")
}

// ---------------------------------------------------------------------------
// Safe entry points: sizes are checked here; the table holding them is only
// handed out after the matching `detected*()`.

fn quantize_act(src: &[f32], dst: &mut [BlockQ8A]) {
    assert_eq!(src.len(), dst.len() * QK, "activation row length");
    for (b, x) in dst.iter_mut().zip(src.chunks_exact(QK)) {
        // SAFETY: NEON detected; `x` is one block.
        unsafe { quantize_block(x.try_into().unwrap(), b) }
    }
}

fn vec_dot_f32(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len() * 4, "f32 row size");
    // SAFETY: NEON detected; `w` holds `x.len()` f32s.
    unsafe { dot_float::<4>(w.as_ptr(), x) }
}

fn vec_dot_f16(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len() * 2, "f16 row size");
    // SAFETY: NEON detected; `w` holds `x.len()` f16s.
    unsafe { dot_float::<2>(w.as_ptr(), x) }
}

fn vec_dot_bf16(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len() * 2, "bf16 row size");
    // SAFETY: NEON detected; `w` holds `x.len()` bf16s.
    unsafe { dot_float::<3>(w.as_ptr(), x) }
}

// The products of the row formats ([`rows`]) in NEON frames, without
// and with dotprod (the latter only in the dotprod table).
rows::rows_entry!(matmul_rows_neon, Neon<false>, "neon");
rows::rows_entry!(matmul_rows_dotprod, Neon<true>, "neon,dotprod");

/// The interleaved products ([`crate::formats::x16`]), with (`D`) or
/// without dotprod: each 64-byte line of a group block is four registers
/// of four rows, one i32 lane per row; tiles of 2 tokens (batches) or 1.
/// Per row and token the float work is the scalar kernel's, in its order,
/// so the bits are the scalar's.
///
/// # Safety
/// As [`super::super::MatmulX16`].
unsafe fn matmul_x16<const F: usize, const Q: usize, const D: bool>(
    w: &[u8],
    x: &[BlockQ8A],
    n: usize,
    out: *mut f32,
    rs: usize,
    ts: usize,
) {
    // SAFETY: (both closures) the table holding `matmul_x16::<F, Q, D>` is
    // only handed out when its features were detected; `x16_tiles` passes
    // a group of `nb` group blocks and activation rows of `nb` blocks.
    let many = |wg, xs, nb| unsafe {
        if D {
            x16_dotprod::<F, Q, 2>(wg, xs, nb)
        } else {
            x16_neon::<F, Q, 2>(wg, xs, nb)
        }
    };
    // SAFETY: as above.
    let one = |wg, xs, nb| unsafe {
        if D {
            x16_dotprod::<F, Q, 1>(wg, xs, nb)
        } else {
            x16_neon::<F, Q, 1>(wg, xs, nb)
        }
    };
    // SAFETY: the output's contract is the caller's.
    unsafe { x16_tiles::<2>(2 * F + Q, w, x, n, out, (rs, ts), many, one) }
}

/// # Safety
/// NEON and dotprod available; pointers as [`x16_group`] requires.
#[target_feature(enable = "neon,dotprod")]
unsafe fn x16_dotprod<const F: usize, const Q: usize, const T: usize>(
    w: *const u8,
    x: [*const BlockQ8A; T],
    nb: usize,
) -> [[f32; GROUP]; T] {
    // SAFETY: forwarded from the caller.
    unsafe { x16_group::<F, Q, T, true>(w, x, nb) }
}

/// # Safety
/// NEON available; pointers as [`x16_group`] requires.
#[target_feature(enable = "neon")]
unsafe fn x16_neon<const F: usize, const Q: usize, const T: usize>(
    w: *const u8,
    x: [*const BlockQ8A; T],
    nb: usize,
) -> [[f32; GROUP]; T] {
    // SAFETY: forwarded from the caller.
    unsafe { x16_group::<F, Q, T, false>(w, x, nb) }
}

/// `T` tokens against one interleaved group (`F` f16 fields and `Q`
/// quant bytes per row block): `result[t][i]` = row `i` · token `t`.
/// `sdot` is signed × signed, so nibbles (0..=15) and Q8_0 bytes go in as
/// they are; Q4_0's offset comes off through the exact block sum.
///
/// # Safety
/// Inlined into a trampoline with NEON (and dotprod when `D`); `w`
/// readable for `nb` group blocks, every `x[t]` for `nb` blocks.
#[inline(always)]
unsafe fn x16_group<const F: usize, const Q: usize, const T: usize, const D: bool>(
    w: *const u8,
    x: [*const BlockQ8A; T],
    nb: usize,
) -> [[f32; GROUP]; T] {
    // SAFETY: group block `b < nb` is `16 (2F + Q)` readable bytes at
    // `w + 16 (2F + Q) b`, activation block `b` of each token readable at
    // `x[t] + b`.
    unsafe {
        let mask = vdupq_n_u8(0x0F);
        let offset = if F == 1 && Q == 16 { 8 } else { 0 };
        let mut acc = [[vdupq_n_f32(0.0); 4]; T];
        for b in 0..nb {
            let p = w.add(b * GROUP * (2 * F + Q));
            let q = p.add(32 * F);
            let d: [float32x4_t; 4] = std::array::from_fn(|j| f16x4(p.add(8 * j)));
            let mut s = [[vdupq_n_s32(0); 4]; T];
            for (st, &xt) in s.iter_mut().zip(&x) {
                *st = [vdupq_n_s32(-offset * (*xt.add(b)).sum); 4];
            }
            // Pairs of (weights, element line): nibble line c gives
            // elements 4c.. and 16+4c..; Q8_0 lines c and c + 1 give 4c..
            // and 4c+4...
            for c in (0..Q / 4).step_by(if Q == 16 { 1 } else { 2 }) {
                let mut w0 = [vdupq_n_s8(0); 4];
                let mut w1 = [vdupq_n_s8(0); 4];
                for j in 0..4 {
                    let v = vld1q_u8(q.add(64 * c + 16 * j));
                    if Q == 16 {
                        w0[j] = vreinterpretq_s8_u8(vandq_u8(v, mask));
                        w1[j] = vreinterpretq_s8_u8(vshrq_n_u8::<4>(v));
                    } else {
                        w0[j] = vreinterpretq_s8_u8(v);
                        w1[j] = vld1q_s8(q.add(64 * (c + 1) + 16 * j).cast());
                    }
                }
                let second = if Q == 16 { 4 + c } else { c + 1 };
                for (st, &xt) in s.iter_mut().zip(&x) {
                    let xq = addr_of!((*xt.add(b)).qs).cast::<i32>();
                    let x0 = vreinterpretq_s8_s32(vdupq_n_s32(xq.add(c).read_unaligned()));
                    let x1 = vreinterpretq_s8_s32(vdupq_n_s32(xq.add(second).read_unaligned()));
                    for j in 0..4 {
                        st[j] = dot4x4::<D>(st[j], w0[j], x0, w1[j], x1);
                    }
                }
            }
            for ((a, st), &xt) in acc.iter_mut().zip(&s).zip(&x) {
                let xb = xt.add(b);
                let dx = vdupq_n_f32((*xb).d);
                for j in 0..4 {
                    a[j] = vfmaq_f32(a[j], vcvtq_f32_s32(st[j]), vmulq_f32(d[j], dx));
                    if F == 2 {
                        let m = f16x4(p.add(32 + 8 * j));
                        a[j] = vfmaq_f32(a[j], m, vdupq_n_f32((*xb).s));
                    }
                }
            }
        }
        let mut res = [[0f32; GROUP]; T];
        for (r, a) in res.iter_mut().zip(&acc) {
            for (j, v) in a.iter().enumerate() {
                vst1q_f32(r.as_mut_ptr().add(4 * j), *v);
            }
        }
        res
    }
}

/// `acc + a0 · b0 + a1 · b1`, each lane the sum of its own four byte
/// products: `sdot` with dotprod, else widening multiplies and pairwise
/// adds.
///
/// # Safety
/// Inlined into a trampoline with NEON (and dotprod when `D`).
#[inline(always)]
unsafe fn dot4x4<const D: bool>(
    acc: int32x4_t,
    a0: int8x16_t,
    b0: int8x16_t,
    a1: int8x16_t,
    b1: int8x16_t,
) -> int32x4_t {
    if D {
        // Same instructions as `dot32`: four products per lane.
        // SAFETY: registers only; features from the trampoline.
        unsafe { dot32::<true>(acc, a0, b0, a1, b1) }
    } else {
        // SAFETY: plain NEON, always present on aarch64.
        unsafe {
            let lanes = |a: int8x16_t, b: int8x16_t| {
                let l = vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)));
                let h = vpaddlq_s16(vmull_high_s8(a, b));
                vpaddq_s32(l, h)
            };
            vaddq_s32(acc, vaddq_s32(lanes(a0, b0), lanes(a1, b1)))
        }
    }
}

/// Four f16 at `p` as f32 lanes (`fcvtl`).
///
/// # Safety
/// 8 bytes readable at `p`.
#[inline(always)]
unsafe fn f16x4(p: *const u8) -> float32x4_t {
    let out: float32x4_t;
    // SAFETY: 8 readable bytes (caller); one register conversion.
    unsafe {
        let h = vld1_u16(p.cast());
        asm!(
            "fcvtl {o:v}.4s, {i:v}.4h",
            i = in(vreg) h,
            o = lateout(vreg) out,
            options(pure, nomem, nostack),
        );
    }
    out
}

// ---------------------------------------------------------------------------
// Shared pieces, all `#[inline(always)]` for the trampolines.

/// `acc + Σ` of four `a · b` byte products per lane, over the two 16-byte
/// halves of a block: `sdot` with dotprod, else widening multiplies.
///
/// # Safety
/// Inlined into a trampoline with NEON (and dotprod when `D`); |b| ≤ 127.
#[inline(always)]
unsafe fn dot32<const D: bool>(
    acc: int32x4_t,
    a0: int8x16_t,
    b0: int8x16_t,
    a1: int8x16_t,
    b1: int8x16_t,
) -> int32x4_t {
    if D {
        let mut acc = acc;
        // SAFETY: `sdot` reads and writes registers only; the trampoline
        // enabled dotprod.
        unsafe {
            asm!(
                "sdot {acc:v}.4s, {a0:v}.16b, {b0:v}.16b",
                "sdot {acc:v}.4s, {a1:v}.16b, {b1:v}.16b",
                acc = inout(vreg) acc,
                a0 = in(vreg) a0,
                b0 = in(vreg) b0,
                a1 = in(vreg) a1,
                b1 = in(vreg) b1,
                options(pure, nomem, nostack),
            );
        }
        acc
    } else {
        // SAFETY: plain NEON, always present on aarch64.
        unsafe {
            let p = vmlal_high_s8(vmull_s8(vget_low_s8(a0), vget_low_s8(b0)), a0, b0);
            let q = vmlal_high_s8(vmull_s8(vget_low_s8(a1), vget_low_s8(b1)), a1, b1);
            vpadalq_s16(vpadalq_s16(acc, p), q)
        }
    }
}

/// The f16 with bits `h` as f32 (`fcvt`, base ARMv8 floating point).
#[inline(always)]
pub(super) fn f16_to_f32(h: u16) -> f32 {
    let out: f32;
    // SAFETY: one register-to-register conversion.
    unsafe {
        asm!(
            "fcvt {o:s}, {i:h}",
            i = in(vreg) h as i16,
            o = lateout(vreg) out,
            options(pure, nomem, nostack),
        );
    }
    out
}

/// The f16 at `p` as f32.
///
/// # Safety
/// 2 bytes readable at `p`.
#[inline(always)]
unsafe fn f16_at(p: *const u8) -> f32 {
    // SAFETY: as stated; unaligned read.
    f16_to_f32(unsafe { p.cast::<u16>().read_unaligned() })
}

// ---------------------------------------------------------------------------
// Float rows. `E`: 4 = f32, 2 = f16, 3 = bf16.

/// Four weights at element `i` as f32.
///
/// # Safety
/// Elements `i..i + 4` readable at `w`.
#[inline(always)]
unsafe fn load4<const E: usize>(w: *const u8, i: usize) -> float32x4_t {
    // SAFETY: as stated.
    unsafe {
        match E {
            4 => vld1q_f32(w.add(4 * i).cast()),
            2 => {
                let h = vld1_u16(w.add(2 * i).cast());
                let out: float32x4_t;
                // SAFETY: one register-to-register conversion.
                asm!(
                    "fcvtl {o:v}.4s, {i:v}.4h",
                    i = in(vreg) h,
                    o = lateout(vreg) out,
                    options(pure, nomem, nostack),
                );
                out
            }
            _ => {
                let h = vld1_u16(w.add(2 * i).cast());
                vreinterpretq_f32_u32(vshlq_n_u32::<16>(vmovl_u16(h)))
            }
        }
    }
}

/// One element at `i` as f32.
///
/// # Safety
/// Element `i` readable at `w`.
#[inline(always)]
unsafe fn load1<const E: usize>(w: *const u8, i: usize) -> f32 {
    // SAFETY: as stated; unaligned reads.
    unsafe {
        match E {
            4 => w.add(4 * i).cast::<f32>().read_unaligned(),
            2 => f16_at(w.add(2 * i)),
            _ => f32::from_bits((w.add(2 * i).cast::<u16>().read_unaligned() as u32) << 16),
        }
    }
}

/// # Safety
/// NEON available; `w` readable for `x.len()` elements of kind `E`.
#[target_feature(enable = "neon")]
unsafe fn dot_float<const E: usize>(w: *const u8, x: &[f32]) -> f32 {
    let k = x.len();
    let mut acc = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    // SAFETY: loads cover `i + 16 <= k` in the loop and `i < k` in the
    // tail; `w` holds `k` elements and `x` is a slice of `k`.
    unsafe {
        while i + 16 <= k {
            for (j, a) in acc.iter_mut().enumerate() {
                let xv = vld1q_f32(x.as_ptr().add(i + 4 * j));
                *a = vfmaq_f32(*a, load4::<E>(w, i + 4 * j), xv);
            }
            i += 16;
        }
        let mut s = vaddvq_f32(vaddq_f32(
            vaddq_f32(acc[0], acc[1]),
            vaddq_f32(acc[2], acc[3]),
        ));
        while i < k {
            s += load1::<E>(w, i) * x[i];
            i += 1;
        }
        s
    }
}

// ---------------------------------------------------------------------------
// Activation quantization.

/// One block of [`crate::formats::quantize_act_row_scalar`], bit for bit on
/// finite input: the same f32 divisions, and `fcvtas` rounds to nearest
/// with ties away from zero, as `f32::round` does.
///
/// # Safety
/// NEON available.
#[target_feature(enable = "neon")]
unsafe fn quantize_block(x: &[f32; QK], out: &mut BlockQ8A) {
    // SAFETY: `x` is 32 floats, read as eight 4-lane loads.
    let v: [float32x4_t; 8] = std::array::from_fn(|j| unsafe { vld1q_f32(x.as_ptr().add(4 * j)) });
    let mut m = vabsq_f32(v[0]);
    for vj in &v[1..] {
        m = vmaxq_f32(m, vabsq_f32(*vj));
    }
    let amax = vmaxvq_f32(m);
    let d = amax / 127.0;
    let id = if d.is_normal() { 1.0 / d } else { 0.0 };
    let q: [int32x4_t; 8] = std::array::from_fn(|j| vcvtaq_s32_f32(vmulq_n_f32(v[j], id)));
    let mut sum = vdupq_n_s32(0);
    for qj in &q {
        sum = vaddq_s32(sum, *qj);
    }
    let sum = vaddvq_s32(sum);
    for (h, pair) in q.chunks_exact(4).enumerate() {
        let a = vcombine_s16(vqmovn_s32(pair[0]), vqmovn_s32(pair[1]));
        let b = vcombine_s16(vqmovn_s32(pair[2]), vqmovn_s32(pair[3]));
        let bytes = vcombine_s8(vqmovn_s16(a), vqmovn_s16(b));
        // SAFETY: `qs` has 32 bytes; this writes bytes 16h..16h+16.
        unsafe { vst1q_s8(out.qs.as_mut_ptr().add(16 * h), bytes) };
    }
    out.d = d;
    out.s = d * sum as f32;
    out.sum = sum;
}
