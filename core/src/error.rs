//! The one error type of the `minke` crate. Messages name the file, tensor
//! or field that is wrong, so a user can act on them without a debugger.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in minke.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Reading a file failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file is malformed (truncated, bad offsets, inconsistent shapes...).
    /// `file` names it; `msg` says what is wrong.
    Format { file: String, msg: String },
    /// A well-formed input asks for something minke does not support
    /// (an architecture, a tensor type, a RoPE scaling...).
    Unsupported(String),
    /// A model configuration value is missing or out of range.
    Config(String),
    /// A caller passed a bad argument (token id out of range, prompt longer
    /// than the context, ...).
    InvalidArgument(String),
    /// The session's context is full.
    ContextFull { n_ctx: usize },
    /// Tokenizer construction or use failed.
    Tokenizer(String),
    /// A kernel set could not be selected.
    Isa(minke_quant::kernels::IsaError),
    /// The system would not give what a request needs (memory for a
    /// session, a worker thread), or the request is larger than this
    /// machine's memory.
    Resources(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A [`Error::Format`] for `file`.
    pub fn format(file: impl fmt::Display, msg: impl Into<String>) -> Error {
        Error::Format {
            file: file.to_string(),
            msg: msg.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Format { file, msg } => write!(f, "{file}: {msg}"),
            Error::Unsupported(m) => write!(f, "unsupported: {m}"),
            Error::Config(m) => write!(f, "bad model config: {m}"),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::ContextFull { n_ctx } => {
                write!(
                    f,
                    "context is full ({n_ctx} tokens); start a new session or rewind"
                )
            }
            Error::Tokenizer(m) => write!(f, "tokenizer: {m}"),
            Error::Isa(e) => write!(f, "{e}"),
            Error::Resources(m) => write!(f, "out of resources: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Isa(e) => Some(e),
            _ => None,
        }
    }
}

impl From<minke_quant::kernels::IsaError> for Error {
    fn from(e: minke_quant::kernels::IsaError) -> Self {
        Error::Isa(e)
    }
}
