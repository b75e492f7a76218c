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
//! - Matrices that matrix products read whole are written interleaved
//!   ([`DType::Q4_0x16`], [`DType::Q4_1x16`], [`DType::Q8_0x16`]) when
//!   their rows are a multiple of 16: the projections (`*_proj.weight`,
//!   `kv_a_proj_with_mqa`), the output head, and the embedding (a tied
//!   embedding is the head; a lookup reads its row out of the groups,
//!   which costs nothing next to a token's matrix work). The bytes are the
//!   row format's, regrouped so that the kernels read 16 rows as one
//!   stream at memory speed (rows side by side reach about 80% of it).
//!   MLA's `kv_b_proj` (or `k_b_proj`/`v_b_proj`), which attention slices
//!   by head, stays in rows. `interleave = false` keeps every tensor in
//!   rows.
//!
//! Converting from an already-quantized source dequantizes to f32 first and
//! re-quantizes (tensors already in the target format are copied as-is, or
//! regrouped exactly into its interleaved form); a quantized tensor never
//! moves to a wider quantized format, which would add bytes, not accuracy
//! (unless a merged LoRA adapter changes its numbers).

use crate::file::{self, minke::Planned};
use crate::lora::LoraAdapter;
use crate::tensor::Tensor;
use crate::{Error, Result};
use minke_quant::formats::{dequantize_row_of, quantize_row, x16};
use minke_quant::DType;
use std::path::Path;

/// The format one tensor is written in, for a target format (an
/// interleaved target means its row format, interleaving on; `None`: a
/// quantized tensor keeps its format, a float one is treated as for q4_0);
/// `interleave` lets eligible matrices take the interleaved form; `merged`
/// says a LoRA delta is added to the tensor, whose new numbers may then
/// take a wider format than its source.
pub fn choose_dtype(
    name: &str,
    t: &Tensor,
    target: Option<DType>,
    interleave: bool,
    merged: bool,
) -> DType {
    if t.shape.len() < 2 || name.ends_with(".mlp.gate.weight") {
        return DType::F32;
    }
    let target = match target {
        Some(d) => d,
        None if t.dtype.is_quantized() => t.dtype.plain(),
        None => DType::Q4_0,
    };
    let interleave = interleave || target.row_group() > 1;
    let target = target.plain();
    let head = name == "lm_head.weight" || name.ends_with("embed_tokens.weight");
    let want = match target {
        DType::Q4_0 | DType::Q4_1 if head => DType::Q8_0,
        d => d,
    };
    // A quantized source keeps its own format rather than take a wider
    // one: re-quantizing cannot bring back what it lost, only add bytes
    // (unless a merged adapter changes the numbers).
    let src = t.dtype.plain();
    // Bytes per value, compared across block lengths (32 or 256 values).
    let wider = want.is_quantized()
        && want.block_bytes() * src.block_len() > src.block_bytes() * want.block_len();
    let want = if src.is_quantized() && wider && !merged {
        src
    } else {
        want
    };
    // A merged adapter changes the numbers, so they are written anew; the
    // formats minke only reads (the K-quants, IQ4) give way to Q8_0, which
    // loses less than any of them.
    let want = if merged && !want.can_quantize() {
        DType::Q8_0
    } else {
        want
    };
    let cols = *t.shape.last().unwrap_or(&0);
    if want.is_quantized() && want.row_bytes(cols).is_none() {
        return DType::F16;
    }
    let by_rows = ["kv_b_proj.weight", "k_b_proj.weight", "v_b_proj.weight"];
    let projection = name == "lm_head.weight"
        || name.ends_with("embed_tokens.weight")
        || name.ends_with("kv_a_proj_with_mqa.weight")
        || name.ends_with("_proj.weight") && !by_rows.iter().any(|s| name.ends_with(s));
    match want.interleaved() {
        Some(x)
            if interleave
                && projection
                && t.shape.len() == 2
                && t.shape[0] % x.row_group() == 0 =>
        {
            x
        }
        _ => want,
    }
}

/// Converts the model at `input` into a `.minke` file at `output` with
/// weights in `target` (projections interleaved where the format has an
/// interleaved form, see the module notes). `progress(done, total)`
/// reports bytes written.
pub fn quantize(
    input: &Path,
    output: &Path,
    target: DType,
    progress: impl FnMut(u64, u64),
) -> Result<()> {
    quantize_with_lora(input, output, Some(target), true, None, progress).map(|_| ())
}

