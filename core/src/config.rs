//! Model configuration: the numbers that define an architecture, read from a
//! Hugging Face `config.json` (both RoPE spellings found in the wild) or from
//! GGUF metadata, and stored as JSON in a `.minke` file.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod deepseek;
pub use deepseek::{DeepseekConfig, ScoringFunc, TopkMethod};

/// The architectures minke runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arch {
    /// `LlamaForCausalLM`: DeepSeek-LLM, DeepSeek-Coder, R1-Distill-Llama, SmolLM2.
    Llama,
    /// `Qwen2ForCausalLM`: Llama plus q/k/v bias (R1-Distill-Qwen).
    Qwen2,
    /// `DeepseekV2ForCausalLM`: MLA, DeepSeekMoE with a softmax gate.
    DeepseekV2,
    /// `DeepseekV3ForCausalLM`: MLA, DeepSeekMoE with a sigmoid gate and
    /// score-correction bias.
    DeepseekV3,
}

impl Arch {
    /// The Hugging Face class name.
    pub fn hf_name(self) -> &'static str {
        match self {
            Arch::Llama => "LlamaForCausalLM",
            Arch::Qwen2 => "Qwen2ForCausalLM",
            Arch::DeepseekV2 => "DeepseekV2ForCausalLM",
            Arch::DeepseekV3 => "DeepseekV3ForCausalLM",
        }
    }

    /// DeepSeek-V2 or V3 (MLA + DeepSeekMoE).
    pub fn is_deepseek(self) -> bool {
        matches!(self, Arch::DeepseekV2 | Arch::DeepseekV3)
    }
}

/// How RoPE rotates pairs of a head's dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RopeStyle {
    /// Hugging Face's `rotate_half`: dimension `i` pairs with `i + d/2`
    /// (llama.cpp's "NEOX" mode). Used by HF checkpoints and Qwen2 GGUF.
    Half,
    /// Adjacent pairs `(2i, 2i+1)` (llama.cpp's "normal" mode). Llama GGUF
    /// files store q/k permuted for this, so they are used as they are.
    Interleaved,
}

/// RoPE frequency scaling.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum RopeScaling {
    /// Positions divided by `factor` (all frequencies divided).
    Linear { factor: f32 },
    /// Llama 3.1's scheme: low frequencies divided by `factor`, high ones
    /// kept, a smooth blend between.
    Llama3 {
        factor: f32,
        low_freq_factor: f32,
        high_freq_factor: f32,
        original_max_position_embeddings: f32,
    },
    /// YaRN (Peng et al. 2023), as transformers computes it: frequencies
    /// blended between interpolated and kept along a ramp, cos/sin scaled by
    /// an attention factor. DeepSeek also scales its softmax (see
    /// `mscale_all_dim`).
    Yarn {
        factor: f32,
        original_max_position_embeddings: f32,
        beta_fast: f32,
        beta_slow: f32,
        /// 0 when absent.
        mscale: f32,
        /// 0 when absent.
        mscale_all_dim: f32,
        /// Overrides the factor computed from `mscale`/`mscale_all_dim`.
        attention_factor: Option<f32>,
        /// Floor/ceil the correction range (transformers' default: true).
        truncate: bool,
    },
}

/// Everything the forward pass needs to know about a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub arch: Arch,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub intermediate_size: usize,
    pub rms_norm_eps: f32,
    pub rope_theta: f32,
    pub rope_scaling: Option<RopeScaling>,
    pub rope_style: RopeStyle,
    pub tie_word_embeddings: bool,
    /// Bias on the q, k and v projections (Qwen2; Llama with `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on the output projection (Llama with `attention_bias`).
    pub o_bias: bool,
    pub max_position_embeddings: usize,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    /// Sequence classification (a reward model's `score` head): the number
    /// of labels. `None` for a causal language model.
    #[serde(default)]
    pub n_labels: Option<usize>,
    /// The padding token (a reward is read at the last token that is not it).
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    /// MLA and MoE numbers (DeepSeek-V2/V3 only). For these, `head_dim` is
    /// `qk_nope_head_dim + qk_rope_head_dim`, `n_kv_heads == n_heads`, and
    /// `qkv_bias`/`o_bias` both mean `attention_bias`.
    #[serde(default)]
    pub deepseek: Option<DeepseekConfig>,
}

