//! The interleaved formats (`q4_0x16`, `q4_1x16`, `q8_0x16`): exact
//! rearrangements of their row formats, and products that every kernel
//! table computes with the scalar kernel's bits, whatever the number of
//! tokens.

mod common;

use common::{data, scalar, simd_sets, Rng, KINDS};
use minke_quant::formats::x16::{deinterleave, interleave};
use minke_quant::formats::{dequantize_row, dequantize_row_of, quantize_row};
use minke_quant::{Act, BlockQ8A, DType, Kernels, QK};

const X16: [DType; 3] = [DType::Q4_0x16, DType::Q4_1x16, DType::Q8_0x16];

/// `rows` rows of `k` elements from pattern `kind` in `dtype`'s row
/// format, and their interleaved form.
fn matrix(rng: &mut Rng, dtype: DType, kind: usize, rows: usize, k: usize) -> (Vec<u8>, Vec<u8>) {
    let f = data(rng, kind, rows * k);
    let mut plain = vec![0u8; dtype.row_bytes(k).unwrap() * rows];
    quantize_row(dtype.plain(), &f, &mut plain);
    let mut x16 = vec![0u8; plain.len()];
    interleave(dtype, &plain, k, &mut x16);
    (plain, x16)
}

fn act_q8(x: &[f32]) -> Vec<BlockQ8A> {
    let mut q = vec![BlockQ8A::ZERO; x.len() / QK];
    (scalar().quantize_act)(x, &mut q);
    q
}

#[test]
fn interleaving_is_exact_and_rows_read_back() {
    let mut rng = Rng::new(11);
    for dtype in X16 {
        let row = dtype.plain();
        for (rows, nb) in [(16, 1), (16, 3), (48, 5), (32, 64)] {
            let k = nb * QK;
            let (plain, x16) = matrix(&mut rng, dtype, 0, rows, k);
            assert_ne!(plain, x16, "{dtype} rows={rows} nb={nb}: nothing moved");
            let mut back = vec![0u8; plain.len()];
            deinterleave(dtype, &x16, k, &mut back);
            assert_eq!(back, plain, "{dtype} rows={rows} nb={nb}");
            let rb = row.row_bytes(k).unwrap();
            for r in 0..rows {
                let mut want = vec![0f32; k];
                dequantize_row(row, &plain[r * rb..(r + 1) * rb], &mut want);
                let mut got = vec![f32::NAN; k];
                dequantize_row_of(dtype, &x16, r, &mut got);
                assert_eq!(got, want, "{dtype} row {r} of {rows}, nb={nb}");
                // The row formats read rows the same way.
                dequantize_row_of(row, &plain, r, &mut got);
                assert_eq!(got, want, "{row} row {r}");
            }
        }
    }
}

#[test]
#[should_panic(expected = "multiple of 16 rows")]
fn interleaving_needs_whole_groups() {
    let plain = vec![0u8; 20 * 8];
    let mut out = vec![0u8; plain.len()];
    interleave(DType::Q4_1x16, &plain, 32, &mut out);
}

#[test]
#[should_panic(expected = "whole groups of 16 rows")]
fn product_needs_whole_groups() {
    let w = vec![0u8; 34 * 8];
    let x = vec![BlockQ8A::ZERO; 1];
    let mut out = vec![0f32; 8];
    scalar().matvec(DType::Q8_0x16, &w, 32, Act::Q8(&x), &mut out);
}

