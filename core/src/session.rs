//! [`Session`]: one conversation over a shared [`Model`]. It allocates every
//! buffer it will use when it is created (KV cache, activations, scratch,
//! logits, worker threads), so `prefill` and `decode` allocate nothing.

use crate::kv_cache::{KvCache, KvType};
use crate::model::{Layer, Model};
use crate::ops::attention::{attention, AttnScratch, AttnShape};
use crate::ops::matmul::{linear, quantize_input, Ctx};
use crate::ops::rope::Rope;
use crate::ops::{self, rmsnorm_rows};
use crate::threads::ThreadPool;
use crate::{Error, Result};
use minke_quant::{BlockQ8A, Kernels, QK};
use std::sync::Mutex;

/// How a session is sized.
#[derive(Clone, Debug)]
pub struct SessionParams {
    /// Context length in tokens (prompt and generation together).
    pub n_ctx: usize,
    /// Threads for matrix products and attention (the caller's included).
    pub n_threads: usize,
    /// KV cache element type.
    pub kv_type: KvType,
    /// Most prompt tokens run through the layers at once. Larger batches
    /// read each weight once for more tokens; memory grows with it.
    pub n_batch: usize,
    /// Keep logits for every position of a prefill (for scoring and
    /// `logits --all`): costs `n_batch * vocab` floats more.
    pub logits_all: bool,
}

impl Default for SessionParams {
    fn default() -> Self {
        SessionParams {
            n_ctx: 2048,
            n_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kv_type: KvType::F16,
            n_batch: 64,
            logits_all: false,
        }
    }
}

/// Activation buffers, sized for `n_batch` tokens.
struct Buffers {
    /// `(n_batch, hidden)` residual stream.
    x: Vec<f32>,
    /// `(n_batch, hidden)` normalised input of a block / block output.
    xn: Vec<f32>,
    /// `(n_batch, max(hidden, q_dim, intermediate) / 32)` int8 activations.
    xq: Vec<BlockQ8A>,
    /// `(n_batch, q_dim)`
    q: Vec<f32>,
    /// `(n_batch, kv_dim)`
    k: Vec<f32>,
    /// `(n_batch, kv_dim)`
    v: Vec<f32>,
    /// `(n_batch, q_dim)` attention output.
    att: Vec<f32>,
    /// `(n_batch, intermediate)`
    gate: Vec<f32>,
    /// `(n_batch, intermediate)`
    up: Vec<f32>,
    /// `(n_batch, head_dim)` RoPE cosines and sines per position.
    cos_sin: Vec<f32>,
    /// Transpose scratch: `max(rows) * n_batch`.
    tmp: Vec<f32>,
    /// `(n_batch or 1, vocab)`
    logits: Vec<f32>,
    /// Rows of `logits` that are valid after the last call.
    n_logits: usize,
}

/// A conversation: KV cache, buffers and threads over a borrowed model.
pub struct Session<'m> {
    model: &'m Model,
    params: SessionParams,
    kernels: &'static Kernels,
    pool: ThreadPool,
    kv: KvCache,
    rope: Rope,
    scratch: Vec<Mutex<AttnScratch>>,
    b: Buffers,
    pos: usize,
}

/// Bytes a session takes for `params` (KV cache, buffers, scratch); what
/// [`Session::new`] allocates, to within a few hundred bytes of bookkeeping.
pub fn session_bytes(model: &Model, p: &SessionParams) -> usize {
    let c = &model.config;
    let nb = p.n_batch.max(1);
    let widest = c.hidden_size.max(c.q_dim()).max(c.intermediate_size);
    let tmp_rows = widest.max(if p.logits_all { c.vocab_size } else { 0 });
    let floats = nb
        * (2 * c.hidden_size
            + 2 * c.q_dim()
            + 2 * c.kv_dim()
            + 2 * c.intermediate_size
            + c.head_dim)
        + tmp_rows * nb
        + if p.logits_all { nb } else { 1 } * c.vocab_size
        + p.n_threads.max(1) * (p.n_ctx + 2 * c.head_dim);
    let blocks = nb * widest.div_ceil(QK);
    KvCache::bytes(p.kv_type, c.n_layers, p.n_ctx, c.kv_dim())
        + floats * 4
        + blocks * std::mem::size_of::<BlockQ8A>()
}

