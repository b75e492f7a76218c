//! The C ABI of minke: `libminke` (`.so` and `.a`) and `include/minke.h`.
//!
//! One module per C type; every entry point is `minke_<noun>_<verb>`, goes
//! through `boundary::ffi_boundary` (no panic crosses into C; NULLs,
//! bad UTF-8 and short buffers become status codes) and says in its
//! comment who owns what, what may be NULL and what is thread-safe.
//!
//! Threads: a `minke_model` (and its `minke_tokenizer`) is read-only and
//! may be used from any number of threads at once; a `minke_session` or
//! `minke_sampler` belongs to one thread at a time.
//!
//! The header is generated from these sources by cbindgen (see
//! `cbindgen.toml`); `scripts/test-c.sh` regenerates it and fails if the
//! committed copy differs.
#![allow(non_camel_case_types)]

// The header's order: cbindgen takes these modules in turn, and each
// module's items in source order, so the header reads in the order of a
// program's life, as llama.h does, with what is not part of that life
// (logging, the machine) last. The first function of each module
// opens its section with a banner in its comment. (One module a group,
// or rustfmt would sort them by name.)
pub mod version;

pub mod status;

pub mod boundary;

pub mod model;

pub mod tokenizer;

pub mod chat;

pub mod session;

pub mod state;

pub mod sampler;

pub mod generate;

pub mod score;

pub mod best_of_n;

pub mod lora;

pub mod log;

pub mod system;

pub use best_of_n::{minke_candidates, minke_rank_fn};
pub use chat::minke_chat_message;
pub use generate::{
    minke_generate_params, minke_generate_result, minke_piece_fn, minke_stop_reason,
};
pub use log::{minke_log_fn, minke_log_level};
pub use lora::minke_lora;
pub use model::{minke_model, minke_model_params};
pub use sampler::{minke_sampler, minke_sampler_params};
pub use session::{minke_kv_type, minke_session, minke_session_params};
pub use state::minke_abort_fn;
pub use status::minke_status;
pub use tokenizer::minke_tokenizer;

#[cfg(test)]
mod tests;
