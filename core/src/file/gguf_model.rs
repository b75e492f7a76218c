//! A GGUF file as a model: the `llama`/`qwen2` metadata turned into a
//! [`ModelConfig`], llama.cpp's tensor names mapped onto the Hugging Face
//! names the rest of minke uses, and the tensors viewed in place.
//!
//! `deepseek2` files (DeepSeek-V2/V3) carry MLA and MoE tensors under their
//! own names; two come in shapes Hugging Face does not have, and are viewed,
//! not copied: stacked experts `[n_expert, rows, cols]` become one tensor
//! per expert, and the split `attn_k_b`/`attn_v_b` (`[n_head, a, b]`) become
//! `[n_head * a, b]` matrices.
//!
//! Llama GGUF files store q/k rows permuted for llama.cpp's adjacent-pair
//! RoPE; rather than undo that (a repack), the config says
//! [`RopeStyle::Interleaved`] and the rotation follows the file.
//!
//! A file with a vocabulary and no tensors (llama.cpp's
//! `ggml-vocab-*.gguf`) is a tokenizer: [`open_tokenizer`] reads it, and
//! opening it as a model says so instead of naming a missing tensor.

use super::gguf::GgufFile;
use super::{FileKind, Loaded, TokenizerData};
use crate::config::{
    Arch, DeepseekConfig, ModelConfig, RopeScaling, RopeStyle, ScoringFunc, TopkMethod,
};
use crate::log::log_debug;
use crate::mmap::Load;
use crate::progress::Progress;
use crate::tensor::{Blob, TensorStore};
use crate::tokenizer::GgufVocab;
use crate::{Error, Result};
use std::path::Path;

/// The Hugging Face name for a llama.cpp tensor name, if it is one minke uses.
fn hf_name(gguf: &str) -> Option<String> {
    let fixed = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (part, kind) = rest.rsplit_once('.')?;
    if part == "exp_probs_b" {
        return Some(format!(
            "model.layers.{layer}.mlp.gate.e_score_correction_bias"
        ));
    }
    let hf = match part {
        "attn_norm" => "input_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_norm" => "post_attention_layernorm",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        // deepseek2
        "attn_q_a" => "self_attn.q_a_proj",
        "attn_q_a_norm" => "self_attn.q_a_layernorm",
        "attn_q_b" => "self_attn.q_b_proj",
        "attn_kv_a_mqa" => "self_attn.kv_a_proj_with_mqa",
        "attn_kv_a_norm" => "self_attn.kv_a_layernorm",
        "attn_kv_b" => "self_attn.kv_b_proj",
        "attn_k_b" => "self_attn.k_b_proj",
        "attn_v_b" => "self_attn.v_b_proj",
        "ffn_gate_inp" => "mlp.gate",
        "ffn_gate_shexp" => "mlp.shared_experts.gate_proj",
        "ffn_up_shexp" => "mlp.shared_experts.up_proj",
        "ffn_down_shexp" => "mlp.shared_experts.down_proj",
        // Stacked: `*` is replaced by each expert's index.
        "ffn_gate_exps" => "mlp.experts.*.gate_proj",
        "ffn_up_exps" => "mlp.experts.*.up_proj",
        "ffn_down_exps" => "mlp.experts.*.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}.{kind}"))
}

