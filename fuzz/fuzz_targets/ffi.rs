//! The C entry points with arbitrary arguments, as a C program would call
//! them: params structs with any field values and any `size`, token ids in
//! and out of range, rewinds, context shifts and speculative decoding
//! anywhere, stop strings and texts that are not UTF-8, buffers too small,
//! callbacks that stop early or score NaN. The model is the `llama_lora` fixture's base (2 layers,
//! hidden 64, vocab 256) with SmolLM2's tokenizer, opened once; each
//! execution makes and frees its own session and sampler.
//!
//! Every call must return a status; `MINKE_ERR_INTERNAL` (a panic caught at
//! the boundary) fails the run, as does a panic itself (libFuzzer aborts on
//! any panic).
//!
//! Input: structured (`arbitrary`): session and sampler params, then up to
//! 24 calls.
//!
//! Sizes are clamped (`clamp_session`, `clamp_sampler` and
//! `Call::Generate`/`BestOfN`) to keep executions fast and under
//! libFuzzer's malloc limit: minke's own caps (`core/tests/limits.rs`,
//! `test_misuse.c`) allow sessions of several GiB, lazily zeroed, which
//! the limit would report as out-of-memory. The clamps date from before
//! those caps; loosen them with `-malloc_limit_mb` raised.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use minke_c::status::minke_status;
use minke_c::*;
use std::ffi::{c_char, c_void, CString};
use std::path::PathBuf;

/// A model handle opened once for the process (never freed).
struct Fixture(*mut minke_model, *const minke_tokenizer, *mut minke_lora);

/// The model folder: the base of `llama_lora` with SmolLM2's tokenizer
/// files beside it, linked into a scratch folder.
fn model_dir() -> PathBuf {
    let fx = minke_fuzz::fixtures();
    let d = minke_fuzz::scratch_dir("ffi").join("model");
    std::fs::create_dir_all(&d).expect("model folder");
    for (from, name) in [
        (fx.join("llama_lora/base/config.json"), "config.json"),
        (
            fx.join("llama_lora/base/model.safetensors"),
            "model.safetensors",
        ),
        (
            fx.join("tokenizer/smollm2/tokenizer.json"),
            "tokenizer.json",
        ),
        (
            fx.join("tokenizer/smollm2/tokenizer_config.json"),
            "tokenizer_config.json",
        ),
    ] {
        let to = d.join(name);
        let _ = std::fs::remove_file(&to);
        std::os::unix::fs::symlink(&from, &to).expect("fixture link");
    }
    d
}

fn ok(s: minke_status) -> bool {
    assert_ne!(
        s,
        minke_status::MINKE_ERR_INTERNAL,
        "a panic was caught at the C boundary: {:?}",
        // SAFETY: minke_last_error() never returns NULL; its string lives
        // until the next failing call on this thread.
        unsafe { std::ffi::CStr::from_ptr(minke_c::boundary::minke_last_error()) }
    );
    s == minke_status::MINKE_OK
}

