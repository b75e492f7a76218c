//! `minke run`: generate from a prompt, or chat turn by turn.
//!
//! In `--chat` mode each line of standard input is a user turn; the model's
//! chat template renders the whole conversation, and only the tokens that
//! differ from what the KV cache already holds are run again.
//!
//! With `--context-shift` a conversation (or a generation) outgrows the
//! context: when it fills, the first `--keep` tokens (by default the
//! system turn, or the prompt) stay and half of the rest is dropped
//! ([`minke::Session::shift`]), as often as needed.
//!
//! `--lookup N` or `--draft MODEL` decode speculatively (`crate::speculate`):
//! the same text, with a prompt, a chat, a prompt cache or a context shift.

use crate::speculate::{acceptance, generate_with, SpecArgs};
use crate::Res;
use minke::{
    ChatMessage, GenerateParams, Sampler, SamplerParams, Session, SessionParams, StopReason,
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
    /// Read the prompt from FILE, as -p takes it (raw text, special-token
    /// text such as `<|im_start|>` included).
    #[arg(short = 'f', long, value_name = "FILE", conflicts_with_all = ["chat", "prompt"])]
    prompt_file: Option<PathBuf>,
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
    /// When the context fills, keep its first tokens (--keep) and drop half
    /// of the rest, and go on: an endless chat or generation.
    #[arg(long)]
    context_shift: bool,
    /// Tokens --context-shift keeps at the start of the context (default:
    /// with --chat the system turn, with -p the prompt, at most half the
    /// context).
    #[arg(long, value_name = "N", requires = "context_shift")]
    keep: Option<usize>,
    /// Apply this LoRA adapter (a PEFT folder) at run time.
    #[arg(long)]
    lora: Option<PathBuf>,
    /// Scale of the adapter.
    #[arg(long, default_value_t = 1.0, requires = "lora")]
    lora_scale: f32,
    /// Generate N answers (seeds S, S+1, ...) and print them best first.
    #[arg(long, value_name = "N", conflicts_with_all = ["chat", "lookup", "draft"])]
    best_of: Option<usize>,
    /// Rank --best-of answers with this reward model (default: the
    /// model's own mean log-probability per token).
    #[arg(long, requires = "best_of")]
    reward_model: Option<PathBuf>,
    /// Keep the prompt's session state in FILE: a later run whose prompt
    /// starts with the same tokens restores them from it instead of
    /// running them again (the file is made or replaced by each run).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["chat", "best_of", "context_shift"])]
    prompt_cache: Option<PathBuf>,
    #[command(flatten)]
    spec: SpecArgs,
    #[command(flatten)]
    opts: crate::ModelOpts,
}

pub fn run(mut a: Args) -> Res {
    if let Some(f) = &a.prompt_file {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        a.prompt = Some(text);
    }
    let model = a.opts.open(&a.model)?;
    let draft_model = a.spec.open_draft(&a.opts, &model, &a.model)?;
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
    let mut draft_session = match &draft_model {
        Some(m) => Some(a.spec.draft_session(&a.opts, m, &session)?),
        None => None,
    };
    let mut drafter = a
        .spec
        .drafter(draft_session.as_mut(), model.config.vocab_size, &sp)?;
    let spec = a.spec.on();
    let mut sampler = Sampler::new(sp, model.config.vocab_size)?;
    let mut gp = GenerateParams {
        max_tokens: a.n,
        stop: a.stop.clone(),
        stop_at_eos: true,
        context_shift: None,
    };
    let n_ctx = session.params().n_ctx;
    if a.context_shift && a.best_of.is_some() {
        return Err("--context-shift does not go with --best-of: each answer must fit".into());
    }
    let stdout = std::io::stdout();

    if let Some(n) = a.best_of {
        let prompt = a
            .prompt
            .as_deref()
            .ok_or("--best-of needs -p TEXT or -f FILE")?;
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
        let prompt = a
            .prompt
            .as_deref()
            .ok_or("give -p TEXT, -f FILE or --chat")?;
        let ids = tok.encode(prompt, true)?;
        if a.context_shift {
            gp.context_shift = Some(keep_at_most(a.keep.unwrap_or(ids.len()), n_ctx)?);
        }
        let start = match &a.prompt_cache {
            Some(file) => prompt_cache(&mut session, &mut sampler, &ids, file)?,
            None => 0,
        };
        let mut out = stdout.lock();
        let g = generate_with(
            &mut session,
            tok,
            &mut sampler,
            &ids[start..],
            &gp,
            drafter.as_deref_mut(),
            |piece| {
                let _ = out.write_all(piece.as_bytes());
                let _ = out.flush();
                true
            },
        )?;
        writeln!(out)?;
        report(&g, spec);
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
    if a.context_shift {
        let keep = match a.keep {
            Some(n) => n,
            None => system_turn_len(tok, &messages)?,
        };
        gp.context_shift = Some(keep_at_most(keep, n_ctx)?);
    }
    // The conversation's tokens as the KV cache would hold them without
    // context shifts (`full`); the cache holds `full[..keep]` and
    // `full[keep + dropped..]`, `dropped` tokens having been shifted out.
    let keep = gp.context_shift.unwrap_or(0);
    let mut full: Vec<u32> = Vec::new();
    let mut dropped = 0;
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
        let common = full.iter().zip(&ids).take_while(|(a, b)| a == b).count();
        // Re-run at least the last prompt token so there are fresh logits.
        let mut reuse = common.min(ids.len() - 1);
        let at = if dropped == 0 {
            reuse
        } else if reuse >= keep + dropped {
            reuse - dropped
        } else {
            // The conversation changed inside text already shifted out:
            // read it again from the kept prefix on.
            reuse = reuse.min(keep);
            dropped = 0;
            reuse
        };
        session.rewind(at)?;
        full.truncate(reuse);
        sampler.reset();
        let mut out = stdout.lock();
        let g = generate_with(
            &mut session,
            tok,
            &mut sampler,
            &ids[reuse..],
            &gp,
            drafter.as_deref_mut(),
            |piece| {
                let _ = out.write_all(piece.as_bytes());
                let _ = out.flush();
                true
            },
        )?;
        writeln!(out)?;
        drop(out);
        report(&g, spec);
        full.extend_from_slice(&ids[reuse..]);
        // The cache holds every generated token but the last (never decoded).
        full.extend_from_slice(&g.tokens[..g.tokens.len().saturating_sub(1)]);
        dropped += g.discarded;
        debug_assert_eq!(full.len(), session.pos() + dropped, "the cache's tokens");
        full.truncate(session.pos() + dropped);
        messages.push(ChatMessage::new("assistant", g.text.trim().to_string()));
        if g.reason == StopReason::ContextFull {
            eprintln!(
                "[context full: {} tokens; start again with a larger -c, or --context-shift]",
                a.ctx
            );
            break;
        }
    }
    Ok(())
}

