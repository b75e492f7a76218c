//! Block bodies of the 256-value super-block formats: Q2_K, Q3_K, Q4_K,
//! Q5_K, Q6_K and IQ4_XS. A super-block is eight 32-value chunks, each
//! dotted with its own activation block; formats whose scales cover 16
//! values scale the two halves of a chunk's sums apart ([`Simd::fma2`]).
//! The small scales are unpacked in scalar code, once per super-block.

use super::{act, RowFormat, Simd};
use crate::formats::q4_k::scale_min;
use crate::formats::KVALUES_IQ4NL;
use crate::formats::{BlockIq4Xs, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8A};
use std::mem::size_of;
use std::ptr::addr_of;

pub(in crate::kernels) struct Q2K;
pub(in crate::kernels) struct Q3K;
pub(in crate::kernels) struct Q4K;
pub(in crate::kernels) struct Q5K;
pub(in crate::kernels) struct Q6K;
pub(in crate::kernels) struct Iq4Xs;

/// `a >> 2j` bytewise, for a chunk index known only as `j < 4`.
#[inline(always)]
unsafe fn shr2<S: Simd>(a: S::B, j: usize) -> S::B {
    // SAFETY: `S`'s features are the caller's.
    unsafe {
        match j {
            0 => a,
            1 => S::shr::<2>(a),
            2 => S::shr::<4>(a),
            _ => S::shr::<6>(a),
        }
    }
}

/// Chunk `i`'s product with scales `(lo, hi)` on its two halves of 16:
/// `acc[c] += d_x[c] · (lo · Σ_{l<16} + hi · Σ_{l≥16}) q_l x_l`, `q` signed
/// when `SIGNED`.
///
/// # Safety
/// `S`'s features; activation block `i` readable at every `x[c]`.
#[inline(always)]
unsafe fn halves<S: Simd, const C: usize, const SIGNED: bool>(
    q: S::B,
    i: usize,
    (lo, hi): (f32, f32),
    x: [*const BlockQ8A; C],
    acc: &mut [S::F; C],
) {
    for c in 0..C {
        // SAFETY: as stated.
        unsafe {
            let xb = x[c].add(i);
            let xq = act::<S>(xb);
            let dot = if SIGNED {
                S::dot_s(q, xq)
            } else {
                S::dot_u(q, xq)
            };
            let dx = (*xb).d;
            acc[c] = S::fma2(acc[c], dot, lo * dx, hi * dx);
        }
    }
}

/// Chunk `i`'s product with one scale `d` and minimum `m`:
/// `acc[c] += d · d_x[c] · (q · x[c]_i)`, `accs[c] -= m · s_x[c]_i`.
///
/// # Safety
/// As [`halves`].
#[inline(always)]
unsafe fn chunk_min<S: Simd, const C: usize>(
    q: S::B,
    i: usize,
    (d, m): (f32, f32),
    x: [*const BlockQ8A; C],
    acc: &mut [S::F; C],
    accs: &mut [f32; C],
) {
    for c in 0..C {
        // SAFETY: as stated.
        unsafe {
            let xb = x[c].add(i);
            acc[c] = S::fma(acc[c], S::dot_u(q, act::<S>(xb)), d * (*xb).d);
            accs[c] -= m * (*xb).s;
        }
    }
}

impl RowFormat for Q2K {
    const BB: usize = size_of::<BlockQ2K>();
    const NB: usize = 8;

