//! `minke_best_of_n`: samples N answers to one prompt (seeds `seed`,
//! `seed + 1`, ...), ranks them with a C callback (a reward model, say) or
//! by mean log-probability, and hands them back best first in an opaque
//! `minke_candidates` with getters.

use crate::boundary::{
    arg_mut, arg_ref, arg_slice, ffi_boundary, ffi_getter, fn_name, free_handle, out, read_params,
    write_items, write_text,
};
use crate::generate::{minke_generate_params, minke_stop_reason};
use crate::sampler::minke_sampler_params;
use crate::session::minke_session;
use crate::status::{minke_status, FfiError, FfiResult};
use minke::{Candidate, Generated};
use std::ffi::{c_char, c_void};

/// Scores one candidate of `minke_best_of_n()`; higher is better. `text`
/// is the candidate's text, `text_len` bytes of UTF-8 followed by a NUL;
/// `tokens` its `n_tokens` generated ids (an end-of-generation token that
/// ended it included). Both are borrowed for the call only.
///
/// Return NaN to abort `minke_best_of_n()` (it then fails with
/// `MINKE_ERR_INVALID_ARG`). It runs on the thread that called
/// `minke_best_of_n()`, and may use other minke handles, e.g. tokenize the
/// text and call `minke_session_reward()` on a reward model's session; it
/// must not call functions on the session being used, nor unwind (throw)
/// into minke.
pub type minke_rank_fn = Option<
    unsafe extern "C" fn(
        text: *const c_char,
        text_len: usize,
        tokens: *const u32,
        n_tokens: usize,
        user_data: *mut c_void,
    ) -> f64,
>;

/// The answers of `minke_best_of_n()` (opaque), best first, with their
/// scores. Freed by `minke_candidates_free()`. Read-only: any number of
/// threads may read it at once.
pub struct minke_candidates {
    list: Vec<Candidate>,
}

impl minke_candidates {
    fn get(&self, i: usize) -> FfiResult<&Candidate> {
        self.list.get(i).ok_or_else(|| {
            FfiError::invalid(format!(
                "candidate {i} does not exist (there are {})",
                self.list.len()
            ))
        })
    }
}

