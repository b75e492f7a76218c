//! The converter: any model minke opens (Hugging Face folder, GGUF, `.minke`)
//! written as a `.minke` file with its weights in a chosen format.
//!
//! Mixed precision, and why:
//! - 1-D tensors (norms, biases) stay f32: they are tiny and every value
//!   scales a whole channel.
//! - The embedding table and the output head get q8_0 when the target is a
//!   4-bit format: the head decides every token and is the most sensitive
//!   matrix to quantization error (llama.cpp keeps it at 6 bits or more for
//!   the same reason), and a tied embedding is that same matrix.
//! - A MoE router (`mlp.gate.weight`, DeepSeek) stays f32: it is tiny
//!   (experts × hidden), and its output is a discrete choice of experts,
//!   where a small error flips an expert and changes the token's output
//!   wholesale rather than slightly.
//! - A matrix whose rows are not a whole number of 32-element blocks cannot
//!   be block-quantized; it is stored f16 instead.
//!
//! Converting from an already-quantized source dequantizes to f32 first and
//! re-quantizes (tensors already in the target format are copied as-is).

use crate::file::{self, minke::Planned};
use crate::lora::LoraAdapter;
use crate::tensor::Tensor;
use crate::{Error, Result};
use minke_quant::formats::{dequantize_row, quantize_row};
use minke_quant::DType;
use std::path::Path;

/// The format one tensor is written in, for a target format.
pub fn choose_dtype(name: &str, t: &Tensor, target: DType) -> DType {
    if t.shape.len() < 2 || name.ends_with(".mlp.gate.weight") {
        return DType::F32;
    }
    let head = name == "lm_head.weight" || name.ends_with("embed_tokens.weight");
    let want = match target {
        DType::Q4_0 | DType::Q4_1 if head => DType::Q8_0,
        d => d,
    };
    let cols = *t.shape.last().unwrap_or(&0);
    if want.is_quantized() && want.row_bytes(cols).is_none() {
        DType::F16
    } else {
        want
    }
}

/// Converts the model at `input` into a `.minke` file at `output` with
/// weights in `target`. `progress(done, total)` reports bytes written.
pub fn quantize(
    input: &Path,
    output: &Path,
    target: DType,
    progress: impl FnMut(u64, u64),
) -> Result<()> {
    quantize_with_lora(input, output, target, None, progress)
}

/// [`quantize`], merging a LoRA adapter (times `scale`) into the weights
/// first: each adapted row becomes `W[r] + s · (B A)[r]` in f32, then is
/// written in the target format.
pub fn quantize_with_lora(
    input: &Path,
    output: &Path,
    target: DType,
    lora: Option<(&LoraAdapter, f32)>,
    progress: impl FnMut(u64, u64),
) -> Result<()> {
    let loaded = file::open(input)?;
    // Check the model binds (all tensors present, shapes right) before
    // spending time on it.
    let model = crate::Model::from_loaded(input, loaded)?;
    if let Some((a, _)) = lora {
        a.check(&model)?;
    }
    if output.exists() && output.canonicalize().ok() == input.canonicalize().ok() {
        return Err(Error::InvalidArgument(
            "output would overwrite the input".into(),
        ));
    }
    let store = model.tensors();
    let plan: Vec<(Planned, &Tensor)> = store
        .names()
        .iter()
        .map(|name| {
            let t = store.get(name).expect("listed names exist");
            let dtype = choose_dtype(name, t, target);
            (
                Planned {
                    name: name.clone(),
                    dtype,
                    shape: t.shape.clone(),
                },
                t,
            )
        })
        .collect();
    let planned: Vec<Planned> = plan.iter().map(|(p, _)| p.clone()).collect();
    let mut row = Vec::new();
    file::minke::write(
        output,
        &model.config,
        model.tokenizer_data(),
        &planned,
        |i, buf| {
            let (p, t) = &plan[i];
            let src = store.bytes(t);
            let delta = lora.and_then(|(a, s)| a.pair(&p.name).map(|pair| (pair, a.scale * s)));
            if p.dtype == t.dtype && delta.is_none() {
                buf.extend_from_slice(src);
                return Ok(());
            }
            let cols = *t.shape.last().unwrap_or(&1);
            let (sb, db) = (
                t.dtype.row_bytes(cols).unwrap_or(0),
                p.dtype.row_bytes(cols).unwrap_or(0),
            );
            row.resize(cols, 0f32);
            for (r, s) in src.chunks_exact(sb.max(1)).enumerate() {
                dequantize_row(t.dtype, s, &mut row);
                if let Some((pair, scale)) = delta {
                    pair.add_row(r, scale, &mut row);
                }
                let at = buf.len();
                buf.resize(at + db, 0);
                quantize_row(p.dtype, &row, &mut buf[at..]);
            }
            Ok(())
        },
        progress,
    )
}
