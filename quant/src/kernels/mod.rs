//! Dot-product kernels: one weight row (any [`DType`]) against one activation
//! row, and the row-range and small-batch products built on them.
//!
//! A [`Kernels`] table holds one function pointer per format; [`Kernels::get`]
//! picks the best table for this CPU once (or the one `MINKE_ISA` names) and
//! callers keep the `&'static` it returns.

#[cfg(target_arch = "aarch64")]
mod aarch64;
pub mod dispatch;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod lanes;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod lanes_q8_0;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod rows;
pub mod scalar;
#[cfg(target_arch = "x86_64")]
mod x86_64;

pub use dispatch::{Isa, IsaError};

use crate::{BlockQ8A, BlockQ8_0, DType, QK};
use half::f16;

/// One activation row (or `n` rows, back to back) in the form a weight
/// format's dot product takes: f32 for float weights, [`BlockQ8A`] for
/// quantized ones (see [`DType::is_quantized`]).
#[derive(Clone, Copy, Debug)]
pub enum Act<'a> {
    F32(&'a [f32]),
    Q8(&'a [BlockQ8A]),
}

impl<'a> Act<'a> {
    /// The int8 blocks, if that is the kind.
    pub fn q8(self) -> Option<&'a [BlockQ8A]> {
        match self {
            Act::Q8(x) => Some(x),
            Act::F32(_) => None,
        }
    }
}

/// `w` is one weight row of `k` elements (`dtype.row_bytes(k)` bytes), `x`
/// the matching activation row; returns their dot product.
pub type VecDotF32 = fn(w: &[u8], x: &[f32]) -> f32;
/// As [`VecDotF32`], for quantized weights against int8 activation blocks.
pub type VecDotQ8 = fn(w: &[u8], x: &[BlockQ8A]) -> f32;
/// The block product behind [`Kernels::matmul`] for quantized weights: `w`
/// holds `rows = out.len() / n` weight rows of `nb = x.len() / n` blocks each,
/// `x` holds `n` activation rows of `nb` blocks back to back, and
/// `out[r * n + t] = W[r] · x[t]` (layout `(rows, n)`).
///
/// SIMD sets tile this so that each weight block is loaded once for several
/// activation rows (prompt processing) and several weight rows share each
/// activation load (decoding, `n == 1`).
pub type MatmulQ8 = fn(w: &[u8], x: &[BlockQ8A], n: usize, out: &mut [f32]);
/// The product of an interleaved format ([`crate::formats::x16`]), written
/// through strides: `w` holds `rows` weight rows (whole groups of 16) of
/// `nb = x.len() / n` blocks, `x` holds `n` activation rows, and
/// `W[r] · x[t]` goes to `out + r * rs + t * ts`. With `rs = n, ts = 1`
/// that is [`MatmulQ8`]'s `(rows, n)`; with `rs = 1, ts = ld` it is
/// token-major, the layout of the layer's output, so a batch needs no
/// transposition afterwards.
///
/// # Safety
/// `nb > 0`, `w.len()` a whole number of `nb`-block groups, and every
/// `out + r * rs + t * ts` (`r < rows`, `t < n`) valid for writes that
/// nothing else reads or writes during the call.
pub type MatmulX16 =
    unsafe fn(w: &[u8], x: &[BlockQ8A], n: usize, out: *mut f32, rs: usize, ts: usize);

/// Rows of an f16 key or value cache that attention reads: row `j < len`
/// is `data[j * stride..j * stride + d]`.
#[derive(Clone, Copy, Debug)]
pub struct KvRows<'a> {
    pub data: &'a [f16],
    pub stride: usize,
    pub len: usize,
    pub d: usize,
}

