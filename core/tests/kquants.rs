//! Models whose matrices are in the formats of llama.cpp's K-quant files
//! (Q2_K..Q6_K, IQ4_XS, and the Q5_0/Q5_1/IQ4_NL/Q8_0 fallbacks a Q4_K_M
//! file mixes in), one format per matrix, cycling: the forward pass
//! against the same model with the dequantized weights in f32, and bit
//! for bit across thread counts and batch sizes.

mod common;

use common::*;
use minke::Model;

const TOKENS: [u32; 24] = [
    1, 5, 9, 33, 2, 95, 0, 7, 7, 7, 40, 41, 42, 60, 12, 3, 88, 1, 54, 20, 11, 70, 71, 6,
];

fn models(tag: &str) -> (TempDir, Model, Model) {
    let dir = TempDir::new(tag);
    let (q, f) = (dir.path("q.minke"), dir.path("f.minke"));
    write_mixed_quant(&q, &f, &kquant_config(), 21);
    let (qm, fm) = (Model::open(&q).unwrap(), Model::open(&f).unwrap());
    (dir, qm, fm)
}

#[test]
fn every_format_is_used() {
    let (_dir, q, _) = models("kq-formats");
    let t = q.tensors();
    for d in MIXED {
        assert!(
            t.names().iter().any(|n| t.get(n).unwrap().dtype == d),
            "no {d} matrix in the test model"
        );
    }
}

/// The quantized model's logits are the f32 model's up to the int8
/// rounding of the activations: near-zero KL, the same top token.
#[test]
fn quantized_forward_matches_its_dequantized_weights() {
    let (_dir, q, f) = models("kq-vs-f32");
    let v = q.config.vocab_size;
    let a = all_logits(&q, params(2, 8), &TOKENS);
    let b = all_logits(&f, params(2, 8), &TOKENS);
    let (kl, top1) = kl_and_top1(&b, &a, v);
    eprintln!("K-quant mix against its f32 weights: mean KL {kl:.2e}, top-1 {top1:.3}");
    assert!(kl < 2e-3, "mean KL {kl}");
    assert!(top1 >= 0.95, "top-1 agreement {top1}");
}

/// Thread counts never change a bit. Batch sizes do not either while
/// they stay below the kernels' GEMM path (AVX512-VNNI Q8_0 from 8 tokens
/// sums in its own order): decode, 3, 5 and 7 tokens at a time.
#[test]
fn threads_and_batches_agree_bit_for_bit() {
    let (_dir, q, _) = models("kq-threads");
    let one = all_logits(&q, params(1, 16), &TOKENS);
    assert!(one.iter().all(|x| x.is_finite()));
    for nt in [2, 3, 4] {
        let got = all_logits(&q, params(nt, 16), &TOKENS);
        assert_eq!(one, got, "{nt} threads, batches of 16");
    }
    let one = all_logits(&q, params(1, 5), &TOKENS);
    for (nt, batch) in [(3, 5), (2, 1), (4, 3), (2, 7)] {
        let got = all_logits(&q, params(nt, batch), &TOKENS);
        assert_eq!(one, got, "{nt} threads, batches of {batch}");
    }
}

/// Float and quantized matrices side by side in one layer, each projection
/// taking its own kind of input: alternating types put q and v in one kind
/// and k in the other in one layer and the reverse in the next, and the
/// same for gate, up and down. (A float v after a quantized k once took
/// k's int8 input and panicked in the kernels.)
#[test]
fn float_and_quantized_matrices_mix_within_a_layer() {
    use minke::quant::DType;
    for (i, types) in [[DType::F32, DType::Q8_0], [DType::Q4_K, DType::F16]]
        .iter()
        .enumerate()
    {
        let dir = TempDir::new(&format!("kq-float-mix-{i}"));
        let (q, f) = (dir.path("q.minke"), dir.path("f.minke"));
        write_mixed(&q, &f, &kquant_config(), 5, types);
        let (q, f) = (Model::open(&q).unwrap(), Model::open(&f).unwrap());
        let v = q.config.vocab_size;
        for (threads, batch) in [(1, 1), (2, 8), (2, 24)] {
            let a = all_logits(&q, params(threads, batch), &TOKENS);
            let b = all_logits(&f, params(threads, batch), &TOKENS);
            let (kl, top1) = kl_and_top1(&b, &a, v);
            assert!(kl < 2e-3, "{types:?}, batch {batch}: mean KL {kl}");
            assert!(top1 >= 0.95, "{types:?}, batch {batch}: top-1 {top1}");
        }
    }
}
