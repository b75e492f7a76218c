//! Q8_0: 32 signed bytes and one f16 scale (ggml's `block_q8_0`, 34 bytes).

use super::QK;
use half::f16;

/// `x[i] = d * qs[i]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BlockQ8_0 {
    /// Scale, f16 little-endian.
    pub d: f16,
    /// Quantized values.
    pub qs: [i8; QK],
}
const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34);
const _: () = assert!(std::mem::align_of::<BlockQ8_0>() == 2);

impl BlockQ8_0 {
    /// Round-to-nearest with the scale `d = max|x| / 127`, as ggml's
    /// `quantize_row_q8_0_ref`: the largest magnitude maps to ±127 exactly.
    ///
    /// Halves round away from zero, as `f32::round`, but as `trunc(v +
    /// copysign(0.5 - 2^-25, v))`, the saturating cast truncating: on
    /// x86-64's baseline `round` is a call into libm per value, and the KV
    /// cache quantizes every key and value it stores. The constant is the
    /// float just below a half, so a value just below a half never rounds
    /// up, and an exact half still does (the sum rounds up to the next
    /// integer); the casts saturate alike (±∞ → ±127, NaN → 0).
    pub fn quantize(x: &[f32; QK]) -> Self {
        let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let half = f32::from_bits(0x3EFF_FFFF);
        let mut qs = [0i8; QK];
        for (q, &v) in qs.iter_mut().zip(x) {
            let v = v * id;
            *q = (v + half.copysign(v)) as i8;
        }
        BlockQ8_0 {
            d: f16::from_f32(d),
            qs,
        }
    }

    /// Expands the block into 32 floats.
    pub fn dequantize(&self, out: &mut [f32; QK]) {
        let d = self.d.to_f32();
        for (o, &q) in out.iter_mut().zip(&self.qs) {
            *o = q as f32 * d;
        }
    }
}

#[cfg(test)]
mod tests {
    /// The rounding equals `f32::round` then the saturating cast: on the
    /// 129 floats around each multiple of a half from 0.5 to 200, both
    /// signs, and on the specials.
    #[test]
    fn rounding_is_round_half_away() {
        let half = f32::from_bits(0x3EFF_FFFF);
        let fast = |v: f32| (v + half.copysign(v)) as i8;
        for k in 1..=400u32 {
            let centre = (k as f32 * 0.5).to_bits();
            for bits in centre - 64..=centre + 64 {
                for v in [f32::from_bits(bits), -f32::from_bits(bits)] {
                    assert_eq!(fast(v), v.round() as i8, "{v:e}");
                }
            }
        }
        for v in [
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1e30,
            -1e30,
            1e-40,
        ] {
            assert_eq!(fast(v), v.round() as i8, "{v:e}");
        }
    }
}
