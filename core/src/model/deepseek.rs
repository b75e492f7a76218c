//! DeepSeek-V2 and V3: Multi-head Latent Attention and DeepSeekMoE. This
//! file binds the weights; [`state`] holds a session's buffers and the
//! forward pass. The math lives in [`crate::ops::mla`] and
//! [`crate::ops::moe`].
//!
//! Tensor names are Hugging Face's. GGUF `deepseek2` files are mapped onto
//! them when opened, with two additions llama.cpp's converter makes: the
//! split `k_b_proj`/`v_b_proj` instead of `kv_b_proj` (see
//! [`crate::ops::mla::Absorb`]), and stacked experts, viewed per expert.

use super::llama::Binder;
use crate::config::{DeepseekConfig, ModelConfig};
use crate::ops::matmul::Linear;
use crate::ops::mla::Absorb;
use crate::ops::moe::{Mlp, MoeWeights, Routing};
use crate::tensor::{Tensor, TensorStore};
use crate::{Error, Result};

pub(crate) mod state;
pub(crate) use state::State;

/// How queries are projected.
pub(crate) enum QProj {
    /// `q_proj`: `[n_heads * (nope + rope), hidden]`.
    Full(Linear),
    /// `q_b_proj(rmsnorm(q_a_proj(x)))`.
    Lora {
        /// `[q_lora_rank, hidden]`
        a: Linear,
        /// `(q_lora_rank)`
        norm: Vec<f32>,
        /// `[n_heads * (nope + rope), q_lora_rank]`
        b: Linear,
    },
}

/// `kv_b_proj`, whole or split (see [`Absorb`]).
pub(crate) enum KvB {
    /// `[n_heads * (nope + v), rank]`
    Joint(Tensor),
    /// `k`: `[n_heads * rank, nope]`, `v`: `[n_heads * v, rank]`.
    Split { k: Tensor, v: Tensor },
}

impl KvB {
    pub fn absorb(&self) -> Absorb<'_> {
        match self {
            KvB::Joint(t) => Absorb::Joint(t),
            KvB::Split { k, v } => Absorb::Split { k, v },
        }
    }

    fn bytes(&self) -> usize {
        match self {
            KvB::Joint(t) => t.byte_len(),
            KvB::Split { k, v } => k.byte_len() + v.byte_len(),
        }
    }
}

/// A layer's feed-forward block.
pub(crate) enum Ffn {
    /// `intermediate_size` wide.
    Dense(Mlp),
    Moe(MoeWeights),
}

/// One decoder layer. Shapes are PyTorch's `[out, in]`.
pub(crate) struct Layer {
    /// `(hidden)`
    pub attn_norm: Vec<f32>,
    pub q: QProj,
    /// `kv_a_proj_with_mqa`: `[rank + rope, hidden]`
    pub kv_a: Linear,
    /// `(rank)`
    pub kv_norm: Vec<f32>,
    pub kv_b: KvB,
    /// `[hidden, n_heads * v]`
    pub o: Linear,
    /// `(hidden)`
    pub ffn_norm: Vec<f32>,
    pub ffn: Ffn,
}

/// The weights of a whole model.
pub(crate) struct Weights {
    /// `[vocab, hidden]`, any format: rows are dequantized on lookup.
    pub embed: Tensor,
    pub layers: Vec<Layer>,
    /// `(hidden)`
    pub norm: Vec<f32>,
    /// `[vocab, hidden]`
    pub output: Linear,
    pub routing: Routing,
}

fn mlp(b: &Binder<'_>, p: &str, inter: usize, hidden: usize) -> Result<Mlp> {
    Ok(Mlp {
        gate: b.linear(&format!("{p}.gate_proj"), inter, hidden, false)?,
        up: b.linear(&format!("{p}.up_proj"), inter, hidden, false)?,
        down: b.linear(&format!("{p}.down_proj"), hidden, inter, false)?,
    })
}

/// The DeepSeek part of `c`, or an error naming the file.
pub(crate) fn ds_config<'c>(file: &str, c: &'c ModelConfig) -> Result<&'c DeepseekConfig> {
    c.deepseek
        .as_ref()
        .ok_or_else(|| Error::format(file, "a DeepSeek model without its MLA/MoE settings"))
}

