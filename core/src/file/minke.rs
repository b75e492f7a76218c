//! The `.minke` file: one valid safetensors file holding the whole model.
//!
//! Float tensors are ordinary safetensors tensors (F32/F16/BF16, true
//! shape), so any safetensors tool reads them. Quantized tensors are stored
//! as `U8` of shape `[rows, row_bytes]` in minke-quant's block layout (the
//! GGUF layout: `q8_0`, `q4_0`, `q4_1`; or those blocks in 16-row
//! interleaved groups: `q8_0x16`, `q4_0x16`, `q4_1x16`, see
//! `minke_quant::formats::x16`), and `__metadata__` says their format and
//! logical shape (a build that predates a format refuses it by name):
//!
//! | key | value |
//! |---|---|
//! | `minke.version` | format version, `1` |
//! | `minke.config` | [`ModelConfig`] as JSON |
//! | `minke.packed` | JSON map: tensor name → `{"dtype": "q4_0", "shape": [rows, cols]}` |
//! | `minke.tokenizer` | `tokenizer.json` text (optional) |
//! | `minke.tokenizer_config` | `tokenizer_config.json` text (optional) |
//! | `minke.tokenizer_gguf` | a GGUF file's tokenizer, as JSON (optional) |
//!
//! The data section starts on a 64-byte boundary (the header is padded with
//! spaces, which the safetensors format allows).

use super::{st, FileKind, Loaded, TokenizerData};
use crate::config::ModelConfig;
use crate::mmap::ChunkWriter;
use crate::mmap::Load;
use crate::progress::Progress;
use crate::tensor::TensorStore;
use crate::{Error, Result};
use minke_quant::DType;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Opens a `.minke` file.
pub fn open(path: &Path, load: Load) -> Result<Loaded> {
    open_with(path, load, &mut Progress::none())
}

/// [`open`], reporting its steps to `progress`.
pub(crate) fn open_with(path: &Path, load: Load, progress: &mut Progress<'_>) -> Result<Loaded> {
    let mut store = TensorStore::default();
    let read = super::read_share(load) * super::FILES_DONE;
    progress.range(0.0, read);
    let f = st::map_with(&mut store, path, load, progress)?;
    progress.range(read, super::FILES_DONE);
    let file = path.display().to_string();
    let meta = &f.metadata;
    let get = |k: &str| {
        meta.get(k).ok_or_else(|| {
            Error::format(
                &file,
                format!("no `{k}` in the metadata: not a .minke file"),
            )
        })
    };
    let version: u32 = get("minke.version")?
        .parse()
        .map_err(|_| Error::format(&file, "minke.version is not a number"))?;
    if version != FORMAT_VERSION {
        return Err(Error::Unsupported(format!(
            "{file}: .minke format version {version} (this build reads {FORMAT_VERSION})"
        )));
    }
    let config: ModelConfig = serde_json::from_str(get("minke.config")?)
        .map_err(|e| Error::format(&file, format!("minke.config: {e}")))?;
    config
        .validate()
        .map_err(|e| Error::format(&file, e.to_string()))?;
    let packed: HashMap<String, st::Packed> = match meta.get("minke.packed") {
        Some(p) => serde_json::from_str(p)
            .map_err(|e| Error::format(&file, format!("minke.packed: {e}")))?,
        None => HashMap::new(),
    };
    let tokenizer = match (
        meta.get("minke.tokenizer"),
        meta.get("minke.tokenizer_gguf"),
    ) {
        (Some(t), _) => Some(TokenizerData::Json {
            tokenizer: t.clone(),
            config: meta.get("minke.tokenizer_config").cloned(),
        }),
        (None, Some(g)) => Some(TokenizerData::Gguf(Box::new(
            serde_json::from_str(g)
                .map_err(|e| Error::format(&file, format!("minke.tokenizer_gguf: {e}")))?,
        ))),
        (None, None) => None,
    };
    f.add_tensors_with(&mut store, &packed, progress)?;
    Ok(Loaded {
        kind: FileKind::Minke,
        config,
        store,
        tokenizer,
        metadata: super::metadata::string_map(&f.metadata),
    })
}

/// A tensor to be written: its name, format and logical shape.
#[derive(Clone, Debug)]
pub struct Planned {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
}

