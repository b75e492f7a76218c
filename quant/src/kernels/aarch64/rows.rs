//! [`Simd`] for NEON: a 32-byte chunk is two 16-byte registers, the first
//! holding values 0-15 and the second 16-31, so the two halves of a
//! chunk's sums (which [`Simd::fma2`] scales apart) are the two registers'.
//!
//! `D` selects `sdot` (the `dotprod` extension: four i8 × i8 products into
//! each i32 lane, written as inline assembly because Rust's intrinsic is
//! not stable); without it, `smull`/`smlal2` widen to i16 (|x| ≤ 127
//! keeps a pair of products within i16) and `saddlp` adds pairs into i32.
//! NEON's `sdot` is signed × signed, so the unsigned and signed products
//! are the same instruction.

use super::neon::f16_to_f32;
use crate::kernels::rows::Simd;
use std::arch::aarch64::*;
use std::arch::asm;

/// The NEON primitives, with (`D`) or without dotprod (only instantiated
/// inside trampolines that enable it).
#[derive(Clone, Copy)]
pub(super) struct Neon<const D: bool>;

/// Bit `i % 8` in byte `i`: the mask [`Simd::bits`] tests against.
const BIT_OF_BYTE: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];

impl<const D: bool> Neon<D> {
    /// The i32 sums of one 16-byte register's products in groups of 4.
    #[inline(always)]
    unsafe fn dot16(a: int8x16_t, b: int8x16_t) -> int32x4_t {
        if D {
            // SAFETY: plain NEON, always present on aarch64.
            let mut acc = unsafe { vdupq_n_s32(0) };
            // SAFETY: `sdot` reads and writes registers only; the
            // trampoline enabled dotprod.
            unsafe {
                asm!(
                    "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
                    acc = inout(vreg) acc,
                    a = in(vreg) a,
                    b = in(vreg) b,
                    options(pure, nomem, nostack),
                );
            }
            acc
        } else {
            // SAFETY: plain NEON, always present on aarch64.
            unsafe {
                vpaddlq_s16(vmlal_high_s8(
                    vmull_s8(vget_low_s8(a), vget_low_s8(b)),
                    a,
                    b,
                ))
            }
        }
    }
}

// SAFETY (for every method below): each is `#[inline(always)]` and only
// called from code inlined into a trampoline with NEON (and dotprod when
// `D`) enabled; pointer arguments are readable for the bytes the trait
// states, and NEON loads have no alignment requirement.
impl<const D: bool> Simd for Neon<D> {
    type B = (int8x16_t, int8x16_t);
    type I = (int32x4_t, int32x4_t);
    type F = (float32x4_t, float32x4_t);

    #[inline(always)]
    unsafe fn load(p: *const u8) -> Self::B {
        // SAFETY: see the impl.
        unsafe { (vld1q_s8(p.cast()), vld1q_s8(p.add(16).cast())) }
    }

