//! `minke run`: generate from a prompt, or chat turn by turn.
//!
//! In `--chat` mode each line of standard input is a user turn; the model's
//! chat template renders the whole conversation, and only the tokens that
//! differ from what the KV cache already holds are run again.

use crate::Res;
use minke::{
    generate, ChatMessage, GenerateParams, Sampler, SamplerParams, Session, SessionParams,
    StopReason,
};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The model: a .minke file, a GGUF file or a Hugging Face folder.
    #[arg(short, long, env = "MINKE_MODEL")]
    model: PathBuf,
    /// The prompt, used as raw text (no chat template).
    #[arg(short, long, conflicts_with = "chat")]
    prompt: Option<String>,
    /// Chat: read user turns from standard input, one per line.
    #[arg(long)]
    chat: bool,
    /// A system message for --chat.
    #[arg(long, requires = "chat")]
    system: Option<String>,
    /// Most tokens to generate (per turn).
    #[arg(short = 'n', long = "n-predict", default_value_t = 256)]
    n: usize,
    /// Temperature (0 = greedy).
    #[arg(long = "temp", default_value_t = 0.7)]
    temperature: f32,
    /// Keep only the K most likely tokens (0 = off).
    #[arg(long, default_value_t = 40)]
    top_k: usize,
    /// Nucleus sampling threshold (1 = off).
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    /// Drop tokens below this fraction of the best one's probability.
    #[arg(long, default_value_t = 0.05)]
    min_p: f32,
    /// Repetition penalty (1 = off).
    #[arg(long, default_value_t = 1.1)]
    repeat_penalty: f32,
    /// Frequency penalty.
    #[arg(long, default_value_t = 0.0)]
    frequency_penalty: f32,
    /// Presence penalty.
    #[arg(long, default_value_t = 0.0)]
    presence_penalty: f32,
    /// Random seed (the same seed gives the same text).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Threads.
    #[arg(short = 't', long)]
    threads: Option<usize>,
    /// Context length.
    #[arg(short = 'c', long = "ctx", default_value_t = 2048)]
    ctx: usize,
    /// Stop when this text appears (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Apply this LoRA adapter (a PEFT folder) at run time.
    #[arg(long)]
    lora: Option<PathBuf>,
    /// Scale of the adapter.
    #[arg(long, default_value_t = 1.0, requires = "lora")]
    lora_scale: f32,
    /// Generate N answers (seeds S, S+1, ...) and print them best first.
    #[arg(long, value_name = "N", conflicts_with = "chat")]
    best_of: Option<usize>,
    /// Rank --best-of answers with this reward model (default: the
    /// model's own mean log-probability per token).
    #[arg(long, requires = "best_of")]
    reward_model: Option<PathBuf>,
    #[command(flatten)]
    opts: crate::ModelOpts,
}

