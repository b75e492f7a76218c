//! `minke_model`: a model file opened, checked and mapped; shared,
//! read-only, by every session that runs it, on any thread.

use crate::boundary::{
    arg_ref, arg_str, ffi_boundary, ffi_getter, fn_name, free_handle, out, read_params,
    write_params, Params,
};
use crate::status::{minke_status, FfiError};
use crate::tokenizer::minke_tokenizer;
use minke::Model;
use std::ffi::{c_char, CStr};
use std::sync::Arc;

/// How a model is opened. Fill it with `minke_model_default_params()`,
/// then change fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct minke_model_params {
    /// `sizeof(minke_model_params)` as the caller compiled it; set by
    /// `minke_model_default_params()`.
    pub size: u32,
    /// Threads a session of this model uses when its own params say 0.
    /// 0 (the default): one per CPU core.
    pub n_threads: u32,
    /// Map the weights in place (the default: opening costs nothing, the
    /// file must not change while the model is open: a file truncated
    /// under the map kills the process with SIGBUS when a weight past its
    /// new end is read, and one rewritten in place changes the weights in
    /// use). `false` reads the file into the process's own memory, in
    /// 2 MiB pages where the OS allows: one copy at open, then full decode
    /// speed whatever the page cache holds, and the file may change or go
    /// away once open. Choose `false` where other programs may replace
    /// model files.
    pub use_mmap: bool,
    /// Check at open what is otherwise checked when first used: the
    /// tokenizer must build (`MINKE_ERR_TOKENIZER` otherwise) and the
    /// configuration must be in range. Default `false`: a model whose
    /// tokenizer minke cannot build still opens and runs on token ids.
    pub validate: bool,
}

impl Default for minke_model_params {
    fn default() -> Self {
        minke_model_params {
            size: std::mem::size_of::<minke_model_params>() as u32,
            n_threads: 0,
            use_mmap: true,
            validate: false,
        }
    }
}

// SAFETY: repr(C), leading u32 `size`, fields are integers and C bools.
unsafe impl Params for minke_model_params {
    const SIZES: &'static [usize] = &[std::mem::size_of::<minke_model_params>()];
    const NAME: &'static str = "minke_model_params";
}

const _: () = assert!(std::mem::size_of::<minke_model_params>() == 12);

/// An open model (opaque). Created by `minke_model_open()`, freed by
/// `minke_model_free()`. Read-only once open: any number of threads may
/// use it at once.
pub struct minke_model {
    pub(crate) model: Arc<Model>,
    /// Threads for sessions whose params say 0.
    pub(crate) n_threads: usize,
    /// The tokenizer, or why the model has no usable one.
    pub(crate) tokenizer: Result<minke_tokenizer, String>,
}

/// ------------------------------------------------------------------
/// Model: open a model file, ask what it holds, free it.
/// ------------------------------------------------------------------
///
/// Fills `params` (a struct of `size` bytes, normally
/// `sizeof(minke_model_params)`) with the defaults and sets `params->size`.
///
/// Returns `MINKE_ERR_NULL_ARG` if `params` is NULL, `MINKE_ERR_INVALID_ARG`
/// if `size` is smaller than the first version of the struct. Thread-safe.
///
/// # Safety
/// `params` is NULL or valid for writing `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn minke_model_default_params(
    params: *mut minke_model_params,
    size: u32,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: `params` is NULL or writable for `size` bytes (caller).
        unsafe { write_params(params, size, minke_model_params::default()) }
    })
}

/// Opens a model: a `.minke` file, a GGUF file, or a Hugging Face
/// checkpoint folder. The weights are mapped, not copied.
///
/// `path` is a NUL-terminated UTF-8 path; `params` may be NULL for the
/// defaults. On success `*out_model` is a new model that the caller owns and
/// frees with `minke_model_free()`; on failure `*out_model` is set to NULL.
///
/// Returns `MINKE_ERR_NULL_ARG` (`path` or `out_model` NULL), `MINKE_ERR_UTF8`,
/// `MINKE_ERR_IO` (cannot read the file), `MINKE_ERR_FORMAT` (malformed),
/// `MINKE_ERR_UNSUPPORTED` (architecture or tensor type), `MINKE_ERR_CONFIG`,
/// `MINKE_ERR_TOKENIZER` (with `params->validate`) or
/// `MINKE_ERR_INVALID_ARG` (bad `params`). Thread-safe.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `params` is NULL or a
/// `minke_model_params` filled by `minke_model_default_params()`;
/// `out_model` is NULL or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn minke_model_open(
    path: *const c_char,
    params: *const minke_model_params,
    out_model: *mut *mut minke_model,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: out-pointer validity is the caller's promise.
        let out_model = unsafe { out(out_model, "out_model") }?;
        // A failure below leaves NULL behind.
        out_model.set(std::ptr::null_mut());
        // SAFETY: `path` is NULL or NUL-terminated (caller).
        let path = unsafe { arg_str(path, "path") }?;
        // SAFETY: `params` is NULL or a valid params struct (caller).
        let p = unsafe { read_params(params) }?;
        let load = if p.use_mmap {
            minke::Load::Map
        } else {
            minke::Load::Read
        };
        let model = Arc::new(Model::open_with(path, load)?);
        let tokenizer = match model.tokenizer() {
            Ok(t) => Ok(minke_tokenizer::new(&model, t)),
            Err(e) => Err(e.to_string()),
        };
        if p.validate {
            model.config.validate()?;
            if let Err(e) = &tokenizer {
                return Err(FfiError::new(minke_status::MINKE_ERR_TOKENIZER, e.clone()));
            }
        }
        let n_threads = match p.n_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n as usize,
        };
        let handle = Box::new(minke_model {
            model,
            n_threads,
            tokenizer,
        });
        out_model.set(Box::into_raw(handle));
        Ok(())
    })
}

