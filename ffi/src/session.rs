//! `minke_session`: one conversation over a shared model (KV cache,
//! buffers, worker threads), and the calls that size one before it is
//! made.
//!
//! The Rust `Session<'m>` borrows its model. A C handle cannot carry a
//! lifetime, so the handle owns an `Arc<Model>` and keeps a
//! `Session<'static>` made from a reference into that `Arc`: see the
//! SAFETY note in `minke_session_new`.

use crate::boundary::{
    arg_mut, arg_ref, arg_slice, ffi_boundary, ffi_getter, fn_name, free_handle, out, out_opt,
    read_params, write_params, Params,
};
use crate::model::minke_model;
use crate::status::{minke_status, FfiError, FfiResult};
use minke::{KvType, Model, Session, SessionParams};
use std::sync::Arc;

/// Element type of the KV cache.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum minke_kv_type {
    /// Half precision: half the memory of f32, accuracy to spare.
    MINKE_KV_F16 = 0,
    /// Single precision.
    MINKE_KV_F32 = 1,
    /// 8-bit blocks (ggml's Q8_0: 32 values and an f16 scale in 34
    /// bytes): 0.53 of the f16 memory; perplexity within 0.5% of f16.
    MINKE_KV_Q8_0 = 2,
}

/// How a session is sized. Fill it with `minke_session_default_params()`,
/// then change fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct minke_session_params {
    /// `sizeof(minke_session_params)` as the caller compiled it; set by
    /// `minke_session_default_params()`.
    pub size: u32,
    /// Context length in tokens, prompt and generation together (default
    /// 2048), clamped to the model's trained context unless `flags` has
    /// `MINKE_SESSION_ALLOW_LONG_CONTEXT` (`minke_session_n_ctx()` gives
    /// the length in use). Memory grows linearly with it: see
    /// `minke_session_bytes()`; a session larger than the machine's
    /// memory is `MINKE_ERR_RESOURCES`.
    pub n_ctx: u32,
    /// Worker threads, the caller's included. 0 (the default): the model's
    /// `n_threads`. At most 64 are used (`minke_session_n_threads()` gives
    /// the number in use).
    pub n_threads: u32,
    /// Most prompt tokens run through the layers at once (default 64;
    /// at most `n_ctx`).
    pub n_batch: u32,
    /// A `minke_kv_type` value (default `MINKE_KV_F16`).
    pub kv_type: u32,
    /// Keep the logits of every prompt position, not only the last (for
    /// scoring); costs `n_batch * n_vocab` floats more. Default `false`.
    pub logits_all: bool,
    /// `MINKE_SESSION_*` bits (default 0). A caller compiled against the
    /// struct before this field (24 bytes) gets 0.
    pub flags: u32,
}

/// `minke_session_params.flags`: keep an `n_ctx` beyond the context the
/// model was trained for (`minke_model_n_ctx_train()`); without it,
/// `minke_session_new()` clamps `n_ctx` to that length. Positions past
/// training give poor text unless the model's RoPE scaling covers them.
pub const MINKE_SESSION_ALLOW_LONG_CONTEXT: u32 = 1;

impl Default for minke_session_params {
    fn default() -> Self {
        let d = SessionParams::default();
        minke_session_params {
            size: std::mem::size_of::<minke_session_params>() as u32,
            n_ctx: d.n_ctx as u32,
            n_threads: 0,
            n_batch: d.n_batch as u32,
            kv_type: minke_kv_type::MINKE_KV_F16 as u32,
            logits_all: false,
            flags: 0,
        }
    }
}

// SAFETY: repr(C), leading u32 `size`, fields are integers and a C bool.
unsafe impl Params for minke_session_params {
    const SIZES: &'static [usize] = &[24, std::mem::size_of::<minke_session_params>()];
    const NAME: &'static str = "minke_session_params";
}

const _: () = assert!(std::mem::size_of::<minke_session_params>() == 28);

