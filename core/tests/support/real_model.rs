//! Where the real model is, for the tests that need it: included by
//! `core/tests/real_model.rs` and by the CLI's `cli/tests/cli.rs`.

use std::path::PathBuf;

/// `MINKE_MODEL`, else SmolLM2-135M-Instruct Q4_1 in the cache that
/// `scripts/fetch-model.sh` fills. `None` (the test says so and passes)
/// when the file is missing, unless `MINKE_REQUIRE_MODEL=1`, which makes
/// that a failure.
pub fn model_path() -> Option<PathBuf> {
    let p = match std::env::var_os("MINKE_MODEL") {
        Some(p) => PathBuf::from(p),
        None => {
            let cache = std::env::var_os("MINKE_CACHE")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/minke"))
                })?;
            cache.join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
        }
    };
    if p.is_file() {
        return Some(p);
    }
    assert!(
        std::env::var("MINKE_REQUIRE_MODEL").as_deref() != Ok("1"),
        "MINKE_REQUIRE_MODEL=1 but {} is missing (run scripts/fetch-model.sh)",
        p.display()
    );
    eprintln!(
        "skipping: {} is missing (run scripts/fetch-model.sh)",
        p.display()
    );
    None
}
