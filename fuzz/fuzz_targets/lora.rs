//! PEFT LoRA adapters: `adapter_config.json` (rank, alpha, rsLoRA, target
//! modules, the options minke refuses) and `adapter_model.safetensors`
//! (tensor names, shapes, ranks, dtypes); an adapter that opens is checked
//! against the `llama_lora` fixture's base model, merged row by row as
//! `minke quantize --lora` does, and attached to a session that decodes
//! one token with it.
//!
//! Input: `adapter_config.json` text, 0xFF, then the
//! `adapter_model.safetensors` bytes. Seeds: `tests/fixtures/llama_lora/`'s
//! two adapters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use minke::lora::LoraAdapter;
use minke::{KvType, Model, Session, SessionParams};
use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

fn base() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| {
        Model::open(minke_fuzz::fixtures().join("llama_lora/base")).expect("the base fixture")
    })
}

fn dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| minke_fuzz::scratch_dir("lora"))
}

thread_local! {
    /// One small session, reused: the adapter is what varies.
    static SESSION: RefCell<Session<'static>> = RefCell::new(
        Session::new(
            base(),
            SessionParams {
                n_ctx: 4,
                n_threads: 1,
                kv_type: KvType::F32,
                n_batch: 2,
                logits_all: false,
                allow_long_context: false,
            },
        )
        .expect("a session of the base fixture"),
    );
}

fuzz_target!(|data: &[u8]| {
    let parts = minke_fuzz::split(data, 2);
    let d = dir();
    minke_fuzz::write(&d.join("adapter_config.json"), parts[0]);
    minke_fuzz::write(
        &d.join("adapter_model.safetensors"),
        parts.get(1).copied().unwrap_or(&[]),
    );
    let Ok(a) = LoraAdapter::open(d) else {
        return;
    };
    let _ = (a.scale, a.r);
    if a.check(base()).is_err() {
        return;
    }
    // Merging: the first row of every adapted weight.
    for name in a.names() {
        let p = a.pair(name).expect("listed");
        let mut row = vec![0f32; p.inp];
        p.add_row(0, 1.0, &mut row);
    }
    SESSION.with(|s| {
        let mut s = s.borrow_mut();
        if s.set_adapter(Some(Arc::new(a)), 0.5).is_ok() {
            s.rewind(0).expect("rewind to 0");
            s.decode(1).expect("one token");
        }
        s.set_adapter(None, 1.0).expect("detach");
    });
});
