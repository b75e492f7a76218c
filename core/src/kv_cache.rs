//! The key/value cache: for every layer, the keys and values of every
//! position so far, preallocated to the session's context length.

use crate::ops::rope::Rope;
use crate::threads::Parts;
use half::f16;
use half::slice::HalfFloatSliceExt;
use minke_quant::{BlockQ8_0, QK};

/// Element type of the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KvType {
    F32,
    /// Half the memory; keys and values lose about 3 decimal digits, far
    /// below what quantized weights lose.
    #[default]
    F16,
    /// ggml's Q8_0: blocks of 32 int8 values with an f16 scale, 34 bytes
    /// per 32 values (0.53 of f16). Each head's row is quantized on its
    /// own, its last block padded when the head is not a multiple of 32
    /// wide. Keys and values keep about 2 decimal digits of their block's
    /// largest value.
    Q8_0,
}

impl KvType {
    /// Every type, for tests and option lists.
    pub const ALL: [KvType; 3] = [KvType::F32, KvType::F16, KvType::Q8_0];

    /// Bytes a cached row of `d` values takes (for Q8_0, whole blocks).
    pub fn row_bytes(self, d: usize) -> usize {
        match self {
            KvType::F32 => 4 * d,
            KvType::F16 => 2 * d,
            KvType::Q8_0 => d.div_ceil(QK) * std::mem::size_of::<BlockQ8_0>(),
        }
    }

    /// Storage units (floats, or blocks for Q8_0) of a row of `d` values.
    pub(crate) fn row_units(self, d: usize) -> usize {
        match self {
            KvType::F32 | KvType::F16 => d,
            KvType::Q8_0 => d.div_ceil(QK),
        }
    }

    /// The lower-case name (`f32`, `f16`, `q8_0`), as options spell it.
    pub fn name(self) -> &'static str {
        match self {
            KvType::F32 => "f32",
            KvType::F16 => "f16",
            KvType::Q8_0 => "q8_0",
        }
    }

    /// Parses a name as [`KvType::name`] gives it (case-insensitive).
    pub fn parse(s: &str) -> Option<KvType> {
        KvType::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s.trim()))
    }
}

impl std::fmt::Display for KvType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Quantizes `src` into `dst.len()` blocks: 32 values a block, the last
/// one zero-padded (`src.len() <= 32 * dst.len()`).
pub(crate) fn quantize_q8_0(src: &[f32], dst: &mut [BlockQ8_0]) {
    debug_assert!(src.len() <= dst.len() * QK);
    for (b, x) in dst.iter_mut().zip(src.chunks(QK)) {
        let mut v = [0f32; QK];
        v[..x.len()].copy_from_slice(x);
        *b = BlockQ8_0::quantize(&v);
    }
}

/// Dequantizes the first `out.len()` values of `src`.
pub(crate) fn dequantize_q8_0(src: &[BlockQ8_0], out: &mut [f32]) {
    for (o, b) in out.chunks_mut(QK).zip(src) {
        let d = b.d.to_f32();
        for (x, &q) in o.iter_mut().zip(&b.qs) {
            *x = q as f32 * d;
        }
    }
}

/// One buffer of the cache in its element type.
pub(crate) enum Store {
    F32(Vec<f32>),
    F16(Vec<f16>),
    Q8_0(Vec<BlockQ8_0>),
}

impl Store {
    /// `n` zeroed units of `kv`.
    pub(crate) fn zeros(kv: KvType, n: usize) -> Store {
        match kv {
            KvType::F32 => Store::F32(vec![0.0; n]),
            KvType::F16 => Store::F16(vec![f16::ZERO; n]),
            KvType::Q8_0 => Store::Q8_0(vec![
                BlockQ8_0 {
                    d: f16::ZERO,
                    qs: [0; QK]
                };
                n
            ]),
        }
    }

