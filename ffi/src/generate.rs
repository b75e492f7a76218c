//! `minke_generate`: the whole prompt → prefill → sample/decode loop in one
//! call, streaming text through a C callback that can stop it; with
//! `n_draft`, speculative decoding (prompt lookup or a draft model's
//! session) behind the same call.

use crate::boundary::{
    arg_mut, arg_slice, arg_str, ffi_boundary, fn_name, read_params, write_params, Params,
};
use crate::sampler::minke_sampler;
use crate::session::minke_session;
use crate::status::{minke_status, FfiError, FfiResult};
use minke::{DraftModel, GenerateParams, PromptLookup, StopReason};
use std::ffi::{c_char, c_void};

/// The most tokens `minke_generate_params.n_draft` may ask to guess a
/// step.
pub const MINKE_MAX_DRAFT: u32 = 32;

// A literal above, for cbindgen; the core's bound is the one that counts.
const _: () = assert!(MINKE_MAX_DRAFT as usize == minke::speculative::MAX_DRAFT);

/// Why `minke_generate()` stopped.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum minke_stop_reason {
    /// An end-of-generation token (see `minke_tokenizer_is_eog()`).
    MINKE_STOP_EOS = 0,
    /// One of the stop strings appeared (it is not emitted).
    MINKE_STOP_STRING = 1,
    /// `max_tokens` were generated.
    MINKE_STOP_MAX_TOKENS = 2,
    /// The session's context is full.
    MINKE_STOP_CONTEXT_FULL = 3,
    /// The callback returned `false`.
    MINKE_STOP_CANCELLED = 4,
}

impl From<StopReason> for minke_stop_reason {
    fn from(r: StopReason) -> minke_stop_reason {
        match r {
            StopReason::Eos => minke_stop_reason::MINKE_STOP_EOS,
            StopReason::StopString => minke_stop_reason::MINKE_STOP_STRING,
            StopReason::MaxTokens => minke_stop_reason::MINKE_STOP_MAX_TOKENS,
            StopReason::ContextFull => minke_stop_reason::MINKE_STOP_CONTEXT_FULL,
            StopReason::Cancelled => minke_stop_reason::MINKE_STOP_CANCELLED,
        }
    }
}

/// Receives each piece of generated text as soon as it is whole UTF-8:
/// `piece` holds `len` bytes followed by a NUL (borrowed: copy it to keep
/// it). Return `true` to go on, `false` to stop generation. It runs on
/// the thread that called `minke_generate()`, and must not call functions
/// on the session or sampler being used, nor unwind (throw) into minke.
pub type minke_piece_fn =
    Option<unsafe extern "C" fn(piece: *const c_char, len: usize, user_data: *mut c_void) -> bool>;

