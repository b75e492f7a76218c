//! Attention over a Q8_0 KV cache, for every SIMD set: the loops of
//! [`super::lanes`] over the same [`Lanes`] registers, reading int8
//! blocks instead of f16 rows. AVX2 (8 lanes), AVX-512 (16) and NEON (4)
//! instantiate them in their own `#[target_feature]` trampolines.
//!
//! A cache value is `qs[i] · d`: an int8 times an f16 scale, which an f32
//! holds exactly. A chunk of `V::N` values is widened (int8 → f32) and
//! multiplied by its block's scale (widened by the set's own f16
//! conversion) once, then used as an f16 chunk is:
//! scores are one FMA chain per (query, key) over the chunks in order,
//! then [`Lanes::sum`]; values are one FMA chain per output lane over the
//! positions in order. As with f16, neither order depends on how many
//! query rows or keys a call gets (the promise of
//! [`super::AttnScoresQ8`]).
//!
//! A chunk never straddles two blocks (`V::N` divides 32). A row's last
//! block may hold fewer than 32 values (heads of 16, MLA's 8-wide RoPE
//! part in the test models): its padding is read with the chunk but meets
//! zeros, the zero-padded tail of the query, or lands in lanes that are
//! never stored.
//!
//! Why a Q8_0 cache can be as fast as f16 although it does more per value
//! (a widening, a conversion and a multiply where f16 has one `vcvtph2ps`):
//! decode attention at long context streams the cache from memory, and a
//! Q8_0 row is 34 bytes per 32 values against 64.

use super::lanes::Lanes;
use super::KvRowsQ8;
use crate::formats::BlockQ8_0;
use crate::QK;

/// Keys per step of [`scores`].
const KS: usize = 4;

/// Chunk `c` of row `j` (`V::N` values from value `c * V::N`), widened,
/// not yet scaled.
///
/// # Safety
/// `V`'s features; `V::N` divides 32; row `j` inside `r.data` (the
/// caller's checks) and `c < r.d.div_ceil(V::N)`.
#[inline(always)]
unsafe fn ints<V: Lanes>(r: &KvRowsQ8<'_>, j: usize, c: usize) -> V {
    let at = c * V::N;
    // SAFETY: block `at / 32` is one of the row's `d.div_ceil(32)` blocks
    // (`at < d`), and its `qs` hold the `V::N` bytes from `at % 32` (a
    // multiple of `V::N`, which divides 32); the caller's features.
    unsafe {
        let b: *const BlockQ8_0 = r.data.as_ptr().add(j * r.stride + at / QK);
        let qs = std::ptr::addr_of!((*b).qs).cast::<i8>();
        V::widen_i8(qs.add(at % QK))
    }
}

/// The scale of the block that holds chunk `c` of row `j`, in every lane.
///
/// # Safety
/// As [`ints`].
#[inline(always)]
unsafe fn block_scale<V: Lanes>(r: &KvRowsQ8<'_>, j: usize, c: usize) -> V {
    // SAFETY: as in `ints`.
    unsafe { V::splat_f16((*r.data.as_ptr().add(j * r.stride + c * V::N / QK)).d) }
}

/// [`super::AttnScoresQ8`] for `nq` query rows (checked by
/// [`super::attn_scores_checked`]), `k.d > 0`, up to `QB` queries (1 to 6)
/// a pass over the keys, each key chunk widened once for them all: a set
/// with 32 registers takes 6 (24 accumulators), one with 16 takes 3.
/// Prefill scores 12 query rows a call on SmolLM2 (4 tokens × a group of
/// 3), so 6 a pass widens each key twice instead of four times.
///
/// # Safety
/// `V`'s features; `V::N` divides 32 and is at most 16; the checks of
/// `attn_scores_checked` passed.
#[inline(always)]
pub(super) unsafe fn scores<V: Lanes, const QB: usize>(
    q: &[f32],
    nq: usize,
    k: KvRowsQ8<'_>,
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
                3 => score_rows::<V, 3>(qi, k, scale, o, os),
                4 => score_rows::<V, 4>(qi, k, scale, o, os),
                5 => score_rows::<V, 5>(qi, k, scale, o, os),
                _ => score_rows::<V, 6>(qi, k, scale, o, os),
            }
        }
        i0 += qb;
    }
}

/// `Q` queries (`q`, `Q` rows of `k.d`) against every key, [`KS`] keys a
/// step: each key chunk is widened and scaled once for the `Q` queries.
/// Whole query chunks are read in place, a last partial one from
/// zero-padded copies.
///
/// # Safety
/// As [`scores`].
#[inline(always)]
unsafe fn score_rows<V: Lanes, const Q: usize>(
    q: &[f32],
    k: KvRowsQ8<'_>,
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
    let (qp, chunks, per_block) = (q.as_ptr(), d.div_ceil(V::N), QK / V::N);
    // The sums of keys `j0..j0 + n` for every query, into `out`. Key by
    // key, block by block: a block's scale is widened once for its
    // chunks. (A macro, not a closure: a closure would not get the
    // trampoline's features.)
    macro_rules! step {
        ($n:expr, $j0:expr) => {{
            // SAFETY: key `j0 + jj < k.len`; chunk `c < d.div_ceil(N)`;
            // query `i < Q` holds `d` floats, of which chunks `c < full`
            // are whole, and the last partial one is in `tail`; the
            // caller's features.
            unsafe {
                let mut acc = [[V::zero(); $n]; Q];
                for jj in 0..$n {
                    let j = $j0 + jj;
                    let mut c = 0;
                    while c < chunks {
                        let s = block_scale::<V>(&k, j, c);
                        let end = (c + per_block).min(chunks);
                        while c < end {
                            let kc = ints::<V>(&k, j, c).mul(s);
                            for (i, a) in acc.iter_mut().enumerate() {
                                let qc = if c < full {
                                    qp.add(i * d + c * V::N)
                                } else {
                                    tail[i].as_ptr()
                                };
                                a[jj] = a[jj].fma(V::load(qc), kc);
                            }
                            c += 1;
                        }
                    }
                }
                let mut sums = [[0f32; $n]; Q];
                V::sums(acc.as_flattened(), sums.as_flattened_mut());
                for (i, s) in sums.iter().enumerate() {
                    for (jj, v) in s.iter().enumerate() {
                        out[i * os + $j0 + jj] = scale * v;
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

/// [`super::AttnValuesQ8`] for `nq` query rows (checked by
/// [`super::attn_values_checked`]), `v.d > 0`: `VQ` queries (1 to 3) ×
/// `VC` chunks of each output at a time, as many accumulators as the
/// set's registers allow.
///
/// # Safety
/// `V`'s features; `V::N` divides 32 and is at most 16; the checks of
/// `attn_values_checked` passed.
#[inline(always)]
pub(super) unsafe fn values<V: Lanes, const VC: usize, const VQ: usize>(
    p: &[f32],
    ps: usize,
    v: KvRowsQ8<'_>,
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
                    2 => value_rows::<V, VC, 2>(p, ps, v, i0, c0, cb, out),
                    _ => value_rows::<V, VC, 3>(p, ps, v, i0, c0, cb, out),
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
    v: KvRowsQ8<'_>,
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
            let mut s = V::zero();
            for (c, xc) in x.iter_mut().enumerate().take(cb) {
                let cc = c0 + c;
                if c == 0 || cc % (QK / V::N) == 0 {
                    s = block_scale::<V>(&v, j, cc);
                }
                *xc = ints::<V>(&v, j, cc).mul(s);
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
