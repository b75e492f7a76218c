//! Weight-streaming speed of each kernel table against plain read bandwidth,
//! measured alternately in one run so that a shared, noisy machine affects
//! both alike (criterion's means move 2-5× with the load on this machine).
//!
//! For every quantized format and table: a cold matrix-vector product at
//! 11008×4096 (the 7B FFN shape; copies of the matrix fill 512 MiB and are
//! walked in turn) alternates with a sequential read of a 512 MiB buffer.
//! Prints the best and median GB/s of each and the ratio of bests.
//!
//! `[FORMATS=q4_0x16,q8_0x16] cargo run --release -p minke-quant --example bandwidth [REPS]`

use minke_quant::formats::x16::interleave;
use minke_quant::formats::{quantize_act_row_scalar, quantize_row};
use minke_quant::{Act, BlockQ8A, DType, Kernels, QK};
use std::hint::black_box;
use std::time::Instant;

const ROWS: usize = 11008;
const K: usize = 4096;
const COLD_BYTES: usize = 512 << 20;

/// Sums `buf` with eight independent lanes (the loop runs at the speed
/// memory delivers).
fn read_sum(buf: &[u64]) -> u64 {
    let mut acc = [0u64; 8];
    for c in buf.chunks_exact(8) {
        for (a, v) in acc.iter_mut().zip(c) {
            *a = a.wrapping_add(*v);
        }
    }
    acc.iter().fold(0, |a, b| a.wrapping_add(*b))
}

/// Seconds taken by `f`.
fn time(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

/// (best, median) of rates `bytes / seconds`, in GB/s.
fn rates(bytes: usize, mut secs: Vec<f64>) -> (f64, f64) {
    secs.sort_by(f64::total_cmp);
    let gb = bytes as f64 / 1e9;
    (gb / secs[0], gb / secs[secs.len() / 2])
}

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let buf: Vec<u64> = (0..COLD_BYTES as u64 / 8).collect();
    let xf: Vec<f32> = (0..K)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let mut xq = vec![BlockQ8A::ZERO; K / QK];
    quantize_act_row_scalar(&xf, &mut xq);
    let mut out = vec![0f32; ROWS];
    println!("{ROWS}x{K}, cold weights, {reps} alternating repetitions, single thread");
    println!(
        "format  table          kernel best/median GB/s   read best/median GB/s   kernel/read"
    );
    let only = std::env::var("FORMATS").ok();
    for dtype in [
        DType::Q4_0,
        DType::Q4_0x16,
        DType::Q8_0,
        DType::Q8_0x16,
        DType::Q4_1,
        DType::Q4_1x16,
    ] {
        if only
            .as_ref()
            .is_some_and(|o| !o.split(',').any(|f| f == dtype.name()))
        {
            continue;
        }
        let bytes = dtype.row_bytes(K).unwrap() * ROWS;
        let src: Vec<f32> = (0..ROWS * K)
            .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let mut one = vec![0u8; bytes];
        quantize_row(dtype.plain(), &src, &mut one);
        if dtype != dtype.plain() {
            let plain = one.clone();
            interleave(dtype, &plain, K, &mut one);
        }
        let copies = COLD_BYTES.div_ceil(bytes);
        let w: Vec<u8> = (0..copies).flat_map(|_| one.iter().copied()).collect();
        for kernels in Kernels::available() {
            // The scalar kernels are slow; a few runs say enough.
            let n = if kernels.name == "scalar" { 3 } else { reps };
            let (mut tk, mut tr) = (Vec::new(), Vec::new());
            for i in 0..n {
                let m = &w[(i % copies) * bytes..(i % copies + 1) * bytes];
                tk.push(time(|| {
                    kernels.matvec(dtype, m, K, Act::Q8(&xq), &mut out);
                    black_box(&out);
                }));
                tr.push(time(|| {
                    black_box(read_sum(black_box(&buf)));
                }));
            }
            let (kb, km) = rates(bytes, tk);
            let (rb, rm) = rates(COLD_BYTES, tr);
            println!(
                "{:6}  {:13}  {kb:6.2} / {km:6.2}           {rb:6.2} / {rm:6.2}           {:4.0}%",
                dtype.name(),
                kernels.name,
                100.0 * kb / rb
            );
        }
    }
}
