//! A DeepSeek session's state and the forward pass: RMSNorm → MLA → residual
//! → RMSNorm → dense MLP or DeepSeekMoE → residual, `n_layers` times, then a
//! final norm and the head.
//!
//! Prefill and decode both run MLA in its absorbed form (see
//! [`crate::ops::mla`]): no per-head keys or values are ever expanded, so
//! nothing grows with the context but the latent cache, and a prompt run
//! as a batch gives the same numbers as the same tokens decoded one by one.

use super::{Ffn, Layer, QProj, Weights};
use crate::config::{ModelConfig, RopeScaling};
use crate::model::Env;
use crate::ops::ffn::FfnScratch;
use crate::ops::matmul::{linear, quantize_input, Ctx};
use crate::ops::mla::{mla_attention, LatentCache, Mla, MlaScratch, MlaShape};
use crate::ops::moe::{mlp_forward, moe_forward, MoeBuffers, Routing};
use crate::ops::rope::{yarn_mscale, Rope};
use crate::ops::{self, rmsnorm, rmsnorm_rows};
use crate::session::SessionParams;
use minke_quant::{BlockQ8A, QK};
use std::sync::Mutex;

/// Sizes derived from the config, shared by `new` and `bytes`.
struct Dims {
    h: usize,
    /// `n_heads * (nope + rope)`
    qd: usize,
    /// `q_lora_rank` or 0.
    ql: usize,
    /// `rank + rope`
    kva: usize,
    /// `n_heads * v`
    att: usize,
    /// Widest feed-forward hidden layer.
    ffn: usize,
    /// Widest input of a quantized matmul.
    widest_in: usize,
    /// Most output rows of a matmul (not counting the head).
    widest_out: usize,
    shape: MlaShape,
    routing: Routing,
}

fn dims(c: &ModelConfig) -> Dims {
    let d = c
        .deepseek
        .as_ref()
        .expect("a bound DeepSeek model has its settings");
    let h = c.hidden_size;
    let qd = c.n_heads * d.qk_head_dim();
    let ql = d.q_lora_rank.unwrap_or(0);
    let kva = d.kv_lora_rank + d.qk_rope_head_dim;
    let att = c.n_heads * d.v_head_dim;
    let ffn = c
        .intermediate_size
        .max(d.moe_intermediate_size)
        .max(d.shared_intermediate());
    let mut scale = 1.0 / (d.qk_head_dim() as f32).sqrt();
    if let Some(RopeScaling::Yarn {
        factor,
        mscale_all_dim,
        ..
    }) = c.rope_scaling
    {
        // DeepSeek's softmax correction for YaRN: mscale(factor, all_dim)².
        if mscale_all_dim != 0.0 {
            let m = yarn_mscale(factor, mscale_all_dim);
            scale *= m * m;
        }
    }
    Dims {
        h,
        qd,
        ql,
        kva,
        att,
        ffn,
        widest_in: h.max(ql).max(att).max(ffn).max(d.kv_lora_rank),
        widest_out: qd.max(ql).max(kva).max(h).max(ffn).max(d.n_routed_experts),
        shape: MlaShape {
            n_heads: c.n_heads,
            nope: d.qk_nope_head_dim,
            rope: d.qk_rope_head_dim,
            v: d.v_head_dim,
            rank: d.kv_lora_rank,
            scale,
        },
        routing: Routing::new(d),
    }
}

/// Per-session state: the latent cache, activations for `n_batch` tokens,
/// MLA and MoE scratch.
pub(crate) struct State {
    cache: LatentCache,
    rope: Rope,
    shape: MlaShape,
    /// One per pool thread.
    scratch: Vec<Mutex<MlaScratch>>,
    /// Boxed to keep `model::State`'s variants of similar size.
    moe: Box<MoeBuffers>,
    /// `(n_batch, hidden)` residual stream.
    x: Vec<f32>,
    /// `(n_batch, hidden)` normalised input of a block / attention output.
    xn: Vec<f32>,
    /// `(n_batch, hidden)` feed-forward output.
    ffo: Vec<f32>,
    /// `(n_batch, widest_in / 32)` int8 activations.
    xq: Vec<BlockQ8A>,
    /// `(n_batch, q_lora_rank)` compressed queries.
    qa: Vec<f32>,
    /// `(n_batch, n_heads * (nope + rope))`
    q: Vec<f32>,
    /// `(n_batch, rank + rope)` `kv_a_proj_with_mqa` output.
    kva: Vec<f32>,
    /// `(rank)` one normalised latent.
    c: Vec<f32>,
    /// `(n_batch, n_heads * v)` attention output.
    att: Vec<f32>,
    /// `(n_batch, ffn)`
    gate: Vec<f32>,
    /// `(n_batch, ffn)`
    up: Vec<f32>,
    /// `(n_batch, rope)` RoPE cosines and sines per position.
    cos_sin: Vec<f32>,
    /// Transpose scratch: `max(rows) * n_batch`.
    tmp: Vec<f32>,
    /// One token's feed-forward down-projection input, `ffn / 32` blocks.
    xq_down: Vec<BlockQ8A>,
}

