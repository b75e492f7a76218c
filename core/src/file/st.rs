//! Shared safetensors reading for `.minke` files and Hugging Face shards:
//! parses and validates the header, then adds each tensor to a
//! [`TensorStore`] as a view into the mapped file.

use crate::mmap::Load;
use crate::progress::Progress;
use crate::tensor::{Blob, TensorStore};
use crate::{Error, Result};
use minke_quant::DType;
use safetensors::tensor::TensorInfo;
use safetensors::Dtype;
use std::collections::HashMap;
use std::path::Path;

/// A tensor stored as raw bytes (safetensors `U8`, shape `[rows, row_bytes]`)
/// whose real format and logical shape `.minke` metadata gives.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Packed {
    pub dtype: String,
    pub shape: Vec<usize>,
}

/// A mapped safetensors file whose header has been checked.
pub struct StFile {
    pub name: String,
    pub blob: usize,
    pub metadata: HashMap<String, String>,
    data_start: usize,
    /// Tensors sorted by offset.
    entries: Vec<(String, TensorInfo)>,
}

/// Largest header we accept (the safetensors crate's own limit).
const MAX_HEADER: u64 = 100_000_000;

/// Loads `path` into `store` (mapped or read, as `load` says) and validates its header: offsets must tile the
/// data exactly, and the data must end where the file ends.
pub fn map(store: &mut TensorStore, path: &Path, load: Load) -> Result<StFile> {
    map_with(store, path, load, &mut Progress::none())
}

/// [`map`], reporting the bytes read to `progress`.
pub(crate) fn map_with(
    store: &mut TensorStore,
    path: &Path,
    load: Load,
    progress: &mut Progress<'_>,
) -> Result<StFile> {
    let name = path.display().to_string();
    let blob = store.add_blob(Blob::File(crate::mmap::load_file_with(
        path, load, progress,
    )?));
    let bytes = store.blob_bytes(blob);
    let bad = |m: String| Error::format(&name, m);
    let len8: [u8; 8] = bytes
        .get(..8)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| bad("file is shorter than a safetensors header".into()))?;
    let n = u64::from_le_bytes(len8);
    if n > MAX_HEADER || n > (bytes.len() - 8) as u64 {
        return Err(bad(format!(
            "safetensors header length {n} exceeds the file"
        )));
    }
    let n = n as usize;
    let hdr: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes[8..8 + n])
        .map_err(|e| bad(format!("safetensors header is not a JSON object: {e}")))?;
    let mut metadata = HashMap::new();
    let mut entries = Vec::with_capacity(hdr.len());
    for (key, v) in hdr {
        if key == "__metadata__" {
            metadata = serde_json::from_value(v)
                .map_err(|e| bad(format!("__metadata__ is not a map of strings: {e}")))?;
        } else {
            let info: TensorInfo =
                serde_json::from_value(v).map_err(|e| bad(format!("tensor `{key}`: {e}")))?;
            entries.push((key, info));
        }
    }
    entries.sort_by_key(|(_, i)| i.data_offsets);
    let mut at = 0usize;
    for (key, info) in &entries {
        let (s, e) = info.data_offsets;
        if s != at || e < s {
            return Err(bad(format!(
                "tensor `{key}`: data offsets {s}..{e} leave a gap or overlap"
            )));
        }
        at = e;
    }
    let end = (8 + n).checked_add(at);
    if end != Some(bytes.len()) {
        return Err(bad(format!(
            "tensor data needs {} bytes after the header, the file has {} (truncated?)",
            at,
            bytes.len() - 8 - n
        )));
    }
    Ok(StFile {
        name,
        blob,
        metadata,
        data_start: 8 + n,
        entries,
    })
}

impl StFile {
    /// Adds every tensor to `store`; `packed` gives the real format of
    /// tensors stored as raw bytes.
    pub fn add_tensors(
        &self,
        store: &mut TensorStore,
        packed: &HashMap<String, Packed>,
    ) -> Result<()> {
        self.add_tensors_with(store, packed, &mut Progress::none())
    }

    /// [`StFile::add_tensors`], reporting each tensor to `progress`.
    pub(crate) fn add_tensors_with(
        &self,
        store: &mut TensorStore,
        packed: &HashMap<String, Packed>,
        progress: &mut Progress<'_>,
    ) -> Result<()> {
        let n = self.entries.len() as u64;
        for (i, (key, info)) in self.entries.iter().enumerate() {
            progress.step(i as u64, n)?;
            let (dtype, shape) = self.resolve(key, info, packed)?;
            let (s, e) = info.data_offsets;
            store.insert(
                &self.name,
                key,
                dtype,
                shape,
                (self.blob, self.data_start + s, e - s),
            )?;
        }
        progress.step(n, n)
    }

    fn resolve(
        &self,
        key: &str,
        info: &TensorInfo,
        packed: &HashMap<String, Packed>,
    ) -> Result<(DType, Vec<usize>)> {
        if let Some(p) = packed.get(key) {
            if info.dtype != Dtype::U8 {
                return Err(Error::format(
                    &self.name,
                    format!("packed tensor `{key}` is not U8"),
                ));
            }
            let d = DType::parse(&p.dtype).ok_or_else(|| {
                Error::format(
                    &self.name,
                    format!("tensor `{key}` has unknown format `{}`", p.dtype),
                )
            })?;
            return Ok((d, p.shape.clone()));
        }
        let d = match info.dtype {
            Dtype::F32 => DType::F32,
            Dtype::F16 => DType::F16,
            Dtype::BF16 => DType::BF16,
            other => {
                return Err(Error::Unsupported(format!(
                    "{}: tensor `{key}` has dtype {other:?} (expected F32, F16 or BF16)",
                    self.name
                )))
            }
        };
        Ok((d, info.shape.clone()))
    }
}