    #[inline(always)]
    unsafe fn nibbles(p: *const u8) -> Self::B {
        // SAFETY: see the impl.
        unsafe {
            let v = vld1q_u8(p);
            (
                vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0F))),
                vreinterpretq_s8_u8(vshrq_n_u8::<4>(v)),
            )
        }
    }

    #[inline(always)]
    unsafe fn splat(v: u8) -> Self::B {
        // SAFETY: see the impl.
        unsafe { (vdupq_n_s8(v as i8), vdupq_n_s8(v as i8)) }
    }

    #[inline(always)]
    unsafe fn and(a: Self::B, b: Self::B) -> Self::B {
        // SAFETY: see the impl.
        unsafe { (vandq_s8(a.0, b.0), vandq_s8(a.1, b.1)) }
    }

    #[inline(always)]
    unsafe fn or(a: Self::B, b: Self::B) -> Self::B {
        // SAFETY: see the impl.
        unsafe { (vorrq_s8(a.0, b.0), vorrq_s8(a.1, b.1)) }
    }

    #[inline(always)]
    unsafe fn sub(a: Self::B, b: Self::B) -> Self::B {
        // SAFETY: see the impl.
        unsafe { (vsubq_s8(a.0, b.0), vsubq_s8(a.1, b.1)) }
    }

    #[inline(always)]
    unsafe fn shr<const N: i32>(a: Self::B) -> Self::B {
        // A shift by a negative register count is a logical right shift;
        // unlike `vshrq_n_u8` it also takes 0.
        // SAFETY: see the impl.
        unsafe {
            let n = vdupq_n_s8(-(N as i8));
            let f = |v: int8x16_t| vreinterpretq_s8_u8(vshlq_u8(vreinterpretq_u8_s8(v), n));
            (f(a.0), f(a.1))
        }
    }

    #[inline(always)]
    unsafe fn shl<const N: i32>(a: Self::B) -> Self::B {
        // SAFETY: see the impl.
        unsafe {
            let n = vdupq_n_s8(N as i8);
            let f = |v: int8x16_t| vreinterpretq_s8_u8(vshlq_u8(vreinterpretq_u8_s8(v), n));
            (f(a.0), f(a.1))
        }
    }

    #[inline(always)]
    unsafe fn test(a: Self::B, bit: Self::B) -> Self::B {
        // SAFETY: see the impl.
        unsafe {
            (
                vreinterpretq_s8_u8(vtstq_s8(a.0, bit.0)),
                vreinterpretq_s8_u8(vtstq_s8(a.1, bit.1)),
            )
        }
    }

    #[inline(always)]
    unsafe fn bits(bits: u32) -> Self::B {
        // Byte i takes byte i / 8 of `bits` (a table lookup), then keeps
        // bit i % 8 of it.
        // SAFETY: see the impl; the constant tables are 16 bytes.
        unsafe {
            let v = vreinterpretq_u8_u32(vdupq_n_u32(bits.to_le()));
            let lo = vld1q_u8([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1].as_ptr());
            let hi = vld1q_u8([2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3].as_ptr());
            let m = vld1q_u8(BIT_OF_BYTE.as_ptr());
            (
                vreinterpretq_s8_u8(vtstq_u8(vqtbl1q_u8(v, lo), m)),
                vreinterpretq_s8_u8(vtstq_u8(vqtbl1q_u8(v, hi), m)),
            )
        }
    }

    #[inline(always)]
    unsafe fn lookup(table: *const i8, idx: Self::B) -> Self::B {
        // SAFETY: see the impl; 16 bytes at `table`.
        unsafe {
            let t = vld1q_s8(table);
            let f = |i: int8x16_t| vqtbl1q_s8(t, vreinterpretq_u8_s8(i));
            (f(idx.0), f(idx.1))
        }
    }

    #[inline(always)]
    unsafe fn dot_u(w: Self::B, x: Self::B) -> Self::I {
        // `w` ≤ 127 is the same as a signed byte.
        // SAFETY: see the impl.
        unsafe { Self::dot_s(w, x) }
    }

    #[inline(always)]
    unsafe fn dot_off(w: Self::B, x: Self::B, corr: i32) -> Self::I {
        // SAFETY: see the impl.
        unsafe {
            let (a, b) = Self::dot_s(w, x);
            (vaddq_s32(a, vsetq_lane_s32::<0>(corr, vdupq_n_s32(0))), b)
        }
    }

    #[inline(always)]
    unsafe fn dot_s(w: Self::B, x: Self::B) -> Self::I {
        // SAFETY: see the impl.
        unsafe { (Self::dot16(w.0, x.0), Self::dot16(w.1, x.1)) }
    }

    #[inline(always)]
    unsafe fn f16(p: *const u8) -> f32 {
        // SAFETY: see the impl; 2 bytes at `p`.
        f16_to_f32(unsafe { p.cast::<u16>().read_unaligned() })
    }

    #[inline(always)]
    unsafe fn zero() -> Self::F {
        // SAFETY: see the impl.
        unsafe { (vdupq_n_f32(0.0), vdupq_n_f32(0.0)) }
    }

    #[inline(always)]
    unsafe fn fma(acc: Self::F, i: Self::I, s: f32) -> Self::F {
        // One scale: both halves' sums go to the first accumulator.
        // SAFETY: see the impl.
        unsafe {
            (
                vfmaq_n_f32(acc.0, vcvtq_f32_s32(vaddq_s32(i.0, i.1)), s),
                acc.1,
            )
        }
    }

    #[inline(always)]
    unsafe fn fma2(acc: Self::F, i: Self::I, lo: f32, hi: f32) -> Self::F {
        // SAFETY: see the impl.
        unsafe {
            (
                vfmaq_n_f32(acc.0, vcvtq_f32_s32(i.0), lo),
                vfmaq_n_f32(acc.1, vcvtq_f32_s32(i.1), hi),
            )
        }
    }

    #[inline(always)]
    unsafe fn sum(acc: Self::F) -> f32 {
        // SAFETY: see the impl.
        unsafe { vaddvq_f32(vaddq_f32(acc.0, acc.1)) }
    }

    #[inline(always)]
    unsafe fn prefetch(p: *const u8) {
        // SAFETY: `prfm` is a hint: it never faults and changes no state a
        // program can see.
        unsafe {
            asm!("prfm pldl1keep, [{p}]", p = in(reg) p, options(nostack, readonly, preserves_flags))
        }
    }
}
