//! Bad or unsupported tokenizer files give clear errors that name the
//! component at fault, never a tokenizer that splits text wrongly.

use minke::tokenizer::{GgufVocab, Tokenizer};
use serde_json::{json, Value};

/// A tiny valid byte-level BPE tokenizer.json, to break one part at a time.
fn base() -> Value {
    let mut vocab = serde_json::Map::new();
    for (i, t) in ["a", "b", "ab", "Ġ", "Ġa"].iter().enumerate() {
        vocab.insert(t.to_string(), json!(i));
    }
    json!({
        "version": "1.0",
        "added_tokens": [{"id": 5, "content": "<|end|>", "single_word": false, "lstrip": false,
                          "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "vocab": vocab, "merges": ["a b", "Ġ a"]}
    })
}

fn load(v: &Value) -> Result<Tokenizer, String> {
    Tokenizer::from_json(v.to_string().as_bytes()).map_err(|e| e.to_string())
}

fn expect_err(v: &Value, needle: &str) {
    match load(v) {
        Ok(_) => panic!("loaded, but expected an error containing {needle:?}"),
        Err(e) => assert!(
            e.contains(needle),
            "error {e:?} does not contain {needle:?}"
        ),
    }
}

#[test]
fn base_loads_and_encodes() {
    let t = load(&base()).unwrap();
    assert_eq!(t.encode("ab a<|end|>", false).unwrap(), [2, 4, 5]);
    assert_eq!(t.decode(&[2, 4, 5]).unwrap(), "ab a<|end|>");
}

#[test]
fn malformed_json() {
    let e = Tokenizer::from_json(b"{\"model\": ")
        .unwrap_err()
        .to_string();
    assert!(e.contains("tokenizer.json: not valid JSON"), "{e}");
    let e = Tokenizer::from_json(b"[]").unwrap_err().to_string();
    assert!(e.contains("has no model"), "{e}");
}

#[test]
fn unknown_model_type() {
    let mut v = base();
    v["model"]["type"] = json!("WordPiece");
    expect_err(&v, "unsupported model type WordPiece");
    v["model"]["type"] = json!("Unigram");
    expect_err(&v, "unsupported model type Unigram");
}

#[test]
fn unsupported_pre_tokenizers() {
    let mut v = base();
    v["pre_tokenizer"] =
        json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first"});
    expect_err(&v, "unsupported pre_tokenizer type Metaspace");
    v["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\w+|[^\\w\\s]+"}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]});
    expect_err(&v, "unsupported Split regex");
    v["pre_tokenizer"] = json!({"type": "Split", "pattern": {"Regex": "\\p{N}"}, "behavior": "Removed", "invert": false});
    expect_err(&v, "unsupported Split behavior");
    v["pre_tokenizer"] = json!({"type": "ByteLevel", "add_prefix_space": true, "use_regex": true});
    expect_err(&v, "add_prefix_space");
}

#[test]
fn unsupported_other_components() {
    let mut v = base();
    v["normalizer"] = json!({"type": "Lowercase"});
    expect_err(&v, "unsupported normalizer type Lowercase");
    let mut v = base();
    v["post_processor"] = json!({"type": "RobertaProcessing"});
    expect_err(&v, "unsupported post_processor type RobertaProcessing");
    let mut v = base();
    v["decoder"] = json!({"type": "WordPiece"});
    expect_err(&v, "unsupported decoder type WordPiece");
    let mut v = base();
    v["model"]["dropout"] = json!(0.1);
    expect_err(&v, "dropout");
    let mut v = base();
    v["model"]["continuing_subword_prefix"] = json!("##");
    expect_err(&v, "continuing_subword_prefix");
}

#[test]
fn merges_with_unknown_tokens() {
    let mut v = base();
    v["model"]["merges"] = json!(["a b", "b q"]);
    expect_err(&v, "merge 1");
    expect_err(&v, "not in the vocabulary");
    let mut v = base();
    v["model"]["merges"] = json!(["b a"]); // "ba" itself is missing
    expect_err(&v, "\"ba\"");
    let mut v = base();
    v["model"]["merges"] = json!(["a b c"]);
    expect_err(&v, "is not two tokens");
}

