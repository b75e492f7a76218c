//! Typed metadata getters on [`GgufFile`].
//!
//! Each returns `Ok(None)` when the key is absent, `Ok(Some(v))` when it holds
//! a value of a compatible type, and an error naming the key, the type found
//! and the type wanted otherwise. Integer getters accept any integer type
//! whose value fits (converters disagree on u32 vs i32 vs u64 for counts).

use super::{GgufArray, GgufFile, GgufValue};
use crate::{Error, Result};

impl GgufFile<'_> {
    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.meta_index.get(key).map(|&i| &self.metadata[i].1)
    }

    fn wrong(&self, key: &str, v: &GgufValue, want: &str) -> Error {
        Error::format(
            &self.file,
            format!("metadata {key:?} is {} {v}, expected {want}", v.type_name()),
        )
    }

    fn integer<T: TryFrom<i128>>(&self, key: &str, want: &str) -> Result<Option<T>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        v.as_integer()
            .and_then(|x| T::try_from(x).ok())
            .map(Some)
            .ok_or_else(|| self.wrong(key, v, want))
    }

    /// An integer of any type that fits `u32`.
    pub fn get_u32(&self, key: &str) -> Result<Option<u32>> {
        self.integer(key, "an integer in u32 range")
    }

    /// An integer of any type that fits `i32`.
    pub fn get_i32(&self, key: &str) -> Result<Option<i32>> {
        self.integer(key, "an integer in i32 range")
    }

    /// An integer of any type that fits `u64`.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>> {
        self.integer(key, "an integer in u64 range")
    }

    /// An integer of any type that fits `i64`.
    pub fn get_i64(&self, key: &str) -> Result<Option<i64>> {
        self.integer(key, "an integer in i64 range")
    }

    /// An integer of any type that fits `usize` (counts and sizes).
    pub fn get_usize(&self, key: &str) -> Result<Option<usize>> {
        self.integer(key, "a non-negative integer")
    }

    /// An `f32` or `f64` (narrowed), or an integer (converted).
    pub fn get_f32(&self, key: &str) -> Result<Option<f32>> {
        Ok(self.get_f64(key)?.map(|x| x as f32))
    }

    /// An `f64` or `f32`, or an integer (converted).
    pub fn get_f64(&self, key: &str) -> Result<Option<f64>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        match *v {
            GgufValue::F32(x) => Ok(Some(x.into())),
            GgufValue::F64(x) => Ok(Some(x)),
            _ => v
                .as_integer()
                .map(|x| Some(x as f64))
                .ok_or_else(|| self.wrong(key, v, "a number")),
        }
    }

    /// A `bool`.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(key, v, "a bool")),
        }
    }

    /// A string.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>> {
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(key, v, "a string")),
        }
    }

    /// An array of any type.
    pub fn get_array(&self, key: &str) -> Result<Option<&GgufArray>> {
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::Array(a)) => Ok(Some(a)),
            Some(v) => Err(self.wrong(key, v, "an array")),
        }
    }

    /// An array of strings (vocabularies, merges).
    pub fn get_str_array(&self, key: &str) -> Result<Option<&[String]>> {
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::Array(GgufArray::String(v))) => Ok(Some(v)),
            Some(v) => Err(self.wrong(key, v, "an array of strings")),
        }
    }

    fn integer_array<T: TryFrom<i128>>(&self, key: &str, want: &str) -> Result<Option<Vec<T>>> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let a = match v {
            GgufValue::Array(a) if a.is_integer() => a,
            _ => return Err(self.wrong(key, v, want)),
        };
        let mut out = Vec::with_capacity(a.len());
        for i in 0..a.len() {
            let x = a
                .integer_at(i)
                .and_then(|x| T::try_from(x).ok())
                .ok_or_else(|| {
                    Error::format(
                        &self.file,
                        format!("metadata {key:?}: element {i} does not fit {want}"),
                    )
                })?;
            out.push(x);
        }
        Ok(Some(out))
    }

    /// An array of any integer type whose elements all fit `i32`
    /// (token types).
    pub fn get_i32_array(&self, key: &str) -> Result<Option<Vec<i32>>> {
        self.integer_array(key, "an array of integers in i32 range")
    }

    /// An array of any integer type whose elements all fit `u32` (token ids).
    pub fn get_u32_array(&self, key: &str) -> Result<Option<Vec<u32>>> {
        self.integer_array(key, "an array of integers in u32 range")
    }

    /// An array of `f32` or `f64` (narrowed) (token scores).
    pub fn get_f32_array(&self, key: &str) -> Result<Option<Vec<f32>>> {
        match self.get(key) {
            None => Ok(None),
            Some(GgufValue::Array(GgufArray::F32(v))) => Ok(Some(v.clone())),
            Some(GgufValue::Array(GgufArray::F64(v))) => {
                Ok(Some(v.iter().map(|&x| x as f32).collect()))
            }
            Some(v) => Err(self.wrong(key, v, "an array of floats")),
        }
    }

    /// `general.architecture` (`llama`, `qwen2`, `deepseek2`, ...).
    pub fn architecture(&self) -> Result<Option<&str>> {
        self.get_str("general.architecture")
    }
}