impl ModelConfig {
    /// Width of the query projection output (`n_heads * head_dim`).
    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }

    /// Values the head produces per position: the vocabulary for a language
    /// model, the labels for a classifier (reward model).
    pub fn n_outputs(&self) -> usize {
        self.n_labels.unwrap_or(self.vocab_size)
    }

    /// Width of the key/value projection outputs (`n_kv_heads * head_dim`).
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// Reads a Hugging Face `config.json`.
    pub fn from_hf_json(text: &str) -> Result<ModelConfig> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| Error::Config(format!("config.json is not valid JSON: {e}")))?;
        Self::from_hf_value(&v)
    }

    /// Reads a parsed Hugging Face config.
    pub fn from_hf_value(v: &Value) -> Result<ModelConfig> {
        let archs = v.get("architectures").and_then(Value::as_array);
        let name = archs
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .or_else(|| v.get("model_type").and_then(Value::as_str))
            .ok_or_else(|| Error::Config("config.json has no `architectures`".into()))?;
        let arch = match name {
            "LlamaForCausalLM"
            | "llama"
            | "MistralForCausalLM"
            | "LlamaForSequenceClassification" => Arch::Llama,
            "Qwen2ForCausalLM" | "qwen2" | "Qwen2ForSequenceClassification" => Arch::Qwen2,
            "DeepseekV2ForCausalLM" | "deepseek_v2" => Arch::DeepseekV2,
            "DeepseekV3ForCausalLM" | "deepseek_v3" => Arch::DeepseekV3,
            other => return Err(Error::Unsupported(format!("architecture {other}"))),
        };
        let hidden_size = req_usize(v, "hidden_size")?;
        let n_heads = req_usize(v, "num_attention_heads")?;
        let n_kv_heads = opt_usize(v, "num_key_value_heads")?.unwrap_or(n_heads);
        let head_dim = match opt_usize(v, "head_dim")? {
            Some(d) => d,
            None if n_heads > 0 => hidden_size / n_heads,
            None => 0,
        };
        let attention_bias = v
            .get("attention_bias")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if v.get("mlp_bias").and_then(Value::as_bool) == Some(true) {
            return Err(Error::Unsupported("mlp_bias = true".into()));
        }
        let (rope_theta, rope_scaling) = parse_rope(v)?;
        let deepseek = match arch {
            Arch::DeepseekV2 | Arch::DeepseekV3 => Some(deepseek::parse(v, arch)?),
            Arch::Llama | Arch::Qwen2 => None,
        };
        // MLA heads: transformers writes `head_dim` = qk_rope_head_dim, which
        // is not what the rest of minke means by it. The sum is checked:
        // `validate` bounds each part, but only after this.
        let (head_dim, n_kv_heads) = match &deepseek {
            Some(d) => {
                let (nope, rope) = (d.qk_nope_head_dim, d.qk_rope_head_dim);
                let qk = nope.checked_add(rope).ok_or_else(|| {
                    Error::Config(format!(
                        "qk_nope_head_dim ({nope}) + qk_rope_head_dim ({rope}) overflows"
                    ))
                })?;
                (qk, n_heads)
            }
            None => (head_dim, n_kv_heads),
        };
        // DeepSeek-V2 rotates adjacent pairs (complex multiplication); V3
        // does when `rope_interleave` (its default).
        let rope_style = match arch {
            Arch::DeepseekV2 => RopeStyle::Interleaved,
            Arch::DeepseekV3
                if v.get("rope_interleave").and_then(Value::as_bool) != Some(false) =>
            {
                RopeStyle::Interleaved
            }
            _ => RopeStyle::Half,
        };
        let cfg = ModelConfig {
            arch,
            vocab_size: req_usize(v, "vocab_size")?,
            hidden_size,
            n_layers: req_usize(v, "num_hidden_layers")?,
            n_heads,
            n_kv_heads,
            head_dim,
            intermediate_size: req_usize(v, "intermediate_size")?,
            rms_norm_eps: opt_f32(v, "rms_norm_eps")?.unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            rope_style,
            tie_word_embeddings: v
                .get("tie_word_embeddings")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            qkv_bias: arch == Arch::Qwen2 || attention_bias,
            o_bias: arch != Arch::Qwen2 && attention_bias,
            max_position_embeddings: opt_usize(v, "max_position_embeddings")?.unwrap_or(2048),
            bos_token_id: opt_u32(v.get("bos_token_id"))?,
            eos_token_ids: match v.get("eos_token_id") {
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| opt_u32(Some(x)).map(|o| o.unwrap_or(0)))
                    .collect::<Result<_>>()?,
                other => opt_u32(other)?.into_iter().collect(),
            },
            n_labels: if name.ends_with("ForSequenceClassification") {
                Some(match opt_usize(v, "num_labels")? {
                    Some(n) => n,
                    None => v
                        .get("id2label")
                        .and_then(Value::as_object)
                        .map_or(1, |m| m.len()),
                })
            } else {
                None
            },
            pad_token_id: opt_u32(v.get("pad_token_id"))?,
            deepseek,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks that the numbers are usable together. Every loader calls it.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        for (name, val) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.n_layers),
            ("num_attention_heads", self.n_heads),
            ("num_key_value_heads", self.n_kv_heads),
            ("head_dim", self.head_dim),
            ("intermediate_size", self.intermediate_size),
        ] {
            if val == 0 {
                return bad(format!("{name} is 0"));
            }
            if val > 1 << 24 {
                return bad(format!("{name} = {val} is implausibly large"));
            }
        }
        if self.n_heads % self.n_kv_heads != 0 {
            return bad(format!(
                "num_attention_heads ({}) is not a multiple of num_key_value_heads ({})",
                self.n_heads, self.n_kv_heads
            ));
        }
        // DeepSeek rotates only its `qk_rope_head_dim` part (checked below).
        if self.head_dim % 2 != 0 && self.deepseek.is_none() {
            return bad(format!(
                "head_dim ({}) must be even for RoPE",
                self.head_dim
            ));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps >= 0.0) {
            return bad(format!("rms_norm_eps = {}", self.rms_norm_eps));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0) {
            return bad(format!("rope_theta = {}", self.rope_theta));
        }
        match (&self.deepseek, self.arch.is_deepseek()) {
            (Some(d), true) => d.validate(self)?,
            (None, false) => {}
            _ => {
                return bad(format!(
                    "{} needs DeepSeek settings exactly when it is a DeepSeek model",
                    self.arch.hf_name()
                ))
            }
        }
        if self.n_labels.is_some_and(|n| n == 0 || n > 1 << 16) {
            return bad(format!("num_labels = {:?}", self.n_labels));
        }
        if let Some(id) = self.bos_token_id {
            if id as usize >= self.vocab_size {
                return bad(format!(
                    "bos_token_id {id} >= vocab_size {}",
                    self.vocab_size
                ));
            }
        }
        Ok(())
    }
}

