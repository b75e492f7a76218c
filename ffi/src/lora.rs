//! `minke_lora`: a LoRA adapter (PEFT folder) loaded once and applied at
//! run time, per session, on top of a model's shared weights.
//!
//! The handle holds an `Arc` of the adapter; every session it is attached
//! to holds another, so the handle may be freed while sessions still use
//! the adapter.

use crate::boundary::{arg_mut, arg_ref, arg_str, ffi_boundary, fn_name, free_handle, out};
use crate::status::minke_status;
use minke::lora::LoraAdapter;
use std::ffi::c_char;
use std::sync::Arc;

/// A LoRA adapter (opaque). Created by `minke_lora_open()`, freed by
/// `minke_lora_free()`. Read-only once open: any number of threads and
/// sessions may use it at once.
pub struct minke_lora {
    pub(crate) adapter: Arc<LoraAdapter>,
}

/// ------------------------------------------------------------------
/// LoRA: fine-tuned adapters over a shared model.
/// ------------------------------------------------------------------
///
/// Loads a LoRA adapter from a PEFT folder (`adapter_config.json` and
/// `adapter_model.safetensors`, f32/f16/bf16). `path` is a NUL-terminated
/// UTF-8 path. On success `*out_lora` is a new adapter that the caller
/// owns and frees with `minke_lora_free()`; on failure it is set to NULL.
/// The adapter is checked against a model when attached to a session
/// (`minke_session_set_adapter()`), not here.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_UTF8`, `MINKE_ERR_IO` (a file
/// is missing or unreadable), `MINKE_ERR_FORMAT` (malformed config or
/// tensors) or `MINKE_ERR_UNSUPPORTED`. Thread-safe.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `out_lora` is NULL or valid
/// for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn minke_lora_open(
    path: *const c_char,
    out_lora: *mut *mut minke_lora,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or writable (caller).
        let o = unsafe { out(out_lora, "out_lora") }?;
        o.set(std::ptr::null_mut());
        // SAFETY: NULL or NUL-terminated (caller).
        let path = unsafe { arg_str(path, "path") }?;
        let adapter = Arc::new(LoraAdapter::open(path)?);
        o.set(Box::into_raw(Box::new(minke_lora { adapter })));
        Ok(())
    })
}

/// Frees an adapter handle. NULL does nothing. Sessions it is attached to
/// keep the adapter alive and go on using it until they are freed or
/// given another adapter. Free it once, when no other thread uses the
/// handle.
///
/// # Safety
/// `lora` is NULL or a pointer from `minke_lora_open()` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn minke_lora_free(lora: *mut minke_lora) {
    // SAFETY: NULL or from this type's constructor, not yet freed, used
    // by no other thread (the caller's contract).
    unsafe { free_handle(fn_name!(), lora) }
}

/// Applies `lora` times `scale` (1: the adapter as trained, 0: no effect)
/// to the session's model from the next token on; NULL removes the
/// adapter. Other sessions of the model are not affected, and one adapter
/// may be attached to any number of sessions, of any thread. The KV cache
/// is kept: rewind (`minke_session_rewind()`) if earlier positions must be
/// computed with the new weights too. On failure the session keeps the
/// adapter it had.
///
/// Returns `MINKE_ERR_NULL_ARG` (`session`), `MINKE_ERR_INVALID_ARG` (the
/// adapter adapts a weight the model lacks or of another shape, or
/// `scale` is not finite) or `MINKE_ERR_UNSUPPORTED` (a run-time adapter
/// on DeepSeek's `kv_b_proj`: merge it into the file instead). One thread
/// at a time per session; `lora` may be used by other threads meanwhile.
///
/// # Safety
/// `session` is NULL or a live session; `lora` is NULL or a live adapter.
#[no_mangle]
pub unsafe extern "C" fn minke_session_set_adapter(
    session: *mut crate::session::minke_session,
    lora: *const minke_lora,
    scale: f32,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or live (caller).
        let s = unsafe { arg_mut(session, "session") }?;
        let adapter = if lora.is_null() {
            None
        } else {
            // SAFETY: non-NULL and live (caller).
            Some(Arc::clone(&unsafe { arg_ref(lora, "lora") }?.adapter))
        };
        s.session.set_adapter(adapter, scale)?;
        Ok(())
    })
}
