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
    /// A chat template went past one of the limits that keep a template
    /// from a file from exhausting the time, memory or stack of the
    /// process that renders it; `msg` says where (minijinja's message).
    TemplateLimit { limit: TemplateLimit, msg: String },
    /// A kernel set could not be selected.
    Isa(minke_quant::kernels::IsaError),
    /// The system would not give what a request needs (memory for a
    /// session, a worker thread), or the request is larger than this
    /// machine's memory.
    Resources(String),
    /// A caller's callback asked to stop the work in progress (a model
    /// load, a prefill, a decode); the message says what was stopped.
    /// What the work had done is undone or stated where it is documented.
    Aborted(String),
    /// A saved session state cannot be restored here: truncated or
    /// damaged, of another format version, or made with another model,
    /// adapter, cache type or a longer context (see [`crate::state`]); or
    /// a sampler's state does not fit the sampler (see
    /// [`crate::Sampler::restore_state`]). The message names which.
    State(String),
}

/// Which limit a chat template ran into ([`Error::TemplateLimit`]). What
/// each limit is and why: the chat template section of
/// [`crate::tokenizer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TemplateLimit {
    /// The template's source is `bytes` long, over `max`.
    Source { bytes: usize, max: usize },
    /// An expression or statement on `line` nests (or may nest) deeper
    /// than `max`.
    Nesting { line: usize, max: usize },
    /// Rendering needed more than `fuel` (one a step, one per 64 bytes of
    /// data made or written).
    Fuel { fuel: u64 },
    /// The rendered text would pass `max` bytes.
    Output { max: usize },
    /// Macro calls or recursive loops nest deeper than minijinja allows.
    Recursion,
}

impl fmt::Display for TemplateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateLimit::Source { bytes, max } => {
                write!(f, "the template is {bytes} bytes, over the limit of {max}")
            }
            TemplateLimit::Nesting { line, max } => {
                write!(f, "line {line} nests deeper than the limit of {max}")
            }
            TemplateLimit::Fuel { fuel } => write!(
                f,
                "rendering ran out of its fuel ({fuel} steps, or 64 bytes of data each)"
            ),
            TemplateLimit::Output { max } => {
                write!(f, "the rendered text would pass the limit of {max} bytes")
            }
            TemplateLimit::Recursion => f.write_str("macro calls or recursive loops nest too deep"),
        }
    }
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
            Error::TemplateLimit { limit, msg } if msg.is_empty() => {
                write!(f, "chat template: {limit}")
            }
            Error::TemplateLimit { limit, msg } => write!(f, "chat template: {limit}: {msg}"),
            Error::Isa(e) => write!(f, "{e}"),
            Error::Resources(m) => write!(f, "out of resources: {m}"),
            Error::Aborted(m) => write!(f, "aborted: {m}"),
            Error::State(m) => write!(f, "{m}"),
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
