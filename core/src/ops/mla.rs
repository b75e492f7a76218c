//! Multi-head Latent Attention (DeepSeek-V2 technical report, section 2.1),
//! in its absorbed form, and the latent cache it reads.
//!
//! Per token the cache holds only the compressed key/value latent `c`
//! (`rank` = `kv_lora_rank` values, after its RMSNorm) and the shared RoPE
//! key `k_pe` (`rope` values). Head `h`'s key and value are `W_UK_h c` and
//! `W_UV_h c`, with `W_UK_h` (`[nope, rank]`) and `W_UV_h` (`[v, rank]`)
//! slices of `kv_b_proj`. Instead of expanding them for every cached
//! position, the query is folded into the latent space and the output out
//! of it:
//!
//! ```text
//! score(h, j) = scale * ((W_UK_hᵀ q_nope_h) · c_j + q_pe_h · k_pe_j)
//! out_h       = W_UV_h (Σ_j p(h, j) c_j)
//! ```
//!
//! so attention is multi-query attention over `rank + rope` wide keys and
//! `rank` wide values, all heads sharing one cache row per position. Each
//! thread reads every cache row once for all the heads it holds.

use crate::kv_cache::{KvSlice, KvType, Store};
use crate::ops::dot;
use crate::ops::matmul::Ctx;
use crate::ops::rope::Rope;
use crate::tensor::Tensor;
use crate::threads::par_rows_tid;
use minke_quant::formats::dequantize_row;
use minke_quant::{Act, BlockQ8A, DType, QK};
use std::sync::Mutex;

/// The MLA cache: `(n_layers, n_ctx, row)`, each row `[c | k_pe]`: `rank`
/// then `rope` values, or for Q8_0 the blocks of `c` then those of `k_pe`
/// (each part quantized on its own, so that moving or rotating `k_pe`
/// never touches `c`'s blocks; DeepSeek's 512 + 64 are whole blocks).
pub struct LatentCache {
    data: Store,
    n_layers: usize,
    n_ctx: usize,
    rank: usize,
    rope: usize,
    /// Units per row: `c`'s, then `k_pe`'s.
    units: (usize, usize),
}

impl LatentCache {
    /// A zeroed cache for `n_layers` layers of `n_ctx` positions.
    pub fn new(kv: KvType, n_layers: usize, n_ctx: usize, rank: usize, rope: usize) -> LatentCache {
        let units = (kv.row_units(rank), kv.row_units(rope));
        LatentCache {
            data: Store::zeros(kv, n_layers * n_ctx * (units.0 + units.1)),
            n_layers,
            n_ctx,
            rank,
            rope,
            units,
        }
    }

    /// Bytes a cache of these dimensions takes.
    pub fn bytes(kv: KvType, n_layers: usize, n_ctx: usize, rank: usize, rope: usize) -> usize {
        n_layers * n_ctx * (kv.row_bytes(rank) + kv.row_bytes(rope))
    }

    /// Bytes this cache holds.
    pub fn byte_len(&self) -> usize {
        self.data.byte_len()
    }

    fn row(&self) -> usize {
        self.units.0 + self.units.1
    }

    /// Its element type.
    pub fn kv_type(&self) -> KvType {
        self.data.kv_type()
    }

    fn n_layers(&self) -> usize {
        self.data.units() / (self.n_ctx * self.row()).max(1)
    }

    /// Bytes [`LatentCache::save`] writes for positions `0..n`.
    pub(crate) fn saved_len(&self, n: usize) -> usize {
        let kv = self.kv_type();
        self.n_layers() * n * (kv.row_bytes(self.rank) + kv.row_bytes(self.rope))
    }

    /// Units of rows `0..n` of each layer.
    fn runs(&self, n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
        let (layer, len) = (self.n_ctx * self.row(), n * self.row());
        (0..self.n_layers()).map(move |l| l * layer..l * layer + len)
    }

    /// Writes rows `0..n` of every layer as stored (little-endian).
    pub(crate) fn save(&self, n: usize, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        assert!(n <= self.n_ctx, "saving {n} positions of {}", self.n_ctx);
        for r in self.runs(n) {
            out.write_all(self.data.raw(r))?;
        }
        Ok(())
    }