impl Weights {
    /// Finds and checks every tensor the architecture needs. Tensors of
    /// layers past `n_layers` (V3's multi-token-prediction layer) are not
    /// looked at.
    pub fn bind(file: &str, c: &ModelConfig, store: &TensorStore) -> Result<Weights> {
        let d = ds_config(file, c)?;
        let b = Binder { file, store };
        let (h, nh) = (c.hidden_size, c.n_heads);
        let (nope, rope, v, rank) = (
            d.qk_nope_head_dim,
            d.qk_rope_head_dim,
            d.v_head_dim,
            d.kv_lora_rank,
        );
        let qd = nh * (nope + rope);
        let embed = b.get("model.embed_tokens.weight", &[c.vocab_size, h])?;
        let mut layers = Vec::with_capacity(c.n_layers);
        for i in 0..c.n_layers {
            let p = format!("model.layers.{i}");
            let a = format!("{p}.self_attn");
            let q = match d.q_lora_rank {
                None => QProj::Full(b.linear(&format!("{a}.q_proj"), qd, h, false)?),
                Some(ql) => QProj::Lora {
                    a: b.linear(&format!("{a}.q_a_proj"), ql, h, c.qkv_bias)?,
                    norm: b.vec(&format!("{a}.q_a_layernorm.weight"), ql)?,
                    b: b.linear(&format!("{a}.q_b_proj"), qd, ql, false)?,
                },
            };
            let joint = format!("{a}.kv_b_proj.weight");
            let kv_b = if store.get(&joint).is_some() {
                KvB::Joint(b.get_rows(&joint, &[nh * (nope + v), rank])?)
            } else {
                KvB::Split {
                    k: b.get_rows(&format!("{a}.k_b_proj.weight"), &[nh * rank, nope])?,
                    v: b.get_rows(&format!("{a}.v_b_proj.weight"), &[nh * v, rank])?,
                }
            };
            let f = format!("{p}.mlp");
            let ffn = if d.is_moe_layer(i) {
                let experts = (0..d.n_routed_experts)
                    .map(|e| mlp(&b, &format!("{f}.experts.{e}"), d.moe_intermediate_size, h))
                    .collect::<Result<Vec<_>>>()?;
                Ffn::Moe(MoeWeights {
                    routing: Routing::new(d),
                    router: b.linear(&format!("{f}.gate"), d.n_routed_experts, h, false)?,
                    bias: if d.has_score_bias() {
                        Some(b.vec(
                            &format!("{f}.gate.e_score_correction_bias"),
                            d.n_routed_experts,
                        )?)
                    } else {
                        None
                    },
                    experts,
                    shared: if d.n_shared_experts > 0 {
                        Some(mlp(
                            &b,
                            &format!("{f}.shared_experts"),
                            d.shared_intermediate(),
                            h,
                        )?)
                    } else {
                        None
                    },
                })
            } else {
                Ffn::Dense(mlp(&b, &f, c.intermediate_size, h)?)
            };
            layers.push(Layer {
                attn_norm: b.vec(&format!("{p}.input_layernorm.weight"), h)?,
                q,
                kv_a: b.linear(
                    &format!("{a}.kv_a_proj_with_mqa"),
                    rank + rope,
                    h,
                    c.qkv_bias,
                )?,
                kv_norm: b.vec(&format!("{a}.kv_a_layernorm.weight"), rank)?,
                kv_b,
                o: b.linear(&format!("{a}.o_proj"), h, nh * v, c.o_bias)?,
                ffn_norm: b.vec(&format!("{p}.post_attention_layernorm.weight"), h)?,
                ffn,
            });
        }
        let output = if c.tie_word_embeddings && store.get("lm_head.weight").is_none() {
            Linear {
                w: embed.clone(),
                bias: None,
            }
        } else {
            b.linear("lm_head", c.vocab_size, h, false)?
        };
        Ok(Weights {
            embed,
            layers,
            norm: b.vec("model.norm.weight", h)?,
            output,
            routing: Routing::new(d),
        })
    }

    /// Bytes of weights one decoded token reads: every attention matrix,
    /// and for MoE layers the router, the shared experts and `top_k`
    /// experts (of average size), not all of them; one embedding row.
    pub fn bytes_per_token(&self) -> usize {
        let lin = |l: &Linear| l.w.byte_len();
        let layers: usize = self
            .layers
            .iter()
            .map(|l| {
                let q = match &l.q {
                    QProj::Full(q) => lin(q),
                    QProj::Lora { a, b, .. } => lin(a) + lin(b),
                };
                let ffn = match &l.ffn {
                    Ffn::Dense(m) => m.bytes(),
                    Ffn::Moe(m) => {
                        let all: usize = m.experts.iter().map(Mlp::bytes).sum();
                        lin(&m.router)
                            + m.shared.as_ref().map_or(0, Mlp::bytes)
                            + all * self.routing.top_k / m.experts.len().max(1)
                    }
                };
                q + lin(&l.kv_a) + l.kv_b.bytes() + lin(&l.o) + ffn
            })
            .sum();
        layers + lin(&self.output) + self.embed.row_bytes()
    }
}

#[cfg(test)]
mod tests;
