//! Choosing the next token from logits: penalties, then greedy or a
//! truncated, tempered distribution sampled with a seeded generator.
//!
//! The chain follows llama.cpp's default order so that settings mean the
//! same thing in both: repetition/frequency/presence penalties → top-k →
//! top-p → min-p → temperature → draw. Truncations use the untempered
//! distribution; temperature only reshapes what survives. A temperature of
//! 0 is greedy (argmax after penalties).
//!
//! Every buffer is sized for the vocabulary when the sampler is made:
//! sampling allocates nothing.

use crate::{Error, Result};

/// Sampling settings. `Default` is greedy decoding with no penalties.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerParams {
    /// 0 for greedy; otherwise logits are divided by it before the draw.
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches `top_p`
    /// (1: all).
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely (0: none).
    pub min_p: f32,
    /// Divide positive (multiply negative) logits of recent tokens by this
    /// (1: off). CTRL's repetition penalty (Keskar et al. 2019).
    pub repeat_penalty: f32,
    /// Subtract `frequency_penalty × count` from recent tokens' logits.
    pub frequency_penalty: f32,
    /// Subtract `presence_penalty` from the logits of recent tokens.
    pub presence_penalty: f32,
    /// How many recent tokens the penalties look at.
    pub penalty_last_n: usize,
    /// Seed of the random generator: the same seed gives the same text.
    pub seed: u64,
}

impl Default for SamplerParams {
    fn default() -> Self {
        SamplerParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            penalty_last_n: 64,
            seed: 0,
        }
    }
}

/// Longest repetition-penalty window (`penalty_last_n`): 1 Mi tokens, a
/// 4 MiB ring, longer than any context minke runs.
pub const MAX_PENALTY_LAST_N: usize = 1 << 20;

impl SamplerParams {
    /// Checks that every value is in range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::InvalidArgument(m.to_string()));
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad("temperature must be a finite number >= 0");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p must be in (0, 1]");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p must be in [0, 1]");
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return bad("repeat_penalty must be > 0");
        }
        if !self.frequency_penalty.is_finite() || !self.presence_penalty.is_finite() {
            return bad("frequency_penalty and presence_penalty must be finite");
        }
        if self.penalty_last_n > MAX_PENALTY_LAST_N {
            return Err(Error::InvalidArgument(format!(
                "penalty_last_n {} is above {MAX_PENALTY_LAST_N} (the window is allocated up front)",
                self.penalty_last_n
            )));
        }
        Ok(())
    }

    fn penalties_on(&self) -> bool {
        self.penalty_last_n > 0
            && (self.repeat_penalty != 1.0
                || self.frequency_penalty != 0.0
                || self.presence_penalty != 0.0)
    }
}

/// The first eight bytes of a sampler's state.
const SAMPLER_MAGIC: [u8; 8] = *b"MINKESM\0";
/// Bytes of a sampler's state besides its tokens.
const SAMPLER_STATE_FIXED: usize = 80;

/// SplitMix64 then xoshiro256**: small, fast, and the same on every
/// platform, so a seed reproduces a text anywhere.
#[derive(Clone, Debug)]
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A sampler for one generation stream.
#[derive(Clone, Debug)]
pub struct Sampler {
    params: SamplerParams,
    rng: Rng,
    /// `(logit or probability, token)` candidates: `vocab` capacity.
    cand: Vec<(f32, u32)>,
    /// Recent tokens, a ring of `penalty_last_n`.
    recent: Vec<u32>,
    recent_at: usize,
    /// How often each token occurs in `recent`: `vocab` counts.
    counts: Vec<u32>,
    /// Per token, the last `epoch` its penalty was applied in.
    stamp: Vec<u32>,
    epoch: u32,
    vocab: usize,
}

impl Sampler {
    /// A sampler for a vocabulary of `vocab` tokens.
    pub fn new(params: SamplerParams, vocab: usize) -> Result<Sampler> {
        params.validate()?;
        let n = if params.penalties_on() {
            params.penalty_last_n
        } else {
            0
        };
        Ok(Sampler {
            rng: Rng::new(params.seed),
            cand: Vec::with_capacity(vocab),
            recent: Vec::with_capacity(n),
            recent_at: 0,
            counts: vec![0; if n > 0 { vocab } else { 0 }],
            stamp: vec![0; if n > 0 { vocab } else { 0 }],
            epoch: 0,
            vocab,
            params,
        })
    }

    /// Its settings.
    pub fn params(&self) -> &SamplerParams {
        &self.params
    }

