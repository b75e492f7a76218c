//! x86-64 kernel sets: AVX2 (+FMA, F16C) and AVX-512 (F, BW, VL, with a VNNI
//! inner path when the CPU has it).
//!
//! The tables here are private to the crate: [`super::dispatch`] hands one
//! out only after checking that the CPU has every feature it was compiled
//! for, which is what makes calling their safe wrappers sound.

/// The table entries `exp_shifted` and `silu_mul` for a table whose CPU
/// has `$features` (named `$who` in comments): [`crate::math`]'s portable
/// loops, which the compiler vectorises for those features here, with the
/// same operations in the same order as the scalar kernels, so the same
/// bits.
macro_rules! elementwise {
    ($features:literal, $who:literal) => {
        fn exp_shifted(x: &mut [f32]) -> (f32, f32) {
            // SAFETY: the CPU has the features: this table is only handed
            // out after its `detected()` said so.
            unsafe { exp_shifted_simd(x) }
        }

        fn silu_mul(g: &mut [f32], u: &[f32]) {
            // SAFETY: as in `exp_shifted`.
            unsafe { silu_mul_simd(g, u) }
        }

        #[doc = concat!("[`crate::math`]'s softmax loop, vectorised for ", $who, ".")]
        ///
        /// # Safety
        /// The CPU has the features this is compiled for.
        #[target_feature(enable = $features)]
        unsafe fn exp_shifted_simd(x: &mut [f32]) -> (f32, f32) {
            crate::math::exp_shifted(x)
        }

        #[doc = concat!("[`crate::math`]'s SwiGLU gate, vectorised for ", $who, ".")]
        ///
        /// # Safety
        /// The CPU has the features this is compiled for.
        #[target_feature(enable = $features)]
        unsafe fn silu_mul_simd(g: &mut [f32], u: &[f32]) {
            crate::math::silu_mul(g, u)
        }
    };
}
use elementwise;

pub(super) mod avx2;
pub(super) mod avx512;
mod rows;
