//! What a caller or a file can make minke allocate or compute is bounded:
//! sizes past the limits are named errors, never an abort, and "at most"
//! arguments (`max_tokens`) are never reservations.

mod common;

use common::*;
use minke::{Error, Model, Sampler, SamplerParams, Session, SessionParams};
use std::path::{Path, PathBuf};

fn tiny(dir: &TempDir) -> Model {
    let path = dir.path("m.minke");
    write_random(&path, &tiny_config(), 11);
    Model::open(&path).unwrap()
}

fn smollm2_tokenizer() -> minke::Tokenizer {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tokenizer/smollm2");
    minke::Tokenizer::open(dir.join("tokenizer.json")).unwrap()
}

#[test]
fn a_context_beyond_training_is_clamped_unless_allowed() {
    let dir = TempDir::new("limits-ctx");
    let model = tiny(&dir);
    let trained = model.config.max_position_embeddings;
    let p = SessionParams {
        n_ctx: trained + 1,
        ..params(1, 4)
    };
    let s = Session::new(&model, p.clone()).unwrap();
    assert_eq!(s.params().n_ctx, trained);
    // A C caller's "as long as possible".
    let s = Session::new(
        &model,
        SessionParams {
            n_ctx: u32::MAX as usize,
            ..p.clone()
        },
    )
    .unwrap();
    assert_eq!(s.params().n_ctx, trained);
    assert_eq!(
        minke::session_bytes(&model, &p),
        minke::session_bytes(&model, s.params())
    );
    let s = Session::new(
        &model,
        SessionParams {
            allow_long_context: true,
            ..p
        },
    )
    .unwrap();
    assert_eq!(s.params().n_ctx, trained + 1);
    // Not even when allowed: past MAX_CTX.
    for n_ctx in [minke::session::MAX_CTX + 1, u32::MAX as usize, usize::MAX] {
        let e = Session::new(
            &model,
            SessionParams {
                n_ctx,
                allow_long_context: true,
                ..params(1, 4)
            },
        )
        .err()
        .unwrap();
        assert!(matches!(e, Error::InvalidArgument(_)), "n_ctx {n_ctx}: {e}");
    }
}

#[test]
fn a_batch_larger_than_the_context_is_clamped() {
    let dir = TempDir::new("limits-batch");
    let model = tiny(&dir);
    for n_batch in [65, 1 << 20, u32::MAX as usize, usize::MAX] {
        let s = Session::new(
            &model,
            SessionParams {
                n_ctx: 64,
                n_batch,
                ..params(1, 4)
            },
        )
        .unwrap();
        assert_eq!(s.params().n_batch, 64);
    }
    let small = minke::session_bytes(&model, &params(1, 64));
    let huge = SessionParams {
        n_batch: usize::MAX,
        ..params(1, 64)
    };
    assert_eq!(minke::session_bytes(&model, &huge), small);
}

/// A session larger than the machine's memory is an error before anything
/// is allocated. 200 layers at the longest context are 800 GiB of KV
/// cache.
#[test]
fn a_session_larger_than_memory_is_an_error() {
    let dir = TempDir::new("limits-memory");
    let c = minke::config::ModelConfig {
        n_layers: 200,
        ..tiny_config()
    };
    let path = dir.path("deep.minke");
    write_random(&path, &c, 3);
    let model = Model::open(&path).unwrap();
    let p = SessionParams {
        n_ctx: minke::session::MAX_CTX,
        allow_long_context: true,
        ..params(1, 4)
    };
    let need = minke::session_bytes(&model, &p);
    assert!(need > 700 << 30, "{need} bytes");
    let e = Session::new(&model, p).err().unwrap();
    assert!(matches!(e, Error::Resources(_)), "{e}");
    assert!(e.to_string().contains("GiB"), "{e}");
}

