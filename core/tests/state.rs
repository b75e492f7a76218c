//! Session state: saved and restored bit for bit (the prompt cache of an
//! app), refused whole when it does not belong; the abort callback; the
//! logits of any position a session holds.

mod common;

use common::*;
use minke::lora::LoraAdapter;
use minke::{Error, KvType, Model, Session, SessionParams};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn p(n_ctx: usize, kv: KvType) -> SessionParams {
    SessionParams {
        n_ctx,
        n_threads: 2,
        kv_type: kv,
        n_batch: 8,
        logits_all: false,
        allow_long_context: false,
    }
}

fn toks(n: usize, vocab: usize, seed: u64) -> Vec<u32> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| (r.next_u64() % vocab as u64) as u32)
        .collect()
}

/// Logits after each of `next`, decoded one at a time.
fn continue_with(s: &mut Session<'_>, next: &[u32]) -> Vec<Vec<f32>> {
    next.iter()
        .map(|&t| s.decode(t).unwrap().to_vec())
        .collect()
}

#[test]
fn a_restored_session_continues_bit_for_bit() {
    for case in ["llama_gqa", "qwen2", "deepseek_v2", "deepseek_v3"] {
        let model = Model::open(fixture(case)).unwrap();
        let v = model.config.vocab_size;
        for kv in KvType::ALL {
            let prompt = toks(21, v, 1);
            let next = toks(6, v, 2);
            let mut a = Session::new(&model, p(48, kv)).unwrap();
            a.prefill(&prompt).unwrap();
            let saved = a.state();
            assert_eq!(saved.len(), a.state_size(), "{case}");
            let logits = a.logits().to_vec();
            let want = continue_with(&mut a, &next);

            // Another session, with a longer context and other threads.
            let mut b = Session::new(
                &model,
                SessionParams {
                    n_threads: 1,
                    ..p(64, kv)
                },
            )
            .unwrap();
            b.prefill(&toks(5, v, 9)).unwrap();
            b.restore_state(&saved).unwrap();
            assert_eq!(b.pos(), prompt.len());
            assert_eq!(b.tokens(), &prompt[..]);
            assert_eq!(b.logits(), &logits[..], "{case} {kv:?}: restored logits");
            assert_eq!(continue_with(&mut b, &next), want, "{case} {kv:?}");

            // The first session, rewound past the prompt, restored again.
            a.rewind(3).unwrap();
            a.restore_state(&saved).unwrap();
            assert_eq!(continue_with(&mut a, &next), want, "{case} {kv:?} again");
        }
    }
}

#[test]
fn an_empty_session_round_trips() {
    let model = Model::open(fixture("llama_gqa")).unwrap();
    let s = Session::new(&model, p(16, KvType::F16)).unwrap();
    let saved = s.state();
    let mut t = Session::new(&model, p(16, KvType::F16)).unwrap();
    t.prefill(&[1, 2, 3]).unwrap();
    t.restore_state(&saved).unwrap();
    assert_eq!(t.pos(), 0);
    assert!(t.tokens().is_empty());
    assert!(t.logits_positions().is_empty());
}

#[test]
fn a_prompt_processed_once_serves_many_sessions() {
    // f32 weights: every kernel set is chunking-invariant for them, so a
    // restored prefix plus a suffix equals one fresh prefill bit for bit.
    let model = Model::open(fixture("llama_gqa")).unwrap();
    let v = model.config.vocab_size;
    let system = toks(30, v, 3);
    let mut s = Session::new(&model, p(64, KvType::F16)).unwrap();
    s.prefill(&system).unwrap();
    let cache = s.state();
    for seed in 0..3 {
        let user = toks(7, v, 10 + seed);
        let mut restored = Session::new(&model, p(64, KvType::F16)).unwrap();
        restored.restore_state(&cache).unwrap();
        let got = restored.prefill(&user).unwrap().to_vec();
        let mut fresh = Session::new(&model, p(64, KvType::F16)).unwrap();
        let all: Vec<u32> = system.iter().chain(&user).copied().collect();
        assert_eq!(fresh.prefill(&all).unwrap(), &got[..], "user turn {seed}");
    }
}

/// The error of restoring `data` into `s`, which must leave `s` as it was.
fn refused(s: &mut Session<'_>, data: &[u8]) -> String {
    let (pos, tokens, logits) = (s.pos(), s.tokens().to_vec(), s.logits().to_vec());
    let e = s.restore_state(data).unwrap_err();
    assert!(matches!(e, Error::State(_)), "{e:?}");
    assert_eq!(
        (s.pos(), s.tokens(), s.logits()),
        (pos, &tokens[..], &logits[..])
    );
    e.to_string()
}

