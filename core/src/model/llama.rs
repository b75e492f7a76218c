//! The Llama family (Llama, Qwen2): weights, per-session state and the
//! forward pass. RMSNorm → GQA attention with RoPE → residual → RMSNorm →
//! SwiGLU → residual, `n_layers` times, then a final norm and the head.

use super::Env;
use crate::config::ModelConfig;
use crate::kv_cache::KvCache;
use crate::ops::attention::{attention, AttnScratch, AttnShape};
use crate::ops::ffn::{swiglu_ffn, FfnScratch};
use crate::ops::matmul::{linear, quantize_input, Ctx, Linear};
use crate::ops::qkv::{qkv_rope_store, LayerAt, QkvScratch};
use crate::ops::rope::Rope;
use crate::ops::{self, rmsnorm_rows};
use crate::session::SessionParams;
use crate::tensor::{Tensor, TensorStore};
use crate::{Error, Result};
use minke_quant::{BlockQ8A, QK};

/// One decoder layer's weights. Shapes are PyTorch's `[out, in]`.
pub(crate) struct Layer {
    /// `(hidden)`
    pub attn_norm: Vec<f32>,
    /// `[n_heads * head_dim, hidden]`
    pub q: Linear,
    /// `[n_kv_heads * head_dim, hidden]`
    pub k: Linear,
    /// `[n_kv_heads * head_dim, hidden]`
    pub v: Linear,
    /// `[hidden, n_heads * head_dim]`
    pub o: Linear,
    /// `(hidden)`
    pub ffn_norm: Vec<f32>,
    /// `[intermediate, hidden]`
    pub gate: Linear,
    /// `[intermediate, hidden]`
    pub up: Linear,
    /// `[hidden, intermediate]`
    pub down: Linear,
}

/// The weights of a whole model.
pub(crate) struct Weights {
    /// `[vocab, hidden]`, any format: rows are dequantized on lookup.
    pub embed: Tensor,
    pub layers: Vec<Layer>,
    /// `(hidden)`
    pub norm: Vec<f32>,
    /// `[vocab, hidden]`: the embedding again when tied.
    pub output: Linear,
}

/// Looks up tensors by name and checks their shapes.
pub(crate) struct Binder<'a> {
    pub file: &'a str,
    pub store: &'a TensorStore,
}

impl Binder<'_> {
    /// The tensor `name`, which must have `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self
            .store
            .get(name)
            .ok_or_else(|| Error::format(self.file, format!("missing tensor `{name}`")))?;
        if t.shape != shape {
            return Err(Error::format(
                self.file,
                format!(
                    "tensor `{name}` has shape {:?}, the config needs {shape:?}",
                    t.shape
                ),
            ));
        }
        Ok(t.clone())
    }

    /// [`Binder::get`] for a matrix read by single rows or row ranges that
    /// need not be whole groups (MLA's per-head slices): not in an
    /// interleaved format.
    pub fn get_rows(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self.get(name, shape)?;
        if t.dtype.row_group() > 1 {
            return Err(Error::format(
                self.file,
                format!(
                    "tensor `{name}` is {}, an interleaved format; it is read by rows, so it must be stored in a row format ({})",
                    t.dtype,
                    t.dtype.plain()
                ),
            ));
        }
        Ok(t)
    }

    /// A 1-D tensor of `n` values, as f32 (norm weights, biases: small).
    pub fn vec(&self, name: &str, n: usize) -> Result<Vec<f32>> {
        Ok(self.store.to_f32(&self.get(name, &[n])?))
    }

    /// The linear layer `name.weight` (`[out, inp]`), with `name.bias` if
    /// `bias`.
    pub fn linear(&self, name: &str, out: usize, inp: usize, bias: bool) -> Result<Linear> {
        let w = self.get(&format!("{name}.weight"), &[out, inp])?;
        let bias = if bias {
            Some(self.vec(&format!("{name}.bias"), out)?)
        } else {
            None
        };
        Ok(Linear { w, bias })
    }
}

