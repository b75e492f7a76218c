//! Quantization round trips, in the style of ggml's `test-quantize-fns`:
//! data `0.1 + 2 cos(i + offset)`, 4096 values.
//!
//! - Reference error: the quantized row dequantized again, against the
//!   input. ggml's measure is `sqrt(Σ d²) / n` (RMS over √n); we check it
//!   against ggml's threshold 0.002, and also bound the plain RMS error,
//!   which a reader can interpret: a uniform rounding error of one step `q`
//!   has RMS `q / √12`; Q4_0's step is max|x| / 8 = 2.1 / 8 (→ 0.076), Q4_1's
//!   (max - min) / 15 = 4.2 / 15 (→ 0.081 at worst), Q8_0's 2.1 / 127
//!   (→ 0.0048). The bounds sit just above these.
//! - Dot error: the quantized dot product (weights in the format,
//!   activations through `quantize_act`) against the f32 dot of the inputs,
//!   `|Δ| / n` below ggml's 0.02, for every kernel set.
//! - f16/bf16 rows: their rounding error, under bounds of half an ulp.

mod common;

use minke_quant::formats::{dequantize_row, quantize_row};
use minke_quant::{Act, BlockQ8A, DType, Kernels, QK};

const N: usize = 32 * 128;

fn ggml_data(offset: f32) -> Vec<f32> {
    (0..N)
        .map(|i| 0.1 + 2.0 * (i as f32 + offset).cos())
        .collect()
}

fn roundtrip(dtype: DType, x: &[f32]) -> Vec<f32> {
    let mut q = vec![0u8; dtype.row_bytes(x.len()).unwrap()];
    quantize_row(dtype, x, &mut q);
    let mut y = vec![0f32; x.len()];
    dequantize_row(dtype, &q, &mut y);
    y
}

fn sum_sq(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum()
}

/// `(format, plain RMS bound, ggml sqrt(Σd²)/n bound)`.
const BOUNDS: [(DType, f64, f64); 7] = [
    (DType::Q4_0, 0.080, 0.002),
    (DType::Q4_1, 0.080, 0.002),
    (DType::Q5_0, 0.040, 0.001),
    (DType::Q5_1, 0.040, 0.001),
    (DType::Q8_0, 0.0060, 0.002),
    (DType::F16, 0.0005, 0.0001),
    (DType::BF16, 0.0040, 0.0001),
];

#[test]
fn reference_error_within_bounds() {
    let x = ggml_data(0.0);
    for (dtype, rms_max, ggml_max) in BOUNDS {
        let y = roundtrip(dtype, &x);
        let ss = sum_sq(&x, &y);
        let rms = (ss / N as f64).sqrt();
        let ggml = ss.sqrt() / N as f64;
        eprintln!(
            "{dtype}: rms {rms:.5} (bound {rms_max}), ggml measure {ggml:.6} (bound {ggml_max})"
        );
        assert!(rms <= rms_max, "{dtype} RMS error {rms} > {rms_max}");
        assert!(ggml <= ggml_max, "{dtype} ggml error {ggml} > {ggml_max}");
    }
}

#[test]
fn dot_error_within_bounds() {
    let w = ggml_data(0.0);
    let x = ggml_data(1.0);
    let exact: f64 = w.iter().zip(&x).map(|(a, b)| *a as f64 * *b as f64).sum();
    for k in Kernels::available() {
        let mut xq = vec![BlockQ8A::ZERO; N / QK];
        (k.quantize_act)(&x, &mut xq);
        // Interleaved formats have no rows: see tests/x16.rs.
        for dtype in DType::ALL
            .into_iter()
            .filter(|d| d.row_group() == 1 && d.can_quantize())
        {
            let mut wq = vec![0u8; dtype.row_bytes(N).unwrap()];
            quantize_row(dtype, &w, &mut wq);
            let act = if dtype.is_quantized() {
                Act::Q8(&xq)
            } else {
                Act::F32(&x)
            };
            let mut out = [0f32];
            k.matvec(dtype, &wq, N, act, &mut out);
            let err = (out[0] as f64 - exact).abs() / N as f64;
            assert!(
                err < 0.02,
                "{} {dtype}: dot error {err} (|Δ|/n) >= 0.02",
                k.name
            );
            if !dtype.is_quantized() {
                // Float rows only round the weights: far tighter.
                assert!(err < 2e-4, "{} {dtype}: dot error {err} >= 2e-4", k.name);
            }
        }
    }
}

/// A Q8A activation row dequantizes within half a step of its input, and
/// its `s` is `d · Σ qs`.
#[test]
fn activation_blocks_are_consistent() {
    let x = ggml_data(0.5);
    let mut q = vec![BlockQ8A::ZERO; N / QK];
    minke_quant::formats::quantize_act_row_scalar(&x, &mut q);
    for (b, xb) in q.iter().zip(x.chunks_exact(QK)) {
        let sum: i32 = b.qs.iter().map(|&v| v as i32).sum();
        assert_eq!(b.s, b.d * sum as f32);
        for (&v, &xv) in b.qs.iter().zip(xb) {
            assert!((v as f32 * b.d - xv).abs() <= 0.5 * b.d * 1.0001 + 1e-7);
        }
    }
}
