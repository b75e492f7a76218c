//! Causal grouped-query attention over the KV cache (Vaswani et al. 2017;
//! GQA: Ainslie et al. 2023). Query head `h` reads key/value head
//! `h / (n_heads / n_kv_heads)`.
//!
//! Keys are taken in blocks of [`KB`] positions (block `b` holds positions
//! `b·KB..(b+1)·KB`), the split of flash-decoding (Dao et al. 2023): each
//! block gives its own maximum score `m_b`, sum of `e^(s - m_b)` and
//! weighted values, and `combine` merges the blocks in order. Decode
//! splits its work by (key/value head, block), so that on long contexts
//! the threads share one head's keys instead of one taking two heads while
//! the other takes one (SmolLM2's 3 heads on 2 threads), and each block's
//! rows are prefetched before they are read: they come from memory, as
//! the weights streamed since the last token have pushed them out of
//! every cache. Prefill runs the same blocks and the same combination, so
//! a token gets the same bits whether it came in a batch or alone, and no
//! split depends on the thread count.
//!
//! The `group` query heads that share a key/value head are scored
//! together, so each cached key and value row is read (and widened from
//! f16, or from Q8_0 blocks) once per group instead of once per query
//! head. The f16 and Q8_0 caches share every loop here and differ only in
//! the kernels that read a block's rows (`Rows`).

use crate::kv_cache::{KvSlice, LayerKv};
use crate::ops::dot;
use crate::threads::{home, par_rows_tid, ThreadPool};
use half::f16;
use minke_quant::{Kernels, KvRows, KvRowsQ8};
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

/// Key positions per block: a multiple of 16, the score kernels' step,
/// so that a block's scores have the bits of an unsplit row's. Decode on
/// SmolLM2's shape (`cargo bench -p minke --bench attention`, cold cache,
/// 2 threads) took 60-70 µs at 1024 positions with blocks of 256 against
/// 74 µs with blocks of 64 (whose combination costs more than the finer
/// split gains) and 60-140 µs with one block per head.
pub const KB: usize = 256;

/// Scratch for attention: per thread, the scores of one block and the
/// partial results of a prefill unit; shared, decode's partial results.
pub struct AttnScratch {
    threads: Vec<Mutex<ThreadScratch>>,
    /// Decode: `(n_kv_heads, blocks, part)` with `part` as in [`Part`].
    partials: Vec<f32>,
    /// Most blocks a context can have.
    max_blocks: usize,
    group: usize,
    head_dim: usize,
}

struct ThreadScratch {
    /// `(TB * group, KB)` scores of one block.
    scores: Vec<f32>,
    /// `(TB * group, head_dim)` gathered queries.
    rows: Vec<f32>,
    /// Prefill: `(TB, blocks, part)`.
    partials: Vec<f32>,
}

impl AttnScratch {
    /// Scratch for `threads` threads, contexts up to `n_ctx`, heads of
    /// `head_dim`, `n_heads` query and `n_kv_heads` key/value heads.
    pub fn new(threads: usize, n_ctx: usize, s: AttnShape) -> AttnScratch {
        let (group, max_blocks, part) = Self::dims(n_ctx, s);
        AttnScratch {
            threads: (0..threads.max(1))
                .map(|_| {
                    Mutex::new(ThreadScratch {
                        scores: vec![0.0; TB * group * KB],
                        rows: vec![0.0; TB * group * s.head_dim],
                        partials: vec![0.0; TB * max_blocks * part],
                    })
                })
                .collect(),
            partials: vec![0.0; s.n_kv_heads * max_blocks * part],
            max_blocks,
            group,
            head_dim: s.head_dim,
        }
    }

    /// Floats [`AttnScratch::new`] allocates, for memory estimates.
    pub fn floats(threads: usize, n_ctx: usize, s: AttnShape) -> usize {
        let (group, max_blocks, part) = Self::dims(n_ctx, s);
        threads.max(1) * (TB * group * (KB + s.head_dim) + TB * max_blocks * part)
            + s.n_kv_heads * max_blocks * part
    }

    /// Query heads per key/value head, most blocks a context of `n_ctx`
    /// has, and floats per [`Part`].
    fn dims(n_ctx: usize, s: AttnShape) -> (usize, usize, usize) {
        let group = (s.n_heads / s.n_kv_heads.max(1)).max(1);
        (
            group,
            n_ctx.div_ceil(KB).max(1),
            Part::len(group, s.head_dim),
        )
    }
}

