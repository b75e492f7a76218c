//! The element-wise and small ops of the forward pass. Matrix products live
//! in [`matmul`]; attention in [`attention`].

pub mod attention;
pub mod matmul;
pub mod mla;
pub mod moe;
pub mod rope;

/// `out = x / rms(x) * w`, with `rms(x) = sqrt(mean(x²) + eps)`
/// (Zhang & Sennrich 2019). Sums in f64 so long rows do not lose bits.
pub fn rmsnorm(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    debug_assert_eq!(x.len(), w.len());
    let scale = rms_scale(x, eps);
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(w) {
        *o = v * scale * g;
    }
}

/// [`rmsnorm`] of `x` into itself (same arithmetic).
pub fn rmsnorm_in_place(x: &mut [f32], w: &[f32], eps: f32) {
    let scale = rms_scale(x, eps);
    for (v, &g) in x.iter_mut().zip(w) {
        *v = *v * scale * g;
    }
}

/// `1 / sqrt(mean(x²) + eps)`, summed in f64 over eight partial sums (in
/// a fixed order): one running sum was a chain of dependent adds, 2,200
/// cycles for a 576-wide row, a tenth of decode's serial time.
fn rms_scale(x: &[f32], eps: f32) -> f32 {
    let mut acc = [0f64; 8];
    let chunks = x.chunks_exact(8);
    let tail: f64 = chunks
        .remainder()
        .iter()
        .map(|&v| v as f64 * v as f64)
        .sum();
    for c in chunks {
        for i in 0..8 {
            acc[i] += c[i] as f64 * c[i] as f64;
        }
    }
    let ss = acc.iter().sum::<f64>() + tail;
    (1.0 / ((ss / x.len() as f64) + eps as f64).sqrt()) as f32
}

/// Dot product with eight partial sums, so the compiler vectorises it
/// without reassociating (the same order on every thread count).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// In-place RMSNorm of each row of `x` (rows of `w.len()` values).
pub fn rmsnorm_rows(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    for (o, xr) in out.chunks_exact_mut(w.len()).zip(x.chunks_exact(w.len())) {
        rmsnorm(o, xr, w, eps);
    }
}

/// SwiGLU's gate: `g = silu(g) * u`, `silu(x) = x / (1 + e^-x)`.
pub fn silu_mul(g: &mut [f32], u: &[f32]) {
    for (a, &b) in g.iter_mut().zip(u) {
        *a = *a / (1.0 + exp(-*a)) * b;
    }
}

/// `e^x` within 2 ulp on normal results, written so that loops over it
/// vectorise (libm's `expf` is a call per element, and showed up at 4% of
/// prompt processing): `x = n ln 2 + r` with `|r| ≤ ln 2 / 2` (Cody–Waite,
/// two constants), `e^r` as `1 + r + r² P(r)` with Cephes'
/// degree-5 minimax `P`, times `2^n` built in the exponent bits.
/// Below `-87.3365` (ln of the smallest normal, where `e^x` leaves the normal range) it returns 0;
/// above `88.8`, infinity; NaN stays NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4; // ln 2 rounded to 11 bits: n · LN2_HI is exact
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and taking away 1.5 · 2^23 rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let xc = if x > 88.8 { 88.8 } else { x };
    let t = xc * LOG2E + ROUND;
    let n = t - ROUND;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    // e^r = 1 + r + r² P(r), P the minimax fit of Cephes' expf.
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let p = p * (r * r) + r + 1.0;
    // 2^n in two normal halves (n ∈ [-126, 128] here, and 2^128 is not an
    // f32): both products are exact but for the final rounding.
    // n is also in the low bits of `t` (read there: a float-to-int cast
    // would not vectorise); wrapping, as NaN gives garbage that `p` hides.
    let e = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let half = |k: i32| f32::from_bits((k.wrapping_add(127) as u32) << 23);
    let y = p * half(e >> 1) * half(e.wrapping_sub(e >> 1));
    if x < -87.336_54 {
        0.0
    } else {
        y
    }
}

/// `x += y`.
pub fn add(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// Adds `bias` to each row of `x`.
pub fn add_bias_rows(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        add(row, bias);
    }
}

/// In-place softmax, max-subtracted.
pub fn softmax(x: &mut [f32]) {
    let (_, sum) = exp_shifted(x);
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// Softmax without the division: `x ← e^(x - m)` with `m = max(x)`;
/// returns `(m, Σ x)`. Attention over blocks of keys normalises once,
/// after combining the blocks.
pub fn exp_shifted(x: &mut [f32]) -> (f32, f32) {
    // Eight running maxima and sums, so both loops vectorise; the order is
    // fixed by the length alone.
    let mut m = [f32::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    for v in chunks.remainder() {
        m[0] = m[0].max(*v);
    }
    for c in chunks {
        for i in 0..8 {
            m[i] = m[i].max(c[i]);
        }
    }
    let max = m.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in x.iter_mut() {
        *v = exp(*v - max);
    }
    let mut acc = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..8 {
            acc[i] += c[i];
        }
    }
    (max, acc.iter().sum::<f32>() + tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmsnorm_unit_weights_give_unit_rms() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let mut o = vec![0.0; 64];
        rmsnorm(&mut o, &x, &[1.0; 64], 0.0);
        let rms = (o.iter().map(|v| v * v).sum::<f32>() / 64.0).sqrt();
        assert!((rms - 1.0).abs() < 1e-5);
    }

    #[test]
    fn exp_is_within_two_ulp_of_libm() {
        // Every 97th f32 bit pattern of both signs, plus the edges.
        let mut worst = 0u32;
        let mut check = |x: f32| {
            let (got, want) = (exp(x), (x as f64).exp() as f32);
            if want.is_nan() {
                assert!(got.is_nan(), "exp({x})");
            } else if want == 0.0 || want < f32::MIN_POSITIVE {
                assert!(
                    got == 0.0 && x < -87.3 || got.to_bits().abs_diff(want.to_bits()) <= 2,
                    "exp({x}) = {got}"
                );
            } else if want.is_infinite() {
                assert!(got.is_infinite(), "exp({x}) = {got}");
            } else {
                let ulp = got.to_bits().abs_diff(want.to_bits());
                worst = worst.max(ulp);
                assert!(ulp <= 2, "exp({x}) = {got}, want {want} ({ulp} ulp)");
            }
        };
        for bits in (0..0x4300_0000u32).step_by(97) {
            check(f32::from_bits(bits));
            check(-f32::from_bits(bits));
        }
        for x in [
            0.0,
            -0.0,
            88.7,
            88.72,
            89.0,
            -87.3,
            -87.4,
            -1e30,
            1e30,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NAN,
        ] {
            check(x);
        }
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert!(worst <= 2);
    }

    #[test]
    fn softmax_sums_to_one_and_survives_large_inputs() {
        let mut x = [1000.0, 1001.0, 999.0, f32::NEG_INFINITY];
        softmax(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(x[3], 0.0);
        assert!(x[1] > x[0] && x[0] > x[2]);
    }
}
