//! The GGUF byte-level reader: a cursor over the file that checks every
//! length and count against the bytes that remain before it reads or
//! allocates, so that a hostile file gives an error, never a panic or an
//! allocation larger than (a small multiple of) the file itself.

use crate::{Error, Result};

use super::value::{GgufArray, GgufValue, GgufValueType};

/// Arrays may nest; real files nest at most once. A cap keeps a file of
/// nested empty arrays from overflowing the stack through recursion.
pub(crate) const MAX_ARRAY_DEPTH: usize = 8;

/// A position in the file, with what is being read for error messages.
pub(crate) struct Cursor<'a, 'f> {
    bytes: &'a [u8],
    pos: usize,
    file: &'f str,
    /// What is being read, e.g. `metadata entry #3 ("general.name")`.
    pub(crate) what: String,
}

impl<'a, 'f> Cursor<'a, 'f> {
    pub(crate) fn new(bytes: &'a [u8], file: &'f str) -> Self {
        Cursor {
            bytes,
            pos: 0,
            file,
            what: String::from("header"),
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Moves back to `pos` (an earlier position), so that an error found
    /// after reading a field points at the field's start.
    pub(crate) fn rewind(&mut self, pos: usize) {
        self.pos = pos.min(self.pos);
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// A format error that says where and what.
    pub(crate) fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::format(
            self.file,
            format!("{}, at byte {}: {msg}", self.what, self.pos),
        )
    }

    /// The next `n` bytes; an error naming `field` when fewer remain.
    pub(crate) fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.err(format_args!(
                "truncated: {field} needs {n} bytes but only {} remain (file is {} bytes)",
                self.remaining(),
                self.bytes.len()
            )));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N]> {
        let s = self.take(N, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub(crate) fn u32(&mut self, field: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    /// A `u64` length or count that must fit `usize`.
    pub(crate) fn len(&mut self, field: &str) -> Result<usize> {
        let v = self.u64(field)?;
        usize::try_from(v).map_err(|_| self.err(format_args!("{field} {v} does not fit in memory")))
    }

    /// A GGUF string: `u64` byte length, then UTF-8 bytes.
    pub(crate) fn str(&mut self, field: &str) -> Result<&'a str> {
        let start = self.pos;
        let n = self.len(field)?;
        let rem = self.remaining();
        if n > rem {
            self.pos = start;
            return Err(self.err(format_args!(
                "{field} length {n} runs past the end of the file ({rem} bytes remain)"
            )));
        }
        let s = self.take(n, field)?;
        std::str::from_utf8(s).map_err(|e| {
            self.err(format_args!(
                "{field} is not valid UTF-8 (bad byte at offset {} of the string)",
                e.valid_up_to()
            ))
        })
    }

    /// A value type id.
    pub(crate) fn value_type(&mut self, field: &str) -> Result<GgufValueType> {
        let id = self.u32(field)?;
        GgufValueType::from_id(id)
            .ok_or_else(|| self.err(format_args!("unknown value type id {id} (valid: 0..=12)")))
    }

    /// A value of type `t`.
    pub(crate) fn value(&mut self, t: GgufValueType, depth: usize) -> Result<GgufValue> {
        use GgufValueType as T;
        Ok(match t {
            T::U8 => GgufValue::U8(u8::from_le_bytes(self.array("u8 value")?)),
            T::I8 => GgufValue::I8(i8::from_le_bytes(self.array("i8 value")?)),
            T::U16 => GgufValue::U16(u16::from_le_bytes(self.array("u16 value")?)),
            T::I16 => GgufValue::I16(i16::from_le_bytes(self.array("i16 value")?)),
            T::U32 => GgufValue::U32(u32::from_le_bytes(self.array("u32 value")?)),
            T::I32 => GgufValue::I32(i32::from_le_bytes(self.array("i32 value")?)),
            T::U64 => GgufValue::U64(u64::from_le_bytes(self.array("u64 value")?)),
            T::I64 => GgufValue::I64(i64::from_le_bytes(self.array("i64 value")?)),
            T::F32 => GgufValue::F32(f32::from_le_bytes(self.array("f32 value")?)),
            T::F64 => GgufValue::F64(f64::from_le_bytes(self.array("f64 value")?)),
            T::Bool => GgufValue::Bool(self.bool()?),
            T::String => GgufValue::String(self.str("string value")?.to_string()),
            T::Array => GgufValue::Array(self.array_value(depth)?),
        })
    }

    fn bool(&mut self) -> Result<bool> {
        match self.array::<1>("bool value")?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => {
                self.pos -= 1;
                Err(self.err(format_args!("bool value is {b}, not 0 or 1")))
            }
        }
    }

    /// An array: element type id, `u64` count, then the elements.
    fn array_value(&mut self, depth: usize) -> Result<GgufArray> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(self.err(format_args!(
                "arrays nested more than {MAX_ARRAY_DEPTH} deep"
            )));
        }
        let t = self.value_type("array element type")?;
        let n = self.len("array length")?;
        // Every element takes at least `min_bytes`, so this bounds both the
        // count and what `with_capacity` below may allocate.
        let need = n.checked_mul(t.min_bytes());
        let rem = self.remaining();
        if !matches!(need, Some(need) if need <= rem) {
            self.pos -= 8;
            return Err(self.err(format_args!(
                "array of {n} {t} elements cannot fit in the {rem} bytes that remain"
            )));
        }
        use GgufValueType as T;
        Ok(match t {
            T::U8 => GgufArray::U8(self.fixed(n, u8::from_le_bytes)?),
            T::I8 => GgufArray::I8(self.fixed(n, i8::from_le_bytes)?),
            T::U16 => GgufArray::U16(self.fixed(n, u16::from_le_bytes)?),
            T::I16 => GgufArray::I16(self.fixed(n, i16::from_le_bytes)?),
            T::U32 => GgufArray::U32(self.fixed(n, u32::from_le_bytes)?),
            T::I32 => GgufArray::I32(self.fixed(n, i32::from_le_bytes)?),
            T::U64 => GgufArray::U64(self.fixed(n, u64::from_le_bytes)?),
            T::I64 => GgufArray::I64(self.fixed(n, i64::from_le_bytes)?),
            T::F32 => GgufArray::F32(self.fixed(n, f32::from_le_bytes)?),
            T::F64 => GgufArray::F64(self.fixed(n, f64::from_le_bytes)?),
            T::Bool => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.bool()?);
                }
                GgufArray::Bool(v)
            }
            T::String => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.str("string element")?.to_string());
                }
                GgufArray::String(v)
            }
            T::Array => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.array_value(depth + 1)?);
                }
                GgufArray::Array(v)
            }
        })
    }

    /// `n` fixed-size little-endian elements (the caller checked that they
    /// fit in the remaining bytes).
    fn fixed<T, const N: usize>(&mut self, n: usize, conv: fn([u8; N]) -> T) -> Result<Vec<T>> {
        let bytes = self.take(n * N, "array elements")?;
        Ok(bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                conv(a)
            })
            .collect())
    }
}
