//! A GGUF file as a model: the `llama`/`qwen2` metadata turned into a
//! [`ModelConfig`], llama.cpp's tensor names mapped onto the Hugging Face
//! names the rest of minke uses, and the tensors viewed in place.
//!
//! Llama GGUF files store q/k rows permuted for llama.cpp's adjacent-pair
//! RoPE; rather than undo that (a repack), the config says
//! [`RopeStyle::Interleaved`] and the rotation follows the file.

use super::gguf::GgufFile;
use super::{FileKind, GgufTokenizer, Loaded, TokenizerData};
use crate::config::{Arch, ModelConfig, RopeScaling, RopeStyle};
use crate::tensor::{Blob, TensorStore};
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
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}.{kind}"))
}

/// Opens a GGUF model file.
pub fn open(path: &Path) -> Result<Loaded> {
    let file = path.display().to_string();
    let mut store = TensorStore::default();
    let blob = store.add_blob(Blob::Mapped(crate::mmap::map_file(path)?));
    let bytes = store.blob_bytes(blob);
    let g = GgufFile::parse(&file, bytes)?;
    let config = config(&file, &g)?;
    let tokenizer = tokenizer(&g)?;
    let base = bytes.as_ptr() as usize;
    let mut tensors = Vec::new();
    for info in g.tensor_infos() {
        let Some(name) = hf_name(info.name) else {
            if info.name == "rope_freqs.weight" {
                return Err(Error::Unsupported(format!(
                    "{file}: per-frequency RoPE factors (rope_freqs.weight, llama3 scaling in GGUF)"
                )));
            }
            continue; // Tensors the architecture does not use.
        };
        let t = info.to_tensor(&file)?;
        let shape: Vec<usize> = t.shape.iter().rev().copied().collect();
        tensors.push((
            name,
            t.dtype,
            shape,
            t.data.as_ptr() as usize - base,
            t.data.len(),
        ));
    }
    for (name, dtype, shape, offset, len) in tensors {
        store.insert(&file, &name, dtype, shape, (blob, offset, len))?;
    }
    let mut config = config;
    config.tie_word_embeddings = store.get("lm_head.weight").is_none();
    if config.arch == Arch::Qwen2 {
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
        Some(other) => {
            return Err(Error::Unsupported(format!(
                "{file}: RoPE scaling `{other}`"
            )))
        }
    };
    let u32_key = |k: &str| -> Result<Option<u32>> { g.get_u32(k) };
    Ok(ModelConfig {
        arch,
        vocab_size: vocab,
        hidden_size: hidden,
        n_layers: req("block_count")?,
        n_heads,
        n_kv_heads: g
            .get_usize(&key("attention.head_count_kv"))?
            .unwrap_or(n_heads),
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
        eos_token_ids: u32_key("tokenizer.ggml.eos_token_id")?
            .into_iter()
            .collect(),
    })
}

fn tokenizer(g: &GgufFile<'_>) -> Result<Option<TokenizerData>> {
    let Some(tokens) = g.get_str_array("tokenizer.ggml.tokens")? else {
        return Ok(None);
    };
    Ok(Some(TokenizerData::Gguf(Box::new(GgufTokenizer {
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
