//! Versions: the library's (`MINKE_VERSION_*`, `minke_version()`) and the
//! ABI's (`MINKE_ABI_VERSION`, also the `.so` name's number).
//!
//! cbindgen copies only literal constants into the header, so the numbers
//! are written out here; a compile-time check ties them to `Cargo.toml`.

use std::ffi::c_char;

/// Major version of the library these declarations belong to.
pub const MINKE_VERSION_MAJOR: u32 = 0;
/// Minor version of the library these declarations belong to.
pub const MINKE_VERSION_MINOR: u32 = 1;
/// Patch version of the library these declarations belong to.
pub const MINKE_VERSION_PATCH: u32 = 0;
/// Version of the binary interface. It changes when a function, type or
/// constant is removed or changes meaning; adding functions, status codes
/// or fields at the end of params structs keeps it. The shared library is
/// named `libminke.so.<MINKE_ABI_VERSION>`.
pub const MINKE_ABI_VERSION: u32 = 1;

/// Parses a decimal `u32` at compile time.
const fn parse_u32(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v: u32 = 0;
    while i < b.len() {
        assert!(b[i].is_ascii_digit(), "not a decimal number");
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}

// The header's numbers must be Cargo.toml's: the build fails otherwise.
const _: () = assert!(parse_u32(env!("CARGO_PKG_VERSION_MAJOR")) == MINKE_VERSION_MAJOR);
const _: () = assert!(parse_u32(env!("CARGO_PKG_VERSION_MINOR")) == MINKE_VERSION_MINOR);
const _: () = assert!(parse_u32(env!("CARGO_PKG_VERSION_PATCH")) == MINKE_VERSION_PATCH);

/// ------------------------------------------------------------------
/// Version: the library's and the ABI's, to compare with the header's.
/// ------------------------------------------------------------------
///
/// The library's version as a NUL-terminated string, e.g. `"0.1.0"`: the
/// version of the library actually loaded, which may differ from the
/// header's `MINKE_VERSION_*` when linking dynamically. The string is
/// static: never free it. Thread-safe.
#[no_mangle]
pub extern "C" fn minke_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// `MINKE_ABI_VERSION` of the library actually loaded: compare it with the
/// header's to detect a mismatched shared library. Thread-safe.
#[no_mangle]
pub extern "C" fn minke_abi_version() -> u32 {
    MINKE_ABI_VERSION
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    /// The constants against the package version in `Cargo.toml`, read
    /// from the file itself (not only through cargo's environment).
    #[test]
    fn version_matches_cargo_toml() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
        let toml = std::fs::read_to_string(root).unwrap();
        let line = toml
            .lines()
            .skip_while(|l| l.trim() != "[workspace.package]")
            .find(|l| l.trim_start().starts_with("version"))
            .expect("workspace.package.version");
        let v = line.split('"').nth(1).unwrap();
        let want = format!("{MINKE_VERSION_MAJOR}.{MINKE_VERSION_MINOR}.{MINKE_VERSION_PATCH}");
        assert_eq!(v, want);
        // SAFETY: minke_version returns a static NUL-terminated string.
        let got = unsafe { CStr::from_ptr(minke_version()) };
        assert_eq!(got.to_str().unwrap(), want);
        assert_eq!(minke_abi_version(), MINKE_ABI_VERSION);
    }

    /// `build.rs` names the shared library after the ABI version: it must
    /// be this one.
    #[test]
    fn soname_uses_the_abi_version() {
        let build = include_str!("../build.rs");
        assert!(
            build.contains(&format!("const ABI_VERSION: u32 = {MINKE_ABI_VERSION};")),
            "ffi/build.rs and MINKE_ABI_VERSION disagree"
        );
    }
}
