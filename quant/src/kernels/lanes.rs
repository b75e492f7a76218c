//! Attention over an f16 KV cache for vector sets narrower than AVX-512:
//! AVX2 (8 lanes, 16 registers) and NEON (4 lanes, 32 registers) share
//! these loops through [`Lanes`]. Until they did, both tables ran the
//! scalar kernels, which widen each f16 on its own. With the AVX2 table,
//! SmolLM2 Q4_0 `.minke` on 2 threads of a Zen 4 (`MINKE_ISA=avx2 minke
//! bench`, alternating runs): decode after a 32-token prompt 100-127 →
//! 239-296 tok/s, a 512-token prompt 83-94 → 641-716 tok/s, decode after
//! it 34-40 → 202-244 tok/s. (NEON is tested under qemu; its speed has not
//! been measured on ARM hardware.)
//!
//! Scores: a head is taken in chunks of `V::N` values; each score is one
//! FMA chain over the chunks in order, then [`Lanes::sum`]. Up to
//! [`QB`] queries × [`KS`] keys of chains are live at once, the queries
//! read in place (a last partial chunk from a zero-padded copy), each key
//! chunk widened once for all of them. Values: each output lane is one FMA
//! chain over the positions in order, [`VQ`] queries × `VC` chunks at a
//! time. Neither order depends on how many query rows or keys a call gets,
//! so callers may split them freely (the promise of
//! [`super::AttnScoresF16`]).
//!
//! The functions here are `#[inline(always)]` without target features:
//! each set instantiates them inside its own `#[target_feature]`
//! trampolines, where the intrinsics get their features.

use super::KvRows;
use half::f16;

/// Widest head these loops take (the sets fall back to the scalar kernels
/// above it).
pub(super) const MAX_D: usize = 256;
/// Queries per pass of [`scores`].
const QB: usize = 3;
/// Keys per step of [`scores`].
const KS: usize = 4;
/// Queries per pass of [`values`].
const VQ: usize = 2;

/// One register of f32 lanes. (AVX-512 implements it too, for the Q8_0
/// cache's loops in [`super::lanes_q8_0`]; its f16 loops are its own.)
///
/// # Safety
/// Implementations are only called where their features are enabled (the
/// trampolines); the pointer arguments must be valid for `N` elements.
pub(super) trait Lanes: Copy {
    /// f32 lanes per register.
    const N: usize;
    /// Every lane 0.
    unsafe fn zero() -> Self;
    /// Every lane `x`.
    unsafe fn splat(x: f32) -> Self;
    /// `N` floats from `p`.
    unsafe fn load(p: *const f32) -> Self;
    /// `N` f16 from `p`, widened.
    unsafe fn widen(p: *const f16) -> Self;
    /// `N` int8 from `p`, as f32 (exact).
    unsafe fn widen_i8(p: *const i8) -> Self;
    /// Every lane `h` as f32 (exact).
    unsafe fn splat_f16(h: f16) -> Self;
    /// `self · a`, lane by lane.
    unsafe fn mul(self, a: Self) -> Self;
    /// `self + a · b`, one rounding.
    unsafe fn fma(self, a: Self, b: Self) -> Self;
    /// The sum of the lanes, in the set's fixed order.
    unsafe fn sum(self) -> f32;
    /// `out[i] = v[i].sum()` for every register of `v`, bit for bit; a set
    /// may reduce several registers at once.
    #[inline(always)]
    unsafe fn sums(v: &[Self], out: &mut [f32]) {
        for (o, x) in out.iter_mut().zip(v) {
            // SAFETY: the caller's features.
            *o = unsafe { x.sum() };
        }
    }
    /// Stores the lanes to `p`.
    unsafe fn store(self, p: *mut f32);
}

/// Chunk `c` of row `j`, widened: `V::N` values, zeros past `k.d`.
///
/// # Safety
/// `V`'s features; row `j` inside `k.data` (checked by the caller).
#[inline(always)]
unsafe fn chunk<V: Lanes>(k: &KvRows<'_>, j: usize, c: usize) -> V {
    let start = j * k.stride + c * V::N;
    let n = (k.d - c * V::N).min(V::N);
    // SAFETY: `start..start + n` lies in row `j`; the caller's features.
    unsafe {
        if n == V::N {
            V::widen(k.data.as_ptr().add(start))
        } else {
            let mut part = [f16::ZERO; 16];
            std::ptr::copy_nonoverlapping(k.data.as_ptr().add(start), part.as_mut_ptr(), n);
            V::widen(part.as_ptr())
        }
    }
}

/// [`super::AttnScoresF16`] for `nq` query rows (checked by
/// [`super::attn_scores_checked`]), `0 < k.d <= MAX_D`.
///
/// # Safety
/// `V`'s features; `V::N <= 16`; the checks of `attn_scores_checked`
/// passed.
#[inline(always)]
pub(super) unsafe fn scores<V: Lanes>(
    q: &[f32],
    nq: usize,
    k: KvRows<'_>,
    scale: f32,
    out: &mut [f32],
    os: usize,
) {
    let d = k.d;
    let mut i0 = 0;
    while i0 < nq {
        let qb = QB.min(nq - i0);
        let (qi, o) = (&q[i0 * d..(i0 + qb) * d], &mut out[i0 * os..]);
        // SAFETY: the caller's features and checks, for queries
        // `i0..i0 + qb`.
        unsafe {
            match qb {
                1 => score_rows::<V, 1>(qi, k, scale, o, os),
                2 => score_rows::<V, 2>(qi, k, scale, o, os),
                _ => score_rows::<V, 3>(qi, k, scale, o, os),
            }
        }
        i0 += qb;
    }
}

