//! Building a tokenizer from a GGUF file's `tokenizer.ggml.*` metadata.
//!
//! The GGUF reader fills a [`GgufVocab`]; this module does not read GGUF
//! itself. The pre-tokenizer comes from `tokenizer.ggml.pre`, mapped to the
//! split patterns llama.cpp uses for that name — which can differ from the
//! model's own `tokenizer.json` (SmolLM2's GGUF says `smollm`, which splits
//! digits one by one).

use std::collections::HashMap;

use super::added::AddedToken;
use super::bpe::{self, Bpe};
use super::pretok::{CharSet, Splitter};
use super::{Normalizer, Parts, Tokenizer};
use crate::{Error, Result};

/// The tokenizer part of a GGUF file's metadata (also stored, as JSON, in
/// `.minke` files converted from GGUF).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model`; only `"gpt2"` (byte-level BPE) is supported.
    pub model: String,
    /// `tokenizer.ggml.pre`, e.g. `"smollm"`, `"llama-bpe"`, `"qwen2"`,
    /// `"deepseek-llm"`, `"deepseek-coder"`, `"deepseek-v3"`.
    pub pre: Option<String>,
    /// `tokenizer.ggml.tokens`, spelled in GPT-2's byte alphabet.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.merges`, `"left right"`, best first.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.token_type` (1 normal, 3 control, 4 user-defined...);
    /// empty if the file has none.
    pub token_types: Vec<i32>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub pad: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`.
    pub add_bos: bool,
    /// `tokenizer.chat_template`.
    pub chat_template: Option<String>,
}

const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

/// The splitters and `ignore_merges` flag llama.cpp uses for `pre`.
fn pre_splitters(pre: &str) -> Result<(Vec<Splitter>, bool)> {
    let llama3 = |max_digits| Splitter::Llama3 {
        max_digits,
        unicode_case: false,
    };
    Ok(match pre {
        "gpt2" | "gpt-2" | "phi-2" | "mpt" | "olmo" | "jais" | "roberta-bpe" | "exaone4" => {
            (vec![Splitter::Gpt2], false)
        }
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva-7b" => {
            (vec![Splitter::Numbers { max: 1 }, Splitter::Gpt2], false)
        }
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0"
        | "lfm2" => (vec![llama3(3)], true),
        "dbrx" | "smaug-bpe" => (vec![llama3(3)], false),
        "qwen2" | "deepseek-r1-qwen" | "stablelm2" | "megrez" | "hunyuan" => {
            (vec![llama3(1)], false)
        }
        "deepseek-v3" | "hunyuan-dense" => (
            vec![
                Splitter::Numbers { max: 3 },
                Splitter::Run(CharSet::CjkKana),
                Splitter::DeepSeekV3,
            ],
            false,
        ),
        // DeepSeek-LLM and -Coder: their tokenizer.json's `Split` chain.
        // llama.cpp ends it with `\p{N}+` (LLM) or `\p{N}` (Coder); the
        // models' own `Digits` with `individual_digits` is followed here,
        // which gives the same ids: neither vocabulary joins two numerals.
        "deepseek-llm" => (
            vec![
                Splitter::LineBreak,
                Splitter::SpaceRun(CharSet::CasedLetter),
                Splitter::SpaceRun(CharSet::LlmPunct),
                Splitter::TrailingSpace,
                Splitter::Run(CharSet::CjkHangul),
                Splitter::Numbers { max: 1 },
            ],
            false,
        ),
        "deepseek-coder" => (
            vec![
                Splitter::LineBreak,
                Splitter::SpaceRun(CharSet::Letter),
                Splitter::SpaceRun(CharSet::Punct),
                Splitter::Run(CharSet::CjkHangul),
                Splitter::Numbers { max: 1 },
            ],
            false,
        ),
        other => {
            return Err(Error::Tokenizer(format!(
                "GGUF tokenizer.ggml.pre {other:?} is unknown or not supported by minke \
                 (supported: gpt2, smollm, llama-bpe, qwen2, deepseek-r1-qwen, deepseek-llm, \
                 deepseek-coder, deepseek-v3 and aliases)"
            )))
        }
    })
}

pub(super) fn load(v: GgufVocab) -> Result<Tokenizer> {
    if v.model != "gpt2" {
        return Err(Error::Tokenizer(format!(
            "GGUF tokenizer.ggml.model {:?} is not supported (only \"gpt2\", byte-level BPE)",
            v.model
        )));
    }
    let pre = v.pre.as_deref().ok_or_else(|| {
        Error::Tokenizer("GGUF has no tokenizer.ggml.pre; minke needs it to split text".into())
    })?;
    let (splitters, ignore_merges) = pre_splitters(pre)?;
    if !v.token_types.is_empty() && v.token_types.len() != v.tokens.len() {
        return Err(Error::Tokenizer(format!(
            "GGUF tokenizer.ggml.token_type has {} entries for {} tokens",
            v.token_types.len(),
            v.tokens.len()
        )));
    }
    let n = v.tokens.len();
    for (key, id) in [("bos", v.bos), ("eos", v.eos), ("pad", v.pad)] {
        if let Some(id) = id.filter(|&id| id as usize >= n) {
            return Err(Error::Tokenizer(format!(
                "GGUF tokenizer.ggml.{key}_token_id {id} is out of range ({n} tokens)"
            )));
        }
    }
    let u32_id = |i: usize| {
        u32::try_from(i)
            .map_err(|_| Error::Tokenizer("GGUF vocabulary has more than 2^32 tokens".into()))
    };

    let inverse: HashMap<char, u8> = bpe::byte_to_char_table()
        .iter()
        .enumerate()
        .map(|(b, &c)| (c, b as u8))
        .collect();
    let to_bytes =
        |t: &str| bpe::byte_level_decode(t, &inverse).unwrap_or_else(|| t.as_bytes().to_vec());
    let mut vocab_map = bpe::VocabMap::default();
    vocab_map.reserve(n);
    let mut vocab = Vec::with_capacity(n);
    let mut added = Vec::new();
    for (i, tok) in v.tokens.iter().enumerate() {
        let id = u32_id(i)?;
        vocab_map.insert(to_bytes(tok).into_boxed_slice(), id);
        vocab.push((id, tok.clone()));
        let ty = v.token_types.get(i).copied().unwrap_or(1);
        if ty == CONTROL || ty == USER_DEFINED {
            added.push(AddedToken {
                id,
                content: tok.clone(),
                special: ty == CONTROL,
                lstrip: false,
                rstrip: false,
                single_word: false,
                normalized: false,
            });
        }
    }
    let mut merges = Vec::with_capacity(v.merges.len());
    for (i, m) in v.merges.iter().enumerate() {
        let mut it = m.split(' ');
        match (it.next(), it.next(), it.next()) {
            (Some(a), Some(b), None) => merges.push((to_bytes(a), to_bytes(b))),
            _ => {
                return Err(Error::Tokenizer(format!(
                    "GGUF tokenizer.ggml.merges[{i}] {m:?} is not two tokens"
                )))
            }
        }
    }
    let bpe = Bpe::new(
        vocab_map,
        &merges,
        true,
        false,
        None,
        ignore_merges,
        "GGUF tokenizer",
    )?;
    let prefix = match (v.add_bos, v.bos) {
        (true, Some(b)) => vec![b],
        (true, None) => {
            return Err(Error::Tokenizer(
                "GGUF tokenizer.ggml.add_bos_token is true but there is no bos_token_id".into(),
            ))
        }
        _ => vec![],
    };
    Tokenizer::assemble(Parts {
        bpe,
        normalizer: Normalizer::None,
        splitters,
        added,
        prefix,
        suffix: vec![],
        vocab,
        byte_level: true,
        byte_level_decoder: true,
        bos: v.bos,
        eos: v.eos,
        pad: v.pad,
        chat_template: v.chat_template,
    })
}
