//! `minke_tokenizer`: text to token ids and back, and special token ids:
//! borrowed from a `minke_model`, or opened alone from a file
//! (`minke_tokenizer_open()`, which also reads vocabulary-only GGUF files)
//! and then owned by the caller. Its chat template: `chat.rs`.
//!
//! Outputs follow snprintf: the caller gives a buffer and its capacity,
//! the size needed always comes back through an out-parameter, and a
//! buffer too small gives `MINKE_ERR_BUFFER_TOO_SMALL` (pass a NULL buffer
//! and capacity 0 to ask for the size alone).

use crate::boundary::{
    arg_ref, arg_slice, arg_str, ffi_boundary, ffi_getter, fn_name, free_handle, out, write_items,
    write_text,
};
use crate::status::{minke_status, FfiError, FfiResult};
use minke::{EncodeOptions, Model, Tokenizer};
use std::ffi::c_char;
use std::sync::Arc;

/// A tokenizer (opaque). Either a model's, from `minke_model_tokenizer()`:
/// borrowed, valid while its model is, never freed by the caller; or one
/// opened alone by `minke_tokenizer_open()`: owned by the caller, freed
/// with `minke_tokenizer_free()`. Read-only: any number of threads may use
/// it at once.
pub struct minke_tokenizer {
    source: Source,
    /// Every id that ends generation: the tokenizer's end-of-sequence and
    /// end-of-turn tokens, then the model config's, without repeats.
    eog: Vec<u32>,
}

/// Where a handle's tokenizer lives.
enum Source {
    /// In the model, which the handle keeps alive.
    Model(Arc<Model>),
    /// In the handle: opened from a file without a model (boxed: a
    /// tokenizer is kilobytes, a model's handle one pointer).
    Alone(Box<Tokenizer>),
}

impl minke_tokenizer {
    pub(crate) fn new(model: &Arc<Model>, t: &Tokenizer) -> minke_tokenizer {
        let mut eog: Vec<u32> = t.eos_ids().to_vec();
        for &id in &model.config.eos_token_ids {
            if !eog.contains(&id) {
                eog.push(id);
            }
        }
        minke_tokenizer {
            source: Source::Model(Arc::clone(model)),
            eog,
        }
    }

    fn alone(t: Tokenizer) -> minke_tokenizer {
        minke_tokenizer {
            eog: t.eos_ids().to_vec(),
            source: Source::Alone(Box::new(t)),
        }
    }

    pub(crate) fn tok(&self) -> FfiResult<&Tokenizer> {
        match &self.source {
            Source::Model(m) => Ok(m.tokenizer()?),
            Source::Alone(t) => Ok(t),
        }
    }

    /// `MINKE_ERR_TOKEN_OUT_OF_RANGE` unless `id` is in the vocabulary.
    fn check_id(&self, t: &Tokenizer, id: u32) -> FfiResult<()> {
        if (id as usize) < t.vocab_size() {
            Ok(())
        } else {
            Err(FfiError::new(
                minke_status::MINKE_ERR_TOKEN_OUT_OF_RANGE,
                format!(
                    "token id {id} is out of range (the vocabulary has {})",
                    t.vocab_size()
                ),
            ))
        }
    }
}

/// ------------------------------------------------------------------
/// Tokenizer: text to token ids and back, special tokens.
/// ------------------------------------------------------------------
///
/// Opens the tokenizer of a model file without the model: a GGUF file
/// (also a vocabulary-only one, such as llama.cpp's `ggml-vocab-*.gguf`,
/// which has no tensors), a `.minke` file, a Hugging Face checkpoint
/// folder or a `tokenizer.json`. Only the tokenizer is loaded: it encodes,
/// decodes and renders the chat template as the model's own does (the
/// end-of-generation ids are the tokenizer's alone, without any the
/// model's config adds).
///
/// `path` is a NUL-terminated UTF-8 path. On success `*out_tokenizer` is
/// a new tokenizer that the caller owns and frees with
/// `minke_tokenizer_free()`; on failure it is set to NULL.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_UTF8`, `MINKE_ERR_IO` (cannot
/// read the file), `MINKE_ERR_FORMAT` (malformed) or `MINKE_ERR_TOKENIZER`
/// (the file has no tokenizer, or one minke cannot build; the message
/// says which). Thread-safe.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `out_tokenizer` is NULL or
/// valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_open(
    path: *const c_char,
    out_tokenizer: *mut *mut minke_tokenizer,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or writable (caller).
        let o = unsafe { out(out_tokenizer, "out_tokenizer") }?;
        o.set(std::ptr::null_mut());
        // SAFETY: NULL or NUL-terminated (caller).
        let path = unsafe { arg_str(path, "path") }?;
        let t = Tokenizer::open(path)?;
        o.set(Box::into_raw(Box::new(minke_tokenizer::alone(t))));
        Ok(())
    })
}

