//! The SwiGLU feed-forward block (Shazeer 2020), `down(silu(gate(x)) ⊙
//! up(x))`, once for every architecture minke runs: Llama and Qwen2
//! layers, DeepSeek's dense layers, and its shared and routed experts.
//!
//! Where it can (no LoRA, no biases, gate and up in compatible formats),
//! gate, up and the SiLU product run as one pool job ([`swiglu`]), which
//! for one token also quantizes the down projection's input while the rows
//! are in each thread's cache; otherwise as two products and a pass. Both
//! give the same bits.

use crate::ops::matmul::{can_fuse, linear, quantize_input, swiglu, Ctx, Linear};
use minke_quant::{Act, BlockQ8A, QK};

/// Scratch a [`swiglu_ffn`] call uses, for `n` tokens.
pub struct FfnScratch<'a> {
    /// At least `(n, inter)`.
    pub gate: &'a mut [f32],
    /// At least `(n, inter)`.
    pub up: &'a mut [f32],
    /// Int8 activations: at least `(n, max(hidden, inter) / 32)` blocks.
    pub xq: &'a mut [BlockQ8A],
    /// One token's down-projection input, `inter / 32` blocks (empty: the
    /// fused job does not quantize it).
    pub xq_down: &'a mut [BlockQ8A],
    /// Transpose scratch of [`linear`]: `n * max(inter, hidden)`.
    pub tmp: &'a mut [f32],
}

impl FfnScratch<'_> {
    /// The same buffers, borrowed again for one call.
    pub fn reborrow(&mut self) -> FfnScratch<'_> {
        FfnScratch {
            gate: self.gate,
            up: self.up,
            xq: self.xq,
            xq_down: self.xq_down,
            tmp: self.tmp,
        }
    }
}

/// `out (n, hidden) = down(silu(gate(x)) ⊙ up(x))` for `x (n, hidden)`,
/// normalized. `before_down` runs between the two halves, when the
/// caller's next weights can be prefetched behind the down projection.
#[allow(clippy::too_many_arguments)]
pub fn swiglu_ffn(
    ctx: &Ctx<'_>,
    gate: &Linear,
    up: &Linear,
    down: &Linear,
    x: &[f32],
    n: usize,
    s: FfnScratch<'_>,
    out: &mut [f32],
    before_down: impl FnOnce(),
) {
    let f = gate.rows();
    let mut fused_down_input = false;
    {
        let xa = quantize_input(ctx, &gate.w, x, s.xq);
        if ctx.lora.is_none() && can_fuse(&[gate, up]) && gate.bias.is_none() && up.bias.is_none() {
            // Gate, up and SiLU in one pool job, which also quantizes the
            // down projection's input when it can.
            let q = (down.w.dtype.is_quantized() && s.xq_down.len() >= f / QK)
                .then_some(&mut s.xq_down[..]);
            fused_down_input = swiglu(ctx, gate, up, xa, n, s.gate, s.up, s.tmp, q);
        } else {
            linear(ctx, gate, xa, n, s.gate, s.tmp);
            // Up may be in another format than gate (mixed files).
            let xa = if up.w.dtype.is_quantized() == gate.w.dtype.is_quantized() {
                xa
            } else {
                quantize_input(ctx, &up.w, x, s.xq)
            };
            linear(ctx, up, xa, n, s.up, s.tmp);
            (ctx.kernels.silu_mul)(&mut s.gate[..n * f], &s.up[..n * f]);
        }
    }
    let xd = if fused_down_input {
        Act::Q8(&s.xq_down[..f / QK])
    } else {
        quantize_input(ctx, &down.w, &s.gate[..n * f], s.xq)
    };
    before_down();
    linear(ctx, down, xd, n, out, s.tmp);
}
