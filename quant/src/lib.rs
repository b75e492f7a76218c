//! minke-quant: the number formats minke reads weights in, and the kernels
//! that multiply them with activations.
//!
//! Block layouts are byte-for-byte those of GGUF (ggml), so a GGUF tensor is
//! used in place. Every kernel has a scalar twin in [`kernels::scalar`]; SIMD
//! sets are chosen once at run time (see [`kernels::dispatch`]).
//!
//! This crate does no I/O and kernels never allocate.

pub mod dtype;
pub mod formats;
pub mod kernels;
pub mod math;

pub use dtype::DType;
pub use formats::{BlockQ4_0, BlockQ4_1, BlockQ8A, BlockQ8_0, QK};
pub use kernels::{Act, Isa, Kernels, KvRows, KvRowsQ8};
