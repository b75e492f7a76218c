//! Speculative decoding gives what plain decoding gives: the same tokens,
//! log-probabilities and session when greedy, whatever the drafts and
//! however many are refused; the same distribution at a temperature.

mod common;

use common::*;
use minke::speculative::Drafter;
use minke::{
    generate, generate_speculative, DraftModel, GenerateParams, Generated, KvType, Model,
    PromptLookup, Sampler, SamplerParams, Session, SessionParams, Tokenizer,
};

#[path = "support/real_model.rs"]
mod real_model;

fn tokenizer() -> Tokenizer {
    let json = fixture("tokenizer/smollm2/tokenizer.json");
    Tokenizer::from_json(&std::fs::read(json).unwrap()).unwrap()
}

fn session_params(kv: KvType) -> SessionParams {
    SessionParams {
        n_ctx: 96,
        n_threads: 2,
        kv_type: kv,
        n_batch: 16,
        logits_all: false,
        allow_long_context: false,
    }
}

fn gen_params(max_tokens: usize) -> GenerateParams {
    GenerateParams {
        max_tokens,
        stop_at_eos: false,
        ..GenerateParams::default()
    }
}

/// Knows the text plain decoding gives and proposes it, with every
/// `wrong_every`-th token changed, so that drafts are accepted, refused
/// at the first token, and refused midway.
struct Oracle {
    text: Vec<u32>,
    wrong_every: usize,
    vocab: u32,
    proposed: usize,
    n_draft: usize,
}

impl Drafter for Oracle {
    fn max_draft(&self) -> usize {
        self.n_draft
    }

    fn draft(&mut self, context: &[u32], out: &mut [u32]) -> minke::Result<usize> {
        let n = context.len();
        assert_eq!(
            context,
            &self.text[..n],
            "the context left plain decoding's text"
        );
        let mut k = 0;
        for (o, &t) in out.iter_mut().zip(&self.text[n..]) {
            self.proposed += 1;
            *o = if self.proposed % self.wrong_every == 0 {
                (t + 1) % self.vocab
            } else {
                t
            };
            k += 1;
        }
        Ok(k)
    }
}

/// Plain decoding's output and the session's tokens and logits after it.
fn plain(
    model: &Model,
    kv: KvType,
    prompt: &[u32],
    sp: &SamplerParams,
    max: usize,
) -> (Generated, Vec<u32>, Vec<f32>) {
    let tok = tokenizer();
    let mut s = Session::new(model, session_params(kv)).unwrap();
    let mut smp = Sampler::new(sp.clone(), model.config.vocab_size).unwrap();
    let g = generate(&mut s, &tok, &mut smp, prompt, &gen_params(max), |_| true).unwrap();
    (g, s.tokens().to_vec(), s.logits().to_vec())
}

fn speculative(
    model: &Model,
    kv: KvType,
    prompt: &[u32],
    sp: &SamplerParams,
    max: usize,
    drafter: &mut dyn Drafter,
) -> (Generated, Vec<u32>, Vec<f32>) {
    let tok = tokenizer();
    let mut s = Session::new(model, session_params(kv)).unwrap();
    let mut smp = Sampler::new(sp.clone(), model.config.vocab_size).unwrap();
    let g = generate_speculative(
        &mut s,
        &tok,
        &mut smp,
        prompt,
        &gen_params(max),
        drafter,
        |_| true,
    )
    .unwrap();
    (g, s.tokens().to_vec(), s.logits().to_vec())
}

fn same(what: &str, a: &(Generated, Vec<u32>, Vec<f32>), b: &(Generated, Vec<u32>, Vec<f32>)) {
    assert_eq!(a.0.tokens, b.0.tokens, "{what}: tokens");
    assert_eq!(
        a.0.token_logprobs, b.0.token_logprobs,
        "{what}: log-probabilities"
    );
    assert_eq!(a.0.text, b.0.text, "{what}: text");
    assert_eq!(a.1, b.1, "{what}: the session's tokens");
    assert!(a.2 == b.2, "{what}: the session's last logits");
}

const CASES: [&str; 6] = [
    "llama_gqa",
    "llama_mha_tied",
    "qwen2",
    "llama3_rope",
    "deepseek_v2",
    "deepseek_v3",
];

