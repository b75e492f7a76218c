//! DeepSeek-V2/V3 parity with Hugging Face transformers on the committed tiny
//! random models of `tests/fixtures/deepseek_*` (MLA with and without q
//! LoRA, softmax and sigmoid gates, group-limited routing, YaRN): f32 logits
//! at every position, greedy generation, prefill against token-by-token
//! decode, thread counts, both config spellings, the quantized paths' drift
//! from f32, the latent cache size, and the refusals.

mod common;

use common::*;
use minke::config::{Arch, ModelConfig, RopeScaling, ScoringFunc, TopkMethod};
use minke::file::gguf::GgufWriter;
use minke::quant::DType;
use minke::{KvType, Model, Session, SessionParams};
use safetensors::SafeTensors;

const CASES: &[&str] = &["deepseek_v2", "deepseek_v2_qlora", "deepseek_v3"];

fn params(threads: usize, n_batch: usize) -> SessionParams {
    SessionParams {
        n_ctx: 128,
        n_threads: threads,
        kv_type: KvType::F32,
        n_batch,
        logits_all: true,
        allow_long_context: false,
    }
}

/// Logits at every position of one prefill (in batches of `n_batch`).
fn run_all(model: &Model, tokens: &[u32], threads: usize, n_batch: usize) -> Vec<f32> {
    let mut s = Session::new(model, params(threads, n_batch)).unwrap();
    let mut out = Vec::new();
    s.prefill_each(tokens, |_, l| out.extend_from_slice(l))
        .unwrap();
    out
}

/// Logits of every position, one `decode` call per token.
fn run_decode(model: &Model, tokens: &[u32]) -> Vec<f32> {
    let mut s = Session::new(model, params(2, 16)).unwrap();
    let mut out = Vec::new();
    for &t in tokens {
        out.extend_from_slice(s.decode(t).unwrap());
    }
    out
}

