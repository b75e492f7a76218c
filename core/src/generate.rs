//! Text generation: prompt → prefill → sample/decode loop, streaming whole
//! UTF-8 text to a callback, stopping on an end-of-sequence token, a stop
//! string, a token budget, a full context (or, with a context shift,
//! dropping old text to go on), or the callback's say-so.

use crate::sampler::Sampler;
use crate::tokenizer::Tokenizer;
use crate::{Error, Result, Session};
use std::time::{Duration, Instant};

/// When generation stops.
#[derive(Clone, Debug)]
pub struct GenerateParams {
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Stop when the text contains one of these; the stop string itself is
    /// not emitted. An empty one is refused: every text contains it, so it
    /// would stop at once.
    pub stop: Vec<String>,
    /// Stop at the model's end-of-sequence tokens.
    pub stop_at_eos: bool,
    /// `Some(keep)`: when the context fills, keep its first `keep`
    /// positions (a system prompt), drop half of the rest
    /// ([`Session::shift`]) and go on, so generation never stops at a full
    /// context, and a prompt may be longer than the context (all but its
    /// end is then dropped as it is read). `None`: stop
    /// ([`StopReason::ContextFull`]). `keep` must leave room: at most
    /// `n_ctx - 2`.
    pub context_shift: Option<usize>,
}

impl Default for GenerateParams {
    fn default() -> Self {
        GenerateParams {
            max_tokens: 256,
            stop: Vec::new(),
            stop_at_eos: true,
            context_shift: None,
        }
    }
}

/// Why generation stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    Eos,
    StopString,
    MaxTokens,
    ContextFull,
    /// The callback returned `false`.
    Cancelled,
}

/// What a generation produced, with timings.
#[derive(Clone, Debug)]
pub struct Generated {
    /// Generated token ids (an end-of-sequence token included if one ended it).
    pub tokens: Vec<u32>,
    /// The model's log-probability of each generated token (before any
    /// sampler penalty or temperature), for ranking answers. Taken while
    /// decoding one token at a time; scoring the same tokens in one batch
    /// ([`crate::score::score_continuation`]) sums the quantized products
    /// in another order, which can flip int8 roundings: the two agree to
    /// about int8's own error (a few hundredths of a nat per token).
    pub token_logprobs: Vec<f64>,
    /// Generated text, as emitted.
    pub text: String,
    pub reason: StopReason,
    pub prompt_tokens: usize,
    /// Positions context shifts dropped, all from [`GenerateParams::
    /// context_shift`]'s `keep` on: the session holds what it would
    /// without them, less positions `keep..keep + discarded`.
    pub discarded: usize,
    pub prefill_time: Duration,
    pub decode_time: Duration,
}

impl Generated {
    /// Mean log-probability per generated token (0 for none).
    pub fn mean_logprob(&self) -> f64 {
        if self.token_logprobs.is_empty() {
            return 0.0;
        }
        self.token_logprobs.iter().sum::<f64>() / self.token_logprobs.len() as f64
    }

    /// Generation speed in tokens per second (decode steps only).
    pub fn decode_tok_s(&self) -> f64 {
        let steps = self.tokens.len().saturating_sub(1);
        if steps == 0 {
            return 0.0;
        }
        steps as f64 / self.decode_time.as_secs_f64().max(1e-9)
    }

    /// Prompt processing speed in tokens per second.
    pub fn prefill_tok_s(&self) -> f64 {
        self.prompt_tokens as f64 / self.prefill_time.as_secs_f64().max(1e-9)
    }
}

