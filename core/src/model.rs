//! [`Model`]: a model file opened and checked, its weights mapped in place,
//! shared read-only by every [`crate::Session`] that runs it.

use crate::config::ModelConfig;
use crate::file::{self, FileKind, TokenizerData};
use crate::ops::matmul::Linear;
use crate::tensor::{Tensor, TensorStore};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// One decoder layer's weights. Shapes are PyTorch's `[out, in]`.
pub(crate) struct Layer {
    /// `(hidden)`
    pub attn_norm: Vec<f32>,
    /// `[n_heads * head_dim, hidden]`
    pub q: Linear,
    /// `[n_kv_heads * head_dim, hidden]`
    pub k: Linear,
    /// `[n_kv_heads * head_dim, hidden]`
    pub v: Linear,
    /// `[hidden, n_heads * head_dim]`
    pub o: Linear,
    /// `(hidden)`
    pub ffn_norm: Vec<f32>,
    /// `[intermediate, hidden]`
    pub gate: Linear,
    /// `[intermediate, hidden]`
    pub up: Linear,
    /// `[hidden, intermediate]`
    pub down: Linear,
}

/// The weights of a whole model.
pub(crate) struct Weights {
    /// `[vocab, hidden]`, any format: rows are dequantized on lookup.
    pub embed: Tensor,
    pub layers: Vec<Layer>,
    /// `(hidden)`
    pub norm: Vec<f32>,
    /// `[vocab, hidden]`: the embedding again when tied.
    pub output: Linear,
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
}

impl Model {
    /// Opens a `.minke` file, a GGUF file or a Hugging Face checkpoint
    /// folder. Weights are mapped, not read: the file must not be modified
    /// while the model is open.
    pub fn open(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let loaded = file::open(path)?;
        Model::from_loaded(path, loaded)
    }

    pub(crate) fn from_loaded(path: &Path, l: file::Loaded) -> Result<Model> {
        let w = bind(&path.display().to_string(), &l.config, &l.store)?;
        Ok(Model {
            config: l.config,
            store: l.store,
            w,
            kind: l.kind,
            path: path.to_path_buf(),
            tokenizer_data: l.tokenizer,
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

    /// Tokenizer data the file carries, if any.
    pub fn tokenizer_data(&self) -> Option<&TokenizerData> {
        self.tokenizer_data.as_ref()
    }

    /// Bytes of weights read per generated token (every tensor but the
    /// embedding table, of which one row is read).
    pub fn weight_bytes_per_token(&self) -> usize {
        let lin = |l: &Linear| l.w.byte_len();
        let layers: usize = self
            .w
            .layers
            .iter()
            .map(|l| {
                lin(&l.q)
                    + lin(&l.k)
                    + lin(&l.v)
                    + lin(&l.o)
                    + lin(&l.gate)
                    + lin(&l.up)
                    + lin(&l.down)
            })
            .sum();
        layers + lin(&self.w.output)
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

/// Finds and checks every tensor the architecture needs.
fn bind(file: &str, c: &ModelConfig, s: &TensorStore) -> Result<Weights> {
    let get = |name: &str, shape: &[usize]| -> Result<Tensor> {
        let t = s
            .get(name)
            .ok_or_else(|| Error::format(file, format!("missing tensor `{name}`")))?;
        if t.shape != shape {
            return Err(Error::format(
                file,
                format!(
                    "tensor `{name}` has shape {:?}, the config needs {shape:?}",
                    t.shape
                ),
            ));
        }
        Ok(t.clone())
    };
    let vec = |name: &str, n: usize| -> Result<Vec<f32>> { Ok(s.to_f32(&get(name, &[n])?)) };
    let lin = |name: &str, out: usize, inp: usize, bias: bool| -> Result<Linear> {
        let w = get(&format!("{name}.weight"), &[out, inp])?;
        let bias = if bias {
            Some(vec(&format!("{name}.bias"), out)?)
        } else {
            None
        };
        Ok(Linear { w, bias })
    };
    let (h, q, kv, f) = (c.hidden_size, c.q_dim(), c.kv_dim(), c.intermediate_size);
    let embed = get("model.embed_tokens.weight", &[c.vocab_size, h])?;
    let mut layers = Vec::with_capacity(c.n_layers);
    for i in 0..c.n_layers {
        let p = format!("model.layers.{i}");
        layers.push(Layer {
            attn_norm: vec(&format!("{p}.input_layernorm.weight"), h)?,
            q: lin(&format!("{p}.self_attn.q_proj"), q, h, c.qkv_bias)?,
            k: lin(&format!("{p}.self_attn.k_proj"), kv, h, c.qkv_bias)?,
            v: lin(&format!("{p}.self_attn.v_proj"), kv, h, c.qkv_bias)?,
            o: lin(&format!("{p}.self_attn.o_proj"), h, q, c.o_bias)?,
            ffn_norm: vec(&format!("{p}.post_attention_layernorm.weight"), h)?,
            gate: lin(&format!("{p}.mlp.gate_proj"), f, h, false)?,
            up: lin(&format!("{p}.mlp.up_proj"), f, h, false)?,
            down: lin(&format!("{p}.mlp.down_proj"), h, f, false)?,
        });
    }
    let output = if c.tie_word_embeddings && s.get("lm_head.weight").is_none() {
        Linear {
            w: embed.clone(),
            bias: None,
        }
    } else {
        lin("lm_head", c.vocab_size, h, false)?
    };
    Ok(Weights {
        embed,
        layers,
        norm: vec("model.norm.weight", h)?,
        output,
    })
}