impl<'m> Session<'m> {
    /// Creates a session, allocating everything it will use.
    pub fn new(model: &'m Model, params: SessionParams) -> Result<Session<'m>> {
        let c = &model.config;
        if params.n_ctx == 0 || params.n_batch == 0 || params.n_threads == 0 {
            return Err(Error::InvalidArgument(
                "n_ctx, n_batch and n_threads must be at least 1".into(),
            ));
        }
        let kernels = Kernels::get()?;
        let nb = params.n_batch;
        let widest = c.hidden_size.max(c.q_dim()).max(c.intermediate_size);
        let tmp_rows = widest.max(if params.logits_all { c.vocab_size } else { 0 });
        let pool = ThreadPool::new(params.n_threads);
        let scratch = (0..pool.n_threads())
            .map(|_| Mutex::new(AttnScratch::new(params.n_ctx, c.head_dim)))
            .collect();
        let z = |n: usize| vec![0f32; n];
        let b = Buffers {
            x: z(nb * c.hidden_size),
            xn: z(nb * c.hidden_size),
            xq: vec![BlockQ8A::ZERO; nb * widest.div_ceil(QK)],
            q: z(nb * c.q_dim()),
            k: z(nb * c.kv_dim()),
            v: z(nb * c.kv_dim()),
            att: z(nb * c.q_dim()),
            gate: z(nb * c.intermediate_size),
            up: z(nb * c.intermediate_size),
            cos_sin: z(nb * c.head_dim),
            tmp: z(tmp_rows * nb),
            logits: z(if params.logits_all { nb } else { 1 } * c.vocab_size),
            n_logits: 0,
        };
        Ok(Session {
            model,
            kv: KvCache::new(params.kv_type, c.n_layers, params.n_ctx, c.kv_dim()),
            rope: Rope::new(c),
            scratch,
            pool,
            kernels,
            params,
            b,
            pos: 0,
        })
    }

    /// The model this session runs.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// Its parameters.
    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    /// The kernel set in use.
    pub fn kernels(&self) -> &'static Kernels {
        self.kernels
    }

    /// Tokens in the KV cache (the position of the next token).
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Forgets every position from `pos` on, so the next token is at `pos`
    /// (for editing a chat, or scoring several continuations of a prompt).
    pub fn rewind(&mut self, pos: usize) -> Result<()> {
        if pos > self.pos {
            return Err(Error::InvalidArgument(format!(
                "cannot rewind forward to {pos} (at {})",
                self.pos
            )));
        }
        self.pos = pos;
        self.b.n_logits = 0;
        Ok(())
    }

    /// Logits of the last token run (`vocab` values).
    pub fn logits(&self) -> &[f32] {
        let v = self.model.config.vocab_size;
        let last = self.b.n_logits.saturating_sub(1);
        &self.b.logits[last * v..(last + 1) * v]
    }

    /// Runs one token at the current position; returns its logits.
    pub fn decode(&mut self, token: u32) -> Result<&[f32]> {
        self.prefill(&[token])
    }

    /// Runs `tokens` from the current position, in batches of `n_batch`;
    /// returns the logits of the last one.
    pub fn prefill(&mut self, tokens: &[u32]) -> Result<&[f32]> {
        self.check(tokens)?;
        for chunk in tokens.chunks(self.params.n_batch) {
            self.forward(chunk, false);
        }
        Ok(self.logits())
    }

    /// As [`Session::prefill`], calling `f(i, logits)` for every token
    /// `tokens[i]` with the logits that follow it. Needs
    /// [`SessionParams::logits_all`].
    pub fn prefill_each(&mut self, tokens: &[u32], mut f: impl FnMut(usize, &[f32])) -> Result<()> {
        if !self.params.logits_all {
            return Err(Error::InvalidArgument(
                "prefill_each needs a session created with logits_all".into(),
            ));
        }
        self.check(tokens)?;
        let v = self.model.config.vocab_size;
        let mut i = 0;
        for chunk in tokens.chunks(self.params.n_batch) {
            self.forward(chunk, true);
            for t in 0..chunk.len() {
                f(i + t, &self.b.logits[t * v..(t + 1) * v]);
            }
            i += chunk.len();
        }
        Ok(())
    }

