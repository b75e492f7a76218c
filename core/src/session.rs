//! [`Session`]: one conversation over a shared [`Model`]. It allocates every
//! buffer it will use when it is created (KV cache, activations, scratch,
//! logits, worker threads), so `prefill` and `decode` allocate nothing.

use crate::kv_cache::KvType;
use crate::model::{Env, Model, State};
use crate::threads::ThreadPool;
use crate::{Error, Result};
use minke_quant::Kernels;

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
    /// Keep an `n_ctx` beyond the context the model was trained for (its
    /// `max_position_embeddings`); [`Session::new`] clamps it otherwise.
    /// Positions past training give poor text unless the model's RoPE
    /// scaling covers them.
    pub allow_long_context: bool,
}

/// Longest context a session takes, whatever else allows: 16 Mi tokens.
pub const MAX_CTX: usize = 1 << 24;
/// Largest `n_batch` a session takes (larger values are clamped).
pub const MAX_BATCH: usize = 1 << 16;

impl Default for SessionParams {
    fn default() -> Self {
        SessionParams {
            n_ctx: 2048,
            n_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            kv_type: KvType::F16,
            n_batch: 64,
            logits_all: false,
            allow_long_context: false,
        }
    }
}

/// A conversation: KV cache, buffers and threads over a borrowed model.
pub struct Session<'m> {
    model: &'m Model,
    params: SessionParams,
    kernels: &'static Kernels,
    pool: ThreadPool,
    state: State,
    /// `(n_batch or 1, vocab)`
    logits: Vec<f32>,
    /// A LoRA adapter applied on top of the model's weights.
    lora: Option<crate::lora::SessionLora>,
    /// Rows of `logits` valid after the last call.
    n_logits: usize,
    pos: usize,
}

fn threads(p: &SessionParams) -> usize {
    p.n_threads.clamp(1, crate::threads::MAX_THREADS)
}

/// Bytes a session takes for `params` (KV cache, buffers, scratch, logits):
/// what [`Session::new`] allocates, to within a few hundred bytes of
/// bookkeeping, for the sizes it clamps `params` to.
pub fn session_bytes(model: &Model, p: &SessionParams) -> usize {
    let p = clamped(model, p);
    let rows = if p.logits_all { p.n_batch } else { 1 };
    State::bytes(model, &p, threads(&p)) + rows * model.config.n_outputs() * 4
}

/// `p` as [`Session::new`] runs it: `n_ctx` at most the model's trained
/// context unless [`SessionParams::allow_long_context`], and `n_batch` in
/// `1..=min(n_ctx, MAX_BATCH)` (a batch never holds more tokens than the
/// context).
fn clamped(model: &Model, p: &SessionParams) -> SessionParams {
    let n_ctx = if p.allow_long_context {
        p.n_ctx
    } else {
        p.n_ctx.min(model.config.max_position_embeddings.max(1))
    };
    SessionParams {
        n_ctx,
        n_batch: p.n_batch.min(n_ctx).clamp(1, MAX_BATCH),
        n_threads: threads(p),
        ..p.clone()
    }
}

/// Refuses sizes a session cannot have: zeros, a context beyond
/// [`MAX_CTX`], and a total larger than this machine's memory or than
/// the allocator will give now. `p` is as [`clamped`] leaves it.
fn check_size(model: &Model, p: &SessionParams) -> Result<()> {
    if p.n_ctx > MAX_CTX {
        return Err(Error::InvalidArgument(format!(
            "n_ctx {} is beyond the {MAX_CTX} tokens a session can hold",
            p.n_ctx
        )));
    }
    let need = session_bytes(model, p);
    let gib = |b: usize| b as f64 / (1u64 << 30) as f64;
    if let Some(ram) = crate::mmap::physical_memory() {
        if need > ram {
            return Err(Error::Resources(format!(
                "a session of {} tokens needs {:.1} GiB and this machine has {:.1} GiB; \
                 ask for a shorter context or a smaller batch",
                p.n_ctx,
                gib(need),
                gib(ram)
            )));
        }
    }
    // Ask the allocator for the whole amount once, so that a refusal is
    // an error here rather than an abort halfway through the buffers.
    let mut probe: Vec<u8> = Vec::new();
    probe.try_reserve_exact(need).map_err(|_| {
        Error::Resources(format!(
            "the system would not give the {:.2} GiB a session of {} tokens needs",
            gib(need),
            p.n_ctx
        ))
    })?;
    Ok(())
}

