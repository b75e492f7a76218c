//! Every SIMD kernel set this machine can run, against the scalar reference.
//!
//! - Activation quantization must give the same blocks bit for bit (same f32
//!   divisions, same rounding half away from zero) on finite input.
//! - Dot products and block products are floats summed in a different order
//!   (8 or 16 lanes, then a tree), so they are compared within the worst-case
//!   bound of recursive summation: `|simd - scalar| <= 2 (n + 8) ε M`, where
//!   `M = Σ |w_i x_i|` over the dequantized values, `n` the number of
//!   sequential additions (elements for float rows, blocks for quantized
//!   ones) and `ε` f32's epsilon. The integer block sums inside are exact, so
//!   only this rounding differs.
//! - Within one set, the block product (`matmul`, any tile, any number of
//!   tokens) equals that set's own `vec_dot` bit for bit: the tiles do the
//!   same operations in the same order, only on more rows at once, and
//!   AVX512-VNNI's GEMM and matrix-vector kernels share one order.

mod common;

use common::{data, scalar, simd_sets, Rng, KINDS};
use minke_quant::formats::{dequantize_row, quantize_row};
use minke_quant::{Act, BlockQ8A, DType, Kernels, QK};

const QUANT: [DType; 3] = [DType::Q8_0, DType::Q4_0, DType::Q4_1];
const FLOAT: [DType; 3] = [DType::F32, DType::F16, DType::BF16];

/// Block counts to try: odd ones, ones around tile and unroll edges, and
/// 4096 elements.
const BLOCKS: [usize; 16] = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 127, 128];

fn quantize(dtype: DType, x: &[f32]) -> Vec<u8> {
    let mut w = vec![0u8; dtype.row_bytes(x.len()).unwrap()];
    quantize_row(dtype, x, &mut w);
    w
}

fn dequantize(dtype: DType, w: &[u8], k: usize) -> Vec<f32> {
    let mut x = vec![0f32; k];
    dequantize_row(dtype, w, &mut x);
    x
}

fn act_q8(x: &[f32]) -> Vec<BlockQ8A> {
    let mut q = vec![BlockQ8A::ZERO; x.len() / QK];
    (scalar().quantize_act)(x, &mut q);
    q
}

fn act_values(q: &[BlockQ8A]) -> Vec<f32> {
    q.iter()
        .flat_map(|b| b.qs.iter().map(move |&v| v as f32 * b.d))
        .collect()
}

/// The summation bound described in the module comment.
fn bound(w: &[f32], x: &[f32], additions: usize) -> f64 {
    let m: f64 = w
        .iter()
        .zip(x)
        .map(|(a, b)| (*a as f64 * *b as f64).abs())
        .sum();
    2.0 * (additions as f64 + 8.0) * f32::EPSILON as f64 * m
}

fn check_close(got: f32, want: f32, tol: f64, what: &str) {
    let diff = (got as f64 - want as f64).abs();
    assert!(
        diff <= tol,
        "{what}: {got} vs scalar {want} (diff {diff:e}, bound {tol:e})"
    );
}

#[test]
fn quantize_act_matches_scalar_bit_for_bit() {
    let mut rng = Rng::new(1);
    let mut extra: Vec<Vec<f32>> = vec![
        vec![1e30; 64],
        (0..64)
            .map(|i| if i % 3 == 0 { -3e38 } else { 1.0 })
            .collect(),
        vec![1e-40; 32], // subnormal: the scale would overflow its inverse
        (0..32)
            .map(|i| (i as f32 - 15.5) * (1.0 / 127.0) * 3.0)
            .collect(),
        (0..32).map(|i| i as f32 - 16.5).collect(), // exact halves after scaling
        vec![-0.0; 32],
    ];
    for kind in 0..KINDS {
        for nb in BLOCKS {
            extra.push(data(&mut rng, kind, nb * QK));
        }
    }
    let want: Vec<Vec<BlockQ8A>> = extra.iter().map(|x| act_q8(x)).collect();
    for k in simd_sets() {
        for (x, want) in extra.iter().zip(&want) {
            let mut got = vec![BlockQ8A::ZERO; x.len() / QK];
            (k.quantize_act)(x, &mut got);
            for (b, (g, w)) in got.iter().zip(want).enumerate() {
                assert_eq!(g.qs, w.qs, "{} block {b} of {} values", k.name, x.len());
                assert_eq!(g.d.to_bits(), w.d.to_bits(), "{} block {b} scale", k.name);
                assert_eq!(g.s.to_bits(), w.s.to_bits(), "{} block {b} sum", k.name);
                assert_eq!(g.sum, w.sum, "{} block {b} integer sum", k.name);
            }
        }
    }
}

