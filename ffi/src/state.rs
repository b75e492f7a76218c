//! Session state (save, restore, copy: the prompt cache of an app), the
//! tokens a session holds, the logits of any position it keeps, and the
//! abort callback that stops a long prefill.

use crate::boundary::{
    arg_mut, arg_ref, arg_slice, arg_str, ffi_boundary, fn_name, out, write_items,
};
use crate::session::minke_session;
use crate::status::{minke_status, FfiError};
use std::ffi::{c_char, c_void};

/// ------------------------------------------------------------------
/// Session state (save, restore), tokens held, logits at a position,
/// cancelling.
/// ------------------------------------------------------------------
///
/// Bytes `minke_session_state_get()` writes for the session as it is now
/// (its tokens, KV cache and last logits, with a header naming the format
/// version and the model): `*size`.
///
/// Returns `MINKE_ERR_NULL_ARG`. One thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session; `size` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_session_state_size(
    session: *const minke_session,
    size: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (s, n) = unsafe { (arg_ref(session, "session")?, out(size, "size")?) };
        n.set(s.session.state_size());
        Ok(())
    })
}

/// Writes the session's state to `buf` (room for `capacity` bytes); its
/// size goes to `*written` in every case. If `capacity` is too small,
/// nothing is written and the result is `MINKE_ERR_BUFFER_TOO_SMALL`
/// (`buf` may be NULL when `capacity` is 0, to ask for the size). The
/// bytes can be kept in memory or on disk and given to
/// `minke_session_state_set()` of this or another session over the same
/// model, in this process or a later one.
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_BUFFER_TOO_SMALL`. One
/// thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session; `buf` NULL or writable for
/// `capacity` bytes; `written` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_session_state_get(
    session: *const minke_session,
    buf: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (s, n) = unsafe { (arg_ref(session, "session")?, out(written, "written")?) };
        let need = s.session.state_size();
        n.set(need);
        if capacity < need {
            return Err(FfiError::new(
                minke_status::MINKE_ERR_BUFFER_TOO_SMALL,
                format!("`buf` holds {capacity} bytes; the state is {need}"),
            ));
        }
        if buf.is_null() {
            return Err(FfiError::new(
                minke_status::MINKE_ERR_NULL_ARG,
                "`buf` is NULL",
            ));
        }
        // SAFETY: non-NULL and writable for `capacity >= need` bytes
        // (caller); nothing else refers to it during the call.
        let dst = unsafe { std::slice::from_raw_parts_mut(buf, need) };
        let mut w = &mut dst[..];
        s.session
            .save_state(&mut w)
            .map_err(|e| FfiError::new(minke_status::MINKE_ERR_INTERNAL, e.to_string()))?;
        Ok(())
    })
}

/// Restores a state that `minke_session_state_get()` wrote (`len` bytes at
/// `buf`): afterwards the session's position, tokens, KV cache and logits
/// are the saved session's, and what it computes next is bit for bit what
/// the saved session would have. The session's context may be longer than
/// the saved one's; its LoRA adapter (and scale) and KV cache type must be
/// those the state was saved with.
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_STATE` (the bytes are
/// truncated or damaged, of another format version, or from another model,
/// adapter or cache type, or hold more tokens than the session's context);
/// on an error the session is unchanged. One thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session; `buf` NULL or readable for `len`
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn minke_session_state_set(
    session: *mut minke_session,
    buf: *const u8,
    len: usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (s, data) = unsafe { (arg_mut(session, "session")?, arg_slice(buf, len, "buf")?) };
        s.session.restore_state(data)?;
        Ok(())
    })
}

/// Writes the session's state to the file `path` (UTF-8), through a
/// temporary file renamed into place: a reader never sees half a state.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_UTF8` or `MINKE_ERR_IO`. One
/// thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session; `path` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn minke_session_state_save_file(
    session: *const minke_session,
    path: *const c_char,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (s, p) = unsafe { (arg_ref(session, "session")?, arg_str(path, "path")?) };
        s.session.save_state_file(p)?;
        Ok(())
    })
}

/// Restores the state in the file `path` (written by
/// `minke_session_state_save_file()`, or the bytes of
/// `minke_session_state_get()` saved by the app). A file larger than any
/// state of this session is refused before it is read.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_UTF8`, `MINKE_ERR_IO` or
/// `MINKE_ERR_STATE` as `minke_session_state_set()`; on an error the
/// session is unchanged. One thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session; `path` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn minke_session_state_load_file(
    session: *mut minke_session,
    path: *const c_char,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (s, p) = unsafe { (arg_mut(session, "session")?, arg_str(path, "path")?) };
        s.session.load_state_file(p)?;
        Ok(())
    })
}

