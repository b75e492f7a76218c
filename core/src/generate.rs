//! Text generation: prompt → prefill → sample/decode loop, streaming whole
//! UTF-8 text to a callback, stopping on an end-of-sequence token, a stop
//! string, a token budget, a full context (or, with a context shift,
//! dropping old text to go on), or the callback's say-so.

use crate::sampler::Sampler;
use crate::speculative::{Drafter, MAX_DRAFT};
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
    /// Guesses of a drafter the model checked ([`generate_speculative`];
    /// 0 otherwise): those a round drafted past the end of generation are
    /// not counted, so `accepted / drafted` is the acceptance rate.
    pub drafted: usize,
    /// Guesses the model agreed with: each saved a decoding step.
    pub accepted: usize,
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
    on_text: impl FnMut(&str) -> bool,
) -> Result<Generated> {
    run(session, tok, sampler, prompt, params, None, on_text)
}

/// [`generate`] with speculative decoding: each step, `drafter` guesses up
/// to [`Drafter::max_draft`] tokens and the model checks them
/// and the token before them in one batch, keeping those it agrees with
/// and a token of its own after them. The text is what [`generate`] gives
/// with the same sampler: token for token when greedy, from the same
/// distribution at a temperature ([`Sampler::verify_draft`]). The session
/// gets room for `max_draft + 1` rows of logits
/// ([`Session::reserve_outputs`]); guesses are cut to `n_batch - 1`.
/// [`Generated::drafted`] and [`Generated::accepted`] count the guesses.
pub fn generate_speculative(
    session: &mut Session<'_>,
    tok: &Tokenizer,
    sampler: &mut Sampler,
    prompt: &[u32],
    params: &GenerateParams,
    drafter: &mut dyn Drafter,
    on_text: impl FnMut(&str) -> bool,
) -> Result<Generated> {
    let n_draft = drafter.max_draft();
    if n_draft == 0 || n_draft > MAX_DRAFT {
        return Err(Error::InvalidArgument(format!(
            "n_draft {n_draft}: it must be 1 to {MAX_DRAFT}"
        )));
    }
    let n_draft = n_draft.min(session.params().n_batch.saturating_sub(1));
    let spec = if n_draft == 0 {
        None
    } else {
        session.reserve_outputs(n_draft + 1)?;
        Some(Spec {
            drafter,
            n_draft,
            drafts: [0; MAX_DRAFT],
            batch: [0; MAX_DRAFT + 1],
            context: Vec::with_capacity(session.params().n_ctx + 1),
        })
    };
    run(session, tok, sampler, prompt, params, spec, on_text)
}

/// A speculative decoder's drafter and its buffers.
struct Spec<'d> {
    drafter: &'d mut dyn Drafter,
    n_draft: usize,
    drafts: [u32; MAX_DRAFT],
    batch: [u32; MAX_DRAFT + 1],
    /// The session's tokens and the one not yet run (`n_ctx + 1` capacity).
    context: Vec<u32>,
}

