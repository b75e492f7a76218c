//! candle's side of minke's peer comparison: loads a GGUF file with
//! candle-transformers' quantized Llama or Qwen2 model and times prompt
//! processing and generation the way `minke bench` does (fixed
//! pseudo-random prompt, greedy next token, median of the repetitions).
//!
//! ```text
//! candle-bench MODEL.gguf PP TG REPS   (threads: RAYON_NUM_THREADS)
//! ```
//!
//! Prints one JSON object: `pp_tok_s`, `tg_tok_s`, `load_ms`.

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_llama, quantized_qwen2};
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The two model families the comparison runs.
enum Model {
    Llama(quantized_llama::ModelWeights),
    Qwen2(quantized_qwen2::ModelWeights),
}

impl Model {
    fn forward(&mut self, x: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        match self {
            Model::Llama(m) => m.forward(x, pos),
            Model::Qwen2(m) => m.forward(x, pos),
        }
    }

    fn clear(&mut self) {
        match self {
            Model::Llama(m) => m.clear_kv_cache(),
            Model::Qwen2(m) => m.clear_kv_cache(),
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Greedy next token from logits of shape `(1, vocab)` or `(vocab)`.
fn argmax(logits: &Tensor) -> Res<u32> {
    let v: Vec<f32> = logits.flatten_all()?.to_vec1()?;
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    Ok(best as u32)
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        return Err("usage: candle-bench MODEL.gguf PP TG REPS".into());
    }
    let (path, pp, tg, reps): (&str, usize, usize, usize) = (
        &args[1],
        args[2].parse()?,
        args[3].parse()?,
        args[4].parse()?,
    );
    let t0 = Instant::now();
    let dev = Device::Cpu;
    let mut file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let content = gguf_file::Content::read(&mut file).map_err(|e| format!("{path}: {e}"))?;
    let arch = content
        .metadata
        .get("general.architecture")
        .and_then(|v| v.to_string().ok().cloned())
        .unwrap_or_default();
    let vocab = content
        .tensor_infos
        .get("token_embd.weight")
        .map(|t| t.shape.dims()[0])
        .ok_or("no token_embd.weight")?;
    let mut model = match arch.as_str() {
        "qwen2" => Model::Qwen2(quantized_qwen2::ModelWeights::from_gguf(
            content, &mut file, &dev,
        )?),
        _ => Model::Llama(quantized_llama::ModelWeights::from_gguf(
            content, &mut file, &dev,
        )?),
    };
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;

    // The same prompt generator as `minke bench`.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let prompt: Vec<u32> = (0..pp)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % vocab as u64) as u32
        })
        .collect();
    let (mut pps, mut tgs) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        model.clear();
        let t = Instant::now();
        let input = Tensor::new(prompt.as_slice(), &dev)?.unsqueeze(0)?;
        let mut next = argmax(&model.forward(&input, 0)?)?;
        pps.push(pp as f64 / t.elapsed().as_secs_f64());
        if tg > 0 {
            let t = Instant::now();
            for i in 0..tg {
                let input = Tensor::new(&[next], &dev)?.unsqueeze(0)?;
                next = argmax(&model.forward(&input, pp + i)?)?;
            }
            tgs.push(tg as f64 / t.elapsed().as_secs_f64());
        }
    }
    println!(
        "{{\"pp_tok_s\":{:.2},\"tg_tok_s\":{:.2},\"load_ms\":{load_ms:.1}}}",
        median(pps),
        median(tgs)
    );
    Ok(())
}
