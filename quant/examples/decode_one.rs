//! Decode-shaped product of one format, repeated, for profiling:
//! `cargo run --release -p minke-quant --example decode_one -- q4_k 2000`.

use minke_quant::formats::quantize_act_row_scalar;
use minke_quant::{Act, BlockQ8A, DType, Kernels, QK};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let dt = DType::parse(&args.next().unwrap_or("q4_k".into())).expect("a format name");
    let reps: usize = args.next().map_or(2000, |s| s.parse().expect("a count"));
    let kernels = Kernels::get().expect("a kernel table");
    let (rows, k) = (1536usize, 1536usize);
    let w: Vec<u8> = (0..dt.row_bytes(k).unwrap() * rows)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 & 0x3B)
        .collect();
    let xf: Vec<f32> = (0..k)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let mut xq = vec![BlockQ8A::ZERO; k / QK];
    quantize_act_row_scalar(&xf, &mut xq);
    let mut out = vec![0f32; rows];
    let t = Instant::now();
    for _ in 0..reps {
        kernels.matmul(dt, &w, k, Act::Q8(&xq), 1, &mut out);
    }
    let s = t.elapsed().as_secs_f64() / reps as f64;
    println!(
        "{} {dt}: {:.1} µs, {:.1} GB/s",
        kernels.name,
        s * 1e6,
        w.len() as f64 / s / 1e9
    );
}