    #[inline(always)]
    unsafe fn block<S: Simd, const C: usize>(
        w: *const u8,
        x: [*const BlockQ8A; C],
        acc: &mut [S::F; C],
        _: &mut [f32; C],
    ) {
        let b = w.cast::<BlockQ2K>();
        // SAFETY: one super-block readable at `w`, eight activation blocks
        // at every `x[c]` (the caller's); fields read through raw
        // pointers, unaligned.
        unsafe {
            let d = S::f16(addr_of!((*b).d).cast());
            let dmin = S::f16(addr_of!((*b).dmin).cast());
            let sc = addr_of!((*b).scales).read_unaligned();
            let qs = addr_of!((*b).qs).cast::<u8>();
            let ones = S::splat(1);
            for n in 0..2 {
                let q = S::load(qs.add(32 * n));
                for j in 0..4 {
                    let i = 4 * n + j;
                    let v = S::and(shr2::<S>(q, j), S::splat(3));
                    let (a, z) = (sc[2 * i], sc[2 * i + 1]);
                    let scale = (d * (a & 0xF) as f32, d * (z & 0xF) as f32);
                    halves::<S, C, false>(v, i, scale, x, acc);
                    // The minimums: -dmin · m times each half's Σx.
                    let mins = (-(dmin * (a >> 4) as f32), -(dmin * (z >> 4) as f32));
                    halves::<S, C, false>(ones, i, mins, x, acc);
                }
            }
        }
    }
}

impl RowFormat for Q3K {
    const BB: usize = size_of::<BlockQ3K>();
    const NB: usize = 8;

    #[inline(always)]
    unsafe fn block<S: Simd, const C: usize>(
        w: *const u8,
        x: [*const BlockQ8A; C],
        acc: &mut [S::F; C],
        _: &mut [f32; C],
    ) {
        let b = w.cast::<BlockQ3K>();
        // SAFETY: as in `Q2K::block`.
        unsafe {
            let blk = b.read_unaligned();
            let d = S::f16(addr_of!((*b).d).cast());
            let hm = S::load(addr_of!((*b).hmask).cast());
            let qs = addr_of!((*b).qs).cast::<u8>();
            let (three, four) = (S::splat(3), S::splat(4));
            for n in 0..2 {
                let q = S::load(qs.add(32 * n));
                for j in 0..4 {
                    let i = 4 * n + j;
                    let low = S::and(shr2::<S>(q, j), three);
                    let high = S::and(S::test(hm, S::splat(1 << i)), four);
                    let v = S::sub(S::or(low, high), four);
                    let scale = (d * blk.scale(2 * i) as f32, d * blk.scale(2 * i + 1) as f32);
                    halves::<S, C, true>(v, i, scale, x, acc);
                }
            }
        }
    }
}

/// The body Q4_K and Q5_K share: chunk `i` holds the low (even `i`) or
/// high (odd `i`) nibbles of the 32 bytes at `qs + 32 (i / 2)`, plus 16
/// where bit `i` of `qh`'s byte is set when there is a `qh` (Q5_K).
///
/// # Safety
/// `S`'s features; 128 bytes readable at `qs`, eight activation blocks at
/// every `x[c]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn scale_min_block<S: Simd, const C: usize>(
    (d, dmin): (f32, f32),
    sc: &[u8; 12],
    qs: *const u8,
    qh: Option<S::B>,
    x: [*const BlockQ8A; C],
    acc: &mut [S::F; C],
    accs: &mut [f32; C],
) {
    // SAFETY: as stated.
    unsafe {
        let (mask, sixteen) = (S::splat(0xF), S::splat(16));
        for j in 0..4 {
            let q = S::load(qs.add(32 * j));
            for (h, v) in [S::and(q, mask), S::shr::<4>(q)].into_iter().enumerate() {
                let i = 2 * j + h;
                let v = match qh {
                    Some(qh) => S::or(v, S::and(S::test(qh, S::splat(1 << i)), sixteen)),
                    None => v,
                };
                let (s, m) = scale_min(sc, i);
                let dm = (d * s as f32, dmin * m as f32);
                chunk_min::<S, C>(v, i, dm, x, acc, accs);
            }
        }
    }
}

impl RowFormat for Q4K {
    const BB: usize = size_of::<BlockQ4K>();
    const NB: usize = 8;

    #[inline(always)]
    unsafe fn block<S: Simd, const C: usize>(
        w: *const u8,
        x: [*const BlockQ8A; C],
        acc: &mut [S::F; C],
        accs: &mut [f32; C],
    ) {
        let b = w.cast::<BlockQ4K>();
        // SAFETY: as in `Q2K::block`.
        unsafe {
            let d = S::f16(addr_of!((*b).d).cast());
            let dmin = S::f16(addr_of!((*b).dmin).cast());
            let sc = addr_of!((*b).scales).read_unaligned();
            let qs = addr_of!((*b).qs).cast::<u8>();
            scale_min_block::<S, C>((d, dmin), &sc, qs, None, x, acc, accs);
        }
    }
}