/// When `minke_generate()` stops. Fill it with
/// `minke_generate_default_params()`, then change fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct minke_generate_params {
    /// `sizeof(minke_generate_params)` as the caller compiled it; set by
    /// `minke_generate_default_params()`.
    pub size: u32,
    /// Most tokens to generate (default 256).
    pub max_tokens: u32,
    /// `n_stop` NUL-terminated UTF-8 strings: generation stops when the
    /// text contains one of them, which is not emitted. Default NULL. The
    /// strings are read during the call only. An empty string is refused
    /// (`MINKE_ERR_INVALID_ARG`): every text contains it.
    pub stop: *const *const c_char,
    /// Number of `stop` strings (default 0).
    pub n_stop: usize,
    /// Stop at end-of-generation tokens (default `true`).
    pub stop_at_eos: bool,
    /// Where the generated token ids go (default NULL: nowhere), room for
    /// `tokens_capacity` ids: the first `tokens_capacity` generated ids are
    /// written, and `minke_generate_result.n_tokens` says how many there
    /// were. With `minke_session_tokens()`, the app knows exactly what is in
    /// the KV cache. A caller compiled against the struct before these two
    /// fields and the two after them (32 bytes) gets none of them.
    pub tokens: *mut u32,
    /// Room in `tokens`, in ids (default 0).
    pub tokens_capacity: usize,
    /// With `context_shift`: the positions kept at the start of the
    /// context when it fills (a system prompt), at most `n_ctx - 2`
    /// (default 0). A caller compiled against the first version (32 bytes)
    /// gets no context shift.
    pub n_keep: usize,
    /// Go on when the context fills instead of stopping with
    /// `MINKE_STOP_CONTEXT_FULL` (default `false`): keep the first
    /// `n_keep` positions, drop half of the rest (as
    /// `minke_session_shift()` does) and continue, as often as it fills.
    /// The prompt may then be longer than the context: what does not fit
    /// is dropped in the same way as it is read.
    pub context_shift: bool,
    /// Speculative decoding: each step, guess up to `n_draft` tokens
    /// cheaply (1 to `MINKE_MAX_DRAFT`) and have the model check them all
    /// in one batch, keeping those it agrees with and a token of its own
    /// after them. 0 (the default): none. The output is what it would be
    /// without: token for token when greedy (temperature 0), from the same
    /// distribution at a temperature; only the speed changes. Checking a
    /// batch reads the weights once, as one token does, so every accepted
    /// guess is a step saved; a refused guess costs little. It pays where
    /// the answer repeats its input: summarizing, rewriting, extracting,
    /// editing code; `minke_generate_result.n_accepted` says how it went.
    /// The session makes room for `n_draft + 1` rows of logits the first
    /// time (`2 * (n_draft + 1) * n_vocab` floats beyond
    /// `minke_session_bytes()`, kept); guesses are cut to `n_batch - 1`.
    /// `minke_best_of_n()` does not speculate and ignores this and
    /// `draft`. A caller compiled against the struct before these two
    /// fields (64 bytes) gets no speculation.
    pub n_draft: u32,
    /// Where the guesses come from, with `n_draft` above 0. NULL (the
    /// default): prompt lookup, no second model: the last few tokens are
    /// looked for earlier in the session (prompt and text so far) and what
    /// followed them there is proposed. Otherwise a session of a smaller
    /// draft model with the same vocabulary (`MINKE_ERR_INVALID_ARG` if
    /// not, or if it is `session` itself), which proposes what it would
    /// generate, sampling as the sampler's params say (penalties off,
    /// another seed). Its contents are replaced: afterwards it holds part
    /// of this conversation, and a prefix it already holds is reused, so
    /// pass the same draft session to every turn. Give it the context of
    /// the generating session: it stops guessing when its own is full. It
    /// is used during the call only, on the calling thread, and is under
    /// the session rule: no other call on it may overlap this one. Set
    /// with `n_draft` 0 it is refused (`MINKE_ERR_INVALID_ARG`).
    pub draft: *mut minke_session,
}

impl Default for minke_generate_params {
    fn default() -> Self {
        let d = GenerateParams::default();
        minke_generate_params {
            size: std::mem::size_of::<minke_generate_params>() as u32,
            max_tokens: d.max_tokens as u32,
            stop: std::ptr::null(),
            n_stop: 0,
            stop_at_eos: d.stop_at_eos,
            tokens: std::ptr::null_mut(),
            tokens_capacity: 0,
            n_keep: 0,
            context_shift: false,
            n_draft: 0,
            draft: std::ptr::null_mut(),
        }
    }
}

// SAFETY: repr(C), leading u32 `size`, fields are integers, pointers and
// a C bool.
unsafe impl Params for minke_generate_params {
    const SIZES: &'static [usize] = &[
        // The first version ended with `stop_at_eos`.
        std::mem::offset_of!(minke_generate_params, tokens),
        // The second ended with `context_shift`; its C size (64 on 64-bit
        // targets) takes in the tail padding where `n_draft` now sits, so
        // the version ends where `n_draft` begins: an older caller's
        // padding is never read as a draft length.
        std::mem::offset_of!(minke_generate_params, n_draft),
        std::mem::size_of::<minke_generate_params>(),
    ];
    const NAME: &'static str = "minke_generate_params";
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(
    std::mem::offset_of!(minke_generate_params, tokens) == 32
        && std::mem::offset_of!(minke_generate_params, n_draft) == 60
        && std::mem::offset_of!(minke_generate_params, draft) == 64
        && std::mem::size_of::<minke_generate_params>() == 72
);

