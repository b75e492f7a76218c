//! The formats read from llama.cpp's files (Q5_0, Q5_1, IQ4_NL and the
//! 256-value K-quants and IQ4_XS), on every kernel set this machine can
//! run:
//!
//! - the scalar reference against the dequantized weights (which
//!   `gguf_vectors.rs` checks against the `gguf` package) times the
//!   dequantized activations, in f64;
//! - every SIMD set against scalar, within the summation bound of
//!   `kernels.rs`, where the magnitude counts a format's scale and minimum
//!   terms apart (they are summed apart, and may cancel in the weight);
//! - within a set, `matmul` over any tile and any number of tokens equals
//!   `vec_dot` bit for bit.
//!
//! Blocks are random bytes with random finite f16 scales: every bit
//! pattern of the quantized fields is a valid block, so this covers every
//! code of every format.

mod common;

use common::{scalar, simd_sets, Rng};
use minke_quant::formats::dequantize_row;
use minke_quant::{Act, BlockQ8A, DType, QK};

/// `(format, byte offset of the scale, of the minimum if any)` within a
/// block: the f16 fields the test sets to finite values.
const FORMATS: [(DType, usize, Option<usize>); 12] = [
    (DType::Q8_0, 0, None),
    (DType::Q4_0, 0, None),
    (DType::Q4_1, 0, Some(2)),
    (DType::Q5_0, 0, None),
    (DType::Q5_1, 0, Some(2)),
    (DType::IQ4_NL, 0, None),
    (DType::Q2_K, 80, Some(82)),
    (DType::Q3_K, 108, None),
    (DType::Q4_K, 0, Some(2)),
    (DType::Q5_K, 0, Some(2)),
    (DType::Q6_K, 208, None),
    (DType::IQ4_XS, 0, None),
];

fn put_f16(b: &mut [u8], at: usize, v: f32) {
    b[at..at + 2].copy_from_slice(&half::f16::from_f32(v).to_le_bytes());
}

/// `rows` random rows of `k` values.
fn random_rows(rng: &mut Rng, dtype: DType, rows: usize, k: usize) -> Vec<u8> {
    let (_, d_at, m_at) = FORMATS.iter().find(|f| f.0 == dtype).unwrap();
    let bb = dtype.block_bytes();
    let n = rows * k / dtype.block_len();
    let mut w: Vec<u8> = (0..n * bb).map(|_| rng.next_u64() as u8).collect();
    for b in w.chunks_exact_mut(bb) {
        put_f16(b, *d_at, rng.uniform() * 0.02);
        if let Some(m) = m_at {
            put_f16(b, *m, rng.uniform() * 0.05);
        }
    }
    w
}

/// The row dequantized with its minimum field zeroed (the scale terms)
/// and with its scale zeroed (the minimum terms).
fn parts(dtype: DType, w: &[u8], k: usize) -> (Vec<f32>, Vec<f32>) {
    let (_, d_at, m_at) = *FORMATS.iter().find(|f| f.0 == dtype).unwrap();
    let bb = dtype.block_bytes();
    let zeroed = |at: Option<usize>| {
        let mut c = w.to_vec();
        if let Some(at) = at {
            for b in c.chunks_exact_mut(bb) {
                put_f16(b, at, 0.0);
            }
        }
        let mut y = vec![0f32; k];
        dequantize_row(dtype, &c, &mut y);
        y
    };
    match m_at {
        Some(m) => (zeroed(Some(m)), zeroed(Some(d_at))),
        None => (zeroed(None), vec![0.0; k]),
    }
}

fn act(rng: &mut Rng, k: usize) -> Vec<BlockQ8A> {
    let x: Vec<f32> = (0..k)
        .map(|i| {
            if i % 11 == 0 {
                rng.normal() * 30.0
            } else {
                rng.normal()
            }
        })
        .collect();
    let mut q = vec![BlockQ8A::ZERO; k / QK];
    (scalar().quantize_act)(&x, &mut q);
    q
}

fn act_values(q: &[BlockQ8A]) -> Vec<f32> {
    q.iter()
        .flat_map(|b| b.qs.iter().map(move |&v| v as f32 * b.d))
        .collect()
}

/// `2 (adds + 8) ε M` with `M` the sum of |terms| (see the module doc).
fn bound(w: &(Vec<f32>, Vec<f32>), x: &[f32], adds: usize) -> f64 {
    let m: f64 = (w.0.iter().zip(x))
        .chain(w.1.iter().zip(x))
        .map(|(a, b)| (*a as f64 * *b as f64).abs())
        .sum();
    2.0 * (adds as f64 + 8.0) * f32::EPSILON as f64 * m
}

