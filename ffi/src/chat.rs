//! A tokenizer's chat template: conversations (`minke_chat_message`)
//! rendered to a prompt's text or encoded to its token ids.
//!
//! Outputs follow snprintf, as the tokenizer's do (see `tokenizer.rs`).

use crate::boundary::{
    arg_ref, arg_slice, arg_str, ffi_boundary, fn_name, out, write_items, write_text,
};
use crate::status::{minke_status, FfiError, FfiResult};
use crate::tokenizer::{get, minke_tokenizer};
use minke::ChatMessage;
use std::ffi::c_char;

/// One turn of a conversation, for `minke_tokenizer_apply_chat_template()`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct minke_chat_message {
    /// `"system"`, `"user"`, `"assistant"`...: NUL-terminated UTF-8.
    pub role: *const c_char,
    /// The message text: NUL-terminated UTF-8.
    pub content: *const c_char,
}

/// ------------------------------------------------------------------
/// Chat templates: conversations to prompts.
/// ------------------------------------------------------------------
///
/// Whether the model has a chat template (needed by
/// `minke_tokenizer_apply_chat_template()`). `false` if `tok` is NULL.
/// Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_has_chat_template(tok: *const minke_tokenizer) -> bool {
    // SAFETY: forwarded caller contract.
    unsafe { get(fn_name!(), tok, false, |_, t| t.chat_template().is_some()) }
}

/// Renders the model's chat template over `messages` (`n_messages` of
/// them) into `buf` of `size` bytes, NUL-terminated; with
/// `add_generation_prompt`, the text ends with the header of the
/// assistant's turn, ready to generate. Sizing as
/// `minke_tokenizer_decode()`.
///
/// The text holds the messages as they are, so encoding it (with
/// `MINKE_ENCODE_PARSE_SPECIAL`, which the template's own special tokens
/// need) also turns special-token text a user typed into control tokens.
/// To prompt the model, use `minke_tokenizer_encode_chat()`, which keeps
/// the messages text; this function is for showing or logging the prompt,
/// or for apps that vouch for every message.
///
/// The template comes from the model file, so it renders within limits
/// on its size, its nesting, the work it does (about a million steps) and
/// its output (8 MiB): one that goes past a limit fails with
/// `MINKE_ERR_TOKENIZER` and a message naming the limit, in milliseconds,
/// instead of aborting or hanging the process. The deepest template
/// accepted renders in 256 KiB of the calling thread's stack.
///
/// Returns `MINKE_ERR_NULL_ARG` (`tok`, `n_bytes`, `messages` with
/// `n_messages > 0`, or a role or content), `MINKE_ERR_UTF8`,
/// `MINKE_ERR_TOKENIZER` (no template, or the template failed or went
/// past a limit) or `MINKE_ERR_BUFFER_TOO_SMALL`. Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer; `messages` NULL or `n_messages`
/// readable messages whose strings are NULL or NUL-terminated; `buf` NULL
/// or writable for `size` bytes; `n_bytes` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_apply_chat_template(
    tok: *const minke_tokenizer,
    messages: *const minke_chat_message,
    n_messages: usize,
    add_generation_prompt: bool,
    buf: *mut c_char,
    size: usize,
    n_bytes: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (tk, chat, n) = unsafe {
            (
                arg_ref(tok, "tok")?,
                chat_messages(messages, n_messages)?,
                out(n_bytes, "n_bytes")?,
            )
        };
        let text = tk
            .tok()?
            .apply_chat_template(&chat, add_generation_prompt)?;
        // SAFETY: `buf` is NULL or writable for `size` bytes (caller).
        unsafe { write_text(buf, size, text.as_bytes(), n, "buf") }
    })
}

/// Renders the model's chat template over `messages` (`n_messages` of
/// them) and encodes the prompt to token ids, ready to prefill or to give
/// `minke_generate()`: only the template's own special tokens become
/// control tokens; special-token text in a message (a user typing
/// `<|im_end|>`) stays text. Without such text the ids are those of
/// encoding `minke_tokenizer_apply_chat_template()`'s text with
/// `MINKE_ENCODE_PARSE_SPECIAL`. No prefix tokens are added: the template
/// writes its own. With `add_generation_prompt`, the prompt ends with the
/// header of the assistant's turn. Sizing as `minke_tokenizer_encode()`.
/// Limits as `minke_tokenizer_apply_chat_template()`.
///
/// A template that measures, slices or compares a message sees each
/// special-token text in it as one private-use char; the ids hold the
/// text.
///
/// Returns `MINKE_ERR_NULL_ARG` (`tok`, `n_tokens`, `messages` with
/// `n_messages > 0`, a role or content, or `tokens` with `capacity > 0`),
/// `MINKE_ERR_UTF8`, `MINKE_ERR_TOKENIZER` (no template, or the template
/// failed or went past a limit) or `MINKE_ERR_BUFFER_TOO_SMALL`.
/// Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer; `messages` NULL or `n_messages`
/// readable messages whose strings are NULL or NUL-terminated; `tokens`
/// NULL or valid for writing `capacity` ids; `n_tokens` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_encode_chat(
    tok: *const minke_tokenizer,
    messages: *const minke_chat_message,
    n_messages: usize,
    add_generation_prompt: bool,
    tokens: *mut u32,
    capacity: usize,
    n_tokens: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (tk, chat, n) = unsafe {
            (
                arg_ref(tok, "tok")?,
                chat_messages(messages, n_messages)?,
                out(n_tokens, "n_tokens")?,
            )
        };
        let ids = tk.tok()?.encode_chat(&chat, add_generation_prompt)?;
        // SAFETY: `tokens` is NULL or writable for `capacity` ids (caller).
        unsafe { write_items(tokens, capacity, &ids, n, "tokens") }
    })
}