/// Every table, every token count: the scalar kernel's bits; the product
/// of one token alone equals its column of a batch; and the result is the
/// Q4_0 product of the same weights up to float summation order.
#[test]
fn every_table_gives_the_scalar_bits() {
    let mut rng = Rng::new(12);
    let mut sets = simd_sets();
    sets.push(scalar());
    for dtype in X16 {
        let row = dtype.plain();
        // Plus long rows and batches: the AVX-512 kernel runs batches by
        // 128 tokens and each group by segments of 24 KiB (85 Q4_0 blocks).
        let mut cases: Vec<(usize, usize, usize)> = Vec::new();
        for (rows, nb) in [(16, 1), (32, 2), (16, 3), (48, 7), (16, 48), (32, 33)] {
            for n in [1, 2, 3, 4, 5, 7, 8, 9, 12, 17, 33, 40] {
                cases.push((rows, nb, n));
            }
        }
        cases.extend([(16, 130, 131), (32, 180, 9), (16, 90, 1)]);
        for (rows, nb, n) in cases {
            let k = nb * QK;
            let kind = rng.below(KINDS);
            let (plain, w) = matrix(&mut rng, dtype, kind, rows, k);
            let xf: Vec<f32> = (0..n * k).map(|_| rng.normal()).collect();
            let xq = act_q8(&xf);
            let mut want = vec![0f32; rows * n];
            scalar().matmul(dtype, &w, k, Act::Q8(&xq), n, &mut want);
            let mut by_rows = vec![0f32; rows * n];
            scalar().matmul(row, &plain, k, Act::Q8(&xq), n, &mut by_rows);
            for s in &sets {
                let what = format!("{} {dtype} rows={rows} k={k} n={n}", s.name);
                let mut got = vec![f32::NAN; rows * n];
                s.matmul(dtype, &w, k, Act::Q8(&xq), n, &mut got);
                for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(g.to_bits(), e.to_bits(), "{what} at {i}: {g} vs {e}");
                }
                // Token-major into columns 5.. of a wider output: the same
                // bits, and nothing outside those columns touched.
                let ld = rows + 7;
                let mut wide = vec![-1.5f32; n * ld];
                // SAFETY: `wide` holds `n * ld` floats; columns 5..5 + rows
                // of each token lie inside it.
                unsafe {
                    s.matmul_tokens(dtype, &w, k, &xq, n, wide[5..].as_mut_ptr(), ld);
                }
                for (i, v) in wide.iter().enumerate() {
                    let (t, c) = (i / ld, i % ld);
                    let e = if (5..5 + rows).contains(&c) {
                        want[(c - 5) * n + t]
                    } else {
                        -1.5
                    };
                    assert_eq!(v.to_bits(), e.to_bits(), "{what}: token-major ({t},{c})");
                }
                let t = n - 1;
                let mut one = vec![f32::NAN; rows];
                s.matvec(dtype, &w, k, Act::Q8(&xq[t * nb..]), &mut one);
                for r in 0..rows {
                    assert_eq!(
                        one[r].to_bits(),
                        got[r * n + t].to_bits(),
                        "{what}: token {t} alone, row {r}"
                    );
                }
            }
            // Against the row format's own kernel: both round only
            // their float sums, so they agree within twice the
            // recursive-summation bound 2 (nb + 8) ε Σ |w_i x_i|
            // (Q4_1's minimum counted as one more term per block).
            let rb = row.row_bytes(k).unwrap();
            let mut wr = vec![0f32; k];
            for r in 0..rows {
                dequantize_row(row, &plain[r * rb..(r + 1) * rb], &mut wr);
                for t in 0..n {
                    let m: f64 = xq[t * nb..(t + 1) * nb]
                        .iter()
                        .flat_map(|b| b.qs.iter().map(move |&q| q as f64 * b.d as f64))
                        .zip(&wr)
                        .map(|(x, w)| (x * *w as f64).abs())
                        .sum();
                    let tol = 4.0 * (2.0 * nb as f64 + 8.0) * f32::EPSILON as f64 * m;
                    let (a, b) = (want[r * n + t], by_rows[r * n + t]);
                    assert!(
                            ((a - b) as f64).abs() <= tol,
                            "{dtype} rows={rows} k={k} n={n} at ({r},{t}): {a} vs {row} {b}, bound {tol:e}"
                        );
                }
            }
        }
    }
}

#[test]
#[should_panic(expected = "no token-major product")]
fn token_major_products_are_for_interleaved_formats() {
    let w = vec![0u8; 18 * 16];
    let x = vec![BlockQ8A::ZERO; 1];
    let mut out = vec![0f32; 16];
    // SAFETY: 16 floats for 16 rows of one token (never reached).
    unsafe { scalar().matmul_tokens(DType::Q4_0, &w, 32, &x, 1, out.as_mut_ptr(), 16) };
}

#[test]
#[should_panic(expected = "within 15 columns")]
fn token_major_products_stay_in_their_columns() {
    let w = vec![0u8; 18 * 16];
    let x = vec![BlockQ8A::ZERO; 1];
    let mut out = vec![0f32; 16];
    // SAFETY: never reached: 16 rows do not fit 15 columns.
    unsafe { scalar().matmul_tokens(DType::Q4_0x16, &w, 32, &x, 1, out.as_mut_ptr(), 15) };
}

#[test]
fn every_table_handles_empty_rows() {
    for s in simd_sets().into_iter().chain([scalar() as &Kernels]) {
        for dtype in X16 {
            let mut out = [1.0f32; 32];
            s.matmul(dtype, &[], 0, Act::Q8(&[]), 2, &mut out);
            assert_eq!(out, [0.0; 32], "{} {dtype}", s.name);
        }
    }
}