    /// Reads back what [`LatentCache::save`] wrote for rows `0..n`: `data`
    /// is [`LatentCache::saved_len`]`(n)` bytes.
    pub(crate) fn load(&mut self, n: usize, data: &[u8]) {
        assert!(n <= self.n_ctx && data.len() == self.saved_len(n));
        let runs: Vec<_> = self.runs(n).collect();
        let mut at = 0;
        for r in runs {
            let dst = self.data.raw_mut(r);
            dst.copy_from_slice(&data[at..at + dst.len()]);
            at += dst.len();
        }
    }

    /// Stores position `pos` of `layer`: the normalised latent `c` and the
    /// rotated key part `k_pe`.
    pub fn store(&mut self, layer: usize, pos: usize, c: &[f32], k_pe: &[f32]) {
        assert!(c.len() == self.rank && k_pe.len() == self.rope && pos < self.n_ctx);
        let at = (layer * self.n_ctx + pos) * self.row();
        self.data.write(at, c);
        self.data.write(at + self.units.0, k_pe);
    }

    /// Forgets positions `keep..keep + discard` of the first `len` and
    /// moves `keep + discard..len` down to `keep..`, rotating each moved
    /// `k_pe` by `-discard` positions with `rope` (the latent `c` holds no
    /// position and moves as it is); see [`crate::kv_cache::KvCache`]'s
    /// `shift`. `cs` holds `rope.dim()` floats and `row` `rope`.
    ///
    /// # Panics
    /// When `keep + discard > len` or `len > n_ctx` (caller bugs).
    pub(crate) fn shift(
        &mut self,
        rope: &Rope,
        keep: usize,
        discard: usize,
        len: usize,
        cs: &mut [f32],
        row: &mut [f32],
    ) {
        assert!(
            keep + discard <= len && len <= self.n_ctx,
            "shift outside the cache"
        );
        let moved = len - keep - discard;
        if discard == 0 || moved == 0 {
            return;
        }
        rope.cos_sin_delta(-(discard as i64), cs);
        let (w, kpe) = (self.row(), &mut row[..self.rope]);
        for layer in 0..self.n_layers {
            let base = layer * self.n_ctx * w;
            let (from, to) = (base + (keep + discard) * w, base + keep * w);
            self.data.copy_within(from..from + moved * w, to);
            for p in 0..moved {
                let at = to + p * w + self.units.0;
                self.data.slice(at..at + self.units.1).read(0, kpe);
                rope.rotate(kpe, cs);
                self.data.write(at, kpe);
            }
        }
    }

    /// One layer's rows.
    pub fn layer(&self, layer: usize) -> LatentLayer<'_> {
        let n = self.n_ctx * self.row();
        LatentLayer {
            data: self.data.slice(layer * n..(layer + 1) * n),
            rank: self.rank,
            units: self.units,
        }
    }
}

/// One layer of a [`LatentCache`], `(n_ctx, row)`.
#[derive(Clone, Copy)]
pub struct LatentLayer<'a> {
    data: KvSlice<'a>,
    rank: usize,
    units: (usize, usize),
}

impl LatentLayer<'_> {
    /// Row `j` as f32: `c` then `k_pe` (`rank + rope` values into `out`).
    #[inline]
    pub fn read(&self, j: usize, out: &mut [f32]) {
        let at = j * (self.units.0 + self.units.1);
        let (c, kpe) = out.split_at_mut(self.rank);
        self.data.read(at, c);
        self.data.read(at + self.units.0, kpe);
    }
}

/// Sizes of one MLA call.
#[derive(Clone, Copy, Debug)]
pub struct MlaShape {
    pub n_heads: usize,
    /// `qk_nope_head_dim`
    pub nope: usize,
    /// `qk_rope_head_dim`
    pub rope: usize,
    /// `v_head_dim`
    pub v: usize,
    /// `kv_lora_rank`
    pub rank: usize,
    /// Applied to every score.
    pub scale: f32,
}

/// One layer's attention for [`mla_attention`]: sizes and weights.
#[derive(Clone, Copy)]
pub struct Mla<'a> {
    pub shape: MlaShape,
    pub w: Absorb<'a>,
}