#[test]
fn states_that_do_not_belong_are_refused_whole() {
    let tmp = TempDir::new("state-refused");
    let model = Model::open(fixture("llama_gqa")).unwrap();
    let v = model.config.vocab_size;
    let mut a = Session::new(&model, p(48, KvType::F16)).unwrap();
    a.prefill(&toks(20, v, 4)).unwrap();
    let saved = a.state();
    let mut s = Session::new(&model, p(48, KvType::F16)).unwrap();
    s.prefill(&toks(4, v, 5)).unwrap();

    // Truncated anywhere, damaged anywhere.
    for cut in [0, 7, 55, 64, saved.len() / 2, saved.len() - 1] {
        let m = refused(&mut s, &saved[..cut]);
        assert!(
            m.contains("short") || m.contains("truncated"),
            "cut {cut}: {m}"
        );
    }
    for at in [60, saved.len() / 3, saved.len() - 9] {
        let mut bad = saved.clone();
        bad[at] ^= 0x10;
        assert!(refused(&mut s, &bad).contains("checksum"), "byte {at}");
    }
    let mut longer = saved.clone();
    longer.push(0);
    assert!(refused(&mut s, &longer).contains("add up"));
    let mut version = saved.clone();
    version[8] = 2;
    assert!(refused(&mut s, &version).contains("version 2"));
    assert!(refused(
        &mut s,
        b"GGUF and then some bytes of another file.........................."
    )
    .contains("magic"));

    // Another model of the same shapes (other weights).
    let other_path = tmp.path("other.minke");
    write_random(&other_path, &tiny_config(), 77);
    let other = Model::open(&other_path).unwrap();
    let mut o = Session::new(&other, p(48, KvType::F16)).unwrap();
    assert!(refused(&mut o, &saved).contains("another model"));

    // Another cache type; a context too short for it.
    let mut f32s = Session::new(&model, p(48, KvType::F32)).unwrap();
    assert!(refused(&mut f32s, &saved).contains("F16 KV cache"));
    let mut short = Session::new(&model, p(16, KvType::F16)).unwrap();
    assert!(refused(&mut short, &saved).contains("20 tokens"));
}

#[test]
fn a_state_is_tied_to_the_adapter_it_was_made_with() {
    let lora = fixture("llama_lora");
    let model = Model::open(lora.join("base")).unwrap();
    let adapter = Arc::new(LoraAdapter::open(lora.join("adapter")).unwrap());
    let v = model.config.vocab_size;
    let mut a = Session::new(&model, p(32, KvType::F32)).unwrap();
    a.set_adapter(Some(adapter.clone()), 1.0).unwrap();
    a.prefill(&toks(9, v, 6)).unwrap();
    let saved = a.state();
    let mut plain = Session::new(&model, p(32, KvType::F32)).unwrap();
    assert!(refused(&mut plain, &saved).contains("adapter"));
    let mut half = Session::new(&model, p(32, KvType::F32)).unwrap();
    half.set_adapter(Some(adapter.clone()), 0.5).unwrap();
    assert!(refused(&mut half, &saved).contains("adapter"));
    let mut same = Session::new(&model, p(32, KvType::F32)).unwrap();
    same.set_adapter(Some(adapter), 1.0).unwrap();
    same.restore_state(&saved).unwrap();
    assert_eq!(same.logits(), a.logits());
}

#[test]
fn state_files_round_trip_and_bad_files_are_named() {
    let tmp = TempDir::new("state-file");
    let model = Model::open(fixture("deepseek_v2")).unwrap();
    let v = model.config.vocab_size;
    let mut a = Session::new(&model, p(32, KvType::F16)).unwrap();
    a.prefill(&toks(12, v, 7)).unwrap();
    let file = tmp.path("chat.state");
    a.save_state_file(&file).unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), a.state());
    let mut b = Session::new(&model, p(32, KvType::F16)).unwrap();
    b.load_state_file(&file).unwrap();
    assert_eq!(b.logits(), a.logits());
    assert_eq!(b.decode(3).unwrap(), a.decode(3).unwrap());

    let missing = b.load_state_file(tmp.path("none.state")).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing}");
    // A file longer than any state of the session is not even read.
    let big = tmp.path("big.state");
    std::fs::write(&big, vec![0u8; 1 << 20]).unwrap();
    let e = b.load_state_file(&big).unwrap_err().to_string();
    assert!(e.contains("more than any state"), "{e}");
    let cut = tmp.path("cut.state");
    std::fs::write(&cut, &a.state()[..100]).unwrap();
    let e = b.load_state_file(&cut).unwrap_err().to_string();
    assert!(e.contains("cut.state") && e.contains("truncated"), "{e}");
}

