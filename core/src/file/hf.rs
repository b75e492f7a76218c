//! Hugging Face checkpoint folders: `config.json`, one or many
//! `*.safetensors` (f32/f16/bf16), and optionally `tokenizer.json` and
//! `tokenizer_config.json`. Weights are used in place from the mapped shards.

use super::{read_text, st, FileKind, Loaded, TokenizerData};
use crate::config::ModelConfig;
use crate::mmap::Load;
use crate::progress::Progress;
use crate::tensor::TensorStore;
use crate::{Error, Result};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

fn read_opt(path: &Path) -> Result<Option<String>> {
    if path.is_file() {
        read_text(path).map(Some)
    } else {
        Ok(None)
    }
}

/// The safetensors shards of a checkpoint: those named by
/// `model.safetensors.index.json` if present, else `model.safetensors`,
/// else every `model*.safetensors` (other safetensors files in the folder,
/// such as adapters, are not the model's).
fn shards(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let v: serde_json::Value = serde_json::from_str(&read_text(&index)?)
            .map_err(|e| Error::format(index.display(), format!("not JSON: {e}")))?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| Error::format(index.display(), "no `weight_map` object"))?;
        let mut files = BTreeSet::new();
        for (name, f) in map {
            let f = f
                .as_str()
                .filter(|f| !f.contains('/') && !f.contains('\\') && !f.starts_with(".."))
                .ok_or_else(|| Error::format(index.display(), format!("bad file for `{name}`")))?;
            files.insert(dir.join(f));
        }
        return Ok(files.into_iter().collect());
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("model") && name.ends_with(".safetensors")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::format(
            dir.display(),
            "no model*.safetensors files in the checkpoint folder",
        ));
    }
    Ok(files)
}

/// Opens a checkpoint folder.
pub fn open(dir: &Path, load: Load) -> Result<Loaded> {
    open_with(dir, load, &mut Progress::none())
}

/// [`open`], reporting its steps to `progress`: the shards share the
/// range in equal parts, each read and then its tensors viewed.
pub(crate) fn open_with(dir: &Path, load: Load, progress: &mut Progress<'_>) -> Result<Loaded> {
    let config_json = read_text(&dir.join("config.json"))?;
    let config = ModelConfig::from_hf_json(&config_json).map_err(|e| match e {
        Error::Config(m) => Error::Config(format!("{}: {m}", dir.join("config.json").display())),
        e => e,
    })?;
    let mut store = TensorStore::default();
    let shards = shards(dir)?;
    let each = super::FILES_DONE / shards.len() as f32;
    let read = super::read_share(load) * each;
    for (i, shard) in shards.iter().enumerate() {
        let at = i as f32 * each;
        progress.range(at, at + read);
        let f = st::map_with(&mut store, shard, load, progress)?;
        progress.range(at + read, at + each);
        f.add_tensors_with(&mut store, &HashMap::new(), progress)?;
    }
    Ok(Loaded {
        kind: FileKind::HfDir,
        config,
        store,
        tokenizer: tokenizer_data(dir)?,
        metadata: super::metadata::json_fields(&config_json),
    })
}

/// A checkpoint folder's `tokenizer.json` and `tokenizer_config.json`, if
/// it has the first.
pub fn tokenizer_data(dir: &Path) -> Result<Option<TokenizerData>> {
    Ok(
        read_opt(&dir.join("tokenizer.json"))?.map(|tokenizer| TokenizerData::Json {
            tokenizer,
            config: read_opt(&dir.join("tokenizer_config.json")).ok().flatten(),
        }),
    )
}