/// Where `W_UK` and `W_UV` are.
#[derive(Clone, Copy)]
pub enum Absorb<'a> {
    /// Hugging Face's `kv_b_proj`, `[n_heads * (nope + v), rank]`: head
    /// `h`'s `W_UK_h` rows, then its `W_UV_h` rows. `W_UK_hᵀ q` is summed
    /// over dequantized rows.
    Joint(&'a Tensor),
    /// llama.cpp's split form: `k` is `W_UK_hᵀ` for every head,
    /// `[n_heads * rank, nope]`; `v` is `W_UV`, `[n_heads * v, rank]`.
    Split { k: &'a Tensor, v: &'a Tensor },
}

/// One thread's scratch.
pub struct MlaScratch {
    /// `(n_heads, n_ctx)` scores of the heads in hand.
    scores: Vec<f32>,
    /// `(n_heads, rank)` absorbed queries.
    q_lat: Vec<f32>,
    /// `(n_heads, rank)` attention-weighted latents.
    o_lat: Vec<f32>,
    /// `(rank + rope)` one cache row as f32.
    row: Vec<f32>,
    /// `(rank)` one dequantized weight row.
    wrow: Vec<f32>,
    /// `(max(rank, nope) / 32)` an activation as int8 blocks.
    xq: Vec<BlockQ8A>,
    n_ctx: usize,
}

impl MlaScratch {
    /// Scratch for contexts of up to `n_ctx` positions.
    pub fn new(s: &MlaShape, n_ctx: usize) -> MlaScratch {
        MlaScratch {
            scores: vec![0.0; s.n_heads * n_ctx],
            q_lat: vec![0.0; s.n_heads * s.rank],
            o_lat: vec![0.0; s.n_heads * s.rank],
            row: vec![0.0; s.rank + s.rope],
            wrow: vec![0.0; s.rank],
            xq: vec![BlockQ8A::ZERO; s.rank.max(s.nope).div_ceil(QK)],
            n_ctx,
        }
    }

    /// Bytes [`MlaScratch::new`] allocates.
    pub fn bytes(s: &MlaShape, n_ctx: usize) -> usize {
        4 * (s.n_heads * n_ctx + 2 * s.n_heads * s.rank + 2 * s.rank + s.rope)
            + s.rank.max(s.nope).div_ceil(QK) * std::mem::size_of::<BlockQ8A>()
    }
}

/// `out (n, n_heads * v)`: attention of the `n` queries `q` (`(n, n_heads,
/// nope + rope)`, RoPE applied) at `positions` over cache rows `0..=pos`
/// of `kv`, which must already hold every position in `positions`.
/// `scratch` holds one [`MlaScratch`] per thread.
pub fn mla_attention(
    ctx: &Ctx<'_>,
    mla: Mla<'_>,
    q: &[f32],
    kv: LatentLayer<'_>,
    positions: std::ops::Range<usize>,
    scratch: &[Mutex<MlaScratch>],
    out: &mut [f32],
) {
    let Mla { shape: s, w } = mla;
    let (pos0, n) = (positions.start, positions.len());
    let (nh, qd) = (s.n_heads, s.nope + s.rope);
    let out = &mut out[..n * nh * s.v];
    // Rows are (token, head) pairs; a thread takes the heads of one token
    // in its chunk together, so it reads each cache row once for all.
    par_rows_tid(ctx.pool, out, s.v, 1, |tid, rows, chunk| {
        let mut guard = scratch[tid % scratch.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let sc = &mut *guard;
        let mut r = rows.start;
        while r < rows.end {
            let (t, h0) = (r / nh, r % nh);
            let hn = (nh - h0).min(rows.end - r);
            let pos = pos0 + t;
            let len = pos + 1;
            // Fold W_UK into each head's query.
            for hh in 0..hn {
                let h = h0 + hh;
                let qn = &q[(t * nh + h) * qd..(t * nh + h) * qd + s.nope];
                absorb_query(ctx, &s, w, h, qn, sc, hh);
            }
            // Scores over the latent rows, every head at once.
            for j in 0..len {
                kv.read(j, &mut sc.row);
                let (c, kpe) = sc.row.split_at(s.rank);
                for hh in 0..hn {
                    let qh = &q[(t * nh + h0 + hh) * qd..(t * nh + h0 + hh + 1) * qd];
                    let ql = &sc.q_lat[hh * s.rank..(hh + 1) * s.rank];
                    sc.scores[hh * sc.n_ctx + j] = (dot(ql, c) + dot(&qh[s.nope..], kpe)) * s.scale;
                }
            }
            for hh in 0..hn {
                crate::ops::softmax(&mut sc.scores[hh * sc.n_ctx..hh * sc.n_ctx + len]);
            }
            // Weighted latents.
            sc.o_lat[..hn * s.rank].fill(0.0);
            for j in 0..len {
                kv.read(j, &mut sc.row);
                let c = &sc.row[..s.rank];
                for hh in 0..hn {
                    let p = sc.scores[hh * sc.n_ctx + j];
                    for (a, &b) in sc.o_lat[hh * s.rank..(hh + 1) * s.rank].iter_mut().zip(c) {
                        *a += p * b;
                    }
                }
            }
            // Out of the latent space through W_UV.
            for hh in 0..hn {
                let k = r - rows.start + hh;
                let o = &mut chunk[k * s.v..(k + 1) * s.v];
                expand_value(ctx, &s, w, h0 + hh, sc, hh, o);
            }
            r += hn;
        }
    });
}

/// Bytes of rows `rows` of the 2-D tensor `t`.
fn rows_of<'a>(ctx: &Ctx<'a>, t: &Tensor, rows: std::ops::Range<usize>) -> &'a [u8] {
    let rb = t.row_bytes();
    &ctx.store.bytes(t)[rows.start * rb..rows.end * rb]
}

