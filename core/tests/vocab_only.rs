//! Vocabulary-only GGUF files (llama.cpp's `ggml-vocab-*.gguf`: tokenizer
//! metadata, no tensors) open as tokenizers, chat template included, and
//! opening one as a model says what it is instead of naming a missing
//! tensor. Also `Tokenizer::open` on the other kinds of model path.

use std::path::{Path, PathBuf};

use minke::file::gguf::{GgufFile, GgufWriter};
use minke::{ChatMessage, Error, Model, Tokenizer};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(rel)
}

const CODER: &str = "tokenizer/deepseek_coder/ggml-vocab-deepseek-coder.gguf";

/// A fresh folder for this test process.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("minke-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The coder vocabulary file's metadata, less the keys `drop` names, plus
/// `extra`, written to `path` with no tensors.
fn rewrite_vocab(path: &Path, drop: &[&str], extra: &[(&str, &str)]) {
    let bytes = std::fs::read(fixture(CODER)).unwrap();
    let g = GgufFile::parse(CODER, &bytes).unwrap();
    let mut w = GgufWriter::new();
    for (k, v) in g.metadata() {
        if !drop.iter().any(|d| k.starts_with(d)) {
            w.add_metadata(k, v.clone());
        }
    }
    for (k, v) in extra {
        w.add_metadata(k, *v);
    }
    w.write_file(path).unwrap();
}

#[test]
fn running_a_vocab_file_is_a_clear_error() {
    let path = fixture(CODER);
    let e = Model::open(&path).map(|_| ()).unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("ggml-vocab-deepseek-coder.gguf holds a tokenizer only (no tensors): it can tokenize but not run"),
        "{msg}"
    );
    assert!(!msg.contains("missing tensor"), "{msg}");
}

#[test]
fn a_vocab_file_opens_as_a_tokenizer() {
    let t = Tokenizer::open(fixture(CODER)).unwrap();
    assert_eq!(t.vocab_size(), 32_256);
    assert_eq!(t.bos_id(), Some(32_013));
    assert_eq!(t.eos_ids().first(), Some(&32_014));
    assert_eq!(t.pad_id(), Some(32_014));
    // llama.cpp's expectation for "Hello world" (its .out file), after BOS.
    assert_eq!(
        t.encode("Hello world", true).unwrap(),
        [32_013, 17_535, 1_835]
    );
    assert!(t.chat_template().is_none());
    let e = t
        .apply_chat_template(&[ChatMessage::new("user", "hi")], true)
        .unwrap_err();
    assert!(e.to_string().contains("no chat template"), "{e}");
}

/// DeepSeek-LLM-7B-Chat's template, in a vocabulary-only file.
#[test]
fn a_vocab_file_renders_its_chat_template() {
    let template = "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}\
        {{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}\
        {{ 'User: ' + message['content'] + '\n\n' }}{% elif message['role'] == 'assistant' %}\
        {{ 'Assistant: ' + message['content'] + eos_token }}{% elif message['role'] == 'system' %}\
        {{ message['content'] + '\n\n' }}{% endif %}{% endfor %}\
        {% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";
    let dir = temp_dir("vocab-template");
    let path = dir.join("vocab.gguf");
    rewrite_vocab(&path, &[], &[("tokenizer.chat_template", template)]);
    let t = Tokenizer::open(&path);
    let m = Model::open(&path).map(|_| ());
    std::fs::remove_dir_all(&dir).unwrap();
    let t = t.unwrap();
    let msgs = [
        ChatMessage::new("user", "Hi"),
        ChatMessage::new("assistant", "Hello."),
        ChatMessage::new("user", "2+2?"),
    ];
    assert_eq!(
        t.apply_chat_template(&msgs, true).unwrap(),
        "<｜begin▁of▁sentence｜>User: Hi\n\nAssistant: Hello.<｜end▁of▁sentence｜>User: 2+2?\n\nAssistant:"
    );
    assert!(m
        .unwrap_err()
        .to_string()
        .contains("holds a tokenizer only"));
}

#[test]
fn files_without_a_tokenizer_say_so() {
    let dir = temp_dir("vocab-none");
    let empty = dir.join("empty.gguf");
    rewrite_vocab(&empty, &["tokenizer."], &[]);
    let model = Model::open(&empty).map(|_| ()).unwrap_err().to_string();
    let tok = Tokenizer::open(&empty).unwrap_err().to_string();
    let bad_pre = dir.join("bad_pre.gguf");
    rewrite_vocab(
        &bad_pre,
        &["tokenizer.ggml.pre"],
        &[("tokenizer.ggml.pre", "no-such-pre")],
    );
    let pre = Tokenizer::open(&bad_pre).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(model.contains("no tensors and no tokenizer"), "{model}");
    assert!(tok.contains("empty.gguf has no tokenizer"), "{tok}");
    assert!(
        pre.contains("bad_pre.gguf") && pre.contains("\"no-such-pre\" is unknown"),
        "{pre}"
    );

    // A checkpoint folder with no tokenizer.json.
    let e = Tokenizer::open(fixture("qwen2")).unwrap_err().to_string();
    assert!(e.contains("has no tokenizer"), "{e}");
}

/// The tokenizer `Tokenizer::open` reads from a tokenizer.json is the one
/// `from_json` builds.
#[test]
fn tokenizer_json_opens_directly() {
    let path = fixture("tokenizer/deepseek_v3/tokenizer.json");
    let t = Tokenizer::open(&path).unwrap();
    let j = Tokenizer::from_json(&std::fs::read(&path).unwrap()).unwrap();
    let text = "深度求索 DeepSeek-V3, 2025!";
    assert_eq!(t.encode(text, true).unwrap(), j.encode(text, true).unwrap());
    assert_eq!(t.vocab_size(), j.vocab_size());
}
