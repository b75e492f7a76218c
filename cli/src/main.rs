//! The `minke` command: run, inspect, convert and measure models.
//!
//! Text goes to stdout; progress and statistics to stderr. A bad argument or
//! file exits non-zero with one clear line.

mod bench;
mod logits;
mod run;
mod score;
mod speculate;
mod tokenize;

use clap::{Parser, Subcommand};
use minke::quant::DType;
use minke::{KvType, Model, SessionParams};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "minke",
    version,
    about = "Edge inference for DeepSeek-family language models"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Generate text from a prompt, or chat.
    // Boxed: its flags make it several times the size of the others.
    Run(Box<run::Args>),
    /// Print the token ids of text as JSON arrays.
    Tokenize(tokenize::Args),
    /// Log-probability of a continuation after a prompt.
    Score(score::ScoreArgs),
    /// Score a response with a reward model.
    Reward(score::RewardArgs),
    /// Perplexity of a text file, computed as llama.cpp's llama-perplexity does.
    Perplexity(score::PplArgs),
    /// Print logits for a token sequence.
    Logits(logits::Args),
    /// Convert a model (Hugging Face folder, GGUF or .minke) to a .minke file.
    Quantize {
        /// The model to convert.
        input: PathBuf,
        /// Where to write the .minke file.
        #[arg(short, long)]
        output: PathBuf,
        /// Weight format: q4_0, q4_1, q8_0, f16, bf16, f32, or auto: a
        /// quantized model (GGUF) keeps each tensor's format, a float one
        /// becomes q4_0.
        #[arg(long = "type", default_value = "auto")]
        dtype: String,
        /// Keep every matrix in rows instead of 16-row interleaved groups
        /// (q4_0x16, q4_1x16, q8_0x16: faster, same numbers).
        #[arg(long)]
        no_interleave: bool,
        /// Merge this LoRA adapter (a PEFT folder) into the weights.
        #[arg(long)]
        lora: Option<PathBuf>,
        /// Scale of the merged adapter.
        #[arg(long, default_value_t = 1.0, requires = "lora")]
        lora_scale: f32,
        #[command(flatten)]
        opts: ModelOpts,
    },
    /// Measure prompt processing and generation speed.
    Bench(bench::Args),
    /// Describe a model file and what running it takes.
    Info {
        /// The model.
        model: PathBuf,
        /// Context length to size the session for.
        #[arg(short = 'c', long, default_value_t = 2048)]
        ctx: usize,
        #[command(flatten)]
        opts: ModelOpts,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    log_to_stderr();
    let result = match cli.cmd {
        Cmd::Run(a) => run::run(*a),
        Cmd::Tokenize(a) => tokenize::run(a),
        Cmd::Logits(a) => logits::run(a),
        Cmd::Score(a) => score::score(a),
        Cmd::Perplexity(a) => score::perplexity(a),
        Cmd::Reward(a) => score::reward(a),
        Cmd::Quantize {
            input,
            output,
            dtype,
            no_interleave,
            lora,
            lora_scale,
            opts,
        } => quantize(
            input,
            output,
            &dtype,
            !no_interleave,
            lora,
            lora_scale,
            opts,
        ),
        Cmd::Bench(a) => bench::run(a),
        Cmd::Info { model, ctx, opts } => info(model, ctx, opts),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("minke: error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Res = Result<(), Box<dyn std::error::Error>>;

/// Prints the library's log on stderr, `minke: warn: ...`: warnings and
/// errors, or from the level `MINKE_LOG` names (`debug`, `info`, `warn`,
/// `error`; `off` for none).
fn log_to_stderr() {
    use minke::log::Level;
    let var = std::env::var("MINKE_LOG").unwrap_or_default();
    if var == "off" {
        return;
    }
    let min = Level::parse(&var).unwrap_or(Level::Warn);
    let sink = Box::new(|level: Level, text: &str| {
        use std::io::Write;
        // A closed stderr is no reason to stop.
        let _ = writeln!(std::io::stderr(), "minke: {level}: {text}");
    });
    // Only a sink itself is refused a change; this is not one.
    let _ = minke::log::set_sink(min, sink);
}

/// How a command opens its model and sizes its sessions: the options
/// every command that runs a model takes.
#[derive(clap::Args, Clone, Copy, Debug)]
pub(crate) struct ModelOpts {
    /// Read the weights into memory (in huge pages) instead of mapping the
    /// file: slower to open, full decode speed whatever the page cache
    /// holds, and the file may change or go away while minke runs. A
    /// mapped file must not: truncating it kills minke (SIGBUS).
    #[arg(long)]
    no_mmap: bool,
    /// Accept a context (--ctx, or the text's length) beyond the one the
    /// model was trained for.
    #[arg(long)]
    long_context: bool,
    /// KV cache type: f16, q8_0 (0.53 of f16's memory) or f32. Default
    /// f16; f32 for `score`, `perplexity`, `logits` and `reward`, which
    /// measure the model itself.
    #[arg(long, value_name = "TYPE", value_parser = parse_kv_type)]
    kv_type: Option<KvType>,
}

/// `--kv-type`'s values.
fn parse_kv_type(s: &str) -> Result<KvType, String> {
    KvType::parse(s).ok_or_else(|| format!("`{s}` is not a KV cache type (f16, q8_0, f32)"))
}

impl ModelOpts {
    /// How the model file is loaded.
    fn load(&self) -> minke::Load {
        if self.no_mmap {
            minke::Load::Read
        } else {
            minke::Load::Map
        }
    }

    /// Opens the model at `path`.
    pub(crate) fn open(&self, path: &std::path::Path) -> minke::Result<Model> {
        Model::open_with(path, self.load())
    }

    /// Says on stderr when a session's context came out shorter than
    /// asked: the model's trained context, without `--long-context`.
    pub(crate) fn note_ctx(&self, asked: usize, s: &minke::Session<'_>) {
        let got = s.params().n_ctx;
        if got < asked {
            eprintln!(
                "minke: context {got}, the model's trained length, not {asked} (--long-context to go beyond)"
            );
        }
    }

    /// Session defaults with these options applied.
    pub(crate) fn session(&self) -> SessionParams {
        let d = SessionParams::default();
        SessionParams {
            allow_long_context: self.long_context,
            kv_type: self.kv_or(d.kv_type),
            ..d
        }
    }

    /// The `--kv-type` asked for, else `default`.
    pub(crate) fn kv_or(&self, default: KvType) -> KvType {
        self.kv_type.unwrap_or(default)
    }
}

/// Parses a comma-separated token list.
pub(crate) fn parse_tokens(s: &str) -> Result<Vec<u32>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<u32>()
                .map_err(|_| format!("`{t}` is not a token id"))
        })
        .collect()
}

