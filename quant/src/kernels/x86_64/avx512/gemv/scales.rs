//! How the scales of sixteen rows reach the lanes of [`super::gemv`]: the
//! values [`super::super::gemm::Gemm::scales`] gathers for the GEMM, built
//! here from one or two plain loads a row and one `vpermt2w` each.
//!
//! Each row's scale words go into one of four queue registers ([`Rows4`],
//! rows `4g..4g + 4` in register `g`): a row shifts the words of the rows
//! before it down and puts its own at the top, so the index vector is the
//! same for every row, each dependency chain is four rows long, and after
//! sixteen rows each row's words sit in row order. A few more `vpermt2w`
//! then sort the queues into columns (sixteen rows of one chunk), which
//! convert to f32 lanes.
//!
//! - [`F16Queue`]: formats whose blocks start with their f16 scale (and
//!   f16 minimum), the values the GEMM converts directly.
//! - [`KQueue`]: the K-quants and IQ4_XS, whose blocks hold `d` (and
//!   `dmin`) in f16 and small integer scales per chunk or half chunk. The
//!   integer scales are unpacked to 16 bytes a row ([`KScales::bytes`]),
//!   queued, and turned into `d · s` (and `-(dmin · m)`) per chunk in f32,
//!   the products [`crate::kernels::rows::RowFormat::scale`] computes.

use super::super::gemm::Lanes;
use crate::kernels::rows::kquants::{Iq4Xs, Q2K, Q3K, Q4K, Q5K, Q6K};
use crate::kernels::rows::RowFormat;
use std::arch::x86_64::*;
use std::marker::PhantomData;

/// How a format's scales go from its rows to [`Lanes`]: `put` every row
/// of the group in order (all sixteen), then `cols` once, then `lane` for
/// each chunk of the step.
pub(in super::super) trait Queue {
    /// The queue registers.
    type Buf: Copy;
    /// The columns, ready for [`Queue::lane`].
    type Cols: Copy;

    /// An empty queue.
    ///
    /// # Safety
    /// Inlined into the VNNI trampoline.
    unsafe fn new() -> Self::Buf;

    /// Queues the scales of chunks `b..b + C` (`C` 1, 2, 4 or 8) of row
    /// `r < 16` at `w`.
    ///
    /// # Safety
    /// The chunks readable; inlined into the VNNI trampoline.
    unsafe fn put<const C: usize>(buf: &mut Self::Buf, w: *const u8, b: usize, r: usize);

    /// The columns of a full queue.
    ///
    /// # Safety
    /// Inlined into the VNNI trampoline.
    unsafe fn cols<const C: usize>(buf: &Self::Buf) -> Self::Cols;

    /// The [`Lanes`] of chunk `k` of the step.
    ///
    /// # Safety
    /// Inlined into the VNNI trampoline.
    unsafe fn lane(cols: &Self::Cols, k: usize) -> Lanes;
}

/// A 64-byte index table as a vector.
///
/// # Safety
/// Inlined into an AVX-512 trampoline.
#[inline(always)]
unsafe fn idx(t: &[u16; 32]) -> __m512i {
    // SAFETY: 32 u16 are 64 readable bytes.
    unsafe { _mm512_loadu_si512(t.as_ptr().cast()) }
}

/// `vpermt2w(a, idx(t), b)`.
///
/// # Safety
/// Inlined into an AVX-512 BW trampoline.
#[inline(always)]
unsafe fn perm(a: __m512i, t: &[u16; 32], b: __m512i) -> __m512i {
    // SAFETY: features from the trampoline.
    unsafe { _mm512_permutex2var_epi16(a, idx(t), b) }
}

/// The f16 words `h` (0: the low 16, 1: the high 16) of `v` as f32.
///
/// # Safety
/// Inlined into an AVX-512 trampoline with F16C.
#[inline(always)]
unsafe fn cvt_half(v: __m512i, h: usize) -> __m512 {
    // SAFETY: features from the trampoline.
    unsafe {
        if h == 0 {
            _mm512_cvtph_ps(_mm512_castsi512_si256(v))
        } else {
            _mm512_cvtph_ps(_mm512_extracti64x4_epi64::<1>(v))
        }
    }
}