impl RowFormat for Q5K {
    const BB: usize = size_of::<BlockQ5K>();
    const NB: usize = 8;

    #[inline(always)]
    unsafe fn block<S: Simd, const C: usize>(
        w: *const u8,
        x: [*const BlockQ8A; C],
        acc: &mut [S::F; C],
        accs: &mut [f32; C],
    ) {
        let b = w.cast::<BlockQ5K>();
        // SAFETY: as in `Q2K::block`.
        unsafe {
            let d = S::f16(addr_of!((*b).d).cast());
            let dmin = S::f16(addr_of!((*b).dmin).cast());
            let sc = addr_of!((*b).scales).read_unaligned();
            let qh = Some(S::load(addr_of!((*b).qh).cast()));
            let qs = addr_of!((*b).qs).cast::<u8>();
            scale_min_block::<S, C>((d, dmin), &sc, qs, qh, x, acc, accs);
        }
    }
}

impl RowFormat for Q6K {
    const BB: usize = size_of::<BlockQ6K>();
    const NB: usize = 8;

    #[inline(always)]
    unsafe fn block<S: Simd, const C: usize>(
        w: *const u8,
        x: [*const BlockQ8A; C],
        acc: &mut [S::F; C],
        _: &mut [f32; C],
    ) {
        let b = w.cast::<BlockQ6K>();
        // SAFETY: as in `Q2K::block`.
        unsafe {
            let d = S::f16(addr_of!((*b).d).cast());
            let sc = addr_of!((*b).scales).read_unaligned();
            let ql = addr_of!((*b).ql).cast::<u8>();
            let qh = addr_of!((*b).qh).cast::<u8>();
            let (mask, top, off) = (S::splat(0xF), S::splat(0x30), S::splat(32));
            for h in 0..2 {
                let a = S::load(ql.add(64 * h));
                let c = S::load(ql.add(64 * h + 32));
                let hh = S::load(qh.add(32 * h));
                // Value bits 4-5 sit at bits 2s..2s+2 of `hh` for chunk s.
                let chunks = [
                    S::or(S::and(a, mask), S::and(S::shl::<4>(hh), top)),
                    S::or(S::and(c, mask), S::and(S::shl::<2>(hh), top)),
                    S::or(S::shr::<4>(a), S::and(hh, top)),
                    S::or(S::shr::<4>(c), S::and(S::shr::<2>(hh), top)),
                ];
                for (s, v) in chunks.into_iter().enumerate() {
                    let g = 8 * h + 2 * s;
                    let scale = (d * sc[g] as f32, d * sc[g + 1] as f32);
                    halves::<S, C, true>(S::sub(v, off), 4 * h + s, scale, x, acc);
                }
            }
        }
    }
}

impl RowFormat for Iq4Xs {
    const BB: usize = size_of::<BlockIq4Xs>();
    const NB: usize = 8;

    #[inline(always)]
    unsafe fn block<S: Simd, const C: usize>(
        w: *const u8,
        x: [*const BlockQ8A; C],
        acc: &mut [S::F; C],
        _: &mut [f32; C],
    ) {
        let b = w.cast::<BlockIq4Xs>();
        // SAFETY: as in `Q2K::block`; the table is 16 bytes.
        unsafe {
            let blk = b.read_unaligned();
            let d = S::f16(addr_of!((*b).d).cast());
            let qs = addr_of!((*b).qs).cast::<u8>();
            for i in 0..8 {
                let v = S::lookup(KVALUES_IQ4NL.as_ptr(), S::nibbles(qs.add(16 * i)));
                let dl = d * blk.scale(i) as f32;
                for c in 0..C {
                    let xb = x[c].add(i);
                    acc[c] = S::fma(acc[c], S::dot_s(v, act::<S>(xb)), dl * (*xb).d);
                }
            }
        }
    }
}
