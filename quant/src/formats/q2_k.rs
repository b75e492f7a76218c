//! Q2_K: 256-value super-blocks of sixteen 16-value groups, 2-bit values,
//! each group with a 4-bit scale and a 4-bit minimum under the f16 `d` and
//! `dmin` (ggml's `block_q2_K`, 84 bytes, 2.625 bits a value).

use super::QK_K;
use half::f16;

/// Value `32 i + l` of the super-block (`i < 8` a 32-value chunk, `l < 32`)
/// is `q = (qs[32 (i / 4) + l] >> 2 (i % 4)) & 3`, in group `g = 2 i + l /
/// 16`: `x = d * (scales[g] & 0xF) * q - dmin * (scales[g] >> 4)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ2K {
    /// Group scales (low nibble) and minimums (high nibble).
    pub scales: [u8; QK_K / 16],
    /// Four 2-bit values a byte.
    pub qs: [u8; QK_K / 4],
    /// Scale of the scales.
    pub d: f16,
    /// Scale of the minimums.
    pub dmin: f16,
}
const _: () = assert!(std::mem::size_of::<BlockQ2K>() == 84);

impl BlockQ2K {
    /// The 2-bit value `l < 32` of chunk `i < 8`.
    pub fn q(&self, i: usize, l: usize) -> u8 {
        (self.qs[32 * (i / 4) + l] >> (2 * (i % 4))) & 3
    }

    /// Expands the super-block into 256 floats, with the `gguf` package's
    /// arithmetic (`(d * sc) * q - dmin * m`).
    pub fn dequantize(&self, out: &mut [f32; QK_K]) {
        let (d, dmin) = (self.d.to_f32(), self.dmin.to_f32());
        for (k, o) in out.iter_mut().enumerate() {
            let (i, l) = (k / 32, k % 32);
            let sc = self.scales[k / 16];
            let dl = d * (sc & 0xF) as f32;
            let ml = dmin * (sc >> 4) as f32;
            *o = dl * self.q(i, l) as f32 - ml;
        }
    }
}