/// Sixteen rows' scale words on their way to columns: `q[g]` queues rows
/// `4g..4g + 4`, `W` words a row. A row shifts its queue down by `W`
/// words and puts its own at the top (one `vpermt2w` with the same index
/// vector for every row); four queues keep each dependency chain four
/// rows long. [`Rows4::sort`] then turns them into columns.
#[derive(Clone, Copy)]
pub(in super::super) struct Rows4 {
    q: [__m512i; 4],
}

/// The `vpermt2w` index that shifts a queue down `w` words and takes the
/// row's words `top[..w]` into its top `w` words (indices from 32 read
/// the row).
const fn put_idx(w: usize, top: [usize; 8]) -> [u16; 32] {
    let mut t = [0u16; 32];
    let mut p = 0;
    while p < 32 {
        t[p] = if p + w >= 32 {
            (32 + top[p + w - 32]) as u16
        } else {
            (p + w) as u16
        };
        p += 1;
    }
    t
}

/// The indices of [`Rows4::sort`] for `w` words a row: `[0][k]` takes
/// words `4k..4k + 4` (all `w` if fewer) of the eight rows of two queues,
/// word `i` of row `j` to `8 (i % 4) + j`; `[1][a]` takes `[word 2a of
/// rows 0-15 | word 2a + 1]` from two of those (rows 0-7, rows 8-15).
const fn sort_idx(w: usize) -> [[[u16; 32]; 4]; 2] {
    let mut t = [[[0u16; 32]; 4]; 2];
    let mut k = 0;
    while k < 4 {
        let mut p = 0;
        while p < 32 {
            let (i, j) = (4 * k + p / 8, p % 8);
            // Row `j` of the pair of queues, in the top `4 w` words.
            t[0][k][p] = if i < w {
                ((j / 4) * 32 + 32 - 4 * w + (j % 4) * w + i) as u16
            } else {
                0
            };
            let (i, r) = (2 * k + p / 16, p % 16);
            t[1][k][p] = ((r / 8) * 32 + (i % 4) * 8 + r % 8) as u16;
            p += 1;
        }
        k += 1;
    }
    t
}

impl Rows4 {
    /// # Safety
    /// Inlined into an AVX-512 trampoline.
    #[inline(always)]
    unsafe fn new() -> Rows4 {
        // SAFETY: features from the trampoline.
        let z = unsafe { _mm512_setzero_si512() };
        Rows4 { q: [z; 4] }
    }

    /// Queues row `r`'s words from `src` with `idx` (a [`put_idx`]).
    ///
    /// # Safety
    /// Inlined into an AVX-512 BW trampoline.
    #[inline(always)]
    unsafe fn put(&mut self, r: usize, idx: &[u16; 32], src: __m512i) {
        let g = r / 4;
        // SAFETY: features from the trampoline.
        self.q[g] = unsafe { perm(self.q[g], idx, src) };
    }

    /// The columns of `W` words a row: `out[a]` holds word `2a` of rows
    /// 0-15 in its low 16 words and word `2a + 1` in its high 16 (junk
    /// past `W`).
    ///
    /// # Safety
    /// Inlined into an AVX-512 BW trampoline; all sixteen rows queued.
    #[inline(always)]
    unsafe fn sort<const W: usize>(&self) -> [__m512i; 4] {
        let t = const { &sort_idx(W) };
        let q = &self.q;
        // SAFETY: features from the trampoline.
        unsafe {
            let mut out = [_mm512_setzero_si512(); 4];
            for k in 0..W.div_ceil(4) {
                let lo = perm(q[0], &t[0][k], q[1]);
                let hi = perm(q[2], &t[0][k], q[3]);
                for h in 0..2 {
                    if 2 * (2 * k + h) < W.max(2) {
                        out[2 * k + h] = perm(lo, &t[1][2 * k + h], hi);
                    }
                }
            }
            out
        }
    }
}

/// Scales of a format whose `BB`-byte blocks start with the f16 scale,
/// and with `M` the f16 minimum (which the GEMM adds as `m · s_x`).
///
/// A row puts, for a step of `C` chunks, `C` scales (and `C` minimums)
/// into its queue: one word each, from one load.
pub(in super::super) struct F16Queue<const BB: usize, const M: bool>;

