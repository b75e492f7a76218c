//! GGUF reader (versions 2 and 3, little-endian) over the bytes of a mapped
//! file, and a v3 writer ([`GgufWriter`]).
//!
//! Layout read here:
//!
//! ```text
//! "GGUF"  u32 version  u64 n_tensors  u64 n_kv
//! n_kv    x (string key, u32 value type, value)
//! n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset)
//! padding to `general.alignment` (default 32)
//! tensor data; each offset is relative to the start of this section
//! ```
//!
//! Metadata is parsed into owned values; tensors are views into the original
//! bytes, never copies. Every count, length, offset and size is checked with
//! checked arithmetic before use. A tensor whose type minke cannot compute
//! with (Q4_K, Q6_K, ...) does not stop the file from opening — its size is
//! known, so the layout is still validated — but asking for it as a
//! [`GgufTensor`] is an [`Error::Unsupported`] naming the type and tensor.

mod getters;
mod ggml_type;
mod parse;
mod value;
mod writer;

use std::collections::HashMap;

pub use ggml_type::GgmlType;
pub use minke_quant::DType;
pub use value::{GgufArray, GgufValue, GgufValueType};
pub use writer::GgufWriter;

use crate::{Error, Result};
use parse::Cursor;

/// The four bytes every GGUF file starts with.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Alignment of the data section and of every tensor when the file does not
/// set `general.alignment`.
pub const DEFAULT_ALIGNMENT: usize = 32;
/// ggml's limit on tensor dimensions.
pub const MAX_DIMS: usize = 4;
/// Metadata key that sets the alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";

/// True when `bytes` start with the GGUF magic (format sniffing).
pub fn is_gguf(bytes: &[u8]) -> bool {
    bytes.starts_with(&GGUF_MAGIC)
}

/// A parsed GGUF file whose tensors borrow the file's bytes.
#[derive(Debug)]
pub struct GgufFile<'a> {
    file: String,
    bytes: &'a [u8],
    version: u32,
    alignment: usize,
    data_offset: usize,
    /// In file order.
    metadata: Vec<(String, GgufValue)>,
    meta_index: HashMap<String, usize>,
    /// In file order.
    tensors: Vec<GgufTensorInfo<'a>>,
    tensor_index: HashMap<&'a str, usize>,
}

/// A tensor as the file describes it, whatever its type.
#[derive(Clone, Debug, PartialEq)]
pub struct GgufTensorInfo<'a> {
    pub name: &'a str,
    /// GGUF order: `shape[0]` (ggml's `ne[0]`) varies fastest and is the row
    /// length; a matrix of `rows` rows of `cols` elements is `[cols, rows]`.
    pub shape: Vec<usize>,
    pub ggml_type: GgmlType,
    /// Absolute byte offset of the data in the file.
    pub offset: usize,
    /// The tensor's bytes: (n_elements / block_len) blocks of the type.
    pub data: &'a [u8],
}

/// A tensor minke can compute with: a typed view into the file.
#[derive(Clone, Debug, PartialEq)]
pub struct GgufTensor<'a> {
    pub name: &'a str,
    /// GGUF order, `shape[0]` is the row length (see [`GgufTensorInfo`]).
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub data: &'a [u8],
}

impl GgufTensorInfo<'_> {
    /// Number of elements (the product of the shape; checked at parse).
    pub fn n_elements(&self) -> usize {
        self.shape.iter().product()
    }
}

impl<'a> GgufTensorInfo<'a> {
    /// A typed view, or [`Error::Unsupported`] when minke cannot compute with
    /// the tensor's type. `file` names the file in the message.
    pub fn to_tensor(&self, file: &str) -> Result<GgufTensor<'a>> {
        let dtype = self.ggml_type.dtype().ok_or_else(|| {
            Error::Unsupported(format!(
                "tensor type {} in tensor '{}' of {file} (minke reads F32, F16, BF16, Q8_0, Q4_0, Q4_1)",
                self.ggml_type, self.name
            ))
        })?;
        Ok(GgufTensor {
            name: self.name,
            shape: self.shape.clone(),
            dtype,
            data: self.data,
        })
    }
}

fn align_up(x: usize, align: usize) -> Option<usize> {
    Some(x.checked_add(align - 1)? / align * align)
}

