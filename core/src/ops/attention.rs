//! Causal grouped-query attention over the KV cache (Vaswani et al. 2017;
//! GQA: Ainslie et al. 2023). Query head `h` reads key/value head
//! `h / (n_heads / n_kv_heads)`.

use crate::kv_cache::LayerKv;
use crate::threads::{par_rows_tid, ThreadPool};
use std::sync::Mutex;

/// Shapes of one attention call.
#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Scale applied to `q·k` (usually `1/sqrt(head_dim)`).
    pub scale: f32,
}

/// Per-thread scratch: scores over the context and one K/V row as f32.
pub struct AttnScratch {
    /// `(n_ctx + 2 * head_dim)` values.
    buf: Vec<f32>,
    n_ctx: usize,
}

impl AttnScratch {
    /// Scratch for contexts up to `n_ctx` and heads of `head_dim`.
    pub fn new(n_ctx: usize, head_dim: usize) -> AttnScratch {
        AttnScratch {
            buf: vec![0.0; n_ctx + 2 * head_dim],
            n_ctx,
        }
    }
}

/// `out (n, n_heads * head_dim)`: for each of the `n` queries in `q` (same
/// layout), at positions `positions` (`n` of them), attention over cache
/// positions `0..=pos`. The cache must already hold every position in
/// `positions`.
/// `scratch` holds one [`AttnScratch`] per pool thread.
pub fn attention(
    pool: &ThreadPool,
    s: AttnShape,
    q: &[f32],
    kv: LayerKv<'_>,
    positions: std::ops::Range<usize>,
    scratch: &[Mutex<AttnScratch>],
    out: &mut [f32],
) {
    let (pos0, n) = (positions.start, positions.len());
    let d = s.head_dim;
    let group = s.n_heads / s.n_kv_heads;
    let out = &mut out[..n * s.n_heads * d];
    // Rows are (token, head) pairs: out row `t * n_heads + h` is contiguous.
    par_rows_tid(pool, out, d, 1, |tid, rows, chunk| {
        // Each thread has a scratch slot of its own (the lock is uncontended).
        let mut guard = scratch[tid % scratch.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let sc = &mut *guard;
        let (scores, rest) = sc.buf.split_at_mut(sc.n_ctx);
        let (krow, vrow) = rest.split_at_mut(d);
        for (k, row) in rows.enumerate() {
            let (t, h) = (row / s.n_heads, row % s.n_heads);
            let pos = pos0 + t;
            let qh = &q[row * d..(row + 1) * d];
            let kvh = h / group;
            let o = &mut chunk[k * d..(k + 1) * d];
            let sc = &mut scores[..=pos];
            for (j, sj) in sc.iter_mut().enumerate() {
                kv.k.read(j * kv.kv_dim + kvh * d, krow);
                *sj = dot(qh, krow) * s.scale;
            }
            crate::ops::softmax(sc);
            o.fill(0.0);
            for (j, &p) in sc.iter().enumerate() {
                kv.v.read(j * kv.kv_dim + kvh * d, vrow);
                for (a, &b) in o.iter_mut().zip(vrow.iter()) {
                    *a += p * b;
                }
            }
        }
    });
}

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight partial sums let the compiler vectorise without reassociation.
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}