impl<const BB: usize, const M: bool> F16Queue<BB, M> {
    /// Words a row for steps of 1, 2 and 4 chunks.
    const W1: usize = 1 + M as usize;
    const W2: usize = 2 * Self::W1;
    const W4: usize = 4 * Self::W1;
    /// Word `i` of a row (`i < W`): chunk `i % C`'s scale, or its minimum
    /// from `i = C` on.
    const PUT: [[u16; 32]; 3] = {
        let h = BB / 2;
        [
            put_idx(Self::W1, [0, 1, 0, 0, 0, 0, 0, 0]),
            put_idx(Self::W2, [0, h, 1, h + 1, 0, 0, 0, 0]),
            put_idx(
                Self::W4,
                [0, h, 2 * h, 3 * h, 1, h + 1, 2 * h + 1, 3 * h + 1],
            ),
        ]
    };
}

impl<const BB: usize, const M: bool> Queue for F16Queue<BB, M> {
    type Buf = Rows4;
    /// Sorted columns and `C`: chunk `k`'s scale is word `k`, its
    /// minimum word `C + k`.
    type Cols = ([__m512i; 4], usize);

    #[inline(always)]
    unsafe fn new() -> Rows4 {
        // SAFETY: forwarded.
        unsafe { Rows4::new() }
    }

    #[inline(always)]
    unsafe fn put<const C: usize>(buf: &mut Rows4, w: *const u8, b: usize, r: usize) {
        const { assert!(BB % 2 == 0 && BB >= 18) };
        // SAFETY: a quad is `4 BB ≥ 64` readable bytes (checked by
        // `Quad4`); otherwise the masked load reads only the scale words
        // of blocks `b..b + C` (masked-off words are not accessed).
        unsafe {
            let p = w.add(b * BB);
            let (s, idx) = if C == 4 {
                (_mm512_loadu_si512(p.cast()), &Self::PUT[2])
            } else {
                // Only the scale words: a wider plain load would cover
                // the weights' bytes too, and LLVM then builds those from
                // it with shuffles instead of loading them.
                let (one, two) = if M {
                    (0b11, 0b11 << (BB / 2))
                } else {
                    (1, 1 << (BB / 2))
                };
                let mask = if C == 2 { one | two } else { one };
                let s = _mm512_maskz_loadu_epi16(mask, p.cast());
                (s, &Self::PUT[C - 1])
            };
            buf.put(r, idx, s);
        }
    }

    #[inline(always)]
    unsafe fn cols<const C: usize>(buf: &Rows4) -> ([__m512i; 4], usize) {
        // SAFETY: features from the trampoline.
        unsafe {
            let s = match C {
                4 if M => buf.sort::<8>(),
                4 => buf.sort::<4>(),
                2 if M => buf.sort::<4>(),
                2 => buf.sort::<2>(),
                _ if M => buf.sort::<2>(),
                _ => buf.sort::<1>(),
            };
            (s, C)
        }
    }

    #[inline(always)]
    unsafe fn lane(cols: &([__m512i; 4], usize), k: usize) -> Lanes {
        let (s, c) = cols;
        // SAFETY: features from the trampoline.
        unsafe {
            let d = cvt_half(s[k / 2], k % 2);
            let m = if M {
                let i = c + k;
                cvt_half(s[i / 2], i % 2)
            } else {
                _mm512_setzero_ps()
            };
            Lanes {
                d,
                d2: d,
                c: m,
                c2: m,
            }
        }
    }
}

/// The K-quant scales of one format, read from a block.
pub(in super::super) trait KScales {
    /// A 4-byte load at byte `DD` of a block holds the f16 `d` at word
    /// `DW`, and `dmin` (for formats with a minimum) at word `DW + 1`.
    const DD: usize;
    const DW: usize;

    /// The block's small scales as 16 bytes, two a chunk (byte `2i` and
    /// `2i + 1` for chunk `i`, in the format's own terms, which
    /// [`KScales::decode`] reads).
    ///
    /// # Safety
    /// The block readable; inlined into the VNNI trampoline.
    unsafe fn bytes(w: *const u8) -> __m128i;

    /// Chunk `k`'s [`Lanes`] from the 16-bit word of each row (`w` lane
    /// `r`: bytes `2k` and `2k + 1` of row `r`, zero-extended) and the
    /// rows' `d` and `dmin` in f32.
    ///
    /// # Safety
    /// Inlined into the VNNI trampoline.
    unsafe fn decode(w: __m512i, d: __m512, dmin: __m512) -> Lanes;
}

/// [`KQueue`]'s registers: the sixteen bytes of small scales of each row
/// (eight words), and its `d` and `dmin` (two words).
#[derive(Clone, Copy)]
pub(in super::super) struct KRegs {
    bytes: Rows4,
    d: Rows4,
}

