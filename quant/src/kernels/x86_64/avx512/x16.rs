//! The AVX-512 products of the interleaved formats
//! ([`crate::formats::x16`]): one i32 lane per weight row, so 16 rows
//! advance with each `vpdpbusd` (or `vpmaddubsw` + `vpmaddwd` without
//! VNNI) against four activation bytes broadcast to every lane, and the
//! scales of 16 rows convert in one `vcvtph2ps`. There is no horizontal
//! sum and no shuffle: a group block is read in address order.
//!
//! `vpdpbusd` wants unsigned weights: nibbles are (Q4_0's offset of 8
//! comes off through the exact block sum, `-8 Σx`); Q8_0 bytes become
//! `w + 128` (`w ^ 0x80`, offset `-128 Σx`). Without VNNI, `vpmaddubsw`
//! would saturate on `w + 128`, so Q8_0 takes `|w|` and negates the
//! activation bytes where `w < 0`, as the row kernels do.
//!
//! Per row and token the float work is the scalar kernel's, in its order
//! (exact integer block dot, then `acc = fma(dot, d_w · d_x, acc)`, and
//! `acc = fma(m_w, s_x, acc)` for Q4_1, block after block), so results are
//! the scalar kernel's bits for any number of tokens.

use super::dot4;
use crate::formats::x16::GROUP;
use crate::formats::BlockQ8A;
use std::arch::x86_64::*;
use std::ptr::addr_of;

/// An interleaved format, as the kernel needs it.
pub(super) trait Layout {
    /// f16 fields per row block (2 for Q4_1's scale and minimum).
    const F: usize;
    /// Quant bytes per row block: 16 packed nibble bytes or 32 int8.
    const Q: usize;
    /// The unsigned offset of the nibbles (Q4_0: 8).
    const OFFSET: i32;
    /// Bytes per row block.
    const BB: usize = 2 * Self::F + Self::Q;
}

/// Q4_0x16.
pub(super) struct X4_0;
/// Q4_1x16.
pub(super) struct X4_1;
/// Q8_0x16.
pub(super) struct X8_0;

impl Layout for X4_0 {
    const F: usize = 1;
    const Q: usize = 16;
    const OFFSET: i32 = 8;
}

impl Layout for X4_1 {
    const F: usize = 2;
    const Q: usize = 16;
    const OFFSET: i32 = 0;
}

impl Layout for X8_0 {
    const F: usize = 1;
    const Q: usize = 32;
    const OFFSET: i32 = 0;
}

/// Tokens per register tile in batches: 8 accumulators, the unpacked quant
/// registers of a group block (8), its scales and temporaries fit the 32
/// zmm registers.
const TILE: usize = 8;

/// Tokens whose running sums a batch keeps (128 × 64 bytes on the stack)
/// while a group's blocks go by segment after segment; their activations
/// for one segment stay in L2 (128 × 85 × 44 bytes for Q4_0).
const TB: usize = 128;

/// Bytes of a group's blocks run against all [`TB`] tokens before the
/// next ones (in L1 with room): long rows (a 8960-wide down projection is
/// 80 KiB per group in Q4_0) would otherwise come from L2 for every tile.
const SEG_BYTES: usize = 24 << 10;

/// `T` activation rows against `nb` blocks of one group of 16 rows,
/// continuing the sums in `acc`: lane `i` of `acc[t]` is row `i` · token
/// `t`.
///
/// # Safety
/// Inlined into a trampoline with AVX-512 F/BW, F16C and FMA (and VNNI
/// when `V`); `w` readable for `nb` group blocks, every `x[t]` for `nb`
/// activation blocks.
#[inline(always)]
unsafe fn group<L: Layout, const T: usize, const V: bool>(
    w: *const u8,
    x: [*const BlockQ8A; T],
    nb: usize,
    acc: &mut [__m512; T],
) {
    // SAFETY: every address is in group block `b < nb` or activation
    // block `b < nb` of a row, which the caller guarantees readable.
    unsafe {
        let mask = _mm512_set1_epi8(0x0F);
        let zero = _mm512_setzero_si512();
        for b in 0..nb {
            let p = w.add(b * GROUP * L::BB);
            let d = _mm512_cvtph_ps(_mm256_loadu_si256(p.cast()));
            let m = if L::F == 2 {
                _mm512_cvtph_ps(_mm256_loadu_si256(p.add(32).cast()))
            } else {
                _mm512_setzero_ps()
            };
            let q = p.add(32 * L::F);
            // Nibble formats: [lo0..lo3, hi0..hi3] (elements 4c.. and
            // 16+4c..); Q8_0: the 8 lines as unsigned bytes, with the
            // signs for the non-VNNI path.
            let mut u = [zero; 8];
            let mut neg = [0u64; 8];
            if L::Q == 16 {
                for c in 0..4 {
                    let v = _mm512_loadu_si512(q.add(64 * c).cast());
                    u[c] = _mm512_and_si512(v, mask);
                    u[4 + c] = _mm512_and_si512(_mm512_srli_epi16::<4>(v), mask);
                }
            } else {
                for c in 0..8 {
                    let v = _mm512_loadu_si512(q.add(64 * c).cast());
                    if V {
                        u[c] = _mm512_xor_si512(v, _mm512_set1_epi8(-128));
                    } else {
                        u[c] = _mm512_abs_epi8(v);
                        neg[c] = _mm512_movepi8_mask(v);
                    }
                }
            }
            for t in 0..T {
                let xb = x[t].add(b);
                let xq = addr_of!((*xb).qs).cast::<i32>();
                // The offsets come off through the exact block sum.
                let off = if L::Q == 32 && V { 128 } else { L::OFFSET };
                let mut s0 = _mm512_set1_epi32(-off * (*xb).sum);
                let mut s1 = zero;
                // `u[c]` holds elements 4c..4c+4 of the 16 rows, for both
                // kinds. No closure: it would not get the target features.
                for (c, &uc) in u.iter().enumerate() {
                    let xv = _mm512_set1_epi32(xq.add(c).read_unaligned());
                    let xv = if L::Q == 32 && !V {
                        _mm512_mask_sub_epi8(xv, neg[c], zero, xv)
                    } else {
                        xv
                    };
                    // Two chains for one token (latency); with more, the
                    // tokens' chains overlap and a second would spill.
                    if T > 1 || c % 2 == 0 {
                        s0 = dot4::<V>(s0, uc, xv);
                    } else {
                        s1 = dot4::<V>(s1, uc, xv);
                    }
                }
                let s = _mm512_add_epi32(s0, s1);
                let scale = _mm512_mul_ps(d, _mm512_set1_ps((*xb).d));
                acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, acc[t]);
                if L::F == 2 {
                    acc[t] = _mm512_fmadd_ps(m, _mm512_set1_ps((*xb).s), acc[t]);
                }
            }
        }
    }
}