fn run(
    session: &mut Session<'_>,
    tok: &Tokenizer,
    sampler: &mut Sampler,
    prompt: &[u32],
    params: &GenerateParams,
    mut spec: Option<Spec<'_>>,
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
        drafted: 0,
        accepted: 0,
        prefill_time,
        decode_time: Duration::ZERO,
    };
    let mut emit = Emitter {
        dec: tok.stream_decoder(),
        held: String::new(),
        eos,
        params,
    };
    let t1 = Instant::now();
    // Each round: `next`, the last token chosen, is not yet in the
    // session; run it (with drafts after it when there are any) and
    // choose what follows.
    let mut next = 0;
    if params.max_tokens > 0 {
        next = sampler.sample(session.logits())?;
        sampler.accept(next);
        emit.take(&mut out, next, session.logits(), &mut on_text)?;
    }
    while out.reason == StopReason::MaxTokens && out.tokens.len() < params.max_tokens {
        if session.pos() >= n_ctx {
            match params.context_shift {
                Some(keep) => out.discarded += make_room(session, keep)?,
                None => {
                    out.reason = StopReason::ContextFull;
                    break;
                }
            }
        }
        // Drafts must fit in the context and in the tokens still wanted.
        let most = (n_ctx - session.pos() - 1).min(params.max_tokens - out.tokens.len() - 1);
        let n_drafted = match spec.as_mut() {
            Some(sp) if most > 0 => {
                sp.context.clear();
                sp.context.extend_from_slice(session.tokens());
                sp.context.push(next);
                let k = most.min(sp.n_draft);
                let n = sp.drafter.draft(&sp.context, &mut sp.drafts[..k])?;
                n.min(k)
            }
            _ => 0,
        };
        if n_drafted == 0 {
            session.decode(next)?;
            next = sampler.sample(session.logits())?;
            sampler.accept(next);
            emit.take(&mut out, next, session.logits(), &mut on_text)?;
            continue;
        }
        let sp = spec.as_mut().expect("drafts come from a drafter");
        sp.batch[0] = next;
        sp.batch[1..=n_drafted].copy_from_slice(&sp.drafts[..n_drafted]);
        let p0 = session.pos();
        session.decode_all(&sp.batch[..=n_drafted])?;
        // Row i follows batch[i]: it checks draft i, or (after the last)
        // gives a token of the model's own.
        let mut kept = n_drafted + 1;
        for i in 0..=n_drafted {
            let row = session
                .logits_at(p0 + i)
                .expect("decode_all kept every row");
            let (t, agreed) = if i < n_drafted {
                sampler.verify_draft(row, sp.drafts[i], sp.drafter.distribution(i))?
            } else {
                (sampler.sample(row)?, false)
            };
            sampler.accept(t);
            // Guesses checked: those after a stop are not counted.
            out.drafted += usize::from(i < n_drafted);
            out.accepted += usize::from(agreed);
            next = t;
            emit.take(&mut out, t, row, &mut on_text)?;
            let done = out.reason != StopReason::MaxTokens || out.tokens.len() >= params.max_tokens;
            if done || (i < n_drafted && !agreed) {
                kept = i + 1;
                break;
            }
        }
        session.keep_decoded(kept)?;
    }
    if out.reason != StopReason::Cancelled && out.reason != StopReason::StopString {
        let mut rest = std::mem::take(&mut emit.held);
        rest.push_str(&emit.dec.finish());
        if !rest.is_empty() {
            push_text(&mut out.text, &rest, &mut on_text);
        }
    }
    out.decode_time = t1.elapsed();
    Ok(out)
}

/// Turns chosen tokens into text: end of sequence, stop strings (text
/// that might begin one is held back), the callback.
struct Emitter<'p> {
    dec: crate::tokenizer::StreamDecoder<'p>,
    /// Text decoded but held back because it might begin a stop string.
    held: String,
    eos: Vec<u32>,
    params: &'p GenerateParams,
}

impl Emitter<'_> {
    /// Records `t` (chosen from `logits`); sets `out.reason` when it ends
    /// the generation (end of sequence, a stop string, the callback).
    fn take(
        &mut self,
        out: &mut Generated,
        t: u32,
        logits: &[f32],
        on_text: &mut impl FnMut(&str) -> bool,
    ) -> Result<()> {
        let params = self.params;
        out.tokens.push(t);
        out.token_logprobs.push(crate::score::log_prob(logits, t));
        if params.stop_at_eos && self.eos.contains(&t) {
            out.reason = StopReason::Eos;
            return Ok(());
        }
        self.dec.push_into(t, &mut self.held)?;
        if let Some(at) = params
            .stop
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min()
        {
            self.held.truncate(at);
            out.reason = StopReason::StopString;
            if !self.held.is_empty() && !push_text(&mut out.text, &self.held, on_text) {
                out.reason = StopReason::Cancelled;
            }
            self.held.clear();
            return Ok(());
        }
        // Emit all but what could still grow into a stop string.
        let keep = if params.stop.is_empty() {
            0
        } else {
            stop_prefix_len(&self.held, &params.stop)
        };
        if self.held.len() > keep {
            let cut = self.held.len() - keep;
            let piece: String = self.held.drain(..cut).collect();
            if !push_text(&mut out.text, &piece, on_text) {
                out.reason = StopReason::Cancelled;
            }
        }
        Ok(())
    }
}

/// The shift of a full context: keeps positions `0..keep`, drops half of
/// the rest (at least one); returns how many positions went.
fn make_room(session: &mut Session<'_>, keep: usize) -> Result<usize> {
    let discard = (session.pos().saturating_sub(keep) / 2).max(1);
    session.shift(keep, discard)?;
    Ok(discard)
}

fn push_text(text: &mut String, piece: &str, on_text: &mut impl FnMut(&str) -> bool) -> bool {
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
