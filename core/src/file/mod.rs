//! Model file readers: `.minke` (safetensors), GGUF and Hugging Face folders.
//! Each turns a path into a [`Loaded`]: the config, the tensors as views into
//! mapped files, and the tokenizer data if the file carries any.

pub mod gguf;
mod gguf_model;
pub mod hf;
mod metadata;
pub mod minke;
pub(crate) mod st;

use crate::config::ModelConfig;
use crate::mmap::Load;
use crate::progress::Progress;
use crate::tensor::TensorStore;
use crate::{Error, Result};
use std::path::Path;

/// What kind of model file a path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// minke's own safetensors-based file.
    Minke,
    /// A GGUF file.
    Gguf,
    /// A Hugging Face checkpoint folder.
    HfDir,
}

impl FileKind {
    /// Decides from the path: a folder is a checkpoint, otherwise the magic
    /// bytes say GGUF or (safetensors) `.minke`.
    pub fn detect(path: &Path) -> Result<FileKind> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            return Ok(FileKind::HfDir);
        }
        let mut magic = [0u8; 4];
        use std::io::Read;
        let n = std::fs::File::open(path)
            .and_then(|mut f| f.read(&mut magic))
            .map_err(io)?;
        if n == 4 && &magic == b"GGUF" {
            Ok(FileKind::Gguf)
        } else {
            Ok(FileKind::Minke)
        }
    }
}

/// Tokenizer data a model file carries.
#[derive(Clone, Debug)]
pub enum TokenizerData {
    /// Hugging Face `tokenizer.json` text, with `tokenizer_config.json` if any.
    Json {
        tokenizer: String,
        config: Option<String>,
    },
    /// The `tokenizer.ggml.*` metadata of a GGUF file.
    Gguf(Box<crate::tokenizer::GgufVocab>),
}

/// A model file, opened.
pub struct Loaded {
    pub kind: FileKind,
    pub config: ModelConfig,
    pub store: TensorStore,
    pub tokenizer: Option<TokenizerData>,
    /// The file's metadata as `(key, text)` pairs (see [`crate::Model::metadata`]).
    pub metadata: Vec<(String, String)>,
}

/// Opens any supported model file or folder.
pub fn open(path: &Path, load: Load) -> Result<Loaded> {
    open_with(path, load, &mut Progress::none())
}

/// [`open`], reporting its steps to `progress` (reading, then tensors;
/// up to 0.9 of the whole: binding the weights and the tokenizer come
/// after).
pub(crate) fn open_with(path: &Path, load: Load, progress: &mut Progress<'_>) -> Result<Loaded> {
    match FileKind::detect(path)? {
        FileKind::HfDir => hf::open_with(path, load, progress),
        FileKind::Minke => minke::open_with(path, load, progress),
        FileKind::Gguf => gguf_model::open(path, load, progress),
    }
}

/// The share of `[0, 1]` reading files takes when they are read rather
/// than mapped (the rest of [`open_with`]'s range goes to the tensors).
pub(crate) fn read_share(load: Load) -> f32 {
    match load {
        Load::Map => 0.0,
        Load::Read => 0.8,
    }
}

/// The end of [`open_with`]'s range.
pub(crate) const FILES_DONE: f32 = 0.9;

/// Largest text file minke reads (`config.json`, `tokenizer.json`, a shard
/// index, an adapter's config): 128 MiB, ten times the largest
/// `tokenizer.json` of a public model (a 256k-token vocabulary's is about
/// 33 MB).
pub const MAX_TEXT_FILE: u64 = 128 << 20;

/// Reads a UTF-8 text file of at most [`MAX_TEXT_FILE`] bytes. Reads
/// through a limit rather than trusting the file's reported size, so a
/// FIFO or a device that never ends is refused too.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    use std::io::Read;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = String::new();
    file.take(MAX_TEXT_FILE + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_TEXT_FILE {
        return Err(Error::format(
            path.display(),
            format!(
                "larger than the {} MiB a text file may be",
                MAX_TEXT_FILE >> 20
            ),
        ));
    }
    Ok(text)
}

/// The tokenizer data of a model file or folder, read without binding its
/// weights: a GGUF file (vocabulary-only ones too), a `.minke` file, a
/// Hugging Face checkpoint folder, or a `tokenizer.json` file itself.
/// `Ok(None)` if it carries no tokenizer.
pub fn open_tokenizer(path: &Path) -> Result<Option<TokenizerData>> {
    if path.is_file() && path.extension().is_some_and(|e| e == "json") {
        let tokenizer = read_text(path)?;
        return Ok(Some(TokenizerData::Json {
            tokenizer,
            config: None,
        }));
    }
    match FileKind::detect(path)? {
        FileKind::HfDir => hf::tokenizer_data(path),
        FileKind::Minke => Ok(minke::open(path, Load::Map)?.tokenizer),
        FileKind::Gguf => gguf_model::open_tokenizer(path),
    }
}
