//! Softmax's exponentials and SwiGLU's gate: every table gives the scalar
//! kernel's bits (the SIMD builds are the same source compiled wider), on
//! lengths around the vector widths and on inputs that reach exp's edges.

mod common;

use common::{data, scalar, simd_sets, Rng, KINDS};

/// Lengths below, at and around 4-, 8- and 16-lane steps and their tails.
const LENS: [usize; 15] = [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 256, 1000];

/// Inputs that exercise exp's clamps and special values, cycled.
const EDGES: [f32; 12] = [
    0.0,
    -0.0,
    88.7,
    89.0,
    -87.3,
    -87.4,
    -1e30,
    1e30,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    f32::MIN_POSITIVE,
];

/// Test rows: the shared data patterns, larger ranges for exp, and edges
/// mixed into normal values.
fn rows(rng: &mut Rng, len: usize) -> Vec<Vec<f32>> {
    let mut out: Vec<_> = (0..KINDS).map(|kind| data(rng, kind, len)).collect();
    out.push((0..len).map(|_| rng.normal() * 40.0).collect());
    out.push(
        (0..len)
            .map(|i| {
                if i % 5 == 2 {
                    EDGES[(i / 5) % EDGES.len()]
                } else {
                    rng.normal() * 8.0
                }
            })
            .collect(),
    );
    out
}

/// Equal bits, NaN included (a NaN's payload may differ; its place not).
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.to_bits() == y.to_bits() || x.is_nan() && y.is_nan())
}

#[test]
fn exp_shifted_matches_scalar_bit_for_bit() {
    let mut rng = Rng::new(11);
    for kern in simd_sets() {
        for len in LENS {
            for x in rows(&mut rng, len) {
                let (mut want, mut got) = (x.clone(), x.clone());
                let (wm, ws) = (scalar().exp_shifted)(&mut want);
                let (gm, gs) = (kern.exp_shifted)(&mut got);
                assert!(
                    same_bits(&want, &got) && same_bits(&[wm, ws], &[gm, gs]),
                    "{} len {len}: ({wm}, {ws}) against ({gm}, {gs})",
                    kern.name
                );
            }
        }
    }
}

#[test]
fn exp_shifted_is_a_softmax_numerator() {
    let mut x = [1000.0, 1001.0, 999.0, f32::NEG_INFINITY, 1001.0];
    let (m, s) = (scalar().exp_shifted)(&mut x);
    assert_eq!(m, 1001.0);
    assert_eq!([x[1], x[3], x[4]], [1.0, 0.0, 1.0]);
    let want = 2.0 + (-1f64).exp() + (-2f64).exp();
    assert!((s as f64 - want).abs() < 1e-6, "sum {s}");
    assert_eq!((scalar().exp_shifted)(&mut []).1, 0.0);
}

#[test]
fn silu_mul_matches_scalar_bit_for_bit() {
    let mut rng = Rng::new(12);
    for kern in simd_sets() {
        for len in LENS {
            for (g, u) in rows(&mut rng, len).into_iter().zip(rows(&mut rng, len)) {
                let (mut want, mut got) = (g.clone(), g.clone());
                (scalar().silu_mul)(&mut want, &u);
                (kern.silu_mul)(&mut got, &u);
                assert!(same_bits(&want, &got), "{} len {len}", kern.name);
            }
        }
    }
}

#[test]
fn silu_mul_is_silu_times_up() {
    let g0 = [-20.0f32, -1.0, 0.0, 0.5, 3.0, 90.0];
    let u = [2.0f32, -1.5, 7.0, 1.0, 0.25, 1.0];
    let mut g = g0;
    (scalar().silu_mul)(&mut g, &u);
    for ((&a, &b), &got) in g0.iter().zip(&u).zip(&g) {
        let want = a as f64 / (1.0 + (-a as f64).exp()) * b as f64;
        assert!(
            (got as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()),
            "silu({a}) * {b} = {got}, want {want}"
        );
    }
}
