//! minke: an edge inference runtime for DeepSeek-family language models.
//!
//! Weights are read in place through `mmap` ([`file`](mod@file)); a shared, read-only
//! [`Model`] is run by one [`Session`] per conversation, which allocates all
//! it needs up front so that `prefill` and `decode` allocate nothing.
//!
//! ```no_run
//! use minke::{Model, Session, SessionParams};
//! let model = Model::open("model.minke")?;
//! let mut s = Session::new(&model, SessionParams::default())?;
//! let logits = s.prefill(&[1, 2, 3])?;
//! # Ok::<(), minke::Error>(())
//! ```

// 64-bit targets only. The bounds on what files and callers can make minke
// allocate (`n_ctx` up to 16 Mi tokens, tensor and KV cache sizes) leave
// their products well inside a 64-bit usize, and not all of that
// arithmetic is checked: on armv7 (run under qemu-arm) the suite found a
// KV cache size that overflows, and hostile-file errors that differ.
// Refused here rather than built with holes; minke-quant alone builds and
// passes its tests on 32-bit ARM.
#[cfg(not(target_pointer_width = "64"))]
compile_error!(
    "minke supports 64-bit targets only (aarch64, x86_64, ...): \
     32-bit targets such as armv7 are refused (see README, \"ARM\")"
);

pub mod config;
pub mod error;
pub mod file;
pub mod generate;
pub mod kv_cache;
pub mod log;
pub mod lora;
mod mmap;
pub mod model;
pub mod ops;
mod progress;
pub mod quantize;
pub mod sampler;
pub mod score;
pub mod session;
pub mod speculative;
pub mod state;
pub mod tensor;
pub mod threads;
pub mod tokenizer;

pub use config::ModelConfig;
pub use error::{Error, Result, TemplateLimit};
pub use generate::{
    best_of_n, generate, generate_speculative, Candidate, GenerateParams, Generated, StopReason,
};
pub use kv_cache::KvType;
pub use minke_quant as quant;
pub use mmap::Load;
pub use model::Model;
pub use sampler::{Sampler, SamplerParams};
pub use session::{session_bytes, Session, SessionParams};
pub use speculative::{DraftModel, Drafter, PromptLookup};
pub use tokenizer::{ChatMessage, EncodeOptions, Tokenizer};
