//! The sampler with arbitrary settings (any floats: NaN, infinities,
//! negatives, subnormals) over arbitrary logits (NaN and infinities
//! included): what a C caller or a server request can hand it. Settings
//! `validate` refuses are skipped; the ones it accepts must sample a token
//! inside the vocabulary, never panic.
//!
//! Input: structured (`arbitrary`): the settings, a vocabulary size, then
//! a list of accept / sample / reset steps; logits are read as raw f32
//! bits.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use minke::{Sampler, SamplerParams};

#[derive(Arbitrary, Debug)]
struct Settings {
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

#[derive(Arbitrary, Debug)]
enum Step {
    Accept(u32),
    /// Logits from these f32 bit patterns, repeated to the vocabulary size.
    Sample(Vec<u32>),
    /// One logit apart, all others equal to `rest`.
    SampleOne {
        at: u16,
        value: f32,
        rest: f32,
    },
    Reset,
}

fn run(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let s = Settings::arbitrary(u)?;
    let vocab = 1 + usize::from(u16::arbitrary(u)? % 2048);
    let params = SamplerParams {
        temperature: s.temperature,
        top_k: s.top_k as usize,
        top_p: s.top_p,
        min_p: s.min_p,
        repeat_penalty: s.repeat_penalty,
        frequency_penalty: s.frequency_penalty,
        presence_penalty: s.presence_penalty,
        // Clamped until issue 19's cap on the penalty window lands
        // (`Sampler::new` reserves `penalty_last_n` slots; a huge window
        // aborts on allocation today). Remove the clamp with that cap.
        penalty_last_n: (s.penalty_last_n % 4096) as usize,
        seed: s.seed,
    };
    let Ok(mut sampler) = Sampler::new(params, vocab) else {
        return Ok(());
    };
    let mut logits = vec![0f32; vocab];
    for _ in 0..16 {
        match Step::arbitrary(u)? {
            Step::Accept(t) => sampler.accept(t % (vocab as u32 + 2)),
            Step::Sample(bits) => {
                if bits.is_empty() {
                    logits.iter_mut().for_each(|l| *l = 0.0);
                } else {
                    for (l, b) in logits.iter_mut().zip(bits.iter().cycle()) {
                        *l = f32::from_bits(*b);
                    }
                }
                // An error when nothing is finite to sample from.
                if let Ok(t) = sampler.sample(&logits) {
                    assert!((t as usize) < vocab, "token {t} of {vocab}");
                }
            }
            Step::SampleOne { at, value, rest } => {
                logits.iter_mut().for_each(|l| *l = rest);
                logits[usize::from(at) % vocab] = value;
                // An error when nothing is finite to sample from.
                if let Ok(t) = sampler.sample(&logits) {
                    assert!((t as usize) < vocab, "token {t} of {vocab}");
                }
            }
            Step::Reset => sampler.reset(),
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