impl Weights {
    /// Finds and checks every tensor the architecture needs.
    pub fn bind(file: &str, c: &ModelConfig, store: &TensorStore) -> Result<Weights> {
        let b = Binder { file, store };
        let (h, q, kv, f) = (c.hidden_size, c.q_dim(), c.kv_dim(), c.intermediate_size);
        let embed = b.get("model.embed_tokens.weight", &[c.vocab_size, h])?;
        let mut layers = Vec::with_capacity(c.n_layers);
        for i in 0..c.n_layers {
            let p = format!("model.layers.{i}");
            layers.push(Layer {
                attn_norm: b.vec(&format!("{p}.input_layernorm.weight"), h)?,
                q: b.linear(&format!("{p}.self_attn.q_proj"), q, h, c.qkv_bias)?,
                k: b.linear(&format!("{p}.self_attn.k_proj"), kv, h, c.qkv_bias)?,
                v: b.linear(&format!("{p}.self_attn.v_proj"), kv, h, c.qkv_bias)?,
                o: b.linear(&format!("{p}.self_attn.o_proj"), h, q, c.o_bias)?,
                ffn_norm: b.vec(&format!("{p}.post_attention_layernorm.weight"), h)?,
                gate: b.linear(&format!("{p}.mlp.gate_proj"), f, h, false)?,
                up: b.linear(&format!("{p}.mlp.up_proj"), f, h, false)?,
                down: b.linear(&format!("{p}.mlp.down_proj"), h, f, false)?,
            });
        }
        // A reward model's head is `score` ([n_labels, hidden], no bias).
        let output = if let Some(n) = c.n_labels {
            b.linear("score", n, h, false)?
        } else if c.tie_word_embeddings && store.get("lm_head.weight").is_none() {
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
        })
    }

    /// Bytes of weights one token reads.
    pub fn bytes_per_token(&self) -> usize {
        let lin = |l: &Linear| l.w.byte_len();
        let layers: usize = self
            .layers
            .iter()
            .map(|l| {
                lin(&l.q)
                    + lin(&l.k)
                    + lin(&l.v)
                    + lin(&l.o)
                    + lin(&l.gate)
                    + lin(&l.up)
                    + lin(&l.down)
            })
            .sum();
        layers + lin(&self.output) + self.embed.row_bytes()
    }
}

/// Per-session state: KV cache, activation buffers for `n_batch` tokens,
/// attention scratch.
pub(crate) struct State {
    kv: KvCache,
    rope: Rope,
    scratch: AttnScratch,
    /// `(n_batch, hidden)` residual stream.
    x: Vec<f32>,
    /// `(n_batch, hidden)` normalised input of a block / block output.
    xn: Vec<f32>,
    /// `(n_batch, max(hidden, q_dim, intermediate) / 32)` int8 activations.
    xq: Vec<BlockQ8A>,
    /// `(intermediate / 32)`: the down projection's int8 input, which the
    /// SwiGLU job quantizes while `xq` still holds its own input.
    xq_down: Vec<BlockQ8A>,
    /// `(n_batch, q_dim)`
    q: Vec<f32>,
    /// `(n_batch, kv_dim)`
    k: Vec<f32>,
    /// `(n_batch, kv_dim)`
    v: Vec<f32>,
    /// `(n_batch, q_dim)` attention output.
    att: Vec<f32>,
    /// `(n_batch, hidden)`: the feed-forward block's output.
    ffo: Vec<f32>,
    /// `(n_batch, intermediate)`
    gate: Vec<f32>,
    /// `(n_batch, intermediate)`
    up: Vec<f32>,
    /// `(n_batch, head_dim)` RoPE cosines and sines per position.
    cos_sin: Vec<f32>,
    /// Transpose scratch: `max(rows) * n_batch`.
    tmp: Vec<f32>,
}

/// The attention shape of a model.
fn attn_shape(c: &ModelConfig) -> AttnShape {
    AttnShape {
        n_heads: c.n_heads,
        n_kv_heads: c.n_kv_heads,
        head_dim: c.head_dim,
        scale: 1.0 / (c.head_dim as f32).sqrt(),
    }
}

