//! Principle 2 of the design: once a session exists, `prefill` and `decode`
//! allocate nothing, on any thread. A counting global allocator proves it.

mod common;
mod counting;

use common::*;
use counting::count;
use minke::quant::DType;
use minke::{KvType, Model, Session, SessionParams};

/// One test function (not several) so no other test thread allocates
/// while counting is on.
#[test]
fn decode_and_prefill_allocate_nothing() {
    // The counter itself works: one Vec is one allocation.
    let (v, n) = count(|| vec![1u8; 100]);
    assert_eq!((v.len(), n), (100, 1));

    let dir = TempDir::new("noalloc");
    let f32_path = dir.path("m.minke");
    write_random(&f32_path, &tiny_config(), 9);
    let q_path = dir.path("q.minke");
    minke::quantize::quantize(&f32_path, &q_path, DType::Q4_0, |_, _| {}).unwrap();
    // The formats of llama.cpp's K-quant files, one per matrix.
    let (k_path, kf_path) = (dir.path("k.minke"), dir.path("kf.minke"));
    write_mixed_quant(&k_path, &kf_path, &kquant_config(), 3);
    for path in [&f32_path, &q_path, &k_path] {
        let model = Model::open(path).unwrap();
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
            // Warm up: first calls may touch lazily-initialised statics.
            s.prefill(&[1, 2, 3]).unwrap();
            s.rewind(0).unwrap();
            let (_, n) = count(|| {
                s.prefill(&[5; 20]).unwrap();
                for t in 0..10 {
                    s.decode(t).unwrap();
                }
                s.prefill_each(&[7; 9], |_, _| {}).unwrap();
                s.rewind(4).unwrap();
                s.decode(3).unwrap();
            });
            assert_eq!(
                n,
                0,
                "{} with {threads} threads: {n} allocations",
                path.display()
            );
            // Threads changed mid-conversation: the new pool and scratch
            // are made by set_n_threads, not by the tokens after it.
            s.set_n_threads(5 - threads).unwrap();
            let (_, n) = count(|| {
                s.prefill(&[6; 9]).unwrap();
                s.decode(4).unwrap();
            });
            assert_eq!(
                n,
                0,
                "{} after set_n_threads({}): {n} allocations",
                path.display(),
                5 - threads
            );
        }
    }
}
