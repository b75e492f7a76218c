//! Drafters for speculative decoding: cheap guesses of the next few
//! tokens, which [`crate::generate_speculative`] has the model check in
//! one batched forward pass, keeping the longest run it agrees with.
//!
//! Decoding one token reads every weight of the model; checking several
//! guessed tokens in one batch reads them once for all, so each accepted
//! guess is a token for close to nothing. What comes out is what plain
//! decoding gives: token for token with greedy sampling (a batch's logits
//! are the same bits as one token's at a time: see "Determinism" in the
//! README), and from the same distribution at a temperature
//! ([`Sampler::verify_draft`]).
//!
//! Two drafters: [`PromptLookup`] copies what followed the last few tokens
//! where they occurred before in the context (no second model: the win for
//! summarizing, rewriting, extracting from or editing a given text), and
//! [`DraftModel`] runs a smaller model with the same vocabulary.

use crate::sampler::{Sampler, SamplerParams};
use crate::{Error, Result, Session};

/// Longest run of drafted tokens a round may check (the batch is one
/// more).
pub const MAX_DRAFT: usize = 32;

/// Guesses the tokens that follow a context.
pub trait Drafter {
    /// Most tokens it guesses a round, 1 to [`MAX_DRAFT`]: the model makes
    /// room to check that many at once.
    fn max_draft(&self) -> usize;

    /// Writes up to `out.len()` tokens likely to follow `context` (every
    /// token so far, the last not yet run by the model) into `out`;
    /// returns how many (0: no guess, the model decodes one token).
    fn draft(&mut self, context: &[u32], out: &mut [u32]) -> Result<usize>;

    /// The distribution draft `i` of the last [`Drafter::draft`] was drawn
    /// from, a probability per vocabulary entry; `None` when the drafter
    /// chose its tokens outright (as prompt lookup does).
    fn distribution(&self, i: usize) -> Option<&[f32]> {
        let _ = i;
        None
    }
}

/// Prompt lookup decoding (Saxena 2023; llama.cpp's `lookup`): find the
/// longest run of the context's last tokens (`ngram_min` to `ngram_max`)
/// that occurred earlier in it, and propose what followed its latest
/// occurrence: as many tokens as the run is long, at most `n_draft`.
///
/// Proposing no more than the match is long makes a guess's length follow
/// how sure it is: a long match is text being copied, and goes on; a
/// two-token match is often a coincidence, and a long guess after one
/// costs a batch that is mostly refused.
#[derive(Clone, Debug)]
pub struct PromptLookup {
    /// Most tokens proposed a round.
    pub n_draft: usize,
    /// Longest and shortest match looked for.
    pub ngram_max: usize,
    pub ngram_min: usize,
}

impl PromptLookup {
    /// Proposes up to `n_draft` tokens from matches of 2 to [`MAX_DRAFT`]
    /// tokens.
    pub fn new(n_draft: usize) -> PromptLookup {
        PromptLookup {
            n_draft,
            ngram_max: MAX_DRAFT,
            ngram_min: 2,
        }
    }
}

impl Drafter for PromptLookup {
    fn max_draft(&self) -> usize {
        self.n_draft
    }

    fn draft(&mut self, context: &[u32], out: &mut [u32]) -> Result<usize> {
        let want = out.len().min(self.n_draft);
        let n = context.len();
        let (lo, hi) = (self.ngram_min.max(1), self.ngram_max);
        if want == 0 || n < 2 || hi < lo {
            return Ok(0);
        }
        // One pass from the end: each earlier occurrence of the last token
        // is extended backwards; the longest match wins, the latest among
        // equals (the most recent thing the text did after these tokens).
        let (mut len, mut end) = (0, 0);
        for e in (0..n - 1).rev() {
            if context[e] != context[n - 1] {
                continue;
            }
            let most = hi.min(e + 1);
            let mut g = 1;
            while g < most && context[e - g] == context[n - 1 - g] {
                g += 1;
            }
            if g > len {
                (len, end) = (g, e);
                if g == hi {
                    break;
                }
            }
        }
        if len < lo {
            return Ok(0);
        }
        let from = end + 1;
        let k = want.min(len).min(n - from);
        out[..k].copy_from_slice(&context[from..from + k]);
        Ok(k)
    }
}

/// A smaller model with the target's vocabulary drafts autoregressively in
/// its own session, sampling as the target does (with its own generator;
/// penalties over the same recent text) and keeping the distribution of
/// each draft for [`Sampler::verify_draft`].
pub struct DraftModel<'s, 'm> {
    session: &'s mut Session<'m>,
    sampler: Sampler,
    n_draft: usize,
    /// `(n_draft, vocab)`: each draft's distribution, dense.
    q: Vec<f32>,
    vocab: usize,
}