/// The partial result of one block for the `group` query heads of one
/// key/value head, in `len(group, d)` floats: the weighted values
/// `(group, d)`, then the `group` maxima, then the `group` sums.
struct Part;

impl Part {
    fn len(group: usize, d: usize) -> usize {
        group * (d + 2)
    }
}

/// `out (n, n_heads * head_dim)`: for each of the `n` queries in `q` (same
/// layout), at positions `positions` (`n` of them), attention over cache
/// positions `0..=pos`. The cache must already hold every position in
/// `positions`; `scratch` must be made for a context that holds them.
///
/// One token (decode) splits by key/value head and block of keys; several
/// tokens split into blocks of `TB` tokens, whose queries share each key
/// row. Neither choice depends on the thread count.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    pool: &ThreadPool,
    kernels: &Kernels,
    s: AttnShape,
    q: &[f32],
    kv: LayerKv<'_>,
    positions: std::ops::Range<usize>,
    scratch: &mut AttnScratch,
    out: &mut [f32],
) {
    let (pos0, n) = (positions.start, positions.len());
    let d = s.head_dim;
    let nh = s.n_heads;
    let group = nh / s.n_kv_heads;
    let out = &mut out[..n * nh * d];
    assert!(
        scratch.group >= group
            && scratch.head_dim == d
            && (pos0 + n).div_ceil(KB) <= scratch.max_blocks,
        "attention scratch made for a smaller shape or context"
    );
    if matches!(kv.k, KvSlice::F32(_)) || matches!(kv.v, KvSlice::F32(_)) {
        return attention_f32(pool, kernels, s, q, kv, pos0, &scratch.threads, out);
    }
    let part = Part::len(group, d);
    let threads = &scratch.threads;
    // The first `len` key or value rows of block `b` of key/value head `g`.
    let keys_of = |g: usize, b: usize, len: usize| Rows::new(kv.k, &kv, g, b * KB, len);
    let vals_of = |g: usize, b: usize, len: usize| Rows::new(kv.v, &kv, g, b * KB, len);
    // Scores of the queries in `qg` against `keys`, `KB` apart in
    // `sc.scores`.
    let score_block = |sc: &mut ThreadScratch, qg: &[f32], keys: Rows<'_>| {
        let sco = &mut sc.scores[..qg.len() / d * KB];
        keys.scores(kernels, qg, s.scale, sco, KB);
    };
    if n == 1 {
        let len = pos0 + 1;
        let blocks = len.div_ceil(KB);
        let n_units = s.n_kv_heads * blocks;
        let parts = &mut scratch.partials[..n_units * part];
        // Unit `u` is block `b = u % blocks` of key/value head
        // `g = u / blocks`: `(g, b, positions in the block)`.
        let unit = |u: usize| {
            let (g, b) = (u / blocks, u % blocks);
            (g, b, (len - b * KB).min(KB))
        };
        // One unit per (key/value head, block): `parts` row `u`.
        par_rows_tid(pool, parts, part, 1, |tid, units, chunk| {
            let mut guard = threads[tid % threads.len()]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let sc = &mut *guard;
            let own = home(n_units, pool.n_threads(), tid);
            for (k, u) in units.enumerate() {
                let (g, b, rows) = unit(u);
                let (keys, vals) = (keys_of(g, b, rows), vals_of(g, b, rows));
                keys.prefetch();
                vals.prefetch();
                if u + 1 < own.end {
                    // The thread's next unit streams in while this one is
                    // computed, instead of starting cold: SmolLM2 decode
                    // at ~100 positions on 2 threads (3 units, 2 on one
                    // thread), 33k → 30k cycles a layer in attention
                    // (medians of 8 runs).
                    let (g1, b1, rows1) = unit(u + 1);
                    keys_of(g1, b1, rows1).prefetch();
                    vals_of(g1, b1, rows1).prefetch();
                }
                score_block(sc, &q[g * group * d..(g + 1) * group * d], keys);
                finish(
                    kernels,
                    &mut sc.scores,
                    group,
                    rows,
                    vals,
                    &mut chunk[k * part..(k + 1) * part],
                );
            }
        });
        let parts = &scratch.partials[..n_units * part];
        for (h, o) in out.chunks_exact_mut(d).enumerate() {
            let (g, i) = (h / group, h % group);
            combine(&parts[g * blocks * part..], part, blocks, group, i, o);
        }
        return;
    }
    // Prefill: units of `TB` tokens, every head.
    par_rows_tid(pool, out, TB * nh * d, 1, |tid, units, chunk| {
        let mut guard = threads[tid % threads.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let sc = &mut *guard;
        for (k, unit) in units.enumerate() {
            let end = ((k + 1) * TB * nh * d).min(chunk.len());
            let o = &mut chunk[k * TB * nh * d..end];
            let t0 = unit * TB;
            let t1 = (t0 + TB).min(n);
            let nt = t1 - t0;
            let max_len = pos0 + t1;
            let blocks = max_len.div_ceil(KB);
            for g in 0..s.n_kv_heads {
                // Gather the block's queries of this group: `(nt * group, d)`.
                let mut qb = std::mem::take(&mut sc.rows);
                for t in 0..nt {
                    let src = &q[((t0 + t) * nh + g * group) * d..][..group * d];
                    qb[t * group * d..(t + 1) * group * d].copy_from_slice(src);
                }
                for b in 0..blocks {
                    let rows = (max_len - b * KB).min(KB);
                    score_block(sc, &qb[..nt * group * d], keys_of(g, b, rows));
                    for t in 0..nt {
                        // Token `t` sees positions `..len`: some of this
                        // block, or none of it.
                        let len = pos0 + t0 + t + 1;
                        if len <= b * KB {
                            continue;
                        }
                        let r = (len - b * KB).min(KB);
                        let vals = vals_of(g, b, r);
                        let dst = &mut sc.partials[(t * blocks + b) * part..][..part];
                        let sco = &mut sc.scores[t * group * KB..];
                        finish(kernels, sco, group, r, vals, dst);
                    }
                }
                for t in 0..nt {
                    let len = pos0 + t0 + t + 1;
                    let parts = &sc.partials[t * blocks * part..];
                    for i in 0..group {
                        let ot = &mut o[(t * nh + g * group + i) * d..][..d];
                        combine(parts, part, len.div_ceil(KB), group, i, ot);
                    }
                }
                sc.rows = qb;
            }
        }
    });
}

