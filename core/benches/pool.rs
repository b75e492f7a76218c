//! Criterion bench of the worker pool's cost per job: decode runs about
//! five jobs per layer, so a job's start, its chunk claims and its end are
//! paid some 150 times a token. Each job here splits 1024 rows into the
//! usual chunks and does almost nothing with them.
//!
//! ```sh
//! cargo bench -p minke --bench pool
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use minke::threads::{par_rows, ThreadPool};
use std::hint::black_box;

fn jobs(c: &mut Criterion) {
    for threads in [1, 2, 4] {
        if threads > std::thread::available_parallelism().map_or(1, |n| n.get()) {
            continue;
        }
        let pool = ThreadPool::new(threads).unwrap();
        let mut out = vec![0u32; 1024];
        c.bench_function(&format!("pool/job/t{threads}"), |b| {
            b.iter(|| {
                par_rows(&pool, &mut out, 1, 16, |r, chunk| {
                    chunk[0] = chunk[0].wrapping_add(r.start as u32);
                });
                black_box(&out);
            })
        });
    }
}

criterion_group!(benches, jobs);
criterion_main!(benches);