/// The model's chat template (Jinja source text), NUL-terminated into
/// `buf` of `size` bytes: to show it, or to start a custom template for
/// `minke_tokenizer_apply_template()` from. Sizing as
/// `minke_tokenizer_decode()`.
///
/// Returns `MINKE_ERR_NULL_ARG`, `MINKE_ERR_TOKENIZER` (the model has no
/// chat template: see `minke_tokenizer_has_chat_template()`) or
/// `MINKE_ERR_BUFFER_TOO_SMALL`. Thread-safe.
///
/// # Safety
/// `tok` is NULL or a live tokenizer; `buf` NULL or writable for `size`
/// bytes; `n_bytes` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_chat_template(
    tok: *const minke_tokenizer,
    buf: *mut c_char,
    size: usize,
    n_bytes: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (tk, n) = unsafe { (arg_ref(tok, "tok")?, out(n_bytes, "n_bytes")?) };
        n.set(0);
        let text = tk.tok()?.chat_template().ok_or_else(|| {
            FfiError::new(
                minke_status::MINKE_ERR_TOKENIZER,
                "the model has no chat template",
            )
        })?;
        // SAFETY: `buf` is NULL or writable for `size` bytes (caller).
        unsafe { write_text(buf, size, text.as_bytes(), n, "buf") }
    })
}

/// `minke_tokenizer_apply_chat_template()` with `tmpl`, a Jinja chat
/// template of the caller's (NUL-terminated UTF-8), in place of the
/// model's: rendered the same way (`bos_token` and `eos_token` are the
/// tokenizer's; `messages`, `add_generation_prompt`, `raise_exception`
/// and `strftime_now` as transformers gives them) and within the same
/// limits on its size (256 KiB), nesting, work and output. The template
/// is checked and compiled on every call. The tokenizer need not have a
/// template of its own. Sizing as `minke_tokenizer_decode()`.
///
/// Returns `MINKE_ERR_NULL_ARG` (`tok`, `tmpl`, `n_bytes`, `messages` with
/// `n_messages > 0`, or a role or content), `MINKE_ERR_UTF8`,
/// `MINKE_ERR_TOKENIZER` (the template does not compile, fails or goes
/// past a limit; the message says where) or `MINKE_ERR_BUFFER_TOO_SMALL`.
/// Thread-safe.
///
/// # Safety
/// As `minke_tokenizer_apply_chat_template()`; `tmpl` is NULL or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_apply_template(
    tok: *const minke_tokenizer,
    tmpl: *const c_char,
    messages: *const minke_chat_message,
    n_messages: usize,
    add_generation_prompt: bool,
    buf: *mut c_char,
    size: usize,
    n_bytes: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (tk, tmpl, chat, n) = unsafe {
            (
                arg_ref(tok, "tok")?,
                arg_str(tmpl, "tmpl")?,
                chat_messages(messages, n_messages)?,
                out(n_bytes, "n_bytes")?,
            )
        };
        let text = tk
            .tok()?
            .apply_template(tmpl, &chat, add_generation_prompt)?;
        // SAFETY: `buf` is NULL or writable for `size` bytes (caller).
        unsafe { write_text(buf, size, text.as_bytes(), n, "buf") }
    })
}

/// `minke_tokenizer_encode_chat()` with `tmpl`, a Jinja chat template of
/// the caller's, in place of the model's (rendered as
/// `minke_tokenizer_apply_template()` renders it): the prompt's token
/// ids, with special-token text in a message kept as text. Sizing as
/// `minke_tokenizer_encode()`.
///
/// Returns `MINKE_ERR_NULL_ARG` (`tok`, `tmpl`, `n_tokens`, `messages`
/// with `n_messages > 0`, a role or content, or `tokens` with
/// `capacity > 0`), `MINKE_ERR_UTF8`, `MINKE_ERR_TOKENIZER` (the template
/// does not compile, fails or goes past a limit) or
/// `MINKE_ERR_BUFFER_TOO_SMALL`. Thread-safe.
///
/// # Safety
/// As `minke_tokenizer_encode_chat()`; `tmpl` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn minke_tokenizer_encode_chat_template(
    tok: *const minke_tokenizer,
    tmpl: *const c_char,
    messages: *const minke_chat_message,
    n_messages: usize,
    add_generation_prompt: bool,
    tokens: *mut u32,
    capacity: usize,
    n_tokens: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (tk, tmpl, chat, n) = unsafe {
            (
                arg_ref(tok, "tok")?,
                arg_str(tmpl, "tmpl")?,
                chat_messages(messages, n_messages)?,
                out(n_tokens, "n_tokens")?,
            )
        };
        let ids = tk
            .tok()?
            .encode_chat_template(tmpl, &chat, add_generation_prompt)?;
        // SAFETY: `tokens` is NULL or writable for `capacity` ids (caller).
        unsafe { write_items(tokens, capacity, &ids, n, "tokens") }
    })
}

/// The messages of a chat, copied.
///
/// # Safety
/// `messages` is NULL or `n` readable messages whose strings are NULL or
/// NUL-terminated.
unsafe fn chat_messages(
    messages: *const minke_chat_message,
    n: usize,
) -> FfiResult<Vec<ChatMessage>> {
    // SAFETY: the caller's contract.
    let msgs = unsafe { arg_slice(messages, n, "messages") }?;
    let mut chat = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        // SAFETY: NULL or NUL-terminated strings (caller).
        let (role, content) = unsafe {
            (
                arg_str(m.role, &format!("messages[{i}].role"))?,
                arg_str(m.content, &format!("messages[{i}].content"))?,
            )
        };
        chat.push(ChatMessage::new(role, content));
    }
    Ok(chat)
}
