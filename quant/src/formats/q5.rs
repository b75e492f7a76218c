//! Q5_0 and Q5_1: 32 five-bit values, the low four bits packed as in Q4_0
//! and the fifth bits in one little-endian `u32` (ggml's `block_q5_0`, 22
//! bytes, and `block_q5_1`, 24 bytes). Q5_0 has an implicit offset of 16
//! and a scale; Q5_1 a scale and a minimum.

use super::QK;
use half::f16;

/// `x[j] = d * (q_j - 16)` with `q_j = (qs[j] & 0xF) | bit j of qh << 4`
/// and `q_{j+16} = (qs[j] >> 4) | bit (j + 16) of qh << 4`, `j < 16`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ5_0 {
    /// Scale.
    pub d: f16,
    /// The fifth bit of each value, bit `j` for element `j` (little-endian).
    pub qh: [u8; 4],
    /// Packed low nibbles, first half of the block in the low nibbles.
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_0>() == 22);

/// `x[j] = d * q_j + m`, `q_j` as in [`BlockQ5_0`] without the offset.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ5_1 {
    /// Scale.
    pub d: f16,
    /// Minimum (the value of `q = 0`).
    pub m: f16,
    /// The fifth bits, as in [`BlockQ5_0`].
    pub qh: [u8; 4],
    /// Packed low nibbles.
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_1>() == 24);

/// The 5-bit values `0..=31` of a block, in element order.
fn unpack(qh: [u8; 4], qs: &[u8; QK / 2]) -> [u8; QK] {
    let h = u32::from_le_bytes(qh);
    std::array::from_fn(|i| {
        let lo = if i < QK / 2 {
            qs[i] & 0xF
        } else {
            qs[i - QK / 2] >> 4
        };
        lo | (((h >> i) & 1) as u8) << 4
    })
}

/// Packs 5-bit values into `(qh, qs)`.
fn pack(q: &[u8; QK]) -> ([u8; 4], [u8; QK / 2]) {
    let mut h = 0u32;
    for (i, &v) in q.iter().enumerate() {
        h |= ((v >> 4) as u32 & 1) << i;
    }
    let qs = std::array::from_fn(|j| (q[j] & 0xF) | (q[j + QK / 2] & 0xF) << 4);
    (h.to_le_bytes(), qs)
}

impl BlockQ5_0 {
    /// ggml's `quantize_row_q5_0_ref`: the value of largest magnitude maps
    /// to -16 (`d = max / -16`); values truncate after `+ 16.5`.
    pub fn quantize(x: &[f32; QK]) -> Self {
        let d = super::signed_absmax(x) / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let q = x.map(|v| ((v * id + 16.5) as i32).clamp(0, 31) as u8);
        let (qh, qs) = pack(&q);
        BlockQ5_0 {
            d: f16::from_f32(d),
            qh,
            qs,
        }
    }

    /// Expands the block into 32 floats.
    pub fn dequantize(&self, out: &mut [f32; QK]) {
        let d = self.d.to_f32();
        for (o, q) in out.iter_mut().zip(unpack(self.qh, &self.qs)) {
            *o = d * (q as i8 - 16) as f32;
        }
    }
}

impl BlockQ5_1 {
    /// ggml's `quantize_row_q5_1_ref`: `d = (max - min) / 31`, `m = min`,
    /// values truncate after `+ 0.5`.
    pub fn quantize(x: &[f32; QK]) -> Self {
        let (min, max) = super::min_max(x);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let q = x.map(|v| (((v - min) * id + 0.5) as i32).clamp(0, 31) as u8);
        let (qh, qs) = pack(&q);
        BlockQ5_1 {
            d: f16::from_f32(d),
            m: f16::from_f32(min),
            qh,
            qs,
        }
    }

    /// Expands the block into 32 floats.
    pub fn dequantize(&self, out: &mut [f32; QK]) {
        let d = self.d.to_f32();
        let m = self.m.to_f32();
        for (o, q) in out.iter_mut().zip(unpack(self.qh, &self.qs)) {
            *o = d * q as f32 + m;
        }
    }
}