/// `dst (rows.len()) = W[rows] · x` for a weight tensor in any format;
/// quantized weights take `x` through `xq`.
fn matvec(
    ctx: &Ctx<'_>,
    t: &Tensor,
    rows: std::ops::Range<usize>,
    x: &[f32],
    xq: &mut [BlockQ8A],
    dst: &mut [f32],
) {
    let dtype: DType = t.dtype;
    let w = rows_of(ctx, t, rows);
    let act = if dtype.is_quantized() {
        let xq = &mut xq[..x.len() / QK];
        (ctx.kernels.quantize_act)(x, xq);
        Act::Q8(xq)
    } else {
        Act::F32(x)
    };
    ctx.kernels.matmul(dtype, w, x.len(), act, 1, dst);
}

/// `q_lat[hh] = W_UK_hᵀ q_nope`.
fn absorb_query(
    ctx: &Ctx<'_>,
    s: &MlaShape,
    w: Absorb<'_>,
    h: usize,
    q_nope: &[f32],
    sc: &mut MlaScratch,
    hh: usize,
) {
    let ql = &mut sc.q_lat[hh * s.rank..(hh + 1) * s.rank];
    match w {
        Absorb::Joint(kv_b) => {
            // Σ_i q_nope[i] · W_UK_h[i, :], row by row, in order.
            ql.fill(0.0);
            let base = h * (s.nope + s.v);
            let bytes = rows_of(ctx, kv_b, base..base + s.nope);
            let rb = kv_b.row_bytes();
            for (i, &qi) in q_nope.iter().enumerate() {
                dequantize_row(kv_b.dtype, &bytes[i * rb..(i + 1) * rb], &mut sc.wrow);
                for (a, &b) in ql.iter_mut().zip(&sc.wrow) {
                    *a += qi * b;
                }
            }
        }
        Absorb::Split { k, .. } => {
            matvec(ctx, k, h * s.rank..(h + 1) * s.rank, q_nope, &mut sc.xq, ql);
        }
    }
}

