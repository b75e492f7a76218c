//! Q4_K and Q5_K: 256-value super-blocks of eight 32-value chunks, each
//! with a 6-bit scale and a 6-bit minimum under the f16 `d` and `dmin`;
//! 4-bit values (ggml's `block_q4_K`, 144 bytes, 4.5 bits a value), or
//! 5-bit with the fifth bits in a mask (`block_q5_K`, 176 bytes, 5.5 bits).

use super::QK_K;
use half::f16;

/// Value `32 i + l` (`i < 8`, `l < 32`) is `q = qs[32 (i / 2) + l]`'s low
/// nibble for even `i`, high nibble for odd `i`;
/// `x = d * sc_i * q - dmin * m_i` ([`scale_min`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ4K {
    /// Scale of the scales.
    pub d: f16,
    /// Scale of the minimums.
    pub dmin: f16,
    /// Eight 6-bit scales and eight 6-bit minimums ([`scale_min`]).
    pub scales: [u8; 12],
    /// Packed nibbles: 32 bytes a pair of chunks.
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4K>() == 144);

/// As [`BlockQ4K`], plus bit `i` of `qh[l]` as the fifth bit (value 16) of
/// value `32 i + l`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ5K {
    /// Scale of the scales.
    pub d: f16,
    /// Scale of the minimums.
    pub dmin: f16,
    /// Eight 6-bit scales and minimums ([`scale_min`]).
    pub scales: [u8; 12],
    /// The fifth bits.
    pub qh: [u8; QK_K / 8],
    /// Packed low nibbles, as Q4_K's.
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5K>() == 176);

/// Chunk `i < 8`'s 6-bit scale and minimum from the 12 packed bytes
/// (ggml's `get_scale_min_k4`): chunks 0-3 have theirs in the low six bits
/// of bytes `i` and `i + 4`; chunks 4-7 take a nibble of byte `i + 4` and
/// the top two bits of bytes `i - 4` and `i`.
pub fn scale_min(scales: &[u8; 12], i: usize) -> (u8, u8) {
    if i < 4 {
        (scales[i] & 63, scales[i + 4] & 63)
    } else {
        (
            (scales[i + 4] & 0xF) | ((scales[i - 4] >> 6) << 4),
            (scales[i + 4] >> 4) | ((scales[i] >> 6) << 4),
        )
    }
}

/// The low four bits of value `l < 32` of chunk `i < 8`.
fn nibble(qs: &[u8; QK_K / 2], i: usize, l: usize) -> u8 {
    (qs[32 * (i / 2) + l] >> (4 * (i % 2))) & 0xF
}

/// `out = (d * sc) * q - dmin * m` chunk by chunk, as the `gguf` package
/// computes it.
fn expand(
    d: f16,
    dmin: f16,
    scales: &[u8; 12],
    q: impl Fn(usize, usize) -> u8,
    out: &mut [f32; QK_K],
) {
    let (d, dmin) = (d.to_f32(), dmin.to_f32());
    for (i, o) in out.chunks_exact_mut(32).enumerate() {
        let (sc, m) = scale_min(scales, i);
        let (dl, ml) = (d * sc as f32, dmin * m as f32);
        for (l, v) in o.iter_mut().enumerate() {
            *v = dl * q(i, l) as f32 - ml;
        }
    }
}

impl BlockQ4K {
    /// The 4-bit value `l < 32` of chunk `i < 8`.
    pub fn q(&self, i: usize, l: usize) -> u8 {
        nibble(&self.qs, i, l)
    }

    /// Expands the super-block into 256 floats.
    pub fn dequantize(&self, out: &mut [f32; QK_K]) {
        expand(self.d, self.dmin, &self.scales, |i, l| self.q(i, l), out);
    }
}

impl BlockQ5K {
    /// The 5-bit value `l < 32` of chunk `i < 8`.
    pub fn q(&self, i: usize, l: usize) -> u8 {
        nibble(&self.qs, i, l) | ((self.qh[l] >> i) & 1) << 4
    }

    /// Expands the super-block into 256 floats.
    pub fn dequantize(&self, out: &mut [f32; QK_K]) {
        expand(self.d, self.dmin, &self.scales, |i, l| self.q(i, l), out);
    }
}
