//! Writes a model shaped like DeepSeek-V2-Lite (15.7B parameters, 2.4B
//! active: MLA with a 512-wide latent, 64 routed experts of which 6 are
//! active, 2 shared) with random weights, straight to a q4_0 `.minke` file,
//! for measuring speed at a real size without downloading the real model.
//!
//! Tensors are generated, quantized and written one at a time, so memory
//! stays at the size of the largest tensor (the embedding table). The
//! formats follow `minke quantize`'s policy: norms and the MoE routers f32,
//! the embedding table and the head q8_0, every other matrix q4_0.
//!
//! ```sh
//! cargo run --release -p minke --example make_v2_lite -- .cache/v2-lite-q4_0.minke
//! target/release/minke bench -m .cache/v2-lite-q4_0.minke -p 16 -n 16 -t 1
//! ```

use minke::config::{
    Arch, DeepseekConfig, ModelConfig, RopeScaling, RopeStyle, ScoringFunc, TopkMethod,
};
use minke::file::minke::{write, Planned};
use minke::quant::formats::quantize_row;
use minke::quant::DType;
use std::path::PathBuf;

/// DeepSeek-V2-Lite's published config.
fn config() -> ModelConfig {
    ModelConfig {
        arch: Arch::DeepseekV2,
        vocab_size: 102400,
        hidden_size: 2048,
        n_layers: 27,
        n_heads: 16,
        n_kv_heads: 16,
        head_dim: 128 + 64,
        intermediate_size: 10944,
        rms_norm_eps: 1e-6,
        rope_theta: 10000.0,
        rope_scaling: Some(RopeScaling::Yarn {
            factor: 40.0,
            original_max_position_embeddings: 4096.0,
            beta_fast: 32.0,
            beta_slow: 1.0,
            mscale: 0.707,
            mscale_all_dim: 0.707,
            attention_factor: None,
            truncate: true,
        }),
        rope_style: RopeStyle::Interleaved,
        tie_word_embeddings: false,
        qkv_bias: false,
        o_bias: false,
        max_position_embeddings: 163840,
        bos_token_id: Some(100000),
        n_labels: None,
        pad_token_id: None,
        eos_token_ids: vec![100001],
        deepseek: Some(DeepseekConfig {
            q_lora_rank: None,
            kv_lora_rank: 512,
            qk_nope_head_dim: 128,
            qk_rope_head_dim: 64,
            v_head_dim: 128,
            first_k_dense_replace: 1,
            moe_layer_freq: 1,
            n_routed_experts: 64,
            n_shared_experts: 2,
            num_experts_per_tok: 6,
            moe_intermediate_size: 1408,
            topk_method: TopkMethod::Greedy,
            n_group: 1,
            topk_group: 1,
            scoring_func: ScoringFunc::Softmax,
            norm_topk_prob: false,
            routed_scaling_factor: 1.0,
        }),
    }
}

/// Every tensor with its shape, in Hugging Face names and file order.
fn tensors(c: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let d = c.deepseek.as_ref().expect("DeepSeek config");
    let h = c.hidden_size;
    let nh = c.n_heads;
    let mut v = vec![(
        "model.embed_tokens.weight".to_string(),
        vec![c.vocab_size, h],
    )];
    let mlp = |v: &mut Vec<(String, Vec<usize>)>, p: &str, f: usize| {
        v.push((format!("{p}.gate_proj.weight"), vec![f, h]));
        v.push((format!("{p}.up_proj.weight"), vec![f, h]));
        v.push((format!("{p}.down_proj.weight"), vec![h, f]));
    };
    for i in 0..c.n_layers {
        let p = format!("model.layers.{i}");
        let a = format!("{p}.self_attn");
        v.push((format!("{p}.input_layernorm.weight"), vec![h]));
        v.push((format!("{a}.q_proj.weight"), vec![nh * d.qk_head_dim(), h]));
        v.push((
            format!("{a}.kv_a_proj_with_mqa.weight"),
            vec![d.kv_lora_rank + d.qk_rope_head_dim, h],
        ));
        v.push((format!("{a}.kv_a_layernorm.weight"), vec![d.kv_lora_rank]));
        v.push((
            format!("{a}.kv_b_proj.weight"),
            vec![nh * (d.qk_nope_head_dim + d.v_head_dim), d.kv_lora_rank],
        ));
        v.push((format!("{a}.o_proj.weight"), vec![h, nh * d.v_head_dim]));
        v.push((format!("{p}.post_attention_layernorm.weight"), vec![h]));
        if d.is_moe_layer(i) {
            v.push((format!("{p}.mlp.gate.weight"), vec![d.n_routed_experts, h]));
            for e in 0..d.n_routed_experts {
                mlp(
                    &mut v,
                    &format!("{p}.mlp.experts.{e}"),
                    d.moe_intermediate_size,
                );
            }
            mlp(
                &mut v,
                &format!("{p}.mlp.shared_experts"),
                d.shared_intermediate(),
            );
        } else {
            mlp(&mut v, &format!("{p}.mlp"), c.intermediate_size);
        }
    }
    v.push(("model.norm.weight".to_string(), vec![h]));
    v.push(("lm_head.weight".to_string(), vec![c.vocab_size, h]));
    v
}

