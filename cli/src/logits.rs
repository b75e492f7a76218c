//! `minke logits`: the model's raw output for a token sequence, as a
//! summary on stdout and optionally every value in a `.npy` file.

use crate::{parse_tokens, Res};
use minke::{KvType, Session, SessionParams};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// The model.
    #[arg(short, long)]
    model: PathBuf,
    /// Token ids, comma-separated.
    #[arg(long, conflicts_with = "prompt")]
    tokens: Option<String>,
    /// Text to tokenize, as `minke tokenize -p` does (needs a model with a
    /// tokenizer).
    #[arg(short, long)]
    prompt: Option<String>,
    /// Logits for every position, not only the last.
    #[arg(long)]
    all: bool,
    /// Write float32 logits of shape [positions, vocab] here.
    #[arg(long)]
    npy: Option<PathBuf>,
    /// How many top tokens to list per position.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Threads.
    #[arg(short = 't', long)]
    threads: Option<usize>,
    /// Apply this LoRA adapter (a PEFT folder) at run time.
    #[arg(long)]
    lora: Option<PathBuf>,
    /// Scale of the adapter.
    #[arg(long, default_value_t = 1.0, requires = "lora")]
    lora_scale: f32,
    #[command(flatten)]
    opts: crate::ModelOpts,
}

pub fn run(a: Args) -> Res {
    let model = a.opts.open(&a.model)?;
    let tokens = match (&a.tokens, &a.prompt) {
        (Some(t), _) => parse_tokens(t)?,
        // As `minke tokenize -p` gives them: with the special prefix (BOS)
        // the model asks for.
        (None, Some(p)) => model.tokenizer()?.encode(p, true)?,
        (None, None) => return Err("give --tokens 1,2,3 or -p TEXT".into()),
    };
    if tokens.is_empty() {
        return Err(if a.tokens.is_some() {
            "--tokens is empty".into()
        } else {
            "the prompt tokenizes to nothing".into()
        });
    }
    let vocab = model.config.vocab_size;
    let params = SessionParams {
        n_ctx: tokens.len(),
        kv_type: a.opts.kv_or(KvType::F32),
        logits_all: a.all,
        n_threads: a.threads.unwrap_or(SessionParams::default().n_threads),
        ..a.opts.session()
    };
    let mut s = Session::new(&model, params)?;
    a.opts.note_ctx(tokens.len(), &s);
    if let Some(dir) = &a.lora {
        let adapter = std::sync::Arc::new(minke::lora::LoraAdapter::open(dir)?);
        s.set_adapter(Some(adapter), a.lora_scale)?;
    }
    let mut rows: Vec<f32> = Vec::new();
    let first = if a.all { 0 } else { tokens.len() - 1 };
    if a.all {
        s.prefill_each(&tokens, |_, l| rows.extend_from_slice(l))?;
    } else {
        rows.extend_from_slice(s.prefill(&tokens)?);
    }
    let out = std::io::stdout();
    let mut out = out.lock();
    for (i, row) in rows.chunks_exact(vocab).enumerate() {
        let mut idx: Vec<usize> = (0..vocab).collect();
        let k = a.top.min(vocab);
        idx.select_nth_unstable_by(k.saturating_sub(1), |&x, &y| row[y].total_cmp(&row[x]));
        idx.truncate(k);
        idx.sort_by(|&x, &y| row[y].total_cmp(&row[x]));
        let top: Vec<String> = idx
            .iter()
            .map(|&j| format!("[{j},{:.6}]", row[j]))
            .collect();
        writeln!(
            out,
            "{{\"pos\":{},\"token\":{},\"top\":[{}]}}",
            first + i,
            tokens[first + i],
            top.join(",")
        )?;
    }
    if let Some(p) = a.npy {
        write_npy(&p, &rows, rows.len() / vocab, vocab)?;
        eprintln!("wrote {} [{}, {vocab}]", p.display(), rows.len() / vocab);
    }
    Ok(())
}

/// Writes a little-endian float32 C-order `.npy` (format version 1.0).
fn write_npy(path: &Path, data: &[f32], rows: usize, cols: usize) -> std::io::Result<()> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    for v in data {
        f.write_all(&v.to_le_bytes())?;
    }
    f.flush()
}
