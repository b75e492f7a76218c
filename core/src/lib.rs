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
pub mod state;
pub mod tensor;
pub mod threads;
pub mod tokenizer;

pub use config::ModelConfig;
pub use error::{Error, Result, TemplateLimit};
pub use generate::{best_of_n, generate, Candidate, GenerateParams, Generated, StopReason};
pub use kv_cache::KvType;
pub use minke_quant as quant;
pub use mmap::Load;
pub use model::Model;
pub use sampler::{Sampler, SamplerParams};
pub use session::{session_bytes, Session, SessionParams};
pub use tokenizer::{ChatMessage, EncodeOptions, Tokenizer};
