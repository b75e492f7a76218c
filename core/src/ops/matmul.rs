//! Linear layers: `y = x · Wᵀ (+ b)` for a batch of activation rows, with the
//! weight rows split across the session's threads.
//!
//! Quantized weights take int8 activation blocks: the caller quantizes each
//! input once ([`quantize_input`]) and reuses it for every projection that
//! reads it (q, k and v; gate and up).

use crate::tensor::{Tensor, TensorStore};
use crate::threads::{par_rows, ThreadPool};
use minke_quant::{Act, BlockQ8A, Kernels, QK};

/// What a forward step needs to run matrix products.
pub struct Ctx<'a> {
    pub pool: &'a ThreadPool,
    pub kernels: &'static Kernels,
    pub store: &'a TensorStore,
    /// A LoRA adapter the session applies on top of the weights.
    pub lora: Option<&'a crate::lora::SessionLora>,
}

/// A linear layer: weight `[out, in]` in any format, optional f32 bias.
pub struct Linear {
    pub w: Tensor,
    pub bias: Option<Vec<f32>>,
}

impl Linear {
    /// Output features.
    pub fn rows(&self) -> usize {
        self.w.rows_cols().0
    }

    /// Input features.
    pub fn cols(&self) -> usize {
        self.w.rows_cols().1
    }
}

/// `x` (n rows of `k`) in the form `tensor`'s kernels take: quantized into
/// `xq` (`n * k / 32` blocks) for quantized weights, as is otherwise.
pub fn quantize_input<'b>(
    ctx: &Ctx<'_>,
    tensor: &Tensor,
    x: &'b [f32],
    xq: &'b mut [BlockQ8A],
) -> Act<'b> {
    if !tensor.dtype.is_quantized() {
        return Act::F32(x);
    }
    let nb = x.len() / QK;
    let xq = &mut xq[..nb];
    let k = tensor.rows_cols().1;
    let rows = x.len() / k;
    let kb = k / QK;
    if rows >= 8 && ctx.pool.n_threads() > 1 {
        par_rows(ctx.pool, xq, kb, 1, |r, chunk| {
            (ctx.kernels.quantize_act)(&x[r.start * k..r.end * k], chunk);
        });
    } else {
        (ctx.kernels.quantize_act)(x, xq);
    }
    Act::Q8(xq)
}

/// `out (n, rows) = x (n, cols) · Wᵀ + b`. `tmp` is scratch of at least
/// `n * rows` values, used to turn the kernels' `(rows, n)` output around
/// when `n > 1`.
pub fn linear(ctx: &Ctx<'_>, lin: &Linear, x: Act<'_>, n: usize, out: &mut [f32], tmp: &mut [f32]) {
    let (rows, k) = lin.w.rows_cols();
    let w = ctx.store.bytes(&lin.w);
    let rb = lin.w.row_bytes();
    let dtype = lin.w.dtype;
    let out = &mut out[..n * rows];
    let dst: &mut [f32] = if n == 1 {
        &mut *out
    } else {
        &mut tmp[..n * rows]
    };
    // 16-row units keep each thread's output a few cache lines apart.
    par_rows(ctx.pool, dst, n, 16, |r, chunk| {
        ctx.kernels
            .matmul(dtype, &w[r.start * rb..r.end * rb], k, x, n, chunk);
    });
    if n > 1 {
        for r in 0..rows {
            for t in 0..n {
                out[t * rows + r] = tmp[r * n + t];
            }
        }
    }
    if let Some(b) = &lin.bias {
        crate::ops::add_bias_rows(out, b);
    }
    if let Some(l) = ctx.lora {
        l.apply(&lin.w, x, n, out);
    }
}
