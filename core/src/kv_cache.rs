//! The key/value cache: for every layer, the keys and values of every
//! position so far, preallocated to the session's context length.

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

/// Keys and values: `(n_layers, n_ctx, kv_dim)` each.
pub struct KvCache {
    k: Store,
    v: Store,
    n_ctx: usize,
    kv_dim: usize,
}

impl KvCache {
    /// A zeroed cache.
    pub fn new(kv: KvType, n_layers: usize, n_ctx: usize, kv_dim: usize) -> KvCache {
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
        }
    }

    /// Bytes the cache takes for these dimensions.
    pub fn bytes(kv: KvType, n_layers: usize, n_ctx: usize, kv_dim: usize) -> usize {
        2 * n_layers * n_ctx * kv_dim * kv.size()
    }

    fn at(&self, layer: usize, pos: usize) -> usize {
        (layer * self.n_ctx + pos) * self.kv_dim
    }

    /// Stores the key and value of `pos` in `layer`.
    pub fn store(&mut self, layer: usize, pos: usize, k: &[f32], v: &[f32]) {
        let i = self.at(layer, pos);
        let d = self.kv_dim;
        for (s, x) in [(&mut self.k, k), (&mut self.v, v)] {
            match s {
                Store::F32(b) => b[i..i + d].copy_from_slice(x),
                Store::F16(b) => b[i..i + d].convert_from_f32_slice(x),
            }
        }
    }

    /// A read-only view of one layer.
    pub fn layer(&self, layer: usize) -> LayerKv<'_> {
        let a = self.at(layer, 0);
        let b = a + self.n_ctx * self.kv_dim;
        LayerKv {
            k: self.k.slice(a..b),
            v: self.v.slice(a..b),
            kv_dim: self.kv_dim,
        }
    }
}

/// One layer's keys or values, `(n_ctx, kv_dim)`.
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
    pub kv_dim: usize,
}
