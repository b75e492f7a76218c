//! aarch64 kernel sets: NEON (part of every aarch64 CPU), with a `dotprod`
//! (`sdot`) inner path when the CPU has it.
//!
//! The tables are private to the crate: [`super::dispatch`] hands the
//! dotprod one out only after detecting the feature.

pub(super) mod neon;
mod rows;
