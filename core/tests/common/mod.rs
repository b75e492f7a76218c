//! Test helpers: tiny random models written as `.minke` files.
#![allow(dead_code)]

use minke::config::{Arch, ModelConfig, RopeStyle};
use minke::file::minke::{write, Planned};
use minke::quant::DType;
use std::path::{Path, PathBuf};

/// A deterministic xorshift generator: tests need no `rand`.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-1, 1).
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

pub fn tiny_config() -> ModelConfig {
    ModelConfig {
        arch: Arch::Llama,
        vocab_size: 96,
        hidden_size: 64,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 16,
        intermediate_size: 96,
        rms_norm_eps: 1e-5,
        rope_theta: 10000.0,
        rope_scaling: None,
        rope_style: RopeStyle::Half,
        tie_word_embeddings: false,
        qkv_bias: true,
        o_bias: false,
        max_position_embeddings: 256,
        bos_token_id: Some(1),
        n_labels: None,
        pad_token_id: None,
        eos_token_ids: vec![2],
        deepseek: None,
    }
}

/// Every tensor of `c` with its shape, in HF names.
pub fn tensor_shapes(c: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let (h, q, kv, f) = (c.hidden_size, c.q_dim(), c.kv_dim(), c.intermediate_size);
    let mut v = vec![(
        "model.embed_tokens.weight".to_string(),
        vec![c.vocab_size, h],
    )];
    for i in 0..c.n_layers {
        let p = format!("model.layers.{i}");
        v.push((format!("{p}.input_layernorm.weight"), vec![h]));
        v.push((format!("{p}.self_attn.q_proj.weight"), vec![q, h]));
        v.push((format!("{p}.self_attn.k_proj.weight"), vec![kv, h]));
        v.push((format!("{p}.self_attn.v_proj.weight"), vec![kv, h]));
        if c.qkv_bias {
            v.push((format!("{p}.self_attn.q_proj.bias"), vec![q]));
            v.push((format!("{p}.self_attn.k_proj.bias"), vec![kv]));
            v.push((format!("{p}.self_attn.v_proj.bias"), vec![kv]));
        }
        v.push((format!("{p}.self_attn.o_proj.weight"), vec![h, q]));
        v.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
        v.push((format!("{p}.mlp.gate_proj.weight"), vec![f, h]));
        v.push((format!("{p}.mlp.up_proj.weight"), vec![f, h]));
        v.push((format!("{p}.mlp.down_proj.weight"), vec![h, f]));
    }
    v.push(("model.norm.weight".to_string(), vec![h]));
    if !c.tie_word_embeddings {
        v.push(("lm_head.weight".to_string(), vec![c.vocab_size, h]));
    }
    v
}

/// Writes a random f32 model for `c` to `path`.
pub fn write_random(path: &Path, c: &ModelConfig, seed: u64) {
    write_random_shapes(path, c, &tensor_shapes(c), seed);
}

/// Writes random f32 tensors of `shapes` with config `c` to `path`.
pub fn write_random_shapes(
    path: &Path,
    c: &ModelConfig,
    shapes: &[(String, Vec<usize>)],
    seed: u64,
) {
    let planned: Vec<Planned> = shapes
        .iter()
        .map(|(n, s)| Planned {
            name: n.clone(),
            dtype: DType::F32,
            shape: s.clone(),
        })
        .collect();
    let mut rng = Rng::new(seed);
    write(
        path,
        c,
        None,
        &planned,
        |i, buf| {
            let (name, shape) = &shapes[i];
            let n: usize = shape.iter().product();
            let norm = name.ends_with("norm.weight");
            let fan_in = *shape.last().unwrap() as f32;
            for _ in 0..n {
                let x = if norm {
                    1.0 + 0.2 * rng.f32()
                } else {
                    rng.f32() * 1.7 / fan_in.sqrt()
                };
                buf.extend_from_slice(&x.to_le_bytes());
            }
            Ok(())
        },
        |_, _| {},
    )
    .unwrap();
}

/// A fresh temporary folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!(
            "minke-test-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Mean KL(p || q) of softmax(a) and softmax(b) over rows of `vocab`, and