/// Opens a GGUF model file, reporting its steps to `progress`.
pub(crate) fn open(path: &Path, load: Load, progress: &mut Progress<'_>) -> Result<Loaded> {
    let file = path.display().to_string();
    let mut store = TensorStore::default();
    let read = super::read_share(load) * super::FILES_DONE;
    progress.range(0.0, read);
    let blob = store.add_blob(Blob::File(crate::mmap::load_file_with(
        path, load, progress,
    )?));
    let bytes = store.blob_bytes(blob);
    let g = GgufFile::parse(&file, bytes)?;
    progress.range(read, super::FILES_DONE);
    let n_infos = g.tensor_infos().len() as u64;
    if g.tensor_infos().is_empty() {
        return Err(match tokenizer(&g)? {
            Some(_) => Error::Unsupported(format!(
                "{file} holds a tokenizer only (no tensors): it can tokenize but not run"
            )),
            None => Error::format(&file, "no tensors and no tokenizer"),
        });
    }
    let config = config(&file, &g)?;
    let tokenizer = tokenizer(&g)?;
    let base = bytes.as_ptr() as usize;
    let mut tensors = Vec::new();
    let mut unused = Vec::new();
    for (i, info) in g.tensor_infos().iter().enumerate() {
        progress.step(i as u64, n_infos)?;
        let Some(name) = hf_name(info.name) else {
            if info.name == "rope_freqs.weight" {
                return Err(Error::Unsupported(format!(
                    "{file}: per-frequency RoPE factors (rope_freqs.weight, llama3 scaling in GGUF)"
                )));
            }
            unused.push(info.name.to_string());
            continue; // Tensors the architecture does not use.
        };
        let t = info.to_tensor(&file)?;
        let shape: Vec<usize> = t.shape.iter().rev().copied().collect();
        let offset = t.data.as_ptr() as usize - base;
        if name.contains(".experts.*.") {
            let [n, rows, cols] = shape[..] else {
                return Err(Error::format(
                    &file,
                    format!(
                        "tensor `{}` has shape {shape:?}, not [experts, rows, cols]",
                        info.name
                    ),
                ));
            };
            let each = t.data.len() / n.max(1);
            for e in 0..n {
                let name = name.replace('*', &e.to_string());
                tensors.push((name, t.dtype, vec![rows, cols], offset + e * each, each));
            }
            continue;
        }
        let shape = match shape[..] {
            [h, a, b] if name.ends_with("k_b_proj.weight") || name.ends_with("v_b_proj.weight") => {
                vec![h * a, b]
            }
            _ => shape,
        };
        tensors.push((name, t.dtype, shape, offset, t.data.len()));
    }
    let metadata = g
        .metadata()
        .map(|(k, v)| (k.to_string(), super::metadata::gguf(v)))
        .collect();
    for (name, dtype, shape, offset, len) in tensors {
        store.insert(&file, &name, dtype, shape, (blob, offset, len))?;
    }
    progress.step(n_infos, n_infos)?;
    if !unused.is_empty() {
        log_debug!(
            "{file}: {} tensors the architecture does not use: {}",
            unused.len(),
            unused.join(", ")
        );
    }
    let mut config = config;
    config.tie_word_embeddings = store.get("lm_head.weight").is_none();
    if config.arch.is_deepseek() {
        let bias = store
            .get("model.layers.0.self_attn.kv_a_proj_with_mqa.bias")
            .is_some();
        config.qkv_bias = bias;
        config.o_bias = bias;
    } else if config.arch == Arch::Qwen2 {
        config.qkv_bias = true;
    } else {
        config.qkv_bias = store.get("model.layers.0.self_attn.q_proj.bias").is_some();
        config.o_bias = store.get("model.layers.0.self_attn.o_proj.bias").is_some();
    }
    config
        .validate()
        .map_err(|e| Error::format(&file, e.to_string()))?;
    Ok(Loaded {
        kind: FileKind::Gguf,
        config,
        store,
        tokenizer,
        metadata,
    })
}

