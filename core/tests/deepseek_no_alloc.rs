//! Principle 2 of the design for DeepSeek (MLA + MoE): once a session
//! exists, `prefill` and `decode` allocate nothing, on any thread, whatever
//! experts the tokens are routed to. A counting global allocator proves it.

mod common;
mod counting;

use common::*;
use counting::count;
use minke::quant::DType;
use minke::{KvType, Model, Session, SessionParams};
use std::path::PathBuf;

fn fixture(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(case)
}

/// One test function (not several) so no other test thread allocates
/// while counting is on.
#[test]
fn deepseek_decode_and_prefill_allocate_nothing() {
    let (v, n) = count(|| vec![1u8; 100]);
    assert_eq!((v.len(), n), (100, 1));

    let dir = TempDir::new("ds-noalloc");
    let mut paths = Vec::new();
    for case in ["deepseek_v2", "deepseek_v3"] {
        paths.push(fixture(case));
        let q = dir.path(&format!("{case}-q4_0.minke"));
        minke::quantize::quantize(&fixture(case), &q, DType::Q4_0, |_, _| {}).unwrap();
        paths.push(q);
    }
    for path in &paths {
        let model = Model::open(path).unwrap();
        let vocab = model.config.vocab_size as u32;
        for (threads, kv) in [(1, KvType::F32), (3, KvType::F16), (2, KvType::Q8_0)] {
            let p = SessionParams {
                n_ctx: 64,
                n_threads: threads,
                kv_type: kv,
                n_batch: 8,
                logits_all: true,
                allow_long_context: false,
            };
            let mut s = Session::new(&model, p).unwrap();
            // Varied ids, so tokens go to many different experts.
            let prompt: Vec<u32> = (0..20).map(|i| (i * 37 + 11) % vocab).collect();
            let run = |s: &mut Session<'_>| {
                s.rewind(0).unwrap();
                s.prefill(&prompt).unwrap();
                for t in 0..10 {
                    s.decode((t * 53 + 7) % vocab).unwrap();
                }
                s.prefill_each(&prompt[..9], |_, _| {}).unwrap();
                s.rewind(4).unwrap();
                s.decode(3).unwrap();
            };
            // Warm up: first calls may touch lazily-initialised statics,
            // and a worker thread that has not started yet allocates when
            // it does (std's thread start-up), whatever minke does.
            run(&mut s);
            std::thread::sleep(std::time::Duration::from_millis(50));
            let (_, n) = count(|| run(&mut s));
            assert_eq!(
                n,
                0,
                "{} with {threads} threads: {n} allocations",
                path.display()
            );
        }
    }
}