impl State {
    /// The latent cache (for saving and restoring a session's state).
    pub(crate) fn cache(&self) -> &LatentCache {
        &self.cache
    }

    pub(crate) fn cache_mut(&mut self) -> &mut LatentCache {
        &mut self.cache
    }

    /// Bytes [`State::new`] allocates (for memory estimates).
    pub fn bytes(c: &ModelConfig, p: &SessionParams, threads: usize) -> usize {
        let dm = dims(c);
        let nb = p.n_batch;
        let tmp_rows = dm
            .widest_out
            .max(if p.logits_all { c.vocab_size } else { 0 });
        let floats = nb * (3 * dm.h + dm.ql + dm.qd + dm.kva + dm.att + 2 * dm.ffn + dm.shape.rope)
            + dm.shape.rank
            + tmp_rows * nb;
        Self::kv_bytes(c, p)
            + floats * 4
            + (nb * dm.widest_in.div_ceil(QK) + dm.ffn.div_ceil(QK))
                * std::mem::size_of::<BlockQ8A>()
            + threads * MlaScratch::bytes(&dm.shape, p.n_ctx)
            + MoeBuffers::bytes(&dm.routing, nb, dm.h)
    }

    /// Bytes of the latent cache: `n_layers * n_ctx * (kv_lora_rank +
    /// qk_rope_head_dim) * element size`.
    pub fn kv_bytes(c: &ModelConfig, p: &SessionParams) -> usize {
        let dm = dims(c);
        LatentCache::bytes(p.kv_type, c.n_layers, p.n_ctx, dm.shape.rank, dm.shape.rope)
    }

    /// Bytes the latent cache of this state holds.
    #[cfg(test)]
    pub fn cache_bytes(&self) -> usize {
        self.cache.byte_len()
    }

    /// Grows the transpose scratch, if need be, for the logits of `rows`
    /// positions of `n_out` values in one forward pass.
    pub fn reserve_outputs(&mut self, rows: usize, n_out: usize) {
        if self.tmp.len() < rows * n_out {
            self.tmp.resize(rows * n_out, 0.0);
        }
    }

    /// Remakes the per-thread scratch for `threads` threads (the latent
    /// cache and everything else is kept).
    pub fn set_threads(&mut self, c: &ModelConfig, p: &SessionParams, threads: usize) {
        let shape = dims(c).shape;
        self.scratch
            .resize_with(threads, || Mutex::new(MlaScratch::new(&shape, p.n_ctx)));
    }

    pub fn new(c: &ModelConfig, p: &SessionParams, threads: usize) -> State {
        let dm = dims(c);
        let nb = p.n_batch;
        let tmp_rows = dm
            .widest_out
            .max(if p.logits_all { c.vocab_size } else { 0 });
        let z = |n: usize| vec![0f32; n];
        State {
            cache: LatentCache::new(p.kv_type, c.n_layers, p.n_ctx, dm.shape.rank, dm.shape.rope),
            rope: Rope::with_dim(c, dm.shape.rope),
            shape: dm.shape,
            scratch: (0..threads)
                .map(|_| Mutex::new(MlaScratch::new(&dm.shape, p.n_ctx)))
                .collect(),
            moe: Box::new(MoeBuffers::new(&dm.routing, nb, dm.h)),
            x: z(nb * dm.h),
            xn: z(nb * dm.h),
            ffo: z(nb * dm.h),
            xq: vec![BlockQ8A::ZERO; nb * dm.widest_in.div_ceil(QK)],
            qa: z(nb * dm.ql),
            q: z(nb * dm.qd),
            kva: z(nb * dm.kva),
            c: z(dm.shape.rank),
            att: z(nb * dm.att),
            gate: z(nb * dm.ffn),
            up: z(nb * dm.ffn),
            cos_sin: z(nb * dm.shape.rope),
            tmp: z(tmp_rows * nb),
            xq_down: vec![BlockQ8A::ZERO; dm.ffn.div_ceil(QK)],
        }
    }

    /// Drops latent-cache positions `keep..keep + discard` of the first
    /// `len`, moving the rest down (see [`LatentCache::shift`]); the
    /// scratch is the RoPE and latent buffers of the next forward pass.
    pub fn shift(&mut self, keep: usize, discard: usize, len: usize) {
        let n = self.rope.dim();
        self.cache.shift(
            &self.rope,
            keep,
            discard,
            len,
            &mut self.cos_sin[..n],
            &mut self.kva,
        );
    }

    /// Runs `tokens` (at most `n_batch`) at positions `pos0..`, and writes
    /// the logits of the last token, or of every token when `all`, to
    /// `logits` (`(rows, vocab)`). Returns the number of rows written.
    pub fn forward(
        &mut self,
        env: &Env<'_>,
        w: &Weights,
        tokens: &[u32],
        pos0: usize,
        all: bool,
        logits: &mut [f32],
    ) -> Option<usize> {
        self.forward_traced(env, w, tokens, pos0, all, logits, |_, _, _| {})
    }