    /// Forgets the penalty history and restarts the generator from the seed.
    pub fn reset(&mut self) {
        self.rng = Rng::new(self.params.seed);
        self.recent.clear();
        self.recent_at = 0;
        self.counts.iter_mut().for_each(|c| *c = 0);
    }

    /// Bytes [`Sampler::state`] gives: 80, and 4 a remembered token.
    pub fn state_len(&self) -> usize {
        SAMPLER_STATE_FIXED + 4 * self.recent.len()
    }

    /// What the sampler carries from one token to the next, as bytes: its
    /// generator's position and the tokens its penalties remember, oldest
    /// first. [`Sampler::restore_state`] puts them back, in this sampler or
    /// another with the same vocabulary and `penalty_last_n`, so that a
    /// restored session samples what the saved one would have. (The
    /// settings are the sampler's own and are not saved.)
    ///
    /// | bytes | what |
    /// |---|---|
    /// | 8 | magic `MINKESM\0` |
    /// | 4 | format version (1) |
    /// | 4 | 0 |
    /// | 8 | vocabulary size |
    /// | 8 | penalty window in use (0 when no penalty is on) |
    /// | 32 | the generator's four words |
    /// | 8 | `n`: tokens remembered |
    /// | `4 n` | the tokens, oldest first |
    /// | 8 | checksum of everything before it |
    pub fn state(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.state_len());
        out.extend_from_slice(&SAMPLER_MAGIC);
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(self.vocab as u64).to_le_bytes());
        out.extend_from_slice(&(self.recent.capacity() as u64).to_le_bytes());
        for w in self.rng.0 {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&(self.recent.len() as u64).to_le_bytes());
        let (new, old) = self.recent.split_at(self.recent_at);
        for &t in old.iter().chain(new) {
            out.extend_from_slice(&t.to_le_bytes());
        }
        let mut h = crate::state::Hash64::default();
        h.update(&out);
        out.extend_from_slice(&h.finish().to_le_bytes());
        debug_assert_eq!(out.len(), self.state_len());
        out
    }

    /// Puts back a state that [`Sampler::state`] gave.
    ///
    /// # Errors
    /// [`Error::State`] when the bytes are truncated or damaged, of another
    /// format version, or from a sampler of another vocabulary size or
    /// penalty window; the sampler is then unchanged.
    pub fn restore_state(&mut self, data: &[u8]) -> Result<()> {
        let bad = |m: String| Err(Error::State(format!("sampler state: {m}")));
        if data.len() < SAMPLER_STATE_FIXED || data[..8] != SAMPLER_MAGIC {
            return bad(format!(
                "{} bytes that do not begin a sampler state",
                data.len()
            ));
        }
        let u64_at = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"));
        let version = u32::from_le_bytes(data[8..12].try_into().expect("4 bytes"));
        if version != 1 {
            return bad(format!("format version {version}; this library reads 1"));
        }
        let n = u64_at(64);
        let cap = self.recent.capacity();
        if data.len() as u64 != (SAMPLER_STATE_FIXED as u64).saturating_add(n.saturating_mul(4)) {
            return bad(format!(
                "{} bytes holding {n} tokens: truncated or damaged",
                data.len()
            ));
        }
        let body = data.len() - 8;
        let mut h = crate::state::Hash64::default();
        h.update(&data[..body]);
        if h.finish() != u64_at(body) {
            return bad("the checksum does not match: the bytes are damaged".into());
        }
        if u64_at(16) != self.vocab as u64 || u64_at(24) != cap as u64 || n > cap as u64 {
            return bad(format!(
                "saved by a sampler of {} tokens and a penalty window of {}; this one has {} and {cap}",
                u64_at(16),
                u64_at(24),
                self.vocab
            ));
        }
        let tokens = data[72..body]
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
        if let Some(t) = tokens.clone().find(|&t| t as usize >= self.vocab) {
            return bad(format!("token {t} is outside the vocabulary"));
        }
        self.rng.0 = [u64_at(32), u64_at(40), u64_at(48), u64_at(56)];
        self.recent.clear();
        self.recent_at = 0;
        self.counts.iter_mut().for_each(|c| *c = 0);
        for t in tokens {
            self.recent.push(t);
            self.counts[t as usize] += 1;
        }
        Ok(())
    }

    /// Makes `context`'s last tokens (as many as the penalties look at)
    /// the whole history, keeping the generator where it is: a draft
    /// model's sampler, which follows a context that can go back.
    pub(crate) fn set_history(&mut self, context: &[u32]) {
        for &t in &self.recent {
            self.counts[t as usize] = 0;
        }
        self.recent.clear();
        self.recent_at = 0;
        let cap = self.recent.capacity();
        for &t in &context[context.len().saturating_sub(cap)..] {
            self.accept(t);
        }
    }

    /// Records a token of the context (prompt or generated) for the
    /// penalties.
    pub fn accept(&mut self, token: u32) {
        let cap = self.recent.capacity();
        if cap == 0 || token as usize >= self.counts.len() {
            return;
        }
        if self.recent.len() < cap {
            self.recent.push(token);
        } else {
            let old = std::mem::replace(&mut self.recent[self.recent_at], token);
            self.counts[old as usize] -= 1;
            self.recent_at = (self.recent_at + 1) % cap;
        }
        self.counts[token as usize] += 1;
    }

    /// Chooses a token from `logits` (one per vocabulary entry). Does not
    /// record it: call [`Sampler::accept`] with the token you keep.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `logits` is not one value per
    /// vocabulary entry, or there is nothing to choose from: no finite
    /// value, or (when sampling at a temperature) a NaN or `+inf`, which a
    /// damaged model produces.
    pub fn sample(&mut self, logits: &[f32]) -> Result<u32> {
        self.check_len(logits)?;
        match self.pick(logits) {
            Some(t) if logits.get(t as usize).is_some_and(|l| l.is_finite()) => Ok(t),
            _ => Err(no_token(logits)),
        }
    }

    /// The distribution [`Sampler::sample`] draws from for `logits`, after
    /// penalties, truncations and temperature: `(probability, token)`
    /// pairs summing to 1, most likely first (one pair with 1 when
    /// greedy). Valid until the sampler is next used. A draft model's
    /// sampler gives these to [`Sampler::verify_draft`].
    ///
    /// # Errors
    /// As [`Sampler::sample`].
    pub fn distribution(&mut self, logits: &[f32]) -> Result<&[(f32, u32)]> {
        self.check_len(logits)?;
        match self.weigh(logits) {
            Some(Weighed::Greedy(t)) if logits[t as usize].is_finite() => {
                self.cand.clear();
                self.cand.push((1.0, t));
            }
            Some(Weighed::Weights(total)) if total > 0.0 && total.is_finite() => {
                for c in self.cand.iter_mut() {
                    c.0 = (c.0 as f64 / total) as f32;
                }
            }
            _ => return Err(no_token(logits)),
        }
        Ok(&self.cand)
    }

    /// A token drawn from [`Sampler::distribution`], and the distribution:
    /// what a draft model's sampler does for [`Sampler::verify_draft`].
    /// (The same tokens as [`Sampler::sample`] up to the rounding of the
    /// normalized probabilities.)
    ///
    /// # Errors
    /// As [`Sampler::sample`].
    pub fn sample_distribution(&mut self, logits: &[f32]) -> Result<(u32, &[(f32, u32)])> {
        self.distribution(logits)?;
        let t = if self.cand.len() == 1 {
            self.cand[0].1
        } else {
            self.draw(1.0)
        };
        Ok((t, &self.cand))
    }

    /// Speculative sampling's step: given the target model's `logits` at a
    /// position and a drafted `token` for it, drawn from the distribution
    /// `q` (dense, a probability per vocabulary entry; `None` when the
    /// drafter chose it outright, as prompt lookup does: `q(token) = 1`),
    /// either accepts the draft (`(token, true)`) or draws another token
    /// from what the draft left out (`(other, false)`), so that the token
    /// returned is distributed exactly as [`Sampler::sample`]'s would be
    /// (Leviathan et al. 2023; Chen et al. 2023). Greedy sampling accepts
    /// exactly when the draft is the greedy choice and returns that choice
    /// otherwise, without using the generator. Records nothing: call
    /// [`Sampler::accept`] with the token returned.
    ///
    /// # Errors
    /// As [`Sampler::sample`]; and [`Error::InvalidArgument`] when `q` is
    /// not one value per vocabulary entry.
    pub fn verify_draft(
        &mut self,
        logits: &[f32],
        token: u32,
        q: Option<&[f32]>,
    ) -> Result<(u32, bool)> {
        self.check_len(logits)?;
        if q.is_some_and(|q| q.len() != self.vocab) {
            return Err(Error::InvalidArgument(format!(
                "a draft distribution of {} values for a sampler of {} tokens",
                q.map_or(0, <[f32]>::len),
                self.vocab
            )));
        }
        let total = match self.weigh(logits) {
            Some(Weighed::Greedy(t)) if logits[t as usize].is_finite() => {
                return Ok((t, t == token))
            }
            Some(Weighed::Weights(total)) if total > 0.0 && total.is_finite() => total,
            _ => return Err(no_token(logits)),
        };
        let q_of = |t: u32| match q {
            Some(q) => q[t as usize] as f64,
            None => f64::from(u8::from(t == token)),
        };
        let p_x = self
            .cand
            .iter()
            .find(|c| c.1 == token)
            .map_or(0.0, |c| c.0 as f64 / total);
        let q_x = q_of(token);
        // Accept with probability min(1, p/q); a draw only when it is
        // neither 0 nor 1.
        if p_x > 0.0 && (p_x >= q_x || self.rng.f64() * q_x < p_x) {
            return Ok((token, true));
        }
        // Rejected: draw from max(0, p - q), renormalized.
        let mut rest = 0f64;
        for c in self.cand.iter_mut() {
            let r = (c.0 as f64 / total - q_of(c.1)).max(0.0);
            rest += r;
            c.0 = r as f32;
        }
        if rest > 0.0 {
            return Ok((self.draw(rest), false));
        }
        // p and q agree to rounding everywhere the draft could reach and
        // the draft still lost the draw: nothing is left to draw from.
        // Fall back on p itself (only rounding separates the two).
        let total = match self.weigh(logits) {
            Some(Weighed::Weights(total)) => total,
            _ => return Err(no_token(logits)),
        };
        Ok((self.draw(total), false))
    }

    fn check_len(&self, logits: &[f32]) -> Result<()> {
        if logits.len() != self.vocab {
            return Err(Error::InvalidArgument(format!(
                "{} logits for a sampler of {} tokens",
                logits.len(),
                self.vocab
            )));
        }
        Ok(())
    }

    /// [`Sampler::sample`]'s choice, or `None` when the probabilities are
    /// not numbers.
    fn pick(&mut self, logits: &[f32]) -> Option<u32> {
        match self.weigh(logits)? {
            Weighed::Greedy(t) => Some(t),
            Weighed::Weights(total) => Some(self.draw(total)),
        }
    }

    /// The penalties, truncations and temperature of the chain: either the
    /// greedy choice, or `cand` left holding the surviving tokens with
    /// weights (`p^(1/T)`, unnormalized; their sum returned), most likely
    /// first. `None` when the probabilities are not numbers.
    fn weigh(&mut self, logits: &[f32]) -> Option<Weighed> {
        let p = &self.params;
        let neutral =
            p.repeat_penalty == 1.0 && p.frequency_penalty == 0.0 && p.presence_penalty == 0.0;
        if p.temperature == 0.0 && (neutral || self.recent.is_empty()) {
            // Nothing changes a logit: skip building the candidates.
            return Some(Weighed::Greedy(argmax(logits)));
        }
        self.cand.clear();
        self.cand
            .extend(logits.iter().enumerate().map(|(i, &l)| (l, i as u32)));
        if !self.recent.is_empty() {
            // A token may appear several times in `recent`: penalise it once,
            // by its count. `stamp` marks tokens done in this call.
            self.epoch = self.epoch.wrapping_add(1);
            for &t in &self.recent {
                let t = t as usize;
                if self.stamp[t] == self.epoch {
                    continue;
                }
                self.stamp[t] = self.epoch;
                let l = &mut self.cand[t].0;
                *l = if *l > 0.0 {
                    *l / p.repeat_penalty
                } else {
                    *l * p.repeat_penalty
                };
                *l -= self.counts[t] as f32 * p.frequency_penalty + p.presence_penalty;
            }
        }
        if p.temperature == 0.0 {
            return Some(Weighed::Greedy(argmax_candidates(&self.cand)));
        }
        if self.cand.is_empty() {
            return None;
        }
        // top-k: partial selection, then sort the survivors.
        let by_logit = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0);
        let k = if p.top_k == 0 {
            self.cand.len()
        } else {
            p.top_k.min(self.cand.len())
        };
        if k < self.cand.len() {
            self.cand.select_nth_unstable_by(k - 1, by_logit);
            self.cand.truncate(k);
        }
        self.cand.sort_unstable_by(by_logit);
        // Probabilities at temperature 1 for the truncations. (`total_cmp`
        // sorts NaN above +inf and -NaN below -inf: a NaN anywhere makes
        // the sum NaN.)
        let max = self.cand[0].0;
        if !max.is_finite() {
            return None;
        }
        let mut sum = 0f64;
        for c in self.cand.iter_mut() {
            let e = ((c.0 - max) as f64).exp();
            sum += e;
            c.0 = e as f32;
        }
        if sum.is_nan() {
            return None;
        }
        let mut keep = self.cand.len();
        if p.top_p < 1.0 {
            let mut acc = 0f64;
            for (i, c) in self.cand.iter().enumerate() {
                acc += c.0 as f64 / sum;
                if acc >= p.top_p as f64 {
                    keep = i + 1;
                    break;
                }
            }
        }
        if p.min_p > 0.0 {
            let floor = self.cand[0].0 * p.min_p;
            keep = keep.min(self.cand.iter().take_while(|c| c.0 >= floor).count().max(1));
        }
        self.cand.truncate(keep);
        // Temperature on what survives: p^(1/T) is softmax(logit / T).
        let inv_t = 1.0 / p.temperature as f64;
        let mut total = 0f64;
        for c in self.cand.iter_mut() {
            let w = (c.0 as f64).powf(inv_t);
            total += w;
            c.0 = w as f32;
        }
        Some(Weighed::Weights(total))
    }

    /// A token drawn from `cand`'s weights, which sum to `total`.
    fn draw(&mut self, total: f64) -> u32 {
        let mut r = self.rng.f64() * total;
        for c in &self.cand {
            r -= c.0 as f64;
            if r < 0.0 {
                return c.1;
            }
        }
        self.cand[self.cand.len() - 1].1
    }
}