impl minke_generate_params {
    /// The Rust settings, the stop strings copied.
    ///
    /// # Safety
    /// `stop` is NULL or holds `n_stop` pointers, each NULL or a
    /// NUL-terminated string.
    pub(crate) unsafe fn to_core(self) -> FfiResult<GenerateParams> {
        // SAFETY: `stop` holds `n_stop` pointers (caller).
        let stops = unsafe { arg_slice(self.stop, self.n_stop, "params.stop") }?;
        let mut stop = Vec::with_capacity(stops.len());
        for (i, &c) in stops.iter().enumerate() {
            // SAFETY: each is NULL or NUL-terminated (caller).
            stop.push(unsafe { arg_str(c, &format!("params.stop[{i}]")) }?.to_string());
        }
        Ok(GenerateParams {
            max_tokens: self.max_tokens as usize,
            stop,
            stop_at_eos: self.stop_at_eos,
            context_shift: self.context_shift.then_some(self.n_keep),
        })
    }
}

/// What `minke_generate()` did. The caller sets `size` to
/// `sizeof(minke_generate_result)` before the call, with
/// `minke_generate_default_result()` or by hand; minke fills the rest.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct minke_generate_result {
    /// `sizeof(minke_generate_result)`, set by the caller.
    pub size: u32,
    /// A `minke_stop_reason` value.
    pub stop_reason: u32,
    /// Tokens of the prompt.
    pub n_prompt_tokens: u32,
    /// Tokens generated (an end-of-generation token that stopped it
    /// included).
    pub n_tokens: u32,
    /// Time to run the prompt, in milliseconds.
    pub prefill_ms: f64,
    /// Time of the generation loop, in milliseconds.
    pub decode_ms: f64,
    /// Positions the context shifts of this call dropped (with
    /// `minke_generate_params.context_shift`), all from `n_keep` on.
    pub n_discarded: u32,
    /// Guesses the model checked with `minke_generate_params.n_draft` (0
    /// without; guesses drafted past where generation stopped are not
    /// counted). A caller compiled against the struct before these two
    /// fields (40 bytes) gets neither: the bytes from `n_drafted` on are
    /// not written.
    pub n_drafted: u32,
    /// Guesses the model agreed with: each one a token that took no
    /// decoding step of its own. `n_accepted / n_drafted` is the
    /// acceptance rate.
    pub n_accepted: u32,
}

impl Default for minke_generate_result {
    fn default() -> Self {
        minke_generate_result {
            size: std::mem::size_of::<minke_generate_result>() as u32,
            stop_reason: minke_stop_reason::MINKE_STOP_MAX_TOKENS as u32,
            n_prompt_tokens: 0,
            n_tokens: 0,
            prefill_ms: 0.0,
            decode_ms: 0.0,
            n_discarded: 0,
            n_drafted: 0,
            n_accepted: 0,
        }
    }
}

// SAFETY: repr(C), leading u32 `size`, fields are integers and floats.
unsafe impl Params for minke_generate_result {
    const SIZES: &'static [usize] = &[
        std::mem::offset_of!(minke_generate_result, n_discarded),
        // The second version (40 bytes) ended with `n_discarded` and
        // padding, where `n_drafted` now sits: it ends where `n_drafted`
        // begins, so an older caller's struct is written no further.
        std::mem::offset_of!(minke_generate_result, n_drafted),
        std::mem::size_of::<minke_generate_result>(),
    ];
    const NAME: &'static str = "minke_generate_result";
}

const _: () = assert!(
    std::mem::offset_of!(minke_generate_result, n_discarded) == 32
        && std::mem::offset_of!(minke_generate_result, n_drafted) == 36
        && std::mem::size_of::<minke_generate_result>() == 48
);

/// ------------------------------------------------------------------
/// Generate: prompt, sample and decode in one call, streaming text.
/// ------------------------------------------------------------------
///
/// Fills `params` (a struct of `size` bytes, normally
/// `sizeof(minke_generate_params)`) with the defaults and sets
/// `params->size`.
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_INVALID_ARG` (`size` below
/// the first version of the struct). Thread-safe.
///
/// # Safety
/// `params` is NULL or valid for writing `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn minke_generate_default_params(
    params: *mut minke_generate_params,
    size: u32,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or writable for `size` bytes (caller).
        unsafe { write_params(params, size, minke_generate_params::default()) }
    })
}