/// ------------------------------------------------------------------
/// Best-of-N: several answers, ranked by a score.
/// ------------------------------------------------------------------
///
/// Best-of-N: runs `prompt` (`n_prompt` ids, appended at the session's
/// current position) once, then generates `n` answers from it, each with
/// a fresh sampler of `sampler_params` (NULL: defaults; seeds
/// `seed`, `seed + 1`, ... `seed + n - 1`; use a temperature above 0 for
/// answers that differ) that has seen the prompt, stopping as
/// `generate_params` (NULL: defaults) says. Each answer is scored by
/// `rank` (called with `user_data`; NULL: the answer's mean log-probability
/// per token under the session's model) and the answers come back sorted
/// best first in `*out_candidates`, a new handle the caller owns and frees
/// with `minke_candidates_free()` (NULL on failure). Afterwards the
/// session holds the prompt and the last answer generated (not
/// necessarily the best): rewind to reuse the prompt.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_INVALID_ARG` (`n` is 0, empty
/// prompt, bad params, or `rank` returned NaN), `MINKE_ERR_UTF8` (a stop
/// string), `MINKE_ERR_TOKEN_OUT_OF_RANGE`, `MINKE_ERR_CONTEXT_FULL` (the
/// prompt does not fit) or `MINKE_ERR_TOKENIZER` (the model has no
/// tokenizer). One thread at a time per session.
///
/// # Safety
/// `session` NULL or live; `sampler_params` and `generate_params` NULL or
/// filled params structs (the latter's `stop` holding `n_stop`
/// NUL-terminated strings); `prompt` NULL or `n_prompt` readable ids;
/// `rank` NULL or a function safe to call with `user_data`;
/// `out_candidates` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_best_of_n(
    session: *mut minke_session,
    sampler_params: *const minke_sampler_params,
    generate_params: *const minke_generate_params,
    prompt: *const u32,
    n_prompt: usize,
    n: u32,
    rank: minke_rank_fn,
    user_data: *mut c_void,
    out_candidates: *mut *mut minke_candidates,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or writable (caller).
        let o = unsafe { out(out_candidates, "out_candidates") }?;
        o.set(std::ptr::null_mut());
        // SAFETY: the caller's contract, for each pointer.
        let (s, sp, gp, prompt) = unsafe {
            (
                arg_mut(session, "session")?,
                read_params(sampler_params)?,
                read_params(generate_params)?,
                arg_slice(prompt, n_prompt, "prompt")?,
            )
        };
        if n == 0 {
            return Err(FfiError::invalid("best-of-N needs n >= 1"));
        }
        if prompt.is_empty() {
            return Err(FfiError::invalid("empty prompt (n_prompt is 0)"));
        }
        // SAFETY: `stop` holds `n_stop` strings (caller).
        let gp = unsafe { gp.to_core() }?;
        let sp = sp.to_core();
        s.check_tokens(prompt)?;
        s.check_room(prompt.len())?;
        let tok = s.model.tokenizer()?;
        // The candidate's text and a NUL, for C.
        let mut cbuf: Vec<u8> = Vec::new();
        let mut index = 0usize;
        let list = minke::best_of_n(&mut s.session, tok, prompt, n as usize, &sp, &gp, |g| {
            let i = index;
            index += 1;
            let Some(f) = rank else {
                return Ok(g.mean_logprob());
            };
            let score = call_rank(f, g, &mut cbuf, user_data);
            if score.is_nan() {
                return Err(minke::Error::InvalidArgument(format!(
                    "the rank callback returned NaN for the answer generated {i}th from 0: best-of-N aborted"
                )));
            }
            Ok(score)
        })?;
        o.set(Box::into_raw(Box::new(minke_candidates { list })));
        Ok(())
    })
}

/// Calls the C ranker on one answer.
fn call_rank(
    f: unsafe extern "C" fn(*const c_char, usize, *const u32, usize, *mut c_void) -> f64,
    g: &Generated,
    cbuf: &mut Vec<u8>,
    user_data: *mut c_void,
) -> f64 {
    cbuf.clear();
    cbuf.extend_from_slice(g.text.as_bytes());
    cbuf.push(0);
    // SAFETY: `f` is the caller's callback, called as documented: a
    // NUL-terminated text of `g.text.len()` bytes and `g.tokens.len()` ids,
    // both valid during the call, and the caller's `user_data`.
    unsafe {
        f(
            cbuf.as_ptr().cast(),
            g.text.len(),
            g.tokens.as_ptr(),
            g.tokens.len(),
            user_data,
        )
    }
}

/// Frees candidates. NULL does nothing. Free them once, when no other
/// thread reads them.
///
/// # Safety
/// `candidates` is NULL or a pointer from `minke_best_of_n()` not yet
/// freed.
#[no_mangle]
pub unsafe extern "C" fn minke_candidates_free(candidates: *mut minke_candidates) {
    // SAFETY: NULL or from this type's constructor, not yet freed, used
    // by no other thread (the caller's contract).
    unsafe { free_handle(fn_name!(), candidates) }
}

/// Runs a getter on candidate `i`; `fallback` if `candidates` is NULL or
/// `i` is out of range.
///
/// # Safety
/// `candidates` is NULL or live.
unsafe fn get<T: Copy>(
    name: &str,
    candidates: *const minke_candidates,
    i: usize,
    fallback: T,
    f: impl FnOnce(&Candidate) -> T,
) -> T {
    ffi_getter(name, fallback, || {
        // SAFETY: NULL or live, per the caller.
        match unsafe { arg_ref(candidates, "candidates") }.and_then(|c| c.get(i)) {
            Ok(c) => f(c),
            Err(_) => fallback,
        }
    })
}

