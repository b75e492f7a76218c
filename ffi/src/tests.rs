//! Tests of the C API from Rust on a tiny random model that has no
//! tokenizer: what works on token ids alone, what refuses with
//! `MINKE_ERR_TOKENIZER`, memory sizing, and versioned params structs;
//! and a tokenizer opened alone from a vocabulary-only GGUF file.
//! (The C suite in `tests/c/` covers the real model, threads, misuse and
//! sanitizers; `scripts/test-c.sh` runs it.)

use crate::status::minke_status::{self, *};
use crate::*;
use minke::config::ModelConfig;
use minke::file::minke::{write, Planned};
use minke::quant::DType;
use std::ffi::{CStr, CString};
use std::path::PathBuf;
use std::ptr::{null, null_mut};

const CONFIG: &str = r#"{
    "architectures": ["LlamaForCausalLM"],
    "vocab_size": 96, "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2,
    "intermediate_size": 96, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "max_position_embeddings": 256, "tie_word_embeddings": false,
    "bos_token_id": 1, "eos_token_id": 2
}"#;

/// Writes the tiny model (random f32 weights, no tokenizer) to a fresh
/// temporary file; removed on drop.
struct TinyModel(PathBuf);

impl TinyModel {
    fn new(tag: &str) -> TinyModel {
        let c = ModelConfig::from_hf_json(CONFIG).unwrap();
        let (h, q, kv, f, v) = (
            c.hidden_size,
            c.q_dim(),
            c.kv_dim(),
            c.intermediate_size,
            c.vocab_size,
        );
        let mut shapes = vec![("model.embed_tokens.weight".to_string(), vec![v, h])];
        for i in 0..c.n_layers {
            let p = format!("model.layers.{i}");
            for (n, s) in [
                ("input_layernorm.weight", vec![h]),
                ("self_attn.q_proj.weight", vec![q, h]),
                ("self_attn.k_proj.weight", vec![kv, h]),
                ("self_attn.v_proj.weight", vec![kv, h]),
                ("self_attn.o_proj.weight", vec![h, q]),
                ("post_attention_layernorm.weight", vec![h]),
                ("mlp.gate_proj.weight", vec![f, h]),
                ("mlp.up_proj.weight", vec![f, h]),
                ("mlp.down_proj.weight", vec![h, f]),
            ] {
                shapes.push((format!("{p}.{n}"), s));
            }
        }
        shapes.push(("model.norm.weight".to_string(), vec![h]));
        shapes.push(("lm_head.weight".to_string(), vec![v, h]));
        let planned: Vec<Planned> = shapes
            .iter()
            .map(|(n, s)| Planned {
                name: n.clone(),
                dtype: DType::F32,
                shape: s.clone(),
            })
            .collect();
        let path =
            std::env::temp_dir().join(format!("minke-ffi-{tag}-{}.minke", std::process::id()));
        let mut x: u32 = 12345;
        write(
            &path,
            &c,
            None,
            &planned,
            |i, buf| {
                let n: usize = shapes[i].1.iter().product();
                let norm = shapes[i].0.ends_with("norm.weight");
                for _ in 0..n {
                    x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let r = (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                    let w = if norm { 1.0 + 0.1 * r } else { 0.2 * r };
                    buf.extend_from_slice(&w.to_le_bytes());
                }
                Ok(())
            },
            |_, _| {},
        )
        .unwrap();
        TinyModel(path)
    }

    fn open(&self, params: *const minke_model_params) -> (minke_status, *mut minke_model) {
        let path = CString::new(self.0.to_str().unwrap()).unwrap();
        let mut m = null_mut();
        // SAFETY: a valid path string, params NULL or valid, out-pointer valid.
        let st = unsafe { model::minke_model_open(path.as_ptr(), params, &mut m) };
        (st, m)
    }
}

impl Drop for TinyModel {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn last_error() -> String {
    // SAFETY: minke_last_error returns a NUL-terminated string.
    unsafe { CStr::from_ptr(boundary::minke_last_error()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn runs_on_ids_without_a_tokenizer() {
    let tiny = TinyModel::new("ids");
    let (st, m) = tiny.open(null());
    assert_eq!(st, MINKE_OK, "{}", last_error());
    // SAFETY: every pointer below is live or NULL as each function allows.
    unsafe {
        assert_eq!(model::minke_model_n_vocab(m), 96);
        assert_eq!(model::minke_model_n_ctx_train(m), 256);
        let arch = CStr::from_ptr(model::minke_model_arch(m));
        assert_eq!(arch.to_str().unwrap(), "LlamaForCausalLM");
        let mut tok = null();
        assert_eq!(
            model::minke_model_tokenizer(m, &mut tok),
            MINKE_ERR_TOKENIZER
        );
        assert!(tok.is_null());
        assert!(last_error().contains("no tokenizer"), "{}", last_error());

        let mut s = null_mut();
        assert_eq!(session::minke_session_new(m, null(), &mut s), MINKE_OK);
        let mut logits = null();
        let ids = [1u32, 5, 7];
        assert_eq!(
            session::minke_session_prefill(s, ids.as_ptr(), 3, &mut logits),
            MINKE_OK
        );
        assert!(!logits.is_null());
        assert_eq!(session::minke_session_decode(s, 9, &mut logits), MINKE_OK);
        assert_eq!(session::minke_session_pos(s), 4);
        assert_eq!(
            session::minke_session_decode(s, 96, null_mut()),
            MINKE_ERR_TOKEN_OUT_OF_RANGE
        );

        let mut smp = null_mut();
        assert_eq!(sampler::minke_sampler_new(m, null(), &mut smp), MINKE_OK);
        // Text generation needs a tokenizer.
        let st = generate::minke_generate(
            s,
            smp,
            ids.as_ptr(),
            3,
            null(),
            None,
            null_mut(),
            null_mut(),
        );
        assert_eq!(st, MINKE_ERR_TOKENIZER);
        sampler::minke_sampler_free(smp);
        session::minke_session_free(s);
        model::minke_model_free(m);
    }
}

/// DeepSeek-Coder's vocabulary-only GGUF (tokenizer metadata, no tensors).
fn coder_vocab() -> CString {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/tokenizer/deepseek_coder/ggml-vocab-deepseek-coder.gguf"
    );
    CString::new(p).unwrap()
}

#[test]
fn a_tokenizer_opens_alone_from_a_vocabulary_file() {
    let path = coder_vocab();
    // SAFETY: every pointer below is live or NULL as each function allows.
    unsafe {
        let mut tok = null_mut();
        let st = tokenizer::minke_tokenizer_open(path.as_ptr(), &mut tok);
        assert_eq!(st, MINKE_OK, "{}", last_error());
        assert_eq!(tokenizer::minke_tokenizer_n_vocab(tok), 32_256);
        assert_eq!(tokenizer::minke_tokenizer_bos(tok), 32_013);
        assert_eq!(tokenizer::minke_tokenizer_eos(tok), 32_014);
        assert!(tokenizer::minke_tokenizer_is_eog(tok, 32_014));
        assert!(tokenizer::minke_tokenizer_is_special(tok, 32_013));
        let text = CString::new("Hello world").unwrap();
        let mut ids = [0u32; 8];
        let mut n = 0;
        let st = tokenizer::minke_tokenizer_encode(
            tok,
            text.as_ptr(),
            true,
            ids.as_mut_ptr(),
            8,
            &mut n,
        );
        assert_eq!(st, MINKE_OK);
        assert_eq!(ids[..n], [32_013, 17_535, 1_835]);
        let mut buf = [0 as std::ffi::c_char; 32];
        let mut len = 0;
        let st = tokenizer::minke_tokenizer_decode(
            tok,
            ids[1..].as_ptr(),
            2,
            buf.as_mut_ptr(),
            32,
            &mut len,
        );
        assert_eq!(st, MINKE_OK);
        assert_eq!(
            CStr::from_ptr(buf.as_ptr()).to_str().unwrap(),
            "Hello world"
        );
        assert!(!chat::minke_tokenizer_has_chat_template(tok));
        let st = chat::minke_tokenizer_apply_chat_template(
            tok,
            null(),
            0,
            true,
            null_mut(),
            0,
            &mut len,
        );
        assert_eq!(st, MINKE_ERR_TOKENIZER);
        tokenizer::minke_tokenizer_free(tok);
        tokenizer::minke_tokenizer_free(null_mut());

        // The same file is no model.
        let mut m = null_mut();
        let st = model::minke_model_open(path.as_ptr(), null(), &mut m);
        assert_eq!(st, MINKE_ERR_UNSUPPORTED);
        assert!(m.is_null());
        let e = last_error();
        assert!(
            e.contains("holds a tokenizer only (no tensors): it can tokenize but not run"),
            "{e}"
        );
    }
}

#[test]
fn opening_a_tokenizer_refuses_clearly() {
    let tiny = TinyModel::new("tok-open");
    let tiny_path = CString::new(tiny.0.to_str().unwrap()).unwrap();
    let missing = CString::new("/nonexistent/vocab.gguf").unwrap();
    // SAFETY: every pointer below is live or NULL as each function allows.
    unsafe {
        let mut tok = std::ptr::dangling_mut();
        let st = tokenizer::minke_tokenizer_open(tiny_path.as_ptr(), &mut tok);
        assert_eq!(st, MINKE_ERR_TOKENIZER);
        assert!(tok.is_null());
        assert!(
            last_error().contains("has no tokenizer"),
            "{}",
            last_error()
        );
        let st = tokenizer::minke_tokenizer_open(missing.as_ptr(), &mut tok);
        assert_eq!(st, MINKE_ERR_IO);
        assert!(tok.is_null());
        assert_eq!(
            tokenizer::minke_tokenizer_open(null(), &mut tok),
            MINKE_ERR_NULL_ARG
        );
        assert_eq!(
            tokenizer::minke_tokenizer_open(missing.as_ptr(), null_mut()),
            MINKE_ERR_NULL_ARG
        );
    }
}

#[test]
fn validate_requires_a_tokenizer() {
    let tiny = TinyModel::new("validate");
    let p = minke_model_params {
        validate: true,
        ..Default::default()
    };
    let (st, m) = tiny.open(&p);
    assert_eq!(st, MINKE_ERR_TOKENIZER);
    assert!(m.is_null());
}

#[test]
fn max_ctx_is_capped_and_monotonic() {
    let tiny = TinyModel::new("ctx");
    let (st, m) = tiny.open(null());
    assert_eq!(st, MINKE_OK);
    let mut sp = minke_session_params::default();
    // SAFETY: live model, valid params and out-pointers.
    unsafe {
        let mut n = 0u32;
        assert_eq!(
            session::minke_session_max_ctx(m, &sp, u64::MAX, &mut n),
            MINKE_OK
        );
        assert_eq!(n, 256);
        sp.n_ctx = 100;
        let mut b100 = 0u64;
        assert_eq!(session::minke_session_bytes(m, &sp, &mut b100), MINKE_OK);
        assert_eq!(
            session::minke_session_max_ctx(m, &sp, b100, &mut n),
            MINKE_OK
        );
        assert!((100..110).contains(&n), "{n}");
        sp.n_ctx = n + 1;
        let mut more = 0u64;
        assert_eq!(session::minke_session_bytes(m, &sp, &mut more), MINKE_OK);
        assert!(more > b100);
        model::minke_model_free(m);
    }
}

#[test]
fn params_structs_are_versioned_by_size() {
    // A caller compiled against a newer, larger struct: its extra tail is
    // ignored, the fields we know are read.
    #[repr(C)]
    struct Newer {
        p: minke_sampler_params,
        future: u64,
    }
    let mut n = Newer {
        p: minke_sampler_params::default(),
        future: u64::MAX,
    };
    // SAFETY: `n` is writable for its whole size.
    let st = unsafe {
        sampler::minke_sampler_default_params(
            (&mut n as *mut Newer).cast(),
            std::mem::size_of::<Newer>() as u32,
        )
    };
    assert_eq!(st, MINKE_OK);
    assert_eq!(n.p.size as usize, std::mem::size_of::<Newer>());
    assert_eq!(n.future, u64::MAX, "bytes past our struct are left alone");
    n.p.seed = 7;
    // SAFETY: `n` is readable for `n.p.size` bytes.
    let read =
        unsafe { boundary::read_params((&n as *const Newer).cast::<minke_sampler_params>()) };
    assert_eq!(read.unwrap().seed, 7);

    // Smaller than version 1: refused, nothing written.
    let mut p = minke_session_params {
        n_ctx: 99,
        ..Default::default()
    };
    // SAFETY: `p` is writable.
    let st = unsafe { session::minke_session_default_params(&mut p, 8) };
    assert_eq!(st, MINKE_ERR_INVALID_ARG);
    assert_eq!(p.n_ctx, 99);
}

/// The speculative fields of `minke_generate_params` and
/// `minke_generate_result` sit where the previous versions had tail
/// padding: a caller of those sizes has neither its padding read as
/// `n_draft` nor its result written past `n_discarded`.
#[test]
fn speculative_fields_leave_older_structs_alone() {
    use boundary::Params;
    use std::mem::{offset_of, size_of};
    let (p_old, r_old) = if cfg!(target_pointer_width = "64") {
        (64u32, 40u32)
    } else {
        (
            offset_of!(minke_generate_params, n_draft) as u32,
            offset_of!(minke_generate_result, n_drafted).next_multiple_of(8) as u32,
        )
    };
    assert_eq!(
        minke_generate_params::version_size(p_old).unwrap(),
        offset_of!(minke_generate_params, n_draft)
    );
    assert_eq!(
        minke_generate_params::version_size(size_of::<minke_generate_params>() as u32).unwrap(),
        size_of::<minke_generate_params>()
    );
    // An old caller's params, every byte 0xFF but the ones it set.
    let mut bytes = [0xFFu8; size_of::<minke_generate_params>()];
    bytes[..4].copy_from_slice(&p_old.to_ne_bytes());
    // SAFETY: `bytes` is readable for its whole length, more than `p_old`.
    let p = unsafe { boundary::read_params(bytes.as_ptr().cast::<minke_generate_params>()) };
    let p = p.unwrap();
    assert_eq!((p.n_draft, p.draft), (0, null_mut()));

    let mut r = [0xABu8; size_of::<minke_generate_result>()];
    // SAFETY: `r` is writable for its whole length, more than `r_old`.
    let st = unsafe { generate::minke_generate_default_result(r.as_mut_ptr().cast(), r_old) };
    assert_eq!(st, MINKE_OK);
    let from = offset_of!(minke_generate_result, n_drafted);
    assert!(r[from..].iter().all(|&b| b == 0xAB), "{r:?}");
    assert_eq!(r[..4], r_old.to_ne_bytes());
}

/// What the C documentation promises about threads holds for the Rust
/// types behind the handles: sessions and samplers may move between
/// threads; models and tokenizers may be shared.
#[test]
fn handles_meet_the_thread_rules() {
    fn send<T: Send>() {}
    fn share<T: Send + Sync>() {}
    send::<minke_session>();
    send::<minke_sampler>();
    share::<minke_model>();
    share::<minke_tokenizer>();
    share::<minke_lora>();
    share::<minke_candidates>();
}

/// Scores, reward and best-of-N on the tiny model: what works on ids,
/// what a language model without a tokenizer refuses.
#[test]
fn scores_on_ids_and_refusals() {
    let tiny = TinyModel::new("score");
    let (st, m) = tiny.open(null());
    assert_eq!(st, MINKE_OK, "{}", last_error());
    let sp = minke_session_params {
        logits_all: true,
        n_batch: 2,
        ..Default::default()
    };
    // SAFETY: every pointer below is live or NULL as each function allows.
    unsafe {
        assert_eq!(model::minke_model_n_labels(m), 0);
        let mut s = null_mut();
        assert_eq!(session::minke_session_new(m, &sp, &mut s), MINKE_OK);
        let (prompt, cont) = ([1u32, 5, 7], [9u32, 11, 13, 2]);
        let mut lp = [0f64; 4];
        let mut total = 0f64;
        let st = score::minke_session_score(
            s,
            prompt.as_ptr(),
            3,
            cont.as_ptr(),
            4,
            lp.as_mut_ptr(),
            &mut total,
        );
        assert_eq!(st, MINKE_OK, "{}", last_error());
        assert!(total < 0.0 && (total - lp.iter().sum::<f64>()).abs() < 1e-12);
        assert_eq!(session::minke_session_pos(s), 6);

        let mut n = 7usize;
        let mut r = [0f32; 2];
        let st = score::minke_session_reward(s, prompt.as_ptr(), 3, r.as_mut_ptr(), 2, &mut n);
        assert_eq!((st, n), (MINKE_ERR_INVALID_ARG, 0));
        assert!(
            last_error().contains("not a reward model"),
            "{}",
            last_error()
        );

        let mut c = null_mut();
        let st = best_of_n::minke_best_of_n(
            s,
            null(),
            null(),
            prompt.as_ptr(),
            3,
            2,
            None,
            null_mut(),
            &mut c,
        );
        assert_eq!(st, MINKE_ERR_TOKENIZER);
        assert!(c.is_null());
        assert_eq!(best_of_n::minke_candidates_count(c), 0);

        let mut l = null_mut();
        let bad = CString::new("/nonexistent/adapter").unwrap();
        assert_eq!(lora::minke_lora_open(bad.as_ptr(), &mut l), MINKE_ERR_IO);
        assert!(l.is_null());
        assert_eq!(lora::minke_session_set_adapter(s, null(), 1.0), MINKE_OK);
        session::minke_session_free(s);
        model::minke_model_free(m);
    }
}

/// Every entry point gets its name for messages from `fn_name!()`, never
/// from a string typed by hand (a copy-paste once made
/// `minke_session_decode` report itself as `minke_session_prefill`). Read
/// from the sources: each `extern "C" fn` body must use `fn_name!()`,
/// except the few that cannot fail and record nothing.
#[test]
fn entry_points_name_themselves() {
    const INFALLIBLE: [&str; 4] = [
        "minke_last_error",
        "minke_status_name",
        "minke_version",
        "minke_abi_version",
    ];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "tests.rs" {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        let mut rest = src.as_str();
        while let Some(at) = rest.find("extern \"C\" fn minke_") {
            let item = &rest[at + "extern \"C\" fn ".len()..];
            let name = &item[..item.find('(').unwrap()];
            // The body runs to the first line that closes an item.
            let body = &item[..item.find("\n}\n").unwrap()];
            assert!(
                body.contains("fn_name!()") || INFALLIBLE.contains(&name),
                "{name} in {} does not pass fn_name!() to the boundary",
                path.display()
            );
            seen += 1;
            rest = &item[body.len()..];
        }
        for typed in ["ffi_boundary(\"", "ffi_getter(\"", "free_handle(\""] {
            assert!(
                path.ends_with("boundary.rs") || !src.contains(typed),
                "{} names an entry point by hand: {typed}",
                path.display()
            );
        }
    }
    assert!(seen > 60, "found only {seen} entry points");
}