impl KvRows<'_> {
    /// Asks the CPU to start loading every row into its L2 cache (a hint:
    /// no effect on results, nothing on targets without a prefetch
    /// instruction). Decode attention reads a head's rows once per token,
    /// long after the weights have pushed them out of every cache; issued
    /// a few microseconds before the rows are read, the loads overlap
    /// instead of waiting on each other, and a head's scores and values
    /// took 40% less time on the Zen 4 machine this was measured on.
    ///
    /// L2, not L1: a block's keys and values (40 KB for 160 positions of
    /// SmolLM2's heads) do not fit a 32 KB L1, and loading them there
    /// pushed out the lines read first. With L2, SmolLM2's decode
    /// attention on 2 threads took 19-25% less time (rdtsc medians of 8
    /// and 12 runs, Q4_0 and Q8_0); keys to L1 and the next block to L2
    /// was 8% slower than all to L2.
    pub fn prefetch(&self) {
        if self.len == 0 || self.d == 0 {
            return;
        }
        let line = 64 / std::mem::size_of::<f16>();
        if self.stride == self.d {
            let n = ((self.len - 1) * self.stride + self.d).min(self.data.len());
            prefetch(&self.data[..n]);
        } else {
            for j in 0..self.len {
                let row = j * self.stride;
                for i in (row..(row + self.d).min(self.data.len())).step_by(line) {
                    prefetch_line(&self.data[i]);
                }
            }
        }
    }
}

/// Rows of a Q8_0 key or value cache that attention reads: row `j < len`
/// is the `d.div_ceil(32)` blocks from `data[j * stride]` (`stride` in
/// blocks), holding `d` values. When `d` is not a multiple of 32 the
/// row's last block holds `d % 32` values and padding, which the kernels
/// read (the block is whole) but never count.
#[derive(Clone, Copy, Debug)]
pub struct KvRowsQ8<'a> {
    pub data: &'a [BlockQ8_0],
    pub stride: usize,
    pub len: usize,
    pub d: usize,
}

impl KvRowsQ8<'_> {
    /// Blocks per row.
    pub fn blocks(&self) -> usize {
        self.d.div_ceil(QK)
    }

    /// As [`KvRows::prefetch`]: asks for every row's blocks in L2.
    pub fn prefetch(&self) {
        if self.len == 0 || self.d == 0 {
            return;
        }
        let nb = self.blocks();
        if self.stride == nb {
            let n = ((self.len - 1) * self.stride + nb).min(self.data.len());
            prefetch(bytemuck::cast_slice::<BlockQ8_0, u8>(&self.data[..n]));
        } else {
            for j in 0..self.len {
                let row = j * self.stride;
                let end = (row + nb).min(self.data.len());
                prefetch(bytemuck::cast_slice::<BlockQ8_0, u8>(&self.data[row..end]));
            }
        }
    }
}

/// What the checked frames below need to know of a set of cache rows.
/// (Only the SIMD kernels read `len` and `d`: targets without them, such
/// as 32-bit ARM, build the scalar ones alone.)
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) trait CacheRows: Copy {
    /// Rows.
    fn len(&self) -> usize;
    /// Values per row.
    fn d(&self) -> usize;
    /// Checks that every row lies inside the slice (a caller bug
    /// otherwise).
    ///
    /// # Panics
    /// When a row would run past the end of the slice.
    fn check(&self);
}

/// `(len - 1) * stride + row` fits in `have` (or there are no rows).
fn rows_fit(len: usize, stride: usize, row: usize, have: usize) -> bool {
    len == 0
        || (len - 1)
            .checked_mul(stride)
            .and_then(|a| a.checked_add(row))
            .is_some_and(|e| e <= have)
}

impl CacheRows for KvRows<'_> {
    fn len(&self) -> usize {
        self.len
    }
    fn d(&self) -> usize {
        self.d
    }
    fn check(&self) {
        assert!(
            rows_fit(self.len, self.stride, self.d, self.data.len()),
            "KV rows outside the cache slice"
        );
    }
}

impl CacheRows for KvRowsQ8<'_> {
    fn len(&self) -> usize {
        self.len
    }
    fn d(&self) -> usize {
        self.d
    }
    fn check(&self) {
        assert!(
            rows_fit(self.len, self.stride, self.blocks(), self.data.len()),
            "KV rows outside the cache slice"
        );
    }
}

