//! Q8A: the activation side of every quantized dot product. An f32 row is
//! quantized once into these blocks, then dotted with each weight row.
//!
//! Unlike ggml (which pairs Q4_0/Q8_0 with `block_q8_0` and Q4_1 with
//! `block_q8_1`, f16 scales), one format serves all weight formats: an f32
//! scale (activations vary more than weights, and it costs nothing in the
//! kernel), the block's scaled sum, which Q4_1's minimum needs, and the
//! same sum as an exact integer, which the AVX512-VNNI products use to take
//! off the offsets of their unsigned weights.

use super::QK;

/// `x[i] ≈ d * qs[i]`; `sum = Σ qs[i]`, `s = d * sum`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ8A {
    /// Scale.
    pub d: f32,
    /// `d` times the sum of `qs`.
    pub s: f32,
    /// Quantized values, in [-127, 127].
    pub qs: [i8; QK],
    /// The sum of `qs`.
    pub sum: i32,
}
const _: () = assert!(std::mem::size_of::<BlockQ8A>() == 44);

impl BlockQ8A {
    /// A zeroed block, for preallocated buffers.
    pub const ZERO: BlockQ8A = BlockQ8A {
        d: 0.0,
        s: 0.0,
        qs: [0; QK],
        sum: 0,
    };
}

/// The scalar reference for activation quantization: per block,
/// `d = max|x| / 127` and `qs = round(x * (1 / d))` (half away from zero).
///
/// Finite input gives `qs` in [-127, 127], and every SIMD set reproduces
/// these blocks bit for bit. NaN or infinite input gives unspecified (but
/// memory-safe) blocks: the model's numbers are already lost then.
///
/// `dst.len()` must be `src.len() / 32`, and `src.len()` a multiple of 32.
pub fn quantize_act_row_scalar(src: &[f32], dst: &mut [BlockQ8A]) {
    assert_eq!(src.len(), dst.len() * QK, "activation row length");
    for (b, x) in dst.iter_mut().zip(src.chunks_exact(QK)) {
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        // A subnormal `d` (all |x| below ~1.5e-36) would make `1 / d`
        // overflow to infinity; such a block quantizes to zeros instead.
        let id = if d.is_normal() { 1.0 / d } else { 0.0 };
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(x) {
            *q = (v * id).round() as i8;
            sum += *q as i32;
        }
        b.d = d;
        b.s = d * sum as f32;
        b.sum = sum;
    }
}
