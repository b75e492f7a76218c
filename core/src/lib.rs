//! minke: an edge inference runtime for DeepSeek-family language models.
//!
//! Weights are read in place through `mmap` ([`file`]); a shared, read-only
//! [`Model`] is run by one [`Session`] per conversation, which allocates all
//! it needs up front so that `prefill` and `decode` allocate nothing.

pub mod error;
pub mod file;
pub mod tokenizer;

pub use error::{Error, Result};
pub use minke_quant as quant;
