//! `Session::shift` on the fixture architectures (Llama with plain,
//! llama3 and linear RoPE; Qwen2; DeepSeek-V2/V3 MLA with YaRN), for every
//! KV cache type.
//!
//! A shift keeps positions `0..keep`, drops `keep..keep + discard` and
//! moves the rest down, their keys rotated back. It equals running the
//! kept tokens again at their new positions only where a cached key and
//! value depend on nothing but their own token and position: the first
//! layer. Above it, a kept token's hidden state saw the dropped ones. So
//! the exact test runs one-layer copies of the fixtures, where "shifted"
//! and "recomputed from scratch" must agree to rounding; the full models
//! are held to closeness only (what remains of the dropped text is a real
//! difference, not an error).

mod common;

use common::*;
use minke::{KvType, Model, Session, SessionParams};

const CASES: &[&str] = &[
    "llama_gqa",
    "llama3_rope",
    "llama_linear_rope",
    "qwen2",
    "deepseek_v2",
    "deepseek_v3",
];

fn params(kv: KvType) -> SessionParams {
    SessionParams {
        n_ctx: 64,
        n_threads: 2,
        kv_type: kv,
        n_batch: 8,
        logits_all: false,
        allow_long_context: false,
    }
}

/// A copy of fixture `case` with `layers` layers (the first ones; the
/// others' tensors stay in the file and are not read).
fn with_layers(dir: &TempDir, case: &str, layers: usize) -> std::path::PathBuf {
    let out = dir.path(&format!("{case}-{layers}"));
    std::fs::create_dir_all(&out).unwrap();
    let src = fixture(case);
    std::fs::copy(src.join("model.safetensors"), out.join("model.safetensors")).unwrap();
    let text = std::fs::read_to_string(src.join("config.json")).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_str(&text).unwrap();
    cfg["num_hidden_layers"] = layers.into();
    std::fs::write(out.join("config.json"), cfg.to_string()).unwrap();
    out
}

/// Token ids: a kept prefix, a span to drop, the rest, and what follows.
struct Script {
    prefix: Vec<u32>,
    dropped: Vec<u32>,
    rest: Vec<u32>,
    next: Vec<u32>,
}

fn script(vocab: usize) -> Script {
    let ids = |n: usize, seed: usize| -> Vec<u32> {
        (0..n)
            .map(|i| ((i * 37 + seed * 11 + 5) % vocab) as u32)
            .collect()
    };
    Script {
        prefix: ids(4, 1),
        dropped: ids(13, 2),
        rest: ids(9, 3),
        next: ids(5, 4),
    }
}

/// The logits after each of `s.next`, from a session that ran prefix,
/// dropped span and rest, then shifted the span out.
fn shifted(model: &Model, kv: KvType, s: &Script) -> Vec<Vec<f32>> {
    let mut sess = Session::new(model, params(kv)).unwrap();
    let all: Vec<u32> = [&s.prefix[..], &s.dropped, &s.rest].concat();
    sess.prefill(&all).unwrap();
    sess.shift(s.prefix.len(), s.dropped.len()).unwrap();
    assert_eq!(sess.pos(), s.prefix.len() + s.rest.len());
    s.next
        .iter()
        .map(|&t| sess.decode(t).unwrap().to_vec())
        .collect()
}