/// What [`Sampler::weigh`] left: a greedy choice, or weights in `cand`
/// summing to this.
enum Weighed {
    Greedy(u32),
    Weights(f64),
}

fn no_token(logits: &[f32]) -> Error {
    let finite = logits.iter().filter(|l| l.is_finite()).count();
    Error::InvalidArgument(format!(
        "no token to sample: {finite} of {} logits are finite, the others \
         NaN or infinite (a damaged model or input)",
        logits.len()
    ))
}

/// The token with the highest logit (the first on ties): greedy decoding.
/// NaN logits are passed over, unless the first is NaN: then it is 0 (what
/// a scan that keeps the first and takes only strictly greater ones gives).
///
/// Two passes that vectorise: sixteen running maxima, then the first index
/// holding the maximum, sixteen comparisons at a time. A scan carrying the
/// best index took 95,000 cycles over SmolLM2's 49,152 logits, 0.7% of a
/// decode step; this takes about a third of that.
pub fn argmax(logits: &[f32]) -> u32 {
    const L: usize = 16;
    let Some(&first) = logits.first() else {
        return 0;
    };
    if first.is_nan() {
        return 0;
    }
    let chunks = logits.chunks_exact(L);
    let tail = chunks.remainder();
    let mut m = [f32::NEG_INFINITY; L];
    for c in chunks.clone() {
        for (m, &v) in m.iter_mut().zip(c) {
            // (`>` passes NaN over; a select, not `f32::max`, so that it
            // becomes one vector max.)
            *m = if v > *m { v } else { *m };
        }
    }
    let max = m
        .iter()
        .chain(tail)
        .fold(first, |a, &b| if b > a { b } else { a });
    for (i, c) in chunks.enumerate() {
        let mut hit = 0u32;
        for (l, &v) in c.iter().enumerate() {
            hit |= ((v == max) as u32) << l;
        }
        if hit != 0 {
            return (i * L) as u32 + hit.trailing_zeros();
        }
    }
    let at = tail.iter().position(|&v| v == max);
    // `max` is one of the logits: if not in a whole chunk, in the tail.
    (logits.len() - tail.len() + at.unwrap_or(0)) as u32
}