#[test]
fn quantized_dots_match_scalar() {
    let mut rng = Rng::new(2);
    let sets = simd_sets();
    for dtype in QUANT {
        for nb in BLOCKS {
            let k = nb * QK;
            for wk in 0..KINDS {
                let xk = rng.below(KINDS);
                let w = quantize(dtype, &data(&mut rng, wk, k));
                let x = act_q8(&data(&mut rng, xk, k));
                let want = scalar().vec_dot(dtype, &w, &x);
                let tol = bound(&dequantize(dtype, &w, k), &act_values(&x), nb);
                for s in &sets {
                    let got = s.vec_dot(dtype, &w, &x);
                    let what = format!("{} {dtype} k={k} kinds=({wk},{xk})", s.name);
                    check_close(got, want, tol, &what);
                }
            }
        }
    }
}

#[test]
fn float_dots_match_scalar() {
    let mut rng = Rng::new(3);
    let sets = simd_sets();
    let lengths: Vec<usize> = (0..=70).chain([127, 128, 129, 1000, 4096, 4097]).collect();
    for dtype in FLOAT {
        for &k in &lengths {
            for wk in 0..KINDS {
                let xk = rng.below(KINDS);
                let w = quantize(dtype, &data(&mut rng, wk, k));
                let x = data(&mut rng, xk, k);
                let f = scalar().float_dot(dtype);
                let want = f(&w, &x);
                let tol = bound(&dequantize(dtype, &w, k), &x, k);
                for s in &sets {
                    let got = (s.float_dot(dtype))(&w, &x);
                    let what = format!("{} {dtype} k={k} kinds=({wk},{xk})", s.name);
                    check_close(got, want, tol, &what);
                }
            }
        }
    }
}

/// `rows × n` outputs of every set's `matmul` against scalar `matmul`, and
/// against the same set's `vec_dot` (exactly).
#[test]
fn matmul_matches_vec_dot_and_scalar() {
    let mut rng = Rng::new(4);
    let mut sets = simd_sets();
    sets.push(scalar());
    // The AVX512-VNNI GEMM (n >= 8) works on 16 rows and 8, 4 or 1 tokens
    // at a time, packing 36 blocks at a time and keeping sums for 128
    // tokens; its matrix-vector kernel (n < 8) on 16 rows and 4, 3, 2 or 1
    // tokens, 4, 2 or 1 blocks a step: counts off those multiples, long
    // rows and long batches.
    let ns = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 16, 19];
    let rows_list = [1, 2, 3, 4, 5, 7, 8, 9, 13];
    let mut cases = vec![
        (258, 3, 9),
        (259, 2, 12),
        (513, 3, 9),
        (3, 17, 130),
        (50, 5, 133),
    ];
    for nb in [1, 3, 4, 6, 7, 33] {
        for &rows in &rows_list {
            cases.extend(ns.iter().map(|&n| (nb, rows, n)));
        }
    }
    for dtype in QUANT.into_iter().chain(FLOAT) {
        for &(nb, rows, n) in &cases {
            let k = nb * QK;
            let wk = rng.below(KINDS);
            let wf = data(&mut rng, wk, rows * k);
            let w = quantize(dtype, &wf);
            let xf: Vec<f32> = (0..n * k).map(|_| rng.normal()).collect();
            let xq = act_q8(&xf);
            let act = if dtype.is_quantized() {
                Act::Q8(&xq)
            } else {
                Act::F32(&xf)
            };
            let xv = if dtype.is_quantized() {
                act_values(&xq)
            } else {
                xf.clone()
            };
            let wv = dequantize(dtype, &w, rows * k);
            let mut want = vec![0f32; rows * n];
            scalar().matmul(dtype, &w, k, act, n, &mut want);
            let rb = dtype.row_bytes(k).unwrap();
            for s in &sets {
                let mut got = vec![f32::NAN; rows * n];
                s.matmul(dtype, &w, k, act, n, &mut got);
                if n >= s.gemm_min_tokens && dtype.is_quantized() {
                    gemm_is_split_invariant(s, dtype, &w, k, &xq, n, &got);
                }
                for r in 0..rows {
                    let wr = &w[r * rb..(r + 1) * rb];
                    for t in 0..n {
                        let what =
                            format!("{} {dtype} k={k} rows={rows} n={n} at ({r},{t})", s.name);
                        let one = match act {
                            Act::Q8(x) => s.vec_dot(dtype, wr, &x[t * nb..(t + 1) * nb]),
                            Act::F32(x) => (s.float_dot(dtype))(wr, &x[t * k..(t + 1) * k]),
                        };
                        let g = got[r * n + t];
                        assert_eq!(
                            g.to_bits(),
                            one.to_bits(),
                            "{what}: matmul {g} vs vec_dot {one}"
                        );
                        let adds = if dtype.is_quantized() { nb } else { k };
                        let tol = bound(&wv[r * k..(r + 1) * k], &xv[t * k..(t + 1) * k], adds);
                        check_close(g, want[r * n + t], tol, &what);
                    }
                }
            }
        }
    }
}

