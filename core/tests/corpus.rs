//! The fuzzers' GGUF corpus and seeds (`fuzz/seeds/gguf`, `fuzz/corpus/gguf`:
//! tiny models and vocabularies, and what coverage-guided mutation grew
//! from them) opened as models, mapped and read in: each file gives a
//! named error or opens and runs a few tokens. The fuzz target does the
//! same under libFuzzer; this keeps it in every plain `cargo test`, and the
//! C suite's `test_corpus` does it again through the C ABI under ASan.

mod common;

use common::params;
use minke::{Load, Model, Session, SessionParams};
use std::path::{Path, PathBuf};

fn files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the committed fuzz corpus)", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn every_gguf_of_the_fuzz_corpus_errs_by_name_or_runs() {
    let mut all = files("fuzz/seeds/gguf");
    let seeds = all.len();
    all.extend(files("fuzz/corpus/gguf"));
    assert!(seeds >= 4 && all.len() > seeds, "{} files", all.len());
    let (mut ran, mut refused) = (0, 0);
    for path in &all {
        for load in [Load::Map, Load::Read] {
            let model = match Model::open_with(path, load) {
                Ok(m) => m,
                Err(e) => {
                    // Every variant names what is wrong; none is a panic
                    // turned into an error.
                    assert!(!e.to_string().is_empty(), "{}", path.display());
                    refused += 1;
                    continue;
                }
            };
            let p = SessionParams {
                n_ctx: 16,
                ..params(2, 4)
            };
            if let Ok(mut s) = Session::new(&model, p) {
                if s.prefill(&[0, 0]).is_ok() {
                    let _ = s.decode(0);
                }
            }
            ran += 1;
        }
    }
    eprintln!(
        "{} files (two loads each): {ran} opened and ran, {refused} refused by name",
        all.len()
    );
    assert!(ran > 0 && refused > 0);
}