/// Widest activation row, for the shared int8 buffer and transpose scratch.
fn widest(c: &ModelConfig) -> usize {
    c.hidden_size
        .max(c.q_dim() + 2 * c.kv_dim())
        .max(c.intermediate_size)
}

impl State {
    /// The KV cache (for saving and restoring a session's state).
    pub(crate) fn cache(&self) -> &KvCache {
        &self.kv
    }

    pub(crate) fn cache_mut(&mut self) -> &mut KvCache {
        &mut self.kv
    }

    /// Floats and blocks [`State::new`] allocates (for memory estimates).
    pub fn bytes(c: &ModelConfig, p: &SessionParams, threads: usize) -> usize {
        let nb = p.n_batch;
        let tmp_rows = widest(c).max(if p.logits_all { c.n_outputs() } else { 0 });
        let floats = nb
            * (3 * c.hidden_size
                + 2 * c.q_dim()
                + 2 * c.kv_dim()
                + 2 * c.intermediate_size
                + c.head_dim)
            + tmp_rows * nb
            + AttnScratch::floats(threads, p.n_ctx, attn_shape(c));
        KvCache::bytes(p.kv_type, c.n_layers, p.n_ctx, c.kv_dim(), c.head_dim)
            + floats * 4
            + (nb * widest(c).div_ceil(QK) + c.intermediate_size.div_ceil(QK))
                * std::mem::size_of::<BlockQ8A>()
    }

    /// Grows the transpose scratch, if need be, for the logits of `rows`
    /// positions of `n_out` values in one forward pass.
    pub fn reserve_outputs(&mut self, rows: usize, n_out: usize) {
        if self.tmp.len() < rows * n_out {
            self.tmp.resize(rows * n_out, 0.0);
        }
    }

    /// Remakes the per-thread scratch for `threads` threads (the KV cache
    /// and everything else is kept).
    pub fn set_threads(&mut self, c: &ModelConfig, p: &SessionParams, threads: usize) {
        self.scratch = AttnScratch::new(threads, p.n_ctx, attn_shape(c));
    }

    pub fn new(c: &ModelConfig, p: &SessionParams, threads: usize) -> State {
        let nb = p.n_batch;
        let tmp_rows = widest(c).max(if p.logits_all { c.n_outputs() } else { 0 });
        let z = |n: usize| vec![0f32; n];
        State {
            kv: KvCache::new(p.kv_type, c.n_layers, p.n_ctx, c.kv_dim(), c.head_dim),
            rope: Rope::new(c),
            scratch: AttnScratch::new(threads, p.n_ctx, attn_shape(c)),
            x: z(nb * c.hidden_size),
            xn: z(nb * c.hidden_size),
            xq: vec![BlockQ8A::ZERO; nb * widest(c).div_ceil(QK)],
            xq_down: vec![BlockQ8A::ZERO; c.intermediate_size.div_ceil(QK)],
            q: z(nb * c.q_dim()),
            k: z(nb * c.kv_dim()),
            v: z(nb * c.kv_dim()),
            att: z(nb * c.q_dim()),
            ffo: z(nb * c.hidden_size),
            gate: z(nb * c.intermediate_size),
            up: z(nb * c.intermediate_size),
            cos_sin: z(nb * c.head_dim),
            tmp: z(tmp_rows * nb),
        }
    }

    /// Drops cache positions `keep..keep + discard` of the first `len`,
    /// moving the rest down (see [`KvCache::shift`]); the scratch is the
    /// RoPE and key buffers of the next forward pass.
    pub fn shift(&mut self, keep: usize, discard: usize, len: usize) {
        let n = self.rope.dim();
        self.kv.shift(
            &self.rope,
            keep,
            discard,
            len,
            &mut self.cos_sin[..n],
            &mut self.k,
        );
    }

