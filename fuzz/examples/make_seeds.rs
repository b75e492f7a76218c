//! Writes the seed corpus of every fuzz target from the committed
//! fixtures (`scripts/fuzz.sh seeds` runs it): real files where they are
//! small, and where they are not (3-8 MB tokenizers, 0.3-0.6 MB f32
//! models) the same files trimmed or quantized, so that one execution
//! takes milliseconds and mutations land on structure, not on weights.
//!
//! `cargo run --example make_seeds -- OUT` writes `OUT/<target>/seed-*`.
//! The output depends only on the fixtures: running it twice gives the
//! same files.

use minke::config::{Arch, ModelConfig, ScoringFunc};
use minke::file::gguf::{GgufArray, GgufFile, GgufValue, GgufWriter};
use minke::file::minke::{write as write_minke, Planned};
use minke::quant::DType;
use minke::tokenizer::GgufVocab;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Tokens kept when a vocabulary is trimmed.
const KEEP: usize = 320;
/// Added (special) tokens kept.
const KEEP_ADDED: usize = 24;
const SEP: u8 = minke_fuzz::SEP;

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: make_seeds OUT"));
    let fx = minke_fuzz::fixtures();
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let d = out.join(target);
        std::fs::create_dir_all(&d).expect("corpus folder");
        std::fs::write(d.join(format!("seed-{name}")), bytes).expect("seed");
    };
    let read = |p: &str| std::fs::read(fx.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    let cases = [
        "llama_mha_tied",
        "llama_gqa",
        "llama3_rope",
        "llama_linear_rope",
        "llama_reward",
        "qwen2",
        "deepseek_v2",
        "deepseek_v2_qlora",
        "deepseek_v3",
    ];

    // config: every config.json, both spellings.
    for case in cases {
        for f in ["config.json", "config_alt_spelling.json"] {
            put(
                "config",
                &format!("{case}-{f}"),
                &read(&format!("{case}/{f}")),
            );
        }
    }

    // tokenizer: trimmed tokenizer.json + tokenizer_config.json + texts,
    // and GGUF vocabularies as `.minke` stores them.
    let texts = [
        "Hello world! It's 3.14159 o'clock.\n\n  def f(x):\treturn x",
        "<|im_start|>user\n你好，世界<|im_end|>",
    ];
    let mut trimmed = HashMap::new();
    for name in ["smollm2", "deepseek_v3"] {
        let tok = trim_tokenizer_json(&read(&format!("tokenizer/{name}/tokenizer.json")));
        let cfg = read(&format!("tokenizer/{name}/tokenizer_config.json"));
        minke::Tokenizer::from_json_with_config(&tok, &cfg).expect("the trimmed tokenizer builds");
        let mut seed = tok.clone();
        for part in [&cfg[..], texts[0].as_bytes(), texts[1].as_bytes()] {
            seed.push(SEP);
            seed.extend_from_slice(part);
        }
        put("tokenizer", &format!("{name}.json"), &seed);
        put("tokenizer", &format!("{name}-alone.json"), &tok);
        trimmed.insert(name, (tok, cfg));
    }
    let mut vocabs = Vec::new();
    for name in ["deepseek_llm", "deepseek_coder"] {
        let path = fx.join(format!(
            "tokenizer/{name}/ggml-vocab-{}.gguf",
            name.replace('_', "-")
        ));
        let bytes = std::fs::read(&path).expect("vocabulary fixture");
        let g = GgufFile::parse("vocab.gguf", &bytes).expect("vocabulary parses");
        let meta = trim_gguf_vocab(&g, KEEP);
        let v = gguf_vocab(&meta);
        minke::Tokenizer::from_gguf_vocab(v.clone()).expect("the trimmed vocabulary builds");
        put(
            "tokenizer",
            &format!("{name}-gguf.json"),
            &serde_json::to_vec(&v).expect("serializes"),
        );
        // gguf: the vocabulary-only file, trimmed.
        let mut w = GgufWriter::new();
        for (k, val) in &meta {
            w.add_metadata(k, val.clone());
        }
        put(
            "gguf",
            &format!("vocab-{name}.gguf"),
            &w.to_bytes().expect("writes"),
        );
        vocabs.push(bytes);
    }

    // gguf: the pygguf fixture and the parity models as llama.cpp names
    // them, matrices in Q4_0/Q8_0, with a trimmed vocabulary.
    put("gguf", "pygguf_small.gguf", &read("gguf/pygguf_small.gguf"));
    for (case, q) in [
        ("llama_mha_tied", DType::Q4_0),
        ("qwen2", DType::Q8_0),
        ("deepseek_v2", DType::Q4_0),
        ("deepseek_v3", DType::Q8_0),
    ] {
        let bytes = gguf_model(&fx.join(case), q, &vocabs[0]);
        check_model(&bytes, &format!("{case}.gguf"), true);
        put("gguf", &format!("{case}.gguf"), &bytes);
    }

    // safetensors: `.minke` files (quantized, interleaved, with a
    // tokenizer inside), and checkpoints (config.json, 0xFF, f16/bf16
    // safetensors).
    let tmp = minke_fuzz::scratch_dir("seeds");
    for (case, q, tok) in [
        ("llama_mha_tied", DType::Q4_0, Some("smollm2")),
        ("qwen2", DType::Q8_0, None),
        ("deepseek_v3", DType::Q4_1, Some("deepseek_v3")),
        ("deepseek_v2_qlora", DType::Q8_0, None),
    ] {
        let ck = tmp.join(case);
        std::fs::create_dir_all(&ck).expect("folder");
        for f in ["config.json", "model.safetensors"] {
            std::fs::copy(fx.join(case).join(f), ck.join(f)).expect("copy");
        }
        if let Some(t) = tok {
            let (json, cfg) = &trimmed[t];
            std::fs::write(ck.join("tokenizer.json"), json).expect("write");
            std::fs::write(ck.join("tokenizer_config.json"), cfg).expect("write");
        }
        let m = tmp.join(format!("{case}.minke"));
        minke::quantize::quantize(&ck, &m, q, |_, _| {}).expect("quantizes");
        let bytes = std::fs::read(&m).expect("read");
        check_model(&bytes, &format!("{case}.minke"), tok.is_some());
        put("safetensors", &format!("{case}.minke"), &bytes);
    }
    for (case, dtype) in [("llama_gqa", DType::F16), ("deepseek_v2", DType::BF16)] {
        let mut seed = read(&format!("{case}/config.json"));
        seed.push(SEP);
        let shard = checkpoint_shard(&fx.join(case), dtype, &tmp);
        let ck = tmp.join(format!("{case}-ck"));
        std::fs::create_dir_all(&ck).expect("folder");
        std::fs::copy(fx.join(case).join("config.json"), ck.join("config.json")).expect("copy");
        std::fs::write(ck.join("model.safetensors"), &shard).expect("write");
        minke::Model::open(&ck).expect("the checkpoint seed opens");
        seed.extend(shard);
        put("safetensors", &format!("{case}-checkpoint"), &seed);
    }

    // lora: both adapters of the fixture.
    for a in ["adapter", "adapter_rslora"] {
        let mut seed = read(&format!("llama_lora/{a}/adapter_config.json"));
        seed.push(SEP);
        seed.extend(read(&format!("llama_lora/{a}/adapter_model.safetensors")));
        put("lora", a, &seed);
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Checks that a model seed opens (with its tokenizer if `tokenizer`):
/// a seed that fails early teaches the fuzzer little.
fn check_model(bytes: &[u8], name: &str, tokenizer: bool) {
    let p = minke_fuzz::scratch_dir("seeds").join(name);
    std::fs::write(&p, bytes).expect("write");
    let m = minke::Model::open(&p).unwrap_or_else(|e| panic!("seed {name}: {e}"));
    if tokenizer {
        m.tokenizer().unwrap_or_else(|e| panic!("seed {name}: {e}"));
    }
}

/// A `tokenizer.json` cut to its first [`KEEP`] tokens, the merges among
/// them, and its first [`KEEP_ADDED`] added tokens (renumbered after the
/// kept tokens where they lay beyond).
fn trim_tokenizer_json(bytes: &[u8]) -> Vec<u8> {
    let mut root: Value = serde_json::from_slice(bytes).expect("fixture JSON");
    let mut remap: HashMap<u64, u64> = HashMap::new();
    let mut next = KEEP as u64;
    let mut added = Vec::new();
    for t in root["added_tokens"]
        .as_array()
        .expect("added_tokens")
        .iter()
        .take(KEEP_ADDED)
    {
        let id = t["id"].as_u64().expect("id");
        let new = if id < KEEP as u64 {
            id
        } else {
            next += 1;
            next - 1
        };
        remap.insert(id, new);
        let mut t = t.clone();
        t["id"] = json!(new);
        added.push(t);
    }
    let model = root["model"].as_object_mut().expect("model");
    let vocab: Map<String, Value> = model["vocab"]
        .as_object()
        .expect("vocab")
        .iter()
        .filter_map(|(k, v)| {
            let id = v.as_u64()?;
            let id = remap
                .get(&id)
                .copied()
                .or((id < KEEP as u64).then_some(id))?;
            Some((k.clone(), json!(id)))
        })
        .collect();
    let merges: Vec<Value> = model["merges"]
        .as_array()
        .expect("merges")
        .iter()
        .filter(|m| {
            let (a, b) = match m {
                Value::String(s) => match s.split_once(' ') {
                    Some((a, b)) => (a.to_string(), b.to_string()),
                    None => return false,
                },
                Value::Array(p) => (
                    p[0].as_str().unwrap_or("").to_string(),
                    p[1].as_str().unwrap_or("").to_string(),
                ),
                _ => return false,
            };
            let ab = format!("{a}{b}");
            [a, b, ab].iter().all(|t| vocab.contains_key(t))
        })
        .cloned()
        .collect();
    model.insert("vocab".into(), Value::Object(vocab));
    model.insert("merges".into(), Value::Array(merges));
    root["added_tokens"] = Value::Array(added);
    // Post-processor ids of special tokens that went are dropped.
    if let Some(st) = root
        .pointer_mut("/post_processor/special_tokens")
        .and_then(Value::as_object_mut)
    {
        for v in st.values_mut() {
            if let Some(ids) = v.get_mut("ids").and_then(Value::as_array_mut) {
                *ids = ids
                    .iter()
                    .filter_map(|i| remap.get(&i.as_u64()?).map(|&n| json!(n)))
                    .collect();
            }
        }
    }
    serde_json::to_vec(&root).expect("serializes")
}

/// A GGUF vocabulary's metadata with its token arrays cut to `n`
/// tokens (BOS/EOS/padding moved to the end if they lay beyond) and the
/// merges among them; the other keys as they were.
fn trim_gguf_vocab(g: &GgufFile<'_>, n: usize) -> Vec<(String, GgufValue)> {
    let tokens = g
        .get_str_array("tokenizer.ggml.tokens")
        .expect("tokens")
        .expect("tokens");
    let types = g
        .get_i32_array("tokenizer.ggml.token_type")
        .expect("types")
        .unwrap_or_default();
    let mut keep: Vec<usize> = (0..n.min(tokens.len())).collect();
    let mut ids = HashMap::new();
    for key in ["bos", "eos", "padding"] {
        let k = format!("tokenizer.ggml.{key}_token_id");
        if let Ok(Some(id)) = g.get_u32(&k) {
            let id = id as usize;
            if !keep.contains(&id) {
                keep.push(id);
            }
            let new = keep.iter().position(|&i| i == id).expect("kept") as u32;
            ids.insert(k, new);
        }
    }
    let kept: Vec<String> = keep.iter().map(|&i| tokens[i].clone()).collect();
    let set: std::collections::HashSet<&str> = kept.iter().map(String::as_str).collect();
    let merges: Vec<String> = g
        .get_str_array("tokenizer.ggml.merges")
        .expect("merges")
        .unwrap_or_default()
        .iter()
        .filter(|m| {
            m.split_once(' ').is_some_and(|(a, b)| {
                set.contains(a) && set.contains(b) && set.contains(format!("{a}{b}").as_str())
            })
        })
        .cloned()
        .collect();
    let mut out = Vec::new();
    for (k, v) in g.metadata() {
        let v = match k {
            "tokenizer.ggml.tokens" => GgufValue::Array(GgufArray::String(kept.clone())),
            "tokenizer.ggml.merges" => GgufValue::Array(GgufArray::String(merges.clone())),
            "tokenizer.ggml.token_type" if !types.is_empty() => {
                GgufValue::Array(GgufArray::I32(keep.iter().map(|&i| types[i]).collect()))
            }
            k if ids.contains_key(k) => GgufValue::U32(ids[k]),
            _ => v.clone(),
        };
        out.push((k.to_string(), v));
    }
    out
}

/// The [`GgufVocab`] of trimmed vocabulary metadata.
fn gguf_vocab(meta: &[(String, GgufValue)]) -> GgufVocab {
    let mut w = GgufWriter::new();
    for (k, v) in meta {
        w.add_metadata(k, v.clone());
    }
    let bytes = w.to_bytes().expect("writes");
    let g = GgufFile::parse("v.gguf", &bytes).expect("parses");
    let strs = |k: &str| {
        g.get_str_array(k)
            .ok()
            .flatten()
            .map(<[String]>::to_vec)
            .unwrap_or_default()
    };
    GgufVocab {
        model: g
            .get_str("tokenizer.ggml.model")
            .ok()
            .flatten()
            .unwrap_or("")
            .into(),
        pre: g
            .get_str("tokenizer.ggml.pre")
            .ok()
            .flatten()
            .map(Into::into),
        tokens: strs("tokenizer.ggml.tokens"),
        merges: strs("tokenizer.ggml.merges"),
        token_types: g
            .get_i32_array("tokenizer.ggml.token_type")
            .ok()
            .flatten()
            .unwrap_or_default(),
        bos: g.get_u32("tokenizer.ggml.bos_token_id").ok().flatten(),
        eos: g.get_u32("tokenizer.ggml.eos_token_id").ok().flatten(),
        pad: g.get_u32("tokenizer.ggml.padding_token_id").ok().flatten(),
        add_bos: g
            .get_bool("tokenizer.ggml.add_bos_token")
            .ok()
            .flatten()
            .unwrap_or(false),
        chat_template: g
            .get_str("tokenizer.chat_template")
            .ok()
            .flatten()
            .map(Into::into),
    }
}

/// The f32 tensors of a parity fixture: name, shape (PyTorch order), values.
fn fixture_tensors(dir: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let m = minke::Model::open(dir).expect("fixture opens");
    let store = m.tensors();
    let mut v: Vec<_> = store
        .names()
        .iter()
        .map(|n| {
            let t = store.get(n).expect("listed");
            (n.clone(), t.shape.clone(), store.to_f32(t))
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// llama.cpp's name for a Hugging Face tensor name (the parts minke maps).
fn gguf_name(hf: &str) -> String {
    match hf {
        "model.embed_tokens.weight" => return "token_embd.weight".into(),
        "model.norm.weight" => return "output_norm.weight".into(),
        "lm_head.weight" => return "output.weight".into(),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.").expect("a layer tensor");
    let (layer, rest) = rest.split_once('.').expect("layer index");
    if rest == "mlp.gate.e_score_correction_bias" {
        return format!("blk.{layer}.exp_probs_b.bias");
    }
    let (part, kind) = rest.rsplit_once('.').expect("weight or bias");
    let g = match part {
        "input_layernorm" => "attn_norm",
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "post_attention_layernorm" => "ffn_norm",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        "self_attn.q_a_proj" => "attn_q_a",
        "self_attn.q_a_layernorm" => "attn_q_a_norm",
        "self_attn.q_b_proj" => "attn_q_b",
        "self_attn.kv_a_proj_with_mqa" => "attn_kv_a_mqa",
        "self_attn.kv_a_layernorm" => "attn_kv_a_norm",
        "self_attn.kv_b_proj" => "attn_kv_b",
        "mlp.gate" => "ffn_gate_inp",
        "mlp.shared_experts.gate_proj" => "ffn_gate_shexp",
        "mlp.shared_experts.up_proj" => "ffn_up_shexp",
        "mlp.shared_experts.down_proj" => "ffn_down_shexp",
        other => panic!("no GGUF name for {other}"),
    };
    format!("blk.{layer}.{g}.{kind}")
}

/// `values` (rows of `cols`) in `q` where the rows allow it, else f32.
fn encode(values: &[f32], cols: usize, q: DType) -> (DType, Vec<u8>) {
    let dtype = if q.row_bytes(cols).is_some() && values.len() > cols {
        q
    } else {
        DType::F32
    };
    let rb = dtype.row_bytes(cols).expect("row bytes");
    let mut out = vec![0u8; values.len() / cols * rb];
    for (src, dst) in values.chunks_exact(cols).zip(out.chunks_exact_mut(rb)) {
        minke::quant::formats::quantize_row(dtype, src, dst);
    }
    (dtype, out)
}

/// A parity fixture as a GGUF file: llama.cpp's names and metadata keys,
/// DeepSeek's experts stacked, matrices in `q`, and `vocab`'s tokenizer.
fn gguf_model(dir: &Path, q: DType, vocab: &[u8]) -> Vec<u8> {
    let text = std::fs::read_to_string(dir.join("config.json")).expect("config");
    let c = ModelConfig::from_hf_json(&text).expect("config parses");
    // Room for BOS/EOS/padding after the kept tokens, inside the model's
    // vocabulary.
    let g = GgufFile::parse("vocab.gguf", vocab).expect("vocabulary parses");
    let vocab = trim_gguf_vocab(&g, c.vocab_size - 3);
    let tensors = fixture_tensors(dir);
    // (GGUF name, GGUF shape, dtype, bytes)
    let mut out: Vec<(String, Vec<usize>, DType, Vec<u8>)> = Vec::new();
    // (layer, gate/up/down) -> (expert, shape, values)
    type Expert = (usize, Vec<usize>, Vec<f32>);
    let mut experts: HashMap<(String, String), Vec<Expert>> = HashMap::new();
    for (name, shape, values) in tensors {
        if let Some((pre, rest)) = name.split_once(".mlp.experts.") {
            let (e, part) = rest.split_once('.').expect("expert index");
            let layer = pre.trim_start_matches("model.layers.").to_string();
            let part = part.trim_end_matches(".weight").trim_end_matches("_proj");
            experts.entry((layer, part.to_string())).or_default().push((
                e.parse().expect("expert"),
                shape,
                values,
            ));
            continue;
        }
        let cols = *shape.last().expect("shape");
        // The router stays f32, as `minke quantize` keeps it.
        let q = if name.ends_with(".mlp.gate.weight") {
            DType::F32
        } else {
            q
        };
        let (dtype, bytes) = encode(&values, cols, q);
        out.push((
            gguf_name(&name),
            shape.into_iter().rev().collect(),
            dtype,
            bytes,
        ));
    }
    let mut keys: Vec<_> = experts.keys().cloned().collect();
    keys.sort();
    for key in keys {
        let mut list = experts.remove(&key).expect("listed");
        list.sort_by_key(|e| e.0);
        let shape = list[0].1.clone();
        let all: Vec<f32> = list.iter().flat_map(|e| e.2.iter().copied()).collect();
        let (dtype, bytes) = encode(&all, shape[1], q);
        let name = format!("blk.{}.ffn_{}_exps.weight", key.0, key.1);
        out.push((name, vec![shape[1], shape[0], list.len()], dtype, bytes));
    }

    let mut w = GgufWriter::new();
    let arch = match c.arch {
        Arch::Llama => "llama",
        Arch::Qwen2 => "qwen2",
        Arch::DeepseekV2 | Arch::DeepseekV3 => "deepseek2",
    };
    let a = |k: &str| format!("{arch}.{k}");
    w.add_metadata("general.architecture", arch);
    for (k, v) in [
        ("block_count", c.n_layers),
        ("context_length", c.max_position_embeddings),
        ("embedding_length", c.hidden_size),
        ("feed_forward_length", c.intermediate_size),
        ("attention.head_count", c.n_heads),
        ("attention.head_count_kv", c.n_kv_heads),
        ("vocab_size", c.vocab_size),
    ] {
        w.add_metadata(&a(k), v as u32);
    }
    w.add_metadata(&a("rope.freq_base"), c.rope_theta);
    w.add_metadata(&a("attention.layer_norm_rms_epsilon"), c.rms_norm_eps);
    if let Some(d) = &c.deepseek {
        for (k, v) in [
            ("leading_dense_block_count", d.first_k_dense_replace),
            ("attention.kv_lora_rank", d.kv_lora_rank),
            ("attention.key_length", d.qk_head_dim()),
            ("attention.value_length", d.v_head_dim),
            ("expert_feed_forward_length", d.moe_intermediate_size),
            ("expert_count", d.n_routed_experts),
            ("expert_shared_count", d.n_shared_experts),
            ("expert_used_count", d.num_experts_per_tok),
            ("expert_group_count", d.n_group),
            ("expert_group_used_count", d.topk_group),
            ("rope.dimension_count", d.qk_rope_head_dim),
            ("rope.scaling.original_context_length", 256),
        ] {
            w.add_metadata(&a(k), v as u32);
        }
        if let Some(r) = d.q_lora_rank {
            w.add_metadata(&a("attention.q_lora_rank"), r as u32);
        }
        w.add_metadata(&a("expert_weights_scale"), d.routed_scaling_factor);
        w.add_metadata(&a("expert_weights_norm"), d.norm_topk_prob);
        let gating = match d.scoring_func {
            ScoringFunc::Softmax => 1u32,
            ScoringFunc::Sigmoid => 2,
        };
        w.add_metadata(&a("expert_gating_func"), gating);
        w.add_metadata(&a("rope.scaling.type"), "yarn");
        w.add_metadata(&a("rope.scaling.factor"), 4.0f32);
        w.add_metadata(&a("rope.scaling.yarn_log_multiplier"), 0.1f32);
    }
    for (k, v) in &vocab {
        if k.starts_with("tokenizer.") {
            w.add_metadata(k, v.clone());
        }
    }
    for (name, shape, dtype, bytes) in &out {
        w.add_tensor(name, shape, *dtype, bytes).expect("tensor");
    }
    w.to_bytes().expect("writes")
}

/// A parity fixture's weights as one safetensors shard in `dtype`
/// (f16/bf16), Hugging Face names.
fn checkpoint_shard(dir: &Path, dtype: DType, tmp: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(dir.join("config.json")).expect("config");
    let c = ModelConfig::from_hf_json(&text).expect("config parses");
    let tensors = fixture_tensors(dir);
    let planned: Vec<Planned> = tensors
        .iter()
        .map(|(n, s, _)| Planned {
            name: n.clone(),
            dtype,
            shape: s.clone(),
        })
        .collect();
    let path = tmp.join("shard.safetensors");
    write_minke(
        &path,
        &c,
        None,
        &planned,
        |i, buf| {
            let v = &tensors[i].2;
            let mut row = vec![0u8; dtype.row_bytes(v.len()).expect("row")];
            minke::quant::formats::quantize_row(dtype, v, &mut row);
            buf.extend_from_slice(&row);
            Ok(())
        },
        |_, _| {},
    )
    .expect("writes");
    std::fs::read(&path).expect("read")
}
