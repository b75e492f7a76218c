//! Principle 2 of the design: once a session exists, `prefill` and `decode`
//! allocate nothing, on any thread. A counting global allocator proves it.

mod common;
mod counting;

use common::*;
use counting::count;
use minke::quant::DType;
use minke::speculative::Drafter;
use minke::{
    DraftModel, KvType, Model, PromptLookup, Sampler, SamplerParams, Session, SessionParams,
};

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

    speculative_rounds_allocate_nothing(&model_for_speculation(&dir));
}

fn model_for_speculation(dir: &TempDir) -> Model {
    let path = dir.path("spec.minke");
    write_random(&path, &tiny_config(), 5);
    Model::open(&path).unwrap()
}

/// A speculative decoder's rounds, as `generate_speculative` runs them:
/// drafts (prompt lookup, a draft model), one batch, verification at a
/// temperature, the refused drafts dropped. The room for the rows is made
/// before.
fn speculative_rounds_allocate_nothing(model: &Model) {
    let vocab = model.config.vocab_size;
    let p = SessionParams {
        n_ctx: 64,
        n_threads: 2,
        kv_type: KvType::F16,
        n_batch: 8,
        logits_all: false,
        allow_long_context: false,
    };
    let sp = SamplerParams {
        temperature: 0.8,
        repeat_penalty: 1.1,
        ..SamplerParams::default()
    };
    let mut s = Session::new(model, p.clone()).unwrap();
    let mut ds = Session::new(model, p).unwrap();
    let mut smp = Sampler::new(sp.clone(), vocab).unwrap();
    s.reserve_outputs(5).unwrap();
    let mut lookup = PromptLookup::new(4);
    let mut dm = DraftModel::new(&mut ds, vocab, &sp, 4).unwrap();
    let mut context: Vec<u32> = Vec::with_capacity(65);
    let (mut drafts, mut batch) = ([0u32; 4], [0u32; 5]);
    let prompt = [3u32, 4, 5, 3, 4, 5, 3, 4];
    // Warm up, then count rounds with each drafter.
    s.prefill(&prompt).unwrap();
    for use_model in [false, true, false, true] {
        let (_, n) = count(|| {
            for _ in 0..3 {
                let next = smp.sample(s.logits()).unwrap();
                context.clear();
                context.extend_from_slice(s.tokens());
                context.push(next);
                let d: &mut dyn Drafter = if use_model { &mut dm } else { &mut lookup };
                let k = d.draft(&context, &mut drafts).unwrap();
                batch[0] = next;
                batch[1..=k].copy_from_slice(&drafts[..k]);
                let p0 = s.pos();
                s.decode_all(&batch[..=k]).unwrap();
                let mut kept = k + 1;
                for (i, &x) in drafts[..k].iter().enumerate() {
                    let row = s.logits_at(p0 + i).unwrap();
                    let (t, ok) = smp.verify_draft(row, x, d.distribution(i)).unwrap();
                    smp.accept(t);
                    if !ok {
                        kept = i + 1;
                        break;
                    }
                }
                s.keep_decoded(kept).unwrap();
            }
        });
        assert_eq!(
            n, 0,
            "speculative rounds (draft model: {use_model}): {n} allocations"
        );
    }
}