/// The Rust params for C params `p` on model `m`.
fn session_params(m: &minke_model, p: &minke_session_params) -> FfiResult<SessionParams> {
    let kv_type = match p.kv_type {
        0 => KvType::F16,
        1 => KvType::F32,
        2 => KvType::Q8_0,
        v => {
            return Err(FfiError::invalid(format!(
                "kv_type {v} is not a minke_kv_type (0: F16, 1: F32, 2: Q8_0)"
            )))
        }
    };
    if p.n_ctx == 0 || p.n_batch == 0 {
        return Err(FfiError::invalid("n_ctx and n_batch must be at least 1"));
    }
    if p.flags & !MINKE_SESSION_ALLOW_LONG_CONTEXT != 0 {
        return Err(FfiError::invalid(format!(
            "flags {:#x} has bits this library does not know",
            p.flags
        )));
    }
    Ok(SessionParams {
        n_ctx: p.n_ctx as usize,
        n_threads: match p.n_threads {
            0 => m.n_threads,
            n => n as usize,
        },
        kv_type,
        n_batch: p.n_batch as usize,
        logits_all: p.logits_all,
        allow_long_context: p.flags & MINKE_SESSION_ALLOW_LONG_CONTEXT != 0,
    })
}

/// Heap bytes a session takes beyond what `minke::session_bytes` counts:
/// the handle, the worker pool's bookkeeping, and the allocator's own
/// rounding (glibc maps large buffers in whole pages). `tests/c/test_memory.c`
/// measures the real figure (4 to 16 KiB for 1 to 4 threads) against it.
const SESSION_SLACK: usize = 32 * 1024;
/// The same, per worker thread.
const SESSION_SLACK_PER_THREAD: usize = 8 * 1024;

fn bytes_for(m: &minke_model, p: &SessionParams) -> usize {
    let threads = p.n_threads.clamp(1, minke::threads::MAX_THREADS);
    minke::session_bytes(&m.model, p) + SESSION_SLACK + threads * SESSION_SLACK_PER_THREAD
}

/// A conversation (opaque): KV cache, buffers and worker threads over a
/// model. Created by `minke_session_new()`, freed by `minke_session_free()`.
/// A session belongs to one thread at a time: calls on one session must
/// not overlap (move it between threads freely; sessions of one model run
/// on different threads at once).
pub struct minke_session {
    // Field order is drop order: `session` borrows `*model` and must go
    // first.
    pub(crate) session: Session<'static>,
    pub(crate) model: Arc<Model>,
    pub(crate) vocab: usize,
}

impl minke_session {
    /// `MINKE_ERR_TOKEN_OUT_OF_RANGE` unless every id is below the vocab.
    pub(crate) fn check_tokens(&self, tokens: &[u32]) -> FfiResult<()> {
        match tokens.iter().find(|&&t| t as usize >= self.vocab) {
            None => Ok(()),
            Some(t) => Err(FfiError::new(
                minke_status::MINKE_ERR_TOKEN_OUT_OF_RANGE,
                format!(
                    "token id {t} is out of range (the vocabulary has {})",
                    self.vocab
                ),
            )),
        }
    }

    /// `MINKE_ERR_CONTEXT_FULL` unless `n` more tokens fit.
    pub(crate) fn check_room(&self, n: usize) -> FfiResult<()> {
        let n_ctx = self.session.params().n_ctx;
        let pos = self.session.pos();
        if pos + n > n_ctx {
            return Err(FfiError::new(
                minke_status::MINKE_ERR_CONTEXT_FULL,
                format!(
                    "{n} tokens do not fit: {pos} of the context's {n_ctx} are used; \
                     rewind or start a new session"
                ),
            ));
        }
        Ok(())
    }
}

/// ------------------------------------------------------------------
/// Session: one conversation over a model (KV cache, buffers, threads).
/// ------------------------------------------------------------------
///
/// Fills `params` (a struct of `size` bytes, normally
/// `sizeof(minke_session_params)`) with the defaults and sets
/// `params->size`.
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_INVALID_ARG` (`size` below
/// the first version of the struct). Thread-safe.
///
/// # Safety
/// `params` is NULL or valid for writing `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn minke_session_default_params(
    params: *mut minke_session_params,
    size: u32,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or writable for `size` bytes (caller).
        unsafe { write_params(params, size, minke_session_params::default()) }
    })
}