/// [`quantize`], with interleaving on or off, `target` `None` to keep
/// each quantized tensor's format (float ones become q4_0), merging a
/// LoRA adapter (times `scale`) into the weights first: each adapted row
/// becomes `W[r] + s · (B A)[r]` in f32, then is written in the target
/// format. Returns the tensors as written (name, format, shape).
pub fn quantize_with_lora(
    input: &Path,
    output: &Path,
    target: Option<DType>,
    interleave: bool,
    lora: Option<(&LoraAdapter, f32)>,
    progress: impl FnMut(u64, u64),
) -> Result<Vec<Planned>> {
    let opts = Options {
        target,
        interleave,
        lora,
        load: crate::Load::Map,
    };
    quantize_with(input, output, &opts, progress)
}

/// What [`quantize_with`] writes and how it reads its input.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// The weights' format; `None` keeps each quantized tensor's format
    /// (float ones become q4_0).
    pub target: Option<DType>,
    /// Interleave projections where the format has an interleaved form.
    pub interleave: bool,
    /// A LoRA adapter to merge, and its scale.
    pub lora: Option<(&'a LoraAdapter, f32)>,
    /// How the input is loaded: [`crate::Load::Read`] for an input that
    /// may change while it is converted.
    pub load: crate::Load,
}

/// [`quantize_with_lora`] with every choice in `opts`.
pub fn quantize_with(
    input: &Path,
    output: &Path,
    opts: &Options<'_>,
    progress: impl FnMut(u64, u64),
) -> Result<Vec<Planned>> {
    let Options {
        target,
        interleave,
        lora,
        load,
    } = *opts;
    if let Some(t) = target.filter(|t| !t.plain().can_quantize()) {
        return Err(Error::Unsupported(format!(
            "minke reads {t} but cannot write it yet; `auto` keeps a GGUF's own {t} tensors"
        )));
    }
    let loaded = file::open(input, load)?;
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
            let merged = lora.is_some_and(|(a, _)| a.pair(name).is_some());
            let dtype = choose_dtype(name, t, target, interleave, merged);
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
    let mut rows_buf = Vec::new();
    file::minke::write(
        output,
        &model.config,
        model.tokenizer_data(),
        &planned,
        |i, buf| {
            let (p, t) = &plan[i];
            let src = store.bytes(t);
            let delta = lora.and_then(|(a, s)| a.pair(&p.name).map(|pair| (pair, a.scale * s)));
            let cols = *t.shape.last().unwrap_or(&1);
            if delta.is_none() && p.dtype.plain() == t.dtype.plain() {
                // Same numbers: copy, or rearrange bytes exactly.
                if p.dtype == t.dtype {
                    buf.extend_from_slice(src);
                } else {
                    let at = buf.len();
                    buf.resize(at + src.len(), 0);
                    regroup(t.dtype, p.dtype, src, cols, &mut buf[at..]);
                }
                return Ok(());
            }
            let plain = p.dtype.plain();
            let db = plain.row_bytes(cols).unwrap_or(0);
            let rows = t.numel().checked_div(cols).unwrap_or(0);
            row.resize(cols, 0f32);
            // Interleaved targets are quantized into rows first, then
            // regrouped into `buf`.
            let interleaved = plain != p.dtype;
            let out = if interleaved {
                &mut rows_buf
            } else {
                &mut *buf
            };
            let at = out.len();
            out.resize(at + rows * db, 0);
            for (r, dst) in out[at..].chunks_exact_mut(db.max(1)).enumerate() {
                dequantize_row_of(t.dtype, src, r, &mut row);
                if let Some((pair, scale)) = delta {
                    pair.add_row(r, scale, &mut row);
                }
                quantize_row(plain, &row, dst);
            }
            if interleaved {
                let at = buf.len();
                buf.resize(at + rows_buf.len(), 0);
                x16::interleave(p.dtype, &rows_buf, cols, &mut buf[at..]);
                rows_buf.clear();
            }
            Ok(())
        },
        progress,
    )?;
    Ok(planned)
}

/// `src` in `from` rewritten as `to`, where both hold the same numbers
/// (a row format and its interleaved form, either way).
fn regroup(from: DType, to: DType, src: &[u8], cols: usize, dst: &mut [u8]) {
    match (from.row_group() > 1, to.row_group() > 1) {
        (false, true) => x16::interleave(to, src, cols, dst),
        (true, false) => x16::deinterleave(from, src, cols, dst),
        _ => dst.copy_from_slice(src),
    }
}
