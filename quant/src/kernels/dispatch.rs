//! Run-time choice of the kernel set: decided once per process from CPU
//! features, or forced by `MINKE_ISA=scalar|avx2|avx512|neon`.

use super::{scalar, Kernels};
use std::fmt;
use std::sync::OnceLock;

/// An instruction set with a kernel table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    Scalar,
    Avx2,
    Avx512,
    Neon,
}

impl Isa {
    /// Every set, best last.
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Neon, Isa::Avx2, Isa::Avx512];

    /// Lower-case name, as `MINKE_ISA` spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// Parses a name as `MINKE_ISA` spells it.
    pub fn parse(s: &str) -> Option<Isa> {
        Isa::ALL
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether this CPU (and this build) can run the set.
    pub fn available(self) -> bool {
        table(self).is_some()
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a kernel set could not be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IsaError {
    /// `MINKE_ISA` names no known set.
    Unknown(String),
    /// The set exists but this CPU or build cannot run it.
    Unavailable(Isa),
}

impl fmt::Display for IsaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IsaError::Unknown(s) => write!(
                f,
                "MINKE_ISA={s:?} is not a kernel set (expected scalar, avx2, avx512 or neon)"
            ),
            IsaError::Unavailable(i) => {
                write!(f, "kernel set {i} is not available on this CPU or build")
            }
        }
    }
}

impl std::error::Error for IsaError {}

/// The table for `isa` when this build has it and this CPU can run it: the
/// best variant of it (VNNI, dotprod) the CPU supports. Detection is cheap
/// after the first call (std caches the CPU features).
fn table(isa: Isa) -> Option<&'static Kernels> {
    match isa {
        Isa::Scalar => Some(&scalar::KERNELS),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            use super::x86_64::avx2;
            avx2::detected().then_some(&avx2::KERNELS)
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            use super::x86_64::avx512;
            if avx512::detected_vnni() {
                Some(&avx512::KERNELS_VNNI)
            } else {
                avx512::detected().then_some(&avx512::KERNELS)
            }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => {
            use super::aarch64::neon;
            if neon::detected_dotprod() {
                Some(&neon::KERNELS_DOTPROD)
            } else {
                neon::detected().then_some(&neon::KERNELS)
            }
        }
        _ => None,
    }
}

/// Every table of `isa` this CPU can run, best last (the last is
/// `table(isa)`).
fn variants(isa: Isa) -> Vec<&'static Kernels> {
    let mut v: Vec<&'static Kernels> = Vec::new();
    match isa {
        Isa::Scalar => v.push(&scalar::KERNELS),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => {
            use super::x86_64::avx2;
            if avx2::detected() {
                v.push(&avx2::KERNELS);
            }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => {
            use super::x86_64::avx512;
            if avx512::detected() {
                v.push(&avx512::KERNELS);
            }
            if avx512::detected_vnni() {
                v.push(&avx512::KERNELS_VNNI);
            }
        }
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => {
            use super::aarch64::neon;
            if neon::detected() {
                v.push(&neon::KERNELS);
            }
            if neon::detected_dotprod() {
                v.push(&neon::KERNELS_DOTPROD);
            }
        }
        _ => {}
    }
    v
}

pub(super) fn available() -> Vec<&'static Kernels> {
    Isa::ALL.into_iter().flat_map(variants).collect()
}

pub(super) fn for_isa(isa: Isa) -> Result<&'static Kernels, IsaError> {
    table(isa).ok_or(IsaError::Unavailable(isa))
}

/// The best available set; under Miri always scalar.
pub fn best() -> &'static Kernels {
    if cfg!(miri) {
        return &scalar::KERNELS;
    }
    Isa::ALL
        .into_iter()
        .rev()
        .find_map(table)
        .unwrap_or(&scalar::KERNELS)
}

pub(super) fn selected() -> Result<&'static Kernels, IsaError> {
    static SELECTED: OnceLock<Result<&'static Kernels, IsaError>> = OnceLock::new();
    SELECTED
        .get_or_init(|| match std::env::var("MINKE_ISA") {
            Ok(s) if !s.trim().is_empty() => {
                let isa = Isa::parse(&s).ok_or_else(|| IsaError::Unknown(s.clone()))?;
                for_isa(isa)
            }
            _ => Ok(best()),
        })
        .clone()
}
