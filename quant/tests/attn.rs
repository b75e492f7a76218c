//! Attention kernels of every available table against the scalar twins, on
//! head sizes that exercise full and masked chunks, and the promise that a
//! score or output value does not depend on how many query rows a call got.

use half::f16;
use minke_quant::{Kernels, KvRows};

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
