//! Linear layers: `y = x · Wᵀ (+ b)` for a batch of activation rows, with the
//! weight rows split across the session's threads.
//!
//! Quantized weights take int8 activation blocks: the caller quantizes each
//! input once ([`quantize_input`]) and reuses it for every projection that
//! reads it (q, k and v; gate and up).

use crate::tensor::{Tensor, TensorStore};
use crate::threads::{par_ranges, par_rows, par_rows_tid2, Parts, ThreadPool};
use minke_quant::{Act, BlockQ8A, Kernels, QK};
use std::ops::Range;

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
/// `n * rows` values, used to turn the row kernels' `(rows, n)` output
/// around when `n > 1` (interleaved weights write `out` directly).
pub fn linear(ctx: &Ctx<'_>, lin: &Linear, x: Act<'_>, n: usize, out: &mut [f32], tmp: &mut [f32]) {
    let (rows, k) = lin.w.rows_cols();
    let w = ctx.store.bytes(&lin.w);
    let rb = lin.w.row_bytes();
    let dtype = lin.w.dtype;
    let out = &mut out[..n * rows];
    if n == 1 {
        // 16-row units keep each thread's output a few cache lines apart.
        par_rows(ctx.pool, out, 1, 16, |r, chunk| {
            ctx.kernels
                .matmul(dtype, &w[r.start * rb..r.end * rb], k, x, 1, chunk);
        });
    } else if let (Some(xq), true) = (x.q8(), dtype.row_group() > 1) {
        let cols = Columns::new(out, n, rows);
        par_ranges(ctx.pool, rows, dtype.row_group(), |_, r| {
            // SAFETY: the pool hands each thread disjoint row ranges `r`.
            unsafe { cols.product(ctx, &lin.w, r, xq) };
        });
    } else {
        let cols = Columns::new(out, n, rows);
        par_rows(ctx.pool, &mut tmp[..n * rows], n, 16, |r, chunk| {
            ctx.kernels
                .matmul(dtype, &w[r.start * rb..r.end * rb], k, x, n, chunk);
            // SAFETY: the pool hands each thread disjoint row ranges `r`.
            unsafe { cols.put_transposed(chunk, r.start) };
        });
    }
    if let Some(b) = &lin.bias {
        crate::ops::add_bias_rows(out, b);
    }
    if let Some(l) = ctx.lora {
        l.apply(&lin.w, x, n, out);
    }
}

/// Whether `lins` can share one quantized input and one pool job: all
/// quantized or all float, at most [`MAX_FUSED`] of them, and each
/// interleaved one starting on a whole group of the stacked rows (the job
/// splits them in multiples of 16).
pub fn can_fuse(lins: &[&Linear]) -> bool {
    let mut start = 0;
    lins.len() <= MAX_FUSED
        && lins
            .windows(2)
            .all(|p| p[0].w.dtype.is_quantized() == p[1].w.dtype.is_quantized())
        && lins.iter().all(|l| {
            let aligned = start % l.w.dtype.row_group() == 0;
            start += l.rows();
            aligned
        })
}

/// Most linear layers [`linear_fused`] takes at once.
pub const MAX_FUSED: usize = 4;

/// What a thread does with rows of a fused product it just computed (one
/// token only): `f(i, rows, out)` gets rows `rows` of layer `i`, in whole
/// multiples of `unit` rows (and of 16).
pub struct Epilogue<'a> {
    pub unit: usize,
    pub f: &'a EpilogueFn<'a>,
}

/// `f(layer, rows, out)` of an [`Epilogue`].
pub type EpilogueFn<'a> = dyn Fn(usize, Range<usize>, &mut [f32]) + Sync + 'a;