fn quantize(
    input: PathBuf,
    output: PathBuf,
    dtype: &str,
    interleave: bool,
    lora: Option<PathBuf>,
    lora_scale: f32,
    opts: ModelOpts,
) -> Res {
    let target = if dtype.eq_ignore_ascii_case("auto") {
        None
    } else {
        Some(DType::parse(dtype).ok_or_else(|| {
            format!("unknown --type `{dtype}` (auto, q4_0, q4_1, q5_0, q5_1, q8_0, f16, bf16, f32)")
        })?)
    };
    if !interleave && target.is_some_and(|d| d.row_group() > 1) {
        return Err(
            format!("--type {dtype} is interleaved; --no-interleave contradicts it").into(),
        );
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} quantizing [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let t0 = std::time::Instant::now();
    let adapter = lora.map(minke::lora::LoraAdapter::open).transpose()?;
    let q = minke::quantize::Options {
        target,
        interleave,
        lora: adapter.as_ref().map(|a| (a, lora_scale)),
        load: opts.load(),
    };
    let written = minke::quantize::quantize_with(&input, &output, &q, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "wrote {} ({:.1} MiB) in {:.1} s: {}",
        output.display(),
        size as f64 / (1 << 20) as f64,
        t0.elapsed().as_secs_f64(),
        format_summary(written.iter().map(|p| (p.dtype, p.bytes().unwrap_or(0))))
    );
    Ok(())
}

/// `minke info`'s tokenizer line.
fn tokenizer_line(t: &minke::Tokenizer) -> String {
    let template = if t.chat_template().is_some() {
        "yes"
    } else {
        "no"
    };
    format!(
        "tokenizer:     {} tokens, chat template: {template}",
        t.vocab_size()
    )
}

/// `minke info` of a file that holds a tokenizer only.
fn tokenizer_info(path: &std::path::Path, t: &minke::Tokenizer) -> Res {
    let piece = |id: Option<u32>| {
        id.and_then(|i| t.id_to_token(i).map(|s| format!("{i} {s:?}")))
            .unwrap_or_else(|| "none".into())
    };
    println!(
        "file:          {} (vocabulary only: no tensors, tokenizes but does not run)",
        path.display()
    );
    println!("{}", tokenizer_line(t));
    println!("bos:           {}", piece(t.bos_id()));
    let eos: Vec<String> = t.eos_ids().iter().map(|&i| piece(Some(i))).collect();
    println!(
        "eos:           {}",
        if eos.is_empty() {
            "none".into()
        } else {
            eos.join(", ")
        }
    );
    Ok(())
}

/// `q4_0x16: 196 tensors, 702.8 MiB; f32: ...`: tensors and bytes per
/// format, from each tensor's `(format, bytes)`.
fn format_summary(tensors: impl Iterator<Item = (DType, usize)>) -> String {
    let mut formats = std::collections::BTreeMap::<&str, (usize, usize)>::new();
    for (dtype, bytes) in tensors {
        let e = formats.entry(dtype.name()).or_default();
        e.0 += 1;
        e.1 += bytes;
    }
    let list: Vec<String> = formats
        .iter()
        .map(|(k, (n, b))| format!("{k}: {n} tensors, {:.1} MiB", *b as f64 / (1 << 20) as f64))
        .collect();
    list.join("; ")
}

fn info(path: PathBuf, ctx: usize, opts: ModelOpts) -> Res {
    let model = match opts.open(&path) {
        Ok(m) => m,
        // A vocabulary-only GGUF (llama.cpp's ggml-vocab-*.gguf) cannot
        // run, but there is still something to describe.
        Err(e @ minke::Error::Unsupported(_)) => match minke::Tokenizer::open(&path) {
            Ok(t) => return tokenizer_info(&path, &t),
            Err(_) => return Err(e.into()),
        },
        Err(e) => return Err(e.into()),
    };
    let c = &model.config;
    println!("file:          {} ({:?})", path.display(), model.kind());
    println!("architecture:  {} ({:?})", c.arch.hf_name(), c.arch);
    println!(
        "model:         {}, {} parameters",
        model.description(),
        model.n_params()
    );
    println!(
        "dimensions:    vocab {}, hidden {}, layers {}, heads {} (kv {}), head_dim {}, ffn {}",
        c.vocab_size,
        c.hidden_size,
        c.n_layers,
        c.n_heads,
        c.n_kv_heads,
        c.head_dim,
        c.intermediate_size
    );
    println!(
        "rope:          theta {}, scaling {:?}, style {:?}",
        c.rope_theta, c.rope_scaling, c.rope_style
    );
    let store = model.tensors();
    let tensors = store.names().iter().filter_map(|n| store.get(n));
    println!(
        "tensors:       {} ({})",
        store.len(),
        format_summary(tensors.map(|t| (t.dtype, t.byte_len())))
    );
    println!(
        "weights:       {:.1} MiB, {:.1} MiB read per token",
        model.weight_bytes() as f64 / (1 << 20) as f64,
        model.weight_bytes_per_token() as f64 / (1 << 20) as f64
    );
    match model.tokenizer() {
        Ok(t) => println!("{}", tokenizer_line(t)),
        Err(e) => println!("tokenizer:     none ({e})"),
    }
    let kernels = minke::quant::Kernels::get()?;
    println!("kernel set:    {}", kernels.name);
    let p = SessionParams {
        n_ctx: ctx,
        ..opts.session()
    };
    let kv = model.kv_cache_bytes(&p);
    println!(
        "session:       {:.1} MiB at context {ctx}, of which KV cache {:.1} MiB ({}, {} bytes a token; batch {}, {} threads)",
        minke::session_bytes(&model, &p) as f64 / (1 << 20) as f64,
        kv as f64 / (1 << 20) as f64,
        p.kv_type,
        kv / ctx.max(1),
        p.n_batch,
        p.n_threads
    );
    if let Some(d) = &c.deepseek {
        println!(
            "mla cache:     {} values per token per layer (kv_lora_rank {} + qk_rope_head_dim {})",
            d.kv_lora_rank + d.qk_rope_head_dim,
            d.kv_lora_rank,
            d.qk_rope_head_dim
        );
    }
    Ok(())
}
