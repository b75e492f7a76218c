//! Attention kernels of every available table (over f16 and Q8_0 caches)
//! against the scalar twins, on head sizes that exercise full and masked
//! chunks, and the promise that a score or output value does not depend on
//! how many query rows a call got.

use half::f16;
use minke_quant::{BlockQ8_0, Kernels, KvRows, KvRowsQ8, QK};

fn data(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| 0.1 + 2.0 * ((i + seed) as f32 * 0.37).cos())
        .collect()
}

#[test]
fn scores_and_values_match_scalar_and_ignore_the_query_count() {
    let scalar = Kernels::for_isa(minke_quant::Isa::Scalar).unwrap();
    for kern in Kernels::available() {
        for d in [1, 16, 24, 64, 80, 128, 192, 300] {
            for len in [1, 7, 33, 50] {
                let stride = d * 3 + 5;
                let kv: Vec<f16> = data(len * stride, d)
                    .into_iter()
                    .map(f16::from_f32)
                    .collect();
                let rows = KvRows {
                    data: &kv,
                    stride,
                    len,
                    d,
                };
                let nq = 5;
                let q = data(nq * d, 7);
                let os = len + 2;
                let (mut want, mut got) = (vec![0f32; nq * os], vec![0f32; nq * os]);
                (scalar.attn_scores_f16)(&q, rows, 0.125, &mut want, os);
                (kern.attn_scores_f16)(&q, rows, 0.125, &mut got, os);
                for (a, b) in want.iter().zip(&got) {
                    assert!(
                        (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
                        "{} d={d}",
                        kern.name
                    );
                }
                // One query row at a time gives the same bits.
                for i in 0..nq {
                    let mut one = vec![0f32; len];
                    (kern.attn_scores_f16)(&q[i * d..(i + 1) * d], rows, 0.125, &mut one, os);
                    assert_eq!(one, got[i * os..i * os + len], "{} d={d}", kern.name);
                }
                // Nor on how many keys: a shorter context gives the same
                // bits for the keys it has (keys go 16 at a time, the rest
                // one by one).
                for short in [len / 2, len.saturating_sub(16), len - 1] {
                    let part = KvRows { len: short, ..rows };
                    let mut p = vec![0f32; nq * os];
                    (kern.attn_scores_f16)(&q, part, 0.125, &mut p, os);
                    for i in 0..nq {
                        assert_eq!(
                            p[i * os..i * os + short],
                            got[i * os..i * os + short],
                            "{} d={d} {short} of {len} keys",
                            kern.name
                        );
                    }
                }
                let p = data(nq * os, 3);
                let (mut want, mut got) = (vec![0f32; nq * d], vec![1f32; nq * d]);
                (scalar.attn_values_f16)(&p, os, rows, &mut want);
                (kern.attn_values_f16)(&p, os, rows, &mut got);
                for (a, b) in want.iter().zip(&got) {
                    assert!(
                        (a - b).abs() <= 1e-4 * (1.0 + a.abs()),
                        "{} d={d}",
                        kern.name
                    );
                }
                for i in 0..nq {
                    let mut one = vec![0f32; d];
                    (kern.attn_values_f16)(&p[i * os..], os, rows, &mut one);
                    assert_eq!(one, got[i * d..(i + 1) * d], "{} d={d}", kern.name);
                }
            }
        }
    }
}

/// `rows` rows of `d` values from `x` (`d` apart) as Q8_0 blocks, `stride`
/// blocks apart (at least `d.div_ceil(32)`), a last partial block padded
/// with zeros; and the values the blocks hold, dequantized.
fn q8_rows(x: &[f32], rows: usize, d: usize, stride: usize) -> (Vec<BlockQ8_0>, Vec<f32>) {
    let nb = d.div_ceil(QK);
    let mut blocks = vec![BlockQ8_0::quantize(&[0.0; QK]); rows * stride];
    let mut held = vec![0f32; rows * d];
    for j in 0..rows {
        for b in 0..nb {
            let mut v = [0f32; QK];
            let n = (d - b * QK).min(QK);
            v[..n].copy_from_slice(&x[j * d + b * QK..j * d + b * QK + n]);
            let blk = BlockQ8_0::quantize(&v);
            let mut back = [0f32; QK];
            blk.dequantize(&mut back);
            held[j * d + b * QK..j * d + b * QK + n].copy_from_slice(&back[..n]);
            blocks[j * stride + b] = blk;
        }
    }
    (blocks, held)
}

/// Higham's `γ_n = n u / (1 - n u)`: a sum of `n` f32 products in any
/// order is within `γ_n Σ |terms|` of the exact sum, so two orders are
/// within twice that of each other.
fn gamma(n: usize) -> f64 {
    let u = f32::EPSILON as f64 / 2.0;
    let nu = (n + 1) as f64 * u;
    nu / (1.0 - nu)
}

#[test]
fn q8_0_scores_and_values_match_scalar_and_ignore_the_query_count() {
    let scalar = Kernels::for_isa(minke_quant::Isa::Scalar).unwrap();
    for kern in Kernels::available() {
        for d in [1usize, 8, 16, 24, 32, 40, 64, 80, 128, 192, 300, 576] {
            for len in [1, 7, 33, 50] {
                let stride = d.div_ceil(QK) * 2 + 1;
                let (kv, held) = q8_rows(&data(len * d, d), len, d, stride);
                let rows = KvRowsQ8 {
                    data: &kv,
                    stride,
                    len,
                    d,
                };
                // 13: passes of 6, 6 and 1 queries where a set takes 6.
                let nq = 13;
                let q = data(nq * d, 7);
                let os = len + 2;
                let (mut want, mut got) = (vec![0f32; nq * os], vec![0f32; nq * os]);
                (scalar.attn_scores_q8_0)(&q, rows, 0.125, &mut want, os);
                (kern.attn_scores_q8_0)(&q, rows, 0.125, &mut got, os);
                for i in 0..nq {
                    for j in 0..len {
                        // The scalar kernel against the dequantized keys in
                        // f64, and the SIMD one against the scalar.
                        let terms = q[i * d..(i + 1) * d]
                            .iter()
                            .zip(&held[j * d..(j + 1) * d])
                            .map(|(&a, &b)| a as f64 * b as f64);
                        let exact = 0.125 * terms.clone().sum::<f64>();
                        let bound = 0.125 * 2.0 * gamma(d) * terms.map(f64::abs).sum::<f64>();
                        let (w, g) = (want[i * os + j], got[i * os + j]);
                        assert!(
                            (w as f64 - exact).abs() <= bound,
                            "scalar d={d} {w} {exact}"
                        );
                        assert!(
                            (w as f64 - g as f64).abs() <= 2.0 * bound,
                            "{} d={d} len={len}: {w} vs {g}",
                            kern.name
                        );
                    }
                }
                for i in 0..nq {
                    let mut one = vec![0f32; len];
                    (kern.attn_scores_q8_0)(&q[i * d..(i + 1) * d], rows, 0.125, &mut one, os);
                    assert_eq!(one, got[i * os..i * os + len], "{} d={d}", kern.name);
                }
                for short in [len / 2, len.saturating_sub(4), len - 1] {
                    let part = KvRowsQ8 { len: short, ..rows };
                    let mut p = vec![0f32; nq * os];
                    (kern.attn_scores_q8_0)(&q, part, 0.125, &mut p, os);
                    for i in 0..nq {
                        assert_eq!(
                            p[i * os..i * os + short],
                            got[i * os..i * os + short],
                            "{} d={d} {short} of {len} keys",
                            kern.name
                        );
                    }
                }
                let p = data(nq * os, 3);
                let (mut want, mut got) = (vec![0f32; nq * d], vec![1f32; nq * d]);
                (scalar.attn_values_q8_0)(&p, os, rows, &mut want);
                (kern.attn_values_q8_0)(&p, os, rows, &mut got);
                for i in 0..nq {
                    for c in 0..d {
                        let terms = (0..len).map(|j| p[i * os + j] as f64 * held[j * d + c] as f64);
                        let exact = terms.clone().sum::<f64>();
                        let bound = 2.0 * gamma(len) * terms.map(f64::abs).sum::<f64>();
                        let (w, g) = (want[i * d + c], got[i * d + c]);
                        assert!((w as f64 - exact).abs() <= bound, "scalar d={d}");
                        assert!(
                            (w as f64 - g as f64).abs() <= 2.0 * bound,
                            "{} d={d} len={len}: {w} vs {g}",
                            kern.name
                        );
                    }
                }
                for i in 0..nq {
                    let mut one = vec![0f32; d];
                    (kern.attn_values_q8_0)(&p[i * os..], os, rows, &mut one);
                    assert_eq!(one, got[i * d..(i + 1) * d], "{} d={d}", kern.name);
                }
            }
        }
    }
}

/// A Q8_0 row's padding (the last block past `d`) takes no part in a
/// score or value, whatever it holds.
#[test]
fn q8_0_padding_is_never_counted() {
    for kern in Kernels::available() {
        for d in [8usize, 40, 100] {
            let len = 9;
            let nb = d.div_ceil(QK);
            let (clean, _) = q8_rows(&data(len * d, 1), len, d, nb);
            let mut dirty = clean.clone();
            for j in 0..len {
                let last = &mut dirty[j * nb + nb - 1];
                for q in &mut last.qs[d % QK..] {
                    *q = -127;
                }
            }
            let q = data(3 * d, 5);
            let p = data(3 * len, 2);
            let mut out = [vec![0f32; 3 * len], vec![0f32; 3 * len]];
            let mut vals = [vec![0f32; 3 * d], vec![0f32; 3 * d]];
            for (i, kv) in [&clean, &dirty].into_iter().enumerate() {
                let rows = KvRowsQ8 {
                    data: kv,
                    stride: nb,
                    len,
                    d,
                };
                (kern.attn_scores_q8_0)(&q, rows, 0.5, &mut out[i], len);
                (kern.attn_values_q8_0)(&p, len, rows, &mut vals[i]);
            }
            assert_eq!(out[0], out[1], "{} d={d}", kern.name);
            assert_eq!(vals[0], vals[1], "{} d={d}", kern.name);
        }
    }
}
