//! The AVX-512 tile kernels of each quantized format, for the table
//! without VNNI (`vpmaddubsw` + `vpmaddwd`): `R` weight rows × `C`
//! activation rows, two blocks per 512-bit register. The 4-bit formats
//! take four blocks at a time while a row has them (`Quad4`), then at most
//! one pair; an odd last block goes through 256-bit code. A row's
//! arithmetic depends on its length only, never on `R` or `C`. The
//! register layouts, the sign trick and the reason for the prefetch walk
//! are described in `avx512.rs`.

use super::{
    act_pair, act_pair_nibble_order, act_quads, act_scales, dot4, f16_at, f16_pairs, hsum,
    nibble_pair, prefetch_next, spread_natural, spread_nibble, tail_block, widen, Format, Quad4,
};
use crate::formats::BlockQ8A;
use std::arch::x86_64::*;
use std::ptr::addr_of;

/// Q8_0 weights (34-byte blocks).
pub(super) struct Q8_0;
/// Q4_0 weights (18-byte blocks).
pub(super) struct Q4_0;
/// Q4_1 weights (20-byte blocks).
pub(super) struct Q4_1;

impl Format for Q8_0 {
    const BB: usize = 34;

    #[inline(always)]
    unsafe fn tile<const R: usize, const C: usize>(
        w: [*const u8; R],
        x: [*const BlockQ8A; C],
        nb: usize,
        next: *const u8,
    ) -> [[f32; C]; R] {
        // SAFETY: every block index below is `< nb`, which the caller
        // guarantees readable behind every pointer; features come from the
        // trampoline.
        unsafe {
            let zero = _mm512_setzero_si512();
            let mut acc = [[_mm512_setzero_ps(); C]; R];
            let mut b = 0;
            while b + 2 <= nb {
                prefetch_next::<R>(next, b, Self::BB);
                let mut xv = [zero; C];
                let mut xs = [_mm_setzero_ps(); C];
                for c in 0..C {
                    xv[c] = act_pair(x[c], b);
                    xs[c] = act_scales(x[c], b);
                }
                for r in 0..R {
                    let p0 = w[r].add(b * 34);
                    let p1 = p0.add(34);
                    let q = _mm512_inserti64x4::<1>(
                        _mm512_castsi256_si512(_mm256_loadu_si256(p0.add(2).cast())),
                        _mm256_loadu_si256(p1.add(2).cast()),
                    );
                    let dw = f16_pairs(p0, p1);
                    // The sign trick by mask: `|w| · (x · sign w)`.
                    let (u, neg) = (_mm512_abs_epi8(q), _mm512_movepi8_mask(q));
                    for c in 0..C {
                        let sx = _mm512_mask_sub_epi8(xv[c], neg, zero, xv[c]);
                        let dot = dot4::<false>(zero, u, sx);
                        let s = spread_natural(_mm_mul_ps(dw, xs[c]));
                        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), s, acc[r][c]);
                    }
                }
                b += 2;
            }
            if b < nb {
                for r in 0..R {
                    for c in 0..C {
                        acc[r][c] = widen(acc[r][c], Self::tail_block(w[r], x[c], b));
                    }
                }
            }
            let mut res = [[0f32; C]; R];
            for r in 0..R {
                for c in 0..C {
                    res[r][c] = hsum(acc[r][c]);
                }
            }
            res
        }
    }
}

impl Format for Q4_0 {
    const BB: usize = 18;

