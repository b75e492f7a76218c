//! `minke tokenize`: text to token ids, one JSON array per input, so a
//! whole corpus can be checked against another tokenizer in one process.
//! Only the tokenizer is loaded, so a vocabulary-only GGUF file works.

use crate::Res;
use minke::Tokenizer;
use std::io::{BufRead, Write};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A model, a vocabulary-only GGUF file, or a tokenizer.json file.
    #[arg(short, long)]
    model: PathBuf,
    /// Text to tokenize.
    #[arg(short, long, conflicts_with = "jsonl")]
    prompt: Option<String>,
    /// A file of JSON lines `{"text": ...}`; prints one array per line.
    #[arg(long)]
    jsonl: Option<PathBuf>,
    /// Do not add the BOS token (or other special prefix) the model asks for.
    #[arg(long)]
    no_special: bool,
}

pub fn run(a: Args) -> Res {
    let tok = Tokenizer::open(&a.model)?;
    let out = std::io::stdout();
    let mut out = out.lock();
    let mut print = |text: &str| -> Res {
        let ids = tok.encode(text, !a.no_special)?;
        writeln!(out, "{}", serde_json::to_string(&ids)?)?;
        Ok(())
    };
    match (&a.prompt, &a.jsonl) {
        (Some(p), _) => print(p)?,
        (None, Some(f)) => {
            let file = std::fs::File::open(f).map_err(|e| format!("{}: {e}", f.display()))?;
            for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(&line)
                    .map_err(|e| format!("{}:{}: {e}", f.display(), i + 1))?;
                let text = v
                    .get("text")
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| format!("{}:{}: no \"text\" string", f.display(), i + 1))?;
                print(text)?;
            }
        }
        (None, None) => return Err("give -p TEXT or --jsonl FILE".into()),
    }
    Ok(())
}