/// A block's partial result from its scores: `sco` holds `group` rows of
/// [`KB`] scores, of which the first `len` count; they become `e^(s - m)`
/// and `dst` (a [`Part`]) gets the weighted sum of the `len` value rows,
/// each row's maximum `m` and its sum of exponentials.
fn finish(
    kernels: &Kernels,
    sco: &mut [f32],
    group: usize,
    len: usize,
    vals: Rows<'_>,
    dst: &mut [f32],
) {
    let d = vals.d();
    for i in 0..group {
        let (m, sum) = (kernels.exp_shifted)(&mut sco[i * KB..i * KB + len]);
        dst[group * d + i] = m;
        dst[group * d + group + i] = sum;
    }
    vals.values(kernels, sco, KB, &mut dst[..group * d]);
}

/// Query head `i` of a group from its blocks' partial results (`blocks`
/// [`Part`]s, `stride` floats apart): `out = Σ_b w_b o_b / Σ_b w_b s_b` with
/// `w_b = e^(m_b - max m)`, summed in block order.
fn combine(parts: &[f32], stride: usize, blocks: usize, group: usize, i: usize, out: &mut [f32]) {
    let d = out.len();
    let at = |b: usize, k: usize| parts[b * stride + group * d + k * group + i];
    let m = (0..blocks)
        .map(|b| at(b, 0))
        .fold(f32::NEG_INFINITY, f32::max);
    out.fill(0.0);
    let mut sum = 0.0;
    for b in 0..blocks {
        let w = crate::ops::exp(at(b, 0) - m);
        sum += w * at(b, 1);
        let o = &parts[b * stride + i * d..][..d];
        for (a, &v) in out.iter_mut().zip(o) {
            *a += w * v;
        }
    }
    let inv = 1.0 / sum;
    for a in out.iter_mut() {
        *a *= inv;
    }
}