/// The most heap memory, in bytes, that a session of `model` with `params`
/// (NULL: defaults) takes: KV cache, activations, scratch, logits and
/// bookkeeping. `minke_session_new()` with the same arguments allocates no
/// more, and the session allocates nothing afterwards. Worker threads'
/// stacks (`n_threads - 1` of them, the platform's default size, mostly
/// untouched) are not counted. The model's weights are mapped, not
/// counted either.
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_INVALID_ARG`. Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model; `params` NULL or a filled params
/// struct; `bytes` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_session_bytes(
    model: *const minke_model,
    params: *const minke_session_params,
    bytes: *mut u64,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (m, p, o) = unsafe {
            (
                arg_ref(model, "model")?,
                read_params(params)?,
                out(bytes, "bytes")?,
            )
        };
        let sp = session_params(m, &p)?;
        o.set(bytes_for(m, &sp) as u64);
        Ok(())
    })
}

/// The largest context length (`n_ctx`) whose session, with the other
/// fields of `params` (NULL: defaults), fits in `budget` bytes as
/// `minke_session_bytes()` counts them; at most the model's trained
/// context (`minke_model_n_ctx_train()`). The answer goes to `*n_ctx`.
///
/// Returns `MINKE_ERR_NULL_ARG`, or `MINKE_ERR_INVALID_ARG` (bad `params`,
/// or not even a one-token context fits: `*n_ctx` is then 0). Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model; `params` NULL or a filled params
/// struct; `n_ctx` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_session_max_ctx(
    model: *const minke_model,
    params: *const minke_session_params,
    budget: u64,
    n_ctx: *mut u32,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (m, p, o) = unsafe {
            (
                arg_ref(model, "model")?,
                read_params(params)?,
                out(n_ctx, "n_ctx")?,
            )
        };
        o.set(0);
        let mut sp = session_params(m, &p)?;
        let budget = usize::try_from(budget).unwrap_or(usize::MAX);
        let fits = |n: usize, sp: &mut SessionParams| {
            sp.n_ctx = n;
            bytes_for(m, sp) <= budget
        };
        let trained = m.model.config.max_position_embeddings;
        let mut hi = if trained > 0 {
            trained
        } else {
            u32::MAX as usize
        };
        hi = hi.min(u32::MAX as usize);
        if !fits(1, &mut sp) {
            sp.n_ctx = 1;
            return Err(FfiError::invalid(format!(
                "a budget of {budget} bytes is below the {} bytes of a one-token session",
                bytes_for(m, &sp)
            )));
        }
        // Bytes grow with n_ctx: find the last n that fits in [1, hi].
        let mut lo = 1;
        if fits(hi, &mut sp) {
            lo = hi;
        } else {
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                if fits(mid, &mut sp) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
        }
        o.set(lo as u32);
        Ok(())
    })
}

/// Creates a session of `model` with `params` (NULL: defaults), allocating
/// all it will use (`minke_session_bytes()` says how much beforehand).
/// `*out_session` is a new session the caller owns and frees with
/// `minke_session_free()`, or NULL on failure. The session keeps the
/// model's weights alive: the model handle may be freed first.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_INVALID_ARG`,
/// `MINKE_ERR_RESOURCES` (larger than this machine's memory, refused by
/// the allocator, or a worker thread would not start) or
/// `MINKE_ERR_UNSUPPORTED` (no kernel set for this CPU). Thread-safe
/// (sessions of one model may be created on several threads at once).
///
/// # Safety
/// `model` is NULL or a live model; `params` NULL or a filled params
/// struct; `out_session` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_session_new(
    model: *const minke_model,
    params: *const minke_session_params,
    out_session: *mut *mut minke_session,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or writable (caller).
        let o = unsafe { out(out_session, "out_session") }?;
        o.set(std::ptr::null_mut());
        // SAFETY: the caller's contract, for each pointer.
        let (m, p) = unsafe { (arg_ref(model, "model")?, read_params(params)?) };
        let sp = session_params(m, &p)?;
        let model = Arc::clone(&m.model);
        // SAFETY: the `Model` lives in the `Arc`'s heap allocation, whose
        // address never changes and which stays alive while any clone of
        // the `Arc` does. The handle keeps one clone (`model`) and declares
        // `session` before it, so the session is dropped first; the
        // `'static` reference never leaves the handle (nothing hands out
        // `Session::model()`).
        let model_ref: &'static Model = unsafe { &*Arc::as_ptr(&model) };
        let session = Session::new(model_ref, sp)?;
        let vocab = model.config.vocab_size;
        let handle = Box::new(minke_session {
            session,
            model,
            vocab,
        });
        o.set(Box::into_raw(handle));
        Ok(())
    })
}