impl Planned {
    /// Bytes of the tensor in its format (an error if the shape does not
    /// fit the format).
    pub fn bytes(&self) -> Result<usize> {
        let cols = *self.shape.last().unwrap_or(&1);
        let rows: usize = self.shape.iter().rev().skip(1).product();
        self.dtype
            .row_bytes(cols)
            .and_then(|b| b.checked_mul(rows))
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "tensor `{}`: shape {:?} does not fit {}",
                    self.name, self.shape, self.dtype
                ))
            })
    }
}

/// Writes a `.minke` file. `fill(i, buf)` must put tensor `i`'s bytes
/// (exactly its size, in its format) into `buf`; `progress(done, total)`
/// is called after each tensor with bytes written so far.
///
/// The file is written to `<path>.tmp` and renamed at the end, so an error
/// leaves no half-written model behind.
pub fn write(
    path: &Path,
    config: &ModelConfig,
    tokenizer: Option<&TokenizerData>,
    tensors: &[Planned],
    mut fill: impl FnMut(usize, &mut Vec<u8>) -> Result<()>,
    mut progress: impl FnMut(u64, u64),
) -> Result<()> {
    let mut header = serde_json::Map::new();
    let mut packed = BTreeMap::new();
    let mut offset = 0usize;
    let mut sizes = Vec::with_capacity(tensors.len());
    for t in tensors {
        let n = t.bytes()?;
        let (dtype, shape) = match t.dtype {
            DType::F32 => ("F32", t.shape.clone()),
            DType::F16 => ("F16", t.shape.clone()),
            DType::BF16 => ("BF16", t.shape.clone()),
            q => {
                let cols = *t.shape.last().unwrap_or(&1);
                let rows: usize = t.shape.iter().rev().skip(1).product();
                let rb = q.row_bytes(cols).unwrap_or(0);
                packed.insert(
                    t.name.clone(),
                    st::Packed {
                        dtype: q.name().into(),
                        shape: t.shape.clone(),
                    },
                );
                ("U8", vec![rows, rb])
            }
        };
        header.insert(
            t.name.clone(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}),
        );
        offset += n;
        sizes.push(n);
    }
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    meta.insert("minke.version".into(), FORMAT_VERSION.to_string());
    meta.insert(
        "minke.config".into(),
        serde_json::to_string(config).expect("config serializes"),
    );
    meta.insert(
        "minke.packed".into(),
        serde_json::to_string(&packed).expect("map serializes"),
    );
    match tokenizer {
        Some(TokenizerData::Json { tokenizer, config }) => {
            meta.insert("minke.tokenizer".into(), tokenizer.clone());
            if let Some(c) = config {
                meta.insert("minke.tokenizer_config".into(), c.clone());
            }
        }
        Some(TokenizerData::Gguf(g)) => {
            meta.insert(
                "minke.tokenizer_gguf".into(),
                serde_json::to_string(g).expect("serializes"),
            );
        }
        None => {}
    }
    header.insert(
        "__metadata__".into(),
        serde_json::to_value(meta).expect("map serializes"),
    );
    let mut head = serde_json::to_vec(&header).expect("header serializes");
    while (8 + head.len()) % 64 != 0 {
        head.push(b' ');
    }

    let tmp = path.with_extension("minke.tmp");
    let io = |source| Error::Io {
        path: tmp.clone(),
        source,
    };
    let result = (|| {
        let mut w = ChunkWriter::new(std::fs::File::create(&tmp).map_err(io)?);
        w.write_all(&(head.len() as u64).to_le_bytes())
            .map_err(io)?;
        w.write_all(&head).map_err(io)?;
        let total = offset as u64;
        let mut done = 0u64;
        let mut buf = Vec::new();
        for (i, t) in tensors.iter().enumerate() {
            buf.clear();
            fill(i, &mut buf)?;
            if buf.len() != sizes[i] {
                return Err(Error::InvalidArgument(format!(
                    "tensor `{}`: produced {} bytes, expected {}",
                    t.name,
                    buf.len(),
                    sizes[i]
                )));
            }
            w.write_all(&buf).map_err(io)?;
            done += buf.len() as u64;
            progress(done, total);
        }
        w.into_inner().map_err(io)?.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