    #[inline(always)]
    unsafe fn tile<const R: usize, const C: usize>(
        w: [*const u8; R],
        x: [*const BlockQ8A; C],
        nb: usize,
        next: *const u8,
    ) -> [[f32; C]; R] {
        // SAFETY: as in `Q8_0::tile`.
        unsafe {
            let zero = _mm512_setzero_si512();
            let eight = _mm512_set1_epi8(8);
            let mut acc = [[_mm512_setzero_ps(); C]; R];
            let mut b = 0;
            while b + 4 <= nb {
                prefetch_next::<R>(next, b, Self::BB);
                prefetch_next::<R>(next, b + 2, Self::BB);
                let xq = act_quads(x, b);
                let mut off = [zero; C];
                for c in 0..C {
                    // 8 (x_2i + x_2i+1) per i16 pair, both halves.
                    off[c] = _mm512_add_epi16(
                        _mm512_maddubs_epi16(eight, xq[c].lo),
                        _mm512_maddubs_epi16(eight, xq[c].hi),
                    );
                }
                for r in 0..R {
                    let (lo, hi, words) = Quad4::<18, 2>::load(w[r].add(b * 18));
                    let dw = _mm512_cvtph_ps(_mm512_castsi512_si256(words));
                    for c in 0..C {
                        // Each i16 is at most 2 · 2 · 15 · 127 = 7620
                        // before the offset: no saturation.
                        let p16 = _mm512_add_epi16(
                            _mm512_maddubs_epi16(lo, xq[c].lo),
                            _mm512_maddubs_epi16(hi, xq[c].hi),
                        );
                        let p16 = _mm512_sub_epi16(p16, off[c]);
                        let dot = _mm512_madd_epi16(p16, _mm512_set1_epi16(1));
                        let s = _mm512_mul_ps(dw, xq[c].d);
                        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), s, acc[r][c]);
                    }
                }
                b += 4;
            }
            if b + 2 <= nb {
                prefetch_next::<R>(next, b, Self::BB);
                let mut xv = [zero; C];
                let mut xs = [_mm_setzero_ps(); C];
                let mut off = [zero; C];
                for c in 0..C {
                    xv[c] = act_pair_nibble_order(x[c], b);
                    xs[c] = act_scales(x[c], b);
                    // 8 (x_2i + x_2i+1) per i16 pair.
                    off[c] = _mm512_maddubs_epi16(eight, xv[c]);
                }
                for r in 0..R {
                    let p0 = w[r].add(b * 18);
                    let p1 = p0.add(18);
                    let q = nibble_pair(p0.add(2), p1.add(2));
                    let dw = f16_pairs(p0, p1);
                    for c in 0..C {
                        let p16 = _mm512_sub_epi16(_mm512_maddubs_epi16(q, xv[c]), off[c]);
                        let dot = _mm512_madd_epi16(p16, _mm512_set1_epi16(1));
                        let s = spread_nibble(_mm_mul_ps(dw, xs[c]));
                        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), s, acc[r][c]);
                    }
                }
                b += 2;
            }
            if b < nb {
                for r in 0..R {
                    for c in 0..C {
                        acc[r][c] = widen(acc[r][c], Self::tail_block(w[r], x[c], b));
                    }
                }
            }
            let mut res = [[0f32; C]; R];
            for r in 0..R {
                for c in 0..C {
                    res[r][c] = hsum(acc[r][c]);
                }
            }
            res
        }
    }
}

impl Format for Q4_1 {
    const BB: usize = 20;

