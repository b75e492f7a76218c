//! Speculative decoding for `minke run` and `minke bench`: `--lookup N`
//! (prompt lookup) or `--draft MODEL --draft-n K` (a draft model), the
//! drafter they make, and the statistics line.
//!
//! A drafter guesses the next tokens and the model checks them all in one
//! batch ([`minke::generate_speculative`]); the text is what plain
//! decoding gives, token for token when greedy.

use minke::speculative::MAX_DRAFT;
use minke::{
    generate, generate_speculative, DraftModel, Drafter, GenerateParams, Generated, Model,
    PromptLookup, Sampler, SamplerParams, Session, SessionParams, Tokenizer,
};
use std::path::{Path, PathBuf};

/// The speculative decoding flags.
#[derive(clap::Args, Clone, Debug)]
pub struct SpecArgs {
    /// Speculative decoding by prompt lookup: each step guesses up to N
    /// tokens (1 to 32) by copying what followed the last few tokens where
    /// they occurred before in the text, and the model checks them in one
    /// batch. The same text as without it; faster where the answer copies
    /// its input (summaries, rewrites, extraction, code edits).
    #[arg(long, value_name = "N", value_parser = parse_n_draft, conflicts_with = "draft")]
    pub lookup: Option<usize>,
    /// Speculative decoding with a draft model: a smaller model with the
    /// same vocabulary guesses tokens, the model checks them in one batch.
    /// It runs with the same threads, KV cache type and context as the
    /// model.
    #[arg(long, value_name = "MODEL")]
    pub draft: Option<PathBuf>,
    /// Tokens the draft model guesses a step (1 to 32).
    #[arg(long, value_name = "K", default_value_t = 8, value_parser = parse_n_draft, requires = "draft")]
    pub draft_n: usize,
}

/// `--lookup`'s and `--draft-n`'s values.
fn parse_n_draft(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX_DRAFT).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{s}` is not a number of tokens from 1 to {MAX_DRAFT}"
        )),
    }
}

impl SpecArgs {
    /// Whether either kind of speculation is asked for.
    pub fn on(&self) -> bool {
        self.lookup.is_some() || self.draft.is_some()
    }

    /// What the flags ask for, in words: `lookup 8`, `draft model.gguf,
    /// 8 a step`.
    pub fn describe(&self) -> Option<String> {
        match (&self.lookup, &self.draft) {
            (Some(n), _) => Some(format!("lookup {n}")),
            (None, Some(p)) => Some(format!("draft {}, {} a step", p.display(), self.draft_n)),
            _ => None,
        }
    }

    /// Opens `--draft`'s model (as `opts` opens the model) and checks that
    /// it shares `model`'s vocabulary: the same size, and the same token
    /// for every id where both files have a tokenizer.
    pub fn open_draft(
        &self,
        opts: &crate::ModelOpts,
        model: &Model,
        model_path: &Path,
    ) -> Result<Option<Model>, String> {
        let Some(path) = &self.draft else {
            return Ok(None);
        };
        let draft = opts
            .open(path)
            .map_err(|e| format!("the draft model: {e}"))?;
        let (dv, mv) = (draft.config.n_outputs(), model.config.vocab_size);
        if dv != mv || draft.config.n_labels.is_some() {
            return Err(format!(
                "the draft model {} has {dv} outputs and the model {} a vocabulary of {mv}: \
                 a draft model must share the model's vocabulary",
                path.display(),
                model_path.display()
            ));
        }
        if let (Ok(dt), Ok(mt)) = (draft.tokenizer(), model.tokenizer()) {
            if let Some(id) = (0..mv as u32).find(|&i| dt.id_to_token(i) != mt.id_to_token(i)) {
                return Err(format!(
                    "the draft model {} and the model {} differ at token {id} ({:?} and {:?}): \
                     a draft model must share the model's vocabulary",
                    path.display(),
                    model_path.display(),
                    dt.id_to_token(id).unwrap_or(""),
                    mt.id_to_token(id).unwrap_or("")
                ));
            }
        }
        Ok(Some(draft))
    }

    /// A session for the draft model: `main`'s threads, KV cache type and
    /// context length.
    pub fn draft_session<'m>(
        &self,
        opts: &crate::ModelOpts,
        draft: &'m Model,
        main: &Session<'_>,
    ) -> minke::Result<Session<'m>> {
        let p = main.params();
        let s = Session::new(
            draft,
            SessionParams {
                n_ctx: p.n_ctx,
                n_threads: p.n_threads,
                kv_type: p.kv_type,
                ..opts.session()
            },
        )?;
        if s.params().n_ctx < p.n_ctx {
            eprintln!(
                "minke: the draft model's context is {}, the model's {}: it guesses nothing beyond",
                s.params().n_ctx,
                p.n_ctx
            );
        }
        Ok(s)
    }

    /// The drafter the flags ask for: prompt lookup, or the draft model
    /// in `draft_session` sampling with `sp`; `None` for neither.
    pub fn drafter<'a>(
        &self,
        draft_session: Option<&'a mut Session<'_>>,
        vocab: usize,
        sp: &SamplerParams,
    ) -> minke::Result<Option<Box<dyn Drafter + 'a>>> {
        Ok(match (self.lookup, draft_session) {
            (Some(n), _) => Some(Box::new(PromptLookup::new(n))),
            (None, Some(s)) => Some(Box::new(DraftModel::new(s, vocab, sp, self.draft_n)?)),
            (None, None) => None,
        })
    }
}

/// [`generate`], or [`generate_speculative`] with `drafter`.
pub fn generate_with(
    session: &mut Session<'_>,
    tok: &Tokenizer,
    sampler: &mut Sampler,
    prompt: &[u32],
    params: &GenerateParams,
    drafter: Option<&mut (dyn Drafter + '_)>,
    on_text: impl FnMut(&str) -> bool,
) -> minke::Result<Generated> {
    match drafter {
        Some(d) => generate_speculative(session, tok, sampler, prompt, params, d, on_text),
        None => generate(session, tok, sampler, prompt, params, on_text),
    }
}

/// `drafted 120, accepted 84 (70%)`.
pub fn acceptance(drafted: usize, accepted: usize) -> String {
    format!(
        "drafted {drafted}, accepted {accepted} ({:.0}%)",
        rate(drafted, accepted) * 100.0
    )
}

/// The fraction of drafts accepted (0 for none drafted).
pub fn rate(drafted: usize, accepted: usize) -> f64 {
    if drafted == 0 {
        0.0
    } else {
        accepted as f64 / drafted as f64
    }
}
