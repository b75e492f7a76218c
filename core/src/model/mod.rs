//! [`Model`]: a model file opened and checked, its weights mapped in place,
//! shared read-only by every [`crate::Session`] that runs it.

use crate::config::{Arch, ModelConfig};
use crate::file::{self, FileKind, TokenizerData};
use crate::tensor::TensorStore;
use crate::tokenizer::Tokenizer;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

pub(crate) mod deepseek;
pub(crate) mod llama;

/// What every forward pass reads besides its own state.
pub(crate) struct Env<'a> {
    pub config: &'a ModelConfig,
    pub store: &'a TensorStore,
    pub pool: &'a crate::threads::ThreadPool,
    pub kernels: &'static minke_quant::Kernels,
    pub lora: Option<&'a crate::lora::SessionLora>,
}

/// A session's per-architecture state (KV cache, buffers).
pub(crate) enum State {
    Llama(llama::State),
    Deepseek(deepseek::State),
}

impl State {
    /// Allocates the state a session with `p` needs.
    pub fn new(m: &Model, p: &crate::SessionParams, threads: usize) -> State {
        match &m.w {
            Weights::Llama(_) => State::Llama(llama::State::new(&m.config, p, threads)),
            Weights::Deepseek(_) => State::Deepseek(deepseek::State::new(&m.config, p, threads)),
        }
    }

    /// Bytes [`State::new`] allocates.
    pub fn bytes(m: &Model, p: &crate::SessionParams, threads: usize) -> usize {
        match &m.w {
            Weights::Llama(_) => llama::State::bytes(&m.config, p, threads),
            Weights::Deepseek(_) => deepseek::State::bytes(&m.config, p, threads),
        }
    }

    /// Bytes of the KV cache a session with `p` holds (DeepSeek: the MLA
    /// latent cache).
    pub fn kv_bytes(m: &Model, p: &crate::SessionParams) -> usize {
        let c = &m.config;
        match &m.w {
            Weights::Llama(_) => crate::kv_cache::KvCache::bytes(
                p.kv_type,
                c.n_layers,
                p.n_ctx,
                c.kv_dim(),
                c.head_dim,
            ),
            Weights::Deepseek(_) => deepseek::State::kv_bytes(c, p),
        }
    }

    /// Drops cache positions `keep..keep + discard` of the first `len`,
    /// moving the rest down and their RoPE keys back by `discard`.
    pub fn shift(&mut self, keep: usize, discard: usize, len: usize) {
        match self {
            State::Llama(s) => s.shift(keep, discard, len),
            State::Deepseek(s) => s.shift(keep, discard, len),
        }
    }

    /// Runs `tokens` at `pos0..`; writes logits (last row, or all rows if
    /// `all`) to `logits`; returns the number of rows.
    pub fn forward(
        &mut self,
        env: &Env<'_>,
        m: &Model,
        tokens: &[u32],
        pos0: usize,
        all: bool,
        logits: &mut [f32],
    ) -> usize {
        match (self, &m.w) {
            (State::Llama(s), Weights::Llama(w)) => s.forward(env, w, tokens, pos0, all, logits),
            (State::Deepseek(s), Weights::Deepseek(w)) => {
                s.forward(env, w, tokens, pos0, all, logits)
            }
            _ => unreachable!("a session's state matches its model's weights"),
        }
    }
}

/// The weights of a model, by architecture family.
pub(crate) enum Weights {
    /// Llama and Qwen2.
    Llama(llama::Weights),
    /// DeepSeek-V2 and V3.
    Deepseek(deepseek::Weights),
}

/// A loaded model. `Send + Sync`: share it (e.g. in an `Arc`) between
/// sessions on different threads.
pub struct Model {
    pub config: ModelConfig,
    pub(crate) store: TensorStore,
    pub(crate) w: Weights,
    kind: FileKind,
    path: PathBuf,
    tokenizer_data: Option<TokenizerData>,
    /// Built from `tokenizer_data` at open; the error is kept (not raised)
    /// so that a model whose tokenizer minke cannot build still runs on ids.
    tokenizer: Option<std::result::Result<Tokenizer, String>>,
}

