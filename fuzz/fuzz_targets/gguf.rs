//! GGUF: the header and metadata reader, then — for what parses — the
//! file as a model (config from metadata, tensor names and shapes bound to
//! an architecture) and as a tokenizer (vocabulary, merges, pre-tokenizer),
//! which then encodes and decodes a few texts.
//!
//! Input: the bytes of a GGUF file. Seeds: `tests/fixtures/gguf/`, tiny
//! `llama`, `qwen2` and `deepseek2` models and trimmed `ggml-vocab-*.gguf`
//! vocabularies (`scripts/fuzz.sh seeds`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use minke::file::gguf::GgufFile;
use minke::{Load, Model, Tokenizer};
use std::path::PathBuf;
use std::sync::OnceLock;

fn path() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| minke_fuzz::scratch_dir("gguf").join("m.gguf"))
}

/// Everything a parsed file offers, so that a bad value reached after
/// parsing shows here.
fn exercise(f: &GgufFile<'_>) {
    for (k, v) in f.metadata() {
        let _ = v.to_string();
        let _ = (f.get_u32(k), f.get_i64(k), f.get_f32(k), f.get_bool(k));
        let _ = (f.get_str(k), f.get_str_array(k), f.get_i32_array(k));
        let _ = (f.get_u32_array(k), f.get_f32_array(k), f.get_usize(k));
    }
    let _ = f.architecture();
    for t in f.tensor_infos() {
        let _ = t.n_elements();
        if let Ok(view) = f.tensor(t.name) {
            assert_eq!(view.data.len(), t.data.len());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(f) = GgufFile::parse("fuzz.gguf", data) else {
        return;
    };
    exercise(&f);
    // Model and tokenizer loading open paths (weights are mapped).
    let p = path();
    minke_fuzz::write(p, data);
    if let Ok(m) = Model::open_with(p, Load::Map) {
        let _ = (m.weight_bytes(), m.weight_bytes_per_token());
        if let Ok(t) = m.tokenizer() {
            minke_fuzz::exercise_tokenizer(t, &[]);
        }
    } else if let Ok(t) = Tokenizer::open(p) {
        minke_fuzz::exercise_tokenizer(&t, &[]);
    }
});