/// [`linear`] for several layers that read the same input `x` (q, k and v):
/// one pool job over their stacked output rows instead of one job each.
/// `outs[i]` gets `(n, rows_i)`; `tmp` holds at least `n * Σ rows_i`
/// values. Each output value is computed exactly as [`linear`] computes it.
/// With one token, `epilogue` runs on each range of rows right after the
/// thread that computed it (decode's RoPE and KV store: the rows are still
/// in its cache, instead of a serial step between jobs that fetched half
/// of them from other cores).
pub fn linear_fused(
    ctx: &Ctx<'_>,
    lins: &[&Linear],
    x: Act<'_>,
    n: usize,
    outs: &mut [&mut [f32]],
    tmp: &mut [f32],
    epilogue: Option<Epilogue<'_>>,
) {
    debug_assert!(can_fuse(lins) && lins.len() == outs.len());
    let epilogue = epilogue.filter(|_| n == 1);
    let align = epilogue.as_ref().map_or(16, |e| lcm(16, e.unit));
    // Stacked row offsets: layer `i` owns rows `starts[i]..starts[i + 1]`.
    let mut starts = [0usize; MAX_FUSED + 1];
    for (i, l) in lins.iter().enumerate() {
        starts[i + 1] = starts[i] + l.rows();
    }
    let total = starts[lins.len()];
    let dst = &mut tmp[..n * total];
    let mut cols: [Option<Columns>; MAX_FUSED] = std::array::from_fn(|_| None);
    for ((c, l), out) in cols.iter_mut().zip(lins).zip(outs.iter_mut()) {
        *c = Some(Columns::new(out, n, l.rows()));
    }
    par_rows(ctx.pool, dst, n, align, |r, chunk| {
        for (i, l) in lins.iter().enumerate() {
            let (a, b) = (r.start.max(starts[i]), r.end.min(starts[i + 1]));
            if a >= b {
                continue;
            }
            let (k, rb) = (l.cols(), l.w.row_bytes());
            let w = ctx.store.bytes(&l.w);
            let (la, lb) = (a - starts[i], b - starts[i]);
            if let (Some(c), Some(xq), true) =
                (&cols[i], x.q8(), n > 1 && l.w.dtype.row_group() > 1)
            {
                // SAFETY: the pool hands each thread disjoint row ranges
                // `r`, so rows `la..lb` of layer `i` are this thread's.
                unsafe { c.product(ctx, &l.w, la..lb, xq) };
                continue;
            }
            if let (Some(c), 1) = (&cols[i], n) {
                // One token: the kernels' layout is the output's.
                // SAFETY: the pool hands each thread disjoint row ranges
                // `r`, so rows `la..lb` of layer `i` are this thread's.
                let out = unsafe { c.part(0, la..lb) };
                ctx.kernels
                    .matmul(l.w.dtype, &w[la * rb..lb * rb], k, x, 1, out);
                if let Some(b) = &l.bias {
                    crate::ops::add(out, &b[la..lb]);
                }
                if let Some(e) = &epilogue {
                    (e.f)(i, la..lb, out);
                }
                continue;
            }
            let out = &mut chunk[(a - r.start) * n..(b - r.start) * n];
            ctx.kernels
                .matmul(l.w.dtype, &w[la * rb..lb * rb], k, x, n, out);
            if let Some(c) = &cols[i] {
                // SAFETY: the pool hands each thread disjoint row ranges
                // `r`, so rows `la..lb` of layer `i` are this thread's.
                unsafe { c.put_transposed(out, la) };
            }
        }
    });
    // (One token's rows got their bias in the job.)
    for (l, out) in lins.iter().zip(outs.iter_mut()).filter(|_| n > 1) {
        if let Some(b) = &l.bias {
            crate::ops::add_bias_rows(&mut out[..n * l.rows()], b);
        }
    }
}

/// `out (n, rows) = silu(x · Gᵀ) ⊙ (x · Uᵀ)`, SwiGLU's first half, in one
/// pool job: each thread computes the gate and up rows of its range and
/// combines them while they are in cache. `up` and `tmp` are scratch of at
/// least `n * rows` values each (`tmp` unused when `n == 1`).
///
/// With `q_out` and one token, each thread also quantizes its part of the
/// result into `q_out` (`rows / 32` blocks, the same blocks
/// [`quantize_input`] makes) for the down projection: the rows are still
/// in its cache, where the caller would have fetched half of them from the
/// other cores first (6,000 cycles a layer on SmolLM2 at 2 threads).
/// Returns whether it did.
#[allow(clippy::too_many_arguments)]
pub fn swiglu(
    ctx: &Ctx<'_>,
    gate: &Linear,
    up: &Linear,
    x: Act<'_>,
    n: usize,
    out: &mut [f32],
    up_buf: &mut [f32],
    tmp: &mut [f32],
    q_out: Option<&mut [BlockQ8A]>,
) -> bool {
    debug_assert!(gate.bias.is_none() && up.bias.is_none() && can_fuse(&[gate, up]));
    let (rows, k) = gate.w.rows_cols();
    let (wg, wu) = (ctx.store.bytes(&gate.w), ctx.store.bytes(&up.w));
    let (rbg, rbu) = (gate.w.row_bytes(), up.w.row_bytes());
    let (dg, du) = (gate.w.dtype, up.w.dtype);
    let out = &mut out[..n * rows];
    if let (Some(xq), true, true) = (x.q8(), n > 1, dg.row_group() > 1 && du.row_group() > 1) {
        // Interleaved: both products land token-major in their outputs.
        let (go, uo) = (Columns::new(out, n, rows), Columns::new(up_buf, n, rows));
        par_ranges(
            ctx.pool,
            rows,
            dg.row_group().max(du.row_group()),
            |_, r| {
                // SAFETY: the pool hands each thread disjoint row ranges `r`:
                // columns `r` of both outputs are this thread's alone.
                unsafe {
                    go.product(ctx, &gate.w, r.clone(), xq);
                    uo.product(ctx, &up.w, r.clone(), xq);
                    for t in 0..n {
                        (ctx.kernels.silu_mul)(go.part(t, r.clone()), uo.part(t, r.clone()));
                    }
                }
            },
        );
        return false;
    }
    let (cols, dst) = if n == 1 {
        // One token: the kernels' layout is the output's.
        (None, out)
    } else {
        (Some(Columns::new(out, n, rows)), &mut tmp[..n * rows])
    };
    // Whole 32-value blocks per thread when it quantizes its rows.
    let q_out = q_out.filter(|q| n == 1 && rows % QK == 0 && q.len() >= rows / QK);
    let quantized = q_out.is_some();
    let q_parts = q_out.map(|q| Parts::new(&mut q[..rows / QK]));
    par_rows_tid2(
        ctx.pool,
        dst,
        &mut up_buf[..n * rows],
        n,
        if quantized { QK } else { 16 },
        |_, r, g, u| {
            ctx.kernels
                .matmul(dg, &wg[r.start * rbg..r.end * rbg], k, x, n, g);
            ctx.kernels
                .matmul(du, &wu[r.start * rbu..r.end * rbu], k, x, n, u);
            (ctx.kernels.silu_mul)(g, u);
            if let Some(c) = &cols {
                // SAFETY: the pool hands each thread disjoint row ranges.
                unsafe { c.put_transposed(g, r.start) };
            }
            if let Some(q) = &q_parts {
                // SAFETY: the pool hands each thread disjoint row ranges,
                // here in whole blocks, hence disjoint block spans.
                let blocks = unsafe { q.part(r.start / QK..r.end / QK) };
                (ctx.kernels.quantize_act)(g, blocks);
            }
        },
    );
    quantized
}