impl<'s, 'm> DraftModel<'s, 'm> {
    /// Drafts up to `n_draft` tokens a round in `session` (its model's
    /// vocabulary must be the target's, `target_vocab`), sampling with
    /// `params`' temperature, truncations and penalties (the seed
    /// changed: the draft's choices are its own).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the vocabularies differ or
    /// `n_draft` is 0 or above [`MAX_DRAFT`].
    pub fn new(
        session: &'s mut Session<'m>,
        target_vocab: usize,
        params: &SamplerParams,
        n_draft: usize,
    ) -> Result<DraftModel<'s, 'm>> {
        let vocab = session.model().config.n_outputs();
        if vocab != target_vocab || session.model().config.n_labels.is_some() {
            return Err(Error::InvalidArgument(format!(
                "the draft model has {vocab} outputs and the model {target_vocab} tokens: \
                 a draft model must share the model's vocabulary"
            )));
        }
        if n_draft == 0 || n_draft > MAX_DRAFT {
            return Err(Error::InvalidArgument(format!(
                "n_draft {n_draft}: it must be 1 to {MAX_DRAFT}"
            )));
        }
        let sampler = Sampler::new(
            SamplerParams {
                seed: params.seed ^ 0x5DEE_CE66_D1CE_4E5B,
                ..params.clone()
            },
            vocab,
        )?;
        Ok(DraftModel {
            session,
            sampler,
            n_draft,
            q: vec![0.0; n_draft * vocab],
            vocab,
        })
    }
}

impl Drafter for DraftModel<'_, '_> {
    fn max_draft(&self) -> usize {
        self.n_draft
    }

    fn draft(&mut self, context: &[u32], out: &mut [u32]) -> Result<usize> {
        let n = context.len();
        let n_ctx = self.session.params().n_ctx;
        // Room for the context and the drafts but the last (not run).
        let want = out
            .len()
            .min(self.n_draft)
            .min((n_ctx + 1).saturating_sub(n));
        if want == 0 || n == 0 {
            return Ok(0);
        }
        // The draft session holds a prefix of the context (what it saw
        // last round, less the refused drafts): run the rest.
        let same = self
            .session
            .tokens()
            .iter()
            .zip(context)
            .take_while(|(a, b)| a == b)
            .count()
            .min(n - 1);
        self.session.rewind(same)?;
        self.session.prefill(&context[same..])?;
        // Penalties see what the target's see: the recent context, then
        // each draft.
        self.sampler.set_history(context);
        let v = self.vocab;
        for (i, o) in out[..want].iter_mut().enumerate() {
            let (t, dist) = self.sampler.sample_distribution(self.session.logits())?;
            let row = &mut self.q[i * v..(i + 1) * v];
            row.fill(0.0);
            for &(p, t) in dist {
                row[t as usize] = p;
            }
            *o = t;
            self.sampler.accept(t);
            if i + 1 < want {
                self.session.decode(t)?;
            }
        }
        Ok(want)
    }

    fn distribution(&self, i: usize) -> Option<&[f32]> {
        Some(&self.q[i * self.vocab..(i + 1) * self.vocab])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(ctx: &[u32], n: usize) -> Vec<u32> {
        let mut out = vec![0; n];
        let k = PromptLookup::new(n).draft(ctx, &mut out).unwrap();
        out.truncate(k);
        out
    }

    #[test]
    fn prompt_lookup_continues_the_latest_longest_match() {
        // "5 6" occurred twice; the latest is followed by 9 9: a match of
        // two proposes two.
        assert_eq!(lookup(&[1, 5, 6, 7, 8, 5, 6, 9, 9, 4, 5, 6], 3), [9, 9]);
        // A 3-token match beats a later 2-token one.
        assert_eq!(lookup(&[4, 5, 6, 1, 2, 5, 6, 3, 4, 5, 6], 2), [1, 2]);
        assert_eq!(lookup(&[4, 5, 6, 1, 2, 3, 5, 6, 3, 4, 5, 6], 8), [1, 2, 3]);
        // Proposals stop at the end of the context, and may overlap it.
        assert_eq!(lookup(&[7, 8, 1, 7, 8], 4), [1, 7]);
        assert_eq!(lookup(&[3, 3, 3, 3, 3], 8), [3]);
        // No earlier occurrence, too short a context, or no room.
        assert_eq!(lookup(&[1, 2, 3, 4], 4), Vec::<u32>::new());
        assert_eq!(lookup(&[1, 2, 3, 1], 4), Vec::<u32>::new());
        assert_eq!(lookup(&[1], 4), Vec::<u32>::new());
        assert_eq!(lookup(&[1, 2, 1, 2], 0), Vec::<u32>::new());
    }

    #[test]
    fn prompt_lookup_proposes_as_many_as_the_match_is_long() {
        // A copied sentence: the longer the match, the longer the guess.
        let text: Vec<u32> = (10..40).collect();
        for g in 2..12 {
            let mut ctx = text.clone();
            ctx.push(99);
            ctx.extend_from_slice(&text[..g]);
            assert_eq!(lookup(&ctx, 8), text[g..g + g.min(8)], "match of {g}");
        }
        // Bounds on the match length are honoured.
        let ctx = [1, 2, 3, 4, 5, 6, 9, 1, 2, 3, 4];
        let mut out = [0; 8];
        let mut short = PromptLookup {
            n_draft: 8,
            ngram_min: 2,
            ngram_max: 2,
        };
        assert_eq!(short.draft(&ctx, &mut out).unwrap(), 2);
        assert_eq!(out[..2], [5, 6]);
        let mut picky = PromptLookup {
            n_draft: 8,
            ngram_min: 5,
            ngram_max: 8,
        };
        assert_eq!(picky.draft(&ctx, &mut out).unwrap(), 0);
    }
}