/// Frees a tokenizer from `minke_tokenizer_open()`. NULL does nothing, and
/// so does a model's tokenizer (from `minke_model_tokenizer()`), which
/// lives as long as its model. Free it once, when no other thread uses it.
///
/// # Safety
/// `tok` is NULL, a pointer from `minke_tokenizer_open()` not yet freed, or
/// a live model's tokenizer.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_free(tok: *mut minke_tokenizer) {
    // SAFETY: NULL, or live and readable (caller).
    let alone = unsafe { tok.as_ref() }.is_some_and(|t| matches!(t.source, Source::Alone(_)));
    if alone {
        // SAFETY: a live pointer from Box::into_raw in minke_tokenizer_open
        // (only those hold `Source::Alone`), freed exactly once (caller).
        unsafe { free_handle(fn_name!(), tok) }
    }
}

/// Turns `text` (NUL-terminated UTF-8) into token ids. With `add_special`,
/// the model's prefix tokens (e.g. BOS) come first, as for a prompt that
/// starts a conversation. Special-token text in `text` (`<|im_end|>`)
/// becomes that control token: use this for text the app wrote, and
/// `minke_tokenizer_encode_ex()` without `MINKE_ENCODE_PARSE_SPECIAL` for
/// text a user wrote (this is `minke_tokenizer_encode_ex()` with
/// `MINKE_ENCODE_PARSE_SPECIAL`, and `MINKE_ENCODE_ADD_SPECIAL` if
/// `add_special`).
///
/// The ids go to `tokens`, which holds `capacity` ids; their count goes to
/// `*n_tokens` in every case. If `capacity` is too small, nothing is
/// written and the result is `MINKE_ERR_BUFFER_TOO_SMALL`: call again
/// with `*n_tokens` room (`tokens` may be NULL when `capacity` is 0).
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_UTF8`, `MINKE_ERR_TOKENIZER`
/// or `MINKE_ERR_BUFFER_TOO_SMALL`. Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer; `text` NULL or NUL-terminated;
/// `tokens` NULL or valid for writing `capacity` ids; `n_tokens` NULL or
/// valid for writing a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_encode(
    tok: *const minke_tokenizer,
    text: *const c_char,
    add_special: bool,
    tokens: *mut u32,
    capacity: usize,
    n_tokens: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (tk, text, n) = unsafe {
            (
                arg_ref(tok, "tok")?,
                arg_str(text, "text")?,
                out(n_tokens, "n_tokens")?,
            )
        };
        let ids = tk.tok()?.encode(text, add_special)?;
        // SAFETY: `tokens` is NULL or writable for `capacity` ids (caller).
        unsafe { write_items(tokens, capacity, &ids, n, "tokens") }
    })
}

/// `minke_tokenizer_encode_ex()` flag: put the model's prefix tokens
/// (e.g. BOS) first, as for a prompt that starts a conversation.
pub const MINKE_ENCODE_ADD_SPECIAL: u32 = 1;

/// `minke_tokenizer_encode_ex()` flag: turn special-token text
/// (`<|im_start|>`) into that control token. Without it, such text is
/// encoded as ordinary text, as Hugging Face tokenizers do with
/// `split_special_tokens=True` (added tokens that are not control tokens,
/// such as DeepSeek-V3's `<think>`, still match). Set it only for text
/// the app wrote: with it, a user who types `<|im_end|>` ends the turn.
pub const MINKE_ENCODE_PARSE_SPECIAL: u32 = 2;

/// Turns `text` (NUL-terminated UTF-8) into token ids as `flags`
/// (`MINKE_ENCODE_*` bits, or 0) say. With 0, the text is a user's: no
/// prefix tokens, and special-token text stays text. Sizing as
/// `minke_tokenizer_encode()`.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_INVALID_ARG` (a bit of `flags`
/// this library does not know, so that a flag added later is never
/// silently ignored), `MINKE_ERR_UTF8`, `MINKE_ERR_TOKENIZER` or
/// `MINKE_ERR_BUFFER_TOO_SMALL`. Thread-safe.
///
/// # Safety
/// As `minke_tokenizer_encode()`.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_encode_ex(
    tok: *const minke_tokenizer,
    text: *const c_char,
    flags: u32,
    tokens: *mut u32,
    capacity: usize,
    n_tokens: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (tk, text, n) = unsafe {
            (
                arg_ref(tok, "tok")?,
                arg_str(text, "text")?,
                out(n_tokens, "n_tokens")?,
            )
        };
        if flags & !(MINKE_ENCODE_ADD_SPECIAL | MINKE_ENCODE_PARSE_SPECIAL) != 0 {
            return Err(FfiError::invalid(format!(
                "flags {flags:#x} has bits this library does not know"
            )));
        }
        let opts = EncodeOptions {
            add_special: flags & MINKE_ENCODE_ADD_SPECIAL != 0,
            parse_special: flags & MINKE_ENCODE_PARSE_SPECIAL != 0,
        };
        let ids = tk.tok()?.encode_with(text, opts)?;
        // SAFETY: `tokens` is NULL or writable for `capacity` ids (caller).
        unsafe { write_items(tokens, capacity, &ids, n, "tokens") }
    })
}

