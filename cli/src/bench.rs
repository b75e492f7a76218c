//! `minke bench`: prompt-processing and generation speed, end to end.

use crate::Res;
use minke::sampler::argmax;
use minke::{Session, SessionParams};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// The model.
    #[arg(short, long)]
    model: PathBuf,
    /// Prompt tokens to process.
    #[arg(short = 'p', long = "prompt-tokens", default_value_t = 128)]
    pp: usize,
    /// Tokens to generate after the prompt.
    #[arg(short = 'n', long = "gen-tokens", default_value_t = 64)]
    tg: usize,
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

pub fn run(a: Args) -> Res {
    if a.pp == 0 || a.reps == 0 {
        return Err("-p and -r must be at least 1".into());
    }
    let t0 = Instant::now();
    let model = a.opts.open(&a.model)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let threads = a.threads.unwrap_or(SessionParams::default().n_threads);
    let params = SessionParams {
        n_ctx: a.pp + a.tg + 1,
        n_threads: threads,
        n_batch: a.batch,
        ..a.opts.session()
    };
    let mut s = Session::new(&model, params)?;
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
    let (pp, tg) = (median(pp), if tg.is_empty() { 0.0 } else { median(tg) });
    let rss = peak_rss_mb();
    let isa = s.kernels().isa;
    let mib = |b: usize| b as f64 / (1 << 20) as f64;
    let huge = model.huge_page_bytes().map(mib);
    let file_mib = mib(model.file_bytes());
    if a.json {
        println!(
            "{{\"model\":{:?},\"threads\":{threads},\"isa\":\"{isa}\",\"pp_tokens\":{},\"pp_tok_s\":{pp:.2},\"tg_tokens\":{},\"tg_tok_s\":{tg:.2},\"load_ms\":{load_ms:.1},\"peak_rss_mb\":{rss:.1},\"huge_page_mb\":{},\"reps\":{}}}",
            a.model.display().to_string(),
            a.pp,
            a.tg,
            huge.map_or("null".into(), |h| format!("{h:.1}")),
            a.reps
        );
    } else {
        println!("model       {}", a.model.display());
        println!("kernels     {isa}, {threads} threads");
        println!("load        {load_ms:.1} ms");
        println!("prompt      {} tokens: {pp:.1} tok/s", a.pp);
        println!("generation  {} tokens: {tg:.1} tok/s", a.tg);
        println!("peak RSS    {rss:.1} MiB");
        if let Some(h) = huge {
            // Decoding from 4 KiB pages pays TLB misses (README, Models
            // and formats; `--no-mmap`).
            println!("huge pages  {h:.1} of {file_mib:.1} MiB of the model file");
        }
    }
    Ok(())
}
