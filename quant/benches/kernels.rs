//! Kernel throughput in bytes of weights streamed per second.
//!
//! One criterion group per format × kernel set, holding matrix-vector
//! products at the shapes of SmolLM2-135M (576×576, 1536×576, 576×1536) and
//! of a 7B Llama (4096×4096, 11008×4096), plus a plain sequential read of a
//! 512 MiB buffer, so that each group shows the ratio of kernel speed to
//! what one core can read from memory.
//!
//! Weights are cold, as in decoding: each shape is allocated in enough
//! copies to fill at least 256 MiB (8× this machine's L3), and successive
//! iterations walk through the copies.
//!
//! `cargo bench -p minke-quant --bench kernels` runs everything (a few
//! minutes); a filter such as `-- 'q4_0/avx512'` runs one group.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use minke_quant::formats::quantize_row;
use minke_quant::{Act, BlockQ8A, DType, Kernels, QK};
use std::time::Duration;

/// `(rows, k)`: output rows × input length.
const SHAPES: [(usize, usize); 5] = [
    (576, 576),
    (1536, 576),
    (576, 1536),
    (4096, 4096),
    (11008, 4096),
];
const COLD_BYTES: usize = 256 << 20;
const READ_BYTES: usize = 512 << 20;

/// A matrix in `copies` copies, and the activation row to multiply it with.
struct Case {
    w: Vec<u8>,
    row_bytes: usize,
    copies: usize,
    xf: Vec<f32>,
    xq: Vec<BlockQ8A>,
}

impl Case {
    fn new(dtype: DType, rows: usize, k: usize) -> Case {
        let row_bytes = dtype.row_bytes(k).unwrap();
        let bytes = rows * row_bytes;
        let copies = COLD_BYTES.div_ceil(bytes).max(1);
        // Pseudo-random weights; the values do not change the speed.
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        };
        let src: Vec<f32> = (0..rows * k).map(|_| next()).collect();
        let mut one = vec![0u8; bytes];
        quantize_row(dtype.plain(), &src, &mut one);
        if dtype.row_group() > 1 {
            let plain = one.clone();
            minke_quant::formats::x16::interleave(dtype, &plain, k, &mut one);
        }
        let mut w = Vec::with_capacity(bytes * copies);
        for _ in 0..copies {
            w.extend_from_slice(&one);
        }
        let xf: Vec<f32> = (0..k).map(|_| next()).collect();
        let mut xq = vec![BlockQ8A::ZERO; k / QK];
        minke_quant::formats::quantize_act_row_scalar(&xf, &mut xq);
        Case {
            w,
            row_bytes,
            copies,
            xf,
            xq,
        }
    }
}

/// Sums `buf` with eight independent lanes, so the adds never wait on
/// each other and the loop runs at the speed memory delivers.
fn read_sum(buf: &[u64]) -> u64 {
    let mut acc = [0u64; 8];
    for c in buf.chunks_exact(8) {
        for (a, v) in acc.iter_mut().zip(c) {
            *a = a.wrapping_add(*v);
        }
    }
    acc.iter().fold(0, |a, b| a.wrapping_add(*b))
}

fn benches(c: &mut Criterion) {
    let read_buf: Vec<u64> = (0..READ_BYTES as u64 / 8).collect();
    // Every table, variants included (AVX-512 with and without VNNI).
    let isas: Vec<&'static Kernels> = Kernels::available();
    for dtype in DType::ALL {
        for kernels in &isas {
            let mut g = c.benchmark_group(format!("matvec/{dtype}/{}", kernels.name));
            g.sample_size(10)
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(1));
            for (rows, k) in SHAPES {
                let case = Case::new(dtype, rows, k);
                let bytes = rows * case.row_bytes;
                let mut out = vec![0f32; rows];
                let mut i = 0;
                g.throughput(Throughput::Bytes(bytes as u64));
                g.bench_function(BenchmarkId::from_parameter(format!("{rows}x{k}")), |b| {
                    b.iter(|| {
                        let w = &case.w[i * bytes..(i + 1) * bytes];
                        i = (i + 1) % case.copies;
                        let act = if dtype.is_quantized() {
                            Act::Q8(&case.xq)
                        } else {
                            Act::F32(&case.xf)
                        };
                        kernels.matvec(dtype, w, k, act, &mut out);
                        black_box(&out);
                    })
                });
            }
            g.throughput(Throughput::Bytes(READ_BYTES as u64));
            g.bench_function("read_512MiB", |b| {
                b.iter(|| black_box(read_sum(black_box(&read_buf))))
            });
            g.finish();
        }
    }
}

/// Prompt batches: 8 activation rows against a 4096×4096 matrix (cold), in
/// bytes of weights streamed per second; 8× the matvec figure would mean
/// the batch costs no more than one row.
fn batch_benches(c: &mut Criterion) {
    let (rows, k, n) = (4096, 4096, 8);
    for dtype in [DType::Q8_0, DType::Q4_0, DType::Q4_0x16, DType::Q4_1] {
        let case = Case::new(dtype, rows, k);
        let bytes = rows * case.row_bytes;
        let xq: Vec<BlockQ8A> = (0..n).flat_map(|_| case.xq.iter().copied()).collect();
        let mut out = vec![0f32; rows * n];
        let mut g = c.benchmark_group(format!("matmul_n{n}/{dtype}"));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .throughput(Throughput::Bytes(bytes as u64));
        for kernels in Kernels::available() {
            let mut i = 0;
            g.bench_function(BenchmarkId::from_parameter(kernels.name), |b| {
                b.iter(|| {
                    let w = &case.w[i * bytes..(i + 1) * bytes];
                    i = (i + 1) % case.copies;
                    kernels.matmul(dtype, w, k, Act::Q8(&xq), n, &mut out);
                    black_box(&out);
                })
            });
        }
        g.finish();
    }
}

criterion_group!(kernel_benches, benches, batch_benches);
criterion_main!(kernel_benches);