/// Number of candidates (the `n` of `minke_best_of_n()`). 0 if
/// `candidates` is NULL. Thread-safe.
///
/// # Safety
/// `candidates` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn minke_candidates_count(candidates: *const minke_candidates) -> usize {
    ffi_getter(fn_name!(), 0, || {
        // SAFETY: NULL or live (caller).
        unsafe { arg_ref(candidates, "candidates") }.map_or(0, |c| c.list.len())
    })
}

/// Score of candidate `i` (0 is the best; scores never increase with
/// `i`). NaN if `candidates` is NULL or `i` out of range. Thread-safe.
///
/// # Safety
/// `candidates` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn minke_candidates_score(
    candidates: *const minke_candidates,
    i: usize,
) -> f64 {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), candidates, i, f64::NAN, |c| c.score) }
}

/// Sampler seed that produced candidate `i`: a fresh sampler with this
/// seed and the same params generates it again. 0 if `candidates` is NULL
/// or `i` out of range. Thread-safe.
///
/// # Safety
/// `candidates` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn minke_candidates_seed(
    candidates: *const minke_candidates,
    i: usize,
) -> u64 {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), candidates, i, 0, |c| c.seed) }
}

/// Why candidate `i`'s generation stopped: a `minke_stop_reason` value.
/// `MINKE_STOP_MAX_TOKENS` if `candidates` is NULL or `i` out of range.
/// Thread-safe.
///
/// # Safety
/// `candidates` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn minke_candidates_stop_reason(
    candidates: *const minke_candidates,
    i: usize,
) -> u32 {
    let fallback = minke_stop_reason::MINKE_STOP_MAX_TOKENS as u32;
    // SAFETY: forwarded caller contract.
    unsafe {
        get(fn_name!(), candidates, i, fallback, |c| {
            minke_stop_reason::from(c.reason) as u32
        })
    }
}

/// Text of candidate `i`, UTF-8, into `buf` (`size` bytes) with a NUL,
/// snprintf-style: its length without the NUL goes to `*n_bytes` in every
/// case but bad arguments; a buffer too small gets an empty string and
/// `MINKE_ERR_BUFFER_TOO_SMALL` (`buf` may be NULL when `size` is 0).
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_INVALID_ARG` (`i` out of
/// range) or `MINKE_ERR_BUFFER_TOO_SMALL`. Thread-safe.
///
/// # Safety
/// `candidates` NULL or live; `buf` NULL or writable for `size` bytes;
/// `n_bytes` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_candidates_text(
    candidates: *const minke_candidates,
    i: usize,
    buf: *mut c_char,
    size: usize,
    n_bytes: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (c, n) = unsafe { (arg_ref(candidates, "candidates")?, out(n_bytes, "n_bytes")?) };
        let text = c.get(i)?.text.as_bytes();
        // SAFETY: NULL or writable for `size` bytes (caller).
        unsafe { write_text(buf, size, text, n, "buf") }
    })
}

/// Generated token ids of candidate `i` (an end-of-generation token that
/// ended it included) into `tokens` (room for `capacity`), snprintf-style:
/// the count goes to `*n_tokens` in every case but bad arguments; too
/// little room writes nothing and gives `MINKE_ERR_BUFFER_TOO_SMALL`
/// (`tokens` may be NULL when `capacity` is 0).
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_INVALID_ARG` (`i` out of
/// range) or `MINKE_ERR_BUFFER_TOO_SMALL`. Thread-safe.
///
/// # Safety
/// `candidates` NULL or live; `tokens` NULL or writable for `capacity`
/// ids; `n_tokens` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_candidates_tokens(
    candidates: *const minke_candidates,
    i: usize,
    tokens: *mut u32,
    capacity: usize,
    n_tokens: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (c, n) = unsafe {
            (
                arg_ref(candidates, "candidates")?,
                out(n_tokens, "n_tokens")?,
            )
        };
        let ids = &c.get(i)?.tokens;
        // SAFETY: NULL or writable for `capacity` ids (caller).
        unsafe { write_items(tokens, capacity, ids, n, "tokens") }
    })
}
