//! The forward pass on a tiny random model: prefill equals decode, threads
//! agree bit for bit, bad input gives clear errors.

mod common;

use common::*;
use minke::{Model, Session, SessionParams};

const TOKENS: [u32; 20] = [
    1, 5, 9, 33, 2, 95, 0, 7, 7, 7, 40, 41, 42, 60, 12, 3, 88, 1, 54, 20,
];

#[test]
fn prefill_equals_token_by_token_decode() {
    let dir = TempDir::new("prefill");
    let path = dir.path("m.minke");
    write_random(&path, &tiny_config(), 1);
    let model = Model::open(&path).unwrap();
    let batch = all_logits(&model, params(2, 8), &TOKENS);
    let mut s = Session::new(&model, params(2, 8)).unwrap();
    let v = model.config.vocab_size;
    for (i, &t) in TOKENS.iter().enumerate() {
        let l = s.decode(t).unwrap();
        for (a, b) in l.iter().zip(&batch[i * v..(i + 1) * v]) {
            assert!(
                (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                "pos {i}: {a} vs {b}"
            );
        }
    }
    assert_eq!(s.pos(), TOKENS.len());
}

#[test]
fn thread_counts_agree_bit_for_bit() {
    let dir = TempDir::new("threads");
    let path = dir.path("m.minke");
    write_random(&path, &tiny_config(), 2);
    let model = Model::open(&path).unwrap();
    let one = all_logits(&model, params(1, 16), &TOKENS);
    for nt in [2, 3, 4] {
        assert_eq!(
            one,
            all_logits(&model, params(nt, 16), &TOKENS),
            "{nt} threads"
        );
    }
}

#[test]
fn rewind_replays_the_same_logits() {
    let dir = TempDir::new("rewind");
    let path = dir.path("m.minke");
    write_random(&path, &tiny_config(), 3);
    let model = Model::open(&path).unwrap();
    let mut s = Session::new(&model, params(2, 4)).unwrap();
    s.prefill(&TOKENS[..10]).unwrap();
    let first = s.prefill(&TOKENS[10..]).unwrap().to_vec();
    s.rewind(10).unwrap();
    let again = s.prefill(&TOKENS[10..]).unwrap().to_vec();
    assert_eq!(first, again);
    assert!(s.rewind(100).is_err());
}

#[test]
fn bad_tokens_and_full_context_are_errors() {
    let dir = TempDir::new("errors");
    let path = dir.path("m.minke");
    write_random(&path, &tiny_config(), 4);
    let model = Model::open(&path).unwrap();
    let mut s = Session::new(
        &model,
        SessionParams {
            n_ctx: 8,
            ..params(1, 4)
        },
    )
    .unwrap();
    let e = s.prefill(&[1, 96]).unwrap_err().to_string();
    assert!(e.contains("96") && e.contains("out of range"), "{e}");
    assert_eq!(s.pos(), 0, "a failed call leaves the session as it was");
    let e = s.prefill(&[1; 9]).unwrap_err().to_string();
    assert!(e.contains("do not fit"), "{e}");
    s.prefill(&[1; 8]).unwrap();
    let e = s.decode(1).unwrap_err().to_string();
    assert!(e.contains("context is full"), "{e}");
    assert!(s.prefill(&[]).is_err());
}

/// Interleaved weights write each batch's products straight into the
/// token-major output, split by threads: any thread count and any batch
/// size gives the same bits (their kernels sum every product in one fixed
/// order whatever the number of tokens).
#[test]
fn interleaved_weights_agree_across_threads_and_batches() {
    let dir = TempDir::new("threads-x16");
    let (f32_path, path) = (dir.path("f.minke"), dir.path("x16.minke"));
    write_random(&f32_path, &tiny_config(), 5);
    minke::quantize::quantize_with_lora(
        &f32_path,
        &path,
        Some(minke::quant::DType::Q4_0),
        true,
        None,
        |_, _| {},
    )
    .unwrap();
    let model = Model::open(&path).unwrap();
    let grouped = model
        .tensors()
        .names()
        .iter()
        .filter(|n| model.tensors().get(n).unwrap().dtype == minke::quant::DType::Q4_0x16)
        .count();
    assert!(grouped >= 14, "only {grouped} tensors interleaved");
    let one = all_logits(&model, params(1, 16), &TOKENS);
    for (nt, batch) in [(2, 16), (3, 16), (4, 16), (2, 5), (2, 1)] {
        assert_eq!(
            one,
            all_logits(&model, params(nt, batch), &TOKENS),
            "{nt} threads, batches of {batch}"
        );
    }
}

/// `Load::Read` copies the file into memory: the same logits as the map,
/// still there after the file is gone, and the same errors for bad files.
#[test]
fn a_model_read_into_memory_is_the_mapped_model() {
    let dir = TempDir::new("read-in");
    let path = dir.path("m.minke");
    write_random(&path, &tiny_config(), 6);
    let mapped = Model::open(&path).unwrap();
    let read = Model::open_with(&path, minke::Load::Read).unwrap();
    std::fs::remove_file(&path).unwrap();
    let want = all_logits(&mapped, params(2, 8), &TOKENS);
    assert_eq!(want, all_logits(&read, params(2, 8), &TOKENS));

    // Cut short: the error names the file either way.
    write_random(&path, &tiny_config(), 6);
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - 100).unwrap();
    drop(f);
    for load in [minke::Load::Map, minke::Load::Read] {
        let e = Model::open_with(&path, load)
            .err()
            .expect("truncated file opened");
        assert!(e.to_string().contains("m.minke"), "{load:?}: {e}");
    }
    let e = Model::open_with(dir.path("missing.minke"), minke::Load::Read)
        .err()
        .expect("missing file opened");
    assert!(matches!(e, minke::Error::Io { .. }), "{e}");
}

#[test]
fn params_report_the_threads_in_use() {
    let dir = TempDir::new("nthreads");
    let path = dir.path("m.minke");
    write_random(&path, &tiny_config(), 4);
    let model = Model::open(&path).unwrap();
    // Asked for more than the pool runs: the session says what it runs.
    let s = Session::new(&model, params(100_000, 8)).unwrap();
    assert_eq!(s.params().n_threads, minke::threads::MAX_THREADS);
    let s = Session::new(&model, params(3, 8)).unwrap();
    assert_eq!(s.params().n_threads, 3);
}

#[test]
fn an_empty_stop_string_is_refused() {
    let dir = TempDir::new("emptystop");
    let path = dir.path("m.minke");
    write_random(&path, &tiny_config(), 5);
    let model = Model::open(&path).unwrap();
    let json = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/tokenizer/smollm2/tokenizer.json"
    );
    let tok = minke::Tokenizer::from_json(&std::fs::read(json).unwrap()).unwrap();
    let mut s = Session::new(&model, params(1, 8)).unwrap();
    let mut sampler =
        minke::Sampler::new(minke::SamplerParams::default(), model.config.vocab_size).unwrap();
    let gp = minke::GenerateParams {
        stop: vec!["ok".into(), String::new()],
        ..Default::default()
    };
    let e = minke::generate(&mut s, &tok, &mut sampler, &[1, 2], &gp, |_| true).unwrap_err();
    assert!(matches!(e, minke::Error::InvalidArgument(_)), "{e}");
    assert!(e.to_string().contains("stop string 1 is empty"), "{e}");
    assert_eq!(s.pos(), 0, "nothing ran");
}
