//! `minke_model`: a model file opened, checked and mapped; shared,
//! read-only, by every session that runs it, on any thread.

use crate::boundary::{
    arg_ref, arg_str, ffi_boundary, ffi_getter, fn_name, free_handle, out, out_opt, read_params,
    write_params, write_text, Params,
};
use crate::status::{minke_status, FfiError, FfiResult};
use crate::tokenizer::minke_tokenizer;
use minke::quant::DType;
use minke::Model;
use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::{Arc, OnceLock};

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
    /// Called during `minke_model_open()` with how much of the load is
    /// done (default NULL: none). A caller compiled against the struct
    /// before this field (12 bytes) gets NULL.
    pub progress: minke_progress_fn,
    /// Passed to `progress` (default NULL).
    pub progress_user_data: *mut c_void,
}

/// Receives the progress of `minke_model_open()`: `progress` is the
/// fraction done, 0 first, then values that never decrease, 1 last when
/// the model is ready. Without mmap, reading the file advances it by
/// bytes read (every 16 MiB); then checking the tensors advances it by
/// tensors, binding the weights and building the tokenizer take the rest.
/// With mmap nothing is read, so the tensors take the whole range. The
/// steps are shares of the work, not of the time.
///
/// Return `true` to go on, `false` to stop the load: `minke_model_open()`
/// then frees what it made and returns `MINKE_ERR_ABORTED`. It runs on
/// the thread that called `minke_model_open()`, with the params'
/// `progress_user_data`, and must not unwind (throw) into minke.
pub type minke_progress_fn =
    Option<unsafe extern "C" fn(progress: f32, user_data: *mut c_void) -> bool>;

impl Default for minke_model_params {
    fn default() -> Self {
        minke_model_params {
            size: std::mem::size_of::<minke_model_params>() as u32,
            n_threads: 0,
            use_mmap: true,
            validate: false,
            progress: None,
            progress_user_data: std::ptr::null_mut(),
        }
    }
}

// SAFETY: repr(C), leading u32 `size`; fields are integers, C bools, a
// pointer and an optional function pointer (NULL or not, any value is a
// valid Rust value; calling it is the caller's promise).
unsafe impl Params for minke_model_params {
    const SIZES: &'static [usize] = &[12, std::mem::size_of::<minke_model_params>()];
    const NAME: &'static str = "minke_model_params";
}

// The 12 bytes of the first version, padded to a pointer's alignment,
// then the two pointers.
const _: () = assert!(
    std::mem::size_of::<minke_model_params>()
        == 12usize.next_multiple_of(std::mem::align_of::<usize>())
            + 2 * std::mem::size_of::<usize>()
);

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
/// `MINKE_ERR_TOKENIZER` (with `params->validate`),
/// `MINKE_ERR_INVALID_ARG` (bad `params`) or `MINKE_ERR_ABORTED` (the
/// `params->progress` callback returned `false`). Thread-safe.
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
        let model = Arc::new(Model::open_with_progress(path, load, |x| {
            match p.progress {
                // SAFETY: the caller's callback with its user data, called on
                // this thread as `minke_progress_fn` documents.
                Some(f) => unsafe { f(x, p.progress_user_data) },
                None => true,
            }
        })?);
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

/// Number of attention (query) heads. 0 if `model` is NULL. Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn minke_model_n_heads(model: *const minke_model) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), model, 0, |m| m.model.config.n_heads as u32) }
}

/// Number of key/value heads: fewer than `minke_model_n_heads()` under
/// grouped-query attention. 0 if `model` is NULL. Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn minke_model_n_heads_kv(model: *const minke_model) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), model, 0, |m| m.model.config.n_kv_heads as u32) }
}

/// Width of the feed-forward layer (`intermediate_size`; for DeepSeek
/// models, that of the dense layers). 0 if `model` is NULL. Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn minke_model_n_ff(model: *const minke_model) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe {
        get(fn_name!(), model, 0, |m| {
            m.model.config.intermediate_size as u32
        })
    }
}

/// Routed experts of a mixture-of-experts model (DeepSeek-V2/V3); 0 for a
/// dense model or if `model` is NULL. Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn minke_model_n_experts(model: *const minke_model) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe {
        get(fn_name!(), model, 0, |m| {
            m.model
                .config
                .deepseek
                .as_ref()
                .map_or(0, |d| d.n_routed_experts as u32)
        })
    }
}

