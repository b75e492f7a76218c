//! The DeepSeek-V2/V3 part of a [`ModelConfig`]: Multi-head Latent Attention
//! sizes and DeepSeekMoE routing, read from a Hugging Face `config.json` in
//! both spellings found in the wild (transformers 5 and the published
//! DeepSeek configs), with transformers' defaults for absent keys.
//!
//! What the two reference implementations disagree on, or what would change
//! the math in a way minke does not implement, is refused with an error that
//! names the key.

use super::{opt_f32, opt_usize, req_usize, Arch, ModelConfig};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How router logits become expert scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScoringFunc {
    /// Softmax over all routed experts (DeepSeek-V2).
    Softmax,
    /// Independent sigmoids (DeepSeek-V3).
    Sigmoid,
}

/// How the `num_experts_per_tok` experts are chosen from the scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TopkMethod {
    /// The top-k scores (V2 `greedy`).
    Greedy,
    /// V2 `group_limited_greedy`: experts form `n_group` groups, the
    /// `topk_group` groups with the highest single score are kept.
    GroupLimitedGreedy,
    /// V3 `noaux_tc`: the choice is made on score + correction bias; groups
    /// are ranked by the sum of their two best biased scores; the weights
    /// are the unbiased scores.
    NoauxTc,
}

/// MLA and MoE numbers of a DeepSeek-V2/V3 model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeepseekConfig {
    /// Rank of the query compression (`q_a_proj`/`q_b_proj`); `None`: one
    /// `q_proj`.
    pub q_lora_rank: Option<usize>,
    /// Width of the cached key/value latent.
    pub kv_lora_rank: usize,
    pub qk_nope_head_dim: usize,
    pub qk_rope_head_dim: usize,
    pub v_head_dim: usize,
    /// Layers `0..first_k_dense_replace` have a dense MLP.
    pub first_k_dense_replace: usize,
    /// Of the later layers, those with `i % moe_layer_freq == 0` are MoE.
    pub moe_layer_freq: usize,
    pub n_routed_experts: usize,
    pub n_shared_experts: usize,
    pub num_experts_per_tok: usize,
    pub moe_intermediate_size: usize,
    pub topk_method: TopkMethod,
    pub n_group: usize,
    pub topk_group: usize,
    pub scoring_func: ScoringFunc,
    pub norm_topk_prob: bool,
    pub routed_scaling_factor: f32,
}

impl DeepseekConfig {
    /// Width of one query/key head (`qk_nope_head_dim + qk_rope_head_dim`).
    pub fn qk_head_dim(&self) -> usize {
        self.qk_nope_head_dim + self.qk_rope_head_dim
    }

    /// Whether layer `i` has a MoE block (else a dense MLP).
    pub fn is_moe_layer(&self, i: usize) -> bool {
        i >= self.first_k_dense_replace && i % self.moe_layer_freq == 0
    }

    /// Width of the shared experts' MLP (one MLP for all of them).
    pub fn shared_intermediate(&self) -> usize {
        self.moe_intermediate_size * self.n_shared_experts
    }

    /// Whether the router has a score-correction bias.
    pub fn has_score_bias(&self) -> bool {
        self.topk_method == TopkMethod::NoauxTc
    }

    /// Checks the numbers against each other and against the rest of `c`.
    pub fn validate(&self, c: &ModelConfig) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        for (name, val) in [
            ("kv_lora_rank", self.kv_lora_rank),
            ("qk_nope_head_dim", self.qk_nope_head_dim),
            ("qk_rope_head_dim", self.qk_rope_head_dim),
            ("v_head_dim", self.v_head_dim),
            ("moe_layer_freq", self.moe_layer_freq),
            ("n_routed_experts", self.n_routed_experts),
            ("num_experts_per_tok", self.num_experts_per_tok),
            ("moe_intermediate_size", self.moe_intermediate_size),
            ("n_group", self.n_group),
            ("topk_group", self.topk_group),
            ("q_lora_rank", self.q_lora_rank.unwrap_or(1)),
        ] {
            if val == 0 {
                return bad(format!("{name} is 0"));
            }
            if val > 1 << 20 {
                return bad(format!("{name} = {val} is implausibly large"));
            }
        }
        if self.n_shared_experts > 1 << 10 {
            return bad(format!(
                "n_shared_experts = {} is implausibly large",
                self.n_shared_experts
            ));
        }
        if self.qk_rope_head_dim % 2 != 0 {
            return bad(format!(
                "qk_rope_head_dim ({}) must be even for RoPE",
                self.qk_rope_head_dim
            ));
        }
        if c.head_dim != self.qk_head_dim() || c.n_kv_heads != c.n_heads {
            return bad(format!(
                "head_dim ({}) must be qk_nope_head_dim + qk_rope_head_dim ({}) and \
                 num_key_value_heads equal to num_attention_heads for MLA",
                c.head_dim,
                self.qk_head_dim()
            ));
        }
        if self.n_routed_experts % self.n_group != 0 {
            return bad(format!(
                "n_routed_experts ({}) is not a multiple of n_group ({})",
                self.n_routed_experts, self.n_group
            ));
        }
        if self.topk_group > self.n_group {
            return bad(format!(
                "topk_group ({}) > n_group ({})",
                self.topk_group, self.n_group
            ));
        }
        let reachable = self.topk_group * (self.n_routed_experts / self.n_group);
        let reachable = match self.topk_method {
            TopkMethod::Greedy => self.n_routed_experts,
            _ => reachable,
        };
        if self.num_experts_per_tok > reachable {
            return bad(format!(
                "num_experts_per_tok ({}) exceeds the {reachable} experts the kept groups hold",
                self.num_experts_per_tok
            ));
        }
        if self.topk_method == TopkMethod::NoauxTc && self.n_routed_experts / self.n_group < 2 {
            return bad("noaux_tc routing needs at least 2 experts per group".into());
        }
        if !(self.routed_scaling_factor.is_finite() && self.routed_scaling_factor > 0.0) {
            return bad(format!(
                "routed_scaling_factor = {}",
                self.routed_scaling_factor
            ));
        }
        match (c.arch, self.scoring_func, self.topk_method) {
            (Arch::DeepseekV2, ScoringFunc::Softmax, TopkMethod::Greedy)
            | (Arch::DeepseekV2, ScoringFunc::Softmax, TopkMethod::GroupLimitedGreedy)
            | (Arch::DeepseekV3, ScoringFunc::Sigmoid, TopkMethod::NoauxTc) => {}
            (arch, s, t) => {
                return Err(Error::Unsupported(format!(
                    "{} with scoring_func {s:?} and topk_method {t:?}",
                    arch.hf_name()
                )))
            }
        }
        if c.arch == Arch::DeepseekV2 && self.norm_topk_prob {
            // DeepSeek's own V2 code normalises and then drops the routed
            // scaling, transformers ignores the flag, llama.cpp normalises
            // and scales: no one answer to match.
            return Err(Error::Unsupported(
                "DeepseekV2 with norm_topk_prob = true (reference implementations disagree)".into(),
            ));
        }
        Ok(())
    }
}

