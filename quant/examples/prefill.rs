//! Prompt-batch speed of each quantized format, in rows and interleaved,
//! with the kernel table this CPU gets: 128 tokens against the matrix
//! shapes of a 1.5B model (and SmolLM2's), best of 7, in GMAC/s (`n=1`:
//! one token, as decoding does, from a matrix that sits in cache). Warm
//! weights: this measures the kernels' arithmetic, not memory.
//!
//! `cargo run --release -p minke-quant --example prefill`

use minke_quant::formats::x16::interleave;
use minke_quant::formats::{quantize_act_row_scalar, quantize_row};
use minke_quant::{Act, BlockQ8A, DType, Kernels, QK};
use std::time::Instant;

fn main() {
    let kernels = Kernels::get().expect("a kernel table");
    println!("kernels: {}", kernels.name);
    for (rows, k) in [
        (1536usize, 1536usize),
        (8960, 1536),
        (1536, 8960),
        (576, 576),
        (1536, 576),
    ] {
        for n in [128, 1] {
            for dt in DType::ALL.into_iter().filter(|d| d.is_quantized()) {
                if k % dt.block_len() != 0 {
                    continue;
                }
                let src: Vec<f32> = (0..rows * k)
                    .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
                    .collect();
                let mut w = vec![0u8; dt.row_bytes(k).unwrap() * rows];
                if dt.plain().can_quantize() {
                    quantize_row(dt.plain(), &src, &mut w);
                } else {
                    // Formats minke only reads: any bytes are blocks, and the
                    // time does not depend on the values.
                    for (i, b) in w.iter_mut().enumerate() {
                        *b = (i.wrapping_mul(2654435761) >> 13) as u8 & 0x3B;
                    }
                }
                if dt.row_group() > 1 {
                    let p = w.clone();
                    interleave(dt, &p, k, &mut w);
                }
                let xf: Vec<f32> = (0..n * k)
                    .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                    .collect();
                let mut xq = vec![BlockQ8A::ZERO; n * k / QK];
                quantize_act_row_scalar(&xf, &mut xq);
                let mut out = vec![0f32; rows * n];
                let mut best = f64::MAX;
                for _ in 0..7 {
                    let t = Instant::now();
                    kernels.matmul(dt, &w, k, Act::Q8(&xq), n, &mut out);
                    best = best.min(t.elapsed().as_secs_f64());
                }
                let gmacs = (rows * k * n) as f64 / best / 1e9;
                println!(
                    "{rows}x{k} n={n} {dt:8}: {:.3} ms, {gmacs:.1} GMAC/s",
                    best * 1e3
                );
            }
        }
    }
}
