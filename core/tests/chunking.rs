//! A sequence's logits do not depend on how its tokens arrived: one
//! prefill, any chunking, or one token at a time give the same bits, so a
//! restored state, a reused KV prefix and a fresh prefill continue with
//! the same text.

mod common;

use common::*;
use minke::quant::DType;
use minke::{KvType, Model, Session, SessionParams};

#[path = "support/real_model.rs"]
mod real_model;

/// Logits of every position of `tokens`, fed in chunks of `chunk` tokens.
fn logits_chunked(model: &Model, kv: KvType, tokens: &[u32], chunk: usize) -> Vec<f32> {
    let p = SessionParams {
        n_ctx: tokens.len().max(1),
        n_threads: 2,
        kv_type: kv,
        n_batch: 64,
        logits_all: true,
        allow_long_context: true,
    };
    let mut s = Session::new(model, p).unwrap();
    let mut out = Vec::new();
    for c in tokens.chunks(chunk) {
        s.prefill_each(c, |_, l| out.extend_from_slice(l)).unwrap();
    }
    out
}

/// The chunkings every model is checked under: whole batches, sizes that
/// straddle the kernels' tiles and thresholds, and one by one.
const CHUNKS: [usize; 7] = [64, 40, 16, 9, 7, 3, 1];

fn check(name: &str, model: &Model, tokens: &[u32]) {
    for kv in [KvType::F32, KvType::F16] {
        let whole = logits_chunked(model, kv, tokens, 64);
        for chunk in CHUNKS {
            let got = logits_chunked(model, kv, tokens, chunk);
            let worst = whole
                .iter()
                .zip(&got)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                whole == got,
                "{name}, {kv:?} cache, chunks of {chunk}: logits differ from one prefill \
                 by up to {worst}"
            );
        }
    }
}

fn tokens(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| (r.next_u64() % vocab as u64) as u32)
        .collect()
}

#[test]
fn fixtures_in_every_format_are_chunking_invariant() {
    let tmp = TempDir::new("chunking");
    for case in [
        "llama_gqa",
        "llama_mha_tied",
        "qwen2",
        "llama3_rope",
        "deepseek_v2",
        "deepseek_v3",
    ] {
        let model = Model::open(fixture(case)).unwrap();
        let toks = tokens(80, model.config.vocab_size, 7);
        check(case, &model, &toks);
        for dtype in [DType::Q8_0, DType::Q4_0, DType::Q4_1] {
            for interleave in [false, true] {
                let out = tmp.path(&format!("{case}-{dtype}-{interleave}.minke"));
                let opts = minke::quantize::Options {
                    target: Some(dtype),
                    interleave,
                    lora: None,
                    load: minke::Load::Map,
                };
                minke::quantize::quantize_with(&fixture(case), &out, &opts, |_, _| {}).unwrap();
                let q = Model::open(&out).unwrap();
                check(
                    &format!("{case} {dtype} interleave={interleave}"),
                    &q,
                    &toks,
                );
            }
        }
    }
}

#[test]
fn kquant_mixes_are_chunking_invariant() {
    let tmp = TempDir::new("chunking-k");
    let (q, f) = (tmp.path("q.minke"), tmp.path("f.minke"));
    let c = kquant_config();
    write_mixed_quant(&q, &f, &c, 11);
    let model = Model::open(&q).unwrap();
    check("K-quant mix", &model, &tokens(80, c.vocab_size, 3));
}

#[test]
fn the_real_model_is_chunking_invariant() {
    let Some(path) = real_model::model_path() else {
        return;
    };
    let model = Model::open(path).unwrap();
    check("SmolLM2", &model, &tokens(86, model.config.vocab_size, 5));
}
