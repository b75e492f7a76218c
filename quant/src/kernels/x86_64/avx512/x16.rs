//! The AVX-512 product of interleaved Q4_0 ([`crate::formats::x16`]): one
//! i32 lane per weight row, so 16 rows advance with each `vpdpbusd` (or
//! `vpmaddubsw` + `vpmaddwd` without VNNI) against four activation bytes
//! broadcast to every lane, and the scales of 16 rows convert in one
//! `vcvtph2ps`. There is no horizontal sum and no shuffle: a group block is
//! one 32-byte and four 64-byte loads, read in address order.
//!
//! Per row and token the float work is the scalar kernel's, in its order
//! (exact integer block dot, then `acc = fma(dot, d_w · d_x, acc)` block
//! after block), so results are the scalar kernel's bits for any number of
//! tokens: prefill and decode agree exactly on this format.

use super::dot4;
use crate::formats::x16::{GROUP, Q4_0X16_BLOCK};
use crate::formats::BlockQ8A;
use std::arch::x86_64::*;
use std::ptr::addr_of;

/// Tokens per register tile in batches: 8 accumulators, the 8 unpacked
/// nibble registers of a group block, its scales and temporaries fit the
/// 32 zmm registers.
const TILE: usize = 8;

/// Tokens whose activations stay in cache while every group of the call
/// passes over them (32 tokens × 280 blocks of a 8960-wide row = 390 KiB).
const TOKEN_BLOCK: usize = 32;

/// `T` activation rows against one group of 16 rows: lane `i` of result
/// `t` is row `i` · token `t`.
///
/// # Safety
/// Inlined into a trampoline with AVX-512 F/BW, F16C and FMA (and VNNI
/// when `V`); `w` readable for `nb` group blocks, every `x[t]` for `nb`
/// activation blocks.
#[inline(always)]
unsafe fn group<const T: usize, const V: bool>(
    w: *const u8,
    x: [*const BlockQ8A; T],
    nb: usize,
) -> [__m512; T] {
    // SAFETY: every address is in group block `b < nb` or activation
    // block `b < nb` of a row, which the caller guarantees readable.
    unsafe {
        let mask = _mm512_set1_epi8(0x0F);
        let zero = _mm512_setzero_si512();
        let mut acc = [_mm512_setzero_ps(); T];
        for b in 0..nb {
            let p = w.add(b * Q4_0X16_BLOCK);
            let d = _mm512_cvtph_ps(_mm256_loadu_si256(p.cast()));
            let mut lo = [zero; 4];
            let mut hi = [zero; 4];
            for c in 0..4 {
                let v = _mm512_loadu_si512(p.add(32 + 64 * c).cast());
                lo[c] = _mm512_and_si512(v, mask);
                hi[c] = _mm512_and_si512(_mm512_srli_epi16::<4>(v), mask);
            }
            for t in 0..T {
                let xb = x[t].add(b);
                let q = addr_of!((*xb).qs).cast::<i32>();
                // Two independent chains: the nibble offset 8 comes off
                // through the exact block sum.
                let mut s0 = _mm512_set1_epi32(-8 * (*xb).sum);
                let mut s1 = zero;
                for c in 0..4 {
                    // Elements 4c..4c+4 and 16+4c..16+4c+4, to every lane
                    // (no closure: it would not get the target features).
                    let xl = _mm512_set1_epi32(q.add(c).read_unaligned());
                    let xh = _mm512_set1_epi32(q.add(4 + c).read_unaligned());
                    s0 = dot4::<V>(s0, lo[c], xl);
                    s1 = dot4::<V>(s1, hi[c], xh);
                }
                let s = _mm512_add_epi32(s0, s1);
                let scale = _mm512_mul_ps(d, _mm512_set1_ps((*xb).d));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, acc[t]);
            }
        }
        acc
    }
}

/// Stores tile results: lane `i` of `s[t]` to `out[i * n + t]`.
///
/// # Safety
/// `out` writable for 16 rows of `n` from the tile's first token.
#[inline(always)]
unsafe fn put<const T: usize>(s: &[__m512; T], out: *mut f32, n: usize) {
    // SAFETY: `i < 16`, `t < T`, within the caller's rows.
    unsafe {
        if n == 1 && T == 1 {
            _mm512_storeu_ps(out, s[0]);
            return;
        }
        for (t, v) in s.iter().enumerate() {
            let mut lanes = [0f32; GROUP];
            _mm512_storeu_ps(lanes.as_mut_ptr(), *v);
            for (i, l) in lanes.iter().enumerate() {
                *out.add(i * n + t) = *l;
            }
        }
    }
}

/// The whole product: `rows / 16` groups × `n` tokens.
///
/// # Safety
/// As [`group`] for every group and token; `out` writable for `rows * n`
/// floats, `rows` a multiple of 16.
#[inline(always)]
pub(super) unsafe fn matmul<const V: bool>(
    w: *const u8,
    x: *const BlockQ8A,
    rows: usize,
    nb: usize,
    n: usize,
    out: *mut f32,
) {
    let gb = nb * Q4_0X16_BLOCK;
    // SAFETY: group `g < rows / 16` at `g * gb`, token `t < n` at block
    // `t * nb`, output `(16 g + i, t)` at `(16 g + i) * n + t`.
    unsafe {
        let xt = |t: usize| x.add(t * nb);
        let mut t0 = 0;
        while t0 < n {
            let t1 = (t0 + TOKEN_BLOCK).min(n);
            for g in 0..rows / GROUP {
                let wg = w.add(g * gb);
                let og = out.add(g * GROUP * n);
                let mut t = t0;
                while t + TILE <= t1 {
                    let s = group::<TILE, V>(wg, std::array::from_fn(|j| xt(t + j)), nb);
                    put(&s, og.add(t), n);
                    t += TILE;
                }
                while t + 4 <= t1 {
                    let s = group::<4, V>(wg, [xt(t), xt(t + 1), xt(t + 2), xt(t + 3)], nb);
                    put(&s, og.add(t), n);
                    t += 4;
                }
                while t < t1 {
                    let s = group::<1, V>(wg, [xt(t)], nb);
                    put(&s, og.add(t), n);
                    t += 1;
                }
            }
            t0 = t1;
        }
    }
}
