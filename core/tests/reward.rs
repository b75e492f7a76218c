//! Reward models (`LlamaForSequenceClassification` with one label) against
//! transformers on the committed fixture: the scalar reward of sequences,
//! right-padded ones included.

use minke::{KvType, Model, Session, SessionParams};
use safetensors::SafeTensors;
use std::path::PathBuf;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/llama_reward")
}

#[test]
fn rewards_match_transformers() {
    let bytes = std::fs::read(fixture().join("expected.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let i64s = |n: &str| -> Vec<i64> {
        st.tensor(n)
            .unwrap()
            .data()
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let f32s = |n: &str| -> Vec<f32> {
        st.tensor(n)
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let tokens = i64s("tokens");
    let rewards = f32s("rewards");
    let model = Model::open(fixture()).unwrap();
    assert_eq!(model.config.n_labels, Some(1));
    let width = tokens.len() / rewards.len();
    let p = SessionParams {
        n_ctx: width,
        n_threads: 2,
        kv_type: KvType::F32,
        n_batch: 8,
        logits_all: false,
        allow_long_context: false,
    };
    let mut s = Session::new(&model, p).unwrap();
    for (row, want) in tokens.chunks(width).zip(&rewards) {
        // Rows are right-padded with the pad token: the reward is read at
        // the last real token.
        let ids: Vec<u32> = row.iter().map(|&t| t as u32).collect();
        let got = minke::score::reward(&mut s, &ids).unwrap();
        assert_eq!(got.len(), 1);
        assert!((got[0] - want).abs() < 1e-4, "reward {} vs {want}", got[0]);
    }
}

#[test]
fn a_language_model_is_not_a_reward_model() {
    let lm = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/llama_gqa");
    let model = Model::open(lm).unwrap();
    let mut s = Session::new(
        &model,
        SessionParams {
            n_ctx: 8,
            n_threads: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let e = minke::score::reward(&mut s, &[1, 2, 3])
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a reward model"), "{e}");
}
