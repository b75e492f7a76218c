//! `minke_status`: the result code every fallible C function returns, and
//! the mapping from [`minke::Error`] to it.
//!
//! Codes are part of the ABI: a value, once given a meaning, keeps it, and
//! is never reused when a code is retired. New codes take the next number.

use std::ffi::c_char;

/// The result of a C call: `MINKE_OK` (0) or a non-zero error code. On an
/// error, `minke_last_error()` gives a message for the calling thread.
/// Values are stable and never reused.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum minke_status {
    /// Success.
    MINKE_OK = 0,
    /// A pointer argument that must not be NULL was NULL.
    MINKE_ERR_NULL_ARG = 1,
    /// An argument is out of range or inconsistent (params `size` too
    /// small, a zero context length, a prompt that is empty...).
    MINKE_ERR_INVALID_ARG = 2,
    /// A file could not be read (missing, unreadable).
    MINKE_ERR_IO = 3,
    /// A model file is malformed (truncated, bad offsets or shapes).
    MINKE_ERR_FORMAT = 4,
    /// A well-formed input asks for what minke does not support (an
    /// architecture, a tensor type, an option), or this CPU cannot run it.
    MINKE_ERR_UNSUPPORTED = 5,
    /// An output buffer is too small; the size out-parameter says how much
    /// is needed.
    MINKE_ERR_BUFFER_TOO_SMALL = 6,
    /// The session's context cannot hold the tokens: rewind it or start a
    /// new session.
    MINKE_ERR_CONTEXT_FULL = 7,
    /// The model has no usable tokenizer or chat template, or tokenizing
    /// failed.
    MINKE_ERR_TOKENIZER = 8,
    /// A string argument is not valid UTF-8.
    MINKE_ERR_UTF8 = 9,
    /// A bug in minke (a caught panic). The handles involved should only
    /// be freed.
    MINKE_ERR_INTERNAL = 10,
    /// The model's configuration is missing a value or has one out of range.
    MINKE_ERR_CONFIG = 11,
    /// A token id is not below the model's vocabulary size.
    MINKE_ERR_TOKEN_OUT_OF_RANGE = 12,
    /// The system would not give what the call needs (memory for a
    /// session, a worker thread), or it asks for more memory than the
    /// machine has: ask for less (a shorter context, a smaller batch).
    MINKE_ERR_RESOURCES = 13,
    /// A callback of the caller's asked to stop (a load-progress callback
    /// returned `false`, an abort callback returned `true`): the call
    /// stopped early, as its documentation describes.
    MINKE_ERR_ABORTED = 14,
    /// A saved session state cannot be restored into this session: it is
    /// truncated or damaged, of another format version, or was saved with
    /// another model, LoRA adapter, KV cache type or a longer context.
    MINKE_ERR_STATE = 15,
}

use minke_status::*;

/// Lists every code once, in numeric order, as `(code, "NAME\0")`: the
/// names come from the variants themselves (`stringify!`). The enum above
/// stays written out, because cbindgen reads source text and would not
/// see an enum that a macro makes; the build fails instead if this list
/// and the enum ever disagree (see [`STATUS`]).
macro_rules! status_list {
    ($($code:ident),+ $(,)?) => {
        /// Every code with its NUL-terminated name, in numeric order.
        pub(crate) const STATUS: &[(minke_status, &str)] =
            &[$(($code, concat!(stringify!($code), "\0"))),+];

        /// Does not compile when the enum has a variant the list lacks:
        /// the `match` must cover every variant.
        const fn listed(s: minke_status) -> bool {
            match s {
                $($code)|+ => true,
            }
        }
    };
}

status_list![
    MINKE_OK,
    MINKE_ERR_NULL_ARG,
    MINKE_ERR_INVALID_ARG,
    MINKE_ERR_IO,
    MINKE_ERR_FORMAT,
    MINKE_ERR_UNSUPPORTED,
    MINKE_ERR_BUFFER_TOO_SMALL,
    MINKE_ERR_CONTEXT_FULL,
    MINKE_ERR_TOKENIZER,
    MINKE_ERR_UTF8,
    MINKE_ERR_INTERNAL,
    MINKE_ERR_CONFIG,
    MINKE_ERR_TOKEN_OUT_OF_RANGE,
    MINKE_ERR_RESOURCES,
    MINKE_ERR_ABORTED,
    MINKE_ERR_STATE,
];

// Entry `i` of the list is code `i`: none missing, repeated or out of
// order (codes are dense from 0), and every entry a listed variant.
const _: () = {
    let mut i = 0;
    while i < STATUS.len() {
        assert!(STATUS[i].0 as usize == i, "STATUS is out of order");
        assert!(listed(STATUS[i].0));
        i += 1;
    }
};

/// ------------------------------------------------------------------
/// Status and errors: what a call returned, and why it failed.
/// ------------------------------------------------------------------
///
/// The name of a status code (`"MINKE_ERR_IO"`), or `"MINKE_ERR_UNKNOWN"`
/// for a value this library does not know. The string is static: never
/// free it. Thread-safe.
#[no_mangle]
pub extern "C" fn minke_status_name(status: u32) -> *const c_char {
    let name = STATUS
        .get(status as usize)
        .map_or("MINKE_ERR_UNKNOWN\0", |&(_, name)| name);
    name.as_ptr().cast()
}