fn config(file: &str, g: &GgufFile<'_>) -> Result<ModelConfig> {
    let arch_name = g
        .architecture()?
        .ok_or_else(|| Error::format(file, "no general.architecture"))?
        .to_string();
    let (arch, style) = match arch_name.as_str() {
        "llama" => (Arch::Llama, RopeStyle::Interleaved),
        "qwen2" => (Arch::Qwen2, RopeStyle::Half),
        // llama.cpp rotates deepseek2's adjacent pairs, as DeepSeek does.
        "deepseek2" => (Arch::DeepseekV2, RopeStyle::Interleaved),
        other => {
            return Err(Error::Unsupported(format!(
                "{file}: GGUF architecture `{other}`"
            )))
        }
    };
    let key = |k: &str| format!("{arch_name}.{k}");
    let req = |k: &str| -> Result<usize> {
        g.get_usize(&key(k))?
            .ok_or_else(|| Error::format(file, format!("missing metadata `{}`", key(k))))
    };
    let hidden = req("embedding_length")?;
    let n_heads = req("attention.head_count")?;
    let vocab = match g.get_usize(&key("vocab_size"))? {
        Some(v) => v,
        None => g
            .get_str_array("tokenizer.ggml.tokens")?
            .map_or(0, |t| t.len()),
    };
    let vocab = if vocab == 0 {
        g.tensor_info("token_embd.weight")
            .map_or(0, |t| t.shape.get(1).copied().unwrap_or(0))
    } else {
        vocab
    };
    let head_dim = match g.get_usize(&key("attention.key_length"))? {
        Some(d) => d,
        None if n_heads > 0 => hidden / n_heads,
        None => 0,
    };
    let rope_scaling = match g.get_str(&key("rope.scaling.type"))? {
        None | Some("none") => None,
        Some("linear") => Some(RopeScaling::Linear {
            factor: g.get_f32(&key("rope.scaling.factor"))?.unwrap_or(1.0),
        }),
        Some("yarn") if arch == Arch::DeepseekV2 => {
            // llama.cpp keeps 0.1 * mscale_all_dim and assumes mscale is
            // the same (true of every published DeepSeek config).
            let m = g
                .get_f32(&key("rope.scaling.yarn_log_multiplier"))?
                .unwrap_or(0.0)
                / 0.1;
            Some(RopeScaling::Yarn {
                factor: g.get_f32(&key("rope.scaling.factor"))?.unwrap_or(1.0),
                original_max_position_embeddings: req("rope.scaling.original_context_length")?
                    as f32,
                beta_fast: g
                    .get_f32(&key("rope.scaling.yarn_beta_fast"))?
                    .unwrap_or(32.0),
                beta_slow: g
                    .get_f32(&key("rope.scaling.yarn_beta_slow"))?
                    .unwrap_or(1.0),
                mscale: m,
                mscale_all_dim: m,
                attention_factor: None,
                truncate: true,
            })
        }
        Some(other) => {
            return Err(Error::Unsupported(format!(
                "{file}: RoPE scaling `{other}`"
            )))
        }
    };
    let u32_key = |k: &str| -> Result<Option<u32>> { g.get_u32(k) };
    let n_layers = req("block_count")?;
    let (arch, head_dim, n_kv_heads, deepseek) = if arch == Arch::DeepseekV2 {
        let d = deepseek_config(file, g, &arch_name)?;
        let arch = match d.scoring_func {
            ScoringFunc::Sigmoid => Arch::DeepseekV3,
            ScoringFunc::Softmax => Arch::DeepseekV2,
        };
        (arch, d.qk_head_dim(), n_heads, Some(d))
    } else {
        let kv = g
            .get_usize(&key("attention.head_count_kv"))?
            .unwrap_or(n_heads);
        (arch, head_dim, kv, None)
    };
    Ok(ModelConfig {
        arch,
        vocab_size: vocab,
        hidden_size: hidden,
        n_layers,
        n_heads,
        n_kv_heads,
        head_dim,
        intermediate_size: req("feed_forward_length")?,
        rms_norm_eps: g
            .get_f32(&key("attention.layer_norm_rms_epsilon"))?
            .unwrap_or(1e-6),
        rope_theta: g.get_f32(&key("rope.freq_base"))?.unwrap_or(10000.0),
        rope_scaling,
        rope_style: style,
        tie_word_embeddings: false,
        qkv_bias: false,
        o_bias: false,
        max_position_embeddings: g.get_usize(&key("context_length"))?.unwrap_or(2048),
        bos_token_id: u32_key("tokenizer.ggml.bos_token_id")?,
        n_labels: None,
        pad_token_id: u32_key("tokenizer.ggml.padding_token_id")?,
        eos_token_ids: u32_key("tokenizer.ggml.eos_token_id")?
            .into_iter()
            .collect(),
        deepseek,
    })
}