pub fn run(a: Args) -> Res {
    let model = a.opts.open(&a.model)?;
    let tok = model.tokenizer()?;
    let params = SessionParams {
        n_ctx: a.ctx,
        n_threads: a.threads.unwrap_or(SessionParams::default().n_threads),
        ..a.opts.session()
    };
    let mut session = Session::new(&model, params)?;
    a.opts.note_ctx(a.ctx, &session);
    if let Some(dir) = &a.lora {
        let adapter = std::sync::Arc::new(minke::lora::LoraAdapter::open(dir)?);
        session.set_adapter(Some(adapter), a.lora_scale)?;
    }
    let sp = SamplerParams {
        temperature: a.temperature,
        top_k: a.top_k,
        top_p: a.top_p,
        min_p: a.min_p,
        repeat_penalty: a.repeat_penalty,
        frequency_penalty: a.frequency_penalty,
        presence_penalty: a.presence_penalty,
        seed: a.seed,
        ..SamplerParams::default()
    };
    let mut sampler = Sampler::new(sp, model.config.vocab_size)?;
    let gp = GenerateParams {
        max_tokens: a.n,
        stop: a.stop.clone(),
        stop_at_eos: true,
    };
    let stdout = std::io::stdout();

    if let Some(n) = a.best_of {
        let prompt = a.prompt.as_deref().ok_or("--best-of needs -p TEXT")?;
        let ids = tok.encode(prompt, true)?;
        let rm = a
            .reward_model
            .as_ref()
            .map(|p| a.opts.open(p))
            .transpose()?;
        let mut rm_session = match &rm {
            Some(m) => Some(Session::new(
                m,
                SessionParams {
                    n_ctx: a.ctx + 64,
                    n_threads: session.params().n_threads,
                    ..a.opts.session()
                },
            )?),
            None => None,
        };
        let ranked = minke::best_of_n(
            &mut session,
            tok,
            &ids,
            n,
            sampler.params(),
            &gp,
            |g| match (&rm, &mut rm_session) {
                (Some(m), Some(s)) => {
                    let input = minke::score::reward_input(m.tokenizer()?, prompt, &g.text)?;
                    Ok(minke::score::reward(s, &input)?[0] as f64)
                }
                _ => Ok(g.mean_logprob()),
            },
        )?;
        let what = if rm.is_some() {
            "reward"
        } else {
            "mean log-prob"
        };
        let mut out = stdout.lock();
        for (i, c) in ranked.iter().enumerate() {
            writeln!(
                out,
                "#{} {what} {:.4} (seed {}, {} tokens)",
                i + 1,
                c.score,
                c.seed,
                c.tokens.len()
            )?;
            writeln!(out, "{}{}\n", prompt, c.text)?;
        }
        return Ok(());
    }
    if !a.chat {
        let prompt = a.prompt.as_deref().ok_or("give -p TEXT or --chat")?;
        let ids = tok.encode(prompt, true)?;
        let mut out = stdout.lock();
        let g = generate(&mut session, tok, &mut sampler, &ids, &gp, |piece| {
            let _ = out.write_all(piece.as_bytes());
            let _ = out.flush();
            true
        })?;
        writeln!(out)?;
        report(&g);
        return Ok(());
    }

    if tok.chat_template().is_none() {
        return Err("this model has no chat template; use -p for raw text".into());
    }
    let mut messages: Vec<ChatMessage> = Vec::new();
    if let Some(s) = &a.system {
        messages.push(ChatMessage::new("system", s.clone()));
    }
    let interactive = std::io::stdin().is_terminal();
    // Tokens the KV cache holds, to reuse the common prefix each turn.
    let mut cached: Vec<u32> = Vec::new();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            eprint!("> ");
            std::io::stderr().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line?;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !interactive {
            eprintln!("> {line}");
        }
        messages.push(ChatMessage::new("user", line));
        // Special-token text a user types stays text: only the template's
        // own special tokens become control tokens.
        let ids = tok.encode_chat(&messages, true)?;
        let common = cached.iter().zip(&ids).take_while(|(a, b)| a == b).count();
        // Re-run at least the last prompt token so there are fresh logits.
        let keep = common.min(ids.len() - 1);
        session.rewind(keep)?;
        cached.truncate(keep);
        sampler.reset();
        let mut out = stdout.lock();
        let g = generate(
            &mut session,
            tok,
            &mut sampler,
            &ids[keep..],
            &gp,
            |piece| {
                let _ = out.write_all(piece.as_bytes());
                let _ = out.flush();
                true
            },
        )?;
        writeln!(out)?;
        drop(out);
        report(&g);
        cached.extend_from_slice(&ids[keep..]);
        // The cache holds every generated token but the last (never decoded).
        cached.extend_from_slice(&g.tokens[..g.tokens.len().saturating_sub(1)]);
        cached.truncate(session.pos());
        messages.push(ChatMessage::new("assistant", g.text.trim().to_string()));
        if g.reason == StopReason::ContextFull {
            eprintln!(
                "[context full: {} tokens; start again with a larger -c]",
                a.ctx
            );
            break;
        }
    }
    Ok(())
}

fn report(g: &minke::Generated) {
    eprintln!(
        "[{} prompt tokens at {:.1} tok/s; {} generated at {:.1} tok/s; stop: {:?}]",
        g.prompt_tokens,
        g.prefill_tok_s(),
        g.tokens.len(),
        g.decode_tok_s(),
        g.reason
    );
}