/// Reads the DeepSeek keys of a Hugging Face config for `arch`.
pub(super) fn parse(v: &Value, arch: Arch) -> Result<DeepseekConfig> {
    let v3 = arch == Arch::DeepseekV3;
    if let Some(act) = v.get("hidden_act").and_then(Value::as_str) {
        if act != "silu" {
            return Err(Error::Unsupported(format!("hidden_act `{act}`")));
        }
    }
    let s = |key: &str| -> Option<&str> { v.get(key).and_then(Value::as_str) };
    // transformers' V2 always uses softmax, its V3 always sigmoid and the
    // noaux_tc choice; the published configs spell them out.
    let scoring_func = match s("scoring_func") {
        None => {
            if v3 {
                ScoringFunc::Sigmoid
            } else {
                ScoringFunc::Softmax
            }
        }
        Some("softmax") => ScoringFunc::Softmax,
        Some("sigmoid") => ScoringFunc::Sigmoid,
        Some(o) => return Err(Error::Unsupported(format!("scoring_func `{o}`"))),
    };
    let topk_method = match s("topk_method") {
        None if v3 => TopkMethod::NoauxTc,
        None | Some("greedy") => TopkMethod::Greedy,
        Some("group_limited_greedy") => TopkMethod::GroupLimitedGreedy,
        Some("noaux_tc") => TopkMethod::NoauxTc,
        Some(o) => return Err(Error::Unsupported(format!("topk_method `{o}`"))),
    };
    let (groups_default, shared_default, scale_default) = if v3 {
        ((8, 4), 1, 2.5)
    } else {
        ((1, 1), 2, 1.0)
    };
    let n_group = opt_usize(v, "n_group")?;
    let topk_group = opt_usize(v, "topk_group")?;
    if topk_method == TopkMethod::GroupLimitedGreedy && (n_group.is_none() || topk_group.is_none())
    {
        return Err(Error::Config(
            "topk_method group_limited_greedy needs `n_group` and `topk_group`".into(),
        ));
    }
    // `num_nextn_predict_layers`: multi-token-prediction layers
    // (`model.layers.{n_layers}`) are extra tensors generation does not use;
    // the weights binder never looks them up.
    Ok(DeepseekConfig {
        q_lora_rank: opt_usize(v, "q_lora_rank")?,
        kv_lora_rank: req_usize(v, "kv_lora_rank")?,
        qk_nope_head_dim: req_usize(v, "qk_nope_head_dim")?,
        qk_rope_head_dim: req_usize(v, "qk_rope_head_dim")?,
        v_head_dim: req_usize(v, "v_head_dim")?,
        first_k_dense_replace: opt_usize(v, "first_k_dense_replace")?.unwrap_or(0),
        moe_layer_freq: opt_usize(v, "moe_layer_freq")?.unwrap_or(1),
        n_routed_experts: req_usize(v, "n_routed_experts")?,
        n_shared_experts: opt_usize(v, "n_shared_experts")?.unwrap_or(shared_default),
        num_experts_per_tok: req_usize(v, "num_experts_per_tok")?,
        moe_intermediate_size: req_usize(v, "moe_intermediate_size")?,
        topk_method,
        n_group: n_group.unwrap_or(groups_default.0),
        topk_group: topk_group.unwrap_or(groups_default.1),
        scoring_func,
        norm_topk_prob: match v.get("norm_topk_prob") {
            None | Some(Value::Null) => v3,
            Some(b) => b
                .as_bool()
                .ok_or_else(|| Error::Config("`norm_topk_prob` is not a boolean".into()))?,
        },
        routed_scaling_factor: opt_f32(v, "routed_scaling_factor")?.unwrap_or(scale_default),
    })
}