/// Frees a session and its memory; its worker threads end. NULL does
/// nothing. Logits pointers from it are invalid afterwards. Call it when
/// no other call on the session is running.
///
/// # Safety
/// `session` is NULL or a pointer from `minke_session_new()` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn minke_session_free(session: *mut minke_session) {
    // SAFETY: NULL or from this type's constructor, not yet freed, used
    // by no other thread (the caller's contract).
    unsafe { free_handle(fn_name!(), session) }
}

/// Runs `n_tokens` prompt tokens from the session's current position, in
/// batches of `n_batch`. If `logits` is not NULL, `*logits` points to the
/// `minke_model_n_vocab()` logits that follow the last token: borrowed
/// from the session, valid until the next call that changes it (prefill,
/// decode, rewind, generate, free).
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_INVALID_ARG` (no tokens),
/// `MINKE_ERR_TOKEN_OUT_OF_RANGE` or `MINKE_ERR_CONTEXT_FULL` (the tokens
/// do not fit; nothing is run). One thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session; `tokens` NULL or `n_tokens`
/// readable ids; `logits` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_session_prefill(
    session: *mut minke_session,
    tokens: *const u32,
    n_tokens: usize,
    logits: *mut *const f32,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or `n_tokens` readable ids (caller).
        let toks = unsafe { arg_slice(tokens, n_tokens, "tokens") }?;
        // SAFETY: forwarded caller contract.
        unsafe { run_tokens(session, toks, logits) }
    })
}

/// The body of `minke_session_prefill` and `minke_session_decode`.
///
/// # Safety
/// `session` is NULL or a live session; `logits` NULL or writable.
unsafe fn run_tokens(
    session: *mut minke_session,
    toks: &[u32],
    logits: *mut *const f32,
) -> FfiResult<()> {
    // SAFETY: the caller's contract, for each pointer.
    let (s, lo) = unsafe { (arg_mut(session, "session")?, out_opt(logits)) };
    if toks.is_empty() {
        return Err(FfiError::invalid("no tokens to run (n_tokens is 0)"));
    }
    s.check_tokens(toks)?;
    s.check_room(toks.len())?;
    let l = s.session.prefill(toks)?;
    if let Some(lo) = lo {
        lo.set(l.as_ptr());
    }
    Ok(())
}

/// Runs one token at the session's current position (a generation step).
/// `logits` as in `minke_session_prefill()`.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_TOKEN_OUT_OF_RANGE` or
/// `MINKE_ERR_CONTEXT_FULL`. One thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session; `logits` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_session_decode(
    session: *mut minke_session,
    token: u32,
    logits: *mut *const f32,
) -> minke_status {
    // SAFETY: forwarded caller contract.
    ffi_boundary(fn_name!(), || unsafe {
        run_tokens(session, &[token], logits)
    })
}

