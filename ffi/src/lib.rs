//! The C ABI of minke: `libminke` and `include/minke.h`.
//!
//! For now it exports the version; the model and session handles follow.

/// Version of the library as a NUL-terminated string, e.g. `"0.1.0"`.
/// The pointer is static: never free it. Thread-safe.
#[no_mangle]
pub extern "C" fn minke_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
