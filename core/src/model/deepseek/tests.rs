//! Layer-by-layer checks against the transformers fixtures (the residual
//! stream after each layer, the experts and weights each token is routed
//! to), and the size of the cache a session really allocates.

use super::Weights;
use crate::kv_cache::KvType;
use crate::model::{Env, Model, Weights as AnyWeights};
use crate::session::SessionParams;
use crate::threads::ThreadPool;
use safetensors::SafeTensors;
use std::path::PathBuf;

const CASES: &[&str] = &["deepseek_v2", "deepseek_v2_qlora", "deepseek_v3"];

fn fixture(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(case)
}

fn params(n_batch: usize) -> SessionParams {
    SessionParams {
        n_ctx: 64,
        n_threads: 2,
        kv_type: KvType::F32,
        n_batch,
        logits_all: true,
        allow_long_context: false,
    }
}

fn weights(m: &Model) -> &Weights {
    match &m.w {
        AnyWeights::Deepseek(w) => w,
        _ => panic!("not a DeepSeek model"),
    }
}

#[test]
fn layers_and_routing_match_transformers() {
    for case in CASES {
        let bytes = std::fs::read(fixture(case).join("expected.safetensors")).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let raw = |name: &str| st.tensor(name).unwrap().data().to_vec();
        let f32s = |name: &str| -> Vec<f32> {
            raw(name)
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect()
        };
        let i64s = |name: &str| -> Vec<i64> {
            raw(name)
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                .collect()
        };
        let tokens: Vec<u32> = i64s("tokens").into_iter().map(|t| t as u32).collect();
        let layers = f32s("layer_outputs");
        let model = Model::open(fixture(case)).unwrap();
        let c = &model.config;
        let (n, h) = (tokens.len(), c.hidden_size);
        let pool = ThreadPool::new(2).unwrap();
        let env = Env {
            lora: None,
            abort: None,
            config: c,
            store: &model.store,
            pool: &pool,
            kernels: minke_quant::Kernels::get().unwrap(),
        };
        let p = params(n);
        let mut s = super::State::new(c, &p, 2);
        assert_eq!(s.cache_bytes(), super::State::kv_bytes(c, &p), "{case}");
        let mut logits = vec![0f32; n * c.vocab_size];
        let w = weights(&model);
        let k = w.routing.top_k;
        s.forward_traced(&env, w, &tokens, 0, true, &mut logits, |li, x, moe| {
            let want = &layers[li * n * h..(li + 1) * n * h];
            let worst = x
                .iter()
                .zip(want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            eprintln!("{case} layer {li}: max |Δ| = {worst:.2e}");
            if let Some(moe) = moe {
                let idx = i64s(&format!("moe_topk_idx_layer{li}"));
                let wts = f32s(&format!("moe_topk_weight_layer{li}"));
                for t in 0..n {
                    let (gi, gw) = moe.chosen(&w.routing, t);
                    let gi: Vec<i64> = gi.iter().map(|&i| i as i64).collect();
                    assert_eq!(gi, idx[t * k..(t + 1) * k], "{case} layer {li} token {t}");
                    for (a, b) in gw.iter().zip(&wts[t * k..(t + 1) * k]) {
                        assert!((a - b).abs() < 1e-5, "{case} layer {li} token {t}");
                    }
                }
            }
            assert!(worst < 1e-4, "{case} layer {li}: {worst}");
        });
    }
}
