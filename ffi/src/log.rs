//! `minke_log_set`: the library's diagnostics (a model opened, a context
//! clamped, a tokenizer it could not build, each call that failed) sent
//! to a C callback. Silent until one is set; the library never prints.

use crate::boundary::{ffi_boundary, fn_name};
use crate::status::minke_status;
use crate::status::{FfiError, FfiResult};
use minke::log::Level;
use std::ffi::{c_char, c_void, CString};

/// How much a log message matters, least first.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum minke_log_level {
    /// Detail: sizes chosen, tensors skipped, every call that failed
    /// (with the message `minke_last_error()` gives).
    MINKE_LOG_DEBUG = 1,
    /// What the library did: a model opened (what it is, how long it took).
    MINKE_LOG_INFO = 2,
    /// A choice made for the caller, or a part of a model it cannot use
    /// (a tokenizer it cannot build: the model runs on token ids only).
    MINKE_LOG_WARN = 3,
    /// A failure.
    MINKE_LOG_ERROR = 4,
}

impl From<Level> for minke_log_level {
    fn from(l: Level) -> minke_log_level {
        match l {
            Level::Debug => minke_log_level::MINKE_LOG_DEBUG,
            Level::Info => minke_log_level::MINKE_LOG_INFO,
            Level::Warn => minke_log_level::MINKE_LOG_WARN,
            Level::Error => minke_log_level::MINKE_LOG_ERROR,
        }
    }
}

fn level(v: u32) -> FfiResult<Level> {
    Ok(match v {
        1 => Level::Debug,
        2 => Level::Info,
        3 => Level::Warn,
        4 => Level::Error,
        v => {
            return Err(FfiError::invalid(format!(
                "min_level {v} is not a minke_log_level (1: debug ... 4: error)"
            )))
        }
    })
}

/// Receives one log message: its level, its text (NUL-terminated UTF-8,
/// one line without a newline, borrowed for the call) and the
/// `user_data` given to `minke_log_set()`. It is called on whichever
/// thread logs (any thread that calls minke), so it must be thread-safe;
/// it must not call `minke_log_set()` (refused), nor unwind (throw) into
/// minke. A message logged by a minke call made inside it is dropped.
pub type minke_log_fn = Option<
    unsafe extern "C" fn(level: minke_log_level, text: *const c_char, user_data: *mut c_void),
>;

/// A C callback and its user data, as the core library's sink.
struct CSink {
    f: unsafe extern "C" fn(minke_log_level, *const c_char, *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: the caller of minke_log_set promises that the callback may be
// called from any thread with its `user_data` (see minke_log_fn).
unsafe impl Send for CSink {}
// SAFETY: as above: shared calls from several threads are the callback's
// documented contract.
unsafe impl Sync for CSink {}

impl CSink {
    fn call(&self, level: Level, text: &str) {
        // A NUL inside would cut the text short in C.
        let c = CString::new(text.replace('\0', "\u{FFFD}")).unwrap_or_default();
        // SAFETY: the callback and user data the caller registered, called
        // as minke_log_fn documents: a NUL-terminated text valid for the call.
        unsafe { (self.f)(level.into(), c.as_ptr(), self.user_data) }
    }
}

/// ------------------------------------------------------------------
/// Logging: the library's diagnostics, to a callback of the caller's.
/// ------------------------------------------------------------------
///
/// Sends the library's log messages of `min_level` (a `minke_log_level`)
/// and above to `callback` with `user_data`, replacing the callback set
/// before; a NULL `callback` silences the library again (the default:
/// nothing is logged, nothing printed). Process-wide and thread-safe:
/// when it returns, the callback it replaced is not running on any
/// thread and is never called again, so its `user_data` may be freed.
///
/// Returns `MINKE_ERR_INVALID_ARG` (`min_level` is not a level, or the
/// call comes from inside the log callback).
///
/// # Safety
/// `callback` is NULL or a function that is safe to call, from any
/// thread, with `user_data` until it is replaced.
#[no_mangle]
pub unsafe extern "C" fn minke_log_set(
    callback: minke_log_fn,
    min_level: u32,
    user_data: *mut c_void,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        let min = level(min_level)?;
        match callback {
            None => minke::log::clear_sink()?,
            Some(f) => {
                let sink = CSink { f, user_data };
                minke::log::set_sink(min, Box::new(move |l, t| sink.call(l, t)))?
            }
        }
        Ok(())
    })
}
