//! Helpers shared by the kernel tests: a seeded generator (no dependency on
//! a random-number crate) and the kernel sets this machine can run.

#![allow(dead_code)]

use minke_quant::{Isa, Kernels};

/// SplitMix64: small, seeded, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// Roughly normal (sum of four uniforms), unit scale.
    pub fn normal(&mut self) -> f32 {
        (self.uniform() + self.uniform() + self.uniform() + self.uniform()) * 0.866
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Every SIMD kernel table this machine (and build) can run, besides
/// scalar, variants included (AVX-512 with and without VNNI, NEON with and
/// without dotprod). Prints which ones are tested, so a log shows what ran.
pub fn simd_sets() -> Vec<&'static Kernels> {
    let sets: Vec<_> = Kernels::available()
        .into_iter()
        .filter(|k| k.isa != Isa::Scalar)
        .collect();
    let names: Vec<_> = sets.iter().map(|k| k.name).collect();
    eprintln!("SIMD kernel tables under test: {names:?}");
    sets
}

pub fn scalar() -> &'static Kernels {
    Kernels::for_isa(Isa::Scalar).expect("scalar kernels always exist")
}

/// Test data patterns, `k` values each; `kind` picks one.
pub fn data(rng: &mut Rng, kind: usize, k: usize) -> Vec<f32> {
    match kind {
        0 => (0..k).map(|_| rng.normal()).collect(),
        1 => vec![0.0; k],
        2 => vec![0.37; k], // all-equal blocks
        3 => (0..k)
            .map(|i| if i % 2 == 0 { 3e4 } else { -3e4 })
            .collect(), // ± large
        4 => (0..k).map(|_| rng.uniform() * 1e-5).collect(), // tiny
        5 => (0..k)
            .map(|i| {
                if i % 7 == 0 {
                    rng.normal() * 400.0
                } else {
                    rng.normal()
                }
            })
            .collect(), // outliers
        _ => (0..k).map(|_| rng.uniform() * 5.0 + 2.0).collect(), // offset
    }
}

pub const KINDS: usize = 7;
