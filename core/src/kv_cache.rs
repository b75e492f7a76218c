//! The key/value cache: for every layer, the keys and values of every
//! position so far, preallocated to the session's context length.

use crate::threads::Parts;
use half::f16;
use half::slice::HalfFloatSliceExt;

/// Element type of the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KvType {
    F32,
    /// Half the memory; keys and values lose about 3 decimal digits, far
    /// below what quantized weights lose.
    #[default]
    F16,
}

impl KvType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            KvType::F32 => 4,
            KvType::F16 => 2,
        }
    }
}

enum Store {
    F32(Vec<f32>),
    F16(Vec<f16>),
}

impl Store {
    fn slice(&self, r: std::ops::Range<usize>) -> KvSlice<'_> {
        match self {
            Store::F32(x) => KvSlice::F32(&x[r]),
            Store::F16(x) => KvSlice::F16(&x[r]),
        }
    }
}

/// Keys and values: `(n_layers, n_kv_heads, n_ctx, head_dim)` each. Head
/// by head, so that a block of one head's positions, the unit of decode
/// attention, is one contiguous run of memory that it prefetches whole
/// (with all heads' rows interleaved, it was every third pair of lines).
pub struct KvCache {
    k: Store,
    v: Store,
    n_ctx: usize,
    kv_dim: usize,
    head_dim: usize,
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
        let n = n_layers * n_ctx * kv_dim;
        let mk = || match kv {
            KvType::F32 => Store::F32(vec![0.0; n]),
            KvType::F16 => Store::F16(vec![f16::ZERO; n]),
        };
        KvCache {
            k: mk(),
            v: mk(),
            n_ctx,
            kv_dim,
            head_dim,
        }
    }

    /// Bytes the cache takes for these dimensions.
    pub fn bytes(kv: KvType, n_layers: usize, n_ctx: usize, kv_dim: usize) -> usize {
        2 * n_layers * n_ctx * kv_dim * kv.size()
    }

    /// Where `layer`'s part of the cache starts.
    fn at(&self, layer: usize) -> usize {
        layer * self.n_ctx * self.kv_dim
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
        fn side(s: &mut Store, r: std::ops::Range<usize>) -> SideParts<'_> {
            match s {
                Store::F32(x) => SideParts::F32(Parts::new(&mut x[r])),
                Store::F16(x) => SideParts::F16(Parts::new(&mut x[r])),
            }
        }
        KvRowWriter {
            k: side(&mut self.k, a..b),
            v: side(&mut self.v, a..b),
            pos,
            n_ctx: self.n_ctx,
            head_dim: self.head_dim,
            n_heads: self.kv_dim / self.head_dim,
        }
    }

    /// Its element type.
    pub fn kv_type(&self) -> KvType {
        match self.k {
            Store::F32(_) => KvType::F32,
            Store::F16(_) => KvType::F16,
        }
    }

    fn n_layers(&self) -> usize {
        let len = match &self.k {
            Store::F32(x) => x.len(),
            Store::F16(x) => x.len(),
        };
        len / (self.n_ctx * self.kv_dim).max(1)
    }

    /// Bytes [`KvCache::save`] writes for positions `0..n`.
    pub(crate) fn saved_len(&self, n: usize) -> usize {
        2 * self.n_layers() * n * self.kv_dim * self.kv_type().size()
    }

    /// Writes positions `0..n` of every layer as stored (keys, then
    /// values; layer by layer, head by head; little-endian elements).
    pub(crate) fn save(&self, n: usize, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        assert!(n <= self.n_ctx, "saving {n} positions of {}", self.n_ctx);
        let d = self.head_dim;
        for side in [&self.k, &self.v] {
            for run in (0..self.n_layers() * self.kv_dim / d).map(|h| h * self.n_ctx * d) {
                let r = run..run + n * d;
                match side {
                    Store::F32(x) => out.write_all(bytemuck::cast_slice(&x[r]))?,
                    Store::F16(x) => out.write_all(bytemuck::cast_slice(&x[r]))?,
                }
            }
        }
        Ok(())
    }

    /// Reads back what [`KvCache::save`] wrote for positions `0..n`:
    /// `data` is [`KvCache::saved_len`]`(n)` bytes.
    pub(crate) fn load(&mut self, n: usize, data: &[u8]) {
        assert!(n <= self.n_ctx && data.len() == self.saved_len(n));
        if n == 0 {
            return;
        }
        let (d, n_ctx) = (self.head_dim, self.n_ctx);
        let runs = self.n_layers() * self.kv_dim / d;
        let mut src = data.chunks_exact(n * d * self.kv_type().size());
        for side in [&mut self.k, &mut self.v] {
            for run in (0..runs).map(|h| h * n_ctx * d) {
                let from = src.next().unwrap_or(&[]);
                let r = run..run + n * d;
                match side {
                    Store::F32(x) => bytemuck::cast_slice_mut(&mut x[r]).copy_from_slice(from),
                    Store::F16(x) => bytemuck::cast_slice_mut(&mut x[r]).copy_from_slice(from),
                }
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
        }
    }
}

/// One layer's keys or values as parts handed out to threads.
enum SideParts<'a> {
    F32(Parts<'a, f32>),
    F16(Parts<'a, f16>),
}

/// Stores one position's key and value heads, from several threads: see
/// [`KvCache::row_writer`].
pub(crate) struct KvRowWriter<'a> {
    k: SideParts<'a>,
    v: SideParts<'a>,
    pos: usize,
    n_ctx: usize,
    head_dim: usize,
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
            let at = ((h0 + g) * self.n_ctx + self.pos) * d;
            // SAFETY: head `h0 + g` of this side is this caller's alone
            // (its contract), and each head's row is its own span.
            unsafe {
                match side {
                    SideParts::F32(p) => p.part(at..at + d).copy_from_slice(src),
                    SideParts::F16(p) => p.part(at..at + d).convert_from_f32_slice(src),
                }
            }
        }
    }
}

/// One layer's keys or values, `(n_kv_heads, n_ctx, head_dim)`.
#[derive(Clone, Copy)]
pub enum KvSlice<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
}

impl KvSlice<'_> {
    /// Copies `len` values starting at `off` into `out` as f32.
    #[inline]
    pub fn read(&self, off: usize, out: &mut [f32]) {
        match self {
            KvSlice::F32(x) => out.copy_from_slice(&x[off..off + out.len()]),
            KvSlice::F16(x) => x[off..off + out.len()].convert_to_f32_slice(out),
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
}

impl LayerKv<'_> {
    /// Where position `pos` of key/value head `head` starts in `k` and
    /// `v`; the head's positions follow each other `head_dim` apart.
    #[inline]
    pub fn offset(&self, head: usize, pos: usize) -> usize {
        (head * self.n_ctx + pos) * self.head_dim
    }
}