#[test]
fn the_abort_callback_stops_between_layers_and_keeps_whole_batches() {
    let model = Model::open(fixture("llama_gqa")).unwrap();
    let v = model.config.vocab_size;
    let prompt = toks(40, v, 8);
    let layers = model.config.n_layers;
    let mut s = Session::new(&model, p(64, KvType::F32)).unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let a = asked.clone();
    // Stop in the middle of the third batch of 8.
    let stop_at = 2 * layers + 1;
    s.set_abort_callback(Some(Box::new(move || {
        a.fetch_add(1, Ordering::Relaxed) == stop_at
    })));
    let e = s.prefill(&prompt).unwrap_err();
    assert!(matches!(e, Error::Aborted(_)), "{e}");
    assert_eq!(asked.load(Ordering::Relaxed), stop_at + 1);
    assert_eq!(s.pos(), 16, "two whole batches kept");
    assert_eq!(s.tokens(), &prompt[..16]);

    // Going on from there gives what one uninterrupted prefill gives.
    s.set_abort_callback(None);
    let got = s.prefill(&prompt[16..]).unwrap().to_vec();
    let mut fresh = Session::new(&model, p(64, KvType::F32)).unwrap();
    assert_eq!(fresh.prefill(&prompt).unwrap(), &got[..]);

    // Asked before every layer of a decode too.
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    s.set_abort_callback(Some(Box::new(move || {
        c.fetch_add(1, Ordering::Relaxed);
        false
    })));
    s.decode(1).unwrap();
    assert_eq!(n.load(Ordering::Relaxed), layers);
}

#[test]
fn logits_of_every_held_position_can_be_read() {
    let model = Model::open(fixture("qwen2")).unwrap();
    let v = model.config.vocab_size;
    let t = toks(6, v, 12);
    let mut all = Session::new(
        &model,
        SessionParams {
            logits_all: true,
            ..p(32, KvType::F32)
        },
    )
    .unwrap();
    let mut each = Vec::new();
    {
        let mut s = Session::new(
            &model,
            SessionParams {
                logits_all: true,
                ..p(32, KvType::F32)
            },
        )
        .unwrap();
        s.prefill_each(&t, |_, l| each.push(l.to_vec())).unwrap();
    }
    all.prefill(&t).unwrap();
    assert_eq!(all.logits_positions(), 0..6);
    for (i, want) in each.iter().enumerate() {
        assert_eq!(all.logits_at(i).unwrap(), &want[..], "position {i}");
    }
    assert!(all.logits_at(6).is_none());
    assert_eq!(all.logits_at(5).unwrap(), all.logits());

    // Without logits_all only the last; after a rewind none.
    let mut last = Session::new(&model, p(32, KvType::F32)).unwrap();
    last.prefill(&t).unwrap();
    assert_eq!(last.logits_positions(), 5..6);
    assert!(last.logits_at(4).is_none());
    last.rewind(2).unwrap();
    assert!(last.logits_positions().is_empty());
}

#[test]
fn a_shift_keeps_the_tokens_held_in_step_and_saves() {
    let model = Model::open(fixture("llama_gqa")).unwrap();
    let v = model.config.vocab_size;
    let t = toks(20, v, 13);
    let mut s = Session::new(&model, p(32, KvType::F16)).unwrap();
    s.prefill(&t).unwrap();
    s.shift(4, 6).unwrap();
    let want: Vec<u32> = t[..4].iter().chain(&t[10..]).copied().collect();
    assert_eq!(s.tokens(), &want[..]);
    assert_eq!(s.pos(), 14);
    assert_eq!(s.logits_positions(), 13..14);
    // A shifted session saves and restores like any other.
    let saved = s.state();
    let mut r = Session::new(&model, p(32, KvType::F16)).unwrap();
    r.restore_state(&saved).unwrap();
    assert_eq!(r.tokens(), &want[..]);
    assert_eq!(r.decode(5).unwrap(), s.decode(5).unwrap());
}
