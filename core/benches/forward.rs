//! Criterion benches of the forward pass's two steps on a real model: one
//! decode step (a token at position 64) and a 64-token prefill, on 1 and 2
//! threads, with throughput in bytes of weights streamed per step.
//!
//! The model is `MINKE_MODEL`, else the cached SmolLM2-135M GGUF that
//! `scripts/fetch-model.sh` downloads; without either the benches say so
//! and do nothing.
//!
//! ```sh
//! cargo bench -p minke --bench forward
//! ```

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use minke::{Model, Session, SessionParams};
use std::path::PathBuf;

fn model_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MINKE_MODEL") {
        return Some(PathBuf::from(p));
    }
    let cache = std::env::var_os("MINKE_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/minke")))?;
    let p = cache.join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    p.is_file().then_some(p)
}

/// A fixed prompt of `n` ids below `vocab`.
fn prompt(n: usize, vocab: usize) -> Vec<u32> {
    (0..n).map(|i| ((i * 7919 + 13) % vocab) as u32).collect()
}

fn steps(c: &mut Criterion) {
    let Some(path) = model_path() else {
        eprintln!("forward bench: no model (set MINKE_MODEL or run scripts/fetch-model.sh)");
        return;
    };
    let model = match Model::open(&path) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("forward bench: {}: {e}", path.display());
            return;
        }
    };
    let vocab = model.config.vocab_size;
    let weights = model.weight_bytes_per_token() as u64;
    for threads in [1, 2] {
        let params = SessionParams {
            n_ctx: 256,
            n_threads: threads,
            n_batch: 64,
            ..SessionParams::default()
        };
        let mut s = Session::new(&model, params).expect("session");
        let p64 = prompt(64, vocab);

        let mut g = c.benchmark_group(format!("decode/t{threads}"));
        g.throughput(Throughput::Bytes(weights));
        s.prefill(&p64).expect("prefill");
        g.bench_function("pos64", |b| {
            b.iter(|| {
                s.rewind(64).expect("rewind");
                s.decode(1).expect("decode")[0]
            })
        });
        g.finish();

        let mut g = c.benchmark_group(format!("prefill/t{threads}"));
        g.throughput(Throughput::Elements(64));
        g.sample_size(20);
        g.bench_function("64_tokens", |b| {
            b.iter(|| {
                s.rewind(0).expect("rewind");
                s.prefill(&p64).expect("prefill")[0]
            })
        });
        g.finish();
    }
}

criterion_group!(benches, steps);
criterion_main!(benches);