#[test]
fn greedy_speculation_gives_plain_decodings_tokens_on_every_architecture() {
    let sp = SamplerParams::default();
    // A penalty makes the target's choice depend on the tokens accepted
    // so far within a round.
    let penalised = SamplerParams {
        repeat_penalty: 1.3,
        ..SamplerParams::default()
    };
    for case in CASES {
        let model = Model::open(fixture(case)).unwrap();
        let vocab = model.config.vocab_size;
        let prompt: Vec<u32> = (0..11).map(|i| (i * 37 % vocab) as u32).collect();
        for kv in [KvType::F16, KvType::Q8_0] {
            for sp in [&sp, &penalised] {
                let want = plain(&model, kv, &prompt, sp, 40);
                let mut text = prompt.clone();
                text.extend_from_slice(&want.0.tokens);
                for n_draft in [1, 3, 8] {
                    for wrong_every in [2, 7, 1000] {
                        let mut o = Oracle {
                            text: text.clone(),
                            wrong_every,
                            vocab: vocab as u32,
                            proposed: 0,
                            n_draft,
                        };
                        let got = speculative(&model, kv, &prompt, sp, 40, &mut o);
                        let what = format!(
                            "{case}, {kv:?}, penalty {}, n_draft {n_draft}, every {wrong_every}th wrong",
                            sp.repeat_penalty
                        );
                        same(&what, &want, &got);
                        assert!(
                            got.0.drafted > 0 && got.0.accepted <= got.0.drafted,
                            "{what}"
                        );
                        if wrong_every == 1000 {
                            assert_eq!(
                                got.0.accepted, got.0.drafted,
                                "{what}: a right draft refused"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn prompt_lookup_and_draft_models_give_plain_decodings_tokens() {
    let sp = SamplerParams::default();
    // Draft models with the target's vocabulary: itself, and another
    // architecture of the same vocabulary size.
    for (target, draft) in [
        ("llama3_rope", "llama_mha_tied"),
        ("deepseek_v3", "deepseek_v2"),
        ("qwen2", "qwen2"),
    ] {
        let model = Model::open(fixture(target)).unwrap();
        let small = Model::open(fixture(draft)).unwrap();
        let vocab = model.config.vocab_size;
        // A text that repeats, so that lookup finds matches.
        let pattern: Vec<u32> = (0..7).map(|i| (i * 13 % vocab) as u32).collect();
        let prompt: Vec<u32> = pattern.iter().cycle().take(30).copied().collect();
        let want = plain(&model, KvType::F16, &prompt, &sp, 48);
        for n_draft in [1, 4, 8] {
            let mut lookup = PromptLookup::new(n_draft);
            let got = speculative(&model, KvType::F16, &prompt, &sp, 48, &mut lookup);
            same(&format!("{target}, lookup {n_draft}"), &want, &got);

            let mut ds = Session::new(&small, session_params(KvType::F16)).unwrap();
            let mut dm = DraftModel::new(&mut ds, vocab, &sp, n_draft).unwrap();
            let got = speculative(&model, KvType::F16, &prompt, &sp, 48, &mut dm);
            same(
                &format!("{target} drafted by {draft}, {n_draft}"),
                &want,
                &got,
            );
            if target == draft {
                // A model drafting for itself is always right.
                assert_eq!(
                    got.0.accepted, got.0.drafted,
                    "{target} drafting for itself"
                );
                assert!(got.0.drafted > 0);
                // With a penalty too: the draft's sampler sees the same
                // recent text.
                let pen = SamplerParams {
                    repeat_penalty: 1.3,
                    ..SamplerParams::default()
                };
                let want = plain(&model, KvType::F16, &prompt, &pen, 48);
                let mut ds = Session::new(&small, session_params(KvType::F16)).unwrap();
                let mut dm = DraftModel::new(&mut ds, vocab, &pen, n_draft).unwrap();
                let got = speculative(&model, KvType::F16, &prompt, &pen, 48, &mut dm);
                same(
                    &format!("{target} drafting for itself, penalty"),
                    &want,
                    &got,
                );
                assert_eq!(got.0.accepted, got.0.drafted, "penalised self-draft");
            }
        }
    }
}

#[test]
fn speculation_stops_where_plain_decoding_stops() {
    // A stop string, the end of the context, max_tokens: each cuts a
    // round short and leaves the session as plain decoding does.
    let model = Model::open(fixture("llama_gqa")).unwrap();
    let tok = tokenizer();
    let vocab = model.config.vocab_size;
    let prompt: Vec<u32> = (0..9).map(|i| (i * 5 % vocab) as u32).collect();
    let sp = SamplerParams::default();
    let long = plain(&model, KvType::F16, &prompt, &sp, 200);
    let mut text = prompt.clone();
    text.extend_from_slice(&long.0.tokens);
    // A stop string taken from the middle of the plain text.
    let stop = {
        let s = &long.0.text;
        let mid = s
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| i >= s.len() / 2)
            .unwrap();
        let end = s[mid..]
            .char_indices()
            .nth(2)
            .map_or(s.len(), |(i, _)| mid + i);
        s[mid..end].to_string()
    };
    assert!(!stop.is_empty());
    let cases = [
        GenerateParams {
            stop: vec![stop.clone()],
            ..gen_params(200)
        },
        gen_params(13),
        gen_params(200),
    ];
    for gp in cases {
        let run = |drafter: Option<&mut dyn Drafter>| {
            let mut s = Session::new(&model, session_params(KvType::F32)).unwrap();
            let mut smp = Sampler::new(sp.clone(), vocab).unwrap();
            let mut pieces = String::new();
            let g = match drafter {
                None => generate(&mut s, &tok, &mut smp, &prompt, &gp, |p| {
                    pieces.push_str(p);
                    true
                }),
                Some(d) => generate_speculative(&mut s, &tok, &mut smp, &prompt, &gp, d, |p| {
                    pieces.push_str(p);
                    true
                }),
            }
            .unwrap();
            (g, s.tokens().to_vec(), pieces)
        };
        let want = run(None);
        let mut o = Oracle {
            text: text.clone(),
            wrong_every: 5,
            vocab: vocab as u32,
            proposed: 0,
            n_draft: 6,
        };
        let got = run(Some(&mut o));
        let what = format!("stop {:?}, max {}", gp.stop, gp.max_tokens);
        assert_eq!(want.0.reason, got.0.reason, "{what}");
        assert_eq!(want.0.tokens, got.0.tokens, "{what}");
        assert_eq!(want.0.text, got.0.text, "{what}");
        assert_eq!(want.2, got.2, "{what}: streamed pieces");
        assert_eq!(want.1, got.1, "{what}: session tokens");
    }
}

/// Counts of the token at each of the first `n` generated positions over
/// `runs` seeds.
fn sampled_counts(
    model: &Model,
    prompt: &[u32],
    n: usize,
    runs: u64,
    mut drafter: impl FnMut() -> Option<Box<dyn Drafter>>,
) -> Vec<Vec<u32>> {
    let tok = tokenizer();
    let vocab = model.config.vocab_size;
    let mut counts = vec![vec![0u32; vocab]; n];
    let mut s = Session::new(model, session_params(KvType::F32)).unwrap();
    for seed in 0..runs {
        s.rewind(0).unwrap();
        let sp = SamplerParams {
            temperature: 0.6,
            seed,
            ..SamplerParams::default()
        };
        let mut smp = Sampler::new(sp, vocab).unwrap();
        let g = match drafter() {
            None => generate(&mut s, &tok, &mut smp, prompt, &gen_params(n), |_| true),
            Some(mut d) => generate_speculative(
                &mut s,
                &tok,
                &mut smp,
                prompt,
                &gen_params(n),
                d.as_mut(),
                |_| true,
            ),
        }
        .unwrap();
        for (c, &t) in counts.iter_mut().zip(&g.tokens) {
            c[t as usize] += 1;
        }
    }
    counts
}

/// Two-sample chi-square of equal-sized samples, bins with fewer than 10
/// in both pooled; returns the statistic and the degrees of freedom.
fn two_sample(a: &[u32], b: &[u32]) -> (f64, usize) {
    let (mut x2, mut bins, mut pa, mut pb) = (0f64, 0usize, 0u32, 0u32);
    let mut add = |x: u32, y: u32| {
        if x + y > 0 {
            x2 += (x as f64 - y as f64).powi(2) / (x + y) as f64;
            bins += 1;
        }
    };
    for (&x, &y) in a.iter().zip(b) {
        if x + y < 20 {
            pa += x;
            pb += y;
        } else {
            add(x, y);
        }
    }
    add(pa, pb);
    (x2, bins.saturating_sub(1))
}

#[test]
fn speculative_sampling_keeps_the_models_distribution() {
    let model = Model::open(fixture("llama_mha_tied")).unwrap();
    let vocab = model.config.vocab_size;
    let prompt: Vec<u32> = (0..6).map(|i| (i * 41 % vocab) as u32).collect();
    let runs = 1500;
    let plain_counts = sampled_counts(&model, &prompt, 3, runs, || None);
    // Fixed guesses (lookup's kind: the plain greedy text) and a draft
    // model (itself, another seed: its own distribution).
    let greedy = plain(&model, KvType::F32, &prompt, &SamplerParams::default(), 3)
        .0
        .tokens;
    let mut text = prompt.clone();
    text.extend_from_slice(&greedy);
    let fixed = sampled_counts(&model, &prompt, 3, runs, || {
        Some(Box::new(FixedText(text.clone())))
    });
    for (what, got) in [("fixed drafts", &fixed)] {
        for pos in 0..3 {
            let (x2, df) = two_sample(&plain_counts[pos], &got[pos]);
            // About the 0.01% point of a chi-square with df degrees.
            let bound = df as f64 + 5.0 * (2.0 * df as f64).sqrt() + 10.0;
            assert!(
                x2 < bound,
                "{what}, token {pos}: chi-square {x2:.1} on {df} degrees"
            );
        }
    }
    // The draft model's distributions: a session per run, borrowed.
    let small = Model::open(fixture("llama_mha_tied")).unwrap();
    let tok = tokenizer();
    let mut counts = vec![vec![0u32; vocab]; 3];
    let mut s = Session::new(&model, session_params(KvType::F32)).unwrap();
    let mut ds = Session::new(&small, session_params(KvType::F32)).unwrap();
    let mut accepted = 0;
    for seed in 0..runs {
        s.rewind(0).unwrap();
        let sp = SamplerParams {
            temperature: 0.6,
            seed,
            ..SamplerParams::default()
        };
        let mut smp = Sampler::new(sp.clone(), vocab).unwrap();
        let mut dm = DraftModel::new(&mut ds, vocab, &sp, 4).unwrap();
        let g = generate_speculative(
            &mut s,
            &tok,
            &mut smp,
            &prompt,
            &gen_params(3),
            &mut dm,
            |_| true,
        )
        .unwrap();
        accepted += g.accepted;
        for (c, &t) in counts.iter_mut().zip(&g.tokens) {
            c[t as usize] += 1;
        }
    }
    assert!(accepted > 0);
    for pos in 0..3 {
        let (x2, df) = two_sample(&plain_counts[pos], &counts[pos]);
        let bound = df as f64 + 5.0 * (2.0 * df as f64).sqrt() + 10.0;
        assert!(
            x2 < bound,
            "draft model, token {pos}: chi-square {x2:.1} on {df} degrees"
        );
    }
    // The test has teeth: the greedy text's tokens (what "always accept
    // the fixed drafts" would give) are far from the sampled counts.
    let mut always = vec![0u32; vocab];
    always[greedy[1] as usize] = runs as u32;
    let (x2, df) = two_sample(&plain_counts[1], &always);
    assert!(
        x2 > 3.0 * (df as f64 + 5.0 * (2.0 * df as f64).sqrt() + 10.0),
        "{x2} on {df}"
    );
}

/// Always proposes the continuation of a fixed text where the context is
/// a prefix of it, and nothing elsewhere.
struct FixedText(Vec<u32>);

impl Drafter for FixedText {
    fn max_draft(&self) -> usize {
        4
    }

    fn draft(&mut self, context: &[u32], out: &mut [u32]) -> minke::Result<usize> {
        let n = context.len();
        if n > self.0.len() || context != &self.0[..n] {
            return Ok(0);
        }
        let k = out.len().min(self.0.len() - n);
        out[..k].copy_from_slice(&self.0[n..n + k]);
        Ok(k)
    }
}

/// Input-grounded prompts on the real model: prompt lookup gives greedy
/// decoding's text token for token, for several draft lengths, and
/// accepts a good part of its guesses.
#[test]
fn prompt_lookup_on_the_real_model_gives_greedy_text() {
    let Some(path) = real_model::model_path() else {
        return;
    };
    let model = Model::open(&path).unwrap();
    let tok = model.tokenizer().unwrap();
    let prompts = [
        "Repeat the following sentence exactly.\nSentence: The quick brown fox jumps over the lazy dog near the river bank.\nRepeated sentence: The quick",
        "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n\n\ndef mul(a, b):\n",
        "Text: Marie Curie was a physicist and chemist who conducted pioneering research on radioactivity. She was the first woman to win a Nobel Prize.\nQuestion: Who was the first woman to win a Nobel Prize?\nAnswer:",
    ];
    let sp = SamplerParams::default();
    let p = SessionParams {
        n_ctx: 256,
        n_threads: 2,
        kv_type: KvType::F16,
        n_batch: 64,
        logits_all: false,
        allow_long_context: false,
    };
    let (mut drafted, mut accepted) = (0, 0);
    for text in prompts {
        let prompt = tok.encode(text, true).unwrap();
        let gp = gen_params(40);
        let mut s = Session::new(&model, p.clone()).unwrap();
        let mut smp = Sampler::new(sp.clone(), model.config.vocab_size).unwrap();
        let want = generate(&mut s, tok, &mut smp, &prompt, &gp, |_| true).unwrap();
        for n_draft in [1, 3, 8] {
            let mut s = Session::new(&model, p.clone()).unwrap();
            let mut smp = Sampler::new(sp.clone(), model.config.vocab_size).unwrap();
            let mut lookup = PromptLookup::new(n_draft);
            let got =
                generate_speculative(&mut s, tok, &mut smp, &prompt, &gp, &mut lookup, |_| true)
                    .unwrap();
            assert_eq!(want.tokens, got.tokens, "{text:?}, n_draft {n_draft}");
            assert_eq!(want.text, got.text);
            drafted += got.drafted;
            accepted += got.accepted;
        }
    }
    eprintln!("prompt lookup on the real model: {accepted} of {drafted} drafts accepted");
    assert!(
        drafted > 0 && accepted * 4 > drafted,
        "{accepted} of {drafted}"
    );
}