/// the share of rows whose argmax agree.
pub fn kl_and_top1(a: &[f32], b: &[f32], vocab: usize) -> (f64, f64) {
    let mut kl = 0.0;
    let mut agree = 0usize;
    let rows = a.len() / vocab;
    for r in 0..rows {
        let (x, y) = (
            &a[r * vocab..(r + 1) * vocab],
            &b[r * vocab..(r + 1) * vocab],
        );
        let lse = |v: &[f32]| {
            let m = v.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            m + v.iter().map(|&t| (t as f64 - m).exp()).sum::<f64>().ln()
        };
        let (la, lb) = (lse(x), lse(y));
        for i in 0..vocab {
            let lp = x[i] as f64 - la;
            let lq = y[i] as f64 - lb;
            kl += lp.exp() * (lp - lq);
        }
        if argmax(x) == argmax(y) {
            agree += 1;
        }
    }
    (kl / rows as f64, agree as f64 / rows as f64)
}

pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// A fixture folder under `tests/fixtures/`.
pub fn fixture(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(case)
}

/// What `scripts/gen_fixtures.py` recorded for a causal LM fixture.
pub struct Expected {
    pub tokens: Vec<u32>,
    /// `(tokens, vocab)` logits of transformers' forward pass.
    pub logits: Vec<f32>,
    pub greedy_prompt_len: usize,
    pub greedy: Vec<u32>,
}