/// `max_tokens` bounds the answer; it is not reserved up front, so "no
/// limit" (`usize::MAX`) runs until the context is full.
#[test]
fn max_tokens_is_a_bound_not_a_reservation() {
    let dir = TempDir::new("limits-max-tokens");
    let model = tiny(&dir);
    let tok = smollm2_tokenizer();
    let mut s = Session::new(
        &model,
        SessionParams {
            n_ctx: 24,
            ..params(1, 4)
        },
    )
    .unwrap();
    let mut sampler = Sampler::new(SamplerParams::default(), model.config.vocab_size).unwrap();
    let gp = minke::GenerateParams {
        max_tokens: usize::MAX,
        stop: Vec::new(),
        stop_at_eos: false,
        ..Default::default()
    };
    let g = minke::generate(&mut s, &tok, &mut sampler, &[1, 2, 3], &gp, |_| true).unwrap();
    assert_eq!(g.reason, minke::StopReason::ContextFull);
    assert_eq!(g.tokens.len(), 24 - 3 + 1);
    assert!(g.tokens.capacity() <= 22, "{}", g.tokens.capacity());
}

#[test]
fn best_of_n_and_penalty_windows_are_bounded() {
    let dir = TempDir::new("limits-best-of");
    let model = tiny(&dir);
    let tok = smollm2_tokenizer();
    let mut s = Session::new(&model, params(1, 4)).unwrap();
    let gp = minke::GenerateParams {
        max_tokens: 2,
        stop: Vec::new(),
        stop_at_eos: false,
        ..Default::default()
    };
    let sp = SamplerParams::default();
    for n in [0, minke::generate::MAX_BEST_OF + 1, usize::MAX] {
        let e = minke::best_of_n(&mut s, &tok, &[1, 2], n, &sp, &gp, |_| Ok(0.0))
            .err()
            .unwrap();
        assert!(matches!(e, Error::InvalidArgument(_)), "n {n}: {e}");
    }
    let sp = SamplerParams {
        penalty_last_n: usize::MAX,
        repeat_penalty: 1.1,
        ..SamplerParams::default()
    };
    let e = Sampler::new(sp, 96).err().unwrap();
    assert!(e.to_string().contains("penalty_last_n"), "{e}");
}

#[test]
fn logits_with_nothing_finite_are_an_error_not_a_token() {
    let greedy = SamplerParams::default();
    let warm = SamplerParams {
        temperature: 0.8,
        top_p: 0.9,
        ..SamplerParams::default()
    };
    let penalised = SamplerParams {
        repeat_penalty: 1.3,
        ..SamplerParams::default()
    };
    let mut some_nan = vec![0.5f32; 96];
    some_nan[7] = f32::NAN;
    let cases: [(&str, Vec<f32>); 5] = [
        ("all NaN", vec![f32::NAN; 96]),
        ("all -inf", vec![f32::NEG_INFINITY; 96]),
        ("+inf", {
            let mut v = vec![0.0f32; 96];
            v[3] = f32::INFINITY;
            v
        }),
        ("empty", Vec::new()),
        ("one NaN", some_nan),
    ];
    for (name, logits) in &cases {
        for p in [&greedy, &warm, &penalised] {
            let mut s = Sampler::new(p.clone(), 96).unwrap();
            s.accept(4);
            let r = s.sample(logits);
            // Greedy decoding passes a stray NaN over and takes the best
            // finite logit; sampling needs every probability.
            if *name == "one NaN" && p.temperature == 0.0 {
                assert_eq!(r.unwrap(), 0, "{name}, {p:?}");
                continue;
            }
            let e = r.err().unwrap_or_else(|| panic!("{name}, {p:?}: a token"));
            let why = if logits.is_empty() {
                "0 logits"
            } else {
                "finite"
            };
            assert!(e.to_string().contains(why), "{name}: {e}");
        }
    }
}

/// Text files are read through a limit: a `config.json` (here a sparse
/// 200 MiB file) larger than any real one is refused without reading it
/// all.
#[test]
fn oversized_text_files_are_refused() {
    let dir = TempDir::new("limits-text");
    let folder: PathBuf = dir.path("hf");
    std::fs::create_dir_all(&folder).unwrap();
    let f = std::fs::File::create(folder.join("config.json")).unwrap();
    f.set_len(200 << 20).unwrap();
    std::fs::write(folder.join("model.safetensors"), b"").unwrap();
    let e = Model::open(&folder).err().unwrap();
    assert!(e.to_string().contains("128 MiB"), "{e}");
    let t = dir.path("tokenizer.json");
    std::fs::File::create(&t)
        .unwrap()
        .set_len(200 << 20)
        .unwrap();
    let e = minke::Tokenizer::open(&t).err().unwrap();
    assert!(e.to_string().contains("128 MiB"), "{e}");
}