/// [`KRegs`] sorted: `w[a]` words `2a` (low half) and `2a + 1` of the 16
/// rows, and `d`, `dmin` as f32.
#[derive(Clone, Copy)]
pub(in super::super) struct KCols {
    w: [__m512i; 4],
    d: __m512,
    dmin: __m512,
}

/// The scales of a K-quant format `F`, a block (eight chunks) a step.
pub(in super::super) struct KQueue<F>(PhantomData<F>);

impl<F: KScales> KQueue<F> {
    const BYTES: [u16; 32] = put_idx(8, [0, 1, 2, 3, 4, 5, 6, 7]);
    const D: [u16; 32] = put_idx(2, [F::DW, F::DW + 1, 0, 0, 0, 0, 0, 0]);
}

impl<F: KScales + RowFormat> Queue for KQueue<F> {
    type Buf = KRegs;
    type Cols = KCols;

    #[inline(always)]
    unsafe fn new() -> KRegs {
        // SAFETY: forwarded.
        unsafe {
            KRegs {
                bytes: Rows4::new(),
                d: Rows4::new(),
            }
        }
    }

    #[inline(always)]
    unsafe fn put<const C: usize>(buf: &mut KRegs, w: *const u8, b: usize, r: usize) {
        // SAFETY: the block holding chunk `b` is readable (`C` is 8 and
        // `b` a block's first chunk); `DD + 4 ≤ BB`.
        unsafe {
            let w = w.add(b / F::NB * F::BB);
            buf.bytes
                .put(r, &Self::BYTES, _mm512_castsi128_si512(F::bytes(w)));
            let dd = _mm_loadu_si32(w.add(F::DD));
            buf.d.put(r, &Self::D, _mm512_castsi128_si512(dd));
        }
    }

    #[inline(always)]
    unsafe fn cols<const C: usize>(buf: &KRegs) -> KCols {
        // SAFETY: features from the trampoline.
        unsafe {
            let d = buf.d.sort::<2>()[0];
            KCols {
                w: buf.bytes.sort::<8>(),
                d: cvt_half(d, 0),
                dmin: cvt_half(d, 1),
            }
        }
    }

    #[inline(always)]
    unsafe fn lane(cols: &KCols, k: usize) -> Lanes {
        // SAFETY: features from the trampoline.
        unsafe {
            let v = cols.w[k / 2];
            let h = if k % 2 == 0 {
                _mm512_castsi512_si256(v)
            } else {
                _mm512_extracti64x4_epi64::<1>(v)
            };
            F::decode(_mm512_cvtepu16_epi32(h), cols.d, cols.dmin)
        }
    }
}

/// `d · float(s)` for each lane's integer `s`, the product the scalar
/// scales compute.
///
/// # Safety
/// Inlined into an AVX-512 trampoline.
#[inline(always)]
unsafe fn times(d: __m512, s: __m512i) -> __m512 {
    // SAFETY: features from the trampoline.
    unsafe { _mm512_mul_ps(d, _mm512_cvtepi32_ps(s)) }
}

/// `-(dmin · float(m))`: a minimum as the GEMM adds it.
///
/// # Safety
/// Inlined into an AVX-512 trampoline.
#[inline(always)]
unsafe fn minus_times(dmin: __m512, m: __m512i) -> __m512 {
    // SAFETY: features from the trampoline.
    unsafe {
        let p = _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(m));
        _mm512_castsi512_ps(_mm512_xor_si512(
            _mm512_castps_si512(p),
            _mm512_set1_epi32(i32::MIN),
        ))
    }
}

/// The low byte of each i32 lane (`SIGNED`: sign-extended), and the
/// second byte.
///
/// # Safety
/// Inlined into an AVX-512 trampoline.
#[inline(always)]
unsafe fn lo_hi<const SIGNED: bool>(w: __m512i) -> (__m512i, __m512i) {
    // SAFETY: features from the trampoline.
    unsafe {
        if SIGNED {
            (
                _mm512_srai_epi32::<24>(_mm512_slli_epi32::<24>(w)),
                _mm512_srai_epi32::<24>(_mm512_slli_epi32::<16>(w)),
            )
        } else {
            (
                _mm512_and_si512(w, _mm512_set1_epi32(0xFF)),
                _mm512_srli_epi32::<8>(w),
            )
        }
    }
}