/// Rows of one key/value head in the cache's own format, as the
/// attention kernels of that format read them.
#[derive(Clone, Copy)]
enum Rows<'a> {
    F16(KvRows<'a>),
    Q8(KvRowsQ8<'a>),
}

impl<'a> Rows<'a> {
    /// Rows `pos..pos + len` of key/value head `g` of `side` (the keys or
    /// values of `kv`).
    fn new(side: KvSlice<'a>, kv: &LayerKv<'a>, g: usize, pos: usize, len: usize) -> Rows<'a> {
        let (off, stride, d) = (kv.offset(g, pos), kv.row, kv.head_dim);
        match side {
            KvSlice::F16(x) => Rows::F16(KvRows {
                data: &x[off..],
                stride,
                len,
                d,
            }),
            KvSlice::Q8_0(x) => Rows::Q8(KvRowsQ8 {
                data: &x[off..],
                stride,
                len,
                d,
            }),
            KvSlice::F32(_) => unreachable!("an f32 cache takes attention_f32"),
        }
    }

    fn d(&self) -> usize {
        match self {
            Rows::F16(r) => r.d,
            Rows::Q8(r) => r.d,
        }
    }

    fn prefetch(&self) {
        match self {
            Rows::F16(r) => r.prefetch(),
            Rows::Q8(r) => r.prefetch(),
        }
    }

    /// The format's [`minke_quant::kernels::AttnScoresF16`].
    fn scores(self, kernels: &Kernels, q: &[f32], scale: f32, out: &mut [f32], os: usize) {
        match self {
            Rows::F16(r) => (kernels.attn_scores_f16)(q, r, scale, out, os),
            Rows::Q8(r) => (kernels.attn_scores_q8_0)(q, r, scale, out, os),
        }
    }

    /// The format's [`minke_quant::kernels::AttnValuesF16`].
    fn values(self, kernels: &Kernels, p: &[f32], ps: usize, out: &mut [f32]) {
        match self {
            Rows::F16(r) => (kernels.attn_values_f16)(p, ps, r, out),
            Rows::Q8(r) => (kernels.attn_values_q8_0)(p, ps, r, out),
        }
    }
}