/// Experts each token runs through (`num_experts_per_tok`), shared
/// experts not counted; 0 for a dense model or if `model` is NULL.
/// Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn minke_model_n_experts_used(model: *const minke_model) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe {
        get(fn_name!(), model, 0, |m| {
            m.model
                .config
                .deepseek
                .as_ref()
                .map_or(0, |d| d.num_experts_per_tok as u32)
        })
    }
}

/// Parameters: elements of all the model's tensors (for a mixture of
/// experts, all experts). 0 if `model` is NULL. Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn minke_model_n_params(model: *const minke_model) -> u64 {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), model, 0, |m| m.model.n_params()) }
}

/// One line that names the model, as llama.cpp's `llama_model_desc`:
/// architecture, size and the number format that holds most parameters,
/// e.g. `"llama 135M Q4_1"` (architectures: `llama`, `qwen2`,
/// `deepseek2`, `deepseek3`). NUL-terminated into `buf` of `size` bytes;
/// its length goes to `*n_bytes` in every case, and a `buf` too small
/// gives `MINKE_ERR_BUFFER_TOO_SMALL` (`buf` may be NULL when `size` is
/// 0).
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_BUFFER_TOO_SMALL`.
/// Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model; `buf` NULL or writable for `size`
/// bytes; `n_bytes` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_model_desc(
    model: *const minke_model,
    buf: *mut c_char,
    size: usize,
    n_bytes: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (m, n) = unsafe { (arg_ref(model, "model")?, out(n_bytes, "n_bytes")?) };
        let desc = m.model.description();
        // SAFETY: `buf` is NULL or writable for `size` bytes (caller).
        unsafe { write_text(buf, size, desc.as_bytes(), n, "buf") }
    })
}

/// Number formats the model's tensors use: `minke_model_tensor_type()`
/// takes indices below it. 0 if `model` is NULL. Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn minke_model_n_tensor_types(model: *const minke_model) -> usize {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), model, 0, |m| m.model.tensor_types().len()) }
}

/// The `i`-th number format of the model's tensors, the one with the most
/// parameters first (index 0: the model's main format, the one
/// `minke_model_desc()` names). `*name` gets its name (`"q4_1"`, `"f32"`,
/// `"q4_0x16"`: static, never free it), `*n_tensors` the tensors in it and
/// `*n_params` their elements. Each out-pointer may be NULL if not wanted.
///
/// Returns `MINKE_ERR_NULL_ARG` (`model`) or `MINKE_ERR_INVALID_ARG` (`i`
/// not below `minke_model_n_tensor_types()`). Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model; `name`, `n_tensors` and `n_params`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_model_tensor_type(
    model: *const minke_model,
    i: usize,
    name: *mut *const c_char,
    n_tensors: *mut u64,
    n_params: *mut u64,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or a live model (caller).
        let m = unsafe { arg_ref(model, "model") }?;
        let types = m.model.tensor_types();
        let t = types.get(i).ok_or_else(|| {
            FfiError::invalid(format!(
                "tensor type {i} does not exist (the model has {})",
                types.len()
            ))
        })?;
        // SAFETY: each is NULL or writable (caller).
        let (o_name, o_tensors, o_params) =
            unsafe { (out_opt(name), out_opt(n_tensors), out_opt(n_params)) };
        if let Some(o) = o_name {
            o.set(dtype_name(t.dtype).as_ptr());
        }
        if let Some(o) = o_tensors {
            o.set(t.tensors as u64);
        }
        if let Some(o) = o_params {
            o.set(t.params);
        }
        Ok(())
    })
}

/// A format's name as a static C string.
fn dtype_name(d: DType) -> &'static CStr {
    static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        DType::ALL
            .iter()
            .map(|d| CString::new(d.name()).unwrap_or_default())
            .collect()
    });
    DType::ALL
        .iter()
        .position(|&x| x == d)
        .map_or(c"", |i| names[i].as_c_str())
}

/// Entries in the model file's metadata: `minke_model_meta_key_at()` and
/// `minke_model_meta_value_at()` take indices below it. What the metadata
/// is: a GGUF file's key/value pairs, in file order; a `.minke` file's
/// safetensors `__metadata__` (`minke.config`, ...) or a checkpoint
/// folder's `config.json` fields, sorted by key. 0 if `model` is NULL.
/// Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model.
#[no_mangle]
pub unsafe extern "C" fn minke_model_meta_count(model: *const minke_model) -> usize {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), model, 0, |m| m.model.metadata().len()) }
}

/// The key of metadata entry `i` (`"general.architecture"`), NUL-terminated
/// into `buf` of `size` bytes. Sizing as `minke_model_desc()`.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_INVALID_ARG` (`i` not below
/// `minke_model_meta_count()`) or `MINKE_ERR_BUFFER_TOO_SMALL`.
/// Thread-safe.
///
/// # Safety
/// As `minke_model_desc()`.
#[no_mangle]
pub unsafe extern "C" fn minke_model_meta_key_at(
    model: *const minke_model,
    i: usize,
    buf: *mut c_char,
    size: usize,
    n_bytes: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (m, n) = unsafe { (arg_ref(model, "model")?, out(n_bytes, "n_bytes")?) };
        let (key, _) = meta_entry(m, i)?;
        // SAFETY: `buf` is NULL or writable for `size` bytes (caller).
        unsafe { write_text(buf, size, key.as_bytes(), n, "buf") }
    })
}