fn parse_rope(v: &Value) -> Result<(f32, Option<RopeScaling>)> {
    // transformers 5 writes `rope_parameters` (theta inside it); most published
    // checkpoints have `rope_theta` and `rope_scaling` at the top level.
    let params = v.get("rope_parameters").filter(|p| p.is_object());
    let theta = match params.and_then(|p| p.get("rope_theta")) {
        Some(t) => num_f32(t, "rope_parameters.rope_theta")?,
        None => opt_f32(v, "rope_theta")?.unwrap_or(10000.0),
    };
    let scaling = params.or_else(|| v.get("rope_scaling").filter(|s| !s.is_null()));
    let Some(s) = scaling else {
        return Ok((theta, None));
    };
    let kind = s
        .get("rope_type")
        .or_else(|| s.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let f = |key: &str| -> Result<f32> {
        let x = s
            .get(key)
            .ok_or_else(|| Error::Config(format!("rope scaling `{kind}` lacks `{key}`")))?;
        num_f32(x, key)
    };
    let scaling = match kind {
        "default" => None,
        "linear" => Some(RopeScaling::Linear {
            factor: f("factor")?,
        }),
        "llama3" => Some(RopeScaling::Llama3 {
            factor: f("factor")?,
            low_freq_factor: f("low_freq_factor")?,
            high_freq_factor: f("high_freq_factor")?,
            original_max_position_embeddings: f("original_max_position_embeddings")?,
        }),
        "yarn" => {
            let old_ctx = f("original_max_position_embeddings")?;
            // `or` as transformers reads them: absent, null or 0 mean the default.
            let opt = |key: &str, default: f32| -> Result<f32> {
                Ok(opt_f32(s, key)?.filter(|&x| x != 0.0).unwrap_or(default))
            };
            let factor = match opt_f32(s, "factor")? {
                Some(x) => x,
                None => opt_usize(v, "max_position_embeddings")?.unwrap_or(2048) as f32 / old_ctx,
            };
            Some(RopeScaling::Yarn {
                factor,
                original_max_position_embeddings: old_ctx,
                beta_fast: opt("beta_fast", 32.0)?,
                beta_slow: opt("beta_slow", 1.0)?,
                mscale: opt("mscale", 0.0)?,
                mscale_all_dim: opt("mscale_all_dim", 0.0)?,
                attention_factor: opt_f32(s, "attention_factor")?,
                truncate: s.get("truncate").and_then(Value::as_bool).unwrap_or(true),
            })
        }
        other => return Err(Error::Unsupported(format!("RoPE scaling type `{other}`"))),
    };
    if let Some(
        RopeScaling::Linear { factor }
        | RopeScaling::Llama3 { factor, .. }
        | RopeScaling::Yarn { factor, .. },
    ) = scaling
    {
        if !(factor.is_finite() && factor > 0.0) {
            return Err(Error::Config(format!("rope scaling factor = {factor}")));
        }
    }
    if let Some(RopeScaling::Yarn {
        original_max_position_embeddings: n,
        beta_fast,
        beta_slow,
        attention_factor,
        ..
    }) = scaling
    {
        let ok = |x: f32| x.is_finite() && x > 0.0;
        if !(ok(n) && ok(beta_fast) && ok(beta_slow) && attention_factor.is_none_or(ok)) {
            return Err(Error::Config(format!(
                "yarn rope scaling: original_max_position_embeddings {n}, beta_fast {beta_fast}, \
                 beta_slow {beta_slow}, attention_factor {attention_factor:?}"
            )));
        }
    }
    Ok((theta, scaling))
}

fn num_f32(x: &Value, key: &str) -> Result<f32> {
    x.as_f64()
        .map(|f| f as f32)
        .ok_or_else(|| Error::Config(format!("`{key}` is not a number")))
}

fn opt_f32(v: &Value, key: &str) -> Result<Option<f32>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => num_f32(x, key).map(Some),
    }
}

