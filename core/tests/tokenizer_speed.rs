//! Encoding throughput on English text, one core. Prints MB/s for SmolLM2
//! (GPT-2 split) and DeepSeek-V3 (three splits); fails only on a collapse
//! (under 1 MB/s), since the shared test machine is noisy. For the figure:
//! `cargo test --release -p minke --test tokenizer_speed -- --nocapture`.

use std::path::PathBuf;
use std::time::Instant;

use minke::tokenizer::Tokenizer;

fn fixture(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/tokenizer")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// About 4 MB of varied English: the corpus' English lines, shuffled into
/// paragraphs so that the text is not one short string repeated.
fn english() -> String {
    let corpus = String::from_utf8(fixture("smollm2/corpus_json.jsonl")).unwrap();
    let lines: Vec<String> = corpus
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .filter(|t| t.len() > 20 && t.len() < 200 && t.is_ascii())
        .collect();
    let mut text = String::new();
    let mut x = 12345u64;
    while text.len() < 4 << 20 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        text.push_str(&lines[(x >> 33) as usize % lines.len()]);
        text.push(if x & 7 == 0 { '\n' } else { ' ' });
    }
    text
}

fn measure(name: &str, tok: &Tokenizer, text: &str) -> f64 {
    let mut out = Vec::with_capacity(text.len() / 3);
    tok.encode_into(&text[..64 << 10], false, &mut out).unwrap(); // warm up
    let mut best = f64::MAX;
    for _ in 0..3 {
        out.clear();
        let t0 = Instant::now();
        tok.encode_into(text, false, &mut out).unwrap();
        best = best.min(t0.elapsed().as_secs_f64());
    }
    let mbs = text.len() as f64 / best / 1e6;
    println!(
        "{name}: {:.1} MB/s ({} bytes -> {} tokens, best of 3: {:.3} s)",
        mbs,
        text.len(),
        out.len(),
        best
    );
    mbs
}

#[test]
fn encode_speed_english() {
    let text = english();
    let load = |rel: &str| {
        let bytes = fixture(rel);
        let t0 = Instant::now();
        let tok = Tokenizer::from_json(&bytes).unwrap();
        println!("load {rel}: {:.0} ms", t0.elapsed().as_secs_f64() * 1e3);
        tok
    };
    let smol = load("smollm2/tokenizer.json");
    let ds = load("deepseek_v3/tokenizer.json");
    let a = measure("smollm2", &smol, &text);
    let b = measure("deepseek-v3", &ds, &text);
    assert!(
        a > 1.0 && b > 1.0,
        "encoding collapsed: {a:.1} / {b:.1} MB/s"
    );
}