    pub(crate) fn slice(&self, r: std::ops::Range<usize>) -> KvSlice<'_> {
        match self {
            Store::F32(x) => KvSlice::F32(&x[r]),
            Store::F16(x) => KvSlice::F16(&x[r]),
            Store::Q8_0(x) => KvSlice::Q8_0(&x[r]),
        }
    }

    /// Its element type.
    pub(crate) fn kv_type(&self) -> KvType {
        match self {
            Store::F32(_) => KvType::F32,
            Store::F16(_) => KvType::F16,
            Store::Q8_0(_) => KvType::Q8_0,
        }
    }

    /// Units (floats or blocks) it holds.
    pub(crate) fn units(&self) -> usize {
        match self {
            Store::F32(x) => x.len(),
            Store::F16(x) => x.len(),
            Store::Q8_0(x) => x.len(),
        }
    }

    /// Units `r` as stored, in bytes (little-endian elements).
    pub(crate) fn raw(&self, r: std::ops::Range<usize>) -> &[u8] {
        match self {
            Store::F32(x) => bytemuck::cast_slice(&x[r]),
            Store::F16(x) => bytemuck::cast_slice(&x[r]),
            Store::Q8_0(x) => bytemuck::cast_slice(&x[r]),
        }
    }

    /// Units `r`, to overwrite with bytes [`Store::raw`] gave.
    pub(crate) fn raw_mut(&mut self, r: std::ops::Range<usize>) -> &mut [u8] {
        match self {
            Store::F32(x) => bytemuck::cast_slice_mut(&mut x[r]),
            Store::F16(x) => bytemuck::cast_slice_mut(&mut x[r]),
            Store::Q8_0(x) => bytemuck::cast_slice_mut(&mut x[r]),
        }
    }

    /// Bytes it holds.
    pub(crate) fn byte_len(&self) -> usize {
        match self {
            Store::F32(x) => std::mem::size_of_val(x.as_slice()),
            Store::F16(x) => std::mem::size_of_val(x.as_slice()),
            Store::Q8_0(x) => std::mem::size_of_val(x.as_slice()),
        }
    }

    /// Moves units `src` to start at `dst` (the ranges may overlap).
    pub(crate) fn copy_within(&mut self, src: std::ops::Range<usize>, dst: usize) {
        match self {
            Store::F32(s) => s.copy_within(src, dst),
            Store::F16(s) => s.copy_within(src, dst),
            Store::Q8_0(s) => s.copy_within(src, dst),
        }
    }

    /// Writes `x` (its own row of `x.len()` values) as units `at..` of
    /// one row.
    pub(crate) fn write(&mut self, at: usize, x: &[f32]) {
        match self {
            Store::F32(s) => s[at..at + x.len()].copy_from_slice(x),
            Store::F16(s) => s[at..at + x.len()].convert_from_f32_slice(x),
            Store::Q8_0(s) => quantize_q8_0(x, &mut s[at..at + x.len().div_ceil(QK)]),
        }
    }
}

/// Keys and values: `(n_layers, n_kv_heads, n_ctx, row)` each, a row being
/// `head_dim` floats, or `head_dim / 32` blocks (rounded up) for Q8_0.
/// Head by head, so that a block of one head's positions, the unit of
/// decode attention, is one contiguous run of memory that it prefetches
/// whole (with all heads' rows interleaved, it was every third pair of
/// lines).
pub struct KvCache {
    k: Store,
    v: Store,
    n_layers: usize,
    n_ctx: usize,
    kv_dim: usize,
    head_dim: usize,
    /// Units per row (see [`KvType::row_units`]).
    row: usize,
}

impl KvCache {
    /// A zeroed cache for heads of `head_dim` values (`kv_dim` is a
    /// multiple of it).
    pub fn new(
        kv: KvType,
        n_layers: usize,
        n_ctx: usize,
        kv_dim: usize,
        head_dim: usize,
    ) -> KvCache {
        assert!(
            head_dim > 0 && kv_dim % head_dim == 0,
            "kv_dim {kv_dim} is not a whole number of heads of {head_dim}"
        );
        let row = kv.row_units(head_dim);
        let n = n_layers * n_ctx * (kv_dim / head_dim) * row;
        KvCache {
            k: Store::zeros(kv, n),
            v: Store::zeros(kv, n),
            n_layers,
            n_ctx,
            kv_dim,
            head_dim,
            row,
        }
    }

