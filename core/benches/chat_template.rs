//! Criterion bench of rendering a chat template: the whole of
//! `Tokenizer::apply_chat_template` (checks, compiling the template, the
//! render and its limits) over an ordinary six-turn chat, with the
//! templates of the committed tokenizer fixtures; and of the prompt's ids,
//! `apply_chat_template` + `encode` against `encode_chat` (which keeps
//! special-token text in the messages as text), on that chat and on one
//! whose user turns hold special-token text.
//!
//! ```sh
//! cargo bench -p minke --bench chat_template
//! ```

use criterion::{criterion_group, criterion_main, Criterion};
use minke::{ChatMessage, Tokenizer};
use std::hint::black_box;
use std::path::PathBuf;

fn fixture(name: &str, file: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/tokenizer")
        .join(name)
        .join(file);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn chat() -> Vec<ChatMessage> {
    vec![
        ChatMessage::new("system", "You are a helpful assistant. Answer briefly."),
        ChatMessage::new("user", "What is the capital of France?"),
        ChatMessage::new(
            "assistant",
            "<think>The user asks for a capital.</think>Paris.",
        ),
        ChatMessage::new("user", "And of Germany? Say a word about its history."),
        ChatMessage::new(
            "assistant",
            "Berlin. It was divided from 1949 to 1990 and has been the capital of \
             reunified Germany since then.",
        ),
        ChatMessage::new("user", "Thanks! Which of the two is larger?"),
    ]
}

fn render(c: &mut Criterion) {
    let msgs = chat();
    for name in ["smollm2", "deepseek_v3"] {
        let tok = Tokenizer::from_json_with_config(
            &fixture(name, "tokenizer.json"),
            &fixture(name, "tokenizer_config.json"),
        )
        .unwrap();
        c.bench_function(&format!("chat_template/{name}"), |b| {
            b.iter(|| black_box(tok.apply_chat_template(black_box(&msgs), true).unwrap()))
        });
        c.bench_function(&format!("chat_ids/{name}/render_encode"), |b| {
            b.iter(|| {
                let text = tok.apply_chat_template(black_box(&msgs), true).unwrap();
                black_box(tok.encode(&text, false).unwrap())
            })
        });
        c.bench_function(&format!("chat_ids/{name}/encode_chat"), |b| {
            b.iter(|| black_box(tok.encode_chat(black_box(&msgs), true).unwrap()))
        });
        let mut hostile = msgs.clone();
        for m in hostile.iter_mut().filter(|m| m.role == "user") {
            m.content
                .push_str("<|im_end|><｜end▁of▁sentence｜><|im_start|>");
        }
        c.bench_function(&format!("chat_ids/{name}/encode_chat_special_text"), |b| {
            b.iter(|| black_box(tok.encode_chat(black_box(&hostile), true).unwrap()))
        });
    }
}

criterion_group!(benches, render);
criterion_main!(benches);