impl<'a> GgufFile<'a> {
    /// Parses and validates `bytes` (a whole GGUF file); `file` names it in
    /// errors. Nothing of the tensor data is read or copied.
    pub fn parse(file: &str, bytes: &'a [u8]) -> Result<GgufFile<'a>> {
        let mut c = Cursor::new(bytes, file);

        // Header.
        let magic = c.take(4, "magic")?;
        if magic != GGUF_MAGIC {
            return Err(Error::format(
                file,
                format!("not a GGUF file: bad magic {magic:02x?}, expected \"GGUF\""),
            ));
        }
        let version = c.u32("version")?;
        if version != 2 && version != 3 {
            let hint = if version.swap_bytes() == 2 || version.swap_bytes() == 3 {
                " (a big-endian file; only little-endian GGUF is supported)"
            } else if version == 1 {
                " (version 1 is obsolete; convert the model again)"
            } else {
                ""
            };
            return Err(Error::format(
                file,
                format!("unsupported GGUF version {version}, expected 2 or 3{hint}"),
            ));
        }
        let n_tensors = c.len("tensor count")?;
        let n_kv = c.len("metadata count")?;
        // A metadata entry takes >= 13 bytes (key length, type, 1-byte
        // value); a tensor info >= 28 (name length, n_dims, one dim, type,
        // offset). Refuse counts the file cannot hold before allocating.
        let rem = c.remaining();
        if !matches!(n_kv.checked_mul(13), Some(n) if n <= rem) {
            return Err(Error::format(
                file,
                format!(
                    "metadata count {n_kv} cannot fit in a file of {} bytes",
                    bytes.len()
                ),
            ));
        }
        if !matches!(n_tensors.checked_mul(28), Some(n) if n <= rem) {
            return Err(Error::format(
                file,
                format!(
                    "tensor count {n_tensors} cannot fit in a file of {} bytes",
                    bytes.len()
                ),
            ));
        }

        // Metadata.
        let mut metadata = Vec::with_capacity(n_kv);
        let mut meta_index = HashMap::with_capacity(n_kv);
        for i in 0..n_kv {
            c.what = format!("metadata entry #{i}");
            let start = c.pos();
            let key = c.str("key")?;
            c.what = format!("metadata entry #{i} ({key:?})");
            if meta_index.contains_key(key) {
                c.rewind(start);
                return Err(c.err("duplicate metadata key"));
            }
            let t = c.value_type("value type")?;
            let v = c.value(t, 0)?;
            meta_index.insert(key.to_string(), metadata.len());
            metadata.push((key.to_string(), v));
        }

        let alignment = match meta_index.get(ALIGNMENT_KEY) {
            None => DEFAULT_ALIGNMENT,
            Some(&i) => {
                let v = &metadata[i].1;
                match v.as_integer().and_then(|a| usize::try_from(a).ok()) {
                    Some(a) if a.is_power_of_two() => a,
                    _ => {
                        return Err(Error::format(
                            file,
                            format!(
                                "{ALIGNMENT_KEY} is {v} ({}), expected a power of two",
                                v.type_name()
                            ),
                        ))
                    }
                }
            }
        };

        // Tensor infos: (name, shape, type, relative offset, size).
        let mut infos = Vec::with_capacity(n_tensors);
        let mut tensor_index = HashMap::with_capacity(n_tensors);
        for i in 0..n_tensors {
            c.what = format!("tensor info #{i}");
            let start = c.pos();
            let name = c.str("tensor name")?;
            c.what = format!("tensor info #{i} ({name:?})");
            if tensor_index.insert(name, i).is_some() {
                c.rewind(start);
                return Err(c.err("duplicate tensor name"));
            }
            let n_dims = c.u32("n_dims")?;
            if n_dims == 0 || n_dims as usize > MAX_DIMS {
                return Err(c.err(format_args!("n_dims is {n_dims}, expected 1..={MAX_DIMS}")));
            }
            let mut shape = Vec::with_capacity(n_dims as usize);
            let mut n_elements = 1usize;
            for d in 0..n_dims {
                let ne = c.u64("dimension")?;
                let ne = usize::try_from(ne)
                    .ok()
                    .filter(|&ne| ne > 0)
                    .ok_or_else(|| c.err(format_args!("dimension {d} is {ne}, expected 1..")))?;
                n_elements = n_elements
                    .checked_mul(ne)
                    .filter(|&n| i64::try_from(n).is_ok())
                    .ok_or_else(|| {
                        c.err(format_args!(
                            "element count overflows at dimension {d} ({ne})"
                        ))
                    })?;
                shape.push(ne);
            }
            let type_id = c.u32("tensor type")?;
            let ty = GgmlType::from_id(type_id)
                .ok_or_else(|| c.err(format_args!("unknown ggml tensor type id {type_id}")))?;
            if shape[0] % ty.block_len() != 0 {
                return Err(c.err(format_args!(
                    "row length {} is not a multiple of {}'s block length {}",
                    shape[0],
                    ty,
                    ty.block_len()
                )));
            }
            let size = ty
                .row_bytes(shape[0])
                .and_then(|row| row.checked_mul(n_elements / shape[0]))
                .ok_or_else(|| {
                    c.err(format_args!(
                        "byte size of {n_elements} {ty} elements overflows"
                    ))
                })?;
            let offset = c.u64("data offset")?;
            if offset % alignment as u64 != 0 {
                return Err(c.err(format_args!(
                    "data offset {offset} is not a multiple of the alignment {alignment}"
                )));
            }
            infos.push((name, shape, ty, offset, size));
        }

        // Data section: starts at the next multiple of the alignment.
        let header_end = c.pos();
        let data_offset = align_up(header_end, alignment).ok_or_else(|| {
            Error::format(
                file,
                format!("data section offset overflows (alignment {alignment})"),
            )
        })?;
        let mut tensors = Vec::with_capacity(n_tensors);
        for (name, shape, ggml_type, offset, size) in infos {
            let span = usize::try_from(offset)
                .ok()
                .and_then(|o| data_offset.checked_add(o))
                .and_then(|start| Some((start, start.checked_add(size)?)));
            let (start, end) = match span {
                Some((s, e)) if e <= bytes.len() => (s, e),
                _ => {
                    return Err(Error::format(
                        file,
                        format!(
                            "tensor {name:?}: data at offset {offset} (+{data_offset}) of {size} bytes runs past the end of the file ({} bytes)",
                            bytes.len()
                        ),
                    ))
                }
            };
            tensors.push(GgufTensorInfo {
                name,
                shape,
                ggml_type,
                offset: start,
                data: &bytes[start..end],
            });
        }

        // No two tensors may share bytes.
        let mut order: Vec<usize> = (0..tensors.len()).collect();
        order.sort_by_key(|&i| tensors[i].offset);
        for w in order.windows(2) {
            let (a, b) = (&tensors[w[0]], &tensors[w[1]]);
            if a.offset + a.data.len() > b.offset {
                return Err(Error::format(
                    file,
                    format!(
                        "tensors {:?} (bytes {}..{}) and {:?} (from byte {}) overlap",
                        a.name,
                        a.offset,
                        a.offset + a.data.len(),
                        b.name,
                        b.offset
                    ),
                ));
            }
        }

        Ok(GgufFile {
            file: file.to_string(),
            bytes,
            version,
            alignment,
            data_offset,
            metadata,
            meta_index,
            tensors,
            tensor_index,
        })
    }

    /// The name used in error messages.
    pub fn file_name(&self) -> &str {
        &self.file
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Alignment of the data section and tensors (a power of two).
    pub fn alignment(&self) -> usize {
        self.alignment
    }

    /// Absolute offset of the data section.
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }

    /// Metadata in file order.
    pub fn metadata(&self) -> impl ExactSizeIterator<Item = (&str, &GgufValue)> + '_ {
        self.metadata.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Tensor descriptions in file order.
    pub fn tensor_infos(&self) -> &[GgufTensorInfo<'a>] {
        &self.tensors
    }

    /// The description of tensor `name`, whatever its type.
    pub fn tensor_info(&self, name: &str) -> Option<&GgufTensorInfo<'a>> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// Tensor `name` as a typed view: an error when it is missing or of a
    /// type minke does not compute with.
    pub fn tensor(&self, name: &str) -> Result<GgufTensor<'a>> {
        self.get_tensor(name)?
            .ok_or_else(|| Error::format(&self.file, format!("tensor {name:?} not found")))
    }

    /// Tensor `name` as a typed view, `None` when the file has no such
    /// tensor (optional weights), an error when its type is unsupported.
    pub fn get_tensor(&self, name: &str) -> Result<Option<GgufTensor<'a>>> {
        self.tensor_info(name)
            .map(|t| t.to_tensor(&self.file))
            .transpose()
    }
}