    /// Bytes the cache takes for these dimensions (heads of `head_dim`).
    pub fn bytes(
        kv: KvType,
        n_layers: usize,
        n_ctx: usize,
        kv_dim: usize,
        head_dim: usize,
    ) -> usize {
        2 * n_layers * n_ctx * (kv_dim / head_dim.max(1)) * kv.row_bytes(head_dim)
    }

    /// Bytes this cache holds.
    pub fn byte_len(&self) -> usize {
        self.k.byte_len() + self.v.byte_len()
    }

    fn n_heads(&self) -> usize {
        self.kv_dim / self.head_dim
    }

    /// Units of one layer.
    fn layer_len(&self) -> usize {
        self.n_ctx * self.n_heads() * self.row
    }

    /// Where `layer`'s part of the cache starts.
    fn at(&self, layer: usize) -> usize {
        layer * self.layer_len()
    }

    /// Stores the key and value of `pos` in `layer` (`kv_dim` values each,
    /// head after head).
    pub fn store(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        assert!(k.len() == self.kv_dim && v.len() == self.kv_dim);
        let w = self.row_writer(layer, pos);
        // SAFETY: one call per side, each storing every head once.
        unsafe {
            w.put(false, 0, k);
            w.put(true, 0, v);
        }
    }

    /// A writer for the key and value of `pos` in `layer` that the pool's
    /// threads share, each storing the heads it computed.
    pub(crate) fn row_writer(&mut self, layer: usize, pos: usize) -> KvRowWriter<'_> {
        assert!(
            pos < self.n_ctx,
            "position {pos} outside a cache of {}",
            self.n_ctx
        );
        let (a, b) = (self.at(layer), self.at(layer + 1));
        let n_heads = self.n_heads();
        fn side(s: &mut Store, r: std::ops::Range<usize>) -> SideParts<'_> {
            match s {
                Store::F32(x) => SideParts::F32(Parts::new(&mut x[r])),
                Store::F16(x) => SideParts::F16(Parts::new(&mut x[r])),
                Store::Q8_0(x) => SideParts::Q8_0(Parts::new(&mut x[r])),
            }
        }
        KvRowWriter {
            k: side(&mut self.k, a..b),
            v: side(&mut self.v, a..b),
            pos,
            n_ctx: self.n_ctx,
            head_dim: self.head_dim,
            row: self.row,
            n_heads,
        }
    }

    /// Its element type.
    pub fn kv_type(&self) -> KvType {
        self.k.kv_type()
    }

    fn n_layers(&self) -> usize {
        self.k.units() / self.layer_len().max(1)
    }

    /// Units of positions `0..n` of each head of each layer, where they
    /// start: one run per `(layer, head)`.
    fn runs(&self, n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
        let per_head = self.n_ctx * self.row;
        let len = n * self.row;
        (0..self.n_layers() * self.n_heads()).map(move |h| h * per_head..h * per_head + len)
    }

    /// Bytes [`KvCache::save`] writes for positions `0..n`.
    pub(crate) fn saved_len(&self, n: usize) -> usize {
        2 * self.n_layers() * self.n_heads() * n * self.kv_type().row_bytes(self.head_dim)
    }

    /// Writes positions `0..n` of every layer as stored (keys, then
    /// values; layer by layer, head by head; little-endian elements).
    pub(crate) fn save(&self, n: usize, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        assert!(n <= self.n_ctx, "saving {n} positions of {}", self.n_ctx);
        for side in [&self.k, &self.v] {
            for r in self.runs(n) {
                out.write_all(side.raw(r))?;
            }
        }
        Ok(())
    }

    /// Reads back what [`KvCache::save`] wrote for positions `0..n`:
    /// `data` is [`KvCache::saved_len`]`(n)` bytes.
    pub(crate) fn load(&mut self, n: usize, data: &[u8]) {
        assert!(n <= self.n_ctx && data.len() == self.saved_len(n));
        let runs: Vec<_> = self.runs(n).collect();
        let mut at = 0;
        for side in [&mut self.k, &mut self.v] {
            for r in &runs {
                let dst = side.raw_mut(r.clone());
                dst.copy_from_slice(&data[at..at + dst.len()]);
                at += dst.len();
            }
        }
    }

    /// Forgets positions `keep..keep + discard` of the first `len` and
    /// moves `keep + discard..len` down to `keep..`, rotating each moved
    /// key by `-discard` positions with `rope` (values move as they are).
    /// Keys are read as f32, rotated and stored again: an f16 or Q8_0 key
    /// takes its format's rounding once more. `cs` holds `rope.dim()`
    /// floats and `row` `head_dim`, for scratch.
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
        let (r, d) = (self.row, self.head_dim);
        let row = &mut row[..d];
        for lh in 0..self.n_layers * self.n_heads() {
            // Head `lh % n_heads` of layer `lh / n_heads`: its positions
            // are one run.
            let base = lh * self.n_ctx * r;
            let (from, to) = (base + (keep + discard) * r, base + keep * r);
            self.k.copy_within(from..from + moved * r, to);
            self.v.copy_within(from..from + moved * r, to);
            for p in 0..moved {
                let at = to + p * r;
                self.k.slice(at..at + r).read(0, row);
                rope.rotate(row, cs);
                self.k.write(at, row);
            }
        }
    }

    /// A read-only view of one layer.
    pub fn layer(&self, layer: usize) -> LayerKv<'_> {
        let (a, b) = (self.at(layer), self.at(layer + 1));
        LayerKv {
            k: self.k.slice(a..b),
            v: self.v.slice(a..b),
            n_ctx: self.n_ctx,
            head_dim: self.head_dim,
            row: self.row,
        }
    }
}

