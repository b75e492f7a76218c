//! Writes a model shaped like DeepSeek-R1-Distill-Qwen-1.5B (Qwen2: hidden
//! 1536, 28 layers, 12 heads, 2 KV heads, FFN 8960, vocabulary 151936,
//! untied head, bias on q/k/v) with random weights, as a Q4_0 GGUF file, so
//! that minke, llama.cpp and candle can be timed on a real size without
//! downloading the real model (`benches/peers/`).
//!
//! Every layer shares one set of random weight bytes (the file still holds
//! 28 copies, so each token streams the full size); generation memory stays
//! at one layer plus the embedding and head. The vocabulary is a stand-in
//! that llama.cpp's loader accepts: the 256 byte-level symbols, then
//! `<t{i}>`, no merges.
//!
//! ```sh
//! cargo run --release -p minke --example make_qwen2_gguf -- OUT.gguf
//! ```

use minke::file::gguf::{GgufArray, GgufWriter};
use minke::quant::formats::quantize_row;
use minke::quant::DType;
use std::process::ExitCode;

const HIDDEN: usize = 1536;
const LAYERS: usize = 28;
const HEADS: usize = 12;
const KV_HEADS: usize = 2;
const HEAD_DIM: usize = HIDDEN / HEADS;
const FFN: usize = 8960;
const VOCAB: usize = 151936;

/// A `rows × cols` matrix of uniform values in `±amp`, as Q4_0 bytes.
fn random_q4_0(rows: usize, cols: usize, seed: &mut u64, amp: f32) -> Vec<u8> {
    let rb = DType::Q4_0
        .row_bytes(cols)
        .expect("cols is a multiple of 32");
    let mut out = vec![0u8; rows * rb];
    let mut row = vec![0f32; cols];
    for dst in out.chunks_exact_mut(rb) {
        for v in row.iter_mut() {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *v = ((*seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * amp;
        }
        quantize_row(DType::Q4_0, &row, dst);
    }
    out
}

/// GPT-2's byte-level alphabet: the printable bytes stand for themselves,
/// the others for code points from 256 up.
fn byte_symbols() -> Vec<String> {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    let mut next = 256;
    (0..256u32)
        .map(|b| {
            let c = if printable(b) {
                b
            } else {
                next += 1;
                next - 1
            };
            char::from_u32(c).map(String::from).unwrap_or_default()
        })
        .collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn run(out: &str) -> Result<(), String> {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let kv = KV_HEADS * HEAD_DIM;
    eprintln!("make_qwen2_gguf: generating random weights");
    let embed = random_q4_0(VOCAB, HIDDEN, &mut seed, 0.05);
    let head = random_q4_0(VOCAB, HIDDEN, &mut seed, 0.05);
    let q = random_q4_0(HIDDEN, HIDDEN, &mut seed, 0.05);
    let k = random_q4_0(kv, HIDDEN, &mut seed, 0.05);
    let v = random_q4_0(kv, HIDDEN, &mut seed, 0.05);
    let o = random_q4_0(HIDDEN, HIDDEN, &mut seed, 0.05);
    let gate = random_q4_0(FFN, HIDDEN, &mut seed, 0.05);
    let up = random_q4_0(FFN, HIDDEN, &mut seed, 0.05);
    let down = random_q4_0(HIDDEN, FFN, &mut seed, 0.03);
    let ones = f32_bytes(&vec![1.0; HIDDEN]);
    let qb = f32_bytes(&vec![0.01; HIDDEN]);
    let kvb = f32_bytes(&vec![0.01; kv]);

    let mut tokens = byte_symbols();
    tokens.extend((tokens.len()..VOCAB).map(|i| format!("<t{i}>")));
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", "qwen2")
        .add_metadata("general.name", "random-qwen2-1.5b")
        .add_metadata("qwen2.context_length", 131072u32)
        .add_metadata("qwen2.embedding_length", HIDDEN as u32)
        .add_metadata("qwen2.block_count", LAYERS as u32)
        .add_metadata("qwen2.feed_forward_length", FFN as u32)
        .add_metadata("qwen2.attention.head_count", HEADS as u32)
        .add_metadata("qwen2.attention.head_count_kv", KV_HEADS as u32)
        .add_metadata("qwen2.rope.freq_base", 10000f32)
        .add_metadata("qwen2.attention.layer_norm_rms_epsilon", 1e-6f32)
        .add_metadata("tokenizer.ggml.model", "gpt2")
        .add_metadata("tokenizer.ggml.pre", "qwen2")
        .add_metadata("tokenizer.ggml.tokens", GgufArray::String(tokens.clone()))
        .add_metadata("tokenizer.ggml.token_type", vec![1i32; VOCAB])
        .add_metadata("tokenizer.ggml.merges", GgufArray::String(Vec::new()))
        .add_metadata("tokenizer.ggml.bos_token_id", (VOCAB - 2) as u32)
        .add_metadata("tokenizer.ggml.eos_token_id", (VOCAB - 1) as u32);
    // GGUF shapes are row length first.
    let e = e2s;
    w.add_tensor("token_embd.weight", &[HIDDEN, VOCAB], DType::Q4_0, &embed)
        .map_err(e)?;
    for i in 0..LAYERS {
        let p = |n: &str| format!("blk.{i}.{n}");
        w.add_tensor(&p("attn_norm.weight"), &[HIDDEN], DType::F32, &ones)
            .map_err(e)?;
        w.add_tensor(&p("attn_q.weight"), &[HIDDEN, HIDDEN], DType::Q4_0, &q)
            .map_err(e)?;
        w.add_tensor(&p("attn_q.bias"), &[HIDDEN], DType::F32, &qb)
            .map_err(e)?;
        w.add_tensor(&p("attn_k.weight"), &[HIDDEN, kv], DType::Q4_0, &k)
            .map_err(e)?;
        w.add_tensor(&p("attn_k.bias"), &[kv], DType::F32, &kvb)
            .map_err(e)?;
        w.add_tensor(&p("attn_v.weight"), &[HIDDEN, kv], DType::Q4_0, &v)
            .map_err(e)?;
        w.add_tensor(&p("attn_v.bias"), &[kv], DType::F32, &kvb)
            .map_err(e)?;
        w.add_tensor(&p("attn_output.weight"), &[HIDDEN, HIDDEN], DType::Q4_0, &o)
            .map_err(e)?;
        w.add_tensor(&p("ffn_norm.weight"), &[HIDDEN], DType::F32, &ones)
            .map_err(e)?;
        w.add_tensor(&p("ffn_gate.weight"), &[HIDDEN, FFN], DType::Q4_0, &gate)
            .map_err(e)?;
        w.add_tensor(&p("ffn_up.weight"), &[HIDDEN, FFN], DType::Q4_0, &up)
            .map_err(e)?;
        w.add_tensor(&p("ffn_down.weight"), &[FFN, HIDDEN], DType::Q4_0, &down)
            .map_err(e)?;
    }
    w.add_tensor("output_norm.weight", &[HIDDEN], DType::F32, &ones)
        .map_err(e)?;
    w.add_tensor("output.weight", &[HIDDEN, VOCAB], DType::Q4_0, &head)
        .map_err(e)?;
    w.write_file(out).map_err(e)?;
    eprintln!("make_qwen2_gguf: wrote {out}");
    Ok(())
}

fn e2s(e: minke::Error) -> String {
    e.to_string()
}

fn main() -> ExitCode {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: make_qwen2_gguf OUT.gguf");
        return ExitCode::FAILURE;
    };
    match run(&out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make_qwen2_gguf: {e}");
            ExitCode::FAILURE
        }
    }
}
