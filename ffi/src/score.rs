//! Scoring with a session: log-probabilities of a continuation under a
//! language model (`minke_session_score`), and a reward model's scores
//! for a sequence (`minke_session_reward`). Both run from position 0 and
//! leave the scored tokens in the session's KV cache.

use crate::boundary::{arg_mut, arg_slice, ffi_boundary, fn_name, out, write_items};
use crate::session::minke_session;
use crate::status::{minke_status, FfiError, FfiResult};

/// `MINKE_ERR_CONTEXT_FULL` unless `n` tokens fit in the session's whole
/// context (these calls rewind to 0 first).
fn check_fits_from_start(s: &minke_session, n: usize) -> FfiResult<()> {
    let n_ctx = s.session.params().n_ctx;
    if n > n_ctx {
        return Err(FfiError::new(
            minke_status::MINKE_ERR_CONTEXT_FULL,
            format!("{n} tokens do not fit in the session's context of {n_ctx}"),
        ));
    }
    Ok(())
}

/// ------------------------------------------------------------------
/// Score: log-probabilities of a continuation, and reward models.
/// ------------------------------------------------------------------
///
/// Scores a continuation: the natural-log probability of each of the
/// `n_cont` tokens `cont` after `prompt` (`n_prompt` ids, at least one),
/// teacher-forced in one run from the start of the session, which is
/// rewound to 0 first and afterwards holds `prompt` and all of `cont` but
/// its last token. The session must have been created with
/// `logits_all = true` (see `minke_session_params`).
///
/// `out_logprobs` (NULL if not wanted) receives `n_cont` doubles; `*out_total`
/// their sum, the log-probability of the whole continuation (0 when
/// `n_cont` is 0). Both are written only on success.
///
/// Returns `MINKE_ERR_NULL_ARG` (`session`, `out_total`, or a NULL array
/// with a non-zero count), `MINKE_ERR_INVALID_ARG` (empty prompt, or a
/// session without `logits_all`), `MINKE_ERR_TOKEN_OUT_OF_RANGE` or
/// `MINKE_ERR_CONTEXT_FULL` (prompt and continuation do not fit). One
/// thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session; `prompt` NULL or `n_prompt`
/// readable ids; `cont` NULL or `n_cont` readable ids; `out_logprobs`
/// NULL or writable for `n_cont` doubles; `out_total` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_session_score(
    session: *mut minke_session,
    prompt: *const u32,
    n_prompt: usize,
    cont: *const u32,
    n_cont: usize,
    out_logprobs: *mut f64,
    out_total: *mut f64,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (s, prompt, cont, total) = unsafe {
            (
                arg_mut(session, "session")?,
                arg_slice(prompt, n_prompt, "prompt")?,
                arg_slice(cont, n_cont, "cont")?,
                out(out_total, "out_total")?,
            )
        };
        if prompt.is_empty() {
            return Err(FfiError::invalid(
                "empty prompt (n_prompt is 0): the first continuation token needs something to follow",
            ));
        }
        if !s.session.params().logits_all {
            return Err(FfiError::invalid(
                "scoring needs a session created with logits_all = true",
            ));
        }
        s.check_tokens(prompt)?;
        s.check_tokens(cont)?;
        check_fits_from_start(s, (prompt.len() + cont.len()).saturating_sub(1))?;
        let sc = minke::score::score_continuation(&mut s.session, prompt, cont)?;
        if !out_logprobs.is_null() {
            let lp = &sc.token_logprobs;
            debug_assert_eq!(lp.len(), n_cont);
            // SAFETY: non-NULL and writable for `n_cont` doubles (caller);
            // at most `n_cont` are written; no overlap with our vector.
            unsafe {
                std::ptr::copy_nonoverlapping(lp.as_ptr(), out_logprobs, lp.len().min(n_cont))
            };
        }
        total.set(sc.total);
        Ok(())
    })
}

/// A reward model's scores for `tokens` (`n_tokens` ids, e.g. a chat with
/// a user and an assistant turn): one per label (`minke_model_n_labels()`;
/// a reward model has one), read at the last token that is not padding.
/// Runs from the start of the session, which is rewound to 0 first.
///
/// The scores go to `out_scores`, which holds `capacity` floats; their
/// count goes to `*n_labels` in every case but NULL arguments. If
/// `capacity` is too small, nothing is run and the result is
/// `MINKE_ERR_BUFFER_TOO_SMALL` (`out_scores` may be NULL when `capacity`
/// is 0, to ask for the count).
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_INVALID_ARG` (the model is a
/// language model, not a `*ForSequenceClassification` one; no tokens, or
/// only padding), `MINKE_ERR_TOKEN_OUT_OF_RANGE`,
/// `MINKE_ERR_CONTEXT_FULL` or `MINKE_ERR_BUFFER_TOO_SMALL`. One thread at
/// a time per session.
///
/// # Safety
/// `session` is NULL or a live session; `tokens` NULL or `n_tokens`
/// readable ids; `out_scores` NULL or writable for `capacity` floats;
/// `n_labels` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_session_reward(
    session: *mut minke_session,
    tokens: *const u32,
    n_tokens: usize,
    out_scores: *mut f32,
    capacity: usize,
    n_labels: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (s, toks, n_out) = unsafe {
            (
                arg_mut(session, "session")?,
                arg_slice(tokens, n_tokens, "tokens")?,
                out(n_labels, "n_labels")?,
            )
        };
        let model = &s.model;
        let Some(n) = model.config.n_labels else {
            n_out.set(0);
            return Err(FfiError::invalid(format!(
                "{} is a language model, not a reward model (no `score` head)",
                model.path().display()
            )));
        };
        n_out.set(n);
        if capacity > 0 && out_scores.is_null() {
            return Err(FfiError::new(
                minke_status::MINKE_ERR_NULL_ARG,
                "`out_scores` is NULL",
            ));
        }
        if capacity < n {
            return Err(FfiError::new(
                minke_status::MINKE_ERR_BUFFER_TOO_SMALL,
                format!("`out_scores` holds {capacity} floats; {n} are needed"),
            ));
        }
        if toks.is_empty() {
            return Err(FfiError::invalid("no tokens to score (n_tokens is 0)"));
        }
        s.check_tokens(toks)?;
        check_fits_from_start(s, toks.len())?;
        let scores = minke::score::reward(&mut s.session, toks)?;
        // SAFETY: NULL or writable for `capacity` floats (caller).
        unsafe { write_items(out_scores, capacity, &scores, n_out, "out_scores") }
    })
}