/// A GEMM path's products do not depend on which rows and tokens share the
/// call: dropping the first row, or the first token while the batch stays
/// on the GEMM path, leaves every other product's bits as they were.
fn gemm_is_split_invariant(
    s: &Kernels,
    dtype: DType,
    w: &[u8],
    k: usize,
    xq: &[BlockQ8A],
    n: usize,
    got: &[f32],
) {
    let (rb, nb) = (dtype.row_bytes(k).unwrap(), k / QK);
    let rows = got.len() / n;
    if rows > 1 {
        let mut part = vec![f32::NAN; (rows - 1) * n];
        s.matmul(dtype, &w[rb..], k, Act::Q8(xq), n, &mut part);
        assert_eq!(part, got[n..], "{} {dtype}: rows 1.. alone", s.name);
    }
    if n > s.gemm_min_tokens {
        let mut part = vec![f32::NAN; rows * (n - 1)];
        s.matmul(dtype, w, k, Act::Q8(&xq[nb..]), n - 1, &mut part);
        for r in 0..rows {
            assert_eq!(
                part[r * (n - 1)..(r + 1) * (n - 1)],
                got[r * n + 1..(r + 1) * n],
                "{} {dtype}: tokens 1.. alone, row {r}",
                s.name
            );
        }
    }
}

#[test]
fn empty_rows_give_zero() {
    for s in simd_sets().into_iter().chain([scalar()]) {
        for dtype in QUANT {
            let mut out = [1.0f32; 6];
            s.matmul(dtype, &[], 0, Act::Q8(&[]), 2, &mut out);
            assert_eq!(out, [0.0; 6], "{} {dtype}", s.name);
        }
        for dtype in FLOAT {
            let mut out = [1.0f32; 6];
            s.matmul(dtype, &[], 0, Act::F32(&[]), 3, &mut out);
            assert_eq!(out, [0.0; 6], "{} {dtype}", s.name);
        }
    }
}

/// Picks float kernels out of a table by format.
trait ByFormat {
    fn float_dot(&self, dtype: DType) -> fn(&[u8], &[f32]) -> f32;
}

impl ByFormat for Kernels {
    fn float_dot(&self, dtype: DType) -> fn(&[u8], &[f32]) -> f32 {
        match dtype {
            DType::F32 => self.vec_dot_f32,
            DType::F16 => self.vec_dot_f16,
            DType::BF16 => self.vec_dot_bf16,
            _ => panic!("{dtype} is not a float format"),
        }
    }
}

/// The tables this CPU should run are the ones tested: a detection bug
/// must not silently skip a SIMD set.
#[test]
fn expected_sets_are_under_test() {
    let names: Vec<&str> = simd_sets().iter().map(|k| k.name).collect();
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c");
        assert_eq!(names.contains(&"avx2"), avx2, "{names:?}");
        let avx512 = avx2
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl");
        assert_eq!(names.contains(&"avx512"), avx512, "{names:?}");
        let vnni = avx512 && is_x86_feature_detected!("avx512vnni");
        assert_eq!(names.contains(&"avx512-vnni"), vnni, "{names:?}");
    }
    #[cfg(target_arch = "aarch64")]
    {
        assert!(names.contains(&"neon"), "{names:?}");
        let dotprod = std::arch::is_aarch64_feature_detected!("dotprod");
        assert_eq!(names.contains(&"neon-dotprod"), dotprod, "{names:?}");
        if std::env::var_os("MINKE_REQUIRE_DOTPROD").is_some() {
            assert!(
                dotprod,
                "MINKE_REQUIRE_DOTPROD is set but the CPU (or qemu) has no dotprod"
            );
        }
    }
    // Elsewhere (32-bit ARM, RISC-V, ...) the build has the scalar set only.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    assert!(names.is_empty(), "{names:?}");
}
