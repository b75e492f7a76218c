//! Criterion benches of decode attention on SmolLM2-135M's shape (9 query
//! heads, 3 key/value heads of 64) over an f16 and a Q8_0 cache of 128,
//! 1024 and 4096 positions, on 1 and 2 threads: once with the cache in
//! the CPU's caches, once cold, as decode meets it after streaming a
//! layer's weights (a 64 MiB buffer is read between calls, on the pool's
//! threads so that they are awake as in decode; only the attention call
//! is timed).
//!
//! A second group times a 64-token prefill batch at 4096 positions.
//!
//! ```sh
//! cargo bench -p minke --bench attention
//! cargo bench -p minke --bench attention -- 'q8_0/ctx4096'
//! ```

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use minke::kv_cache::{KvCache, KvType};
use minke::ops::attention::{attention, AttnScratch, AttnShape};
use minke::threads::{par_rows, ThreadPool};
use std::hint::black_box;

const SHAPE: AttnShape = AttnShape {
    n_heads: 9,
    n_kv_heads: 3,
    head_dim: 64,
    scale: 0.125,
};

/// Deterministic values in about [-1, 1).
fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn decode(c: &mut Criterion) {
    let kernels = minke::quant::kernels::dispatch::best();
    let kv_dim = SHAPE.n_kv_heads * SHAPE.head_dim;
    let q_dim = SHAPE.n_heads * SHAPE.head_dim;
    // Larger than the last-level caches of the machines this runs on.
    let mut flush = vec![1u64; 8 << 20];
    for threads in [1, 2] {
        let pool = ThreadPool::new(threads).unwrap();
        for (kv, len) in [KvType::F16, KvType::Q8_0]
            .into_iter()
            .flat_map(|kv| [128, 1024, 4096].map(|len| (kv, len)))
        {
            let mut cache = KvCache::new(kv, 1, len, kv_dim, SHAPE.head_dim);
            for pos in 0..len {
                let k = noise(kv_dim, 2 * pos as u64);
                let v = noise(kv_dim, 2 * pos as u64 + 1);
                cache.store(0, pos, &k, &v);
            }
            let q = noise(q_dim, 7);
            let mut scratch = AttnScratch::new(threads, len, SHAPE);
            let mut out = vec![0f32; q_dim];
            let mut step = || {
                attention(
                    &pool,
                    kernels,
                    SHAPE,
                    &q,
                    cache.layer(0),
                    len - 1..len,
                    &mut scratch,
                    &mut out,
                );
                black_box(&out);
            };
            let mut g = c.benchmark_group(format!("attention/decode/t{threads}"));
            g.bench_function(format!("{kv}/ctx{len}/hot"), |b| b.iter(&mut step));
            g.bench_function(format!("{kv}/ctx{len}/cold"), |b| {
                b.iter_batched(
                    || {
                        par_rows(&pool, &mut flush, 1 << 16, 1, |_, part| {
                            black_box(part.iter().fold(0u64, |a, &x| a.wrapping_add(x)));
                        })
                    },
                    |_| step(),
                    BatchSize::PerIteration,
                )
            });
            g.finish();
        }
    }
}

/// A prefill batch of 64 tokens at the end of a long context, the same
/// shape: the queries of 4 tokens share each key row, so the cost of
/// reading a row (widening an f16, dequantizing a Q8_0 block) is spread
/// over 12 query rows.
fn prefill(c: &mut Criterion) {
    let kernels = minke::quant::kernels::dispatch::best();
    let kv_dim = SHAPE.n_kv_heads * SHAPE.head_dim;
    let q_dim = SHAPE.n_heads * SHAPE.head_dim;
    let pool = ThreadPool::new(1).unwrap();
    for kv in [KvType::F16, KvType::Q8_0] {
        let len = 4096;
        let mut cache = KvCache::new(kv, 1, len, kv_dim, SHAPE.head_dim);
        for pos in 0..len {
            let k = noise(kv_dim, 2 * pos as u64);
            let v = noise(kv_dim, 2 * pos as u64 + 1);
            cache.store(0, pos, &k, &v);
        }
        let n = 64;
        let q = noise(n * q_dim, 7);
        let mut scratch = AttnScratch::new(1, len, SHAPE);
        let mut out = vec![0f32; n * q_dim];
        let mut g = c.benchmark_group("attention/prefill64/t1");
        g.bench_function(format!("{kv}/ctx{len}"), |b| {
            b.iter(|| {
                attention(
                    &pool,
                    kernels,
                    SHAPE,
                    &q,
                    cache.layer(0),
                    len - n..len,
                    &mut scratch,
                    &mut out,
                );
                black_box(&out);
            })
        });
        g.finish();
    }
}

criterion_group!(benches, decode, prefill);
criterion_main!(benches);
