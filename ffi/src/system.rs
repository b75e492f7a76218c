//! What this machine runs: the kernel set chosen for its CPU.

use crate::boundary::{ffi_getter, fn_name};
use minke::quant::Kernels;
use std::ffi::{c_char, CString};
use std::sync::OnceLock;

/// ------------------------------------------------------------------
/// System: what minke runs on this machine.
/// ------------------------------------------------------------------
///
/// The name of the kernel set that runs the models' arithmetic on this
/// CPU, e.g. `"avx512-vnni"`, `"avx2"`, `"neon-dotprod"` or `"scalar"`:
/// the best the CPU supports, or the one the `MINKE_ISA` environment
/// variable names. `""` if none can run (`MINKE_ISA` names a set this CPU
/// lacks; `minke_session_new()` then fails with the reason). Chosen once
/// per process. The string is static: never free it. Thread-safe.
#[no_mangle]
pub extern "C" fn minke_kernels_name() -> *const c_char {
    static NAME: OnceLock<CString> = OnceLock::new();
    ffi_getter(fn_name!(), c"".as_ptr(), || {
        NAME.get_or_init(|| {
            let name = Kernels::get().map_or("", |k| k.name);
            CString::new(name).unwrap_or_default()
        })
        .as_ptr()
    })
}
