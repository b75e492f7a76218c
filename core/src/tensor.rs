//! Tensors as views into the bytes of mapped files: a [`TensorStore`] owns
//! the maps and a [`Tensor`] says where in them one tensor lives.

use crate::{Error, Result};
use minke_quant::DType;
use std::collections::HashMap;

/// Bytes a store owns: a mapped file.
pub(crate) enum Blob {
    File(crate::mmap::FileBytes),
}

impl Blob {
    fn bytes(&self) -> &[u8] {
        match self {
            Blob::File(f) => f.bytes(),
        }
    }
}

/// One tensor: its format, its shape (outermost first, as PyTorch writes
/// it: a linear layer is `[out_features, in_features]`) and where its bytes
/// are.
#[derive(Clone, Debug)]
pub struct Tensor {
    pub dtype: DType,
    pub shape: Vec<usize>,
    blob: usize,
    offset: usize,
    len: usize,
}

impl Tensor {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Rows and row length of a 2-D tensor (1-D: one row).
    pub fn rows_cols(&self) -> (usize, usize) {
        match self.shape.as_slice() {
            [n] => (1, *n),
            [r, c] => (*r, *c),
            _ => (0, 0),
        }
    }

    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        self.dtype.row_bytes(self.rows_cols().1).unwrap_or(0)
    }

    /// Where the tensor lives (file, offset): identifies it within a store.
    pub(crate) fn key(&self) -> (usize, usize) {
        (self.blob, self.offset)
    }

    /// Bytes in total.
    pub fn byte_len(&self) -> usize {
        self.len
    }
}

/// The tensors of one model and the files they live in.
#[derive(Default)]
pub struct TensorStore {
    blobs: Vec<Blob>,
    tensors: HashMap<String, Tensor>,
    /// Names in insertion order, for listing.
    order: Vec<String>,
}

impl TensorStore {
    /// Adds a file's bytes; returns the handle tensors refer to it by.
    pub(crate) fn add_blob(&mut self, blob: Blob) -> usize {
        self.blobs.push(blob);
        self.blobs.len() - 1
    }

    /// The address ranges of every file's bytes.
    pub(crate) fn blob_ranges(&self) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
        self.blobs.iter().map(|b| {
            let s = b.bytes();
            s.as_ptr() as usize..s.as_ptr() as usize + s.len()
        })
    }

    /// The bytes of a blob added with [`TensorStore::add_blob`].
    pub(crate) fn blob_bytes(&self, blob: usize) -> &[u8] {
        self.blobs[blob].bytes()
    }

    /// Adds a tensor stored at `blob[offset..offset + len]` (the last
    /// argument), checking that
    /// the bytes exist and match the shape and format.
    pub(crate) fn insert(
        &mut self,
        file: &str,
        name: &str,
        dtype: DType,
        shape: Vec<usize>,
        (blob, offset, len): (usize, usize, usize),
    ) -> Result<()> {
        let bad = |m: String| Err(Error::format(file, format!("tensor `{name}`: {m}")));
        let row = shape.last().copied().unwrap_or(1);
        let rows = shape
            .iter()
            .rev()
            .skip(1)
            .try_fold(1usize, |a, &d| a.checked_mul(d));
        let need = rows.and_then(|r| dtype.row_bytes(row).and_then(|b| b.checked_mul(r)));
        let Some(need) = need else {
            return bad(format!(
                "shape {shape:?} does not fit format {dtype} (row length must be a multiple of {})",
                dtype.block_len()
            ));
        };
        let group = dtype.row_group();
        if rows.is_some_and(|r| r % group != 0) {
            return bad(format!(
                "shape {shape:?} in {dtype} needs a multiple of {group} rows"
            ));
        }
        if need != len {
            return bad(format!(
                "shape {shape:?} in {dtype} needs {need} bytes, file has {len}"
            ));
        }
        let avail = self.blobs[blob].bytes().len();
        if offset.checked_add(len).is_none_or(|end| end > avail) {
            return bad(format!(
                "bytes {offset}..+{len} lie outside the file ({avail} bytes)"
            ));
        }
        if self.tensors.contains_key(name) {
            return bad("appears twice".into());
        }
        self.order.push(name.to_string());
        self.tensors.insert(
            name.to_string(),
            Tensor {
                dtype,
                shape,
                blob,
                offset,
                len,
            },
        );
        Ok(())
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// Names in the order they were added.
    pub fn names(&self) -> &[String] {
        &self.order
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when there are no tensors.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The bytes of `t` (checked against the file when `t` was inserted).
    pub fn bytes(&self, t: &Tensor) -> &[u8] {
        &self.blobs[t.blob].bytes()[t.offset..t.offset + t.len]
    }

    /// Row `i` of a 2-D tensor, as f32 (any format).
    pub fn row_f32(&self, t: &Tensor, i: usize, out: &mut [f32]) {
        minke_quant::formats::dequantize_row_of(t.dtype, self.bytes(t), i, out);
    }

    /// The whole tensor as f32 (allocates; for loading small tensors).
    pub fn to_f32(&self, t: &Tensor) -> Vec<f32> {
        let mut out = vec![0f32; t.numel()];
        let cols = t.shape.last().copied().unwrap_or(1).max(1);
        let rows = t.numel() / cols;
        let bytes = self.bytes(t);
        for r in 0..rows {
            minke_quant::formats::dequantize_row_of(
                t.dtype,
                bytes,
                r,
                &mut out[r * cols..(r + 1) * cols],
            );
        }
        out
    }
}
