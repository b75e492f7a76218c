//! Scoring text under a model: log-probabilities of a continuation, and
//! perplexity computed the way llama.cpp's `llama-perplexity` does, so the
//! two numbers can be compared.

use crate::{Error, Result, Session};

/// `log softmax(logits)[token]`, in f64.
pub fn log_prob(logits: &[f32], token: u32) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    logits[token as usize] as f64 - max - sum.ln()
}

/// Log-probabilities of a continuation given a prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceScore {
    /// Natural-log probability of each continuation token.
    pub token_logprobs: Vec<f64>,
    /// Their sum: the log-probability of the whole continuation.
    pub total: f64,
}

impl SequenceScore {
    /// Mean log-probability per token.
    pub fn mean(&self) -> f64 {
        if self.token_logprobs.is_empty() {
            0.0
        } else {
            self.total / self.token_logprobs.len() as f64
        }
    }
}

/// Scores `continuation` after `prompt`, teacher-forced in one prefill from
/// the start of `session` (which needs `logits_all`). `prompt` must not be
/// empty (the first continuation token needs something to follow).
pub fn score_continuation(
    session: &mut Session<'_>,
    prompt: &[u32],
    continuation: &[u32],
) -> Result<SequenceScore> {
    if prompt.is_empty() {
        return Err(Error::InvalidArgument(
            "the prompt must have at least one token".into(),
        ));
    }
    if continuation.is_empty() {
        return Ok(SequenceScore {
            token_logprobs: Vec::new(),
            total: 0.0,
        });
    }
    let all: Vec<u32> = prompt.iter().chain(continuation).copied().collect();
    // Logits after token i predict token i + 1: the last token's are unused.
    let scored = &all[..all.len() - 1];
    session.rewind(0)?;
    let mut out = Vec::with_capacity(continuation.len());
    session.prefill_each(scored, |i, logits| {
        if i + 1 >= prompt.len() {
            out.push(log_prob(logits, all[i + 1]));
        }
    })?;
    let total = out.iter().sum();
    Ok(SequenceScore {
        token_logprobs: out,
        total,
    })
}

/// A reward model's scores for a sequence (`n_labels` values; a reward
/// model has one), read at the last token that is not padding, as
/// transformers' `*ForSequenceClassification` does. Runs from the start of
/// `session`.
pub fn reward(session: &mut Session<'_>, tokens: &[u32]) -> Result<Vec<f32>> {
    let c = &session.model().config;
    if c.n_labels.is_none() {
        return Err(Error::InvalidArgument(format!(
            "{} is a language model, not a reward model (no `score` head)",
            session.model().path().display()
        )));
    }
    let end = match c.pad_token_id {
        Some(pad) => tokens.iter().rposition(|&t| t != pad).map_or(0, |i| i + 1),
        None => tokens.len(),
    };
    if end == 0 {
        return Err(Error::InvalidArgument(
            "no tokens to score (all padding?)".into(),
        ));
    }
    session.rewind(0)?;
    Ok(session.prefill(&tokens[..end])?.to_vec())
}

/// The tokens a reward model reads for a prompt and a response: the
/// model's chat template with a user and an assistant turn when it has one
/// (reward models are trained on conversations; special-token text in the
/// two stays text, see [`crate::Tokenizer::encode_chat`]), else the two
/// texts one after the other with the tokenizer's special prefix.
pub fn reward_input(tok: &crate::Tokenizer, prompt: &str, response: &str) -> Result<Vec<u32>> {
    if tok.chat_template().is_some() {
        let msgs = [
            crate::ChatMessage::new("user", prompt),
            crate::ChatMessage::new("assistant", response),
        ];
        tok.encode_chat(&msgs, false)
    } else {
        tok.encode(&format!("{prompt}{response}"), true)
    }
}

/// The result of a perplexity run.
#[derive(Clone, Debug, PartialEq)]
pub struct Perplexity {
    /// `exp(nll / count)`.
    pub ppl: f64,
    /// Summed negative log-likelihood.
    pub nll: f64,
    /// Tokens scored.
    pub count: usize,
    /// Chunks evaluated.
    pub chunks: usize,
}

/// Perplexity of `tokens` as `llama-perplexity` computes it by default:
/// non-overlapping chunks of `n_ctx` tokens, each evaluated from an empty
/// cache, scoring only the predictions of its second half (positions
/// `n_ctx/2 .. n_ctx-1` predicting the next token of the chunk). When
/// `bos` is given, each chunk's first token is replaced by it, as llama.cpp
/// does for models that add a BOS token. A partial last chunk is dropped.
///
/// `session` needs `logits_all` and a context of at least `n_ctx`.
/// `progress(done, total)` is called after each chunk with running values.
pub fn perplexity(
    session: &mut Session<'_>,
    tokens: &[u32],
    n_ctx: usize,
    bos: Option<u32>,
    mut progress: impl FnMut(usize, usize, &Perplexity),
) -> Result<Perplexity> {
    if n_ctx < 4 {
        return Err(Error::InvalidArgument(
            "perplexity needs a context of at least 4 tokens".into(),
        ));
    }
    let chunks = tokens.len() / n_ctx;
    if chunks == 0 {
        return Err(Error::InvalidArgument(format!(
            "the text has {} tokens, fewer than one chunk of {n_ctx}",
            tokens.len()
        )));
    }
    let first = n_ctx / 2;
    let mut chunk = vec![0u32; n_ctx];
    let mut res = Perplexity {
        ppl: 0.0,
        nll: 0.0,
        count: 0,
        chunks: 0,
    };
    for c in 0..chunks {
        let src = &tokens[c * n_ctx..(c + 1) * n_ctx];
        chunk.copy_from_slice(src);
        if let Some(b) = bos {
            chunk[0] = b;
        }
        session.rewind(0)?;
        // Only rows `first..n_ctx - 1` are scored; run the rest anyway.
        session.prefill_each(&chunk, |i, logits| {
            if i >= first && i + 1 < n_ctx {
                res.nll -= log_prob(logits, src[i + 1]);
                res.count += 1;
            }
        })?;
        res.chunks += 1;
        res.ppl = (res.nll / res.count as f64).exp();
        progress(c + 1, chunks, &res);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::log_prob;

    #[test]
    fn log_prob_is_a_log_softmax() {
        let l = [1.0f32, 2.0, 3.0];
        let z: f64 = l.iter().map(|&x| (x as f64).exp()).sum();
        assert!((log_prob(&l, 2) - (3.0 - z.ln())).abs() < 1e-12);
        let total: f64 = (0..3).map(|t| log_prob(&l, t).exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
    }
}
