//! Causal grouped-query attention over the KV cache (Vaswani et al. 2017;
//! GQA: Ainslie et al. 2023). Query head `h` reads key/value head
//! `h / (n_heads / n_kv_heads)`.
//!
//! The unit of work is one token and one key/value head: the `group` query
//! heads that share that head are scored together, so each cached key and
//! value row is read (and, for an f16 cache, widened) once per group
//! instead of once per query head. Every output value is computed by one
//! thread in a fixed order, so results do not depend on the thread count.

use crate::kv_cache::{KvSlice, LayerKv};
use crate::ops::dot;
use crate::threads::{par_rows_tid, ThreadPool};
use half::f16;
use minke_quant::{Kernels, KvRows};
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

/// Query tokens that prefill scores together against each key row.
const TB: usize = 4;

/// Per-thread scratch: the scores of up to `TB` (4) tokens' query heads of
/// one group over the context, a contiguous copy of those queries, one
/// widened K/V row.
pub struct AttnScratch {
    /// `(TB * group, n_ctx)` scores.
    scores: Vec<f32>,
    /// `(TB * group, head_dim)` gathered queries, then `(head_dim)`.
    rows: Vec<f32>,
    n_ctx: usize,
    group: usize,
}

impl AttnScratch {
    /// Scratch for contexts up to `n_ctx`, heads of `head_dim`, and
    /// `group` query heads per key/value head.
    pub fn new(n_ctx: usize, head_dim: usize, group: usize) -> AttnScratch {
        let g = group.max(1);
        AttnScratch {
            scores: vec![0.0; TB * g * n_ctx],
            rows: vec![0.0; (TB * g + 1) * head_dim],
            n_ctx,
            group: g,
        }
    }

    /// Floats one scratch holds, for memory estimates.
    pub fn floats(n_ctx: usize, head_dim: usize, group: usize) -> usize {
        let g = group.max(1);
        TB * g * n_ctx + (TB * g + 1) * head_dim
    }
}

/// `out (n, n_heads * head_dim)`: for each of the `n` queries in `q` (same
/// layout), at positions `positions` (`n` of them), attention over cache
/// positions `0..=pos`. The cache must already hold every position in
/// `positions`.
/// `scratch` holds one [`AttnScratch`] per pool thread.
///
/// One token (decode) splits by key/value head; several tokens split into
/// blocks of `TB` tokens, whose queries share each key row. Neither
/// choice depends on the thread count.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    pool: &ThreadPool,
    kernels: &Kernels,
    s: AttnShape,
    q: &[f32],
    kv: LayerKv<'_>,
    positions: std::ops::Range<usize>,
    scratch: &[Mutex<AttnScratch>],
    out: &mut [f32],
) {
    let (pos0, n) = (positions.start, positions.len());
    let d = s.head_dim;
    let nh = s.n_heads;
    let group = nh / s.n_kv_heads;
    let out = &mut out[..n * nh * d];
    let (KvSlice::F16(kc), KvSlice::F16(vc)) = (kv.k, kv.v) else {
        return attention_f32(pool, s, q, kv, pos0, scratch, out);
    };
    // Rows of work: one (token, kv head) for decode, `TB` tokens otherwise.
    let (row_len, per_unit) = if n == 1 {
        (group * d, 0)
    } else {
        (TB * nh * d, TB)
    };
    par_rows_tid(pool, out, row_len, 1, |tid, units, chunk| {
        let mut guard = scratch[tid % scratch.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let sc = &mut *guard;
        assert!(
            sc.group >= group,
            "attention scratch made for a smaller group"
        );
        let stride = sc.n_ctx;
        for (k, unit) in units.enumerate() {
            let end = ((k + 1) * row_len).min(chunk.len());
            let o = &mut chunk[k * row_len..end];
            if per_unit == 0 {
                // Decode: the group's query heads are contiguous in `q`.
                let g = unit;
                let len = pos0 + 1;
                let qg = &q[g * group * d..(g + 1) * group * d];
                let sco = &mut sc.scores[..group * stride];
                (kernels.attn_scores_f16)(
                    qg,
                    kv_rows(kc, g * d, kv.kv_dim, len, d),
                    s.scale,
                    sco,
                    stride,
                );
                for h in 0..group {
                    crate::ops::softmax(&mut sco[h * stride..h * stride + len]);
                }
                (kernels.attn_values_f16)(sco, stride, kv_rows(vc, g * d, kv.kv_dim, len, d), o);
                continue;
            }
            // Prefill: tokens `t0..t1`, every head.
            let t0 = unit * TB;
            let t1 = (t0 + TB).min(n);
            let nt = t1 - t0;
            let max_len = pos0 + t1;
            for g in 0..s.n_kv_heads {
                // Gather the block's queries of this group: `(nt * group, d)`.
                let qb = &mut sc.rows[..nt * group * d];
                for t in 0..nt {
                    let src = &q[((t0 + t) * nh + g * group) * d..][..group * d];
                    qb[t * group * d..(t + 1) * group * d].copy_from_slice(src);
                }
                let sco = &mut sc.scores[..nt * group * stride];
                (kernels.attn_scores_f16)(
                    qb,
                    kv_rows(kc, g * d, kv.kv_dim, max_len, d),
                    s.scale,
                    sco,
                    stride,
                );
                for t in 0..nt {
                    let len = pos0 + t0 + t + 1;
                    let base = t * group * stride;
                    for h in 0..group {
                        let r = base + h * stride;
                        crate::ops::softmax(&mut sco[r..r + len]);
                    }
                    let ot = &mut o[(t * nh + g * group) * d..][..group * d];
                    (kernels.attn_values_f16)(
                        &sco[base..],
                        stride,
                        kv_rows(vc, g * d, kv.kv_dim, len, d),
                        ot,
                    );
                }
            }
        }
    });
}

/// Rows `0..len` of `d` values at `off` in a cache of rows `stride` apart.
fn kv_rows(c: &[f16], off: usize, stride: usize, len: usize, d: usize) -> KvRows<'_> {
    KvRows {
        data: &c[off..],
        stride,
        len,
        d,
    }
}