    fn check(&self, tokens: &[u32]) -> Result<()> {
        let c = &self.model.config;
        if tokens.is_empty() {
            return Err(Error::InvalidArgument("no tokens to run".into()));
        }
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= c.vocab_size) {
            return Err(Error::InvalidArgument(format!(
                "token id {t} is out of range (vocabulary has {})",
                c.vocab_size
            )));
        }
        if self.pos >= self.params.n_ctx {
            return Err(Error::ContextFull {
                n_ctx: self.params.n_ctx,
            });
        }
        if self.pos + tokens.len() > self.params.n_ctx {
            return Err(Error::InvalidArgument(format!(
                "{} tokens do not fit: {} of the context's {} are used",
                tokens.len(),
                self.pos,
                self.params.n_ctx
            )));
        }
        Ok(())
    }

    /// The forward pass for `tokens.len() <= n_batch` tokens at `self.pos`.
    fn forward(&mut self, tokens: &[u32], all_logits: bool) {
        let m = self.model;
        let c = &m.config;
        let n = tokens.len();
        let (h, qd, kvd, hd) = (c.hidden_size, c.q_dim(), c.kv_dim(), c.head_dim);
        let ctx = Ctx {
            pool: &self.pool,
            kernels: self.kernels,
            store: &m.store,
        };
        let b = &mut self.b;
        let pos0 = self.pos;

        for (t, &tok) in tokens.iter().enumerate() {
            m.store
                .row_f32(&m.w.embed, tok as usize, &mut b.x[t * h..(t + 1) * h]);
            self.rope
                .cos_sin(pos0 + t, &mut b.cos_sin[t * hd..(t + 1) * hd]);
        }
        let shape = AttnShape {
            n_heads: c.n_heads,
            n_kv_heads: c.n_kv_heads,
            head_dim: hd,
            scale: 1.0 / (hd as f32).sqrt(),
        };
        for (li, l) in m.w.layers.iter().enumerate() {
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
            rmsnorm_rows(&mut b.xn[..n * h], &b.x[..n * h], attn_norm, c.rms_norm_eps);
            {
                let x = quantize_input(&ctx, &q.w, &b.xn[..n * h], &mut b.xq);
                linear(&ctx, q, x, n, &mut b.q, &mut b.tmp);
                // k and v may be in another format than q (mixed files).
                let x = if k.w.dtype.is_quantized() == q.w.dtype.is_quantized() {
                    x
                } else {
                    quantize_input(&ctx, &k.w, &b.xn[..n * h], &mut b.xq)
                };
                linear(&ctx, k, x, n, &mut b.k, &mut b.tmp);
                linear(&ctx, v, x, n, &mut b.v, &mut b.tmp);
            }
            for t in 0..n {
                let cs = &b.cos_sin[t * hd..(t + 1) * hd];
                self.rope.rotate(&mut b.q[t * qd..(t + 1) * qd], cs);
                self.rope.rotate(&mut b.k[t * kvd..(t + 1) * kvd], cs);
                self.kv.store(
                    li,
                    pos0 + t,
                    &b.k[t * kvd..(t + 1) * kvd],
                    &b.v[t * kvd..(t + 1) * kvd],
                );
            }
            attention(
                &self.pool,
                shape,
                &b.q,
                self.kv.layer(li),
                pos0..pos0 + n,
                &self.scratch,
                &mut b.att,
            );
            let x = quantize_input(&ctx, &o.w, &b.att[..n * qd], &mut b.xq);
            linear(&ctx, o, x, n, &mut b.xn, &mut b.tmp);
            ops::add(&mut b.x[..n * h], &b.xn[..n * h]);

            // Feed-forward block (SwiGLU, Shazeer 2020).
            rmsnorm_rows(&mut b.xn[..n * h], &b.x[..n * h], ffn_norm, c.rms_norm_eps);
            let f = c.intermediate_size;
            {
                let x = quantize_input(&ctx, &gate.w, &b.xn[..n * h], &mut b.xq);
                linear(&ctx, gate, x, n, &mut b.gate, &mut b.tmp);
                let x = if up.w.dtype.is_quantized() == gate.w.dtype.is_quantized() {
                    x
                } else {
                    quantize_input(&ctx, &up.w, &b.xn[..n * h], &mut b.xq)
                };
                linear(&ctx, up, x, n, &mut b.up, &mut b.tmp);
            }
            ops::silu_mul(&mut b.gate[..n * f], &b.up[..n * f]);
            let x = quantize_input(&ctx, &down.w, &b.gate[..n * f], &mut b.xq);
            linear(&ctx, down, x, n, &mut b.xn, &mut b.tmp);
            ops::add(&mut b.x[..n * h], &b.xn[..n * h]);
        }

        // Final norm and output head: every position, or only the last.
        let first = if all_logits { 0 } else { n - 1 };
        let rows = n - first;
        rmsnorm_rows(
            &mut b.xn[..rows * h],
            &b.x[first * h..n * h],
            &m.w.norm,
            c.rms_norm_eps,
        );
        let x = quantize_input(&ctx, &m.w.output.w, &b.xn[..rows * h], &mut b.xq);
        linear(&ctx, &m.w.output, x, rows, &mut b.logits, &mut b.tmp);
        b.n_logits = rows;
        self.pos += n;
    }
}
