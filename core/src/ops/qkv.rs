//! Attention's first step for Llama-family layers: the q, k and v
//! projections of a batch, RoPE on q and k, and k and v stored in the KV
//! cache.
//!
//! Without a LoRA adapter and with formats that share an input, the three
//! projections run as one pool job, and for one token (decode) each thread
//! also rotates the q and k heads it computed and stores its k and v heads
//! in the cache while they are in its cache: the epilogue of
//! [`linear_fused`]. Otherwise they run one by one and a pass rotates and
//! stores every position. Both give the same bits.

use crate::kv_cache::KvCache;
use crate::ops::matmul::{can_fuse, linear, linear_fused, quantize_input, Ctx, Epilogue, Linear};
use crate::ops::rope::Rope;
use minke_quant::BlockQ8A;

/// Scratch and outputs of [`qkv_rope_store`] for `n` tokens.
pub struct QkvScratch<'a> {
    /// Int8 input: at least `(n, hidden / 32)` blocks.
    pub xq: &'a mut [BlockQ8A],
    /// `(n, q_dim)`: the rotated queries, for attention.
    pub q: &'a mut [f32],
    /// `(n, kv_dim)` each: keys (rotated) and values.
    pub k: &'a mut [f32],
    pub v: &'a mut [f32],
    /// Transpose scratch of [`linear`]: `n * (q_dim + 2 kv_dim)`.
    pub tmp: &'a mut [f32],
}

/// Where a batch goes: its layer, its first position, and the RoPE
/// cosines and sines of each of its positions (`(n, head_dim)`, exactly).
pub struct LayerAt<'a> {
    pub layer: usize,
    pub pos0: usize,
    pub cos_sin: &'a [f32],
}

/// q, k and v of `x` (`(n, hidden)`, normalized) through `[q, k, v]`,
/// RoPE applied to q and k at positions `at.pos0..`, and k and v stored
/// in `kv` at those positions of `at.layer`.
#[allow(clippy::too_many_arguments)]
pub fn qkv_rope_store(
    ctx: &Ctx<'_>,
    [q, k, v]: [&Linear; 3],
    x: &[f32],
    n: usize,
    at: LayerAt<'_>,
    rope: &Rope,
    kv: &mut KvCache,
    s: QkvScratch<'_>,
) {
    let hd = at.cos_sin.len() / n;
    let (qd, kvd) = (q.rows(), k.rows());
    // Whether the fused job already rotated and stored.
    let mut stored = false;
    let xa = quantize_input(ctx, &q.w, x, s.xq);
    // A LoRA adapter adds to each projection's output inside `linear`, so
    // the fused paths are for adapter-free sessions.
    if ctx.lora.is_none() && can_fuse(&[q, k, v]) {
        let outs: &mut [&mut [f32]] = &mut [&mut *s.q, &mut *s.k, &mut *s.v];
        let cs = &at.cos_sin[..hd];
        let writer = kv.row_writer(at.layer, at.pos0);
        let store = |i: usize, rows: std::ops::Range<usize>, out: &mut [f32]| {
            if i < 2 {
                rope.rotate(out, cs);
            }
            if i > 0 {
                // SAFETY: the job hands each head's rows to one thread,
                // and this is its only store of them.
                unsafe { writer.put(i == 2, rows.start / hd, out) };
            }
        };
        let epilogue = Epilogue {
            unit: hd,
            f: &store,
        };
        linear_fused(ctx, &[q, k, v], xa, n, outs, s.tmp, Some(epilogue));
        stored = n == 1;
    } else {
        linear(ctx, q, xa, n, s.q, s.tmp);
        // k and v may be in another format than q (mixed files).
        let xa = if k.w.dtype.is_quantized() == q.w.dtype.is_quantized() {
            xa
        } else {
            quantize_input(ctx, &k.w, x, s.xq)
        };
        linear(ctx, k, xa, n, s.k, s.tmp);
        let xa = if v.w.dtype.is_quantized() == k.w.dtype.is_quantized() {
            xa
        } else {
            quantize_input(ctx, &v.w, x, s.xq)
        };
        linear(ctx, v, xa, n, s.v, s.tmp);
    }
    for t in (0..n).filter(|_| !stored) {
        let cs = &at.cos_sin[t * hd..(t + 1) * hd];
        rope.rotate(&mut s.q[t * qd..(t + 1) * qd], cs);
        rope.rotate(&mut s.k[t * kvd..(t + 1) * kvd], cs);
        kv.store(
            at.layer,
            at.pos0 + t,
            &s.k[t * kvd..(t + 1) * kvd],
            &s.v[t * kvd..(t + 1) * kvd],
        );
    }
}
