//! [`GgufWriter`]: writes GGUF v3 files (little-endian) with the data section
//! and every tensor aligned to `general.alignment` (default 32).
//!
//! Used by tests (hostile-file tests mutate a valid file) and to write
//! Q4_0/Q8_0 GGUF files for side-by-side benchmarks. Tensor bytes are
//! borrowed until written, so writing a large model copies nothing up front.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{
    GgmlType, GgufArray, GgufValue, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_DIMS,
};
use crate::{Error, Result};
use minke_quant::DType;

/// Builds a GGUF v3 file: metadata in insertion order, then tensors in
/// insertion order.
#[derive(Debug, Default)]
pub struct GgufWriter<'d> {
    metadata: Vec<(String, GgufValue)>,
    tensors: Vec<Pending<'d>>,
}

#[derive(Debug)]
struct Pending<'d> {
    name: String,
    /// GGUF order: `shape[0]` is the row length.
    shape: Vec<usize>,
    ty: GgmlType,
    data: &'d [u8],
}

impl<'d> GgufWriter<'d> {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`; a key set twice keeps its first position and
    /// its last value.
    pub fn add_metadata(&mut self, key: &str, value: impl Into<GgufValue>) -> &mut Self {
        let value = value.into();
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.metadata.push((key.to_string(), value)),
        }
        self
    }

    /// Sets `general.alignment` (a power of two).
    pub fn set_alignment(&mut self, alignment: usize) -> Result<&mut Self> {
        match u32::try_from(alignment) {
            Ok(a) if a.is_power_of_two() => Ok(self.add_metadata(ALIGNMENT_KEY, a)),
            _ => Err(Error::InvalidArgument(format!(
                "GGUF alignment {alignment} is not a power of two"
            ))),
        }
    }

    /// The alignment the file will be written with.
    pub fn alignment(&self) -> Result<usize> {
        match self.metadata.iter().find(|(k, _)| k == ALIGNMENT_KEY) {
            None => Ok(DEFAULT_ALIGNMENT),
            Some((_, v)) => match v {
                GgufValue::U32(a) if a.is_power_of_two() => Ok(*a as usize),
                _ => Err(Error::InvalidArgument(format!(
                    "{ALIGNMENT_KEY} must be a u32 power of two, not {} {v}",
                    v.type_name()
                ))),
            },
        }
    }

    /// Adds a tensor in a minke format. `shape` is in GGUF order (`shape[0]`
    /// is the row length); `data` must be exactly the tensor's bytes.
    pub fn add_tensor(
        &mut self,
        name: &str,
        shape: &[usize],
        dtype: DType,
        data: &'d [u8],
    ) -> Result<&mut Self> {
        let Some(ty) = GgmlType::from_dtype(dtype) else {
            return Err(Error::InvalidArgument(format!(
                "GGUF tensor {name:?}: {dtype} is a minke-only format; GGUF cannot hold it"
            )));
        };
        self.add_tensor_ggml(name, shape, ty, data)
    }

    /// Adds a tensor of any ggml type (e.g. a K-quant, for tests), with the
    /// same rules as [`GgufWriter::add_tensor`].
    pub fn add_tensor_ggml(
        &mut self,
        name: &str,
        shape: &[usize],
        ty: GgmlType,
        data: &'d [u8],
    ) -> Result<&mut Self> {
        let bad = |msg: String| {
            Err(Error::InvalidArgument(format!(
                "GGUF tensor {name:?}: {msg}"
            )))
        };
        if self.tensors.iter().any(|t| t.name == name) {
            return bad("added twice".into());
        }
        if shape.is_empty() || shape.len() > MAX_DIMS || shape.contains(&0) {
            return bad(format!(
                "shape {shape:?} must have 1..={MAX_DIMS} non-zero dims"
            ));
        }
        let size = shape[1..]
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .and_then(|rows| ty.row_bytes(shape[0])?.checked_mul(rows));
        match size {
            None => {
                return bad(format!(
                "shape {shape:?} does not fit {ty} (row length a multiple of {}, size in range)",
                ty.block_len()
            ))
            }
            Some(n) if n != data.len() => {
                return bad(format!(
                    "shape {shape:?} of {ty} needs {n} bytes, got {}",
                    data.len()
                ))
            }
            Some(_) => {}
        }
        self.tensors.push(Pending {
            name: name.to_string(),
            shape: shape.to_vec(),
            ty,
            data,
        });
        Ok(self)
    }

    /// Writes the file to `w`. I/O errors name the destination as
    /// `<stream>`; [`GgufWriter::write_file`] names the path.
    pub fn write_to(&self, w: &mut impl Write) -> Result<()> {
        let align = self.alignment()?;
        self.write_inner(w, align).map_err(|source| Error::Io {
            path: PathBuf::from("<stream>"),
            source,
        })
    }

    /// The whole file in memory.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.write_to(&mut v)?;
        Ok(v)
    }

    /// Writes the file to `path` (created or truncated).
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let align = self.alignment()?;
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let f = std::fs::File::create(path).map_err(io)?;
        // Whole 2 MiB pieces: the new file lands in the page cache in huge
        // pages, which decoding reads fastest (see `crate::mmap`).
        let mut w = crate::mmap::ChunkWriter::new(f);
        self.write_inner(&mut w, align).map_err(io)?;
        w.flush().map_err(io)
    }

    fn write_inner(&self, w: &mut impl Write, align: usize) -> std::io::Result<()> {
        let mut w = Counting { w, n: 0 };
        w.put(&GGUF_MAGIC)?;
        w.put(&3u32.to_le_bytes())?;
        w.put(&(self.tensors.len() as u64).to_le_bytes())?;
        w.put(&(self.metadata.len() as u64).to_le_bytes())?;
        for (k, v) in &self.metadata {
            w.string(k)?;
            w.put(&v.value_type().id().to_le_bytes())?;
            w.value(v)?;
        }
        // Offsets relative to the data section, each aligned.
        let mut offset = 0usize;
        for t in &self.tensors {
            w.string(&t.name)?;
            w.put(&(t.shape.len() as u32).to_le_bytes())?;
            for &d in &t.shape {
                w.put(&(d as u64).to_le_bytes())?;
            }
            w.put(&t.ty.id().to_le_bytes())?;
            w.put(&(offset as u64).to_le_bytes())?;
            offset += t.data.len().next_multiple_of(align);
        }
        w.pad(align)?;
        for t in &self.tensors {
            w.put(t.data)?;
            w.pad(align)?;
        }
        Ok(())
    }
}

/// A writer that counts bytes, for padding.
struct Counting<'w, W: Write> {
    w: &'w mut W,
    n: usize,
}

impl<W: Write> Counting<'_, W> {
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.n += b.len();
        self.w.write_all(b)
    }

    fn pad(&mut self, align: usize) -> std::io::Result<()> {
        const ZEROS: [u8; 64] = [0; 64];
        let mut left = self.n.next_multiple_of(align) - self.n;
        while left > 0 {
            let k = left.min(ZEROS.len());
            self.put(&ZEROS[..k])?;
            left -= k;
        }
        Ok(())
    }

    fn string(&mut self, s: &str) -> std::io::Result<()> {
        self.put(&(s.len() as u64).to_le_bytes())?;
        self.put(s.as_bytes())
    }

    fn value(&mut self, v: &GgufValue) -> std::io::Result<()> {
        match v {
            GgufValue::U8(x) => self.put(&x.to_le_bytes()),
            GgufValue::I8(x) => self.put(&x.to_le_bytes()),
            GgufValue::U16(x) => self.put(&x.to_le_bytes()),
            GgufValue::I16(x) => self.put(&x.to_le_bytes()),
            GgufValue::U32(x) => self.put(&x.to_le_bytes()),
            GgufValue::I32(x) => self.put(&x.to_le_bytes()),
            GgufValue::U64(x) => self.put(&x.to_le_bytes()),
            GgufValue::I64(x) => self.put(&x.to_le_bytes()),
            GgufValue::F32(x) => self.put(&x.to_le_bytes()),
            GgufValue::F64(x) => self.put(&x.to_le_bytes()),
            GgufValue::Bool(x) => self.put(&[u8::from(*x)]),
            GgufValue::String(s) => self.string(s),
            GgufValue::Array(a) => self.array(a),
        }
    }

    fn array(&mut self, a: &GgufArray) -> std::io::Result<()> {
        self.put(&a.elem_type().id().to_le_bytes())?;
        self.put(&(a.len() as u64).to_le_bytes())?;
        macro_rules! each {
            ($v:expr) => {{
                for x in $v {
                    self.put(&x.to_le_bytes())?;
                }
                Ok(())
            }};
        }
        match a {
            GgufArray::U8(v) => self.put(v),
            GgufArray::I8(v) => each!(v),
            GgufArray::U16(v) => each!(v),
            GgufArray::I16(v) => each!(v),
            GgufArray::U32(v) => each!(v),
            GgufArray::I32(v) => each!(v),
            GgufArray::U64(v) => each!(v),
            GgufArray::I64(v) => each!(v),
            GgufArray::F32(v) => each!(v),
            GgufArray::F64(v) => each!(v),
            GgufArray::Bool(v) => each!(v.iter().map(|&b| u8::from(b))),
            GgufArray::String(v) => {
                for s in v {
                    self.string(s)?;
                }
                Ok(())
            }
            GgufArray::Array(v) => {
                for x in v {
                    self.array(x)?;
                }
                Ok(())
            }
        }
    }
}
