//! End to end on the real model, SmolLM2-135M-Instruct (GGUF, Q4_1), against
//! reference data committed in `tests/fixtures/smollm2/` (made from
//! transformers' own load of the same file, and from llama.cpp, by
//! `scripts/gen_real_refs.py`).
//!
//! The model is fetched by `scripts/fetch-model.sh` (`scripts/test.sh` does
//! it and sets `MINKE_MODEL` and `MINKE_REQUIRE_MODEL=1`). Without it each
//! of these tests prints a `SKIPPED:` line on the terminal and passes, or
//! fails with `MINKE_REQUIRE_MODEL=1` (`support/real_model.rs`).

use minke::score::log_prob;
use minke::{KvType, Model, Sampler, SamplerParams, Session, SessionParams};
use safetensors::SafeTensors;
use serde_json::Value;
use std::path::PathBuf;

#[path = "support/real_model.rs"]
mod real_model;
use real_model::model_path;

mod common;
use common::kl_and_top1;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/smollm2")
        .join(name)
}

fn tensor<T: bytemuck::Pod>(st: &SafeTensors<'_>, name: &str) -> Vec<T> {
    st.tensor(name)
        .unwrap()
        .data()
        .chunks_exact(std::mem::size_of::<T>())
        .map(bytemuck::pod_read_unaligned)
        .collect()
}

fn session(model: &Model, n_ctx: usize, threads: usize) -> Session<'_> {
    let p = SessionParams {
        n_ctx,
        n_threads: threads,
        kv_type: KvType::F32,
        n_batch: 64,
        logits_all: true,
        allow_long_context: false,
    };
    Session::new(model, p).unwrap()
}

/// Teacher-forced texts: top-1 agreement and (truncated) KL divergence from
/// transformers' f32 reading of the same weights.
///
/// The KL computed here is a lower bound: the fixture keeps only the
/// reference's top 32 log-probabilities a position, so the rest of the
/// vocabulary counts as one outcome (log-sum inequality).
///
/// minke quantizes activations to int8 for the integer dot products, as
/// llama.cpp does, and that alone is the difference: the same weights run
/// with f32 activations (`minke quantize --type f32` of this file) give
/// KL 0.00000 and 100% top-1 on all three texts. The int8 noise (mean KL
/// bound 0.0021 / 0.0024 / 0.0036) flips the argmax at near-ties in 3-5%
/// of positions; no single projection dominates (f32 activations for any
/// one of them moves top-1 by under 1.5 points). llama.cpp, which rounds
/// activations the same way, measures top-1 97.8 / 96.4 / 94.6% and the
/// same top-32 bound 0.0022 / 0.0026 / 0.0038 on the same texts
/// (`llama_vs_ref.json`, whose generator also has the full KL, 0.0028 /
/// 0.0031 / 0.0043); minke's bound is the lower on all three. Bounds: mean
/// KL ≤ 0.01, top-1 ≥ 94%.
#[test]
fn teacher_forced_texts_agree_with_transformers() {
    let Some(path) = model_path() else { return };
    teacher_forced(&Model::open(&path).unwrap());
}