thread_local! {
    static FIXTURE: Fixture = {
        let dir = CString::new(model_dir().to_str().expect("UTF-8 path")).expect("no NUL");
        let p = minke_model_params {
            n_threads: 1,
            ..Default::default()
        };
        let mut m = std::ptr::null_mut();
        // SAFETY: a NUL-terminated path, a filled params struct and a place
        // for the handle, all live for the call.
        assert!(ok(unsafe { model::minke_model_open(dir.as_ptr(), &p, &mut m) }));
        let mut t = std::ptr::null();
        // SAFETY: a live model and a place for the borrowed tokenizer.
        assert!(ok(unsafe { model::minke_model_tokenizer(m, &mut t) }));
        let adapter = minke_fuzz::fixtures().join("llama_lora/adapter");
        let adapter = CString::new(adapter.to_str().expect("UTF-8 path")).expect("no NUL");
        let mut l = std::ptr::null_mut();
        // SAFETY: a NUL-terminated path and a place for the handle.
        assert!(ok(unsafe { lora::minke_lora_open(adapter.as_ptr(), &mut l) }));
        Fixture(m, t, l)
    };
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct SessionP {
    size: Option<u32>,
    n_ctx: u32,
    n_threads: u32,
    n_batch: u32,
    kv_type: u32,
    logits_all: bool,
    flags: u32,
}

impl SessionP {
    fn c(self) -> minke_session_params {
        minke_session_params {
            size: self
                .size
                .unwrap_or(std::mem::size_of::<minke_session_params>() as u32),
            n_ctx: self.n_ctx,
            n_threads: self.n_threads,
            n_batch: self.n_batch,
            kv_type: self.kv_type,
            logits_all: self.logits_all,
            flags: self.flags,
        }
    }
}

/// Session sizes a session is made with, clamped (see the module notes);
/// 0 is kept, it is an error. `minke_session_bytes` and
/// `minke_session_max_ctx` get the values unclamped: they only compute.
fn clamp_session(mut p: minke_session_params) -> minke_session_params {
    p.n_ctx %= 97;
    p.n_batch %= 33;
    p.n_threads %= 4;
    p
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct SamplerP {
    size: Option<u32>,
    temperature: f32,
    top_k: u32,
    top_p: f32,
    min_p: f32,
    repeat_penalty: f32,
    frequency_penalty: f32,
    presence_penalty: f32,
    penalty_last_n: u32,
    seed: u64,
}

impl SamplerP {
    /// Clamped until issue 19's cap on the penalty window lands (a huge
    /// `penalty_last_n` reserves that many slots and aborts today).
    fn c(self) -> minke_sampler_params {
        minke_sampler_params {
            size: self
                .size
                .unwrap_or(std::mem::size_of::<minke_sampler_params>() as u32),
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            frequency_penalty: self.frequency_penalty,
            presence_penalty: self.presence_penalty,
            penalty_last_n: self.penalty_last_n % 4096,
            seed: self.seed,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct GenerateP {
    size: Option<u32>,
    max_tokens: u8,
    stop: Vec<Vec<u8>>,
    stop_at_eos: bool,
    result_size: Option<u32>,
    /// The callback stops generation after this many pieces (None: no
    /// callback).
    cancel_after: Option<u8>,
    /// A context shift keeping this many positions.
    shift_keep: Option<u8>,
    /// Speculative decoding by prompt lookup guessing this many tokens a
    /// step, modulo 36: 0 is off, 33 to 35 are refused.
    n_draft: u8,
}

#[derive(Arbitrary, Debug)]
enum Call {
    Prefill(Vec<u16>),
    Decode(u16),
    Rewind(u8),
    Shift(u8, u8),
    Logits,
    SampleLogits {
        short: bool,
    },
    Accept(u16),
    Reset,
    Generate(Vec<u16>, GenerateP),
    BestOfN {
        prompt: Vec<u16>,
        n: u8,
        sampler: SamplerP,
        gen: GenerateP,
        score: Option<f64>,
    },
    Score(Vec<u16>, Vec<u16>),
    Reward(Vec<u16>, u8),
    SetAdapter(Option<f32>),
    Bytes(SessionP),
    MaxCtx(SessionP, u64),
    Encode {
        text: Vec<u8>,
        special: bool,
        capacity: u16,
    },
    DecodeText {
        ids: Vec<u32>,
        size: u16,
    },
    Piece {
        id: u32,
        size: u8,
    },
    TokenToId(Vec<u8>),
    Getters(u32),
    /// The session's own state, damaged at some bytes and maybe cut, set
    /// back; or arbitrary bytes. The sampler's state likewise.
    SessionState(StateEdit),
    SamplerState(StateEdit),
    LogitsAt(u16),
    Tokens(u16),
}

#[derive(Arbitrary, Debug)]
struct StateEdit {
    /// `(offset, xor)` changes to the saved bytes.
    flips: Vec<(u32, u8)>,
    cut: Option<u32>,
    /// Use these bytes instead of a saved state.
    raw: Option<Vec<u8>>,
}

impl StateEdit {
    /// The bytes to restore: `saved` edited, or the raw bytes. Whether
    /// they are `saved` unchanged.
    fn apply(&self, mut saved: Vec<u8>) -> (Vec<u8>, bool) {
        if let Some(raw) = &self.raw {
            return (raw.clone(), false);
        }
        let mut same = true;
        for &(at, x) in self.flips.iter().take(8) {
            let len = saved.len().max(1);
            if let Some(b) = saved.get_mut(at as usize % len) {
                *b ^= x;
                same &= x == 0;
            }
        }
        if let Some(c) = self.cut {
            let c = c as usize % (saved.len() + 1);
            same &= c == saved.len();
            saved.truncate(c);
        }
        (saved, same)
    }
}

/// `v` as ids: most in range, some just past it.
fn ids(v: &[u16]) -> Vec<u32> {
    v.iter().map(|&t| u32::from(t) % 264).collect()
}

/// A NUL-terminated copy of `b`, cut at its first NUL.
fn c_string(b: &[u8]) -> CString {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    CString::new(&b[..end]).expect("cut at the first NUL")
}

/// Counts pieces; stops at `limit`.
struct Pieces {
    n: usize,
    limit: usize,
}

unsafe extern "C" fn on_piece(piece: *const c_char, len: usize, user: *mut c_void) -> bool {
    // SAFETY: minke passes `len` bytes and a NUL; `user` is our `Pieces`.
    let (bytes, p) = unsafe {
        (
            std::slice::from_raw_parts(piece.cast::<u8>(), len + 1),
            &mut *user.cast::<Pieces>(),
        )
    };
    assert_eq!(bytes[len], 0, "a piece without its NUL");
    p.n += 1;
    p.n < p.limit
}

unsafe extern "C" fn rank(
    text: *const c_char,
    len: usize,
    tokens: *const u32,
    n: usize,
    user: *mut c_void,
) -> f64 {
    // SAFETY: minke passes `len` bytes and a NUL, `n` ids; `user` is ours.
    let (bytes, toks, score) = unsafe {
        (
            std::slice::from_raw_parts(text.cast::<u8>(), len + 1),
            std::slice::from_raw_parts(tokens, n),
            *user.cast::<f64>(),
        )
    };
    assert_eq!(bytes[len], 0, "a text without its NUL");
    score + toks.len() as f64
}

/// The C strings of a generate call, alive while its params are used.
struct Stops {
    _strings: Vec<CString>,
    _ptrs: Vec<*const c_char>,
}

fn generate_params(g: &GenerateP) -> (minke_generate_params, Stops) {
    let strings: Vec<CString> = g.stop.iter().take(4).map(|s| c_string(s)).collect();
    let ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
    let p = minke_generate_params {
        size: g
            .size
            .unwrap_or(std::mem::size_of::<minke_generate_params>() as u32),
        // Clamped until issue 19's cap on `max_tokens` lands (a huge value
        // reserves that many slots and aborts today).
        max_tokens: u32::from(g.max_tokens % 17),
        stop: if ptrs.is_empty() {
            std::ptr::null()
        } else {
            ptrs.as_ptr()
        },
        n_stop: ptrs.len(),
        stop_at_eos: g.stop_at_eos,
        tokens: std::ptr::null_mut(),
        tokens_capacity: 0,
        n_keep: g.shift_keep.map_or(0, usize::from),
        context_shift: g.shift_keep.is_some(),
        n_draft: u32::from(g.n_draft % 36),
        // Prompt lookup: a draft model's session would cost every
        // execution a second session (test_speculative.c covers drafts).
        draft: std::ptr::null_mut(),
    };
    (
        p,
        Stops {
            _strings: strings,
            _ptrs: ptrs,
        },
    )
}

fn run(u: &mut Unstructured<'_>, fx: &Fixture) -> arbitrary::Result<()> {
    let (model, tok, adapter) = (fx.0, fx.1, fx.2);
    let sp = clamp_session(SessionP::arbitrary(u)?.c());
    let mut session = std::ptr::null_mut();
    // SAFETY: a live model, a params struct (any `size`: at most its own
    // bytes are read) and a place for the handle.
    if !ok(unsafe { session::minke_session_new(model, &sp, &mut session) }) {
        assert!(session.is_null());
        return Ok(());
    }
    let smp = SamplerP::arbitrary(u)?.c();
    let mut sampler = std::ptr::null_mut();
    // SAFETY: as above.
    ok(unsafe { sampler::minke_sampler_new(model, &smp, &mut sampler) });
    let r = calls(u, model, tok, adapter, session, sampler);
    // SAFETY: handles from the calls above (or NULL), freed once.
    unsafe {
        sampler::minke_sampler_free(sampler);
        session::minke_session_free(session);
    }
    r
}

fn calls(
    u: &mut Unstructured<'_>,
    model: *mut minke_model,
    tok: *const minke_tokenizer,
    adapter: *mut minke_lora,
    session: *mut minke_session,
    sampler: *mut minke_sampler,
) -> arbitrary::Result<()> {
    use minke_c::{generate as g, session as s};
    for _ in 0..24 {
        let call = Call::arbitrary(u)?;
        // SAFETY (every call below): live handles from `run`, slices and
        // buffers of the lengths passed, NUL-terminated strings.
        match call {
            Call::Prefill(t) => {
                let t = ids(&t);
                let mut l = std::ptr::null();
                ok(unsafe { s::minke_session_prefill(session, t.as_ptr(), t.len(), &mut l) });
            }
            Call::Decode(t) => {
                ok(unsafe { s::minke_session_decode(session, ids(&[t])[0], std::ptr::null_mut()) });
            }
            Call::Rewind(p) => {
                ok(unsafe { s::minke_session_rewind(session, u32::from(p)) });
            }
            Call::Shift(keep, discard) => {
                let (keep, discard) = (u32::from(keep), u32::from(discard));
                ok(unsafe { s::minke_session_shift(session, keep, discard) });
            }
            Call::Logits => {
                let (mut l, mut n) = (std::ptr::null(), 0usize);
                if ok(unsafe { s::minke_session_logits(session, &mut l, &mut n) }) {
                    assert_eq!(n, 256);
                    // SAFETY: `n` floats borrowed from the session.
                    let _ = unsafe { std::slice::from_raw_parts(l, n) }
                        .iter()
                        .sum::<f32>();
                }
            }
            Call::SampleLogits { short } => {
                let (mut l, mut n) = (std::ptr::null(), 0usize);
                if ok(unsafe { s::minke_session_logits(session, &mut l, &mut n) }) {
                    let n = if short { n - 1 } else { n };
                    let mut t = u32::MAX;
                    if ok(unsafe { sampler::minke_sampler_sample(sampler, l, n, &mut t) }) {
                        assert!(t < 256, "sampled {t}");
                    }
                }
            }
            Call::Accept(t) => {
                ok(unsafe { sampler::minke_sampler_accept(sampler, ids(&[t])[0]) });
            }
            Call::Reset => {
                ok(unsafe { sampler::minke_sampler_reset(sampler) });
            }
            Call::Generate(prompt, gp) => {
                let prompt = ids(&prompt);
                let (p, _stops) = generate_params(&gp);
                let mut res = minke_generate_result {
                    size: gp
                        .result_size
                        .unwrap_or(std::mem::size_of::<minke_generate_result>() as u32),
                    ..Default::default()
                };
                let mut pieces = Pieces {
                    n: 0,
                    limit: gp.cancel_after.map_or(usize::MAX, usize::from),
                };
                let cb: minke_piece_fn = gp.cancel_after.map(|_| on_piece as _);
                ok(unsafe {
                    g::minke_generate(
                        session,
                        sampler,
                        prompt.as_ptr(),
                        prompt.len(),
                        &p,
                        cb,
                        (&mut pieces as *mut Pieces).cast(),
                        &mut res,
                    )
                });
            }
            Call::BestOfN {
                prompt,
                n,
                sampler: smp,
                gen,
                score,
            } => {
                let prompt = ids(&prompt);
                let smp = smp.c();
                let (mut p, _stops) = generate_params(&gen);
                // Clamped until issue 19's caps on best-of-N's `n` and
                // `max_tokens` land.
                p.max_tokens %= 9;
                let mut user = score.unwrap_or(0.0);
                let rank_fn: minke_rank_fn = score.map(|_| rank as _);
                let mut cands = std::ptr::null_mut();
                if ok(unsafe {
                    best_of_n::minke_best_of_n(
                        session,
                        &smp,
                        &p,
                        prompt.as_ptr(),
                        prompt.len(),
                        u32::from(n % 4),
                        rank_fn,
                        (&mut user as *mut f64).cast(),
                        &mut cands,
                    )
                }) {
                    read_candidates(cands);
                }
                unsafe { best_of_n::minke_candidates_free(cands) };
            }
            Call::Score(prompt, cont) => {
                let (prompt, cont) = (ids(&prompt), ids(&cont));
                let mut lp = vec![0f64; cont.len()];
                let mut total = 0f64;
                ok(unsafe {
                    score::minke_session_score(
                        session,
                        prompt.as_ptr(),
                        prompt.len(),
                        cont.as_ptr(),
                        cont.len(),
                        lp.as_mut_ptr(),
                        &mut total,
                    )
                });
            }
            Call::Reward(t, cap) => {
                let t = ids(&t);
                let mut out = vec![0f32; usize::from(cap % 4)];
                let mut n = 0usize;
                ok(unsafe {
                    score::minke_session_reward(
                        session,
                        t.as_ptr(),
                        t.len(),
                        out.as_mut_ptr(),
                        out.len(),
                        &mut n,
                    )
                });
            }
            Call::SetAdapter(scale) => {
                let (l, scale) = match scale {
                    Some(x) => (adapter.cast_const(), x),
                    None => (std::ptr::null(), 1.0),
                };
                ok(unsafe { lora::minke_session_set_adapter(session, l, scale) });
            }
            Call::Bytes(p) => {
                let p = p.c();
                let mut b = 0u64;
                ok(unsafe { s::minke_session_bytes(model, &p, &mut b) });
            }
            Call::MaxCtx(p, budget) => {
                let p = p.c();
                let mut n = 0u32;
                ok(unsafe { s::minke_session_max_ctx(model, &p, budget, &mut n) });
            }
            Call::Encode {
                text,
                special,
                capacity,
            } => {
                let mut text = text;
                text.retain(|&b| b != 0);
                text.push(0);
                let mut out = vec![0u32; usize::from(capacity % 512)];
                let mut n = 0usize;
                let st = unsafe {
                    tokenizer::minke_tokenizer_encode(
                        tok,
                        text.as_ptr().cast(),
                        special,
                        out.as_mut_ptr(),
                        out.len(),
                        &mut n,
                    )
                };
                if ok(st) {
                    assert!(n <= out.len());
                }
            }
            Call::DecodeText { ids, size } => {
                let mut buf = vec![0u8; usize::from(size % 1024)];
                let mut n = 0usize;
                if ok(unsafe {
                    tokenizer::minke_tokenizer_decode(
                        tok,
                        ids.as_ptr(),
                        ids.len(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        &mut n,
                    )
                }) {
                    assert_eq!(buf[n], 0);
                }
            }
            Call::Piece { id, size } => {
                let mut buf = vec![0u8; usize::from(size)];
                let mut n = 0usize;
                ok(unsafe {
                    tokenizer::minke_tokenizer_token_to_piece(
                        tok,
                        id,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        &mut n,
                    )
                });
            }
            Call::TokenToId(piece) => {
                let mut piece = piece;
                piece.retain(|&b| b != 0);
                piece.push(0);
                let mut id = 0u32;
                ok(unsafe {
                    tokenizer::minke_tokenizer_token_to_id(tok, piece.as_ptr().cast(), &mut id)
                });
            }
            Call::Getters(id) => unsafe {
                let _ = tokenizer::minke_tokenizer_is_eog(tok, id);
                let _ = tokenizer::minke_tokenizer_is_special(tok, id);
                let _ = tokenizer::minke_tokenizer_n_vocab(tok);
                let _ = tokenizer::minke_tokenizer_bos(tok);
                let _ = tokenizer::minke_tokenizer_eos(tok);
                let _ = tokenizer::minke_tokenizer_pad(tok);
                let (mut p, mut n) = (std::ptr::null(), 0usize);
                ok(tokenizer::minke_tokenizer_eog_ids(tok, &mut p, &mut n));
                let _ = s::minke_session_pos(session);
                let _ = s::minke_session_n_ctx(session);
                let _ = s::minke_session_n_threads(session);
            },
            Call::SessionState(edit) => unsafe {
                use minke_c::state as st;
                let mut size = 0usize;
                if !ok(st::minke_session_state_size(session, &mut size)) {
                    continue; // no session: its NULL was refused
                }
                let mut saved = vec![0u8; size];
                let mut written = 0usize;
                assert!(ok(st::minke_session_state_get(
                    session,
                    saved.as_mut_ptr(),
                    size,
                    &mut written
                )));
                assert_eq!(written, size);
                let pos = s::minke_session_pos(session);
                let (bytes, same) = edit.apply(saved);
                let r = st::minke_session_state_set(session, bytes.as_ptr(), bytes.len());
                if same {
                    assert_eq!(r, minke_status::MINKE_OK, "its own state refused");
                } else if !ok(r) {
                    assert_eq!(r, minke_status::MINKE_ERR_STATE);
                    assert_eq!(
                        s::minke_session_pos(session),
                        pos,
                        "a refused state changed the session"
                    );
                }
            },
            Call::SamplerState(edit) => unsafe {
                let mut size = 0usize;
                if !ok(sampler::minke_sampler_state_size(sampler, &mut size)) {
                    continue; // no sampler: its NULL was refused
                }
                let mut saved = vec![0u8; size];
                let mut written = 0usize;
                assert!(ok(sampler::minke_sampler_state_get(
                    sampler,
                    saved.as_mut_ptr(),
                    size,
                    &mut written
                )));
                let (bytes, same) = edit.apply(saved.clone());
                let r = sampler::minke_sampler_state_set(sampler, bytes.as_ptr(), bytes.len());
                if same {
                    assert_eq!(r, minke_status::MINKE_OK, "its own state refused");
                } else if !ok(r) {
                    assert_eq!(r, minke_status::MINKE_ERR_STATE);
                    let mut now = vec![0u8; size];
                    assert!(ok(sampler::minke_sampler_state_get(
                        sampler,
                        now.as_mut_ptr(),
                        size,
                        &mut written
                    )));
                    assert_eq!(now, saved, "a refused state changed the sampler");
                }
            },
            Call::LogitsAt(p) => unsafe {
                let (mut l, mut n) = (std::ptr::null(), 0usize);
                if ok(minke_c::state::minke_session_logits_at(
                    session,
                    u32::from(p),
                    &mut l,
                    &mut n,
                )) {
                    assert_eq!(n, 256);
                    let _ = std::slice::from_raw_parts(l, n).iter().sum::<f32>();
                }
            },
            Call::Tokens(cap) => unsafe {
                let mut buf = vec![0u32; usize::from(cap)];
                let mut n = 0usize;
                let r = minke_c::state::minke_session_tokens(
                    session,
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut n,
                );
                if ok(r) {
                    assert!(n <= buf.len() && buf[..n].iter().all(|&t| t < 256));
                }
            },
        }
    }
    Ok(())
}

/// Reads every field of every candidate, with buffers too small and big
/// enough.
fn read_candidates(c: *mut minke_candidates) {
    use minke_c::best_of_n as b;
    // SAFETY: a live candidates handle; buffers of the sizes passed.
    unsafe {
        let n = b::minke_candidates_count(c);
        for i in 0..n + 1 {
            let _ = b::minke_candidates_score(c, i);
            let _ = b::minke_candidates_seed(c, i);
            let _ = b::minke_candidates_stop_reason(c, i);
            for size in [0usize, 3, 4096] {
                let mut buf = vec![0u8; size];
                let mut len = 0usize;
                ok(b::minke_candidates_text(
                    c,
                    i,
                    if size == 0 {
                        std::ptr::null_mut()
                    } else {
                        buf.as_mut_ptr().cast()
                    },
                    size,
                    &mut len,
                ));
                let mut ids = vec![0u32; size];
                ok(b::minke_candidates_tokens(
                    c,
                    i,
                    if size == 0 {
                        std::ptr::null_mut()
                    } else {
                        ids.as_mut_ptr()
                    },
                    size,
                    &mut len,
                ));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    FIXTURE.with(|fx| {
        let _ = run(&mut Unstructured::new(data), fx);
    });
});