/// `out = W_UV_h o_lat[hh]`.
fn expand_value(
    ctx: &Ctx<'_>,
    s: &MlaShape,
    w: Absorb<'_>,
    h: usize,
    sc: &mut MlaScratch,
    hh: usize,
    out: &mut [f32],
) {
    let (t, rows) = match w {
        Absorb::Joint(kv_b) => {
            let base = h * (s.nope + s.v) + s.nope;
            (kv_b, base..base + s.v)
        }
        Absorb::Split { v, .. } => (v, h * s.v..(h + 1) * s.v),
    };
    let ol = &sc.o_lat[hh * s.rank..(hh + 1) * s.rank];
    matvec(ctx, t, rows, ol, &mut sc.xq, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_rows_round_trip_and_size() {
        for kv in KvType::ALL {
            for (rank, rope) in [(4, 2), (32, 8), (64, 32)] {
                let w = rank + rope;
                let mut c = LatentCache::new(kv, 3, 5, rank, rope);
                assert_eq!(c.byte_len(), LatentCache::bytes(kv, 3, 5, rank, rope));
                let per_row = match kv {
                    KvType::F32 => 4 * w,
                    KvType::F16 => 2 * w,
                    KvType::Q8_0 => 34 * (rank.div_ceil(32) + rope.div_ceil(32)),
                };
                assert_eq!(c.byte_len(), 3 * 5 * per_row);
                let x: Vec<f32> = (0..w).map(|i| i as f32 / w as f32 - 0.5).collect();
                c.store(2, 4, &x[..rank], &x[rank..]);
                let mut row = vec![0f32; w];
                c.layer(2).read(4, &mut row);
                let bound = match kv {
                    KvType::F32 => 0.0,
                    KvType::F16 => 1.0 / 2048.0,
                    KvType::Q8_0 => 0.5 / 127.0 * 0.5 + 1.0 / 2048.0,
                };
                for (a, b) in row.iter().zip(&x) {
                    assert!((a - b).abs() <= bound, "{kv} {rank}+{rope}: {a} {b}");
                }
                c.layer(1).read(4, &mut row);
                assert!(row.iter().all(|&v| v == 0.0));
            }
        }
    }

    /// A shift moves each row's latent bit for bit and rotates its RoPE
    /// key to the new position, to the bounds of the KV cache's own shift
    /// test (`kv_cache::tests`), here on DeepSeek-V2's YaRN frequencies.
    #[test]
    fn a_shift_moves_latents_and_rotates_rope_keys() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        let text = std::fs::read_to_string(dir.join("deepseek_v2/config.json")).unwrap();
        let cfg = crate::ModelConfig::from_hf_json(&text).unwrap();
        let (rank, rope_d, n_ctx, len, keep, discard) = (32, 8, 40, 37, 3, 11);
        let rope = Rope::with_dim(&cfg, rope_d);
        let c_of = |p: usize| -> Vec<f32> {
            (0..rank)
                .map(|i| ((i * 7 + p) as f32 * 0.1).sin())
                .collect()
        };
        let k_of = |p: usize, at: usize| -> Vec<f32> {
            let mut k: Vec<f32> = (0..rope_d)
                .map(|i| ((i + 3 * p) as f32 * 0.3).cos())
                .collect();
            let mut cs = vec![0f32; rope_d];
            rope.cos_sin(at, &mut cs);
            rope.rotate(&mut k, &cs);
            k
        };
        for kv in KvType::ALL {
            let mut cache = LatentCache::new(kv, 2, n_ctx, rank, rope_d);
            let mut fresh = LatentCache::new(kv, 2, n_ctx, rank, rope_d);
            for l in 0..2 {
                for p in 0..len {
                    cache.store(l, p, &c_of(p + l), &k_of(p + l, p));
                }
            }
            let (mut cs, mut row) = (vec![0f32; rope_d], vec![0f32; rope_d]);
            cache.shift(&rope, keep, discard, len, &mut cs, &mut row);
            for l in 0..2 {
                for p in 0..len - discard {
                    let src = if p < keep { p } else { p + discard };
                    fresh.store(l, p, &c_of(src + l), &k_of(src + l, p));
                    let (mut a, mut b) = (vec![0f32; rank + rope_d], vec![0f32; rank + rope_d]);
                    cache.layer(l).read(p, &mut a);
                    fresh.layer(l).read(p, &mut b);
                    assert_eq!(a[..rank], b[..rank], "{kv} latent {p}");
                    let m = b[rank..].iter().fold(0f32, |m, x| m.max(x.abs()));
                    let bound = match kv {
                        KvType::F32 => 4e-6 * m,
                        KvType::F16 => 2.0 * m / 1024.0,
                        KvType::Q8_0 => 2.5 * m / 127.0,
                    };
                    for (x, y) in a[rank..].iter().zip(&b[rank..]) {
                        assert!((x - y).abs() <= bound, "{kv} k_pe {p}: {x} {y}");
                    }
                }
            }
        }
    }
}
