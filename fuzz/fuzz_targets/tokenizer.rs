//! Tokenizers from outside: Hugging Face `tokenizer.json` (vocabulary,
//! merges, added tokens, normalizer, pre-tokenizer, post-processor,
//! decoder) with or without `tokenizer_config.json` (special tokens,
//! `add_bos_token`, chat template), and a GGUF vocabulary as `.minke`
//! files store it (`minke.tokenizer_gguf`, JSON). What builds encodes and
//! decodes the input's texts and a few fixed ones.
//!
//! The chat template is compiled, not rendered: rendering's resource
//! limits are being added under issue 19 (see
//! `minke_fuzz::compile_template`).
//!
//! Input: parts cut at 0xFF (which UTF-8 never holds):
//! `tokenizer.json`, then `tokenizer_config.json` (empty: none), then
//! texts to encode (any bytes, read as lossy UTF-8). The first part is
//! also tried as a GGUF vocabulary in JSON. Seeds: the tokenizer fixtures,
//! trimmed to a few hundred tokens (`scripts/fuzz.sh seeds`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use minke::tokenizer::GgufVocab;
use minke::Tokenizer;

fuzz_target!(|data: &[u8]| {
    let parts: Vec<&[u8]> = data.split(|&b| b == minke_fuzz::SEP).collect();
    let json = parts[0];
    let config = parts.get(1).copied().filter(|c| !c.is_empty());
    let texts: Vec<String> = parts
        .iter()
        .skip(2)
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let built = match config {
        Some(c) => Tokenizer::from_json_with_config(json, c),
        None => Tokenizer::from_json(json),
    };
    if let Ok(t) = built {
        minke_fuzz::exercise_tokenizer(&t, &texts);
    }
    if let Ok(v) = serde_json::from_slice::<GgufVocab>(json) {
        if let Ok(t) = Tokenizer::from_gguf_vocab(v) {
            minke_fuzz::exercise_tokenizer(&t, &texts);
        }
    }
});