/// Frees a model. NULL does nothing. Sessions made from the model keep
/// what they need alive, so it may be freed before them; the weights are
/// unmapped when the last of them goes. The tokenizer from
/// `minke_model_tokenizer()` is invalid once the model is freed.
///
/// Not thread-safe with other calls on the same model: free it once, when
/// no other thread uses the handle.
///
/// # Safety
/// `model` is NULL or a pointer from `minke_model_open()` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn minke_model_free(model: *mut minke_model) {
    // SAFETY: NULL or from this type's constructor, not yet freed, used
    // by no other thread (the caller's contract).
    unsafe { free_handle(fn_name!(), model) }
}

/// Runs a getter on a model handle; `fallback` if it is NULL.
///
/// # Safety
/// `model` is NULL or a live model.
unsafe fn get<T: Copy>(
    name: &str,
    model: *const minke_model,
    fallback: T,
    f: impl FnOnce(&minke_model) -> T,
) -> T {
    ffi_getter(name, fallback, || {
        // SAFETY: NULL or live, per the caller.
        match unsafe { arg_ref(model, "model") } {
            Ok(m) => f(m),
            Err(_) => fallback,
        }
    })
}

/// Vocabulary size: token ids are below it. 0 if `model` is NULL.
/// Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn minke_model_n_vocab(model: *const minke_model) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), model, 0, |m| m.model.config.vocab_size as u32) }
}

/// Context length the model was trained for (`max_position_embeddings`).
/// 0 if `model` is NULL. Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn minke_model_n_ctx_train(model: *const minke_model) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe {
        get(fn_name!(), model, 0, |m| {
            m.model
                .config
                .max_position_embeddings
                .min(u32::MAX as usize) as u32
        })
    }
}

/// Number of transformer layers. 0 if `model` is NULL. Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn minke_model_n_layers(model: *const minke_model) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), model, 0, |m| m.model.config.n_layers as u32) }
}

/// Number of labels of a sequence-classification (reward) model: the
/// scores `minke_session_reward()` gives (1 for a reward model); 0 for a
/// language model or if `model` is NULL. Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn minke_model_n_labels(model: *const minke_model) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe {
        get(fn_name!(), model, 0, |m| {
            m.model.config.n_labels.unwrap_or(0) as u32
        })
    }
}

/// Width of the hidden state (embedding size). 0 if `model` is NULL.
/// Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn minke_model_n_embd(model: *const minke_model) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), model, 0, |m| m.model.config.hidden_size as u32) }
}

/// Bytes of all weight tensors (mapped from the file, not allocated).
/// 0 if `model` is NULL. Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn minke_model_weight_bytes(model: *const minke_model) -> u64 {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), model, 0, |m| m.model.weight_bytes() as u64) }
}

/// The architecture's Hugging Face class name (`"LlamaForCausalLM"`,
/// `"DeepseekV3ForCausalLM"`...), or `""` if `model` is NULL. The string
/// is static: never free it. Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn minke_model_arch(model: *const minke_model) -> *const c_char {
    // NUL-terminated copies of `Arch::hf_name()`, for C.
    const NAMES: [&CStr; 4] = [
        c"LlamaForCausalLM",
        c"Qwen2ForCausalLM",
        c"DeepseekV2ForCausalLM",
        c"DeepseekV3ForCausalLM",
    ];
    // SAFETY: forwarded caller contract.
    let name = unsafe {
        get(fn_name!(), model, c"", |m| {
            let want = m.model.config.arch.hf_name().as_bytes();
            NAMES
                .iter()
                .copied()
                .find(|n| n.to_bytes() == want)
                .unwrap_or(c"")
        })
    };
    name.as_ptr()
}

/// The model's tokenizer, borrowed: `*out_tokenizer` stays valid until
/// the model is freed and must not be freed itself. On failure it is set
/// to NULL.
///
/// Returns `MINKE_ERR_NULL_ARG`, or `MINKE_ERR_TOKENIZER` when the model
/// carries no tokenizer or minke cannot build it (the message says why;
/// the model still runs on token ids). Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model; `out_tokenizer` is NULL or valid for
/// writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn minke_model_tokenizer(
    model: *const minke_model,
    out_tokenizer: *mut *const minke_tokenizer,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or valid for a pointer write (caller).
        let o = unsafe { out(out_tokenizer, "out_tokenizer") }?;
        o.set(std::ptr::null());
        // SAFETY: NULL or a live model (caller).
        let m = unsafe { arg_ref(model, "model") }?;
        match &m.tokenizer {
            Ok(t) => {
                o.set(t as *const minke_tokenizer);
                Ok(())
            }
            Err(e) => Err(FfiError::new(minke_status::MINKE_ERR_TOKENIZER, e.clone())),
        }
    })
}