/// The f32-cache path: one (token, query head) at a time, over the same
/// blocks of keys as the f16 path.
#[allow(clippy::too_many_arguments)]
fn attention_f32(
    pool: &ThreadPool,
    kernels: &Kernels,
    s: AttnShape,
    q: &[f32],
    kv: LayerKv<'_>,
    pos0: usize,
    scratch: &[Mutex<ThreadScratch>],
    out: &mut [f32],
) {
    let d = s.head_dim;
    let group = s.n_heads / s.n_kv_heads;
    par_rows_tid(pool, out, d, 1, |tid, rows, chunk| {
        let mut guard = scratch[tid % scratch.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let ThreadScratch {
            scores,
            rows: buf,
            partials,
        } = &mut *guard;
        let buf = &mut buf[..d];
        for (k, row) in rows.enumerate() {
            let (t, h) = (row / s.n_heads, row % s.n_heads);
            let len = pos0 + t + 1;
            let qh = &q[row * d..(row + 1) * d];
            let kvh = h / group;
            let blocks = len.div_ceil(KB);
            for b in 0..blocks {
                let sco = &mut scores[..(len - b * KB).min(KB)];
                for (jj, sj) in sco.iter_mut().enumerate() {
                    let j = b * KB + jj;
                    *sj = dot(qh, read_row(kv.k, kv.offset(kvh, j), buf)) * s.scale;
                }
                let (m, sum) = (kernels.exp_shifted)(sco);
                let dst = &mut partials[b * (d + 2)..(b + 1) * (d + 2)];
                dst[..d].fill(0.0);
                for (jj, &p) in sco.iter().enumerate() {
                    let vrow = read_row(kv.v, kv.offset(kvh, b * KB + jj), buf);
                    for (a, &x) in dst[..d].iter_mut().zip(vrow) {
                        *a += p * x;
                    }
                }
                dst[d] = m;
                dst[d + 1] = sum;
            }
            combine(
                partials,
                d + 2,
                blocks,
                1,
                0,
                &mut chunk[k * d..(k + 1) * d],
            );
        }
    });
}

/// The `buf.len()` cached values at `off` as f32: borrowed from an f32
/// cache, widened or dequantized into `buf` from another.
#[inline]
fn read_row<'a>(s: KvSlice<'a>, off: usize, buf: &'a mut [f32]) -> &'a [f32] {
    match s {
        KvSlice::F32(x) => &x[off..off + buf.len()],
        KvSlice::F16(x) => {
            widen_f16(&x[off..off + buf.len()], buf);
            buf
        }
        KvSlice::Q8_0(_) => {
            s.read(off, buf);
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
    use crate::kv_cache::{KvCache, KvType};

    const SHAPE: AttnShape = AttnShape {
        n_heads: 6,
        n_kv_heads: 2,
        head_dim: 40,
        scale: 0.16,
    };

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                ((x >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * 3.0
            })
            .collect()
    }

    /// Attention outputs of `len` tokens with random queries, keys and
    /// values, run in batches of `batch` tokens on `threads` threads.
    fn run(kv: KvType, len: usize, batch: usize, threads: usize) -> Vec<f32> {
        let s = SHAPE;
        let (qd, kvd) = (s.n_heads * s.head_dim, s.n_kv_heads * s.head_dim);
        let kernels = minke_quant::kernels::dispatch::best();
        let pool = ThreadPool::new(threads).unwrap();
        let mut cache = KvCache::new(kv, 1, len, kvd, s.head_dim);
        let mut scratch = AttnScratch::new(threads, len, s);
        let q = noise(len * qd, 1);
        let (k, v) = (noise(len * kvd, 2), noise(len * kvd, 3));
        let mut out = vec![0f32; len * qd];
        for p0 in (0..len).step_by(batch) {
            let p1 = (p0 + batch).min(len);
            for p in p0..p1 {
                cache.store(0, p, &k[p * kvd..(p + 1) * kvd], &v[p * kvd..(p + 1) * kvd]);
            }
            attention(
                &pool,
                kernels,
                s,
                &q[p0 * qd..p1 * qd],
                cache.layer(0),
                p0..p1,
                &mut scratch,
                &mut out[p0 * qd..p1 * qd],
            );
        }
        out
    }

    /// Over several blocks of keys, every batch size and thread count
    /// gives the same bits, and the result is softmax attention over the
    /// values the cache holds.
    #[test]
    fn blocks_agree_across_batches_and_threads_and_with_plain_softmax() {
        let len = 2 * KB + 37;
        for kv in KvType::ALL {
            let want = run(kv, len, 1, 1);
            for (batch, threads) in [(1, 2), (1, 3), (7, 1), (7, 2), (64, 3), (len, 2)] {
                assert!(
                    want == run(kv, len, batch, threads),
                    "{kv:?}: batches of {batch} on {threads} threads"
                );
            }
            // Plain softmax attention in f64 over the values the cache
            // holds (rounded to f16, or quantized).
            let s = SHAPE;
            let (d, kvd, qd) = (
                s.head_dim,
                s.n_kv_heads * s.head_dim,
                s.n_heads * s.head_dim,
            );
            let (q, k, v) = (noise(len * qd, 1), noise(len * kvd, 2), noise(len * kvd, 3));
            let mut cache = KvCache::new(kv, 1, len, kvd, d);
            for p in 0..len {
                cache.store(0, p, &k[p * kvd..(p + 1) * kvd], &v[p * kvd..(p + 1) * kvd]);
            }
            let held = |value: bool, j: usize, g: usize| {
                let mut row = vec![0f32; d];
                cache.layer(0).read(value, g, j, &mut row);
                row
            };
            let mut worst = 0f64;
            for t in [0, KB - 1, KB, len - 1] {
                for h in 0..s.n_heads {
                    let g = h / (s.n_heads / s.n_kv_heads);
                    let qh = &q[t * qd + h * d..][..d];
                    let sc: Vec<f64> = (0..=t)
                        .map(|j| {
                            let kj = held(false, j, g);
                            let dot: f64 =
                                qh.iter().zip(&kj).map(|(&a, &b)| a as f64 * b as f64).sum();
                            dot * s.scale as f64
                        })
                        .collect();
                    let m = sc.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = sc.iter().map(|&x| (x - m).exp()).collect();
                    let z: f64 = e.iter().sum();
                    let vs: Vec<Vec<f32>> = (0..=t).map(|j| held(true, j, g)).collect();
                    for c in 0..d {
                        let r: f64 = (0..=t).map(|j| e[j] * vs[j][c] as f64).sum::<f64>() / z;
                        worst = worst.max((r - want[t * qd + h * d + c] as f64).abs());
                    }
                }
            }
            assert!(worst < 1e-4, "{kv:?}: off by {worst}");
        }
    }

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