/// The checks of [`teacher_forced_texts_agree_with_transformers`] on
/// `model`.
fn teacher_forced(model: &Model) {
    let tok = model.tokenizer().unwrap();
    for text in ["english", "code", "chinese"] {
        let bytes = std::fs::read(fixture(&format!("ref_{text}.safetensors"))).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let tokens: Vec<u32> = tensor::<i32>(&st, "tokens")
            .into_iter()
            .map(|t| t as u32)
            .collect();
        let top_ids: Vec<i32> = tensor(&st, "top_ids");
        let top_lp: Vec<f32> = tensor(&st, "top_logprobs");
        let n = tokens.len();
        let k = top_ids.len() / n;

        // Our tokenizer gives the same ids for the text.
        let raw = std::fs::read_to_string(fixture(&format!("texts/{text}.txt"))).unwrap();
        assert_eq!(
            tok.encode(&raw, false).unwrap(),
            tokens,
            "{text}: tokenization"
        );

        let mut s = session(model, n, 2);
        let (mut kl, mut agree) = (0f64, 0usize);
        s.prefill_each(&tokens, |i, logits| {
            let ids = &top_ids[i * k..(i + 1) * k];
            let lps = &top_lp[i * k..(i + 1) * k];
            let mut p_top = 0f64;
            let mut q_top = 0f64;
            for (&id, &lp) in ids.iter().zip(lps) {
                let lq = log_prob(logits, id as u32);
                let p = (lp as f64).exp();
                kl += p * (lp as f64 - lq);
                p_top += p;
                q_top += lq.exp();
            }
            // The rest of the vocabulary as one outcome: a lower bound on KL.
            let (rp, rq) = ((1.0 - p_top).max(1e-12), (1.0 - q_top).max(1e-12));
            kl += rp * (rp.ln() - rq.ln());
            let best = logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0;
            agree += (best as i32 == ids[0]) as usize;
        })
        .unwrap();
        let (kl, top1) = (kl / n as f64, agree as f64 / n as f64);
        eprintln!(
            "{text}: {n} positions, mean KL {kl:.5}, top-1 {:.2}%",
            top1 * 100.0
        );
        assert!(kl <= 0.01 && top1 >= 0.94, "{text}: KL {kl}, top-1 {top1}");
    }
}

/// Full logits of the first positions of the English text, closely.
#[test]
fn first_logits_are_close_to_transformers() {
    let Some(path) = model_path() else { return };
    let model = Model::open(&path).unwrap();
    let bytes = std::fs::read(fixture("ref_english.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let tokens: Vec<u32> = tensor::<i32>(&st, "tokens")
        .into_iter()
        .map(|t| t as u32)
        .collect();
    let want: Vec<f32> = tensor(&st, "logits_head");
    let v = model.config.vocab_size;
    let rows = want.len() / v;
    let mut s = session(&model, rows, 1);
    let (mut worst, mut sum, mut scale) = (0f32, 0f64, 0f32);
    s.prefill_each(&tokens[..rows], |i, logits| {
        for (a, b) in logits.iter().zip(&want[i * v..(i + 1) * v]) {
            worst = worst.max((a - b).abs());
            sum += (a - b).abs() as f64;
            scale = scale.max(b.abs());
        }
    })
    .unwrap();
    let mean = sum / want.len() as f64;
    eprintln!("first {rows} positions: max |Δlogit| {worst:.4}, mean {mean:.4}, on logits up to {scale:.1}");
    // Int8 activations against f32 (see above): about a fifth of a logit on average,
    // under one at the worst of 400k values. A wrong layer gives several.
    assert!(
        worst < 1.0 && mean < 0.3,
        "max |Δlogit| = {worst}, mean {mean}"
    );
}

/// Greedy continuations of raw prompts follow transformers (and llama.cpp,
/// when its reference is present) until they part at a near-tie.
///
/// Free-running greedy: while minke picks the reference's token, go on.
/// Where it picks another, the reference's own top two must have been
/// within 0.25 logit there (int8 activations move logits by about 0.2 on
/// average, see above, and break such ties either way, as llama.cpp's do),
/// and the comparison ends. Past the point where llama.cpp and transformers
/// themselves part ways, nothing is compared.
#[test]
fn greedy_generation_follows_the_references() {
    let Some(path) = model_path() else { return };
    greedy_follows(&Model::open(&path).unwrap());
}

/// The checks of [`greedy_generation_follows_the_references`] on `model`.
fn greedy_follows(model: &Model) {
    let g: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("greedy.json")).unwrap()).unwrap();
    let ids = |v: &Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    };
    let mut total = 0;
    for p in g["prompts"].as_array().unwrap() {
        let prompt = ids(&p["prompt_ids"]);
        let tf = ids(&p["transformers"]);
        let margins: Vec<f64> = p["transformers_margins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_f64().unwrap())
            .collect();
        let mut upto = tf.len();
        if let Some(lc) = p.get("llama_cpp").filter(|v| v.is_array()) {
            let lc = ids(lc);
            upto = tf.iter().zip(&lc).take_while(|(a, b)| a == b).count();
        }
        let mut s = session(model, prompt.len() + tf.len() + 1, 2);
        let mut logits = s.prefill(&prompt).unwrap().to_vec();
        let mut same = 0;
        for i in 0..upto {
            let t = logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0 as u32;
            if t != tf[i] {
                assert!(
                    margins[i] < 0.25,
                    "{:?}: step {i} gives {t}, transformers {} with a margin of {:.3}",
                    p["prompt"],
                    tf[i],
                    margins[i]
                );
                break;
            }
            same += 1;
            logits = s.decode(t).unwrap().to_vec();
        }
        eprintln!(
            "{:?}: same greedy tokens for {same} of {upto} comparable steps",
            p["prompt"].as_str().unwrap()
        );
        total += same;
    }
    // 24 tokens today on x86 (5 + 13 up to where llama.cpp and transformers
    // part, 2 + 4 up to near-ties for the other two prompts); 52 on aarch64,
    // whose int8 sums break the fourth prompt's near-tie the other way.
    assert!(
        total >= 20,
        "only {total} greedy tokens agreed over all prompts"
    );
}