/// The logits after the last token run: `*logits` points to `*n_vocab`
/// floats borrowed from the session, valid until the next call that
/// changes it (prefill, decode, rewind, generate, free). Before any token
/// (or right after a rewind) they are zeros or stale.
///
/// Returns `MINKE_ERR_NULL_ARG`. One thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session; `logits` and `n_vocab` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn minke_session_logits(
    session: *const minke_session,
    logits: *mut *const f32,
    n_vocab: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (s, lo, no) = unsafe {
            (
                arg_ref(session, "session")?,
                out(logits, "logits")?,
                out(n_vocab, "n_vocab")?,
            )
        };
        let l = s.session.logits();
        lo.set(l.as_ptr());
        no.set(l.len());
        Ok(())
    })
}

/// Forgets every position from `pos` on, so the next token goes at `pos`
/// (to edit a conversation, or score several continuations of a prompt).
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_INVALID_ARG` (`pos` is past
/// the current position). One thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn minke_session_rewind(
    session: *mut minke_session,
    pos: u32,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or live (caller).
        let s = unsafe { arg_mut(session, "session") }?;
        s.session.rewind(pos as usize)?;
        Ok(())
    })
}

/// Makes room in the session's context: forgets the `discard` positions
/// from `keep` on and moves every later one down by `discard`, their keys
/// rotated to their new positions (RoPE), so the next token goes at
/// `minke_session_pos() - discard` and decoding goes on. Positions
/// `0..keep` (a system prompt) stay. A chat that outgrows the context
/// typically keeps its system prompt and drops half of the rest; the kept
/// text still carries what it read of the dropped text, so this is close
/// to, not the same as, running the kept tokens again. The logits of the
/// last token run stay valid. `minke_generate()` can do it by itself
/// (`minke_generate_params.context_shift`).
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_INVALID_ARG` (`keep +
/// discard` past `minke_session_pos()`; the session is unchanged).
/// `discard` 0 does nothing. One thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn minke_session_shift(
    session: *mut minke_session,
    keep: u32,
    discard: u32,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or live (caller).
        let s = unsafe { arg_mut(session, "session") }?;
        s.session.shift(keep as usize, discard as usize)?;
        Ok(())
    })
}

/// Tokens in the session's KV cache: the position of the next token.
/// 0 if `session` is NULL. One thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn minke_session_pos(session: *const minke_session) -> u32 {
    ffi_getter(fn_name!(), 0, || {
        // SAFETY: NULL or live (caller).
        unsafe { arg_ref(session, "session") }.map_or(0, |s| s.session.pos() as u32)
    })
}

/// The session's context length. 0 if `session` is NULL. One thread at a
/// time per session.
///
/// # Safety
/// `session` is NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn minke_session_n_ctx(session: *const minke_session) -> u32 {
    ffi_getter(fn_name!(), 0, || {
        // SAFETY: NULL or live (caller).
        unsafe { arg_ref(session, "session") }.map_or(0, |s| s.session.params().n_ctx as u32)
    })
}

/// Worker threads the session runs on (the caller's included): the
/// `n_threads` asked for, clamped to 1..=64. 0 if `session` is NULL. One
/// thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn minke_session_n_threads(session: *const minke_session) -> u32 {
    ffi_getter(fn_name!(), 0, || {
        // SAFETY: NULL or live (caller).
        unsafe { arg_ref(session, "session") }.map_or(0, |s| s.session.params().n_threads as u32)
    })
}

/// Runs the session on `n_threads` threads from now on (the caller's
/// included; more than 64 count as 64): its worker threads are replaced
/// and their scratch memory made anew, here, so that prefill and decode
/// still allocate nothing; the KV cache and position are kept, and the
/// results are the same bits on any number of threads. Use it to give a
/// session fewer cores while other work runs, and more after.
/// `minke_session_n_threads()` gives the number in use; asking for it
/// again does nothing.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_INVALID_ARG` (`n_threads` is
/// 0) or `MINKE_ERR_RESOURCES` (a worker thread would not start: the
/// session keeps its threads). One thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session.
#[no_mangle]
pub unsafe extern "C" fn minke_session_set_n_threads(
    session: *mut minke_session,
    n_threads: u32,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or live (caller).
        let s = unsafe { arg_mut(session, "session") }?;
        s.session.set_n_threads(n_threads as usize)?;
        Ok(())
    })
}
