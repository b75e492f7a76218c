//! Q4_1: 32 four-bit values with an f16 scale and an f16 minimum (ggml's
//! `block_q4_1`, 20 bytes).

use super::QK;
use half::f16;

/// `x[j] = d * (qs[j] & 0xF) + m` and `x[j + 16] = d * (qs[j] >> 4) + m`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ4_1 {
    /// Scale, f16 little-endian.
    pub d: f16,
    /// Minimum (the value of nibble 0), f16 little-endian.
    pub m: f16,
    /// Packed nibbles, low nibbles first half.
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20);

impl BlockQ4_1 {
    /// ggml's `quantize_row_q4_1_ref`: `d = (max - min) / 15`, `m = min`,
    /// nibbles truncate after `+ 0.5` (round to nearest).
    pub fn quantize(x: &[f32; QK]) -> Self {
        let (min, max) = super::min_max(x);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut qs = [0u8; QK / 2];
        for (j, q) in qs.iter_mut().enumerate() {
            let x0 = (((x[j] - min) * id + 0.5) as i32).clamp(0, 15) as u8;
            let x1 = (((x[j + QK / 2] - min) * id + 0.5) as i32).clamp(0, 15) as u8;
            *q = x0 | (x1 << 4);
        }
        BlockQ4_1 {
            d: f16::from_f32(d),
            m: f16::from_f32(min),
            qs,
        }
    }

    /// Expands the block into 32 floats.
    pub fn dequantize(&self, out: &mut [f32; QK]) {
        let d = self.d.to_f32();
        let m = self.m.to_f32();
        for (j, &q) in self.qs.iter().enumerate() {
            out[j] = (q & 0xF) as f32 * d + m;
            out[j + QK / 2] = (q >> 4) as f32 * d + m;
        }
    }
}