/// Turns token ids into text, NUL-terminated, into `buf` of `size` bytes.
/// Bytes that do not form valid UTF-8 come out as U+FFFD; special tokens
/// come out as their text. The text's length (without the NUL) goes to
/// `*n_bytes` in every case; if `size < *n_bytes + 1` the result is
/// `MINKE_ERR_BUFFER_TOO_SMALL` (`buf` may be NULL when `size` is 0).
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_TOKEN_OUT_OF_RANGE` or
/// `MINKE_ERR_BUFFER_TOO_SMALL`. Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer; `ids` NULL or `n_ids` readable ids;
/// `buf` NULL or writable for `size` bytes; `n_bytes` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_decode(
    tok: *const minke_tokenizer,
    ids: *const u32,
    n_ids: usize,
    buf: *mut c_char,
    size: usize,
    n_bytes: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (tk, ids, n) = unsafe {
            (
                arg_ref(tok, "tok")?,
                arg_slice(ids, n_ids, "ids")?,
                out(n_bytes, "n_bytes")?,
            )
        };
        let t = tk.tok()?;
        for &id in ids {
            tk.check_id(t, id)?;
        }
        let text = t.decode(ids)?;
        // SAFETY: `buf` is NULL or writable for `size` bytes (caller).
        unsafe { write_text(buf, size, text.as_bytes(), n, "buf") }
    })
}

/// The bytes token `id` stands for, NUL-terminated, into `buf` of `size`
/// bytes: raw, so a token may hold part of a UTF-8 character (join the
/// pieces before printing, or use `minke_generate()`, which streams whole
/// characters). Sizing as `minke_tokenizer_decode()`.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_TOKEN_OUT_OF_RANGE` or
/// `MINKE_ERR_BUFFER_TOO_SMALL`. Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer; `buf` NULL or writable for `size`
/// bytes; `n_bytes` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_token_to_piece(
    tok: *const minke_tokenizer,
    id: u32,
    buf: *mut c_char,
    size: usize,
    n_bytes: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (tk, n) = unsafe { (arg_ref(tok, "tok")?, out(n_bytes, "n_bytes")?) };
        let t = tk.tok()?;
        tk.check_id(t, id)?;
        let bytes = t.token_bytes(id)?;
        // SAFETY: `buf` is NULL or writable for `size` bytes (caller).
        unsafe { write_text(buf, size, bytes, n, "buf") }
    })
}

/// The id of a token as the vocabulary spells it (`"<|im_end|>"`,
/// `"Ġhello"`), into `*id`.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_UTF8`, or `MINKE_ERR_TOKENIZER`
/// if the vocabulary has no such token. Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer; `piece` NULL or NUL-terminated; `id`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_token_to_id(
    tok: *const minke_tokenizer,
    piece: *const c_char,
    id: *mut u32,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (tk, piece, o) = unsafe {
            (
                arg_ref(tok, "tok")?,
                arg_str(piece, "piece")?,
                out(id, "id")?,
            )
        };
        let found = tk.tok()?.token_to_id(piece).ok_or_else(|| {
            FfiError::new(
                minke_status::MINKE_ERR_TOKENIZER,
                format!("no token {piece:?} in the vocabulary"),
            )
        })?;
        o.set(found);
        Ok(())
    })
}