/// Generates from `prompt` (token ids appended at the session's current
/// position), calling `on_text` with each piece of text as soon as it is
/// whole; `on_text` returns `false` to stop.
pub fn generate(
    session: &mut Session<'_>,
    tok: &Tokenizer,
    sampler: &mut Sampler,
    prompt: &[u32],
    params: &GenerateParams,
    mut on_text: impl FnMut(&str) -> bool,
) -> Result<Generated> {
    if prompt.is_empty() {
        return Err(Error::InvalidArgument("empty prompt".into()));
    }
    if let Some(i) = params.stop.iter().position(String::is_empty) {
        // Refused, not ignored: an empty stop string is a caller's bug
        // (a field left unset), and as a rule it would stop at once.
        return Err(Error::InvalidArgument(format!(
            "stop string {i} is empty: every text contains it"
        )));
    }
    let n_ctx = session.params().n_ctx;
    if let Some(keep) = params.context_shift {
        if keep + 2 > n_ctx {
            return Err(Error::InvalidArgument(format!(
                "a context shift that keeps {keep} positions leaves no room in a context of {n_ctx}"
            )));
        }
    }
    let mut eos: Vec<u32> = tok.eos_ids().to_vec();
    eos.extend(session.model().config.eos_token_ids.iter().copied());
    for &t in prompt {
        sampler.accept(t);
    }
    let mut discarded = 0;
    let t0 = Instant::now();
    match params.context_shift {
        None => {
            session.prefill(prompt)?;
        }
        Some(keep) => {
            // What fits, then a shift, until the prompt is in.
            let mut rest = prompt;
            while !rest.is_empty() {
                if session.pos() >= n_ctx {
                    discarded += make_room(session, keep)?;
                }
                let n = rest.len().min(n_ctx - session.pos());
                session.prefill(&rest[..n])?;
                rest = &rest[n..];
            }
        }
    }
    let prefill_time = t0.elapsed();

    // `max_tokens` is a bound, not a size: no more than the context holds
    // can come (plus the one sampled when it fills).
    let room = (n_ctx + 1).saturating_sub(session.pos());
    let cap = params.max_tokens.min(room);
    let mut out = Generated {
        tokens: Vec::with_capacity(cap),
        token_logprobs: Vec::with_capacity(cap),
        text: String::new(),
        reason: StopReason::MaxTokens,
        prompt_tokens: prompt.len(),
        discarded,
        prefill_time,
        decode_time: Duration::ZERO,
    };
    let mut dec = tok.stream_decoder();
    // Text decoded but held back because it might begin a stop string.
    let mut held = String::new();
    let longest_stop = params.stop.iter().map(String::len).max().unwrap_or(0);
    let t1 = Instant::now();
    while out.tokens.len() < params.max_tokens {
        let next = sampler.sample(session.logits())?;
        sampler.accept(next);
        out.tokens.push(next);
        out.token_logprobs
            .push(crate::score::log_prob(session.logits(), next));
        if params.stop_at_eos && eos.contains(&next) {
            out.reason = StopReason::Eos;
            break;
        }
        dec.push_into(next, &mut held)?;
        if let Some(at) = params
            .stop
            .iter()
            .filter_map(|s| held.find(s.as_str()))
            .min()
        {
            held.truncate(at);
            out.reason = StopReason::StopString;
            if !held.is_empty() && !emit(&mut out.text, &held, &mut on_text) {
                out.reason = StopReason::Cancelled;
            }
            held.clear();
            break;
        }
        // Emit all but what could still grow into a stop string.
        let keep = if longest_stop == 0 {
            0
        } else {
            stop_prefix_len(&held, &params.stop)
        };
        if held.len() > keep {
            let cut = held.len() - keep;
            let piece: String = held.drain(..cut).collect();
            if !emit(&mut out.text, &piece, &mut on_text) {
                out.reason = StopReason::Cancelled;
                break;
            }
        }
        if out.tokens.len() >= params.max_tokens {
            break;
        }
        if session.pos() >= n_ctx {
            match params.context_shift {
                Some(keep) => out.discarded += make_room(session, keep)?,
                None => {
                    out.reason = StopReason::ContextFull;
                    break;
                }
            }
        }
        session.decode(next)?;
    }
    if out.reason != StopReason::Cancelled && out.reason != StopReason::StopString {
        held.push_str(&dec.finish());
        if !held.is_empty() {
            emit(&mut out.text, &held, &mut on_text);
        }
    }
    out.decode_time = t1.elapsed();
    Ok(out)
}