/// One layer's keys or values as parts handed out to threads.
enum SideParts<'a> {
    F32(Parts<'a, f32>),
    F16(Parts<'a, f16>),
    Q8_0(Parts<'a, BlockQ8_0>),
}

/// Stores one position's key and value heads, from several threads: see
/// [`KvCache::row_writer`].
pub(crate) struct KvRowWriter<'a> {
    k: SideParts<'a>,
    v: SideParts<'a>,
    pos: usize,
    n_ctx: usize,
    head_dim: usize,
    row: usize,
    n_heads: usize,
}

impl KvRowWriter<'_> {
    /// Stores heads `h0..h0 + x.len() / head_dim` of the key (`value`
    /// false) or value (`value` true).
    ///
    /// # Safety
    /// No two calls while the writer lives may store the same head of the
    /// same side.
    pub(crate) unsafe fn put(&self, value: bool, h0: usize, x: &[f32]) {
        let d = self.head_dim;
        assert!(
            x.len() % d == 0 && h0 + x.len() / d <= self.n_heads,
            "heads outside the cache"
        );
        let side = if value { &self.v } else { &self.k };
        for (g, src) in x.chunks_exact(d).enumerate() {
            let at = ((h0 + g) * self.n_ctx + self.pos) * self.row;
            let span = at..at + self.row;
            // SAFETY: head `h0 + g` of this side is this caller's alone
            // (its contract), and each head's row is its own span.
            unsafe {
                match side {
                    SideParts::F32(p) => p.part(span).copy_from_slice(src),
                    SideParts::F16(p) => p.part(span).convert_from_f32_slice(src),
                    SideParts::Q8_0(p) => quantize_q8_0(src, p.part(span)),
                }
            }
        }
    }
}

/// One layer's keys or values, `(n_kv_heads, n_ctx, row)`.
#[derive(Clone, Copy)]
pub enum KvSlice<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    /// Rows of whole blocks.
    Q8_0(&'a [BlockQ8_0]),
}

impl KvSlice<'_> {
    /// Copies the `out.len()` values of the row that starts at unit `off`
    /// into `out` as f32 (for Q8_0, `off` counts blocks).
    #[inline]
    pub fn read(&self, off: usize, out: &mut [f32]) {
        match self {
            KvSlice::F32(x) => out.copy_from_slice(&x[off..off + out.len()]),
            KvSlice::F16(x) => x[off..off + out.len()].convert_to_f32_slice(out),
            KvSlice::Q8_0(x) => dequantize_q8_0(&x[off..off + out.len().div_ceil(QK)], out),
        }
    }
}