impl<'m> Session<'m> {
    /// Creates a session, allocating everything it will use.
    ///
    /// `n_ctx` is clamped to the context the model was trained for (its
    /// `max_position_embeddings`) unless
    /// [`SessionParams::allow_long_context`], and `n_batch` to
    /// `min(n_ctx, MAX_BATCH)`: [`Session::params`] gives the sizes in use.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for zero sizes or a context beyond
    /// [`MAX_CTX`]; [`Error::Resources`] when the session would not fit in
    /// this machine's memory, the allocator refuses it, or a worker thread
    /// cannot start.
    pub fn new(model: &'m Model, params: SessionParams) -> Result<Session<'m>> {
        if params.n_ctx == 0 || params.n_batch == 0 || params.n_threads == 0 {
            return Err(Error::InvalidArgument(
                "n_ctx, n_batch and n_threads must be at least 1".into(),
            ));
        }
        let params = clamped(model, &params);
        check_size(model, &params)?;
        let kernels = Kernels::get()?;
        let pool = ThreadPool::new(params.n_threads)?;
        let params = SessionParams {
            n_threads: pool.n_threads(),
            ..params
        };
        let rows = if params.logits_all { params.n_batch } else { 1 };
        Ok(Session {
            model,
            state: State::new(model, &params, pool.n_threads()),
            logits: vec![0.0; rows * model.config.n_outputs()],
            n_logits: 0,
            lora: None,
            pool,
            kernels,
            params,
            pos: 0,
        })
    }

    /// The model this session runs.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// Its parameters, with `n_ctx`, `n_batch` and `n_threads` as clamped
    /// by [`Session::new`]: `n_threads` is the number of threads the
    /// session runs on (at most [`crate::threads::MAX_THREADS`]).
    pub fn params(&self) -> &SessionParams {
        &self.params
    }

    /// The kernel set in use.
    pub fn kernels(&self) -> &'static Kernels {
        self.kernels
    }

    /// Applies a LoRA adapter (times `scale`) on top of the shared model's
    /// weights from the next token on, or removes it with `None`. Other
    /// sessions over the same model are not affected. The KV cache is kept:
    /// rewind if earlier positions must see the adapter too.
    pub fn set_adapter(
        &mut self,
        adapter: Option<std::sync::Arc<crate::lora::LoraAdapter>>,
        scale: f32,
    ) -> Result<()> {
        self.lora = match adapter {
            Some(a) => Some(crate::lora::SessionLora::new(
                a,
                scale,
                self.model,
                self.params.n_batch,
            )?),
            None => None,
        };
        Ok(())
    }

    /// The adapter in use, if any.
    pub fn adapter(&self) -> Option<&std::sync::Arc<crate::lora::LoraAdapter>> {
        self.lora.as_ref().map(|l| l.adapter())
    }

    /// Bytes of its KV cache (for MLA models: the latent and RoPE-key
    /// cache only).
    pub fn kv_cache_bytes(&self) -> usize {
        self.model.kv_cache_bytes(&self.params)
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
        self.n_logits = 0;
        Ok(())
    }

    /// Makes room in a full (or any) context: forgets the `discard`
    /// positions from `keep` on and moves every later position down by
    /// `discard`, so the next token goes at `pos() - discard`. Positions `0..keep` (a system
    /// prompt) stay as they are. The moved keys are rotated back by
    /// `discard` positions (RoPE: for the MLA cache, the RoPE key part),
    /// which is exact up to rounding for every RoPE scaling minke runs:
    /// each fixes a frequency per dimension, and rotations compose. An f16
    /// or Q8_0 cache rounds each moved key once more per shift.
    ///
    /// What the kept tokens remember of the dropped ones stays: their
    /// cached keys and values above the first layer were computed while
    /// the dropped tokens were in view, so the result is not that of
    /// running the kept tokens again from scratch, only close to it (this
    /// is llama.cpp's context shift). The logits of the last token run are
    /// kept; a caller samples from them and decodes on.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `keep + discard` is past [`Session::pos`]
    /// (the session is left unchanged). `discard == 0` changes nothing.
    pub fn shift(&mut self, keep: usize, discard: usize) -> Result<()> {
        if keep.checked_add(discard).is_none_or(|end| end > self.pos) {
            return Err(Error::InvalidArgument(format!(
                "cannot drop positions {keep}..{keep}+{discard}: the session holds {}",
                self.pos
            )));
        }
        self.state.shift(keep, discard, self.pos);
        self.pos -= discard;
        Ok(())
    }

    /// Logits of the last token run (`vocab` values, or `n_labels` for a
    /// reward model; zeros before any).
    pub fn logits(&self) -> &[f32] {
        let v = self.model.config.n_outputs();
        let last = self.n_logits.saturating_sub(1);
        &self.logits[last * v..(last + 1) * v]
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
        let v = self.model.config.n_outputs();
        let mut i = 0;
        for chunk in tokens.chunks(self.params.n_batch) {
            self.forward(chunk, true);
            for t in 0..chunk.len() {
                f(i + t, &self.logits[t * v..(t + 1) * v]);
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
    fn forward(&mut self, tokens: &[u32], all: bool) {
        let m = self.model;
        let env = Env {
            config: &m.config,
            store: &m.store,
            pool: &self.pool,
            kernels: self.kernels,
            lora: self.lora.as_ref(),
        };
        self.n_logits = self
            .state
            .forward(&env, m, tokens, self.pos, all, &mut self.logits);
        self.pos += tokens.len();
    }
}