#[test]
fn bad_vocab_and_added_tokens() {
    let mut v = base();
    v["model"]["vocab"]["a"] = json!(-1);
    expect_err(&v, "model.vocab[\"a\"] is not a valid id");
    let mut v = base();
    v["added_tokens"][0]["id"] = json!("x");
    expect_err(&v, "added_tokens[0] has no valid id");
    let mut v = base();
    v["model"]["vocab"] = json!([]);
    expect_err(&v, "model.vocab is missing or not an object");
}

#[test]
fn normalizer_nfc_is_applied() {
    let mut v = base();
    v["normalizer"] = json!({"type": "NFC"});
    v["model"]["vocab"]["Ã©"] = json!(6); // "é" in the byte alphabet
    v["model"]["vocab"]["e"] = json!(9);
    v["model"]["vocab"]["Ì"] = json!(10);
    v["model"]["vocab"]["ģ"] = json!(11);
    v["model"]["vocab"]["Ã"] = json!(7);
    v["model"]["vocab"]["©"] = json!(8);
    v["model"]["merges"] = json!(["a b", "Ġ a", "Ã ©"]);
    let t = load(&v).unwrap();
    // "e" + combining acute composes to "é" before BPE.
    assert_eq!(t.encode("e\u{301}", false).unwrap(), [6]);
}

#[test]
fn bad_config() {
    let j = base().to_string();
    let e = Tokenizer::from_json_with_config(j.as_bytes(), b"{oops")
        .unwrap_err()
        .to_string();
    assert!(e.contains("tokenizer_config.json: not valid JSON"), "{e}");
    let e = Tokenizer::from_json_with_config(j.as_bytes(), br#"{"bos_token": "<nope>"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bos_token \"<nope>\" is not a token"), "{e}");
    let t = Tokenizer::from_json_with_config(
        j.as_bytes(),
        br#"{"bos_token": "<|end|>", "add_bos_token": true}"#,
    )
    .unwrap();
    assert_eq!(t.encode("a", true).unwrap(), [5, 0]);
    assert_eq!(t.encode("a", false).unwrap(), [0]);
}

fn gguf(pre: &str) -> GgufVocab {
    GgufVocab {
        model: "gpt2".into(),
        pre: Some(pre.into()),
        tokens: ["a", "b", "ab", "<s>"].map(String::from).to_vec(),
        merges: vec!["a b".into()],
        token_types: vec![1, 1, 1, 3],
        bos: Some(3),
        eos: Some(3),
        pad: None,
        add_bos: true,
        chat_template: None,
    }
}

#[test]
fn gguf_vocab_errors() {
    let t = Tokenizer::from_gguf_vocab(gguf("qwen2")).unwrap();
    assert_eq!(t.encode("ab<s>", true).unwrap(), [3, 2, 3]);
    let e = Tokenizer::from_gguf_vocab(gguf("no-such-pre"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("tokenizer.ggml.pre \"no-such-pre\""), "{e}");
    let mut v = gguf("llama-bpe");
    v.model = "llama".into();
    let e = Tokenizer::from_gguf_vocab(v).unwrap_err().to_string();
    assert!(e.contains("tokenizer.ggml.model \"llama\""), "{e}");
    let mut v = gguf("smollm");
    v.pre = None;
    assert!(Tokenizer::from_gguf_vocab(v).is_err());
    let mut v = gguf("deepseek-v3");
    v.merges = vec!["a c".into()];
    let e = Tokenizer::from_gguf_vocab(v).unwrap_err().to_string();
    assert!(e.contains("not in the vocabulary"), "{e}");
    let mut v = gguf("gpt2");
    v.bos = Some(99);
    let e = Tokenizer::from_gguf_vocab(v).unwrap_err().to_string();
    assert!(e.contains("bos_token_id 99 is out of range"), "{e}");
    let mut v = gguf("gpt2");
    v.token_types.pop();
    assert!(Tokenizer::from_gguf_vocab(v).is_err());
}

#[test]
fn chat_template_errors() {
    let t = load(&base()).unwrap();
    let e = t.apply_chat_template(&[], true).unwrap_err().to_string();
    assert!(e.contains("no chat template"), "{e}");
    let j = base().to_string();
    let cfg = json!({"chat_template": "{% if %}"}).to_string();
    let t = Tokenizer::from_json_with_config(j.as_bytes(), cfg.as_bytes()).unwrap();
    let e = t.apply_chat_template(&[], true).unwrap_err().to_string();
    assert!(e.contains("chat template"), "{e}");
}