/// The frame of every SIMD attention-score kernel ([`AttnScoresF16`],
/// [`AttnScoresQ8`]): checks that the key rows lie inside their slice and
/// that `out` holds every score, returns at once when there is nothing to
/// compute, and calls `simd(q, nq, k, scale, out, os)` with the number of
/// query rows `nq` otherwise.
///
/// # Panics
/// When a key row or a score would fall outside its slice.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) fn attn_scores_checked<R: CacheRows>(
    q: &[f32],
    k: R,
    scale: f32,
    out: &mut [f32],
    os: usize,
    simd: impl FnOnce(&[f32], usize, R, f32, &mut [f32], usize),
) {
    k.check();
    let d = k.d();
    if d == 0 || k.len() == 0 || q.len() < d {
        return;
    }
    let nq = q.len() / d;
    assert!(
        (nq - 1)
            .checked_mul(os)
            .and_then(|a| a.checked_add(k.len()))
            .is_some_and(|e| e <= out.len()),
        "attention score output too small"
    );
    simd(q, nq, k, scale, out, os)
}

/// The frame of every SIMD attention-value kernel ([`AttnValuesF16`],
/// [`AttnValuesQ8`]), as [`attn_scores_checked`]: checks that the value
/// rows lie inside their slice and that `p` holds every probability, then
/// calls `simd(p, ps, v, nq, out)` with the number of query rows
/// `nq = out.len() / d`.
///
/// # Panics
/// When a value row or a probability would fall outside its slice.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) fn attn_values_checked<R: CacheRows>(
    p: &[f32],
    ps: usize,
    v: R,
    out: &mut [f32],
    simd: impl FnOnce(&[f32], usize, R, usize, &mut [f32]),
) {
    v.check();
    let d = v.d();
    if d == 0 || out.len() < d {
        return;
    }
    let nq = out.len() / d;
    if v.len() > 0 {
        assert!(
            (nq - 1)
                .checked_mul(ps)
                .and_then(|a| a.checked_add(v.len()))
                .is_some_and(|e| e <= p.len()),
            "attention probabilities too short"
        );
    }
    simd(p, ps, v, nq, out)
}

/// Hints that `data` will be read soon: asks for each of its cache lines
/// in L2 (no effect on results; nothing on targets without a prefetch
/// instruction). For small vectors read between streaming jobs, such as a
/// layer's norm weights, which the weights streamed since their last use
/// have pushed out of every cache.
pub fn prefetch<T>(data: &[T]) {
    let step = (64 / std::mem::size_of::<T>().max(1)).max(1);
    for x in data.iter().step_by(step) {
        prefetch_line(x);
    }
}

/// Hints that the cache line holding `x` will be read soon, into L2.
#[inline(always)]
fn prefetch_line<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults and reads nothing the
    // program can observe; `x` is a valid reference anyway. SSE is part of
    // the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(
            (x as *const T).cast(),
        )
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `prfm` is a hint that never faults and writes nothing; `x` is
    // a valid reference anyway.
    unsafe {
        std::arch::asm!(
            "prfm pldl2keep, [{p}]",
            p = in(reg) x as *const T,
            options(nostack, readonly, preserves_flags)
        )
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let _ = x;
}

