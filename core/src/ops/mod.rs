//! The element-wise and small ops of the forward pass. Matrix products live
//! in [`matmul`]; attention in [`attention`].

pub mod attention;
pub mod ffn;
pub mod matmul;
pub mod mla;
pub mod moe;
pub mod qkv;
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

pub use minke_quant::math::exp;

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

/// In-place softmax, max-subtracted (the scalar
/// [`minke_quant::Kernels::exp_shifted`], then one division).
pub fn softmax(x: &mut [f32]) {
    let (_, sum) = minke_quant::kernels::scalar::exp_shifted(x);
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
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
    fn softmax_sums_to_one_and_survives_large_inputs() {
        let mut x = [1000.0, 1001.0, 999.0, f32::NEG_INFINITY];
        softmax(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(x[3], 0.0);
        assert!(x[1] > x[0] && x[0] > x[2]);
    }
}
