//! [`Session`]: one conversation over a shared [`Model`]. It allocates every
//! buffer it will use when it is created (KV cache, activations, scratch,
//! logits, worker threads), so `prefill` and `decode` allocate nothing.

use crate::kv_cache::KvType;
use crate::log::{log_debug, log_info};
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

/// A session's abort callback: asked before each layer of every prefill
/// and decode, on the thread that runs it; `true` stops the call with
/// [`Error::Aborted`].
pub type AbortFn = dyn Fn() -> bool + Send;

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
    /// The tokens in the KV cache, `pos` of them (`n_ctx` capacity).
    tokens: Vec<u32>,
    abort: Option<Box<AbortFn>>,
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
    State::bytes(model, &p, threads(&p)) + rows * model.config.n_outputs() * 4 + p.n_ctx * 4
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
        let asked = params.n_ctx;
        let params = clamped(model, &params);
        if params.n_ctx < asked {
            log_info!(
                "n_ctx {asked} is past the {} tokens the model was trained for: clamped \
                 (allow_long_context keeps it)",
                params.n_ctx
            );
        }
        check_size(model, &params)?;
        let kernels = Kernels::get()?;
        let pool = ThreadPool::new(params.n_threads)?;
        let params = SessionParams {
            n_threads: pool.n_threads(),
            ..params
        };
        let rows = if params.logits_all { params.n_batch } else { 1 };
        log_debug!(
            "session: n_ctx {}, n_batch {}, {} threads, {:?} KV cache, kernels {}, {:.1} MiB",
            params.n_ctx,
            params.n_batch,
            params.n_threads,
            params.kv_type,
            kernels.name,
            session_bytes(model, &params) as f64 / (1 << 20) as f64
        );
        Ok(Session {
            model,
            state: State::new(model, &params, pool.n_threads()),
            logits: vec![0.0; rows * model.config.n_outputs()],
            n_logits: 0,
            lora: None,
            pool,
            kernels,
            tokens: Vec::with_capacity(params.n_ctx),
            abort: None,
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

    /// Runs the session on `n` threads from now on (the caller's
    /// included; at most [`crate::threads::MAX_THREADS`]): the worker pool
    /// and the per-thread scratch are made anew, here, and the KV cache and
    /// position are kept, so a conversation goes on where it was. Results
    /// do not depend on the thread count: the logits are the same bits on
    /// any number of threads. Like [`Session::new`], it allocates what the
    /// session will use, so `prefill` and `decode` still allocate nothing.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for 0; [`Error::Resources`] when a worker
    /// thread cannot start (the session then keeps its old threads).
    pub fn set_n_threads(&mut self, n: usize) -> Result<()> {
        if n == 0 {
            return Err(Error::InvalidArgument(
                "n_threads must be at least 1".into(),
            ));
        }
        let n = n.min(crate::threads::MAX_THREADS);
        if n == self.pool.n_threads() {
            return Ok(());
        }
        let pool = ThreadPool::new(n)?;
        let n = pool.n_threads();
        self.state.set_threads(self.model, &self.params, n);
        // The old pool's workers stop and are joined as it drops.
        self.pool = pool;
        self.params.n_threads = n;
        log_debug!("session: {n} threads");
        Ok(())
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
        self.tokens.truncate(pos);
        self.n_logits = 0;
        Ok(())
    }

    /// The tokens in the KV cache, in order (`pos()` of them).
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
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
        self.tokens.drain(keep..keep + discard);
        // Logits held for positions that were dropped are no longer any
        // position's; `logits()` still gives the last token's.
        self.n_logits = self.n_logits.min(self.pos - keep - discard);
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

    /// The positions whose logits the session holds: the last token's
    /// after a call (empty before any and after a rewind), and with
    /// [`SessionParams::logits_all`] every token of the last call's last
    /// batch (the whole call when it ran at most `n_batch` tokens).
    pub fn logits_positions(&self) -> std::ops::Range<usize> {
        self.pos - self.n_logits..self.pos
    }

    /// The logits that follow the token at position `pos` (what the model
    /// predicts for `pos + 1`), if the session holds them
    /// ([`Session::logits_positions`]).
    pub fn logits_at(&self, pos: usize) -> Option<&[f32]> {
        let r = self.logits_positions();
        if !r.contains(&pos) {
            return None;
        }
        let v = self.model.config.n_outputs();
        let row = pos - r.start;
        Some(&self.logits[row * v..(row + 1) * v])
    }

    /// Makes room for the logits of `rows` positions from one call of
    /// [`Session::decode_all`] (at most `n_batch`); a session without
    /// [`SessionParams::logits_all`] keeps one row. Allocates (`2 × rows ×
    /// vocab` floats at most, beyond [`session_bytes`]) when the room is
    /// not there yet: call it before a loop, as speculative decoding does.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `rows` is 0 or more than `n_batch`.
    pub fn reserve_outputs(&mut self, rows: usize) -> Result<()> {
        if rows == 0 || rows > self.params.n_batch {
            return Err(Error::InvalidArgument(format!(
                "room for {rows} rows of logits: it must be 1 to n_batch ({})",
                self.params.n_batch
            )));
        }
        let v = self.model.config.n_outputs();
        if self.logits.len() < rows * v {
            self.logits.resize(rows * v, 0.0);
            self.state.reserve_outputs(rows, v);
        }
        Ok(())
    }

    /// Runs `tokens` at the current position as one batch and keeps the
    /// logits of every one of them ([`Session::logits_at`]), as a
    /// speculative decoder verifies its drafts: the logits are the same
    /// bits that running them one at a time gives. `tokens` may be at most
    /// as many as [`Session::reserve_outputs`] made room for (or `n_batch`
    /// with [`SessionParams::logits_all`]).
    ///
    /// # Errors
    /// As [`Session::prefill`]; [`Error::InvalidArgument`] when there is
    /// no room for the rows.
    pub fn decode_all(&mut self, tokens: &[u32]) -> Result<()> {
        self.check(tokens)?;
        let v = self.model.config.n_outputs();
        if tokens.len() > self.params.n_batch || tokens.len() * v > self.logits.len() {
            return Err(Error::InvalidArgument(format!(
                "{} tokens in one batch: room for {} (n_batch {}; reserve_outputs makes more)",
                tokens.len(),
                (self.logits.len() / v).min(self.params.n_batch),
                self.params.n_batch
            )));
        }
        self.forward(tokens, true)
    }

    /// After [`Session::decode_all`], keeps its first `n` tokens (at least
    /// one) and forgets the rest, as after a speculative decoder's drafts
    /// were refused: the session is then as if only those `n` had run,
    /// logits included ([`Session::rewind`] forgets the logits).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `n` is 0 or more than the rows of
    /// logits the session holds ([`Session::logits_positions`]); nothing
    /// changes then.
    pub fn keep_decoded(&mut self, n: usize) -> Result<()> {
        if n == 0 || n > self.n_logits {
            return Err(Error::InvalidArgument(format!(
                "keep {n} of the last call's tokens: it holds logits for {}",
                self.n_logits
            )));
        }
        let drop = self.n_logits - n;
        self.pos -= drop;
        self.tokens.truncate(self.pos);
        self.n_logits = n;
        Ok(())
    }

    /// Runs one token at the current position; returns its logits.
    pub fn decode(&mut self, token: u32) -> Result<&[f32]> {
        self.prefill(&[token])
    }

    /// Sets (or with `None` removes) the abort callback: asked before
    /// each layer of every prefill and decode, on the calling thread, so a
    /// UI can stop a long prompt within a layer's time. When it returns
    /// `true` the call ends with [`Error::Aborted`]: the batches of
    /// `n_batch` tokens completed before stay in the cache (`pos()` says
    /// how far it got), the one it stopped in is dropped, and `logits()` is
    /// undefined until the next token runs.
    pub fn set_abort_callback(&mut self, f: Option<Box<AbortFn>>) {
        self.abort = f;
    }

    /// Runs `tokens` from the current position, in batches of `n_batch`;
    /// returns the logits of the last one.
    pub fn prefill(&mut self, tokens: &[u32]) -> Result<&[f32]> {
        self.check(tokens)?;
        for chunk in tokens.chunks(self.params.n_batch) {
            self.forward(chunk, self.params.logits_all)?;
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
            self.forward(chunk, true)?;
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
    fn forward(&mut self, tokens: &[u32], all: bool) -> Result<()> {
        let m = self.model;
        let env = Env {
            config: &m.config,
            store: &m.store,
            pool: &self.pool,
            kernels: self.kernels,
            lora: self.lora.as_ref(),
            abort: self.abort.as_deref(),
        };
        match self
            .state
            .forward(&env, m, tokens, self.pos, all, &mut self.logits)
        {
            Some(rows) => {
                self.n_logits = rows;
                self.pos += tokens.len();
                self.tokens.extend_from_slice(tokens);
                Ok(())
            }
            None => {
                self.n_logits = 0;
                Err(Error::Aborted(format!(
                    "the abort callback stopped the forward pass; the session is at position {}",
                    self.pos
                )))
            }
        }
    }

    /// Bytes [`Session::save_state`] writes now.
    pub fn state_size(&self) -> usize {
        let n_out = if self.n_logits > 0 {
            self.model.config.n_outputs()
        } else {
            0
        };
        crate::state::HEADER
            + 4 * (self.pos + n_out)
            + self.state.saved_cache_len(self.pos)
            + crate::state::TRAILER
    }

    fn state_header(&self) -> crate::state::Header {
        let n_out = if self.n_logits > 0 {
            self.model.config.n_outputs()
        } else {
            0
        };
        crate::state::Header {
            kv_type: crate::state::kv_code(self.state.kv_type()),
            model: self.model.fingerprint(),
            adapter: self.adapter_fingerprint(),
            n_pos: self.pos as u64,
            n_out: n_out as u64,
            cache_bytes: self.state.saved_cache_len(self.pos) as u64,
        }
    }

    fn adapter_fingerprint(&self) -> u64 {
        crate::state::adapter_fingerprint(
            self.lora
                .as_ref()
                .map(|l| (l.adapter().as_ref(), l.applied_scale())),
        )
    }

    /// Writes the session's state — its tokens, KV cache and last logits,
    /// tied to this model and adapter — as [`Session::state_size`] bytes
    /// in the format of [`crate::state`]. Restoring it, into this session
    /// or another over the same model, gives the same logits and the same
    /// continuation bit for bit.
    pub fn save_state(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        use std::io::Write;
        let mut w = crate::state::Hashing {
            out,
            hash: crate::state::Hash64::default(),
        };
        let h = self.state_header();
        h.write(&mut w)?;
        w.write_all(bytemuck::cast_slice(&self.tokens))?;
        if h.n_out > 0 {
            w.write_all(bytemuck::cast_slice(self.logits()))?;
        }
        self.state.save_cache(self.pos, &mut w)?;
        let sum = w.hash.finish();
        w.out.write_all(&sum.to_le_bytes())
    }

    /// [`Session::save_state`] into a new buffer.
    pub fn state(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.state_size());
        self.save_state(&mut v)
            .expect("writing to a Vec cannot fail");
        v
    }

    /// Restores a state [`Session::save_state`] wrote, from this session or
    /// another over the same model: afterwards `pos()`, `tokens()`,
    /// `logits()` and every later result are the saved session's. The
    /// session's own context may be longer than the saved one's.
    ///
    /// # Errors
    /// [`Error::State`] when `data` is truncated or damaged, of another
    /// format version, or was saved with another model, adapter or KV
    /// cache type, or holds more tokens than this session's context; the
    /// session is then unchanged.
    pub fn restore_state(&mut self, data: &[u8]) -> Result<()> {
        let h = crate::state::Header::read(data)?;
        let bad = |m: String| Err(Error::State(format!("session state: {m}")));
        let want = self.state_header();
        if h.model != want.model {
            return bad(format!(
                "it was saved from another model (fingerprint {:016x}; this one is {:016x})",
                h.model, want.model
            ));
        }
        if h.adapter != want.adapter {
            return bad(
                "it was saved with another LoRA adapter or scale than this session has".into(),
            );
        }
        if h.kv_type != want.kv_type {
            let name = |c: u32| match c {
                0 => "F16".to_string(),
                1 => "F32".to_string(),
                2 => "Q8_0".to_string(),
                c => format!("unknown ({c})"),
            };
            return bad(format!(
                "it holds a {} KV cache and this session's is {}",
                name(h.kv_type),
                name(want.kv_type)
            ));
        }
        let n = h.n_pos as usize;
        if n > self.params.n_ctx {
            return bad(format!(
                "it holds {n} tokens and this session's context is {}",
                self.params.n_ctx
            ));
        }
        let v = self.model.config.n_outputs();
        if h.n_out != 0 && h.n_out as usize != v {
            return bad(format!("it keeps {} logits; the model has {v}", h.n_out));
        }
        if h.cache_bytes as usize != self.state.saved_cache_len(n) {
            return bad(format!(
                "its cache is {} bytes; {n} positions of this model take {}",
                h.cache_bytes,
                self.state.saved_cache_len(n)
            ));
        }
        let body = &data[crate::state::HEADER..];
        let (toks, body) = body.split_at(4 * n);
        let (logits, body) = body.split_at(4 * h.n_out as usize);
        let cache = &body[..h.cache_bytes as usize];
        let vocab = self.model.config.vocab_size;
        let toks = toks
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4")));
        if let Some(t) = toks.clone().find(|&t| t as usize >= vocab) {
            return bad(format!("token id {t} is outside the vocabulary of {vocab}"));
        }
        // Everything is checked: from here on nothing fails.
        self.tokens.clear();
        self.tokens.extend(toks);
        for (o, b) in self.logits.iter_mut().zip(logits.chunks_exact(4)) {
            *o = f32::from_le_bytes(b.try_into().expect("4"));
        }
        self.n_logits = usize::from(h.n_out > 0);
        self.pos = n;
        self.state.load_cache(n, cache);
        Ok(())
    }

    /// Writes [`Session::save_state`] to `path`, through a temporary file
    /// renamed into place, so a reader never sees half a state.
    pub fn save_state_file(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp{}", std::process::id()));
        let tmp = std::path::PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            self.save_state(&mut f)?;
            f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }

    /// Restores a state [`Session::save_state_file`] wrote. A file larger
    /// than any state this session can hold is refused before it is read.
    pub fn load_state_file(&mut self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut f = std::fs::File::open(path).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        let most = crate::state::HEADER
            + 4 * (self.params.n_ctx + self.model.config.n_outputs())
            + self.state.saved_cache_len(self.params.n_ctx)
            + crate::state::TRAILER;
        if len > most as u64 {
            return Err(Error::State(format!(
                "{}: session state: {len} bytes is more than any state of this session ({most})",
                path.display()
            )));
        }
        let mut data = Vec::new();
        data.try_reserve_exact(len as usize)
            .map_err(|_| Error::Resources(format!("{len} bytes to read {}", path.display())))?;
        std::io::Read::read_to_end(&mut f, &mut data).map_err(io)?;
        self.restore_state(&data).map_err(|e| match e {
            Error::State(m) => Error::State(format!("{}: {m}", path.display())),
            e => e,
        })
    }
}
