//! `minke score` and `minke perplexity`: how likely the model finds a text.

use crate::Res;
use minke::score::{perplexity as ppl, score_continuation};
use minke::{KvType, Model, Session, SessionParams};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ScoreArgs {
    /// The model.
    #[arg(short, long)]
    model: PathBuf,
    /// The prompt (tokenized with the model's special prefix, e.g. BOS).
    #[arg(long)]
    prompt: String,
    /// The continuation to score (tokenized on its own, without specials).
    #[arg(long)]
    continuation: String,
    /// Print JSON: total, mean and per-token log-probabilities.
    #[arg(long)]
    json: bool,
    /// Threads.
    #[arg(short = 't', long)]
    threads: Option<usize>,
    #[command(flatten)]
    opts: crate::ModelOpts,
}

#[derive(clap::Args)]
pub struct RewardArgs {
    /// The reward model (a *ForSequenceClassification checkpoint, or its .minke).
    #[arg(short, long)]
    model: PathBuf,
    /// The prompt (user turn).
    #[arg(long, requires = "response", conflicts_with = "tokens")]
    prompt: Option<String>,
    /// The response to score (assistant turn).
    #[arg(long, requires = "prompt")]
    response: Option<String>,
    /// Token ids, comma-separated (for models without a tokenizer).
    #[arg(long)]
    tokens: Option<String>,
    /// Threads.
    #[arg(short = 't', long)]
    threads: Option<usize>,
    #[command(flatten)]
    opts: crate::ModelOpts,
}

#[derive(clap::Args)]
pub struct PplArgs {
    /// The model.
    #[arg(short, long)]
    model: PathBuf,
    /// The text file.
    #[arg(short = 'f', long)]
    file: PathBuf,
    /// Chunk (context) length.
    #[arg(short = 'c', long = "ctx", default_value_t = 512)]
    ctx: usize,
    /// Threads.
    #[arg(short = 't', long)]
    threads: Option<usize>,
    #[command(flatten)]
    opts: crate::ModelOpts,
}

fn session<'m>(
    model: &'m Model,
    n_ctx: usize,
    threads: Option<usize>,
    opts: &crate::ModelOpts,
) -> minke::Result<Session<'m>> {
    Session::new(
        model,
        SessionParams {
            n_ctx,
            n_threads: threads.unwrap_or(SessionParams::default().n_threads),
            kv_type: opts.kv_or(KvType::F32),
            n_batch: n_ctx.min(128),
            logits_all: true,
            ..opts.session()
        },
    )
}

pub fn score(a: ScoreArgs) -> Res {
    let model = a.opts.open(&a.model)?;
    let tok = model.tokenizer()?;
    let prompt = tok.encode(&a.prompt, true)?;
    let cont = tok.encode(&a.continuation, false)?;
    if prompt.is_empty() {
        return Err("the prompt tokenizes to nothing".into());
    }
    let mut s = session(&model, prompt.len() + cont.len(), a.threads, &a.opts)?;
    let r = score_continuation(&mut s, &prompt, &cont)?;
    if a.json {
        let pieces: Vec<String> = cont
            .iter()
            .map(|&t| tok.token_to_piece(t).unwrap_or_default())
            .collect();
        let v = serde_json::json!({
            "total": r.total,
            "mean": r.mean(),
            "tokens": cont,
            "pieces": pieces,
            "logprobs": r.token_logprobs,
        });
        println!("{v}");
    } else {
        println!("{:.6}", r.total);
        eprintln!(
            "{} continuation tokens, mean log-prob {:.4} (perplexity {:.3})",
            cont.len(),
            r.mean(),
            (-r.mean()).exp()
        );
    }
    Ok(())
}

pub fn perplexity(a: PplArgs) -> Res {
    let model = a.opts.open(&a.model)?;
    let tok = model.tokenizer()?;
    let text =
        std::fs::read_to_string(&a.file).map_err(|e| format!("{}: {e}", a.file.display()))?;
    let tokens = tok.encode(&text, true)?;
    // llama.cpp replaces each chunk's first token by BOS when the model
    // adds one.
    let bos = if tok.prefix_ids().is_empty() {
        None
    } else {
        tok.bos_id()
    };
    let mut s = session(&model, a.ctx, a.threads, &a.opts)?;
    eprintln!(
        "{} tokens, {} chunks of {}",
        tokens.len(),
        tokens.len() / a.ctx,
        a.ctx
    );
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:40}] chunk {pos}/{len} eta {eta} {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let r = ppl(&mut s, &tokens, a.ctx, bos, |done, total, r| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(format!("PPL {:.4}", r.ppl));
    })?;
    bar.finish_and_clear();
    eprintln!("{} tokens scored in {} chunks", r.count, r.chunks);
    println!("PPL = {:.4}", r.ppl);
    Ok(())
}

pub fn reward(a: RewardArgs) -> Res {
    let model = a.opts.open(&a.model)?;
    let tokens = match (&a.tokens, &a.prompt, &a.response) {
        (Some(t), _, _) => crate::parse_tokens(t)?,
        (None, Some(p), Some(r)) => minke::score::reward_input(model.tokenizer()?, p, r)?,
        _ => return Err("give --prompt P --response R, or --tokens 1,2,3".into()),
    };
    if tokens.is_empty() {
        return Err("nothing to score".into());
    }
    let mut s = Session::new(
        &model,
        SessionParams {
            n_ctx: tokens.len(),
            n_threads: a.threads.unwrap_or(SessionParams::default().n_threads),
            kv_type: a.opts.kv_or(KvType::F32),
            ..a.opts.session()
        },
    )?;
    let scores = minke::score::reward(&mut s, &tokens)?;
    let line: Vec<String> = scores.iter().map(|v| format!("{v:.6}")).collect();
    println!("{}", line.join(" "));
    Ok(())
}