/// The MLA and MoE numbers of a `deepseek2` file (llama.cpp's keys).
fn deepseek_config(file: &str, g: &GgufFile<'_>, arch: &str) -> Result<DeepseekConfig> {
    let key = |k: &str| format!("{arch}.{k}");
    let req = |k: &str| -> Result<usize> {
        g.get_usize(&key(k))?
            .ok_or_else(|| Error::format(file, format!("missing metadata `{}`", key(k))))
    };
    let opt = |k: &str| g.get_usize(&key(k));
    let rope = req("rope.dimension_count")?;
    // Files made since llama.cpp's MLA support describe the latent as the
    // key (`key_length` = rank + rope) and keep the head sizes in `*_mla`.
    let (qk, v) = match opt("attention.key_length_mla")? {
        Some(k) => (k, req("attention.value_length_mla")?),
        None => (req("attention.key_length")?, req("attention.value_length")?),
    };
    if qk <= rope {
        return Err(Error::format(
            file,
            format!("key length {qk} leaves no room for {rope} RoPE dimensions"),
        ));
    }
    let n_group = opt("expert_group_count")?.unwrap_or(1);
    // llama.cpp's LLAMA_EXPERT_GATING_FUNC_TYPE: 1 softmax, 2 sigmoid.
    let scoring_func = match g.get_u32(&key("expert_gating_func"))? {
        None | Some(1) => ScoringFunc::Softmax,
        Some(2) => ScoringFunc::Sigmoid,
        Some(o) => {
            return Err(Error::Unsupported(format!(
                "{file}: expert gating function {o}"
            )))
        }
    };
    let topk_method = match scoring_func {
        ScoringFunc::Sigmoid => TopkMethod::NoauxTc,
        ScoringFunc::Softmax if n_group > 1 => TopkMethod::GroupLimitedGreedy,
        ScoringFunc::Softmax => TopkMethod::Greedy,
    };
    Ok(DeepseekConfig {
        q_lora_rank: opt("attention.q_lora_rank")?.filter(|&r| r > 0),
        kv_lora_rank: req("attention.kv_lora_rank")?,
        qk_nope_head_dim: qk - rope,
        qk_rope_head_dim: rope,
        v_head_dim: v,
        first_k_dense_replace: opt("leading_dense_block_count")?.unwrap_or(0),
        moe_layer_freq: 1,
        n_routed_experts: req("expert_count")?,
        n_shared_experts: opt("expert_shared_count")?.unwrap_or(0),
        num_experts_per_tok: req("expert_used_count")?,
        moe_intermediate_size: req("expert_feed_forward_length")?,
        topk_method,
        n_group,
        topk_group: opt("expert_group_used_count")?.unwrap_or(n_group),
        scoring_func,
        norm_topk_prob: g.get_bool(&key("expert_weights_norm"))?.unwrap_or(false),
        routed_scaling_factor: g.get_f32(&key("expert_weights_scale"))?.unwrap_or(1.0),
    })
}

/// The tokenizer of a GGUF file, read from its metadata alone: the
/// tensors, if any, are neither checked nor bound.
pub fn open_tokenizer(path: &Path) -> Result<Option<TokenizerData>> {
    let bytes = crate::mmap::load_file(path, Load::Map)?;
    tokenizer(&GgufFile::parse(
        &path.display().to_string(),
        bytes.bytes(),
    )?)
}

fn tokenizer(g: &GgufFile<'_>) -> Result<Option<TokenizerData>> {
    let Some(tokens) = g.get_str_array("tokenizer.ggml.tokens")? else {
        return Ok(None);
    };
    Ok(Some(TokenizerData::Gguf(Box::new(GgufVocab {
        model: g.get_str("tokenizer.ggml.model")?.unwrap_or("").to_string(),
        pre: g.get_str("tokenizer.ggml.pre")?.map(str::to_string),
        tokens: tokens.to_vec(),
        merges: g
            .get_str_array("tokenizer.ggml.merges")?
            .map(<[String]>::to_vec)
            .unwrap_or_default(),
        token_types: g
            .get_i32_array("tokenizer.ggml.token_type")?
            .unwrap_or_default(),
        bos: g.get_u32("tokenizer.ggml.bos_token_id")?,
        eos: g.get_u32("tokenizer.ggml.eos_token_id")?,
        pad: g.get_u32("tokenizer.ggml.padding_token_id")?,
        add_bos: g.get_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(false),
        chat_template: g.get_str("tokenizer.chat_template")?.map(str::to_string),
    }))))
}

#[cfg(test)]
mod tests {
    use super::hf_name;

    #[test]
    fn names_map_onto_hugging_face() {
        assert_eq!(
            hf_name("blk.12.attn_k.weight").unwrap(),
            "model.layers.12.self_attn.k_proj.weight"
        );
        assert_eq!(
            hf_name("blk.0.attn_q.bias").unwrap(),
            "model.layers.0.self_attn.q_proj.bias"
        );
        assert_eq!(
            hf_name("blk.3.ffn_down.weight").unwrap(),
            "model.layers.3.mlp.down_proj.weight"
        );
        assert_eq!(
            hf_name("token_embd.weight").unwrap(),
            "model.embed_tokens.weight"
        );
        assert_eq!(hf_name("blk.x.attn_k.weight"), None);
        assert_eq!(hf_name("rope_freqs.weight"), None);
    }
}
