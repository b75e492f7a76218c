//! Q3_K: 256-value super-blocks of sixteen 16-value groups, 3-bit values
//! (two low bits packed four a byte, the third in a bit mask), each group
//! with a 6-bit signed scale under one f16 (ggml's `block_q3_K`, 110 bytes,
//! 3.4375 bits a value).

use super::QK_K;
use half::f16;

/// Value `32 i + l` (`i < 8`, `l < 32`) is `q = ((qs[32 (i / 4) + l] >> 2
/// (i % 4)) & 3) - 4` plus 4 when bit `i` of `hmask[l]` is set, in group
/// `g = 2 i + l / 16`: `x = d * scale(g) * q`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ3K {
    /// The third bit of each value: bit `i` of byte `l` for value `32 i + l`.
    pub hmask: [u8; QK_K / 8],
    /// The low two bits, four values a byte.
    pub qs: [u8; QK_K / 4],
    /// Sixteen 6-bit scales: low nibbles in bytes 0-7 (groups 0-7 low, 8-15
    /// high), the high two bits in bytes 8-11 (two bits a group).
    pub scales: [u8; 12],
    /// Scale of the scales.
    pub d: f16,
}
const _: () = assert!(std::mem::size_of::<BlockQ3K>() == 110);

impl BlockQ3K {
    /// Group `g < 16`'s signed scale, in -32..=31.
    pub fn scale(&self, g: usize) -> i32 {
        scale(&self.scales, g)
    }

    /// The signed 3-bit value `l < 32` of chunk `i < 8`, in -4..=3.
    pub fn q(&self, i: usize, l: usize) -> i8 {
        let low = (self.qs[32 * (i / 4) + l] >> (2 * (i % 4))) & 3;
        let high = (self.hmask[l] >> i) & 1;
        low as i8 - if high == 0 { 4 } else { 0 }
    }

    /// Expands the super-block into 256 floats (`(d * scale) * q`, as the
    /// `gguf` package computes it).
    pub fn dequantize(&self, out: &mut [f32; QK_K]) {
        let d = self.d.to_f32();
        for (k, o) in out.iter_mut().enumerate() {
            let dl = d * self.scale(k / 16) as f32;
            *o = dl * self.q(k / 32, k % 32) as f32;
        }
    }
}

/// Group `g < 16`'s signed scale from a Q3_K block's 12 scale bytes.
pub fn scale(scales: &[u8; 12], g: usize) -> i32 {
    let lo = (scales[g % 8] >> (4 * (g / 8))) & 0xF;
    let hi = (scales[8 + g % 4] >> (2 * (g / 4))) & 3;
    (lo | hi << 4) as i32 - 32
}
