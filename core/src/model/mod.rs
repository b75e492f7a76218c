//! [`Model`]: a model file opened and checked, its weights mapped in place,
//! shared read-only by every [`crate::Session`] that runs it.

use crate::config::{Arch, ModelConfig};
use crate::file::{self, FileKind, TokenizerData};
use crate::log::{log_info, log_warn};
use crate::progress::Progress;
use crate::tensor::TensorStore;
use crate::tokenizer::Tokenizer;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

pub(crate) mod deepseek;
mod info;
pub(crate) mod llama;

pub use info::TypeUse;

/// What every forward pass reads besides its own state.
pub(crate) struct Env<'a> {
    pub config: &'a ModelConfig,
    pub store: &'a TensorStore,
    pub pool: &'a crate::threads::ThreadPool,
    pub kernels: &'static minke_quant::Kernels,
    pub lora: Option<&'a crate::lora::SessionLora>,
    /// The session's abort callback, asked before each layer.
    pub abort: Option<&'a crate::session::AbortFn>,
}

impl Env<'_> {
    /// Whether the abort callback asks to stop.
    pub fn stop(&self) -> bool {
        self.abort.is_some_and(|f| f())
    }
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

    /// Remakes the per-thread scratch for a pool of `threads` threads.
    pub fn set_threads(&mut self, m: &Model, p: &crate::SessionParams, threads: usize) {
        match self {
            State::Llama(s) => s.set_threads(&m.config, p, threads),
            State::Deepseek(s) => s.set_threads(&m.config, p, threads),
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

    /// The cache's element type.
    pub fn kv_type(&self) -> crate::KvType {
        match self {
            State::Llama(s) => s.cache().kv_type(),
            State::Deepseek(s) => s.cache().kv_type(),
        }
    }

    /// Bytes [`State::save_cache`] writes for positions `0..n`.
    pub fn saved_cache_len(&self, n: usize) -> usize {
        match self {
            State::Llama(s) => s.cache().saved_len(n),
            State::Deepseek(s) => s.cache().saved_len(n),
        }
    }

    /// Writes the cache of positions `0..n`.
    pub fn save_cache(&self, n: usize, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        match self {
            State::Llama(s) => s.cache().save(n, out),
            State::Deepseek(s) => s.cache().save(n, out),
        }
    }

    /// Reads back [`State::save_cache`]'s `saved_cache_len(n)` bytes.
    pub fn load_cache(&mut self, n: usize, data: &[u8]) {
        match self {
            State::Llama(s) => s.cache_mut().load(n, data),
            State::Deepseek(s) => s.cache_mut().load(n, data),
        }
    }

    /// Room for the logits of `rows` positions of `n_out` values in one
    /// forward pass (see [`crate::Session::reserve_outputs`]).
    pub fn reserve_outputs(&mut self, rows: usize, n_out: usize) {
        match self {
            State::Llama(s) => s.reserve_outputs(rows, n_out),
            State::Deepseek(s) => s.reserve_outputs(rows, n_out),
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
    /// `all`) to `logits`; returns the number of rows, or `None` if the
    /// abort callback stopped it (before a layer).
    pub fn forward(
        &mut self,
        env: &Env<'_>,
        m: &Model,
        tokens: &[u32],
        pos0: usize,
        all: bool,
        logits: &mut [f32],
    ) -> Option<usize> {
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
    /// [`crate::state::model_fingerprint`], computed on first use.
    fingerprint: std::sync::OnceLock<u64>,
    /// The file's metadata as text, in file order (GGUF) or by key.
    metadata: Vec<(String, String)>,
    /// The tensors' formats, most parameters first.
    types: Vec<TypeUse>,
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
        Model::open_with_progress(path, load, |_| true)
    }

    /// [`Model::open_with`], calling `progress` with the fraction of the
    /// load done: 0 first, then values that never decrease, 1 last when
    /// the model is ready. Reading a file (with [`crate::Load::Read`])
    /// advances it by bytes read, then checking and viewing the tensors by
    /// tensors, then binding the weights and building the tokenizer; with
    /// [`crate::Load::Map`] nothing is read and the tensors take the range.
    /// Shares of the work, not of the time. It runs on the calling thread.
    ///
    /// When `progress` returns `false` the load stops there and gives
    /// [`Error::Aborted`]; all it had made is freed.
    pub fn open_with_progress(
        path: impl AsRef<Path>,
        load: crate::Load,
        mut progress: impl FnMut(f32) -> bool,
    ) -> Result<Model> {
        let path = path.as_ref();
        let t0 = std::time::Instant::now();
        let mut p = Progress::new(path.display().to_string(), &mut progress);
        p.range(0.0, 0.0);
        p.step(0, 1)?;
        let loaded = file::open_with(path, load, &mut p)?;
        let model = Model::from_loaded_with(path, loaded, &mut p)?;
        p.finish()?;
        log_info!(
            "{}: {}, {} tensors ({:.1} MiB) {} in {:.0} ms",
            path.display(),
            model.description(),
            model.store.len(),
            model.weight_bytes() as f64 / (1 << 20) as f64,
            match load {
                crate::Load::Map => "mapped",
                crate::Load::Read => "read",
            },
            t0.elapsed().as_secs_f64() * 1e3
        );
        Ok(model)
    }

    pub(crate) fn from_loaded(path: &Path, l: file::Loaded) -> Result<Model> {
        Model::from_loaded_with(path, l, &mut Progress::none())
    }

    /// Binds the weights (up to 0.95 of the load) and builds the
    /// tokenizer (the rest).
    fn from_loaded_with(path: &Path, l: file::Loaded, p: &mut Progress<'_>) -> Result<Model> {
        let file = path.display().to_string();
        p.range(file::FILES_DONE, 0.95);
        let w = match l.config.arch {
            Arch::Llama | Arch::Qwen2 => {
                Weights::Llama(llama::Weights::bind(&file, &l.config, &l.store)?)
            }
            Arch::DeepseekV2 | Arch::DeepseekV3 => {
                Weights::Deepseek(deepseek::Weights::bind(&file, &l.config, &l.store)?)
            }
        };
        p.step(1, 1)?;
        p.range(0.95, 1.0);
        let tokenizer = l
            .tokenizer
            .as_ref()
            .map(|t| Tokenizer::from_data(t).map_err(|e| e.to_string()));
        if let Some(Err(e)) = &tokenizer {
            log_warn!("{file}: no usable tokenizer, the model runs on token ids only: {e}");
        }
        let types = info::type_uses(&l.store);
        Ok(Model {
            config: l.config,
            store: l.store,
            w,
            kind: l.kind,
            path: path.to_path_buf(),
            tokenizer_data: l.tokenizer,
            tokenizer,
            fingerprint: std::sync::OnceLock::new(),
            metadata: l.metadata,
            types,
        })
    }

    /// Its identity in saved session states: the configuration and a
    /// sample of every tensor (see [`crate::state`]), computed once.
    pub fn fingerprint(&self) -> u64 {
        *self
            .fingerprint
            .get_or_init(|| crate::state::model_fingerprint(self))
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

    /// The number formats of its tensors, the one with the most
    /// parameters first.
    pub fn tensor_types(&self) -> &[TypeUse] {
        &self.types
    }

    /// Parameters: elements of all its tensors (for MoE models all
    /// experts, not the active ones). A GGUF file's tensors that the
    /// architecture does not use are not loaded, so not counted.
    pub fn n_params(&self) -> u64 {
        self.types.iter().map(|u| u.params).sum()
    }

    /// One line naming the model as llama.cpp's `llama_model_desc` does:
    /// architecture, size, and the format holding most parameters, e.g.
    /// `"llama 135M Q4_1"`.
    pub fn description(&self) -> String {
        info::description(self.config.arch, self.n_params(), &self.types)
    }

    /// The file's metadata as `(key, text)` pairs: a GGUF file's key/value
    /// pairs in file order; a `.minke` file's `__metadata__` or a
    /// checkpoint's `config.json` fields, sorted by key. Values are text:
    /// strings as they are, numbers and booleans printed, JSON values as
    /// compact JSON; arrays show their first 8 elements and their length
    /// (`[1, 2, ... (49152 items)]`), and a string over 256 KiB (a
    /// `.minke` file's embedded `tokenizer.json`) shows only its length.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// The text of metadata key `key` (see [`Model::metadata`]).
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
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
