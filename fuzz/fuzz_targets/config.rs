//! `config.json` of every architecture minke runs (Llama, Qwen2,
//! DeepSeek-V2/V3; the transformers 5 `rope_parameters` spelling and the
//! legacy `rope_theta`/`rope_scaling` one): parsing and validation, then
//! what a `.minke` file does with an accepted config — store it as JSON
//! and read it back, which must give the same config.
//!
//! Input: `config.json` text. Seeds: every `config.json` and
//! `config_alt_spelling.json` of `tests/fixtures/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use minke::ModelConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = ModelConfig::from_hf_json(text) else {
        return;
    };
    c.validate().expect("from_hf_json validates");
    let _ = (c.q_dim(), c.kv_dim(), c.n_outputs());
    if let Some(d) = &c.deepseek {
        let _ = (d.qk_head_dim(), d.shared_intermediate(), d.has_score_bias());
        for i in 0..c.n_layers.min(64) {
            let _ = d.is_moe_layer(i);
        }
    }
    // `.minke` files keep the config as JSON (`minke.config`).
    let json = serde_json::to_string(&c).expect("a config serializes");
    let back: ModelConfig = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("a stored config does not read back: {e}\n{json}"));
    assert_eq!(back, c, "{json}");
});
