//! A model file's metadata as text, for [`crate::Model::metadata`]: the
//! key/value pairs of a GGUF file, the `__metadata__` of a `.minke` file,
//! or the top-level fields of a checkpoint's `config.json`.
//!
//! Values become the text a person or a C program can read: a string as
//! it is (no quotes), a number or boolean as Rust prints it, a JSON value
//! as compact JSON. Two kinds are summarized, so that a model's metadata
//! costs kilobytes, not the megabytes of its vocabulary:
//! - an array shows its first [`ARRAY_SHOWN`] elements, then how many it
//!   has in all: `[1, 2, 3, ... (49152 items)]`;
//! - a string longer than [`MAX_TEXT`] (a `.minke` file's embedded
//!   `tokenizer.json`) is replaced by `(N bytes, not kept)`: the tokenizer
//!   functions give what such a value holds. [`MAX_TEXT`] is the largest
//!   chat template minke renders, so every usable template is kept whole.

use super::gguf::{GgufArray, GgufValue};
use std::fmt::Write;

/// Elements of an array that the text shows.
pub const ARRAY_SHOWN: usize = 8;
/// Longest value kept as it is: 256 KiB, the chat template limit.
pub const MAX_TEXT: usize = 256 * 1024;

/// `s`, or its summary when longer than [`MAX_TEXT`].
pub(crate) fn text(s: &str) -> String {
    if s.len() > MAX_TEXT {
        format!("({} bytes, not kept)", s.len())
    } else {
        s.to_string()
    }
}

/// A GGUF value as text.
pub(crate) fn gguf(v: &GgufValue) -> String {
    match v {
        GgufValue::String(s) => text(s),
        GgufValue::Array(a) => {
            let mut out = String::new();
            array(&mut out, a, 0);
            out
        }
        v => v.to_string(),
    }
}

/// Writes `a` as `[e0, e1, ... (n items)]`; arrays nested deeper than one
/// level show as `[type; n]`.
fn array(out: &mut String, a: &GgufArray, depth: usize) {
    if depth > 0 {
        let _ = write!(out, "[{}; {}]", a.elem_type_name(), a.len());
        return;
    }
    out.push('[');
    let shown = a.len().min(ARRAY_SHOWN);
    for i in 0..shown {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = match a {
            GgufArray::U8(v) => write!(out, "{}", v[i]),
            GgufArray::I8(v) => write!(out, "{}", v[i]),
            GgufArray::U16(v) => write!(out, "{}", v[i]),
            GgufArray::I16(v) => write!(out, "{}", v[i]),
            GgufArray::U32(v) => write!(out, "{}", v[i]),
            GgufArray::I32(v) => write!(out, "{}", v[i]),
            GgufArray::U64(v) => write!(out, "{}", v[i]),
            GgufArray::I64(v) => write!(out, "{}", v[i]),
            GgufArray::F32(v) => write!(out, "{}", v[i]),
            GgufArray::F64(v) => write!(out, "{}", v[i]),
            GgufArray::Bool(v) => write!(out, "{}", v[i]),
            // Quoted, so that commas and brackets inside stay readable;
            // a long one (a merge table's line is short; a string array
            // of templates is not) is cut like any string.
            GgufArray::String(v) => match v[i].len() > MAX_TEXT {
                true => write!(out, "({} bytes)", v[i].len()),
                false => write!(out, "{:?}", v[i]),
            },
            GgufArray::Array(v) => {
                array(out, &v[i], depth + 1);
                Ok(())
            }
        };
    }
    if a.len() > shown {
        let _ = write!(out, ", ... ({} items)", a.len());
    }
    out.push(']');
}

/// The top-level fields of a JSON object (`config.json`) as text, sorted
/// by key; nothing if it is not an object.
pub(crate) fn json_fields(json: &str) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    map.into_iter()
        .map(|(k, v)| {
            let t = match v {
                serde_json::Value::String(s) => text(&s),
                v => text(&v.to_string()),
            };
            (k, t)
        })
        .collect()
}

/// A safetensors `__metadata__` map as text, sorted by key (the format
/// keeps no order).
pub(crate) fn string_map<'a>(
    map: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = map.into_iter().map(|(k, s)| (k.clone(), text(s))).collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_text_and_large_ones_are_summarized() {
        assert_eq!(gguf(&GgufValue::from("llama")), "llama");
        assert_eq!(gguf(&GgufValue::U32(2048)), "2048");
        assert_eq!(gguf(&GgufValue::Bool(true)), "true");
        assert_eq!(gguf(&vec![1u32, 2, 3].into()), "[1, 2, 3]");
        let tokens: Vec<String> = (0..20).map(|i| format!("t,{i}")).collect();
        assert_eq!(
            gguf(&GgufValue::Array(GgufArray::String(tokens))),
            r#"["t,0", "t,1", "t,2", "t,3", "t,4", "t,5", "t,6", "t,7", ... (20 items)]"#
        );
        let nested = GgufValue::from(vec![GgufArray::from(vec![1i32, 2])]);
        assert_eq!(gguf(&nested), "[[i32; 2]]");
        let big = "x".repeat(MAX_TEXT + 1);
        assert_eq!(text(&big), format!("({} bytes, not kept)", MAX_TEXT + 1));
        assert_eq!(text(&big[1..]).len(), MAX_TEXT);
    }

    #[test]
    fn json_fields_keep_strings_bare_and_the_rest_as_json() {
        let f = json_fields(r#"{"model_type": "llama", "rope_scaling": {"factor": 2.0}, "n": 3}"#);
        let get = |k: &str| f.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("model_type"), Some("llama"));
        assert_eq!(get("rope_scaling"), Some(r#"{"factor":2.0}"#));
        assert_eq!(get("n"), Some("3"));
        assert!(json_fields("[1, 2]").is_empty());
    }
}
