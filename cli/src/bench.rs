//! `minke bench`: prompt-processing and generation speed, end to end.
//!
//! By default on a pseudo-random prompt of `-p` tokens, generating `-n`
//! greedily one token at a time. With `--prompt-file` on a real text,
//! through [`minke::generate`] (greedy, to the end of the answer or `-n`
//! tokens): what speculative decoding (`--lookup`, `--draft`) needs, since
//! its guesses come from the text, and what it is compared with.

use crate::speculate::{acceptance, generate_with, rate, SpecArgs};
use crate::Res;
use minke::sampler::argmax;
use minke::{GenerateParams, Sampler, SamplerParams, Session, SessionParams};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// The model.
    #[arg(short, long)]
    model: PathBuf,
    /// Prompt tokens to process (a pseudo-random prompt).
    #[arg(short = 'p', long = "prompt-tokens", default_value_t = 128)]
    pp: usize,
    /// Tokens to generate after the prompt (at most, with --prompt-file).
    #[arg(short = 'n', long = "gen-tokens", default_value_t = 64)]
    tg: usize,
    /// Measure on the text of FILE instead of random tokens (raw text,
    /// special-token text such as `<|im_start|>` included, as `run -f`
    /// takes it): prompt processing on its tokens, then greedy generation
    /// until the end of the answer or -n tokens. --lookup and --draft need
    /// it: speculation guesses from the text.
    #[arg(short = 'f', long, value_name = "FILE", conflicts_with = "pp")]
    prompt_file: Option<PathBuf>,
    /// With --prompt-file, generate all -n tokens, past the end of the
    /// answer.
    #[arg(long, requires = "prompt_file")]
    ignore_eos: bool,
    /// Threads.
    #[arg(short = 't', long)]
    threads: Option<usize>,
    /// Prompt batch size.
    #[arg(short = 'b', long, default_value_t = 64)]
    batch: usize,
    /// Repetitions (the median is reported).
    #[arg(short = 'r', long, default_value_t = 3)]
    reps: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    spec: SpecArgs,
    #[command(flatten)]
    opts: crate::ModelOpts,
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What a benchmark measured: medians over the repetitions.
struct Measured {
    pp_tokens: usize,
    pp_tok_s: f64,
    tg_tokens: usize,
    tg_tok_s: f64,
    /// Speculation's guesses and those the model accepted, over all
    /// repetitions.
    drafted: usize,
    accepted: usize,
}

pub fn run(a: Args) -> Res {
    if a.reps == 0 {
        return Err("-r must be at least 1".into());
    }
    if a.spec.on() && a.prompt_file.is_none() {
        return Err(
            "--lookup and --draft need --prompt-file: speculation guesses from a real text".into(),
        );
    }
    let t0 = Instant::now();
    let model = a.opts.open(&a.model)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let threads = a.threads.unwrap_or(SessionParams::default().n_threads);
    let (m, isa) = match &a.prompt_file {
        Some(f) => on_text(&a, &model, f, threads)?,
        None => on_random(&a, &model, threads)?,
    };
    let rss = peak_rss_mb();
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    let huge = model.huge_page_bytes().map(mib);
    let file_mib = mib(model.file_bytes());
    let (pp, tg) = (m.pp_tok_s, m.tg_tok_s);
    if a.json {
        let mut extra = String::new();
        if let Some(f) = &a.prompt_file {
            extra += &format!(",\"prompt_file\":{:?}", f.display().to_string());
        }
        if let Some(n) = a.spec.lookup {
            extra += &format!(",\"lookup\":{n}");
        }
        if let Some(d) = &a.spec.draft {
            extra += &format!(
                ",\"draft\":{:?},\"draft_n\":{}",
                d.display().to_string(),
                a.spec.draft_n
            );
        }
        if a.spec.on() {
            extra += &format!(
                ",\"drafted\":{},\"accepted\":{},\"acceptance\":{:.4}",
                m.drafted,
                m.accepted,
                rate(m.drafted, m.accepted)
            );
        }
        println!(
            "{{\"model\":{:?},\"threads\":{threads},\"isa\":\"{isa}\",\"pp_tokens\":{},\"pp_tok_s\":{pp:.2},\"tg_tokens\":{},\"tg_tok_s\":{tg:.2},\"load_ms\":{load_ms:.1},\"peak_rss_mb\":{rss:.1},\"huge_page_mb\":{},\"reps\":{}{extra}}}",
            a.model.display().to_string(),
            m.pp_tokens,
            m.tg_tokens,
            huge.map_or("null".into(), |h| format!("{h:.1}")),
            a.reps
        );
    } else {
        println!("model       {}", a.model.display());
        println!("kernels     {isa}, {threads} threads");
        println!("load        {load_ms:.1} ms");
        match &a.prompt_file {
            Some(f) => println!(
                "prompt      {}: {} tokens: {pp:.1} tok/s",
                f.display(),
                m.pp_tokens
            ),
            None => println!("prompt      {} tokens: {pp:.1} tok/s", m.pp_tokens),
        }
        println!("generation  {} tokens: {tg:.1} tok/s", m.tg_tokens);
        if let Some(what) = a.spec.describe() {
            println!("speculation {what}: {}", acceptance(m.drafted, m.accepted));
        }
        println!("peak RSS    {rss:.1} MiB");
        if let Some(h) = huge {
            // Decoding from 4 KiB pages pays TLB misses (README, Models
            // and formats; `--no-mmap`).
            println!("huge pages  {h:.1} of {file_mib:.1} MiB of the model file");
        }
    }
    Ok(())
}