/// The same seed gives the same text, on every run and thread count.
#[test]
fn seeded_sampling_is_reproducible_across_threads() {
    let Some(path) = model_path() else { return };
    let model = Model::open(&path).unwrap();
    let tok = model.tokenizer().unwrap();
    let prompt = tok.encode("Once upon a time", true).unwrap();
    let run = |threads: usize| {
        let mut s = session(&model, 64, threads);
        let sp = SamplerParams {
            temperature: 0.9,
            top_k: 40,
            top_p: 0.95,
            seed: 1234,
            ..Default::default()
        };
        let mut sampler = Sampler::new(sp, model.config.vocab_size).unwrap();
        let gp = minke::GenerateParams {
            max_tokens: 24,
            stop: vec![],
            stop_at_eos: false,
            ..Default::default()
        };
        minke::generate(&mut s, tok, &mut sampler, &prompt, &gp, |_| true)
            .unwrap()
            .tokens
    };
    let one = run(1);
    assert_eq!(one, run(1));
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));
}

/// Perplexity as llama-perplexity computes it, within 1% of the reference.
/// `MINKE_PPL_CHUNKS=N` scores only the first N of the reference's 22
/// chunks, against its figure for those chunks (from its per-chunk sums):
/// `scripts/test.sh` uses it under qemu-user, where all 22 take minutes.
#[test]
fn perplexity_matches_the_reference() {
    let Some(path) = model_path() else { return };
    let model = Model::open(&path).unwrap();
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("ppl.json")).unwrap()).unwrap();
    let t: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("ppl_tokens.json")).unwrap())
            .unwrap();
    let mut tokens: Vec<u32> = t["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    let n_ctx = r["n_ctx"].as_u64().unwrap() as usize;
    let all_chunks = r["n_chunks"].as_u64().unwrap() as usize;
    let chunks = match std::env::var("MINKE_PPL_CHUNKS") {
        Ok(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=all_chunks).contains(n))
            .unwrap_or_else(|| panic!("MINKE_PPL_CHUNKS={v:?}: expected 1..={all_chunks}")),
        Err(_) => all_chunks,
    };
    tokens.truncate(chunks * n_ctx);
    let mut s = session(&model, n_ctx, 2);
    let ours = minke::score::perplexity(&mut s, &tokens, n_ctx, None, |_, _, _| {}).unwrap();
    let refs = r.get("llama_cpp").unwrap_or(&r["transformers"]);
    let sums: Vec<f64> = refs["chunk_nll_sums"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(sums.len(), all_chunks);
    let per_chunk = r["scored_per_chunk"].as_u64().unwrap() as f64;
    let reference = (sums[..chunks].iter().sum::<f64>() / (per_chunk * chunks as f64)).exp();
    if chunks == all_chunks {
        // The sums give the reference's own figure.
        assert!((reference / refs["ppl"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    }
    eprintln!(
        "PPL minke {:.4} vs reference {reference:.4} ({} tokens, {} of {all_chunks} chunks)",
        ours.ppl, ours.count, ours.chunks
    );
    assert_eq!(ours.chunks, chunks);
    assert!(
        (ours.ppl / reference - 1.0).abs() < 0.01,
        "PPL {} vs {reference}",
        ours.ppl
    );
}

/// A Q8_0 KV cache keeps the perplexity within 0.5% of f16's. On this
/// 135M model with int8 activations any change of rounding moves a
/// perplexity by a few tenths of a percent either way (f32 against f16
/// does, by -0.4 to +0.3% over these contexts; so does the kernel set), so
/// one context alone is noise of that size: the bound is on the whole
/// text read at 256 and 512 tokens (5600 tokens scored), each context held
/// to 1%. Measured: +0.10% and +0.39%, +0.24% in all (and +0.25% at
/// 1024). llama.cpp's own Q8_0 cache on the same file and text: -0.13% at
/// 512, +0.32% at 2048 (benches/peers/llama_ppl.py).
#[test]
fn a_q8_0_cache_keeps_the_perplexity() {
    let Some(path) = model_path() else { return };
    let model = Model::open(&path).unwrap();
    let t: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("ppl_tokens.json")).unwrap())
            .unwrap();
    let tokens: Vec<u32> = t["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    // (sum of -log p, tokens scored) per cache type.
    let mut total = [(0f64, 0usize); 2];
    for n_ctx in [256, 512] {
        let mut ppl = [0f64; 2];
        for (i, kv) in [KvType::F16, KvType::Q8_0].into_iter().enumerate() {
            let p = SessionParams {
                n_ctx,
                n_threads: 2,
                kv_type: kv,
                n_batch: n_ctx,
                logits_all: true,
                allow_long_context: false,
            };
            let mut s = Session::new(&model, p).unwrap();
            let r = minke::score::perplexity(&mut s, &tokens, n_ctx, None, |_, _, _| {}).unwrap();
            ppl[i] = r.ppl;
            total[i].0 += r.ppl.ln() * r.count as f64;
            total[i].1 += r.count;
        }
        let rel = ppl[1] / ppl[0] - 1.0;
        eprintln!(
            "n_ctx {n_ctx}: PPL f16 {:.4}, q8_0 {:.4} ({:+.2}%)",
            ppl[0],
            ppl[1],
            100.0 * rel
        );
        assert!(rel.abs() < 0.01, "n_ctx {n_ctx}: q8_0 {:+.2}%", 100.0 * rel);
    }
    let [f16, q8] = total.map(|(nll, n)| (nll / n as f64).exp());
    let rel = q8 / f16 - 1.0;
    eprintln!(
        "all {} tokens: PPL f16 {f16:.4}, q8_0 {q8:.4} ({:+.2}%)",
        total[0].1,
        100.0 * rel
    );
    assert!(rel.abs() < 0.005, "q8_0 {:+.2}% from f16", 100.0 * rel);
}

/// A context shift on the real model: a 32-token prefix kept, 384 tokens
/// of text dropped, the 256 after them moved down; then the next 64
/// tokens of the text are read, and their predictions compared with a
/// session that ran only the kept tokens (prefix, the 256, the 64). They
/// differ for real, the moved tokens remembering the dropped text in
/// every layer above the first (the exact comparison is the one-layer
/// test of `context_shift.rs`), but stay close. Measured: mean KL 0.049 /
/// 0.052 / 0.049 and top-1 agreement 94 / 91 / 95% with f32 / f16 / q8_0
/// caches; keys rotated the wrong way (by +384) give KL 2.5 and 30%, and
/// keys left at their old positions KL 1.2 and 33%.
#[test]
fn a_context_shift_stays_close_to_rereading() {
    let Some(path) = model_path() else { return };
    let model = Model::open(&path).unwrap();
    let t: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("ppl_tokens.json")).unwrap())
            .unwrap();
    let ids: Vec<u32> = t["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    let (keep, drop, rest, next) = (32, 384, 256, 64);
    let prefix = &ids[..keep];
    let dropped = &ids[keep..keep + drop];
    let moved = &ids[keep + drop..keep + drop + rest];
    let read = &ids[keep + drop + rest..keep + drop + rest + next];
    let vocab = model.config.vocab_size;
    for kv in KvType::ALL {
        let p = SessionParams {
            n_ctx: 1024,
            n_threads: 2,
            kv_type: kv,
            n_batch: 64,
            logits_all: true,
            allow_long_context: false,
        };
        let logits_after = |s: &mut Session<'_>| {
            let mut out = Vec::new();
            s.prefill_each(read, |_, l| out.extend_from_slice(l))
                .unwrap();
            out
        };
        let mut a = Session::new(&model, p.clone()).unwrap();
        a.prefill(&[prefix, dropped, moved].concat()).unwrap();
        a.shift(keep, drop).unwrap();
        assert_eq!(a.pos(), keep + rest);
        let shifted = logits_after(&mut a);
        let mut b = Session::new(&model, p).unwrap();
        b.prefill(&[prefix, moved].concat()).unwrap();
        let reread = logits_after(&mut b);
        let (kl, top1) = kl_and_top1(&reread, &shifted, vocab);
        eprintln!(
            "{kv}: shifted vs re-read: mean KL {kl:.4}, top-1 {:.1}%",
            top1 * 100.0
        );
        assert!(kl < 0.15 && top1 >= 0.85, "{kv}: KL {kl}, top-1 {top1}");
    }
}

