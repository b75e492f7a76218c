//! Reading `tests/fixtures/tokenizer/`: files, JSON-lines cases, id lists.
#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;

/// The path of `rel` under `tests/fixtures/tokenizer/`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/tokenizer")
        .join(rel)
}

/// The bytes of a fixture file.
pub fn read(rel: &str) -> Vec<u8> {
    let p = fixture(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A JSON-lines fixture, one value per line.
pub fn jsonl(rel: &str) -> Vec<Value> {
    String::from_utf8(read(rel))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A JSON array of token ids.
pub fn ids_of(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap() as u32)
        .collect()
}