/// Six-bit values `((B[a] >> sa) & 15) | ((B[b] >> sb) & 3) << 4` of the
/// bytes `B` of `v`, sixteen of them, as bytes: the packed scales of
/// Q3_K, Q4_K and IQ4_XS, each value with its own sources. `t[0..4]`
/// hold `a, sa, b, sb` for each of the 16 values.
///
/// # Safety
/// Inlined into an AVX-512 BW trampoline with VL.
#[inline(always)]
unsafe fn six_bits(v: __m128i, t: &[[u16; 16]; 4]) -> __m128i {
    // SAFETY: features from the trampoline; each table is 32 bytes.
    unsafe {
        let [a, sa, b, sb] = [
            _mm256_loadu_si256(t[0].as_ptr().cast()),
            _mm256_loadu_si256(t[1].as_ptr().cast()),
            _mm256_loadu_si256(t[2].as_ptr().cast()),
            _mm256_loadu_si256(t[3].as_ptr().cast()),
        ];
        let words = _mm256_cvtepu8_epi16(v);
        let lo = _mm256_srlv_epi16(_mm256_permutexvar_epi16(a, words), sa);
        let hi = _mm256_srlv_epi16(_mm256_permutexvar_epi16(b, words), sb);
        let s = _mm256_or_si256(
            _mm256_and_si256(lo, _mm256_set1_epi16(15)),
            _mm256_slli_epi16::<4>(_mm256_and_si256(hi, _mm256_set1_epi16(3))),
        );
        _mm256_cvtepi16_epi8(s)
    }
}

/// The tables of [`six_bits`] for 16 values `g`, from `f(g) = (a, sa, b,
/// sb)`.
const fn six_table(kind: usize) -> [[u16; 16]; 4] {
    let mut t = [[0u16; 16]; 4];
    let mut g = 0;
    while g < 16 {
        let (a, sa, b, sb) = match kind {
            // Q4_K, Q5_K: value 2i is chunk i's scale, 2i + 1 its
            // minimum (`q4_k::scale_min`), from the 12 bytes at 4.
            0 => {
                let (i, m) = (g / 2, g % 2);
                match (i < 4, m) {
                    (true, 0) => (i, 0, i, 4),
                    (true, _) => (i + 4, 0, i + 4, 4),
                    (false, 0) => (i + 4, 0, i - 4, 6),
                    (false, _) => (i + 4, 4, i, 6),
                }
            }
            // Q3_K, group g (`q3_k::scale`, before its `- 32`), from the
            // 16 bytes at 94: the 12 scale bytes start at byte 2.
            1 => (2 + g % 8, 4 * (g / 8), 2 + 8 + g % 4, 2 * (g / 4)),
            // IQ4_XS, chunk g / 2 (`iq4::xs_scale`, before its `- 32`),
            // from `scales_h` (bytes 0-1) and `scales_l` (2-5) at 2.
            _ => {
                let i = g / 2;
                (2 + i / 2, 4 * (i % 2), i / 4, 2 * (i % 4))
            }
        };
        t[0][g] = a as u16;
        t[1][g] = sa as u16;
        t[2][g] = b as u16;
        t[3][g] = sb as u16;
        g += 1;
    }
    t
}
const SIX_Q4K: [[u16; 16]; 4] = six_table(0);
const SIX_Q3K: [[u16; 16]; 4] = six_table(1);
const SIX_IQ4XS: [[u16; 16]; 4] = six_table(2);

/// Q4_K and Q5_K: chunk `i`'s scale `sc` and minimum `m` (6 bits each).
///
/// # Safety
/// Inlined into an AVX-512 trampoline.
#[inline(always)]
unsafe fn decode_k(w: __m512i, d: __m512, dmin: __m512) -> Lanes {
    // SAFETY: features from the trampoline.
    unsafe {
        let (sc, m) = lo_hi::<false>(w);
        let (lo, c) = (times(d, sc), minus_times(dmin, m));
        Lanes {
            d: lo,
            d2: lo,
            c,
            c2: c,
        }
    }
}

// SAFETY (every `unsafe` block below): the caller guarantees the block
// readable at `w` and the trampoline's features; each load lies within
// the block (sizes from `formats`).

impl KScales for Q4K {
    const DD: usize = 0;
    const DW: usize = 0;