/// The value of metadata entry `i` as text, NUL-terminated into `buf` of
/// `size` bytes: a string as it is; a number or boolean printed; a JSON
/// value (of `config.json`) as compact JSON; an array as its first 8
/// elements and its length, `[1, 2, ... (49152 items)]`; a string over
/// 256 KiB (a `.minke` file's embedded `tokenizer.json`, which the
/// tokenizer functions read) as `(N bytes, not kept)`. Sizing as
/// `minke_model_desc()`.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_INVALID_ARG` (`i` not below
/// `minke_model_meta_count()`) or `MINKE_ERR_BUFFER_TOO_SMALL`.
/// Thread-safe.
///
/// # Safety
/// As `minke_model_desc()`.
#[no_mangle]
pub unsafe extern "C" fn minke_model_meta_value_at(
    model: *const minke_model,
    i: usize,
    buf: *mut c_char,
    size: usize,
    n_bytes: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (m, n) = unsafe { (arg_ref(model, "model")?, out(n_bytes, "n_bytes")?) };
        let (_, value) = meta_entry(m, i)?;
        // SAFETY: `buf` is NULL or writable for `size` bytes (caller).
        unsafe { write_text(buf, size, value.as_bytes(), n, "buf") }
    })
}

/// The value of metadata key `key` (NUL-terminated UTF-8, e.g.
/// `"llama.context_length"`) as text, as `minke_model_meta_value_at()`
/// gives it. Sizing as `minke_model_desc()`.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_UTF8`, `MINKE_ERR_INVALID_ARG`
/// (no such key; `*n_bytes` is then 0) or `MINKE_ERR_BUFFER_TOO_SMALL`.
/// Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model; `key` NULL or NUL-terminated; `buf`
/// NULL or writable for `size` bytes; `n_bytes` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_model_meta_value(
    model: *const minke_model,
    key: *const c_char,
    buf: *mut c_char,
    size: usize,
    n_bytes: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (m, key, n) = unsafe {
            (
                arg_ref(model, "model")?,
                arg_str(key, "key")?,
                out(n_bytes, "n_bytes")?,
            )
        };
        n.set(0);
        let value = m.model.metadata_value(key).ok_or_else(|| {
            FfiError::invalid(format!("no metadata key {key:?} in the model file"))
        })?;
        // SAFETY: `buf` is NULL or writable for `size` bytes (caller).
        unsafe { write_text(buf, size, value.as_bytes(), n, "buf") }
    })
}

/// Metadata entry `i`, or `MINKE_ERR_INVALID_ARG`.
fn meta_entry(m: &minke_model, i: usize) -> FfiResult<&(String, String)> {
    let meta = m.model.metadata();
    meta.get(i).ok_or_else(|| {
        FfiError::invalid(format!(
            "metadata entry {i} does not exist (the model has {})",
            meta.len()
        ))
    })
}