/// `minke quantize`'s choice for a q4_0 target.
fn dtype(name: &str, shape: &[usize]) -> DType {
    if shape.len() < 2 || name.ends_with(".mlp.gate.weight") {
        DType::F32
    } else if name == "lm_head.weight" || name.ends_with("embed_tokens.weight") {
        DType::Q8_0
    } else {
        DType::Q4_0
    }
}

/// Parameters one token passes through (MoE: shared + top-k experts).
fn active_params(c: &ModelConfig, shapes: &[(String, Vec<usize>)]) -> usize {
    let d = c.deepseek.as_ref().expect("DeepSeek config");
    let mut n = 0;
    for (name, s) in shapes {
        let size: usize = s.iter().product();
        if name.contains(".mlp.experts.") {
            n += size * d.num_experts_per_tok / d.n_routed_experts;
        } else if name.ends_with("embed_tokens.weight") {
            n += c.hidden_size;
        } else {
            n += size;
        }
    }
    n
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: make_v2_lite OUT.minke")?,
    );
    let c = config();
    c.validate()?;
    let shapes = tensors(&c);
    let total: usize = shapes
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    eprintln!(
        "DeepSeek-V2-Lite shape: {:.2}B parameters, {:.2}B active per token",
        total as f64 / 1e9,
        active_params(&c, &shapes) as f64 / 1e9
    );
    let planned: Vec<Planned> = shapes
        .iter()
        .map(|(name, shape)| Planned {
            name: name.clone(),
            dtype: dtype(name, shape),
            shape: shape.clone(),
        })
        .collect();
    // xorshift64: uniform in [-1, 1), about unit-variance / sqrt(3).
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    let mut row = Vec::new();
    let t0 = std::time::Instant::now();
    let mut last = 0u64;
    write(
        &path,
        &c,
        None,
        &planned,
        |i, buf| {
            let p = &planned[i];
            let cols = *p.shape.last().unwrap_or(&1);
            let rows: usize = p.shape.iter().rev().skip(1).product();
            let norm = p.shape.len() == 1;
            // Uniform of std 1/sqrt(fan_in) (√3 / sqrt(fan_in) half-width).
            let amp = 3f32.sqrt() / (cols as f32).sqrt();
            let rb = p.dtype.row_bytes(cols).ok_or_else(|| {
                minke::Error::InvalidArgument(format!("`{}` does not fit {}", p.name, p.dtype))
            })?;
            buf.reserve(rows * rb);
            row.resize(cols, 0f32);
            for _ in 0..rows {
                for x in row.iter_mut() {
                    *x = if norm {
                        1.0 + 0.1 * next()
                    } else {
                        amp * next()
                    };
                }
                let at = buf.len();
                buf.resize(at + rb, 0);
                quantize_row(p.dtype, &row, &mut buf[at..]);
            }
            Ok(())
        },
        |done, all| {
            if done - last > 1 << 30 || done == all {
                last = done;
                eprintln!(
                    "{:.1} / {:.1} GB, {:.0} s",
                    done as f64 / 1e9,
                    all as f64 / 1e9,
                    t0.elapsed().as_secs_f64()
                );
            }
        },
    )?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