/// Reads `tests/fixtures/<case>/expected.safetensors`.
pub fn expected(case: &str) -> Expected {
    let bytes = std::fs::read(fixture(case).join("expected.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let i64s = |name: &str| -> Vec<i64> {
        st.tensor(name)
            .unwrap()
            .data()
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let f32s = |name: &str| -> Vec<f32> {
        st.tensor(name)
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    Expected {
        tokens: i64s("tokens").into_iter().map(|t| t as u32).collect(),
        logits: f32s("logits"),
        greedy_prompt_len: i64s("greedy_prompt_len")[0] as usize,
        greedy: i64s("greedy").into_iter().map(|t| t as u32).collect(),
    }
}

/// The formats [`write_mixed_quant`] cycles through: what llama.cpp's
/// Q*_K_M files mix, and the rest of what minke reads.
pub const MIXED: [DType; 10] = [
    DType::Q4_K,
    DType::Q6_K,
    DType::Q5_K,
    DType::Q3_K,
    DType::Q2_K,
    DType::IQ4_XS,
    DType::Q5_0,
    DType::Q5_1,
    DType::IQ4_NL,
    DType::Q8_0,
];

/// A config whose matrices all have rows of whole 256-value super-blocks.
pub fn kquant_config() -> ModelConfig {
    ModelConfig {
        hidden_size: 256,
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 64,
        intermediate_size: 512,
        qkv_bias: false,
        ..tiny_config()
    }
}

/// Random blocks of `dtype` for `n` values: random bytes with the f16
/// scale fields (byte offsets from `minke::quant` block layouts) set to
/// small finite values, so the weights stay near those of a real model.
fn random_blocks(rng: &mut Rng, dtype: DType, n: usize) -> Vec<u8> {
    let float = |rng: &mut Rng| 0.06 * rng.f32();
    match dtype {
        DType::F32 => return (0..n).flat_map(|_| float(rng).to_le_bytes()).collect(),
        DType::F16 => {
            return (0..n)
                .flat_map(|_| half::f16::from_f32(float(rng)).to_le_bytes())
                .collect()
        }
        _ => {}
    }
    let f16_fields: &[usize] = match dtype {
        DType::Q8_0 | DType::Q5_0 | DType::IQ4_NL | DType::IQ4_XS => &[0],
        DType::Q5_1 | DType::Q4_K | DType::Q5_K => &[0, 2],
        DType::Q2_K => &[80, 82],
        DType::Q3_K => &[108],
        DType::Q6_K => &[208],
        d => panic!("no random blocks for {d}"),
    };
    let bb = dtype.block_bytes();
    let mut w: Vec<u8> = (0..n / dtype.block_len() * bb)
        .map(|_| rng.next_u64() as u8)
        .collect();
    // Scales such that |w| is about 1 / sqrt(fan-in) whatever the format.
    let typical = match dtype {
        DType::Q8_0 => 1.0 / 64.0,
        DType::IQ4_NL => 1.0 / 60.0,
        DType::IQ4_XS => 1.0 / 900.0,
        DType::Q5_0 | DType::Q5_1 => 1.0 / 16.0,
        DType::Q6_K => 1.0 / 1000.0,
        _ => 1.0 / 200.0,
    } * 0.06;
    for b in w.chunks_exact_mut(bb) {
        for &at in f16_fields {
            let v = typical * (0.5 + 0.5 * rng.f32().abs());
            b[at..at + 2].copy_from_slice(&half::f16::from_f32(v).to_le_bytes());
        }
    }
    w
}

/// Writes the same random model twice: at `quant`, each matrix in one of
/// [`MIXED`] (cycling), and at `float`, the dequantized f32 values of the
/// same blocks. Norms are f32 in both.
pub fn write_mixed_quant(quant: &Path, float: &Path, c: &ModelConfig, seed: u64) {
    write_mixed(quant, float, c, seed, &MIXED);
}

/// [`write_mixed_quant`] cycling through `types` (which may hold F32 and
/// F16 too) instead of [`MIXED`].
pub fn write_mixed(quant: &Path, float: &Path, c: &ModelConfig, seed: u64, types: &[DType]) {
    let shapes = tensor_shapes(c);
    let mut rng = Rng::new(seed);
    let mut k = 0;
    let tensors: Vec<(Planned, Vec<u8>, Vec<f32>)> = shapes
        .iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            if shape.len() < 2 {
                let v: Vec<f32> = (0..n).map(|_| 1.0 + 0.2 * rng.f32()).collect();
                let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                let p = Planned {
                    name: name.clone(),
                    dtype: DType::F32,
                    shape: shape.clone(),
                };
                return (p, bytes, v);
            }
            let dtype = types[k % types.len()];
            k += 1;
            let bytes = random_blocks(&mut rng, dtype, n);
            let mut v = vec![0f32; n];
            let cols = shape[1];
            let rb = dtype.row_bytes(cols).unwrap();
            for (src, dst) in bytes.chunks_exact(rb).zip(v.chunks_exact_mut(cols)) {
                minke::quant::formats::dequantize_row(dtype, src, dst);
            }
            let p = Planned {
                name: name.clone(),
                dtype,
                shape: shape.clone(),
            };
            (p, bytes, v)
        })
        .collect();
    let planned: Vec<Planned> = tensors.iter().map(|t| t.0.clone()).collect();
    write(
        quant,
        c,
        None,
        &planned,
        |i, buf| {
            buf.extend_from_slice(&tensors[i].1);
            Ok(())
        },
        |_, _| {},
    )
    .unwrap();
    let as_f32: Vec<Planned> = planned
        .into_iter()
        .map(|p| Planned {
            dtype: DType::F32,
            ..p
        })
        .collect();
    write(
        float,
        c,
        None,
        &as_f32,
        |i, buf| {
            buf.extend(tensors[i].2.iter().flat_map(|x| x.to_le_bytes()));
            Ok(())
        },
        |_, _| {},
    )
    .unwrap();
}

/// Session parameters for the tiny test models: context 64, f32 KV cache,
/// logits at every position.
pub fn params(threads: usize, batch: usize) -> minke::SessionParams {
    minke::SessionParams {
        n_ctx: 64,
        n_threads: threads,
        kv_type: minke::KvType::F32,
        n_batch: batch,
        logits_all: true,
        allow_long_context: false,
    }
}

/// The logits of every position of `tokens`, prefilled in one session.
pub fn all_logits(model: &minke::Model, p: minke::SessionParams, tokens: &[u32]) -> Vec<f32> {
    let mut s = minke::Session::new(model, p).unwrap();
    let mut out = Vec::new();
    s.prefill_each(tokens, |_, l| out.extend_from_slice(l))
        .unwrap();
    out
}