fn opt_usize(v: &Value, key: &str) -> Result<Option<usize>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_u64()
            .and_then(|u| usize::try_from(u).ok())
            .map(Some)
            .ok_or_else(|| Error::Config(format!("`{key}` is not a non-negative integer"))),
    }
}

fn req_usize(v: &Value, key: &str) -> Result<usize> {
    opt_usize(v, key)?.ok_or_else(|| Error::Config(format!("config lacks `{key}`")))
}

fn opt_u32(x: Option<&Value>) -> Result<Option<u32>> {
    match x {
        None | Some(Value::Null) => Ok(None),
        Some(x) => x
            .as_u64()
            .and_then(|u| u32::try_from(u).ok())
            .map(Some)
            .ok_or_else(|| Error::Config(format!("token id {x} is not a u32"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"{"architectures":["LlamaForCausalLM"],"vocab_size":100,
        "hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,
        "num_key_value_heads":2,"intermediate_size":128,"rms_norm_eps":1e-5,
        "eos_token_id":[1,2],"bos_token_id":0"#;

    #[test]
    fn both_rope_spellings_agree() {
        let old = format!(
            r#"{BASE},"rope_theta":50000.0,"rope_scaling":{{"rope_type":"llama3","factor":8.0,
            "low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":64}}}}"#
        );
        let new = format!(
            r#"{BASE},"rope_parameters":{{"rope_type":"llama3","rope_theta":50000.0,"factor":8.0,
            "low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":64}}}}"#
        );
        let a = ModelConfig::from_hf_json(&old).unwrap();
        let b = ModelConfig::from_hf_json(&new).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.rope_theta, 50000.0);
        assert_eq!(a.head_dim, 16);
        assert_eq!(a.eos_token_ids, vec![1, 2]);
    }

    #[test]
    fn default_rope_parameters_mean_no_scaling() {
        let c = format!(r#"{BASE},"rope_parameters":{{"rope_type":"default","rope_theta":1e4}}}}"#);
        assert_eq!(ModelConfig::from_hf_json(&c).unwrap().rope_scaling, None);
    }

    #[test]
    fn unsupported_things_are_named() {
        let yarn = format!(r#"{BASE},"rope_scaling":{{"type":"yarn","factor":4.0}}}}"#);
        let e = ModelConfig::from_hf_json(&yarn).unwrap_err().to_string();
        assert!(e.contains("yarn"), "{e}");
        let arch = BASE.replace("LlamaForCausalLM", "GPTNeoXForCausalLM") + "}";
        let e = ModelConfig::from_hf_json(&arch).unwrap_err().to_string();
        assert!(e.contains("GPTNeoXForCausalLM"), "{e}");
        let heads = BASE.replace(r#""num_key_value_heads":2"#, r#""num_key_value_heads":3"#) + "}";
        let e = ModelConfig::from_hf_json(&heads).unwrap_err().to_string();
        assert!(e.contains("not a multiple"), "{e}");
        let missing = BASE.replace(r#""vocab_size":100,"#, "") + "}";
        let e = ModelConfig::from_hf_json(&missing).unwrap_err().to_string();
        assert!(e.contains("vocab_size"), "{e}");
    }
}