    #[inline(always)]
    unsafe fn bytes(w: *const u8) -> __m128i {
        // SAFETY: see above; bytes 4..20 of 144.
        unsafe { six_bits(_mm_loadu_si128(w.add(4).cast()), &SIX_Q4K) }
    }

    #[inline(always)]
    unsafe fn decode(w: __m512i, d: __m512, dmin: __m512) -> Lanes {
        // SAFETY: see above.
        unsafe { decode_k(w, d, dmin) }
    }
}

impl KScales for Q5K {
    const DD: usize = 0;
    const DW: usize = 0;

    #[inline(always)]
    unsafe fn bytes(w: *const u8) -> __m128i {
        // SAFETY: see above; bytes 4..20 of 176.
        unsafe { six_bits(_mm_loadu_si128(w.add(4).cast()), &SIX_Q4K) }
    }

    #[inline(always)]
    unsafe fn decode(w: __m512i, d: __m512, dmin: __m512) -> Lanes {
        // SAFETY: see above.
        unsafe { decode_k(w, d, dmin) }
    }
}

impl KScales for Q6K {
    const DD: usize = 206;
    const DW: usize = 1;

    #[inline(always)]
    unsafe fn bytes(w: *const u8) -> __m128i {
        // SAFETY: see above; the 16 signed scales at 192..208 of 210.
        unsafe { _mm_loadu_si128(w.add(192).cast()) }
    }

    #[inline(always)]
    unsafe fn decode(w: __m512i, d: __m512, _: __m512) -> Lanes {
        // SAFETY: see above.
        unsafe {
            let (lo, hi) = lo_hi::<true>(w);
            let z = _mm512_setzero_ps();
            Lanes {
                d: times(d, lo),
                d2: times(d, hi),
                c: z,
                c2: z,
            }
        }
    }
}

impl KScales for Q3K {
    const DD: usize = 106;
    const DW: usize = 1;

    #[inline(always)]
    unsafe fn bytes(w: *const u8) -> __m128i {
        // SAFETY: see above; bytes 94..110 of 110 (the scales at 96).
        unsafe { six_bits(_mm_loadu_si128(w.add(94).cast()), &SIX_Q3K) }
    }

    #[inline(always)]
    unsafe fn decode(w: __m512i, d: __m512, _: __m512) -> Lanes {
        // SAFETY: see above.
        unsafe {
            let (lo, hi) = lo_hi::<false>(w);
            let off = _mm512_set1_epi32(32);
            let z = _mm512_setzero_ps();
            Lanes {
                d: times(d, _mm512_sub_epi32(lo, off)),
                d2: times(d, _mm512_sub_epi32(hi, off)),
                c: z,
                c2: z,
            }
        }
    }
}

impl KScales for Q2K {
    const DD: usize = 80;
    const DW: usize = 0;

    #[inline(always)]
    unsafe fn bytes(w: *const u8) -> __m128i {
        // SAFETY: see above; the 16 scale bytes at 0..16 of 84.
        unsafe { _mm_loadu_si128(w.cast()) }
    }

    #[inline(always)]
    unsafe fn decode(w: __m512i, d: __m512, dmin: __m512) -> Lanes {
        // SAFETY: see above.
        unsafe {
            let (a, z) = lo_hi::<false>(w);
            let low = _mm512_set1_epi32(15);
            Lanes {
                d: times(d, _mm512_and_si512(a, low)),
                d2: times(d, _mm512_and_si512(z, low)),
                c: minus_times(dmin, _mm512_srli_epi32::<4>(a)),
                c2: minus_times(dmin, _mm512_srli_epi32::<4>(z)),
            }
        }
    }
}

impl KScales for Iq4Xs {
    const DD: usize = 0;
    const DW: usize = 0;

    #[inline(always)]
    unsafe fn bytes(w: *const u8) -> __m128i {
        // SAFETY: see above; bytes 2..18 of 136 (the scales at 2..8).
        unsafe { six_bits(_mm_loadu_si128(w.add(2).cast()), &SIX_IQ4XS) }
    }

    #[inline(always)]
    unsafe fn decode(w: __m512i, d: __m512, _: __m512) -> Lanes {
        // SAFETY: see above.
        unsafe {
            let (s, _) = lo_hi::<false>(w);
            let s = times(d, _mm512_sub_epi32(s, _mm512_set1_epi32(32)));
            let z = _mm512_setzero_ps();
            Lanes {
                d: s,
                d2: s,
                c: z,
                c2: z,
            }
        }
    }
}