/// Where the results go: row `r`, token `t` at `ptr + r * rs + t * ts`.
#[derive(Clone, Copy)]
pub(super) struct Out {
    pub ptr: *mut f32,
    pub rs: usize,
    pub ts: usize,
}

impl Out {
    /// Stores the sums of group `g` for token `t`: one vector store when
    /// rows are contiguous (token-major), else lane by lane.
    ///
    /// # Safety
    /// Inlined where AVX-512 F is enabled; rows `16 g..16 g + 16` of token
    /// `t` writable.
    #[inline(always)]
    unsafe fn put(self, g: usize, t: usize, v: __m512) {
        // SAFETY: the caller's positions.
        unsafe {
            let p = self.ptr.add(g * GROUP * self.rs + t * self.ts);
            if self.rs == 1 {
                _mm512_storeu_ps(p, v);
            } else {
                let mut lanes = [0f32; GROUP];
                _mm512_storeu_ps(lanes.as_mut_ptr(), v);
                for (i, l) in lanes.iter().enumerate() {
                    *p.add(i * self.rs) = *l;
                }
            }
        }
    }
}

/// The whole product: `rows / 16` groups × `n` tokens. One token
/// (decoding) streams each group once; batches go by [`TB`] tokens, each
/// group by segments of [`SEG_BYTES`], in tiles of [`TILE`], 4 and 1
/// tokens, whose sums wait in `sums` between segments (stored and
/// reloaded unchanged, so the bits are those of one pass).
///
/// # Safety
/// As [`group`] for every group and token; `out` writable at every row
/// `r < rows` and token `t < n`, `rows` a multiple of 16.
#[inline(always)]
pub(super) unsafe fn matmul<L: Layout, const V: bool>(
    w: *const u8,
    x: *const BlockQ8A,
    rows: usize,
    nb: usize,
    n: usize,
    out: Out,
) {
    let gbb = GROUP * L::BB;
    let gb = nb * gbb;
    // SAFETY: group `g < rows / 16` at `g * gb`, token `t < n` at block
    // `t * nb`, rows `16 g..16 g + 16` of token `t` in `out`; segments
    // `s0..s1` stay below `nb`, tokens `t0 + j` below `t1 <= n`.
    unsafe {
        if n == 1 {
            for g in 0..rows / GROUP {
                let mut acc = [_mm512_setzero_ps()];
                group::<L, 1, V>(w.add(g * gb), [x], nb, &mut acc);
                out.put(g, 0, acc[0]);
            }
            return;
        }
        let seg = (SEG_BYTES / gbb).max(1);
        let mut sums = [_mm512_setzero_ps(); TB];
        let mut t0 = 0;
        while t0 < n {
            let t1 = (t0 + TB).min(n);
            for g in 0..rows / GROUP {
                let wg = w.add(g * gb);
                sums[..t1 - t0].fill(_mm512_setzero_ps());
                let mut s0 = 0;
                while s0 < nb {
                    let s1 = (s0 + seg).min(nb);
                    let ws = wg.add(s0 * gbb);
                    let xt = |t: usize| x.add(t * nb + s0);
                    let mut t = t0;
                    while t + TILE <= t1 {
                        let acc: &mut [__m512; TILE] =
                            (&mut sums[t - t0..t - t0 + TILE]).try_into().unwrap();
                        group::<L, TILE, V>(ws, std::array::from_fn(|j| xt(t + j)), s1 - s0, acc);
                        t += TILE;
                    }
                    while t + 4 <= t1 {
                        let acc: &mut [__m512; 4] =
                            (&mut sums[t - t0..t - t0 + 4]).try_into().unwrap();
                        group::<L, 4, V>(
                            ws,
                            [xt(t), xt(t + 1), xt(t + 2), xt(t + 3)],
                            s1 - s0,
                            acc,
                        );
                        t += 4;
                    }
                    while t < t1 {
                        let acc: &mut [__m512; 1] =
                            (&mut sums[t - t0..t - t0 + 1]).try_into().unwrap();
                        group::<L, 1, V>(ws, [xt(t)], s1 - s0, acc);
                        t += 1;
                    }
                    s0 = s1;
                }
                for (j, v) in sums[..t1 - t0].iter().enumerate() {
                    out.put(g, t0 + j, *v);
                }
            }
            t0 = t1;
        }
    }
}