/// An error on its way to C: a status and the message for
/// `minke_last_error()`.
#[derive(Debug)]
pub(crate) struct FfiError {
    pub status: minke_status,
    pub msg: String,
}

impl FfiError {
    pub fn new(status: minke_status, msg: impl Into<String>) -> FfiError {
        FfiError {
            status,
            msg: msg.into(),
        }
    }

    pub fn invalid(msg: impl Into<String>) -> FfiError {
        FfiError::new(MINKE_ERR_INVALID_ARG, msg)
    }
}

impl From<minke::Error> for FfiError {
    fn from(e: minke::Error) -> FfiError {
        use minke::Error as E;
        let status = match &e {
            E::Io { .. } => MINKE_ERR_IO,
            E::Format { .. } => MINKE_ERR_FORMAT,
            E::Unsupported(_) | E::Isa(_) => MINKE_ERR_UNSUPPORTED,
            E::Config(_) => MINKE_ERR_CONFIG,
            E::InvalidArgument(_) => MINKE_ERR_INVALID_ARG,
            E::ContextFull { .. } => MINKE_ERR_CONTEXT_FULL,
            E::Tokenizer(_) | E::TemplateLimit { .. } => MINKE_ERR_TOKENIZER,
            E::Resources(_) => MINKE_ERR_RESOURCES,
            E::Aborted(_) => MINKE_ERR_ABORTED,
            E::State(_) => MINKE_ERR_STATE,
            // `minke::Error` is non-exhaustive: a variant added later is
            // reported as internal until it gets a code of its own.
            _ => MINKE_ERR_INTERNAL,
        };
        FfiError::new(status, e.to_string())
    }
}

/// `Result` of the code behind an entry point.
pub(crate) type FfiResult<T> = Result<T, FfiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    /// The numbers are the ABI: this test fails if one ever changes.
    #[test]
    fn codes_are_stable() {
        let expected: [(minke_status, u32); 16] = [
            (MINKE_OK, 0),
            (MINKE_ERR_NULL_ARG, 1),
            (MINKE_ERR_INVALID_ARG, 2),
            (MINKE_ERR_IO, 3),
            (MINKE_ERR_FORMAT, 4),
            (MINKE_ERR_UNSUPPORTED, 5),
            (MINKE_ERR_BUFFER_TOO_SMALL, 6),
            (MINKE_ERR_CONTEXT_FULL, 7),
            (MINKE_ERR_TOKENIZER, 8),
            (MINKE_ERR_UTF8, 9),
            (MINKE_ERR_INTERNAL, 10),
            (MINKE_ERR_CONFIG, 11),
            (MINKE_ERR_TOKEN_OUT_OF_RANGE, 12),
            (MINKE_ERR_RESOURCES, 13),
            (MINKE_ERR_ABORTED, 14),
            (MINKE_ERR_STATE, 15),
        ];
        for (s, v) in expected {
            assert_eq!(s as u32, v, "{s:?}");
        }
        assert_eq!(STATUS.len(), expected.len());
        assert_eq!(std::mem::size_of::<minke_status>(), 4);
    }

    #[test]
    fn names_match_variants() {
        for &(s, _) in STATUS {
            // SAFETY: minke_status_name returns a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(minke_status_name(s as u32)) };
            assert_eq!(name.to_str().unwrap(), format!("{s:?}"));
        }
        // SAFETY: as above.
        let unknown = unsafe { CStr::from_ptr(minke_status_name(9999)) };
        assert_eq!(unknown.to_str().unwrap(), "MINKE_ERR_UNKNOWN");
    }

    #[test]
    fn core_errors_map_to_their_codes() {
        let io = minke::Error::Io {
            path: "x.gguf".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(FfiError::from(io).status, MINKE_ERR_IO);
        let f = minke::Error::format("x.gguf", "truncated");
        assert_eq!(FfiError::from(f).status, MINKE_ERR_FORMAT);
        let c = minke::Error::ContextFull { n_ctx: 8 };
        assert_eq!(FfiError::from(c).status, MINKE_ERR_CONTEXT_FULL);
        let t = minke::Error::Tokenizer("bad".into());
        assert_eq!(FfiError::from(t).status, MINKE_ERR_TOKENIZER);
        let u = minke::Error::Unsupported("q9".into());
        assert_eq!(FfiError::from(u).status, MINKE_ERR_UNSUPPORTED);
        let g = minke::Error::Config("n_heads".into());
        assert_eq!(FfiError::from(g).status, MINKE_ERR_CONFIG);
        let a = minke::Error::InvalidArgument("n_ctx".into());
        assert_eq!(FfiError::from(a).status, MINKE_ERR_INVALID_ARG);
        let r = minke::Error::Resources("a thread".into());
        assert_eq!(FfiError::from(r).status, MINKE_ERR_RESOURCES);
        let x = minke::Error::Aborted("loading x.gguf".into());
        assert_eq!(FfiError::from(x).status, MINKE_ERR_ABORTED);
    }
}
