//! x86-64 kernel sets: AVX2 (+FMA, F16C) and AVX-512 (F, BW, VL, with a VNNI
//! inner path when the CPU has it).
//!
//! The tables here are private to the crate: [`super::dispatch`] hands one
//! out only after checking that the CPU has every feature it was compiled
//! for, which is what makes calling their safe wrappers sound.

pub(super) mod avx2;
pub(super) mod avx512;