/// The shift of a full context: keeps positions `0..keep`, drops half of
/// the rest (at least one); returns how many positions went.
fn make_room(session: &mut Session<'_>, keep: usize) -> Result<usize> {
    let discard = (session.pos().saturating_sub(keep) / 2).max(1);
    session.shift(keep, discard)?;
    Ok(discard)
}

fn emit(text: &mut String, piece: &str, on_text: &mut impl FnMut(&str) -> bool) -> bool {
    text.push_str(piece);
    on_text(piece)
}

/// Length of the longest suffix of `held` that is a proper prefix of a stop
/// string (and so must be held back), on a char boundary.
fn stop_prefix_len(held: &str, stops: &[String]) -> usize {
    let mut best = 0;
    for s in stops {
        for (i, _) in held.char_indices() {
            let suffix = &held[i..];
            if suffix.len() < s.len() && s.starts_with(suffix) {
                best = best.max(suffix.len());
                break;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::stop_prefix_len;

    #[test]
    fn holds_back_possible_stop_prefixes() {
        let stops = vec!["</end>".to_string(), "\n\n".to_string()];
        assert_eq!(stop_prefix_len("hello </e", &stops), 3);
        assert_eq!(stop_prefix_len("hello\n", &stops), 1);
        assert_eq!(stop_prefix_len("hello", &stops), 0);
        assert_eq!(stop_prefix_len("héllo <", &stops), 1);
    }
}

/// One answer of [`best_of_n`], with its rank score.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub text: String,
    pub tokens: Vec<u32>,
    /// The ranker's score (higher is better).
    pub score: f64,
    /// The sampler seed that produced it.
    pub seed: u64,
    pub reason: StopReason,
}

/// Most answers [`best_of_n`] generates at once.
pub const MAX_BEST_OF: usize = 1024;

/// Best-of-N: generates `n` answers to `prompt` (seeds `sp.seed`,
/// `sp.seed + 1`, ...), scores each with `rank` (a reward model, or
/// [`Generated::mean_logprob`] for the policy's own judgement) and returns
/// them best first. The prompt is run once; each answer starts from it.
pub fn best_of_n(
    session: &mut Session<'_>,
    tok: &Tokenizer,
    prompt: &[u32],
    n: usize,
    sp: &crate::SamplerParams,
    gp: &GenerateParams,
    mut rank: impl FnMut(&Generated) -> Result<f64>,
) -> Result<Vec<Candidate>> {
    if n == 0 || n > MAX_BEST_OF {
        return Err(Error::InvalidArgument(format!(
            "best-of-N takes 1 to {MAX_BEST_OF} answers, not {n}"
        )));
    }
    if prompt.is_empty() {
        return Err(Error::InvalidArgument("empty prompt".into()));
    }
    if gp.context_shift.is_some() {
        // Each answer starts again from the prompt's positions, which a
        // shift would have moved.
        return Err(Error::InvalidArgument(
            "best-of-N does not take a context shift: each answer must fit the context".into(),
        ));
    }
    let start = session.pos();
    // Run all but the last prompt token once; each answer re-runs that last
    // token from the cache, which gives it fresh logits.
    if prompt.len() > 1 {
        session.prefill(&prompt[..prompt.len() - 1])?;
    }
    let base = start + prompt.len() - 1;
    let last = &prompt[prompt.len() - 1..];
    let mut out = Vec::with_capacity(n);
    for i in 0..n as u64 {
        session.rewind(base)?;
        let seed = sp.seed.wrapping_add(i);
        let mut sampler = Sampler::new(
            crate::SamplerParams { seed, ..sp.clone() },
            session.model().config.vocab_size,
        )?;
        for &t in &prompt[..prompt.len() - 1] {
            sampler.accept(t);
        }
        let g = generate(session, tok, &mut sampler, last, gp, |_| true)?;
        out.push(Candidate {
            score: rank(&g)?,
            text: g.text,
            tokens: g.tokens,
            seed,
            reason: g.reason,
        });
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(out)
}