fn greedy(model: &Model, prompt: &[u32], n: usize) -> Vec<u32> {
    let mut s = Session::new(model, params(2, 16)).unwrap();
    let mut l = s.prefill(prompt).unwrap().to_vec();
    let mut out = Vec::new();
    for _ in 0..n {
        let t = argmax(&l) as u32;
        out.push(t);
        l = s.decode(t).unwrap().to_vec();
    }
    out
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

#[test]
fn f32_logits_match_transformers() {
    for case in CASES {
        let e = expected(case);
        let model = Model::open(fixture(case)).unwrap();
        let got = run_all(&model, &e.tokens, 2, 16);
        let worst = max_diff(&got, &e.logits);
        eprintln!("{case}: max |Δlogit| = {worst:.2e}");
        assert!(worst < 1e-4, "{case}: max |Δlogit| = {worst}");
    }
}

#[test]
fn greedy_generation_matches_transformers() {
    for case in CASES {
        let e = expected(case);
        let model = Model::open(fixture(case)).unwrap();
        let got = greedy(&model, &e.tokens[..e.greedy_prompt_len], e.greedy.len());
        assert_eq!(got, e.greedy, "{case}");
    }
}

#[test]
fn prefill_equals_token_by_token_decode() {
    for case in CASES {
        let e = expected(case);
        let model = Model::open(fixture(case)).unwrap();
        let batched = run_all(&model, &e.tokens, 2, 16);
        let single = run_decode(&model, &e.tokens);
        let worst = max_diff(&batched, &single);
        assert!(worst <= 1e-5, "{case}: prefill vs decode {worst}");
        // Uneven batches (7 + 7 + 7 + 3) too.
        let worst = max_diff(&run_all(&model, &e.tokens, 2, 7), &single);
        assert!(worst <= 1e-5, "{case}: batches of 7 vs decode {worst}");
    }
}

#[test]
fn logits_are_bit_identical_across_thread_counts() {
    let tmp = TempDir::new("ds-threads");
    for case in CASES {
        let e = expected(case);
        let q = tmp.path(&format!("{case}-q4_0.minke"));
        minke::quantize::quantize(&fixture(case), &q, DType::Q4_0, |_, _| {}).unwrap();
        for path in [fixture(case), q] {
            let model = Model::open(&path).unwrap();
            let one = run_all(&model, &e.tokens, 1, 16);
            for threads in [2, 3, 4] {
                let got = run_all(&model, &e.tokens, threads, 16);
                assert!(
                    one.iter()
                        .zip(&got)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{case}: {threads} threads differ from 1"
                );
            }
        }
    }
}

#[test]
fn both_config_spellings_give_the_same_config() {
    for case in CASES {
        let dir = fixture(case);
        let read = |f: &str| {
            ModelConfig::from_hf_json(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap()
        };
        let (a, b) = (read("config.json"), read("config_alt_spelling.json"));
        assert_eq!(a, b, "{case}");
        let d = a.deepseek.as_ref().unwrap();
        assert_eq!(a.head_dim, d.qk_nope_head_dim + d.qk_rope_head_dim);
        assert!(matches!(a.rope_scaling, Some(RopeScaling::Yarn { .. })));
        match a.arch {
            Arch::DeepseekV2 => assert_eq!(d.scoring_func, ScoringFunc::Softmax),
            Arch::DeepseekV3 => {
                assert_eq!(d.scoring_func, ScoringFunc::Sigmoid);
                assert_eq!(d.topk_method, TopkMethod::NoauxTc);
            }
            other => panic!("{case}: {other:?}"),
        }
    }
}

/// Quantized paths against the f32 reference, as in `hf_parity.rs`: tiny
/// random models magnify quantization error, so the bounds are loose next
/// to a trained model's. MoE makes it worse: a small error can flip a
/// token's expert (q8_0 flips 2-4 of the 48 routings here, q4_0 12-18),
/// and V3's biased sigmoid router is the most sensitive. The bounds sit
/// just above what transformers itself gives with the same weights
/// quantized (weight-only simulation in PyTorch: q8_0 KL 1.8e-3 / 1.7e-3 /
/// 2.0e-2, q4_0 KL 0.22 / 0.12 / 0.42 for V2 / V2-qLoRA / V3).
#[test]
fn quantized_paths_stay_close_to_f32() {
    let tmp = TempDir::new("ds-quant-parity");
    for case in CASES {
        let e = expected(case);
        let vocab = e.logits.len() / e.tokens.len();
        let v3 = *case == "deepseek_v3";
        let (q8, q4) = if v3 {
            ((0.06, 0.8), (0.7, 0.25))
        } else {
            ((5e-3, 0.9), (0.3, 0.5))
        };
        for (dtype, (max_kl, min_top1)) in [
            (DType::F16, (1e-4, 0.99)),
            (DType::Q8_0, q8),
            (DType::Q4_1, q4),
            (DType::Q4_0, q4),
        ] {
            let out = tmp.path(&format!("{case}-{dtype}.minke"));
            minke::quantize::quantize(&fixture(case), &out, dtype, |_, _| {}).unwrap();
            let model = Model::open(&out).unwrap();
            let got = run_all(&model, &e.tokens, 2, 16);
            let (kl, top1) = kl_and_top1(&e.logits, &got, vocab);
            eprintln!(
                "{case} {dtype}: mean KL {kl:.2e}, top-1 {:.1}%",
                top1 * 100.0
            );
            assert!(
                kl < max_kl && top1 >= min_top1,
                "{case} {dtype}: KL {kl}, top-1 {top1}"
            );
            // The quantized file decodes as it prefills: to rounding for
            // float weights; for quantized ones prefill batches take the
            // GEMM's summation order (kernels' `gemm_min_tokens`), and a
            // last-bit difference can flip an int8 activation, so decoding
            // is held to the same accuracy bounds instead.
            let decoded = run_decode(&model, &e.tokens);
            if dtype.is_quantized() {
                let (kl, top1) = kl_and_top1(&e.logits, &decoded, vocab);
                assert!(
                    kl < max_kl && top1 >= min_top1,
                    "{case} {dtype} decoded: KL {kl}, top-1 {top1}"
                );
            } else {
                let worst = max_diff(&got, &decoded);
                assert!(worst <= 1e-4, "{case} {dtype}: prefill vs decode {worst}");
            }
        }
    }
}

/// The latent cache in f16 and Q8_0 against transformers' f32 logits, on
/// f32 weights: the cache's own rounding is all that differs. Bounds from
/// measured values with room; as in `quantized_paths_stay_close_to_f32`,
/// V3's router flips an expert for the smallest error (f16 already: KL
/// 9e-3 against 3e-7 for V2), so its bounds are those of Q8_0 weights.
#[test]
fn cache_types_stay_close_to_f32() {
    for case in CASES {
        let e = expected(case);
        let vocab = e.logits.len() / e.tokens.len();
        let model = Model::open(fixture(case)).unwrap();
        let bounds = if *case == "deepseek_v3" {
            [(KvType::F16, 0.06, 0.8), (KvType::Q8_0, 0.06, 0.8)]
        } else {
            [(KvType::F16, 1e-5, 0.99), (KvType::Q8_0, 2e-3, 0.9)]
        };
        for (kv, max_kl, min_top1) in bounds {
            let p = SessionParams {
                kv_type: kv,
                ..params(2, 16)
            };
            let mut s = Session::new(&model, p).unwrap();
            let mut got = Vec::new();
            s.prefill_each(&e.tokens, |_, l| got.extend_from_slice(l))
                .unwrap();
            let (kl, top1) = kl_and_top1(&e.logits, &got, vocab);
            eprintln!(
                "{case} kv {kv}: mean KL {kl:.2e}, top-1 {:.1}%",
                top1 * 100.0
            );
            assert!(
                kl < max_kl && top1 >= min_top1,
                "{case} kv {kv}: KL {kl}, top-1 {top1}"
            );
        }
    }
}

#[test]
fn the_cache_holds_only_the_latent_and_the_rope_key() {
    for case in CASES {
        let model = Model::open(fixture(case)).unwrap();
        let c = &model.config;
        let d = c.deepseek.as_ref().unwrap();
        let (rank, rope) = (d.kv_lora_rank, d.qk_rope_head_dim);
        // Q8_0 quantizes the latent and the RoPE key apart, each in whole
        // blocks of 32 values (34 bytes).
        let q8 = 34 * (rank.div_ceil(32) + rope.div_ceil(32));
        for (kv, row) in [
            (KvType::F32, 4 * (rank + rope)),
            (KvType::F16, 2 * (rank + rope)),
            (KvType::Q8_0, q8),
        ] {
            let p = SessionParams {
                n_ctx: 77,
                kv_type: kv,
                ..params(1, 8)
            };
            assert_eq!(model.kv_cache_bytes(&p), c.n_layers * 77 * row, "{case}");
        }
    }
}

#[test]
fn unsupported_settings_are_refused_by_name() {
    let text = std::fs::read_to_string(fixture("deepseek_v2").join("config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let check = |v: &serde_json::Value, key: &str, bad: serde_json::Value, want: &str| {
        let mut v = v.clone();
        v[key] = bad;
        let e = ModelConfig::from_hf_value(&v).unwrap_err().to_string();
        assert!(e.contains(want), "{key}: {e}");
    };
    check(&v, "topk_method", "random".into(), "topk_method");
    check(&v, "scoring_func", "sigmoid".into(), "Sigmoid");
    check(&v, "scoring_func", "relu".into(), "scoring_func");
    check(&v, "hidden_act", "gelu".into(), "gelu");
    check(&v, "norm_topk_prob", true.into(), "norm_topk_prob");
    check(&v, "n_group", 3.into(), "n_group");
    check(&v, "topk_group", 5.into(), "topk_group");
    check(&v, "num_experts_per_tok", 9.into(), "num_experts_per_tok");
    check(&v, "qk_rope_head_dim", 7.into(), "qk_rope_head_dim");
    check(&v, "kv_lora_rank", serde_json::Value::Null, "kv_lora_rank");
    v["rope_parameters"]["rope_type"] = "longrope".into();
    let e = ModelConfig::from_hf_value(&v).unwrap_err().to_string();
    assert!(e.contains("longrope"), "{e}");
}

/// The GGUF name llama.cpp gives a Hugging Face tensor name.
fn gguf_name(hf: &str) -> String {
    match hf {
        "model.embed_tokens.weight" => return "token_embd.weight".into(),
        "model.norm.weight" => return "output_norm.weight".into(),
        "lm_head.weight" => return "output.weight".into(),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.").unwrap();
    let (layer, rest) = rest.split_once('.').unwrap();
    if rest == "mlp.gate.e_score_correction_bias" {
        return format!("blk.{layer}.exp_probs_b.bias");
    }
    let (part, kind) = rest.rsplit_once('.').unwrap();
    let g = match part {
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" => "ffn_norm",
        "self_attn.q_proj" => "attn_q",
        "self_attn.q_a_proj" => "attn_q_a",
        "self_attn.q_a_layernorm" => "attn_q_a_norm",
        "self_attn.q_b_proj" => "attn_q_b",
        "self_attn.kv_a_proj_with_mqa" => "attn_kv_a_mqa",
        "self_attn.kv_a_layernorm" => "attn_kv_a_norm",
        "self_attn.kv_b_proj" => "attn_kv_b",
        "self_attn.o_proj" => "attn_output",
        "mlp.gate" => "ffn_gate_inp",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        "mlp.shared_experts.gate_proj" => "ffn_gate_shexp",
        "mlp.shared_experts.up_proj" => "ffn_up_shexp",
        "mlp.shared_experts.down_proj" => "ffn_down_shexp",
        other => panic!("no GGUF name for {other}"),
    };
    format!("blk.{layer}.{g}.{kind}")
}

/// Writes a fixture as llama.cpp's converter would: `deepseek2` metadata,
/// experts stacked per layer, and (when `split`) `kv_b_proj` split into
/// `attn_k_b` (transposed per head) and `attn_v_b`, as files made since
/// llama.cpp's MLA support have it.
fn write_deepseek2_gguf(case: &str, split: bool, path: &std::path::Path) {
    let dir = fixture(case);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let c = ModelConfig::from_hf_value(&cfg).unwrap();
    let d = c.deepseek.clone().unwrap();
    let Some(RopeScaling::Yarn {
        factor,
        original_max_position_embeddings,
        mscale,
        mscale_all_dim,
        ..
    }) = c.rope_scaling
    else {
        panic!("{case}: not YaRN");
    };
    assert_eq!(
        mscale, mscale_all_dim,
        "{case}: GGUF cannot say mscale apart"
    );
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let f32s = |name: &str| -> Vec<f32> {
        st.tensor(name)
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let le = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    // (name, GGUF shape, bytes)
    let mut out: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    let (nh, nope, v, rank) = (c.n_heads, d.qk_nope_head_dim, d.v_head_dim, d.kv_lora_rank);
    let mut names: Vec<String> = st.names().into_iter().cloned().collect();
    names.sort();
    for name in &names {
        if name.contains(".mlp.experts.") {
            continue;
        }
        let shape: Vec<usize> = st
            .tensor(name)
            .unwrap()
            .shape()
            .iter()
            .rev()
            .copied()
            .collect();
        let data = f32s(name);
        if split && name.ends_with("kv_b_proj.weight") {
            let layer = name.split('.').nth(2).unwrap();
            let (mut kb, mut vb) = (Vec::new(), Vec::new());
            for h in 0..nh {
                let base = h * (nope + v);
                for j in 0..rank {
                    for i in 0..nope {
                        kb.push(data[(base + i) * rank + j]);
                    }
                }
                vb.extend_from_slice(&data[(base + nope) * rank..(base + nope + v) * rank]);
            }
            out.push((
                format!("blk.{layer}.attn_k_b.weight"),
                vec![nope, rank, nh],
                le(&kb),
            ));
            out.push((
                format!("blk.{layer}.attn_v_b.weight"),
                vec![rank, v, nh],
                le(&vb),
            ));
            continue;
        }
        out.push((gguf_name(name), shape, le(&data)));
    }
    let h = c.hidden_size;
    for layer in 0..c.n_layers {
        if !d.is_moe_layer(layer) {
            continue;
        }
        for (part, rows, cols) in [
            ("gate", d.moe_intermediate_size, h),
            ("up", d.moe_intermediate_size, h),
            ("down", h, d.moe_intermediate_size),
        ] {
            let mut all = Vec::new();
            for e in 0..d.n_routed_experts {
                all.extend(f32s(&format!(
                    "model.layers.{layer}.mlp.experts.{e}.{part}_proj.weight"
                )));
            }
            out.push((
                format!("blk.{layer}.ffn_{part}_exps.weight"),
                vec![cols, rows, d.n_routed_experts],
                le(&all),
            ));
        }
    }
    let mut w = GgufWriter::new();
    let a = |k: &str| format!("deepseek2.{k}");
    w.add_metadata("general.architecture", "deepseek2");
    for (k, val) in [
        ("block_count", c.n_layers),
        ("context_length", c.max_position_embeddings),
        ("embedding_length", h),
        ("feed_forward_length", c.intermediate_size),
        ("attention.head_count", nh),
        ("attention.head_count_kv", if split { 1 } else { nh }),
        ("leading_dense_block_count", d.first_k_dense_replace),
        ("vocab_size", c.vocab_size),
        ("attention.kv_lora_rank", rank),
        ("expert_feed_forward_length", d.moe_intermediate_size),
        ("expert_count", d.n_routed_experts),
        ("expert_shared_count", d.n_shared_experts),
        ("expert_used_count", d.num_experts_per_tok),
        ("expert_group_count", d.n_group),
        ("expert_group_used_count", d.topk_group),
        ("rope.dimension_count", d.qk_rope_head_dim),
        (
            "rope.scaling.original_context_length",
            original_max_position_embeddings as usize,
        ),
    ] {
        w.add_metadata(&a(k), val as u32);
    }
    if let Some(q) = d.q_lora_rank {
        w.add_metadata(&a("attention.q_lora_rank"), q as u32);
    }
    let qk = (nope + d.qk_rope_head_dim) as u32;
    if split {
        w.add_metadata(
            &a("attention.key_length"),
            (rank + d.qk_rope_head_dim) as u32,
        );
        w.add_metadata(&a("attention.value_length"), rank as u32);
        w.add_metadata(&a("attention.key_length_mla"), qk);
        w.add_metadata(&a("attention.value_length_mla"), v as u32);
    } else {
        w.add_metadata(&a("attention.key_length"), qk);
        w.add_metadata(&a("attention.value_length"), v as u32);
    }
    w.add_metadata(&a("rope.freq_base"), c.rope_theta);
    w.add_metadata(&a("attention.layer_norm_rms_epsilon"), c.rms_norm_eps);
    w.add_metadata(&a("expert_weights_scale"), d.routed_scaling_factor);
    w.add_metadata(&a("expert_weights_norm"), d.norm_topk_prob);
    let gating = match d.scoring_func {
        ScoringFunc::Softmax => 1u32,
        ScoringFunc::Sigmoid => 2,
    };
    w.add_metadata(&a("expert_gating_func"), gating);
    w.add_metadata(&a("rope.scaling.type"), "yarn");
    w.add_metadata(&a("rope.scaling.factor"), factor);
    w.add_metadata(&a("rope.scaling.yarn_log_multiplier"), 0.1 * mscale_all_dim);
    for (name, shape, data) in &out {
        w.add_tensor(name, shape, DType::F32, data).unwrap();
    }
    w.write_file(path).unwrap();
}

/// `deepseek2` GGUF files, in the older layout (one `attn_kv_b`) and the
/// newer one (split `attn_k_b`/`attn_v_b`, MQA-style key lengths), with
/// stacked experts, give transformers' logits.
#[test]
fn deepseek2_gguf_files_match_transformers() {
    let tmp = TempDir::new("ds-gguf");
    // deepseek_v2 has mscale != mscale_all_dim, which GGUF cannot express.
    for case in ["deepseek_v2_qlora", "deepseek_v3"] {
        let e = expected(case);
        let hf = Model::open(fixture(case)).unwrap();
        for split in [false, true] {
            let path = tmp.path(&format!("{case}-{split}.gguf"));
            write_deepseek2_gguf(case, split, &path);
            let model = Model::open(&path).unwrap();
            assert_eq!(model.config.arch, hf.config.arch, "{case}");
            assert_eq!(model.config.deepseek, hf.config.deepseek, "{case}");
            let got = run_all(&model, &e.tokens, 2, 16);
            let worst = max_diff(&got, &e.logits);
            assert!(worst < 1e-4, "{case} split={split}: max |Δlogit| = {worst}");
            // And the GGUF converts to a .minke that still agrees.
            let q = tmp.path(&format!("{case}-{split}.minke"));
            minke::quantize::quantize(&path, &q, DType::F16, |_, _| {}).unwrap();
            let got = run_all(&Model::open(&q).unwrap(), &e.tokens, 2, 16);
            let (kl, _) = kl_and_top1(&e.logits, &got, e.logits.len() / e.tokens.len());
            assert!(kl < 1e-4, "{case} split={split} f16: KL {kl}");
        }
    }
}
