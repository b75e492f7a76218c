//! Read-only memory maps of model files: the only way minke reads weights.

use crate::{Error, Result};
use memmap2::Mmap;
use std::fs::File;
use std::path::Path;

/// Maps `path` read-only.
pub fn map_file(path: &Path) -> Result<Mmap> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    // SAFETY: the map is read-only and private to this process. Another
    // process truncating or rewriting the file while it is mapped would be
    // undefined behaviour; like every mmap-based loader (llama.cpp, candle,
    // safetensors) we require that model files are not modified while open,
    // and say so in the docs of `Model::open`.
    let map = unsafe { Mmap::map(&file) }.map_err(io)?;
    #[cfg(unix)]
    {
        // Weights are read front to back once per token; ask the kernel to
        // read ahead. Advice is a hint: failure is harmless.
        let _ = map.advise(memmap2::Advice::WillNeed);
    }
    Ok(map)
}
