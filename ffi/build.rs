//! Gives the shared library its ELF soname, `libminke.so.<ABI version>`,
//! so that programs linked against one ABI refuse a library of another.
//! (The number is `MINKE_ABI_VERSION` in `src/version.rs`; a test in
//! `scripts/test-c.sh` checks that the two agree.)

const ABI_VERSION: u32 = 1;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // Not on Android: an app's libraries travel in its APK as lib*.so and
    // the loader finds a dependency only under that name, so a versioned
    // soname there would make every library linked to libminke fail to
    // load (the NDK's rule: no versioned shared libraries).
    if matches!(
        os.as_str(),
        "linux" | "freebsd" | "netbsd" | "openbsd" | "dragonfly"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libminke.so.{ABI_VERSION}");
    }
}