    #[inline(always)]
    unsafe fn tile<const R: usize, const C: usize>(
        w: [*const u8; R],
        x: [*const BlockQ8A; C],
        nb: usize,
        next: *const u8,
    ) -> [[f32; C]; R] {
        // SAFETY: as in `Q8_0::tile`.
        unsafe {
            let zero = _mm512_setzero_si512();
            let mut acc = [[_mm512_setzero_ps(); C]; R];
            // The quads' m_w · s_x, one lane per block of the quad.
            let mut accq = [[_mm_setzero_ps(); C]; R];
            // The pair's: lanes 1 and 3; lanes 0 and 2 are unused.
            let mut accm = [[_mm_setzero_ps(); C]; R];
            let mut b = 0;
            while b + 4 <= nb {
                prefetch_next::<R>(next, b, Self::BB);
                prefetch_next::<R>(next, b + 2, Self::BB);
                let xq = act_quads(x, b);
                for r in 0..R {
                    let (lo, hi, words) = Quad4::<20, 4>::load(w[r].add(b * 20));
                    let dw = _mm512_cvtph_ps(_mm512_castsi512_si256(words));
                    let mw = _mm_cvtph_ps(_mm512_extracti32x4_epi32::<2>(words));
                    for c in 0..C {
                        let dot = dot4::<false>(dot4::<false>(zero, lo, xq[c].lo), hi, xq[c].hi);
                        let s = _mm512_mul_ps(dw, xq[c].d);
                        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), s, acc[r][c]);
                        accq[r][c] = _mm_fmadd_ps(mw, xq[c].s, accq[r][c]);
                    }
                }
                b += 4;
            }
            if b + 2 <= nb {
                prefetch_next::<R>(next, b, Self::BB);
                let mut xv = [zero; C];
                let mut xs = [_mm_setzero_ps(); C];
                for c in 0..C {
                    xv[c] = act_pair_nibble_order(x[c], b);
                    xs[c] = act_scales(x[c], b);
                }
                for r in 0..R {
                    let p0 = w[r].add(b * 20);
                    let p1 = p0.add(20);
                    let q = nibble_pair(p0.add(4), p1.add(4));
                    // [d_b, m_b, d_b1, m_b1]
                    let dm = f16_pairs(p0, p1);
                    for c in 0..C {
                        let dot = dot4::<false>(zero, q, xv[c]);
                        let prod = _mm_mul_ps(dm, xs[c]);
                        accm[r][c] = _mm_add_ps(accm[r][c], prod);
                        let s = spread_nibble(prod);
                        acc[r][c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), s, acc[r][c]);
                    }
                }
                b += 2;
            }
            let mut tail_m = [[0f32; C]; R];
            if b < nb {
                let zero = _mm256_setzero_si256();
                for r in 0..R {
                    let p = w[r].add(b * 20);
                    let v = _mm_loadu_si128(p.add(4).cast());
                    let both = _mm256_set_m128i(_mm_srli_epi16::<4>(v), v);
                    let q = _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
                    let dw = f16_at(p);
                    let m = f16_at(p.add(2));
                    for c in 0..C {
                        let xb = x[c].add(b);
                        let xq = _mm256_loadu_si256(addr_of!((*xb).qs).cast());
                        let t = tail_block(_mm256_setzero_ps(), q, xq, zero, dw * (*xb).d);
                        acc[r][c] = widen(acc[r][c], t);
                        tail_m[r][c] = m * (*xb).s;
                    }
                }
            }
            let mut res = [[0f32; C]; R];
            for r in 0..R {
                for c in 0..C {
                    let m = accm[r][c];
                    let m = _mm_cvtss_f32(_mm_add_ss(
                        _mm_movehdup_ps(m),
                        _mm_movehl_ps(m, _mm_movehdup_ps(m)),
                    ));
                    let q = accq[r][c];
                    let q = _mm_add_ps(q, _mm_movehl_ps(q, q));
                    let q = _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
                    res[r][c] = hsum(acc[r][c]) + ((q + m) + tail_m[r][c]);
                }
            }
            res
        }
    }
}

impl Q4_0 {
    /// The odd last block `b` of a Q4_0 row against `x`, as 8 lanes to add
    /// with [`widen`]; shared by the small-batch and GEMM tiles.
    ///
    /// # Safety
    /// Block `b` readable in both; inlined into a trampoline with AVX2.
    #[inline(always)]
    pub(super) unsafe fn tail_block(w: *const u8, x: *const BlockQ8A, b: usize) -> __m256 {
        // SAFETY: block `b` is 18 readable bytes at `w + 18 b`, 36 at `x + b`.
        unsafe {
            let p = w.add(b * 18);
            let v = _mm_loadu_si128(p.add(2).cast());
            let both = _mm256_set_m128i(_mm_srli_epi16::<4>(v), v);
            let q = _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
            let xb = x.add(b);
            let xq = _mm256_loadu_si256(addr_of!((*xb).qs).cast());
            let off = _mm256_maddubs_epi16(_mm256_set1_epi8(8), xq);
            tail_block(_mm256_setzero_ps(), q, xq, off, f16_at(p) * (*xb).d)
        }
    }
}

impl Q8_0 {
    /// The odd last block `b` of a Q8_0 row against `x`, as 8 lanes to add
    /// with [`widen`]; shared by the small-batch and GEMM tiles.
    ///
    /// # Safety
    /// Block `b` readable in both; inlined into a trampoline with AVX2.
    #[inline(always)]
    pub(super) unsafe fn tail_block(w: *const u8, x: *const BlockQ8A, b: usize) -> __m256 {
        // SAFETY: block `b` is 34 readable bytes at `w + 34 b`, 36 at `x + b`.
        unsafe {
            let p = w.add(b * 34);
            let q = _mm256_loadu_si256(p.add(2).cast());
            let xb = x.add(b);
            let xq = _mm256_loadu_si256(addr_of!((*xb).qs).cast());
            tail_block(
                _mm256_setzero_ps(),
                _mm256_sign_epi8(q, q),
                _mm256_sign_epi8(xq, q),
                _mm256_setzero_si256(),
                f16_at(p) * (*xb).d,
            )
        }
    }
}