/// Least common multiple.
fn lcm(a: usize, b: usize) -> usize {
    fn gcd(a: usize, b: usize) -> usize {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    a / gcd(a, b) * b
}

/// The `(n, ld)` output of a batched product, which the pool's threads
/// fill column range by column range: interleaved kernels write their
/// columns directly ([`Columns::product`]), the row kernels' `(rows, n)`
/// results are transposed in ([`Columns::put_transposed`]).
struct Columns<'a> {
    ptr: *mut f32,
    n: usize,
    ld: usize,
    _out: std::marker::PhantomData<&'a mut [f32]>,
}

// SAFETY: `Columns` is a pointer into an output slice borrowed mutably for
// as long as it lives; threads write through it only at the disjoint
// column ranges `put_transposed`'s contract gives each of them.
unsafe impl Sync for Columns<'_> {}

impl<'a> Columns<'a> {
    fn new(out: &'a mut [f32], n: usize, ld: usize) -> Columns<'a> {
        assert!(out.len() >= n * ld, "output too small");
        Columns {
            ptr: out.as_mut_ptr(),
            n,
            ld,
            _out: std::marker::PhantomData,
        }
    }

    /// Rows `r` of `w` times the `n` activation rows `xq`, written by an
    /// interleaved kernel straight into the same columns `r`.
    ///
    /// # Safety
    /// No other thread reads or writes those columns during the call.
    unsafe fn product(&self, ctx: &Ctx<'_>, w: &Tensor, r: Range<usize>, xq: &[BlockQ8A]) {
        assert!(r.end <= self.ld, "columns outside the output");
        let rb = w.row_bytes();
        let bytes = &ctx.store.bytes(w)[r.start * rb..r.end * rb];
        // SAFETY: columns `r` of each of the `n` rows lie inside the
        // `n * ld` floats checked in `new` (`r.end <= ld` asserted above),
        // and are this caller's alone (its contract).
        unsafe {
            ctx.kernels.matmul_tokens(
                w.dtype,
                bytes,
                w.rows_cols().1,
                xq,
                self.n,
                self.ptr.add(r.start),
                self.ld,
            )
        }
    }

    /// Columns `c` of output row `t`.
    ///
    /// # Safety
    /// No other thread reads or writes them while the slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn part(&self, t: usize, c: Range<usize>) -> &mut [f32] {
        assert!(
            t < self.n && c.start <= c.end && c.end <= self.ld,
            "outside the output"
        );
        // SAFETY: inside the `n * ld` floats checked in `new`, and this
        // caller's alone (its contract).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(t * self.ld + c.start), c.len()) }
    }

    /// Writes `src`, laid out `(cols, n)`, transposed into columns
    /// `col0..col0 + cols` of the output.
    ///
    /// # Safety
    /// No other thread reads or writes those columns during the call.
    unsafe fn put_transposed(&self, src: &[f32], col0: usize) {
        let (n, ld) = (self.n, self.ld);
        let cols = src.len() / n;
        assert!(col0 + cols <= ld, "columns outside the output");
        // In 8 × 8 tiles: `n` and `ld` are often multiples of 512 floats,
        // whose lines share a few L1 sets, so a whole column of either side
        // would not stay in cache.
        for t0 in (0..n).step_by(8) {
            let t1 = (t0 + 8).min(n);
            for c0 in (0..cols).step_by(8) {
                for c in c0..(c0 + 8).min(cols) {
                    let from = &src[c * n + t0..c * n + t1];
                    for (t, &v) in (t0..t1).zip(from) {
                        // SAFETY: `t < n` and `col0 + c < ld`: inside the
                        // `n * ld` floats checked in `new`, in columns only
                        // this caller writes.
                        unsafe { *self.ptr.add(t * ld + col0 + c) = v };
                    }
                }
            }
        }
    }
}