/// Token `id` as the vocabulary spells it (`"Ġhello"`, `"<|im_end|>"`):
/// the inverse of `minke_tokenizer_token_to_id()`, NUL-terminated into
/// `buf` of `size` bytes. (`minke_tokenizer_token_to_piece()` gives the
/// bytes the token stands for instead.) Sizing as
/// `minke_tokenizer_decode()`.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_TOKEN_OUT_OF_RANGE`,
/// `MINKE_ERR_TOKENIZER` (an id inside the vocabulary that no token has)
/// or `MINKE_ERR_BUFFER_TOO_SMALL`. Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer; `buf` NULL or writable for `size`
/// bytes; `n_bytes` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_id_to_token(
    tok: *const minke_tokenizer,
    id: u32,
    buf: *mut c_char,
    size: usize,
    n_bytes: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (tk, n) = unsafe { (arg_ref(tok, "tok")?, out(n_bytes, "n_bytes")?) };
        let t = tk.tok()?;
        tk.check_id(t, id)?;
        let text = t.id_to_token(id).ok_or_else(|| {
            FfiError::new(
                minke_status::MINKE_ERR_TOKENIZER,
                format!("no token has id {id} (a hole in the vocabulary)"),
            )
        })?;
        // SAFETY: `buf` is NULL or writable for `size` bytes (caller).
        unsafe { write_text(buf, size, text.as_bytes(), n, "buf") }
    })
}

/// Runs a getter on a tokenizer; `fallback` if it is NULL.
///
/// # Safety
/// `tok` is NULL or a live tokenizer.
pub(crate) unsafe fn get<T: Copy>(
    name: &str,
    tok: *const minke_tokenizer,
    fallback: T,
    f: impl FnOnce(&minke_tokenizer, &Tokenizer) -> T,
) -> T {
    ffi_getter(name, fallback, || {
        // SAFETY: NULL or live, per the caller.
        match unsafe { arg_ref(tok, "tok") } {
            Ok(tk) => match tk.tok() {
                Ok(t) => f(tk, t),
                Err(_) => fallback,
            },
            Err(_) => fallback,
        }
    })
}

fn id_or_minus_one(id: Option<u32>) -> i32 {
    id.and_then(|i| i32::try_from(i).ok()).unwrap_or(-1)
}

/// The tokenizer's vocabulary size (ids are below it); 0 if `tok` is NULL.
/// Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_n_vocab(tok: *const minke_tokenizer) -> u32 {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), tok, 0, |_, t| t.vocab_size() as u32) }
}

/// The beginning-of-sequence token id, or -1 if the model has none (or
/// `tok` is NULL). Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_bos(tok: *const minke_tokenizer) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), tok, -1, |_, t| id_or_minus_one(t.bos_id())) }
}

/// The end-of-sequence token id, or -1 if the model has none (or `tok`
/// is NULL). Other tokens may also end generation: see
/// `minke_tokenizer_is_eog()`. Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_eos(tok: *const minke_tokenizer) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe {
        get(fn_name!(), tok, -1, |_, t| {
            id_or_minus_one(t.eos_ids().first().copied())
        })
    }
}

/// The padding token id, or -1 if the model has none (or `tok` is NULL).
/// Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_pad(tok: *const minke_tokenizer) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), tok, -1, |_, t| id_or_minus_one(t.pad_id())) }
}

/// The token that ends a turn in the model's chat format (`<|im_end|>`,
/// `<|eot_id|>`, `<｜end▁of▁sentence｜>`...), or -1 if its vocabulary has
/// none that minke knows (or `tok` is NULL). It is one of the ids that end
/// generation (`minke_tokenizer_is_eog()`). Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_eot(tok: *const minke_tokenizer) -> i32 {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), tok, -1, |_, t| id_or_minus_one(t.eot_id())) }
}

/// Whether `id` ends generation (end of sequence or end of turn, e.g.
/// `<|im_end|>`): the tokens `minke_generate()` stops at. `false` if `tok`
/// is NULL. Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_is_eog(tok: *const minke_tokenizer, id: u32) -> bool {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), tok, false, |tk, _| tk.eog.contains(&id)) }
}

/// Whether `id` is a special (control) token such as `<|im_start|>`.
/// `false` if `tok` is NULL or `id` is out of range. Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_is_special(tok: *const minke_tokenizer, id: u32) -> bool {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), tok, false, |_, t| t.is_special(id)) }
}

/// The ids that end generation (see `minke_tokenizer_is_eog()`): a
/// borrowed array of `*n_ids` ids in `*ids`, valid while the tokenizer is.
///
/// Returns `MINKE_ERR_NULL_ARG`. Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer; `ids` and `n_ids` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_eog_ids(
    tok: *const minke_tokenizer,
    ids: *mut *const u32,
    n_ids: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (tk, o_ids, o_n) =
            unsafe { (arg_ref(tok, "tok")?, out(ids, "ids")?, out(n_ids, "n_ids")?) };
        o_ids.set(tk.eog.as_ptr());
        o_n.set(tk.eog.len());
        Ok(())
    })
}