/// The same logits from a session that never saw the dropped span.
fn recomputed(model: &Model, kv: KvType, s: &Script) -> Vec<Vec<f32>> {
    let mut sess = Session::new(model, params(kv)).unwrap();
    let kept: Vec<u32> = [&s.prefix[..], &s.rest].concat();
    sess.prefill(&kept).unwrap();
    s.next
        .iter()
        .map(|&t| sess.decode(t).unwrap().to_vec())
        .collect()
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

/// One layer: shifting equals recomputing from scratch, to rounding.
///
/// With an f32 cache the moved keys differ from fresh ones by a few ulp
/// (the rotation by `-discard` on top of the one by the old position), so
/// the logits agree to 1e-5 (logits here are of order 1). With f16 or
/// Q8_0 the moved key is rounded once more than a fresh one; the bound is
/// then what the format's own rounding does to these logits: the shifted
/// logits stay within 3x the largest gap between the format and f32 on
/// the recomputed run (a second rounding of the same size, and the first
/// carried through the rotation), plus the f32 allowance.
#[test]
fn on_one_layer_a_shift_equals_recomputing() {
    let dir = TempDir::new("shift-1l");
    for case in CASES {
        let model = Model::open(with_layers(&dir, case, 1)).unwrap();
        let s = script(model.config.vocab_size);
        let exact = recomputed(&model, KvType::F32, &s);
        for kv in KvType::ALL {
            let (a, b) = (shifted(&model, kv, &s), recomputed(&model, kv, &s));
            let gap = max_diff(&a, &b);
            let own = max_diff(&b, &exact);
            eprintln!(
                "{case} {kv}: shifted vs recomputed {gap:.2e} (the format vs f32: {own:.2e})"
            );
            assert!(
                gap <= 3.0 * own + 1e-5,
                "{case} {kv}: {gap} (own rounding {own})"
            );
        }
    }
}

/// The whole models, every layer (and DeepSeek's MoE): a shift in f16 or
/// Q8_0 does what the f32 shift does, to the format's rounding. (Against
/// recomputing, a whole model differs for real, the kept tokens
/// remembering the dropped span; the one-layer test above is the exact
/// one.) Bound as there: within 3x the format's own gap from f32 on the
/// same run without a shift, plus f32 rounding.
#[test]
fn on_whole_models_every_cache_type_shifts_like_f32() {
    for case in CASES {
        let model = Model::open(fixture(case)).unwrap();
        let s = script(model.config.vocab_size);
        let (sh32, re32) = (
            shifted(&model, KvType::F32, &s),
            recomputed(&model, KvType::F32, &s),
        );
        for kv in [KvType::F16, KvType::Q8_0] {
            let gap = max_diff(&shifted(&model, kv, &s), &sh32);
            let own = max_diff(&recomputed(&model, kv, &s), &re32);
            eprintln!("{case} {kv}: shifted vs f32 shifted {gap:.2e} (unshifted: {own:.2e})");
            assert!(
                gap <= 3.0 * own + 1e-5,
                "{case} {kv}: {gap} (own rounding {own})"
            );
        }
    }
}

/// Misuse: a span past the session's position is refused and changes
/// nothing; dropping nothing changes nothing; shifting to the end is a
/// rewind.
#[test]
fn a_shift_out_of_range_is_refused_and_changes_nothing() {
    let model = Model::open(fixture("llama_gqa")).unwrap();
    let s = script(model.config.vocab_size);
    let mut sess = Session::new(&model, params(KvType::F16)).unwrap();
    let all: Vec<u32> = [&s.prefix[..], &s.dropped, &s.rest].concat();
    let before = sess.prefill(&all).unwrap().to_vec();
    let n = all.len();
    for (keep, discard) in [
        (n, 1),
        (0, n + 1),
        (n - 3, 4),
        (usize::MAX, 2),
        (2, usize::MAX),
    ] {
        let e = sess.shift(keep, discard).unwrap_err();
        assert!(
            matches!(e, minke::Error::InvalidArgument(_)),
            "{keep} {discard}: {e}"
        );
        assert_eq!(sess.pos(), n);
    }
    sess.shift(3, 0).unwrap();
    assert_eq!(sess.pos(), n);
    assert_eq!(sess.logits(), &before[..]);
    // The cache is untouched: the next token's logits are those of a
    // session that never tried.
    let mut fresh = Session::new(&model, params(KvType::F16)).unwrap();
    fresh.prefill(&all).unwrap();
    assert_eq!(sess.decode(7).unwrap(), fresh.decode(7).unwrap());
    sess.shift(n - 2, 3).unwrap();
    assert_eq!(sess.pos(), n - 2);
}

/// `generate` with a context shift runs past the context: the same tokens
/// as a hand-written loop that shifts (keep the prefix, drop half the
/// rest) each time the context fills, for a prompt that fits and for one
/// three times longer than the context.
#[test]
fn generation_with_a_context_shift_goes_on_past_the_context() {
    let dir = TempDir::new("shift-gen");
    let path = dir.path("m.minke");
    write_random(&path, &tiny_config(), 21);
    let model = Model::open(&path).unwrap();
    let json = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/tokenizer/smollm2/tokenizer.json"
    );
    let tok = minke::Tokenizer::from_json(&std::fs::read(json).unwrap()).unwrap();
    let vocab = model.config.vocab_size;
    let sp = minke::SamplerParams {
        seed: 9,
        ..Default::default()
    };
    let (n_ctx, keep) = (24, 5);
    let p = SessionParams {
        n_ctx,
        n_batch: 4,
        ..params(KvType::Q8_0)
    };
    for prompt_len in [10, 3 * n_ctx] {
        let prompt: Vec<u32> = (0..prompt_len).map(|i| (i * 7 % vocab) as u32).collect();
        let gp = minke::GenerateParams {
            max_tokens: 100,
            stop_at_eos: false,
            context_shift: Some(keep),
            ..Default::default()
        };
        let mut s = Session::new(&model, p.clone()).unwrap();
        let mut sampler = minke::Sampler::new(sp.clone(), vocab).unwrap();
        let g = minke::generate(&mut s, &tok, &mut sampler, &prompt, &gp, |_| true).unwrap();
        assert_eq!(g.reason, minke::StopReason::MaxTokens);
        assert_eq!(g.tokens.len(), 100);
        // By hand.
        let mut h = Session::new(&model, p.clone()).unwrap();
        let mut sampler = minke::Sampler::new(sp.clone(), vocab).unwrap();
        let mut discarded = 0;
        let mut room = |h: &mut Session<'_>| {
            let d = (h.pos() - keep) / 2;
            h.shift(keep, d).unwrap();
            discarded += d;
        };
        for &t in &prompt {
            sampler.accept(t);
            if h.pos() == n_ctx {
                room(&mut h);
            }
            h.decode(t).unwrap();
        }
        let mut want = Vec::new();
        while want.len() < 100 {
            let t = sampler.sample(h.logits()).unwrap();
            sampler.accept(t);
            want.push(t);
            if want.len() == 100 {
                break;
            }
            if h.pos() == n_ctx {
                room(&mut h);
            }
            h.decode(t).unwrap();
        }
        assert_eq!(g.tokens, want, "prompt of {prompt_len}");
        assert_eq!(g.discarded, discarded, "prompt of {prompt_len}");
        assert_eq!(s.pos(), h.pos());
        assert_eq!(
            s.pos(),
            prompt_len + 99 - g.discarded,
            "the session holds all it ran but what the shifts dropped"
        );
    }
    // A `keep` that leaves no room is refused before anything runs, and
    // best-of-N, whose answers all start from the prompt, takes none.
    let mut s = Session::new(&model, p).unwrap();
    let mut sampler = minke::Sampler::new(sp.clone(), vocab).unwrap();
    let gp = minke::GenerateParams {
        context_shift: Some(n_ctx - 1),
        ..Default::default()
    };
    let e = minke::generate(&mut s, &tok, &mut sampler, &[1, 2], &gp, |_| true).unwrap_err();
    assert!(matches!(e, minke::Error::InvalidArgument(_)), "{e}");
    assert_eq!(s.pos(), 0);
    let gp = minke::GenerateParams {
        context_shift: Some(2),
        ..Default::default()
    };
    let e =
        minke::best_of_n(&mut s, &tok, &[1, 2], 2, &sp, &gp, |g| Ok(g.mean_logprob())).unwrap_err();
    assert!(matches!(e, minke::Error::InvalidArgument(_)), "{e}");
}
