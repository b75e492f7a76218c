//! Where the real model is, for the tests that need it: included by
//! `core/tests/real_model.rs`, `core/tests/gguf.rs` and the CLI's
//! `cli/tests/cli.rs`, so that every such test skips (or fails) the same
//! way.

use std::io::Write;
use std::path::PathBuf;

/// `MINKE_MODEL`, else SmolLM2-135M-Instruct Q4_1 in the cache that
/// `scripts/fetch-model.sh` fills.
///
/// When the file is missing: with `MINKE_REQUIRE_MODEL=1` (as
/// `scripts/test.sh` sets it) the test fails; otherwise it says
/// `SKIPPED: ...` on the terminal and returns `None`, and the caller
/// returns, passing. The line goes straight to stderr: the test harness
/// captures `eprintln!` of a passing test, and a skip nobody sees is a
/// pass that tested nothing.
#[track_caller]
pub fn model_path() -> Option<PathBuf> {
    let p = match std::env::var_os("MINKE_MODEL") {
        Some(p) => PathBuf::from(p),
        None => {
            let cache = std::env::var_os("MINKE_CACHE")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/minke")))
                .unwrap_or_default();
            cache.join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
        }
    };
    if p.is_file() {
        return Some(p);
    }
    assert!(
        std::env::var("MINKE_REQUIRE_MODEL").as_deref() != Ok("1"),
        "MINKE_REQUIRE_MODEL=1 but the real model {} is missing (run scripts/fetch-model.sh)",
        p.display()
    );
    skipped(&format!(
        "the real model {} is missing; set MINKE_MODEL or run scripts/fetch-model.sh \
         (MINKE_REQUIRE_MODEL=1 makes this a failure)",
        p.display()
    ));
    None
}

/// Says on the terminal, past the harness's capture, that the calling
/// test was skipped and why.
#[track_caller]
pub fn skipped(why: &str) {
    let thread = std::thread::current();
    let test = match thread.name() {
        Some(name) if name != "main" => name.to_string(),
        _ => std::panic::Location::caller().to_string(),
    };
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
}