/// `minke quantize` of the GGUF with its formats kept (`--type auto`)
/// writes every matrix interleaved (q4_1x16, the tied q8_0 head as
/// q8_0x16), the same numbers regrouped: it meets the same accuracy bounds
/// as the GGUF, teacher-forced and greedy.
#[test]
fn the_interleaved_conversion_is_as_accurate() {
    let Some(path) = model_path() else { return };
    let dir = std::env::temp_dir().join(format!("minke-real-x16-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("smollm2-x16.minke");
    minke::quantize::quantize_with_lora(&path, &out, None, true, None, |_, _| {}).unwrap();
    let model = Model::open(&out).unwrap();
    let gguf = Model::open(&path).unwrap();
    for name in model.tensors().names() {
        let (t, g) = (
            model.tensors().get(name).unwrap(),
            gguf.tensors().get(name).unwrap(),
        );
        assert_eq!(t.dtype.plain(), g.dtype, "{name}: format kept");
        if t.shape.len() == 2 {
            assert!(t.dtype.row_group() > 1, "{name} {:?} in rows", t.shape);
        }
    }
    drop(gguf);
    teacher_forced(&model);
    greedy_follows(&model);
    drop(model);
    let _ = std::fs::remove_dir_all(&dir);
}

/// With the weights expanded to f32 (`minke quantize --type f32`), minke's
/// arithmetic is transformers' (which dequantizes the GGUF to f32): the GGUF
/// tensor mapping, the interleaved RoPE of llama.cpp's q/k layout and the
/// tied head are exactly right, and all differences above come from int8
/// activations. What is left is f32 summation order: the largest logit
/// difference is 4.2e-5 with the AVX-512 kernels, 4.1e-5 with AVX2,
/// 4.2e-5 with NEON (aarch64, under qemu) and 8.2e-5 with the scalar ones
/// (`MINKE_ISA`); the bound is 1e-4, as the README says.
#[test]
fn f32_expansion_reproduces_transformers() {
    let Some(path) = model_path() else { return };
    let dir = std::env::temp_dir().join(format!("minke-real-f32-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("smollm2-f32.minke");
    minke::quantize::quantize(&path, &out, minke::quant::DType::F32, |_, _| {}).unwrap();
    let model = Model::open(&out).unwrap();
    // The GGUF's tokenizer travels inside the .minke file.
    let text = "Hello, world 123 — 你好";
    let gguf = Model::open(&path).unwrap();
    assert_eq!(
        model.tokenizer().unwrap().encode(text, true).unwrap(),
        gguf.tokenizer().unwrap().encode(text, true).unwrap()
    );
    drop(gguf);
    let bytes = std::fs::read(fixture("ref_english.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let tokens: Vec<u32> = tensor::<i32>(&st, "tokens")
        .into_iter()
        .map(|t| t as u32)
        .collect();
    let want: Vec<f32> = tensor(&st, "logits_head");
    let v = model.config.vocab_size;
    let rows = want.len() / v;
    let mut s = session(&model, rows, 2);
    let mut worst = 0f32;
    s.prefill_each(&tokens[..rows], |i, logits| {
        for (a, b) in logits.iter().zip(&want[i * v..(i + 1) * v]) {
            worst = worst.max((a - b).abs());
        }
    })
    .unwrap();
    drop(s);
    drop(model);
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("f32 expansion: max |Δlogit| {worst:.2e}");
    assert!(worst < 1e-4, "max |Δlogit| = {worst}");
}

/// Best-of-N: N seeded answers, each scored by the policy's mean log-prob,
/// returned best first; each score is what teacher-forced scoring of the
/// same answer gives, and the ranking is reproducible.
#[test]
fn best_of_n_ranks_by_the_policys_own_log_probs() {
    let Some(path) = model_path() else { return };
    let model = Model::open(&path).unwrap();
    let tok = model.tokenizer().unwrap();
    let prompt = tok.encode("The best thing about the sea is", true).unwrap();
    let sp = SamplerParams {
        temperature: 1.0,
        top_k: 50,
        seed: 7,
        ..Default::default()
    };
    let gp = minke::GenerateParams {
        max_tokens: 12,
        stop: vec![],
        stop_at_eos: false,
        ..Default::default()
    };
    let mut s = session(&model, 64, 2);
    let ranked =
        minke::best_of_n(&mut s, tok, &prompt, 4, &sp, &gp, |g| Ok(g.mean_logprob())).unwrap();
    assert_eq!(ranked.len(), 4);
    let mut seeds: Vec<u64> = ranked.iter().map(|c| c.seed).collect();
    seeds.sort();
    assert_eq!(seeds, [7, 8, 9, 10]);
    assert!(ranked.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(
        ranked[0].tokens != ranked[3].tokens,
        "different seeds give different answers"
    );
    // Teacher-forced scoring runs the answer as one batch, generation one
    // token at a time: the two sum in different orders (kernels'
    // `gemm_min_tokens`), and with int8 activations a last-bit difference
    // can flip a rounding, so each token's log-prob moves by about int8's
    // own distance from f32 (0.06 nat, `continuation_scores_follow_
    // transformers`); means of 12 tokens were seen 0.01-0.04 apart.
    for c in &ranked {
        let r = minke::score::score_continuation(&mut s, &prompt, &c.tokens).unwrap();
        assert!(
            (r.mean() - c.score).abs() < 0.1,
            "seed {}: {} vs {}",
            c.seed,
            r.mean(),
            c.score
        );
    }
    let mut s2 = session(&model, 64, 1);
    let again =
        minke::best_of_n(&mut s2, tok, &prompt, 4, &sp, &gp, |g| Ok(g.mean_logprob())).unwrap();
    assert_eq!(
        ranked.iter().map(|c| &c.tokens).collect::<Vec<_>>(),
        again.iter().map(|c| &c.tokens).collect::<Vec<_>>()
    );
}

/// Continuation scores on the real model against transformers' log-probs
/// of each next token of the English text (int8 activations: about 0.06
/// nat per token on average, 0.1% on the total).
#[test]
fn continuation_scores_follow_transformers() {
    let Some(path) = model_path() else { return };
    let model = Model::open(&path).unwrap();
    let bytes = std::fs::read(fixture("ref_english.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let tokens: Vec<u32> = tensor::<i32>(&st, "tokens")
        .into_iter()
        .map(|t| t as u32)
        .collect();
    let want: Vec<f32> = tensor(&st, "next_logprobs");
    let mut s = session(&model, tokens.len(), 2);
    let got = minke::score::score_continuation(&mut s, &tokens[..1], &tokens[1..]).unwrap();
    let mean_abs: f64 = got
        .token_logprobs
        .iter()
        .zip(&want)
        .map(|(a, &b)| (a - b as f64).abs())
        .sum::<f64>()
        / want.len() as f64;
    let want_total: f64 = want.iter().map(|&x| x as f64).sum();
    eprintln!(
        "total log-prob minke {:.2} vs transformers {want_total:.2}; mean |Δ| {mean_abs:.4}",
        got.total
    );
    assert!(mean_abs < 0.1, "mean |Δ logprob| = {mean_abs}");
    assert!((got.total / want_total - 1.0).abs() < 0.01);
}