/// The f32-cache path: one (token, query head) at a time.
fn attention_f32(
    pool: &ThreadPool,
    s: AttnShape,
    q: &[f32],
    kv: LayerKv<'_>,
    pos0: usize,
    scratch: &[Mutex<AttnScratch>],
    out: &mut [f32],
) {
    let d = s.head_dim;
    let group = s.n_heads / s.n_kv_heads;
    par_rows_tid(pool, out, d, 1, |tid, rows, chunk| {
        let mut guard = scratch[tid % scratch.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let sc = &mut *guard;
        let scores = &mut sc.scores[..sc.n_ctx];
        let buf = &mut sc.rows[..d];
        for (k, row) in rows.enumerate() {
            let (t, h) = (row / s.n_heads, row % s.n_heads);
            let len = pos0 + t + 1;
            let qh = &q[row * d..(row + 1) * d];
            let kvh = h / group;
            let o = &mut chunk[k * d..(k + 1) * d];
            for (j, sj) in scores[..len].iter_mut().enumerate() {
                *sj = dot(qh, read_row(kv.k, j * kv.kv_dim + kvh * d, buf)) * s.scale;
            }
            crate::ops::softmax(&mut scores[..len]);
            o.fill(0.0);
            for (j, &p) in scores[..len].iter().enumerate() {
                let vrow = read_row(kv.v, j * kv.kv_dim + kvh * d, buf);
                for (a, &b) in o.iter_mut().zip(vrow) {
                    *a += p * b;
                }
            }
        }
    });
}

/// The `buf.len()` cached values at `off` as f32: borrowed from an f32
/// cache, widened into `buf` from an f16 one.
#[inline]
fn read_row<'a>(s: KvSlice<'a>, off: usize, buf: &'a mut [f32]) -> &'a [f32] {
    match s {
        KvSlice::F32(x) => &x[off..off + buf.len()],
        KvSlice::F16(x) => {
            widen_f16(&x[off..off + buf.len()], buf);
            buf
        }
    }
}

/// f16 → f32, exactly, in a form the compiler vectorises without F16C:
/// the exponent and mantissa shifted into place and rescaled by 2^112
/// (which also turns f16 subnormals into the right f32 normals);
/// infinities and NaNs get the all-ones exponent.
#[inline]
fn widen_f16(src: &[f16], dst: &mut [f32]) {
    let scale = f32::from_bits(0x7780_0000); // 2^112
    for (d, &h) in dst.iter_mut().zip(src) {
        let b = h.to_bits() as u32;
        let em = b & 0x7FFF;
        let sign = (b & 0x8000) << 16;
        let mag = if em >= 0x7C00 {
            (em << 13) | 0x7F80_0000
        } else {
            (f32::from_bits(em << 13) * scale).to_bits()
        };
        *d = f32::from_bits(sign | mag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widen_f16_is_exact_on_every_non_nan_value() {
        let all: Vec<f16> = (0..=u16::MAX).map(f16::from_bits).collect();
        let mut got = vec![0f32; all.len()];
        widen_f16(&all, &mut got);
        for (h, g) in all.iter().zip(&got) {
            if h.is_nan() {
                assert!(g.is_nan());
            } else {
                assert_eq!(h.to_f32().to_bits(), g.to_bits(), "{h:?}");
            }
        }
    }
}