fn argmax_candidates(c: &[(f32, u32)]) -> u32 {
    let mut best = 0;
    for (i, x) in c.iter().enumerate() {
        if x.0 > c[best].0 {
            best = i;
        }
    }
    c[best].1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        (0..100).map(|i| ((i * 37 % 100) as f32) / 10.0).collect()
    }

    #[test]
    fn greedy_is_argmax() {
        let l = logits();
        let mut s = Sampler::new(SamplerParams::default(), 100).unwrap();
        let best = l
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(s.sample(&l).unwrap() as usize, best);
    }

    fn tempered(seed: u64, last_n: usize) -> SamplerParams {
        SamplerParams {
            temperature: 0.9,
            top_k: 40,
            repeat_penalty: 1.3,
            frequency_penalty: 0.2,
            penalty_last_n: last_n,
            seed,
            ..SamplerParams::default()
        }
    }

    /// Samples `n` tokens, accepting each.
    fn draw(s: &mut Sampler, n: usize) -> Vec<u32> {
        let l = logits();
        (0..n)
            .map(|_| {
                let t = s.sample(&l).unwrap();
                s.accept(t);
                t
            })
            .collect()
    }

    #[test]
    fn a_restored_sampler_draws_what_the_saved_one_would() {
        // Windows not yet full, just full, and wrapped several times.
        for warmup in [0, 3, 8, 29] {
            let mut a = Sampler::new(tempered(7, 8), 100).unwrap();
            draw(&mut a, warmup);
            let saved = a.state();
            assert_eq!(saved.len(), a.state_len());
            let ahead = draw(&mut a, 40);
            // Another seed: the generator's position comes from the state.
            let mut b = Sampler::new(tempered(99, 8), 100).unwrap();
            draw(&mut b, 5);
            b.restore_state(&saved).unwrap();
            assert_eq!(draw(&mut b, 40), ahead, "after {warmup} tokens");
        }
    }

    #[test]
    fn a_sampler_state_that_does_not_fit_is_refused_and_changes_nothing() {
        let mut a = Sampler::new(tempered(7, 8), 100).unwrap();
        draw(&mut a, 11);
        let saved = a.state();
        let mut b = Sampler::new(tempered(3, 8), 100).unwrap();
        draw(&mut b, 4);
        let before = b.state();
        let mut flipped = saved.clone();
        flipped[75] ^= 1;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (Vec::new(), "do not begin"),
            (saved[..saved.len() - 1].to_vec(), "truncated"),
            (flipped, "checksum"),
            (
                Sampler::new(tempered(7, 16), 100).unwrap().state(),
                "penalty window",
            ),
            (
                Sampler::new(tempered(7, 8), 101).unwrap().state(),
                "penalty window",
            ),
        ];
        for (bytes, why) in cases {
            let e = b.restore_state(&bytes).unwrap_err();
            assert!(
                matches!(&e, Error::State(m) if m.contains(why)),
                "{why}: {e}"
            );
            assert_eq!(b.state(), before, "{why}: the sampler changed");
        }
        // A greedy sampler without penalties remembers nothing.
        let g = Sampler::new(SamplerParams::default(), 100).unwrap();
        assert_eq!(g.state().len(), 80);
    }

    /// Pearson's chi-square of `counts` against the probabilities `p`.
    fn chi_square(counts: &[u32], p: &[f64]) -> f64 {
        let n: u32 = counts.iter().sum();
        counts
            .iter()
            .zip(p)
            .filter(|(_, &p)| p > 0.0)
            .map(|(&c, &p)| {
                let e = p * n as f64;
                (c as f64 - e).powi(2) / e
            })
            .sum()
    }

    /// The tokens `verify_draft` returns when drafts come from `q` (or are
    /// always `fixed`), counted, over `n` trials.
    fn speculate(
        params: SamplerParams,
        logits: &[f32],
        q: Option<&[f32]>,
        fixed: u32,
        n: usize,
    ) -> Vec<u32> {
        let v = logits.len();
        let mut s = Sampler::new(params, v).unwrap();
        let mut drafts = Rng::new(12345);
        let mut counts = vec![0u32; v];
        for _ in 0..n {
            let x = match q {
                Some(q) => {
                    let mut r = drafts.f64();
                    q.iter()
                        .position(|&w| {
                            r -= w as f64;
                            r < 0.0
                        })
                        .unwrap_or(v - 1) as u32
                }
                None => fixed,
            };
            let (t, accepted) = s.verify_draft(logits, x, q).unwrap();
            assert_eq!(accepted, t == x && accepted);
            counts[t as usize] += 1;
        }
        counts
    }

    #[test]
    fn speculative_sampling_keeps_the_target_distribution() {
        let logits = [2.0f32, 1.5, 1.0, 0.2, -0.5, 0.9, -2.0, 1.2];
        let q = [0.05f32, 0.3, 0.05, 0.3, 0.1, 0.1, 0.05, 0.05];
        // 7 degrees of freedom: 24.3 is the 0.1% point. Fixed seeds make
        // each case deterministic.
        const BOUND: f64 = 24.3;
        for params in [
            SamplerParams {
                temperature: 1.0,
                seed: 3,
                ..SamplerParams::default()
            },
            SamplerParams {
                temperature: 0.7,
                top_k: 6,
                min_p: 0.05,
                seed: 4,
                ..SamplerParams::default()
            },
        ] {
            let p: Vec<f64> = {
                let mut s = Sampler::new(params.clone(), 8).unwrap();
                let mut p = vec![0f64; 8];
                for &(w, t) in s.distribution(&logits).unwrap() {
                    p[t as usize] = w as f64;
                }
                p
            };
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-5);
            let n = 40_000;
            // A draft model's q, and prompt lookup's fixed tokens (likely,
            // unlikely, and one top-k drops).
            let mut cases = vec![("q", speculate(params.clone(), &logits, Some(&q), 0, n))];
            for fixed in [0, 3, 6] {
                cases.push(("fixed", speculate(params.clone(), &logits, None, fixed, n)));
            }
            for (what, counts) in &cases {
                let x2 = chi_square(counts, &p);
                assert!(
                    x2 < BOUND,
                    "{params:?}, {what}: chi-square {x2} against the target"
                );
                let outside = counts
                    .iter()
                    .zip(&p)
                    .filter(|(&c, &p)| p == 0.0 && c > 0)
                    .count();
                assert_eq!(outside, 0, "{what}: a token the target cannot give");
            }
            // The bound has teeth: the draft itself (every draft accepted)
            // is far from the target.
            let mut drafts = Rng::new(12345);
            let mut as_drafted = vec![0u32; 8];
            for _ in 0..n {
                let mut r = drafts.f64();
                let x = q
                    .iter()
                    .position(|&w| {
                        r -= w as f64;
                        r < 0.0
                    })
                    .unwrap_or(7);
                as_drafted[x] += 1;
            }
            let masked: Vec<f64> = p.iter().map(|&p| p.max(1e-3)).collect();
            assert!(chi_square(&as_drafted, &masked) > 10.0 * BOUND);
        }
    }

    #[test]
    fn greedy_verification_accepts_exactly_the_greedy_choice() {
        let l = logits();
        let best = argmax(&l);
        let mut s = Sampler::new(SamplerParams::default(), 100).unwrap();
        let before = s.state();
        assert_eq!(s.verify_draft(&l, best, None).unwrap(), (best, true));
        assert_eq!(
            s.verify_draft(&l, (best + 1) % 100, None).unwrap(),
            (best, false)
        );
        let q = vec![0.01f32; 100];
        assert_eq!(s.verify_draft(&l, 5, Some(&q)).unwrap(), (best, best == 5));
        assert_eq!(s.state(), before, "greedy verification used the generator");
        assert!(s.verify_draft(&l, 5, Some(&q[..99])).is_err());
    }

    /// The plain scan `argmax` must agree with.
    fn argmax_scan(l: &[f32]) -> u32 {
        let mut best = 0;
        for (i, &x) in l.iter().enumerate() {
            if x > l[best] {
                best = i;
            }
        }
        best as u32
    }

    #[test]
    fn argmax_is_the_first_maximum_like_a_scan() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for len in [0, 1, 2, 15, 16, 17, 31, 33, 100, 1000, 49_152] {
            for case in 0..12 {
                // Few distinct values, so ties are common; some NaN, ±0
                // and infinities; the maximum at the start, inside or in
                // the tail.
                let mut l: Vec<f32> = (0..len).map(|_| (next() % 7) as f32 - 3.0).collect();
                match case {
                    1 => l.iter_mut().for_each(|v| *v = f32::NEG_INFINITY),
                    2 if len > 3 => l[len / 2] = f32::NAN,
                    3 if len > 0 => l[0] = f32::NAN,
                    4 if len > 0 => l[len - 1] = 9.0,
                    5 if len > 0 => l[0] = 9.0,
                    6 => l
                        .iter_mut()
                        .for_each(|v| *v = if *v > 0.0 { 0.0 } else { -0.0 }),
                    7 if len > 5 => l[len - 5] = f32::INFINITY,
                    8 => l.iter_mut().for_each(|v| *v = f32::NAN),
                    9 if len > 1 => {
                        l.iter_mut().for_each(|v| *v = f32::NAN);
                        l[len - 1] = -1.0;
                    }
                    _ => {}
                }
                assert_eq!(argmax(&l), argmax_scan(&l), "len {len}, case {case}: {l:?}");
            }
        }
    }

    #[test]
    fn greedy_shortcut_agrees_with_the_full_path() {
        // The shortcut for neutral penalties gives what the full path gives
        // (a tiny penalty forces the full path).
        let l = logits();
        let mut fast = Sampler::new(SamplerParams::default(), 100).unwrap();
        let full_params = SamplerParams {
            presence_penalty: f32::MIN_POSITIVE,
            ..Default::default()
        };
        let mut full = Sampler::new(full_params, 100).unwrap();
        for t in [3, 50, 99] {
            fast.accept(t);
            full.accept(t);
        }
        assert_eq!(fast.sample(&l).unwrap(), full.sample(&l).unwrap());
    }

    #[test]
    fn same_seed_same_draws_and_other_seed_differs() {
        let l = logits();
        let p = SamplerParams {
            temperature: 1.5,
            seed: 7,
            ..Default::default()
        };
        let draw = |p: &SamplerParams| {
            let mut s = Sampler::new(p.clone(), 100).unwrap();
            (0..50).map(|_| s.sample(&l).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(draw(&p), draw(&p));
        assert_ne!(
            draw(&p),
            draw(&SamplerParams {
                seed: 8,
                ..p.clone()
            })
        );
    }

    #[test]
    fn top_k_one_is_greedy_and_top_k_bounds_the_support() {
        let l = logits();
        let mut s = Sampler::new(
            SamplerParams {
                temperature: 5.0,
                top_k: 1,
                ..Default::default()
            },
            100,
        )
        .unwrap();
        let mut g = Sampler::new(SamplerParams::default(), 100).unwrap();
        for _ in 0..20 {
            assert_eq!(s.sample(&l).unwrap(), g.sample(&l).unwrap());
        }
        let mut s = Sampler::new(
            SamplerParams {
                temperature: 5.0,
                top_k: 3,
                ..Default::default()
            },
            100,
        )
        .unwrap();
        let mut order: Vec<usize> = (0..100).collect();
        order.sort_by(|&a, &b| l[b].total_cmp(&l[a]));
        for _ in 0..200 {
            assert!(order[..3].contains(&(s.sample(&l).unwrap() as usize)));
        }
    }

    #[test]
    fn top_p_and_min_p_cut_the_tail() {
        // One dominant token (p ≈ 0.98) and a flat tail.
        let mut l = vec![0.0f32; 50];
        l[10] = 8.0;
        let mut s = Sampler::new(
            SamplerParams {
                temperature: 1.0,
                top_p: 0.9,
                ..Default::default()
            },
            50,
        )
        .unwrap();
        for _ in 0..200 {
            assert_eq!(s.sample(&l).unwrap(), 10);
        }
        let mut s = Sampler::new(
            SamplerParams {
                temperature: 1.0,
                min_p: 0.01,
                ..Default::default()
            },
            50,
        )
        .unwrap();
        for _ in 0..200 {
            assert_eq!(s.sample(&l).unwrap(), 10);
        }
    }

    #[test]
    fn repeat_penalty_moves_greedy_off_a_recent_token() {
        let mut l = vec![0.0f32; 10];
        l[3] = 2.0;
        l[4] = 1.9;
        let p = SamplerParams {
            repeat_penalty: 1.3,
            ..Default::default()
        };
        let mut s = Sampler::new(p, 10).unwrap();
        assert_eq!(s.sample(&l).unwrap(), 3);
        s.accept(3);
        assert_eq!(s.sample(&l).unwrap(), 4);
        // Penalties only look back `penalty_last_n` tokens.
        let p = SamplerParams {
            repeat_penalty: 1.3,
            penalty_last_n: 2,
            ..Default::default()
        };
        let mut s = Sampler::new(p, 10).unwrap();
        s.accept(3);
        s.accept(1);
        s.accept(2);
        assert_eq!(s.sample(&l).unwrap(), 3);
    }

    #[test]
    fn frequency_penalty_counts_occurrences() {
        let mut l = vec![0.0f32; 10];
        l[3] = 2.0;
        l[4] = 1.5;
        let p = SamplerParams {
            frequency_penalty: 0.3,
            ..Default::default()
        };
        let mut s = Sampler::new(p, 10).unwrap();
        s.accept(3);
        assert_eq!(s.sample(&l).unwrap(), 3); // 2.0 - 0.3 > 1.5
        s.accept(3);
        assert_eq!(s.sample(&l).unwrap(), 4); // 2.0 - 0.6 < 1.5
    }

    #[test]
    fn out_of_range_settings_are_errors() {
        for p in [
            SamplerParams {
                temperature: -1.0,
                ..Default::default()
            },
            SamplerParams {
                top_p: 0.0,
                ..Default::default()
            },
            SamplerParams {
                min_p: 2.0,
                ..Default::default()
            },
            SamplerParams {
                repeat_penalty: 0.0,
                ..Default::default()
            },
        ] {
            assert!(Sampler::new(p, 10).is_err());
        }
    }
}