/// The default benchmark: a pseudo-random prompt of `-p` tokens, then `-n`
/// greedy decoding steps.
fn on_random(
    a: &Args,
    model: &minke::Model,
    threads: usize,
) -> Result<(Measured, String), Box<dyn std::error::Error>> {
    if a.pp == 0 {
        return Err("-p must be at least 1".into());
    }
    let params = SessionParams {
        n_ctx: a.pp + a.tg + 1,
        n_threads: threads,
        n_batch: a.batch,
        ..a.opts.session()
    };
    let mut s = Session::new(model, params)?;
    a.opts.note_ctx(a.pp + a.tg + 1, &s);
    let vocab = model.config.vocab_size as u64;
    // Fixed pseudo-random prompt: speed does not depend on which ids.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let prompt: Vec<u32> = (0..a.pp)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % vocab) as u32
        })
        .collect();
    let (mut pp, mut tg) = (Vec::new(), Vec::new());
    for _ in 0..a.reps {
        s.rewind(0)?;
        let t = Instant::now();
        let mut next = argmax(s.prefill(&prompt)?);
        pp.push(a.pp as f64 / t.elapsed().as_secs_f64());
        if a.tg > 0 {
            let t = Instant::now();
            for _ in 0..a.tg {
                next = argmax(s.decode(next)?);
            }
            tg.push(a.tg as f64 / t.elapsed().as_secs_f64());
        }
    }
    let m = Measured {
        pp_tokens: a.pp,
        pp_tok_s: median(pp),
        tg_tokens: a.tg,
        tg_tok_s: if tg.is_empty() { 0.0 } else { median(tg) },
        drafted: 0,
        accepted: 0,
    };
    Ok((m, s.kernels().isa.to_string()))
}

/// `--prompt-file`: the file's tokens as the prompt, then greedy
/// generation through [`minke::generate`] (or speculatively), each
/// repetition from an empty session (the draft model's too).
fn on_text(
    a: &Args,
    model: &minke::Model,
    file: &std::path::Path,
    threads: usize,
) -> Result<(Measured, String), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let tok = model.tokenizer()?;
    let prompt = tok.encode(&text, true)?;
    if prompt.is_empty() {
        return Err(format!("{} tokenizes to nothing", file.display()).into());
    }
    let n_ctx = prompt.len() + a.tg + 1;
    let params = SessionParams {
        n_ctx,
        n_threads: threads,
        n_batch: a.batch,
        ..a.opts.session()
    };
    let mut s = Session::new(model, params)?;
    a.opts.note_ctx(n_ctx, &s);
    let draft_model = a.spec.open_draft(&a.opts, model, &a.model)?;
    let mut ds = match &draft_model {
        Some(m) => Some(a.spec.draft_session(&a.opts, m, &s)?),
        None => None,
    };
    let sp = SamplerParams::default();
    let gp = GenerateParams {
        max_tokens: a.tg,
        stop_at_eos: !a.ignore_eos,
        ..GenerateParams::default()
    };
    let (mut pp, mut tg) = (Vec::new(), Vec::new());
    let (mut drafted, mut accepted, mut tg_tokens) = (0, 0, 0);
    for _ in 0..a.reps {
        s.rewind(0)?;
        if let Some(ds) = ds.as_mut() {
            // Each repetition pays for the draft model's prompt too.
            ds.rewind(0)?;
        }
        let mut sampler = Sampler::new(sp.clone(), model.config.vocab_size)?;
        let mut drafter = a.spec.drafter(ds.as_mut(), model.config.vocab_size, &sp)?;
        let g = generate_with(
            &mut s,
            tok,
            &mut sampler,
            &prompt,
            &gp,
            drafter.as_deref_mut(),
            |_| true,
        )?;
        pp.push(g.prefill_tok_s());
        if g.tokens.len() > 1 {
            tg.push(g.decode_tok_s());
        }
        drafted += g.drafted;
        accepted += g.accepted;
        tg_tokens = g.tokens.len();
    }
    let m = Measured {
        pp_tokens: prompt.len(),
        pp_tok_s: median(pp),
        tg_tokens,
        tg_tok_s: if tg.is_empty() { 0.0 } else { median(tg) },
        drafted,
        accepted,
    };
    Ok((m, s.kernels().isa.to_string()))
}
