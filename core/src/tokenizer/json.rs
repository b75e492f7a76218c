//! Loading Hugging Face `tokenizer.json` (and `tokenizer_config.json`).
//!
//! Every component is checked against what minke implements; anything
//! else is an error that names the component and its type, e.g.
//! `tokenizer.json: unsupported pre_tokenizer type Metaspace`.

use std::collections::HashMap;

use serde_json::Value;

use super::added::AddedToken;
use super::bpe::{self, Bpe};
use super::pretok::Splitter;
use super::{Normalizer, Parts, Tokenizer};
use crate::{Error, Result};

const FILE: &str = "tokenizer.json";

fn err(msg: impl std::fmt::Display) -> Error {
    Error::Tokenizer(format!("{FILE}: {msg}"))
}

fn type_of(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("(no type)")
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// A field that should be a null/empty string; anything else is unsupported.
fn must_be_empty(model: &Value, key: &str) -> Result<()> {
    match model.get(key) {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if s.is_empty() => Ok(()),
        Some(v) => Err(err(format!("unsupported BPE option {key} = {v}"))),
    }
}

/// Loads `tokenizer.json`, with `tokenizer_config.json` if given.
pub(super) fn load(json: &[u8], config: Option<&[u8]>) -> Result<Tokenizer> {
    let root: Value =
        serde_json::from_slice(json).map_err(|e| err(format!("not valid JSON: {e}")))?;
    let config: Option<Value> = config
        .map(|c| {
            serde_json::from_slice(c).map_err(|e| {
                Error::Tokenizer(format!("tokenizer_config.json: not valid JSON: {e}"))
            })
        })
        .transpose()?;

    let normalizer = normalizer(root.get("normalizer").unwrap_or(&Value::Null))?;
    let mut splitters = Vec::new();
    let byte_level = pre_tokenizer(
        root.get("pre_tokenizer").unwrap_or(&Value::Null),
        &mut splitters,
    )?;
    let byte_level_decoder = decoder(root.get("decoder").unwrap_or(&Value::Null))?;

    let model = root.get("model").ok_or_else(|| err("has no model"))?;
    if type_of(model) != "BPE" {
        // Files without a type field are BPE only if they have merges.
        if model.get("type").is_some() || model.get("merges").is_none() {
            return Err(err(format!("unsupported model type {}", type_of(model))));
        }
    }
    if let Some(d) = model.get("dropout").and_then(Value::as_f64) {
        if d != 0.0 {
            return Err(err(format!("unsupported BPE dropout {d}")));
        }
    }
    must_be_empty(model, "continuing_subword_prefix")?;
    must_be_empty(model, "end_of_word_suffix")?;

    let vocab_obj = model
        .get("vocab")
        .and_then(Value::as_object)
        .ok_or_else(|| err("model.vocab is missing or not an object"))?;
    let inverse: HashMap<char, u8> = bpe::byte_to_char_table()
        .iter()
        .enumerate()
        .map(|(b, &c)| (c, b as u8))
        .collect();
    let to_bytes = |tok: &str| -> Vec<u8> {
        if byte_level {
            bpe::byte_level_decode(tok, &inverse).unwrap_or_else(|| tok.as_bytes().to_vec())
        } else {
            tok.as_bytes().to_vec()
        }
    };
    let mut vocab_map = bpe::VocabMap::default();
    vocab_map.reserve(vocab_obj.len());
    let mut vocab = Vec::with_capacity(vocab_obj.len());
    for (tok, id) in vocab_obj {
        let id = id
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .filter(|&i| i < u32::MAX / 2)
            .ok_or_else(|| err(format!("model.vocab[{tok:?}] is not a valid id: {id}")))?;
        vocab_map.insert(to_bytes(tok).into_boxed_slice(), id);
        vocab.push((id, tok.clone()));
    }

    let merges_v = model
        .get("merges")
        .and_then(Value::as_array)
        .ok_or_else(|| err("model.merges is missing or not an array"))?;
    let mut merges = Vec::with_capacity(merges_v.len());
    for (i, m) in merges_v.iter().enumerate() {
        let (a, b) = match m {
            Value::String(s) => {
                let mut it = s.split(' ');
                match (it.next(), it.next(), it.next()) {
                    (Some(a), Some(b), None) => (a, b),
                    _ => return Err(err(format!("model.merges[{i}] {s:?} is not two tokens"))),
                }
            }
            Value::Array(p) if p.len() == 2 => match (p[0].as_str(), p[1].as_str()) {
                (Some(a), Some(b)) => (a, b),
                _ => return Err(err(format!("model.merges[{i}] is not a pair of strings"))),
            },
            _ => return Err(err(format!("model.merges[{i}] is not a pair of tokens"))),
        };
        merges.push((to_bytes(a), to_bytes(b)));
    }

    let unk = match model.get("unk_token") {
        Some(Value::String(u)) => Some(
            vocab_map
                .get(to_bytes(u).as_slice())
                .copied()
                .ok_or_else(|| err(format!("unk_token {u:?} is not in the vocabulary")))?,
        ),
        _ => None,
    };
    let bpe = Bpe::new(
        vocab_map,
        &merges,
        byte_level,
        flag(model, "byte_fallback"),
        unk,
        flag(model, "ignore_merges"),
        FILE,
    )?;

    let added = added_tokens(&root)?;
    let find = |content: &str| -> Option<u32> {
        added
            .iter()
            .find(|t| t.content == content)
            .map(|t| t.id)
            .or_else(|| bpe.token_id(&to_bytes(content)))
    };
    let (mut prefix, mut suffix) =
        post_processor(root.get("post_processor").unwrap_or(&Value::Null), &find)?;

    let mut bos = None;
    let mut eos = None;
    let mut pad = None;
    let mut chat_template = None;
    if let Some(cfg) = &config {
        let token = |key: &str| -> Result<Option<u32>> {
            let name = match cfg.get(key) {
                Some(Value::String(s)) => s.as_str(),
                Some(Value::Object(o)) => o.get("content").and_then(Value::as_str).unwrap_or(""),
                _ => return Ok(None),
            };
            find(name).map(Some).ok_or_else(|| {
                Error::Tokenizer(format!(
                    "tokenizer_config.json: {key} {name:?} is not a token"
                ))
            })
        };
        bos = token("bos_token")?;
        eos = token("eos_token")?;
        pad = token("pad_token")?;
        if let Some(add) = cfg.get("add_bos_token").and_then(Value::as_bool) {
            prefix.retain(|&id| Some(id) != bos);
            if add {
                let b = bos.ok_or_else(|| {
                    Error::Tokenizer(
                        "tokenizer_config.json: add_bos_token is true but there is no bos_token"
                            .into(),
                    )
                })?;
                prefix.insert(0, b);
            }
        }
        if let Some(add) = cfg.get("add_eos_token").and_then(Value::as_bool) {
            suffix.retain(|&id| Some(id) != eos);
            if let (true, Some(e)) = (add, eos) {
                suffix.push(e);
            }
        }
        chat_template = match cfg.get("chat_template") {
            Some(Value::String(s)) => Some(s.clone()),
            // A list of named templates: take the default one.
            Some(Value::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                .and_then(|t| t.get("template")?.as_str().map(str::to_string)),
            _ => None,
        };
    }

    Tokenizer::assemble(Parts {
        bpe,
        normalizer,
        splitters,
        added,
        prefix,
        suffix,
        vocab,
        byte_level,
        byte_level_decoder,
        bos,
        eos,
        pad,
        chat_template,
    })
}

fn normalizer(v: &Value) -> Result<Normalizer> {
    match type_of(v) {
        _ if v.is_null() => Ok(Normalizer::None),
        "NFC" => Ok(Normalizer::Nfc),
        "Sequence" => {
            let list = v
                .get("normalizers")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let mut out = Normalizer::None;
            for n in list {
                match (normalizer(n)?, out) {
                    (Normalizer::None, _) => {}
                    (Normalizer::Nfc, _) => out = Normalizer::Nfc,
                }
            }
            Ok(out)
        }
        t => Err(err(format!("unsupported normalizer type {t}"))),
    }
}

/// Appends the splitters of pre-tokenizer `v`; returns whether it ends in
/// `ByteLevel` (the model then works on bytes).
fn pre_tokenizer(v: &Value, out: &mut Vec<Splitter>) -> Result<bool> {
    let list: Vec<&Value> = match type_of(v) {
        _ if v.is_null() => return Ok(false),
        "Sequence" => v
            .get("pretokenizers")
            .and_then(Value::as_array)
            .ok_or_else(|| err("pre_tokenizer Sequence has no pretokenizers list"))?
            .iter()
            .collect(),
        _ => vec![v],
    };
    let mut byte_level = false;
    for p in list {
        if byte_level {
            return Err(err(format!(
                "unsupported pre_tokenizer {} after ByteLevel",
                type_of(p)
            )));
        }
        match type_of(p) {
            "ByteLevel" => {
                if flag(p, "add_prefix_space") {
                    return Err(err(
                        "unsupported pre_tokenizer ByteLevel with add_prefix_space = true",
                    ));
                }
                if p.get("use_regex").and_then(Value::as_bool).unwrap_or(true) {
                    out.push(Splitter::Gpt2);
                }
                byte_level = true;
            }
            "Split" => {
                let behavior = p.get("behavior").and_then(Value::as_str).unwrap_or("");
                if behavior != "Isolated" {
                    return Err(err(format!(
                        "unsupported Split behavior {behavior:?} (only Isolated)"
                    )));
                }
                if flag(p, "invert") {
                    return Err(err("unsupported Split with invert = true"));
                }
                let pattern = p
                    .get("pattern")
                    .ok_or_else(|| err("Split has no pattern"))?;
                if let Some(re) = pattern.get("Regex").and_then(Value::as_str) {
                    out.push(Splitter::from_regex(re).map_err(|e| match e {
                        Error::Tokenizer(m) => err(m),
                        other => other,
                    })?);
                } else if let Some(s) = pattern.get("String").and_then(Value::as_str) {
                    out.push(Splitter::Literal(s.to_string()));
                } else {
                    return Err(err(format!("unsupported Split pattern {pattern}")));
                }
            }
            "Digits" => out.push(Splitter::Numbers {
                max: if flag(p, "individual_digits") {
                    1
                } else {
                    usize::MAX
                },
            }),
            t => return Err(err(format!("unsupported pre_tokenizer type {t}"))),
        }
    }
    Ok(byte_level)
}

/// Whether the decoder maps the byte alphabet back to bytes.
fn decoder(v: &Value) -> Result<bool> {
    match type_of(v) {
        _ if v.is_null() => Ok(false),
        "ByteLevel" => Ok(true),
        "Sequence" => {
            let list = v
                .get("decoders")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            match list {
                [one] => decoder(one),
                [] => Ok(false),
                _ => Err(err("unsupported decoder Sequence of more than one decoder")),
            }
        }
        t => Err(err(format!("unsupported decoder type {t}"))),
    }
}

/// The ids the post-processor puts before and after a single sequence.
fn post_processor(v: &Value, find: &dyn Fn(&str) -> Option<u32>) -> Result<(Vec<u32>, Vec<u32>)> {
    match type_of(v) {
        _ if v.is_null() => Ok((vec![], vec![])),
        "ByteLevel" => Ok((vec![], vec![])),
        "Sequence" => {
            let mut prefix = Vec::new();
            let mut suffix = Vec::new();
            for p in v
                .get("processors")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[])
            {
                let (a, b) = post_processor(p, find)?;
                prefix.extend(a);
                suffix.extend(b);
            }
            Ok((prefix, suffix))
        }
        "TemplateProcessing" => {
            let single = v
                .get("single")
                .and_then(Value::as_array)
                .ok_or_else(|| err("TemplateProcessing has no single template"))?;
            let (mut prefix, mut suffix, mut seen_a) = (Vec::new(), Vec::new(), false);
            for piece in single {
                if piece.get("Sequence").is_some() {
                    seen_a = true;
                    continue;
                }
                let name = piece
                    .get("SpecialToken")
                    .and_then(|s| s.get("id"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(format!("unsupported TemplateProcessing piece {piece}")))?;
                let ids: Vec<u32> = match v
                    .get("special_tokens")
                    .and_then(|s| s.get(name))
                    .and_then(|s| s.get("ids"))
                {
                    Some(Value::Array(ids)) => ids
                        .iter()
                        .filter_map(|i| i.as_u64().map(|i| i as u32))
                        .collect(),
                    _ => vec![find(name).ok_or_else(|| {
                        err(format!("TemplateProcessing token {name:?} is unknown"))
                    })?],
                };
                if seen_a {
                    suffix.extend(ids)
                } else {
                    prefix.extend(ids)
                }
            }
            Ok((prefix, suffix))
        }
        t => Err(err(format!("unsupported post_processor type {t}"))),
    }
}

fn added_tokens(root: &Value) -> Result<Vec<AddedToken>> {
    let Some(list) = root.get("added_tokens").and_then(Value::as_array) else {
        return Ok(vec![]);
    };
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            let id = t
                .get("id")
                .and_then(Value::as_u64)
                .and_then(|i| u32::try_from(i).ok())
                .filter(|&i| i < u32::MAX / 2)
                .ok_or_else(|| err(format!("added_tokens[{i}] has no valid id")))?;
            let content = t
                .get("content")
                .and_then(Value::as_str)
                .ok_or_else(|| err(format!("added_tokens[{i}] has no content")))?;
            Ok(AddedToken {
                id,
                content: content.to_string(),
                special: flag(t, "special"),
                lstrip: flag(t, "lstrip"),
                rstrip: flag(t, "rstrip"),
                single_word: flag(t, "single_word"),
                normalized: flag(t, "normalized"),
            })
        })
        .collect()
}