/// `Q` queries (`q`, `Q` rows of `k.d`) against every key. Whole chunks
/// are read in place; a last partial chunk comes from zero-padded copies.
///
/// # Safety
/// As [`scores`].
#[inline(always)]
unsafe fn score_rows<V: Lanes, const Q: usize>(
    q: &[f32],
    k: KvRows<'_>,
    scale: f32,
    out: &mut [f32],
    os: usize,
) {
    let d = k.d;
    let (full, rem) = (d / V::N, d % V::N);
    let mut tail = [[0f32; 16]; Q];
    for (i, t) in tail.iter_mut().enumerate().filter(|_| rem > 0) {
        t[..rem].copy_from_slice(&q[i * d + full * V::N..(i + 1) * d]);
    }
    let qp = q.as_ptr();
    // The sums of keys `j0..j0 + N` for every query, into `out`. (A macro,
    // not a closure: a closure would not get the trampoline's features.)
    macro_rules! step {
        ($n:expr, $j0:expr) => {{
            // SAFETY: key `j0 + jj < k.len`; query `i < Q` holds `d`
            // floats, of which chunks `c < full` are whole; the caller's
            // features.
            unsafe {
                let mut acc = [[V::zero(); $n]; Q];
                for c in 0..full {
                    for jj in 0..$n {
                        let kc = chunk::<V>(&k, $j0 + jj, c);
                        for (i, a) in acc.iter_mut().enumerate() {
                            a[jj] = a[jj].fma(V::load(qp.add(i * d + c * V::N)), kc);
                        }
                    }
                }
                if rem > 0 {
                    for jj in 0..$n {
                        let kc = chunk::<V>(&k, $j0 + jj, full);
                        for (a, t) in acc.iter_mut().zip(&tail) {
                            a[jj] = a[jj].fma(V::load(t.as_ptr()), kc);
                        }
                    }
                }
                for (i, a) in acc.iter().enumerate() {
                    for (jj, v) in a.iter().enumerate() {
                        out[i * os + $j0 + jj] = scale * v.sum();
                    }
                }
            }
        }};
    }
    let mut j0 = 0;
    while j0 + KS <= k.len {
        step!(KS, j0);
        j0 += KS;
    }
    for j in j0..k.len {
        step!(1, j);
    }
}

/// [`super::AttnValuesF16`] for `nq` query rows (checked by
/// [`super::attn_values_checked`]), `0 < v.d <= MAX_D`, `VC` chunks of each
/// output at a time (as many accumulators as the set's registers allow).
///
/// # Safety
/// `V`'s features; `V::N <= 16`; the checks of `attn_values_checked` passed.
#[inline(always)]
pub(super) unsafe fn values<V: Lanes, const VC: usize>(
    p: &[f32],
    ps: usize,
    v: KvRows<'_>,
    nq: usize,
    out: &mut [f32],
) {
    let chunks = v.d.div_ceil(V::N);
    let mut i0 = 0;
    while i0 < nq {
        let qb = VQ.min(nq - i0);
        let mut c0 = 0;
        while c0 < chunks {
            let cb = VC.min(chunks - c0);
            // SAFETY: the caller's features and checks.
            unsafe {
                match qb {
                    1 => value_rows::<V, VC, 1>(p, ps, v, i0, c0, cb, out),
                    _ => value_rows::<V, VC, 2>(p, ps, v, i0, c0, cb, out),
                }
            }
            c0 += cb;
        }
        i0 += qb;
    }
}

/// Chunks `c0..c0 + cb` (`cb <= VC`) of the outputs of queries
/// `i0..i0 + Q`.
///
/// # Safety
/// As [`values`].
#[inline(always)]
unsafe fn value_rows<V: Lanes, const VC: usize, const Q: usize>(
    p: &[f32],
    ps: usize,
    v: KvRows<'_>,
    i0: usize,
    c0: usize,
    cb: usize,
    out: &mut [f32],
) {
    let d = v.d;
    // SAFETY: rows `j < v.len` inside `v.data` and chunks below
    // `d.div_ceil(V::N)` (the caller's checks); `lanes` holds 16 floats;
    // the caller's features.
    unsafe {
        let mut acc = [[V::zero(); VC]; Q];
        for j in 0..v.len {
            let mut x = [V::zero(); VC];
            for (c, xc) in x.iter_mut().enumerate().take(cb) {
                *xc = chunk::<V>(&v, j, c0 + c);
            }
            for (b, ab) in acc.iter_mut().enumerate() {
                let pj = V::splat(p[(i0 + b) * ps + j]);
                for (a, xc) in ab.iter_mut().zip(&x).take(cb) {
                    *a = a.fma(pj, *xc);
                }
            }
        }
        for (b, ab) in acc.iter().enumerate() {
            let row = &mut out[(i0 + b) * d..(i0 + b + 1) * d];
            for (c, a) in ab.iter().enumerate().take(cb) {
                let mut lanes = [0f32; 16];
                a.store(lanes.as_mut_ptr());
                let s = (c0 + c) * V::N;
                let n = (d - s).min(V::N);
                row[s..s + n].copy_from_slice(&lanes[..n]);
            }
        }
    }
}