/// The tokens in the session's KV cache, in order (`minke_session_pos()`
/// of them: every prompt token and every generated token run so far), to
/// `tokens` (room for `capacity`); their count goes to `*n_tokens` in
/// every case. If `capacity` is too small nothing is written and the
/// result is `MINKE_ERR_BUFFER_TOO_SMALL`.
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_BUFFER_TOO_SMALL`. One
/// thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session; `tokens` NULL or writable for
/// `capacity` ids; `n_tokens` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_session_tokens(
    session: *const minke_session,
    tokens: *mut u32,
    capacity: usize,
    n_tokens: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        unsafe {
            let s = arg_ref(session, "session")?;
            let n = out(n_tokens, "n_tokens")?;
            write_items(tokens, capacity, s.session.tokens(), n, "tokens")
        }
    })
}

/// The logits that follow the token at position `pos` (what the model
/// predicts for `pos + 1`): `*logits` points to `*n_vocab` floats borrowed
/// from the session, valid until the next call that changes it. After a
/// call the session holds the last token's logits; a session created with
/// `logits_all` holds those of every token of the last call (of its last
/// `n_batch` tokens when it ran more): prefill at most `n_batch` tokens a
/// call to read them all.
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_INVALID_ARG` (the session
/// does not hold that position's logits; the message says which it holds).
/// One thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session; `logits` and `n_vocab` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn minke_session_logits_at(
    session: *const minke_session,
    pos: u32,
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
        let Some(l) = s.session.logits_at(pos as usize) else {
            let r = s.session.logits_positions();
            let held = if r.is_empty() {
                "none (no token has run since the session was made or rewound)".to_string()
            } else {
                format!("positions {} to {}", r.start, r.end - 1)
            };
            return Err(FfiError::invalid(format!(
                "the logits of position {pos} are not held; the session holds {held}"
            )));
        };
        lo.set(l.as_ptr());
        no.set(l.len());
        Ok(())
    })
}

/// Asked before each layer of every prefill and decode (and so between
/// the tokens `minke_generate()` runs), on the thread that made the call:
/// return `true` to stop. It must be cheap, must not call minke on the same
/// session, and must not unwind (throw) into minke.
pub type minke_abort_fn = Option<unsafe extern "C" fn(user_data: *mut c_void) -> bool>;

/// The caller's callback and its data, called only on the thread running
/// the session (see `minke_abort_fn`).
struct Abort {
    f: unsafe extern "C" fn(*mut c_void) -> bool,
    user_data: *mut c_void,
}

// SAFETY: the callback runs on whichever thread runs the session, which C
// may move between threads (sessions are movable); `minke_abort_fn`'s
// contract makes the callback and its data usable from that thread.
unsafe impl Send for Abort {}

/// Sets the session's abort callback (`abort` NULL removes it). When it
/// returns `true`, the prefill, decode or `minke_generate()` in progress
/// ends with `MINKE_ERR_ABORTED`: the batches of `n_batch` tokens that had
/// completed stay in the session (`minke_session_pos()` says how far it
/// got), the one it stopped in is dropped, and the logits are undefined
/// until the next token runs. A UI can so cancel a long prompt within one
/// layer's time.
///
/// Returns `MINKE_ERR_NULL_ARG`. One thread at a time per session.
///
/// # Safety
/// `session` is NULL or a live session; `abort` NULL or a function safe to
/// call with `user_data` for as long as it is set.
#[no_mangle]
pub unsafe extern "C" fn minke_session_set_abort_callback(
    session: *mut minke_session,
    abort: minke_abort_fn,
    user_data: *mut c_void,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract.
        let s = unsafe { arg_mut(session, "session")? };
        let cb = abort.map(|f| {
            let a = Abort { f, user_data };
            Box::new(move || {
                // The whole `Abort` is captured (it is `Send`), not its
                // fields.
                let a = &a;
                // SAFETY: the caller's contract: `f` is safe to call with
                // `user_data` while it is set.
                unsafe { (a.f)(a.user_data) }
            }) as Box<minke::session::AbortFn>
        });
        s.session.set_abort_callback(cb);
        Ok(())
    })
}
