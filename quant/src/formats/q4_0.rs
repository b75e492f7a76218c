//! Q4_0: 32 four-bit values with an implicit offset of 8 and one f16 scale
//! (ggml's `block_q4_0`, 18 bytes).

use super::QK;
use half::f16;

/// `x[j] = d * ((qs[j] & 0xF) - 8)` and `x[j + 16] = d * ((qs[j] >> 4) - 8)`
/// for `j < 16`: the low nibbles hold the first half of the block.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ4_0 {
    /// Scale, f16 little-endian.
    pub d: f16,
    /// Packed nibbles.
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 18);

impl BlockQ4_0 {
    /// ggml's `quantize_row_q4_0_ref`: the value of largest magnitude, with
    /// its sign, maps to -8 (`d = max / -8`), so it is exact and the other
    /// side of zero gets the range up to +7; values truncate after `+ 8.5`,
    /// which rounds to nearest.
    pub fn quantize(x: &[f32; QK]) -> Self {
        let d = super::signed_absmax(x) / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut qs = [0u8; QK / 2];
        for (j, q) in qs.iter_mut().enumerate() {
            let x0 = ((x[j] * id + 8.5) as i32).clamp(0, 15) as u8;
            let x1 = ((x[j + QK / 2] * id + 8.5) as i32).clamp(0, 15) as u8;
            *q = x0 | (x1 << 4);
        }
        BlockQ4_0 {
            d: f16::from_f32(d),
            qs,
        }
    }

    /// Expands the block into 32 floats.
    pub fn dequantize(&self, out: &mut [f32; QK]) {
        let d = self.d.to_f32();
        for (j, &q) in self.qs.iter().enumerate() {
            out[j] = ((q & 0xF) as i32 - 8) as f32 * d;
            out[j + QK / 2] = ((q >> 4) as i32 - 8) as f32 * d;
        }
    }
}