impl Model {
    /// Opens a `.minke` file, a GGUF file or a Hugging Face checkpoint
    /// folder. Weights are mapped, not read: the file must not be modified
    /// while the model is open.
    pub fn open(path: impl AsRef<Path>) -> Result<Model> {
        Model::open_with(path, crate::Load::Map)
    }

    /// [`Model::open`], with the weights mapped in place or read into
    /// memory as `load` says (see [`crate::Load`]).
    pub fn open_with(path: impl AsRef<Path>, load: crate::Load) -> Result<Model> {
        let path = path.as_ref();
        let loaded = file::open(path, load)?;
        Model::from_loaded(path, loaded)
    }

    pub(crate) fn from_loaded(path: &Path, l: file::Loaded) -> Result<Model> {
        let file = path.display().to_string();
        let w = match l.config.arch {
            Arch::Llama | Arch::Qwen2 => {
                Weights::Llama(llama::Weights::bind(&file, &l.config, &l.store)?)
            }
            Arch::DeepseekV2 | Arch::DeepseekV3 => {
                Weights::Deepseek(deepseek::Weights::bind(&file, &l.config, &l.store)?)
            }
        };
        let tokenizer = l
            .tokenizer
            .as_ref()
            .map(|t| Tokenizer::from_data(t).map_err(|e| e.to_string()));
        Ok(Model {
            config: l.config,
            store: l.store,
            w,
            kind: l.kind,
            path: path.to_path_buf(),
            tokenizer_data: l.tokenizer,
            tokenizer,
        })
    }

    /// The kind of file it came from.
    pub fn kind(&self) -> FileKind {
        self.kind
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tensors, by name.
    pub fn tensors(&self) -> &TensorStore {
        &self.store
    }

    /// The tokenizer, or why there is none: the file carries no tokenizer
    /// (it then runs on token ids only), or minke cannot build it.
    pub fn tokenizer(&self) -> Result<&Tokenizer> {
        match &self.tokenizer {
            Some(Ok(t)) => Ok(t),
            Some(Err(e)) => Err(Error::Tokenizer(format!("{}: {e}", self.path.display()))),
            None => Err(Error::Tokenizer(format!(
                "{} has no tokenizer (no tokenizer.json); text needs one, token ids do not",
                self.path.display()
            ))),
        }
    }

    /// Tokenizer data the file carries, if any.
    pub fn tokenizer_data(&self) -> Option<&TokenizerData> {
        self.tokenizer_data.as_ref()
    }

    /// Bytes of weights read per generated token (every matrix the token
    /// passes through; one row of the embedding table). For MoE models:
    /// the active bytes, with `top_k` routed experts, not all of them.
    pub fn weight_bytes_per_token(&self) -> usize {
        match &self.w {
            Weights::Llama(w) => w.bytes_per_token(),
            Weights::Deepseek(w) => w.bytes_per_token(),
        }
    }

    /// Bytes of the KV cache a session with `params` holds. For DeepSeek
    /// models, `n_layers * n_ctx * (kv_lora_rank + qk_rope_head_dim) *
    /// element size`: only MLA's latent and RoPE key are cached.
    pub fn kv_cache_bytes(&self, params: &crate::SessionParams) -> usize {
        State::kv_bytes(self, params)
    }

    /// Bytes of the model's files (tensors plus headers and metadata).
    pub fn file_bytes(&self) -> usize {
        self.store.blob_ranges().map(|r| r.len()).sum()
    }

    /// Bytes of the model's files that this process has mapped in 2 MiB
    /// pages (Linux; `None` where `/proc/self/smaps` cannot tell), at most
    /// [`Model::file_bytes`]. Pages are mapped as they are first read, so
    /// ask after a token. Far below the files' size, decoding pays TLB
    /// misses: see [`crate::Load`].
    pub fn huge_page_bytes(&self) -> Option<usize> {
        let ranges: Vec<_> = self.store.blob_ranges().collect();
        crate::mmap::huge_page_bytes(&ranges)
    }

    /// Total bytes of all tensors.
    pub fn weight_bytes(&self) -> usize {
        self.store
            .names()
            .iter()
            .filter_map(|n| self.store.get(n))
            .map(|t| t.byte_len())
            .sum()
    }
}