/// One layer's cache.
#[derive(Clone, Copy)]
pub struct LayerKv<'a> {
    pub k: KvSlice<'a>,
    pub v: KvSlice<'a>,
    pub n_ctx: usize,
    pub head_dim: usize,
    /// Units (floats, or Q8_0 blocks) per row.
    pub row: usize,
}

impl LayerKv<'_> {
    /// Where position `pos` of key/value head `head` starts in `k` and
    /// `v`, in units; the head's positions follow each other `row` apart.
    #[inline]
    pub fn offset(&self, head: usize, pos: usize) -> usize {
        (head * self.n_ctx + pos) * self.row
    }

    /// The key (`value` false) or value of `head` at `pos`, as f32
    /// (`head_dim` values into `out`).
    pub fn read(&self, value: bool, head: usize, pos: usize, out: &mut [f32]) {
        let side = if value { self.v } else { self.k };
        side.read(self.offset(head, pos), &mut out[..self.head_dim]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_bytes_are_exact() {
        for kv in KvType::ALL {
            for head_dim in [16, 32, 40, 64] {
                let (layers, ctx, heads) = (3, 5, 2);
                let kvd = heads * head_dim;
                let mut c = KvCache::new(kv, layers, ctx, kvd, head_dim);
                assert_eq!(
                    c.byte_len(),
                    KvCache::bytes(kv, layers, ctx, kvd, head_dim),
                    "{kv} {head_dim}"
                );
                let k: Vec<f32> = (0..kvd).map(|i| (i as f32 * 0.37).sin()).collect();
                let v: Vec<f32> = (0..kvd).map(|i| (i as f32 * 0.11).cos()).collect();
                c.store(2, 4, &k, &v);
                let bound = match kv {
                    KvType::F32 => 0.0,
                    KvType::F16 => 1.0 / 2048.0,
                    // Half a step of 1/127 of the block's largest value (1).
                    KvType::Q8_0 => 0.5 / 127.0 + 1.0 / 2048.0,
                };
                let mut row = vec![0f32; head_dim];
                for h in 0..heads {
                    for (value, want) in [(false, &k), (true, &v)] {
                        c.layer(2).read(value, h, 4, &mut row);
                        for (a, b) in row.iter().zip(&want[h * head_dim..]) {
                            assert!((a - b).abs() <= bound, "{kv} {head_dim}: {a} {b}");
                        }
                        c.layer(1).read(value, h, 4, &mut row);
                        assert!(row.iter().all(|&x| x == 0.0));
                    }
                }
            }
        }
    }

    fn fixture_config(case: &str) -> crate::ModelConfig {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        let text = std::fs::read_to_string(dir.join(case).join("config.json")).unwrap();
        crate::ModelConfig::from_hf_json(&text).unwrap()
    }

    /// After a shift, the moved keys are the keys a store at their new
    /// positions would hold, to the format's rounding. Against a fresh
    /// store, a shifted key has been rounded twice (stored, then stored
    /// again rotated) and the fresh one once: three roundings of half a
    /// step, the first carried through the rotation, which moves an error
    /// within its pair (norm kept, so by up to √2 in one element). With `m`
    /// the row's largest value: f32 a few ulp of `m`; f16 (step at most
    /// `m / 1024`) within `2 m / 1024`; Q8_0, whose block step is at most
    /// `√2 m / 127` (a rotation can move a pair's whole norm into one
    /// element), within `(√2/2 + 1) · √2 m / 127 < 2.5 m / 127`. Values move
    /// bit for bit, and the kept prefix is untouched.
    #[test]
    fn a_shift_moves_rows_and_rotates_keys_to_their_new_positions() {
        let cfg = fixture_config("llama3_rope");
        for kv in KvType::ALL {
            for d in [16, 40, 64] {
                let rope = Rope::with_dim(&cfg, d);
                let (layers, heads, n_ctx, len) = (2, 2, 64, 60);
                let kvd = heads * d;
                let (keep, discard) = (5, 17);
                // Raw (unrotated) keys and values of position `p`.
                let raw = |p: usize, salt: f32| -> Vec<f32> {
                    (0..kvd)
                        .map(|i| ((i as f32 + 1.0) * (p as f32 + salt) * 0.013).sin() * 2.0)
                        .collect()
                };
                // Layer `l`'s key of position `p`, rotated to `p`.
                let rotated = |p: usize, l: usize| {
                    let mut k = raw(p + l, 0.5);
                    let mut cs = vec![0f32; d];
                    rope.cos_sin(p, &mut cs);
                    rope.rotate(&mut k, &cs);
                    k
                };
                let mut c = KvCache::new(kv, layers, n_ctx, kvd, d);
                for l in 0..layers {
                    for p in 0..len {
                        c.store(l, p, &rotated(p, l), &raw(p + l, 7.0));
                    }
                }
                let before: Vec<Vec<f32>> = (0..len)
                    .map(|p| {
                        let mut r = vec![0f32; d];
                        c.layer(1).read(true, 1, p, &mut r);
                        r
                    })
                    .collect();
                let (mut cs, mut row) = (vec![0f32; d], vec![0f32; d]);
                c.shift(&rope, keep, discard, len, &mut cs, &mut row);
                // The same keys stored directly at their new positions.
                let mut fresh = KvCache::new(kv, layers, n_ctx, kvd, d);
                let mut worst = 0f32;
                for l in 0..layers {
                    for p in 0..len - discard {
                        let src = if p < keep { p } else { p + discard };
                        let mut k = raw(src + l, 0.5);
                        let mut cs = vec![0f32; d];
                        rope.cos_sin(p, &mut cs);
                        rope.rotate(&mut k, &cs);
                        fresh.store(l, p, &k, &raw(src + l, 7.0));
                        for h in 0..heads {
                            let (mut a, mut b) = (vec![0f32; d], vec![0f32; d]);
                            c.layer(l).read(false, h, p, &mut a);
                            fresh.layer(l).read(false, h, p, &mut b);
                            let max = b.iter().fold(0f32, |m, x| m.max(x.abs()));
                            let bound = match kv {
                                KvType::F32 => 4e-6 * max,
                                KvType::F16 => 2.0 * max / 1024.0,
                                KvType::Q8_0 => 2.5 * max / 127.0,
                            };
                            for (x, y) in a.iter().zip(&b) {
                                worst = worst.max((x - y).abs() / max);
                                assert!((x - y).abs() <= bound, "{kv} d={d} p={p}: {x} {y}");
                            }
                            if p < keep && h == 0 {
                                // The prefix was not rewritten.
                                let mut k0 = rotated(p, l);
                                let mut kept = KvCache::new(kv, 1, 1, kvd, d);
                                kept.store(0, 0, &k0, &k0.clone());
                                kept.layer(0).read(false, 0, 0, &mut k0[..d]);
                                assert_eq!(a, k0[..d], "{kv} d={d} prefix {p}");
                            }
                        }
                        let mut v = vec![0f32; d];
                        c.layer(1).read(true, 1, p, &mut v);
                        if l == 1 {
                            assert_eq!(v, before[src], "{kv} d={d} value {p}");
                        }
                    }
                }
                eprintln!("{kv} d={d}: worst key error {worst:.2e} of the row's largest value");
            }
        }
    }

    #[test]
    fn names_parse_back() {
        for kv in KvType::ALL {
            assert_eq!(KvType::parse(kv.name()), Some(kv));
            assert_eq!(KvType::parse(&kv.name().to_uppercase()), Some(kv));
        }
        assert_eq!(KvType::parse("q4_0"), None);
        assert_eq!(KvType::Q8_0.row_bytes(64), 68);
        assert_eq!(KvType::Q8_0.row_bytes(40), 68);
        assert_eq!(KvType::F16.row_bytes(64), 128);
    }
}