#[test]
fn scalar_reference_equals_dequantized_product() {
    let mut rng = Rng::new(11);
    for (dtype, ..) in FORMATS {
        for blocks in [1, 2, 3, 5, 8] {
            let k = blocks * dtype.block_len();
            let w = random_rows(&mut rng, dtype, 1, k);
            let x = act(&mut rng, k);
            let mut wf = vec![0f32; k];
            dequantize_row(dtype, &w, &mut wf);
            let want: f64 = wf
                .iter()
                .zip(act_values(&x))
                .map(|(a, b)| *a as f64 * b as f64)
                .sum();
            let got = scalar().vec_dot(dtype, &w, &x);
            // Each weight was rounded once more in the dequantization
            // than in the integer sums, and the f32 steps add k / 16
            // roundings at most.
            let tol = bound(&parts(dtype, &w, k), &act_values(&x), k / 16 + 2) * 4.0;
            let diff = (got as f64 - want).abs();
            assert!(
                diff <= tol,
                "{dtype} k={k}: {got} vs {want} (bound {tol:e})"
            );
        }
    }
}

#[test]
fn simd_sets_match_scalar_and_their_own_vec_dot() {
    let mut rng = Rng::new(12);
    let mut sets = simd_sets();
    sets.push(scalar());
    for (dtype, ..) in FORMATS {
        for blocks in [1, 2, 3, 4, 7] {
            for (rows, n) in [
                (1, 1),
                (5, 1),
                (8, 1),
                (9, 1),
                (3, 2),
                (2, 3),
                (1, 4),
                (3, 5),
                (2, 9),
            ] {
                let k = blocks * dtype.block_len();
                let w = random_rows(&mut rng, dtype, rows, k);
                let x = act(&mut rng, n * k);
                let xv = act_values(&x);
                let nb = k / QK;
                let rb = dtype.row_bytes(k).unwrap();
                let mut want = vec![0f32; rows * n];
                scalar().matmul(dtype, &w, k, Act::Q8(&x), n, &mut want);
                for s in &sets {
                    let mut got = vec![f32::NAN; rows * n];
                    s.matmul(dtype, &w, k, Act::Q8(&x), n, &mut got);
                    for r in 0..rows {
                        let wr = &w[r * rb..(r + 1) * rb];
                        let p = parts(dtype, wr, k);
                        for t in 0..n {
                            let what =
                                format!("{} {dtype} k={k} rows={rows} n={n} ({r},{t})", s.name);
                            let xt = &x[t * nb..(t + 1) * nb];
                            let g = got[r * n + t];
                            let one = s.vec_dot(dtype, wr, xt);
                            assert_eq!(
                                g.to_bits(),
                                one.to_bits(),
                                "{what}: matmul {g} vs vec_dot {one}"
                            );
                            let tol = bound(&p, &xv[t * k..(t + 1) * k], 2 * nb);
                            let diff = (g as f64 - want[r * n + t] as f64).abs();
                            assert!(
                                diff <= tol,
                                "{what}: {g} vs scalar {} (bound {tol:e})",
                                want[r * n + t]
                            );
                        }
                    }
                }
            }
        }
    }
}

/// On every table, a product's bits do not depend on how many tokens share
/// the call: `matmul` with `n` tokens equals `n` one-token products, for
/// every row format, across the batch sizes where tables change paths
/// (AVX512-VNNI: its matrix-vector kernel, 4, 3, 2 or 1 tokens a pass,
/// below `gemm_min_tokens`, its GEMM from there, in tiles of 8, 4 and 1
/// tokens), rows that are not whole groups of 16, and rows whose chunks
/// are not whole steps (4 and 2 chunks) or whole packing segments of the
/// GEMM (36 chunks). This is what lets a sequence's logits stay the same
/// however its tokens are split into batches.
#[test]
fn every_batch_size_gives_the_one_token_bits() {
    let mut rng = Rng::new(20);
    let tables = minke_quant::Kernels::available();
    let names: Vec<_> = tables.iter().map(|k| k.name).collect();
    eprintln!("kernel tables under test: {names:?}");
    for (dtype, ..) in FORMATS {
        // Chunks (activation blocks) per row.
        let nbs: &[usize] = if dtype.block_len() == QK {
            &[1, 2, 3, 5, 6, 7, 36, 37, 42, 75]
        } else {
            &[8, 16, 40, 48]
        };
        for &nb in nbs {
            for rows in [1, 3, 16, 17, 35] {
                let k = nb * QK;
                let w = random_rows(&mut rng, dtype, rows, k);
                let x = act(&mut rng, 17 * k);
                let rb = dtype.row_bytes(k).unwrap();
                for s in &tables {
                    let one: Vec<f32> = (0..rows * 17)
                        .map(|i| {
                            let (r, t) = (i / 17, i % 17);
                            s.vec_dot(dtype, &w[r * rb..(r + 1) * rb], &x[t * nb..(t + 1) * nb])
                        })
                        .collect();
                    for n in [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 17] {
                        let mut got = vec![f32::NAN; rows * n];
                        s.matmul(dtype, &w, k, Act::Q8(&x[..n * nb]), n, &mut got);
                        for r in 0..rows {
                            for t in 0..n {
                                let (g, want) = (got[r * n + t], one[r * 17 + t]);
                                assert_eq!(
                                    g.to_bits(),
                                    want.to_bits(),
                                    "{} {dtype} nb={nb} rows={rows} n={n} ({r},{t}): \
                                     {g} vs one token {want}",
                                    s.name
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