/// `keep`, if a context shift keeping it leaves room in a context of
/// `n_ctx`; a default (`None` given) is cut to half the context.
fn keep_at_most(keep: usize, n_ctx: usize) -> Result<usize, String> {
    if keep + 2 > n_ctx {
        return Err(format!(
            "--keep {keep} leaves no room in a context of {n_ctx} (at most {})",
            n_ctx.saturating_sub(2)
        ));
    }
    Ok(keep)
}

/// Tokens of the conversation's start that every first turn shares: the
/// system turn (the template's own default one, when it has one and
/// `messages` none) up to where the user's text begins.
fn system_turn_len(tok: &minke::Tokenizer, messages: &[ChatMessage]) -> minke::Result<usize> {
    let with = |text: &str| {
        let mut m = messages.to_vec();
        m.push(ChatMessage::new("user", text));
        tok.encode_chat(&m, false)
    };
    let (a, b) = (with("a")?, with("b")?);
    Ok(a.iter().zip(&b).take_while(|(x, y)| x == y).count())
}

/// `--prompt-cache`: restores what `file` holds of the prompt `ids`,
/// runs the rest but the last token, and saves the state back; returns
/// where generation starts in `ids` (it runs at least the last token, for
/// fresh logits). The sampler sees the restored tokens, as it would have.
fn prompt_cache(
    session: &mut Session<'_>,
    sampler: &mut Sampler,
    ids: &[u32],
    file: &std::path::Path,
) -> Result<usize, Box<dyn std::error::Error>> {
    let mut keep = 0;
    if file.exists() {
        match session.load_state_file(file) {
            Ok(()) => {
                let common = session
                    .tokens()
                    .iter()
                    .zip(ids)
                    .take_while(|(a, b)| a == b)
                    .count();
                keep = common.min(ids.len() - 1);
                session.rewind(keep)?;
                eprintln!(
                    "[prompt cache: {keep} of {} prompt tokens restored from {}]",
                    ids.len(),
                    file.display()
                );
            }
            Err(e) => eprintln!("[prompt cache not used: {e}]"),
        }
    }
    let last = ids.len() - 1;
    if keep < last {
        session.prefill(&ids[keep..last])?;
    }
    session.save_state_file(file)?;
    for &t in &ids[..last] {
        sampler.accept(t);
    }
    Ok(last)
}

/// The statistics line on stderr; `spec`: with speculation's counts.
fn report(g: &minke::Generated, spec: bool) {
    let shifted = if g.discarded > 0 {
        format!("; context shifts dropped {} tokens", g.discarded)
    } else {
        String::new()
    };
    let drafts = if spec {
        format!("; {}", acceptance(g.drafted, g.accepted))
    } else {
        String::new()
    };
    eprintln!(
        "[{} prompt tokens at {:.1} tok/s; {} generated at {:.1} tok/s{drafts}; stop: {:?}{shifted}]",
        g.prompt_tokens,
        g.prefill_tok_s(),
        g.tokens.len(),
        g.decode_tok_s(),
        g.reason
    );
}