    /// Runs `tokens` (at most `n_batch`) at positions `pos0..`, and writes
    /// the logits of the last token, or of every token when `all`, to
    /// `logits` (`(rows, vocab)`). Returns the number of rows written, or
    /// `None` when the abort callback stopped it before a layer.
    pub fn forward(
        &mut self,
        env: &Env<'_>,
        w: &Weights,
        tokens: &[u32],
        pos0: usize,
        all: bool,
        logits: &mut [f32],
    ) -> Option<usize> {
        let c = env.config;
        let n = tokens.len();
        let (h, qd, hd) = (c.hidden_size, c.q_dim(), c.head_dim);
        let ctx = Ctx {
            pool: env.pool,
            kernels: env.kernels,
            store: env.store,
            lora: env.lora,
        };
        let s = self;

        for (t, &tok) in tokens.iter().enumerate() {
            env.store
                .row_f32(&w.embed, tok as usize, &mut s.x[t * h..(t + 1) * h]);
            s.rope
                .cos_sin(pos0 + t, &mut s.cos_sin[t * hd..(t + 1) * hd]);
        }
        let shape = attn_shape(c);
        for (li, l) in w.layers.iter().enumerate() {
            if env.stop() {
                return None;
            }
            let Layer {
                attn_norm,
                q,
                k,
                v,
                o,
                ffn_norm,
                gate,
                up,
                down,
            } = l;
            // Attention block.
            rmsnorm_rows(&mut s.xn[..n * h], &s.x[..n * h], attn_norm, c.rms_norm_eps);
            let scratch = QkvScratch {
                xq: &mut s.xq,
                q: &mut s.q,
                k: &mut s.k,
                v: &mut s.v,
                tmp: &mut s.tmp,
            };
            let at = LayerAt {
                layer: li,
                pos0,
                cos_sin: &s.cos_sin[..n * hd],
            };
            qkv_rope_store(
                &ctx,
                [q, k, v],
                &s.xn[..n * h],
                n,
                at,
                &s.rope,
                &mut s.kv,
                scratch,
            );
            // The norm after attention waits on its weights otherwise: the
            // layer's weights have pushed them out of every cache since
            // the last token. SmolLM2 Q4_0 decode, 2 threads: the two norms
            // (with the first one's quantization) 3.3k → 2.2k cycles a
            // layer (rdtsc medians of 8 runs).
            minke_quant::kernels::prefetch(ffn_norm);
            attention(
                env.pool,
                env.kernels,
                shape,
                &s.q,
                s.kv.layer(li),
                pos0..pos0 + n,
                &mut s.scratch,
                &mut s.att,
            );
            let x = quantize_input(&ctx, &o.w, &s.att[..n * qd], &mut s.xq);
            linear(&ctx, o, x, n, &mut s.xn, &mut s.tmp);
            ops::add(&mut s.x[..n * h], &s.xn[..n * h]);

            // Feed-forward block (SwiGLU, Shazeer 2020).
            rmsnorm_rows(&mut s.xn[..n * h], &s.x[..n * h], ffn_norm, c.rms_norm_eps);
            let scratch = FfnScratch {
                gate: &mut s.gate,
                up: &mut s.up,
                xq: &mut s.xq,
                xq_down: &mut s.xq_down,
                tmp: &mut s.tmp,
            };
            let next_norm = w.layers.get(li + 1).map_or(&w.norm, |l| &l.attn_norm);
            swiglu_ffn(
                &ctx,
                gate,
                up,
                down,
                &s.xn[..n * h],
                n,
                scratch,
                &mut s.ffo,
                || {
                    // The next norm's weights, as `ffn_norm` above.
                    minke_quant::kernels::prefetch(next_norm)
                },
            );
            ops::add(&mut s.x[..n * h], &s.ffo[..n * h]);
        }

        // Final norm and output head: every position, or only the last.
        let first = if all { 0 } else { n - 1 };
        let rows = n - first;
        rmsnorm_rows(
            &mut s.xn[..rows * h],
            &s.x[first * h..n * h],
            &w.norm,
            c.rms_norm_eps,
        );
        let x = quantize_input(&ctx, &w.output.w, &s.xn[..rows * h], &mut s.xq);
        linear(&ctx, &w.output, x, rows, logits, &mut s.tmp);
        Some(rows)
    }
}
