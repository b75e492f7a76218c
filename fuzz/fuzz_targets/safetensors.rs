//! safetensors, as a `.minke` file and as a Hugging Face checkpoint: the
//! header (JSON, offsets, dtypes), `.minke` metadata (version, config,
//! packed-tensor table, tokenizer) and the binding of the tensors to the
//! architecture; a tokenizer that builds encodes and decodes a few texts.
//!
//! Input, one of:
//! - the bytes of a `.minke` (safetensors) file, opened as such;
//! - `config.json` text, 0xFF, then a `model.safetensors`: opened as a
//!   checkpoint folder (an input starting with `{` is taken for this).
//!
//! Seeds: tiny `.minke` models of every architecture and packed format,
//! and the parity fixtures' `config.json` + `model.safetensors`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use minke::{Load, Model};
use std::path::PathBuf;
use std::sync::OnceLock;

fn dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| minke_fuzz::scratch_dir("safetensors"))
}

fuzz_target!(|data: &[u8]| {
    let d = dir();
    let path = if data.first() == Some(&b'{') {
        let parts = minke_fuzz::split(data, 2);
        let ck = d.join("ck");
        std::fs::create_dir_all(&ck).expect("checkpoint folder");
        minke_fuzz::write(&ck.join("config.json"), parts[0]);
        minke_fuzz::write(
            &ck.join("model.safetensors"),
            parts.get(1).copied().unwrap_or(&[]),
        );
        ck
    } else {
        let p = d.join("m.minke");
        minke_fuzz::write(&p, data);
        p
    };
    let Ok(m) = Model::open_with(&path, Load::Map) else {
        return;
    };
    let _ = (m.weight_bytes(), m.weight_bytes_per_token());
    for name in m.tensors().names() {
        let t = m.tensors().get(name).expect("listed");
        let _ = (t.numel(), t.rows_cols(), t.row_bytes());
    }
    if let Ok(t) = m.tokenizer() {
        minke_fuzz::exercise_tokenizer(t, &[]);
    }
});