/// Fills `result` (a struct of `size` bytes, normally
/// `sizeof(minke_generate_result)`) with the values of a call that
/// generated nothing (`MINKE_STOP_MAX_TOKENS`, zero counts and times) and
/// sets `result->size`, ready to pass to `minke_generate()`.
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_INVALID_ARG` (`size` below
/// the first version of the struct). Thread-safe.
///
/// # Safety
/// `result` is NULL or valid for writing `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn minke_generate_default_result(
    result: *mut minke_generate_result,
    size: u32,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or writable for `size` bytes (caller).
        unsafe { write_params(result, size, minke_generate_result::default()) }
    })
}

/// Generates text: runs `prompt` (`n_prompt` token ids, appended at the
/// session's current position), then samples and decodes until a stop
/// condition in `params` (NULL: defaults), calling `on_piece` (may be
/// NULL) with the text as it comes. The sampler records the prompt and the
/// generated tokens. Afterwards the session holds the prompt and every
/// generated token but the last (`minke_session_pos()`), so a follow-up
/// turn can continue from there; with `params->context_shift`, less the
/// `result->n_discarded` positions the shifts dropped after `n_keep`.
/// `result` (may be NULL; its `size` set by the caller) receives counts,
/// timings and the stop reason.
///
/// With `params->n_draft` above 0 it decodes speculatively (see
/// `minke_generate_params.n_draft`): the same tokens when greedy, the
/// same distribution at a temperature, faster where the text repeats its
/// input; `result->n_drafted` and `result->n_accepted` count the guesses.
///
/// Returns `MINKE_OK` also when the callback stopped generation
/// (`MINKE_STOP_CANCELLED`); otherwise `MINKE_ERR_NULL_ARG`,
/// `MINKE_ERR_INVALID_ARG` (empty prompt, bad params, an empty stop
/// string, an `n_keep` that leaves no room, an `n_draft` above
/// `MINKE_MAX_DRAFT`, a `draft` session that is `session` itself or
/// whose model has another vocabulary, or a `draft` with `n_draft` 0),
/// `MINKE_ERR_UTF8` (a stop string), `MINKE_ERR_TOKEN_OUT_OF_RANGE`,
/// `MINKE_ERR_CONTEXT_FULL` (the prompt does not fit, without a context
/// shift) or
/// `MINKE_ERR_TOKENIZER` (the model has no tokenizer). One thread at a
/// time per session and per sampler, the draft session included.
///
/// # Safety
/// `session`, `sampler` NULL or live; `prompt` NULL or `n_prompt` readable
/// ids; `params` NULL or a filled params struct whose `stop` holds
/// `n_stop` NUL-terminated strings and whose `draft` is NULL or a live
/// session no other call uses; `on_piece` NULL or a function safe to
/// call with `user_data`; `result` NULL or a struct of `result->size`
/// writable bytes.
#[no_mangle]
pub unsafe extern "C" fn minke_generate(
    session: *mut minke_session,
    sampler: *mut minke_sampler,
    prompt: *const u32,
    n_prompt: usize,
    params: *const minke_generate_params,
    on_piece: minke_piece_fn,
    user_data: *mut c_void,
    result: *mut minke_generate_result,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (s, sm, prompt, p) = unsafe {
            (
                arg_mut(session, "session")?,
                arg_mut(sampler, "sampler")?,
                arg_slice(prompt, n_prompt, "prompt")?,
                read_params(params)?,
            )
        };
        let result_size = if result.is_null() {
            None
        } else {
            // SAFETY: non-NULL and starts with a readable u32 (caller).
            let size = unsafe { result.cast::<u32>().read_unaligned() };
            minke_generate_result::version_size(size)?;
            Some(size)
        };
        if prompt.is_empty() {
            return Err(FfiError::invalid("empty prompt (n_prompt is 0)"));
        }
        if sm.vocab != s.vocab {
            return Err(FfiError::invalid(format!(
                "the sampler is for a vocabulary of {}, the session's model has {}",
                sm.vocab, s.vocab
            )));
        }
        // SAFETY: `stop` holds `n_stop` strings (caller).
        let gp = unsafe { p.to_core() }?;
        if p.n_draft > MINKE_MAX_DRAFT {
            return Err(FfiError::invalid(format!(
                "params.n_draft is {}: it must be 0 (no speculative decoding) to {MINKE_MAX_DRAFT}",
                p.n_draft
            )));
        }
        if p.n_draft == 0 && !p.draft.is_null() {
            return Err(FfiError::invalid(format!(
                "params.draft is set and params.n_draft is 0: set n_draft (1 to \
                 {MINKE_MAX_DRAFT}) to speculate with the draft session, or leave draft NULL"
            )));
        }
        // Compared before the draft is borrowed: the session as its own
        // draft would be a second `&mut` to it beside `s`.
        if std::ptr::eq(p.draft, session) {
            return Err(FfiError::invalid(
                "params.draft is the generating session: a draft model needs a session of its own",
            ));
        }
        // SAFETY: NULL or a live session that no other call uses
        // (caller), not `session` (checked above).
        let draft = unsafe { p.draft.as_mut() };
        if let Some(d) = &draft {
            if d.vocab != s.vocab {
                return Err(FfiError::invalid(format!(
                    "params.draft's model has a vocabulary of {}, the session's {}: \
                     a draft model must share the model's vocabulary",
                    d.vocab, s.vocab
                )));
            }
        }
        if p.tokens.is_null() && p.tokens_capacity > 0 {
            return Err(FfiError::new(
                minke_status::MINKE_ERR_NULL_ARG,
                "`params.tokens` is NULL and `params.tokens_capacity` is not 0",
            ));
        }
        s.check_tokens(prompt)?;
        if gp.context_shift.is_none() {
            s.check_room(prompt.len())?;
        }
        let tok = s.model.tokenizer()?;
        // The piece and a NUL, for C; grows to the longest piece once.
        let mut cbuf: Vec<u8> = Vec::with_capacity(64);
        let on_text = |piece: &str| {
            let Some(f) = on_piece else { return true };
            cbuf.clear();
            cbuf.extend_from_slice(piece.as_bytes());
            cbuf.push(0);
            // SAFETY: `f` is the caller's callback, called as documented:
            // a NUL-terminated piece of `piece.len()` bytes, valid during
            // the call, and the caller's `user_data`.
            unsafe { f(cbuf.as_ptr().cast(), piece.len(), user_data) }
        };
        let n_draft = p.n_draft as usize;
        let g = match draft {
            _ if n_draft == 0 => {
                minke::generate(&mut s.session, tok, &mut sm.sampler, prompt, &gp, on_text)?
            }
            None => minke::generate_speculative(
                &mut s.session,
                tok,
                &mut sm.sampler,
                prompt,
                &gp,
                &mut PromptLookup::new(n_draft),
                on_text,
            )?,
            Some(d) => {
                let params = sm.sampler.params().clone();
                let mut drafter = DraftModel::new(&mut d.session, s.vocab, &params, n_draft)?;
                minke::generate_speculative(
                    &mut s.session,
                    tok,
                    &mut sm.sampler,
                    prompt,
                    &gp,
                    &mut drafter,
                    on_text,
                )?
            }
        };
        let n = g.tokens.len().min(p.tokens_capacity);
        if n > 0 {
            // SAFETY: `tokens` is writable for `tokens_capacity` ids
            // (caller), non-NULL as that is not 0 (checked above); `n` is at
            // most it.
            unsafe { std::ptr::copy_nonoverlapping(g.tokens.as_ptr(), p.tokens, n) };
        }
        if let Some(size) = result_size {
            let r = minke_generate_result {
                size,
                stop_reason: minke_stop_reason::from(g.reason) as u32,
                n_prompt_tokens: g.prompt_tokens as u32,
                n_tokens: g.tokens.len() as u32,
                prefill_ms: g.prefill_time.as_secs_f64() * 1e3,
                decode_ms: g.decode_time.as_secs_f64() * 1e3,
                n_discarded: u32::try_from(g.discarded).unwrap_or(u32::MAX),
                n_drafted: u32::try_from(g.drafted).unwrap_or(u32::MAX),
                n_accepted: u32::try_from(g.accepted).unwrap_or(u32::MAX),
            };
            // SAFETY: `result` is writable for `size` bytes (caller).
            unsafe { write_params(result, size, r) }?;
        }
        Ok(())
    })
}