/// Attention scores: `out[i * os + j] = scale · (q_i · k_j)` for every query
/// row `q_i = q[i * d..(i + 1) * d]` and key row `j < k.len`. Each score is
/// computed the same way whatever the number of query rows, so splitting
/// queries across threads does not change results.
pub type AttnScoresF16 = fn(q: &[f32], k: KvRows<'_>, scale: f32, out: &mut [f32], os: usize);
/// Attention values: `out[i * d..(i + 1) * d] = Σ_{j < v.len} p[i * ps + j] · v_j`
/// for every query row `i < out.len() / d`, summed in order of `j`.
pub type AttnValuesF16 = fn(p: &[f32], ps: usize, v: KvRows<'_>, out: &mut [f32]);
/// [`AttnScoresF16`] over a Q8_0 cache: key `j`'s values are its blocks'
/// `qs[i] · d`, exactly (an int8 times an f16 fits an f32), so a score is
/// the same sum as over an f32 cache holding the dequantized keys, and
/// does not depend on the number of query rows or keys either.
pub type AttnScoresQ8 = fn(q: &[f32], k: KvRowsQ8<'_>, scale: f32, out: &mut [f32], os: usize);
/// [`AttnValuesF16`] over a Q8_0 cache.
pub type AttnValuesQ8 = fn(p: &[f32], ps: usize, v: KvRowsQ8<'_>, out: &mut [f32]);

/// The block product ([`MatmulQ8`]) of every quantized row format in one
/// kernel set.
#[derive(Debug)]
pub struct RowKernels {
    pub q8_0: MatmulQ8,
    pub q4_0: MatmulQ8,
    pub q4_1: MatmulQ8,
    pub q5_0: MatmulQ8,
    pub q5_1: MatmulQ8,
    pub iq4_nl: MatmulQ8,
    pub q2_k: MatmulQ8,
    pub q3_k: MatmulQ8,
    pub q4_k: MatmulQ8,
    pub q5_k: MatmulQ8,
    pub q6_k: MatmulQ8,
    pub iq4_xs: MatmulQ8,
}

impl RowKernels {
    /// The product for `dtype`, if it is a quantized row format.
    pub fn get(&self, dtype: DType) -> Option<MatmulQ8> {
        Some(match dtype {
            DType::Q8_0 => self.q8_0,
            DType::Q4_0 => self.q4_0,
            DType::Q4_1 => self.q4_1,
            DType::Q5_0 => self.q5_0,
            DType::Q5_1 => self.q5_1,
            DType::IQ4_NL => self.iq4_nl,
            DType::Q2_K => self.q2_k,
            DType::Q3_K => self.q3_k,
            DType::Q4_K => self.q4_k,
            DType::Q5_K => self.q5_k,
            DType::Q6_K => self.q6_k,
            DType::IQ4_XS => self.iq4_xs,
            DType::F32
            | DType::F16
            | DType::BF16
            | DType::Q4_0x16
            | DType::Q4_1x16
            | DType::Q8_0x16 => return None,
        })
    }
}

/// A kernel set: the functions one instruction set provides.
#[derive(Debug)]
pub struct Kernels {
    /// Which instruction set these kernels use.
    pub isa: Isa,
    /// The table's own name: the [`Isa`] name, plus the optional feature
    /// its inner loops use (`avx512-vnni`, `neon-dotprod`). For logs and
    /// `minke info`.
    pub name: &'static str,
    /// Quantizes an f32 activation row into int8 blocks.
    pub quantize_act: fn(src: &[f32], dst: &mut [BlockQ8A]),
    pub vec_dot_f32: VecDotF32,
    pub vec_dot_f16: VecDotF32,
    pub vec_dot_bf16: VecDotF32,
    /// The block products of the row formats.
    pub rows: RowKernels,
    /// Interleaved Q4_0 ([`DType::Q4_0x16`]): `rows` a multiple of 16.
    /// Unlike the row formats, every table and every batch size gives the
    /// same bits as the scalar kernel (for all three interleaved formats).
    pub matmul_q4_0x16: MatmulX16,
    /// Interleaved Q4_1 ([`DType::Q4_1x16`]).
    pub matmul_q4_1x16: MatmulX16,
    /// Interleaved Q8_0 ([`DType::Q8_0x16`]).
    pub matmul_q8_0x16: MatmulX16,
    /// Attention over an f16 cache: query-key scores.
    pub attn_scores_f16: AttnScoresF16,
    /// Attention over an f16 cache: probability-weighted sum of values.
    pub attn_values_f16: AttnValuesF16,
    /// Attention over a Q8_0 cache: query-key scores.
    pub attn_scores_q8_0: AttnScoresQ8,
    /// Attention over a Q8_0 cache: probability-weighted sum of values.
    pub attn_values_q8_0: AttnValuesQ8,
    /// Softmax without the division, in place: `x ← e^(x - max x)`;
    /// returns `(max x, Σ x)`. Every table gives the scalar kernel's bits.
    pub exp_shifted: fn(x: &mut [f32]) -> (f32, f32),
    /// SwiGLU's gate, in place: `g ← g / (1 + e^-g) · u`. Every table gives
    /// the scalar kernel's bits.
    pub silu_mul: fn(g: &mut [f32], u: &[f32]),
    /// Batches of at least this many activation rows go through a GEMM
    /// path (`usize::MAX`: none); smaller ones through a kernel that sums
    /// each product in the GEMM's order (AVX512-VNNI), or through the
    /// same tiles as one token. A speed threshold only: on every table
    /// each product of a row format is summed in one order fixed by its
    /// row and token, so `matmul` equals `vec_dot` bit for bit for any
    /// number of tokens and however callers split rows or tokens, and a
    /// sequence's logits do not depend on how its tokens are batched.
    pub gemm_min_tokens: usize,
}

impl Kernels {
    /// The kernel set for this process: `MINKE_ISA` if set (an unknown or
    /// unavailable name is an error), else the best the CPU supports.
    /// Decided once and cached.
    pub fn get() -> Result<&'static Kernels, IsaError> {
        dispatch::selected()
    }

    /// The kernel set for `isa`, if this CPU can run it.
    pub fn for_isa(isa: Isa) -> Result<&'static Kernels, IsaError> {
        dispatch::for_isa(isa)
    }

    /// Every kernel table this CPU and build can run, best last, including
    /// the variants within one [`Isa`] that [`Kernels::for_isa`] chooses
    /// between (AVX-512 with and without VNNI, NEON with and without
    /// dotprod). For tests and benchmarks, which check and time them all.
    pub fn available() -> Vec<&'static Kernels> {
        dispatch::available()
    }

    /// One quantized weight row of a row format (`w`, `x.len() * 32`
    /// values) against one activation row: the set's [`MatmulQ8`] for one
    /// row and one token, so equal to `matmul`'s result bit for bit.
    ///
    /// # Panics
    /// If `dtype` is not a quantized row format, or on size mismatches
    /// (caller bugs).
    pub fn vec_dot(&self, dtype: DType, w: &[u8], x: &[BlockQ8A]) -> f32 {
        let f = self
            .rows
            .get(dtype)
            .unwrap_or_else(|| panic!("{dtype} is not a quantized row format"));
        let mut out = [0f32];
        f(w, x, 1, &mut out);
        out[0]
    }

    /// `out[r] = W[r] · x` for every row of `w`, where `w` holds
    /// `out.len()` rows of `k` elements in `dtype`.
    ///
    /// `x` must be [`Act::Q8`] for quantized formats and [`Act::F32`]
    /// otherwise, with `k` elements (`k / 32` blocks). Interleaved formats
    /// take whole groups of [`DType::row_group`] rows.
    ///
    /// # Panics
    /// On size or activation-kind mismatches (caller bugs).
    pub fn matvec(&self, dtype: DType, w: &[u8], k: usize, x: Act<'_>, out: &mut [f32]) {
        self.matmul(dtype, w, k, x, 1, out);
    }

    /// Small-batch product: `n` activation rows (back to back in `xs`)
    /// against every row of `w`. `out` is laid out `(rows, n)`:
    /// `out[r * n + t] = W[r] · xs[t]`, so a caller splitting rows across
    /// threads hands each one a contiguous chunk.
    ///
    /// Each weight row is read once and used for all `n` activation rows.
    ///
    /// # Panics
    /// On size or activation-kind mismatches (caller bugs).
    pub fn matmul(&self, dtype: DType, w: &[u8], k: usize, xs: Act<'_>, n: usize, out: &mut [f32]) {
        let rb = dtype
            .row_bytes(k)
            .expect("k is not a whole number of blocks");
        assert!(n > 0 && out.len() % n == 0, "output size");
        let rows = out.len() / n;
        assert_eq!(
            w.len(),
            rows * rb,
            "weight bytes for {rows} rows of {k} {dtype}"
        );
        assert_eq!(
            rows % dtype.row_group(),
            0,
            "{dtype} takes whole groups of {} rows",
            dtype.row_group()
        );
        if rb == 0 {
            // k == 0: every dot product is the empty sum.
            out.fill(0.0);
            return;
        }
        match xs {
            Act::F32(x) => {
                assert!(!dtype.is_quantized(), "{dtype} weights need Q8 activations");
                assert_eq!(x.len(), n * k, "activation length");
                let f = match dtype {
                    DType::F32 => self.vec_dot_f32,
                    DType::F16 => self.vec_dot_f16,
                    _ => self.vec_dot_bf16,
                };
                for (wr, o) in w.chunks_exact(rb).zip(out.chunks_exact_mut(n)) {
                    for (t, ot) in o.iter_mut().enumerate() {
                        *ot = f(wr, &x[t * k..(t + 1) * k]);
                    }
                }
            }
            Act::Q8(x) => {
                assert!(dtype.is_quantized(), "{dtype} weights need f32 activations");
                let nb = k / crate::QK;
                assert_eq!(x.len(), n * nb, "activation blocks");
                if let Some(f) = self.rows.get(dtype) {
                    return f(w, x, n, out);
                }
                let f = self.x16(dtype);
                // SAFETY: `nb > 0` (`rb > 0`), `rows` whole groups of `nb`
                // blocks (checked above), and `out` holds `rows * n`
                // floats, `(r, t)` at `r * n + t`.
                unsafe { f(w, x, n, out.as_mut_ptr(), n, 1) };
            }
        }
    }

    /// [`Kernels::matmul`] for an interleaved format, written token-major
    /// into columns of a wider output: `out + t * ld + r` gets `W[r] ·
    /// xs[t]` for each of the `w.len() / dtype.row_bytes(k)` rows. Threads
    /// that split a layer's rows write their columns of the layer's `(n,
    /// ld)` output directly.
    ///
    /// # Safety
    /// `out + t * ld + r` valid for writes for every token `t < n` and row
    /// `r`, and not read or written by anything else during the call.
    ///
    /// # Panics
    /// If `dtype` is not interleaved, `k` is zero, or the sizes disagree
    /// (caller bugs).
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn matmul_tokens(
        &self,
        dtype: DType,
        w: &[u8],
        k: usize,
        xs: &[BlockQ8A],
        n: usize,
        out: *mut f32,
        ld: usize,
    ) {
        assert!(dtype.row_group() > 1, "{dtype} has no token-major product");
        let rb = dtype
            .row_bytes(k)
            .expect("k is not a whole number of blocks");
        assert!(rb > 0 && n > 0, "empty product");
        assert_eq!(xs.len(), n * (k / crate::QK), "activation blocks");
        let rows = w.len() / rb;
        assert!(
            w.len() % rb == 0 && rows % dtype.row_group() == 0 && rows <= ld,
            "weight bytes for whole groups of {k} {dtype} within {ld} columns"
        );
        // SAFETY: sizes checked above; the output's contract is the
        // caller's.
        unsafe { self.x16(dtype)(w, xs, n, out, 1, ld) }
    }

    fn x16(&self, dtype: DType) -> MatmulX16 {
        match dtype {
            DType::Q4_0x16 => self.matmul_q4_0x16,
            DType::Q4_1x16 => self.matmul_q4_1x16,
            DType::Q8_0x16 => self.matmul_q8_0x16,
            _ => unreachable!("{dtype} is not interleaved"),
        }
    }
}

/// Checks the sizes a [`MatmulQ8`] is given, for weight blocks of
/// `block_bytes` that span `per` activation blocks, and returns `(rows,
/// weight blocks per row)`.
///
/// # Panics
/// When `n` is zero or the slices disagree (caller bugs).
pub(crate) fn block_shape(
    block_bytes: usize,
    per: usize,
    w: &[u8],
    x: &[BlockQ8A],
    n: usize,
    out: &[f32],
) -> (usize, usize) {
    assert!(
        n > 0 && out.len() % n == 0 && x.len() % n == 0,
        "matmul sizes"
    );
    let rows = out.len() / n;
    let nb = x.len() / n;
    assert_eq!(nb % per, 0, "activation blocks per weight block");
    let nbw = nb / per;
    assert_eq!(w.len(), rows * nbw * block_bytes, "weight bytes");
    (rows, nbw)
}

/// [`block_shape`] for one activation block per weight block: `(rows,
/// nb)`.
#[cfg(target_arch = "x86_64")]
pub(crate) fn matmul_shape(
    block_bytes: usize,
    w: &[u8],
    x: &[BlockQ8A],
    n: usize,
    out: &[f32],
) -> (usize, usize) {
    block_shape(block_bytes, 1, w, x, n, out)
}

/// The `(rows, nb)` of an interleaved product of row blocks of
/// `block_bytes` ([`MatmulX16`]).
///
/// # Panics
/// When `n` or `nb` is zero or the slices disagree, or `rows` is not a
/// multiple of 16 (caller bugs).
pub(crate) fn x16_shape(block_bytes: usize, w: &[u8], x: &[BlockQ8A], n: usize) -> (usize, usize) {
    use crate::formats::x16::GROUP;
    assert!(n > 0 && x.len() % n == 0 && !x.is_empty(), "matmul sizes");
    let nb = x.len() / n;
    let gb = nb * GROUP * block_bytes;
    assert_eq!(
        w.len() % gb,
        0,
        "interleaved weights take whole groups of 16 rows"
    );
    (w.len() / gb * GROUP, nb)
}

/// Walks an interleaved product of row blocks of `bb` bytes group by
/// group, `T` tokens at a time and then one at a time: `many(w, xs, nb)`
/// and `one(w, xs, nb)` get the group's first byte, the tile's activation
/// rows and the blocks per row (`nb` readable behind each) and return
/// `result[t][i]` = row `i` · token `t`, which lands at
/// `out + (16 g + i) * rs + t * ts`.
///
/// # Safety
/// As [`MatmulX16`].
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn x16_tiles<const T: usize>(
    bb: usize,
    w: &[u8],
    x: &[BlockQ8A],
    n: usize,
    out: *mut f32,
    (rs, ts): (usize, usize),
    many: impl Fn(*const u8, [*const BlockQ8A; T], usize) -> [[f32; 16]; T],
    one: impl Fn(*const u8, [*const BlockQ8A; 1], usize) -> [[f32; 16]; 1],
) {
    use crate::formats::x16::GROUP;
    let (rows, nb) = x16_shape(bb, w, x, n);
    let gb = nb * GROUP * bb;
    let put = |g: usize, t: usize, s: &[[f32; GROUP]]| {
        for (j, v) in s.iter().enumerate() {
            for (i, l) in v.iter().enumerate() {
                // SAFETY: row `16 g + i < rows`, token `t + j < n`: a
                // position the caller lets us write.
                unsafe { *out.add((g * GROUP + i) * rs + (t + j) * ts) = *l };
            }
        }
    };
    for g in 0..rows / GROUP {
        let wg = w[g * gb..].as_ptr();
        let mut t = 0;
        while t + T <= n {
            put(
                g,
                t,
                &many(wg, std::array::from_fn(|j| x[(t + j) * nb..].as_ptr()), nb),
            );
            t += T;
        }
        while t < n {
            put(g, t, &one(wg, [x[t * nb..].as_ptr()], nb));
            t += 1;
        }
    }
}
