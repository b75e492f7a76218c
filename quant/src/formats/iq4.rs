//! IQ4_NL and IQ4_XS: four-bit indices into one fixed, non-uniform table of
//! 16 int8 levels ([`KVALUES_IQ4NL`]), denser near zero where weights are.
//! IQ4_NL has 32-value blocks with an f16 scale (ggml's `block_iq4_nl`, 18
//! bytes); IQ4_XS has 256-value super-blocks of eight 32-value sub-blocks,
//! each with a 6-bit scale under one f16 (`block_iq4_xs`, 136 bytes).

use super::{QK, QK_K};
use half::f16;

/// The 16 levels both formats index (ggml's `kvalues_iq4nl`).
pub const KVALUES_IQ4NL: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// `x[j] = d * K[qs[j] & 0xF]`, `x[j + 16] = d * K[qs[j] >> 4]`, `j < 16`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockIq4Nl {
    /// Scale.
    pub d: f16,
    /// Packed indices, first half of the block in the low nibbles.
    pub qs: [u8; QK / 2],
}
const _: () = assert!(std::mem::size_of::<BlockIq4Nl>() == 18);

/// Sub-block `ib < 8` (values `32 ib..32 ib + 32`) is an IQ4_NL block with
/// scale `d * (ls_ib - 32)`, where the 6-bit `ls_ib` has its low four bits
/// in nibble `ib % 2` of `scales_l[ib / 2]` and its high two in bits
/// `2 ib..2 ib + 2` of `scales_h`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockIq4Xs {
    /// Super-block scale.
    pub d: f16,
    /// High bits of the sub-block scales, little-endian.
    pub scales_h: [u8; 2],
    /// Low bits of the sub-block scales.
    pub scales_l: [u8; QK_K / 64],
    /// Packed indices, 16 bytes a sub-block, laid out as IQ4_NL's.
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockIq4Xs>() == 136);

impl BlockIq4Nl {
    /// Expands the block into 32 floats.
    pub fn dequantize(&self, out: &mut [f32; QK]) {
        expand(self.d.to_f32(), &self.qs, out);
    }
}

impl BlockIq4Xs {
    /// Sub-block `ib`'s signed scale `ls - 32`, in -32..=31.
    pub fn scale(&self, ib: usize) -> i32 {
        xs_scale(self.scales_h, self.scales_l, ib)
    }

    /// Expands the super-block into 256 floats.
    pub fn dequantize(&self, out: &mut [f32; QK_K]) {
        let d = self.d.to_f32();
        for (ib, o) in out.chunks_exact_mut(QK).enumerate() {
            let dl = d * self.scale(ib) as f32;
            let qs = self.qs[16 * ib..16 * ib + 16].try_into().unwrap();
            expand(dl, qs, o.try_into().unwrap());
        }
    }
}

/// `out = d * K[index]` for one 32-value block of packed indices.
fn expand(d: f32, qs: &[u8; QK / 2], out: &mut [f32; QK]) {
    for (j, &q) in qs.iter().enumerate() {
        out[j] = d * KVALUES_IQ4NL[(q & 0xF) as usize] as f32;
        out[j + QK / 2] = d * KVALUES_IQ4NL[(q >> 4) as usize] as f32;
    }
}

/// Sub-block `ib < 8`'s signed scale from an IQ4_XS block's scale fields.
pub fn xs_scale(scales_h: [u8; 2], scales_l: [u8; 4], ib: usize) -> i32 {
    let lo = (scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
    let hi = (u16::from_le_bytes(scales_h) >> (2 * ib)) & 3;
    (lo as i32 | (hi as i32) << 4) - 32
}