    /// [`State::forward`], calling `trace(layer, x, moe)` after each layer
    /// with the residual stream `(n, hidden)` and, for MoE layers, the
    /// routing just done (for tests that localise a mismatch).
    #[allow(clippy::too_many_arguments)]
    pub fn forward_traced(
        &mut self,
        env: &Env<'_>,
        w: &Weights,
        tokens: &[u32],
        pos0: usize,
        all: bool,
        logits: &mut [f32],
        mut trace: impl FnMut(usize, &[f32], Option<&MoeBuffers>),
    ) -> Option<usize> {
        let c = env.config;
        let eps = c.rms_norm_eps;
        let n = tokens.len();
        let h = c.hidden_size;
        let sh = self.shape;
        let (qd, kd, rank, rope) = (
            c.n_heads * (sh.nope + sh.rope),
            sh.rank + sh.rope,
            sh.rank,
            sh.rope,
        );
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
                .cos_sin(pos0 + t, &mut s.cos_sin[t * rope..(t + 1) * rope]);
        }
        for (li, l) in w.layers.iter().enumerate() {
            if env.stop() {
                return None;
            }
            let Layer {
                attn_norm,
                q,
                kv_a,
                kv_norm,
                kv_b,
                o,
                ffn_norm,
                ffn,
            } = l;
            // Attention block: project, cache the latent, attend.
            rmsnorm_rows(&mut s.xn[..n * h], &s.x[..n * h], attn_norm, eps);
            match q {
                QProj::Full(qp) => {
                    let x = quantize_input(&ctx, &qp.w, &s.xn[..n * h], &mut s.xq);
                    linear(&ctx, qp, x, n, &mut s.q, &mut s.tmp);
                }
                QProj::Lora { a, norm, b } => {
                    let ql = a.rows();
                    let x = quantize_input(&ctx, &a.w, &s.xn[..n * h], &mut s.xq);
                    linear(&ctx, a, x, n, &mut s.qa, &mut s.tmp);
                    for row in s.qa[..n * ql].chunks_exact_mut(ql) {
                        crate::ops::rmsnorm_in_place(row, norm, eps);
                    }
                    let x = quantize_input(&ctx, &b.w, &s.qa[..n * ql], &mut s.xq);
                    linear(&ctx, b, x, n, &mut s.q, &mut s.tmp);
                }
            }
            let x = quantize_input(&ctx, &kv_a.w, &s.xn[..n * h], &mut s.xq);
            linear(&ctx, kv_a, x, n, &mut s.kva, &mut s.tmp);
            for t in 0..n {
                let cs = &s.cos_sin[t * rope..(t + 1) * rope];
                let (lat, kpe) = s.kva[t * kd..(t + 1) * kd].split_at_mut(rank);
                rmsnorm(&mut s.c, lat, kv_norm, eps);
                s.rope.rotate(kpe, cs);
                s.cache.store(li, pos0 + t, &s.c, kpe);
                for head in s.q[t * qd..(t + 1) * qd].chunks_exact_mut(sh.nope + sh.rope) {
                    s.rope.rotate(&mut head[sh.nope..], cs);
                }
            }
            mla_attention(
                &ctx,
                Mla {
                    shape: sh,
                    w: kv_b.absorb(),
                },
                &s.q[..n * qd],
                s.cache.layer(li),
                pos0..pos0 + n,
                &s.scratch,
                &mut s.att,
            );
            let ad = c.n_heads * sh.v;
            let x = quantize_input(&ctx, &o.w, &s.att[..n * ad], &mut s.xq);
            linear(&ctx, o, x, n, &mut s.xn, &mut s.tmp);
            ops::add(&mut s.x[..n * h], &s.xn[..n * h]);

            // Feed-forward block.
            rmsnorm_rows(&mut s.xn[..n * h], &s.x[..n * h], ffn_norm, eps);
            let scratch = FfnScratch {
                gate: &mut s.gate,
                up: &mut s.up,
                xq: &mut s.xq,
                xq_down: &mut s.xq_down,
                tmp: &mut s.tmp,
            };
            match ffn {
                Ffn::Dense(m) => mlp_forward(&ctx, m, &s.xn[..n * h], n, scratch, &mut s.ffo),
                Ffn::Moe(mw) => {
                    moe_forward(&ctx, mw, &s.xn[..n * h], n, &mut s.moe, scratch, &mut s.ffo)
                }
            }
            ops::add(&mut s.x[..n * h], &s.ffo[..n * h]);
            let moe = matches!(ffn, Ffn::Moe(_)).then_some(&*s.moe);
            trace(li, &s.x[..n * h], moe);
        }

        // Final norm and output head: every position, or only the last.
        let first = if all { 0 } else { n - 1 };
        let rows = n - first;
        rmsnorm_rows(&mut s.xn[..rows * h], &s.x[first * h..n * h], &w.norm, eps);
        let x = quantize_input(&ctx, &w.output.w, &s.xn[..rows * h], &mut s.xq);
        linear(&ctx, &w.output, x, rows, logits, &mut s.tmp);
        Some(rows)
    }
}
