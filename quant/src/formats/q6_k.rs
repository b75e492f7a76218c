//! Q6_K: 256-value super-blocks of sixteen 16-value groups, 6-bit values
//! (low four bits in `ql`, high two in `qh`) with an offset of 32, each
//! group with an int8 scale under one f16 (ggml's `block_q6_K`, 210 bytes,
//! 6.5625 bits a value).

use super::QK_K;
use half::f16;

/// Value `128 h + 32 s + l` (`h < 2`, `s < 4`, `l < 32`) takes its low
/// nibble from `ql[64 h + 32 (s % 2) + l]` (low nibble for `s < 2`, high
/// for `s >= 2`) and its high two bits from `qh[32 h + l] >> 2 s`; `x = d *
/// scales[g] * (q - 32)` in group `g` = the value's index / 16.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ6K {
    /// Low four bits of the values.
    pub ql: [u8; QK_K / 2],
    /// High two bits, four values a byte.
    pub qh: [u8; QK_K / 4],
    /// Group scales.
    pub scales: [i8; QK_K / 16],
    /// Scale of the scales.
    pub d: f16,
}
const _: () = assert!(std::mem::size_of::<BlockQ6K>() == 210);

impl BlockQ6K {
    /// The signed value `l < 32` of chunk `i = 4 h + s < 8`, in -32..=31.
    pub fn q(&self, i: usize, l: usize) -> i8 {
        let (h, s) = (i / 4, i % 4);
        let lo = (self.ql[64 * h + 32 * (s % 2) + l] >> (4 * (s / 2))) & 0xF;
        let hi = (self.qh[32 * h + l] >> (2 * s)) & 3;
        (lo | hi << 4) as i8 - 32
    }

    /// Expands the super-block into 256 floats (`(d * scale) * q`, as the
    /// `gguf` package computes it).
    pub fn dequantize(&self, out: &mut [f32; QK_K]) {
        let d = self.d.to_f32();
        for (k, o) in out.iter_mut().enumerate() {
            let dl = d * self.scales[k / 16] as f32;
            *o = dl * self.q(k / 32, k % 32) as f32;
        }
    }
}
