//! Decode-sized products on AVX512-VNNI in the GEMM's arithmetic: one to
//! four tokens against sixteen weight rows at a time, each output summed
//! exactly as [`super::gemm`] sums it, so that a product's bits do not
//! depend on how many tokens share the call.
//!
//! The GEMM keeps one row per f32 lane: per 32-value chunk it forms the
//! exact integer dot of each row, then runs one chain of f32 operations
//! per lane ([`step`]: the scale product, the FMA, the minimum's FMA) over
//! the chunks in order. Integer sums are exact in any order, so only that
//! chain has to be the same; this kernel forms the integer dots another
//! way. Each row is read in its stored order, as the small-batch tiles
//! read it: its unpacked bytes meet the activation bytes in `vpdpbusd`,
//! which leaves a chunk's dot spread over four or eight i32 lanes of that
//! row's register. Sixteen such registers (sixteen rows) are then summed
//! and transposed together ([`four`], [`transpose`]) so that lane `i`
//! holds row `i`'s dot: about two operations a row and step, where the
//! tiles pay a convert, a scale product and an FMA per row and chunk.
//! Where the lanes are small enough (weights of at most 6 bits), the sums
//! pack to i16 and add pairs with `vpmaddwd`, half the shuffles of 32-bit
//! unpacks.
//!
//! The weights are made unsigned for `vpdpbusd` by the smallest offset
//! that does it (`q + 32` for Q6_K, `q + 4` for Q3_K, `q + 128` for 8-bit
//! values), which keeps the lanes small; the offset comes off each
//! chunk's (or half's) dot through the exact activation sums, as in the
//! GEMM. The rows' scales reach the lanes through the queues of
//! [`scales`], one shuffle a row, without gathers: an earlier kernel in
//! this order that gathered the scales and transposed the unpacked
//! weights ran at half the tiles' speed.
//!
//! Rows are read sixteen side by side, each weight unpacked once for all
//! the tokens of the pass; the next sixteen rows are prefetched meanwhile
//! (see [`group_step`]).

mod scales;

use super::gemm::{half_sums, step, Gemm, Rows};
use super::tiles::{Q4_0, Q4_1, Q8_0};
use super::{act_pair_nibble_order, act_quads, Quad4};
use crate::formats::BlockQ8A;
use crate::kernels::rows::RowFormat;
use scales::{F16Queue, KQueue, Queue};
use std::arch::x86_64::*;
use std::ptr::{addr_of, null};

/// Rows per group: one per f32 lane.
const G: usize = 16;

/// The activations of one step, in the layout of the row bodies: for
/// pairs, `a = [x_b | x_b+1]` (the upper half zero for a single chunk);
/// for quads ([`Gemv::QUAD`]), the low and high 16 values of four blocks
/// as [`super::ActQuad`] holds them.
#[derive(Clone, Copy)]
pub(super) struct Xs {
    a: __m512i,
    b: __m512i,
}

/// A format [`gemv`] can run: a [`Gemm`] format (whose `step` it shares),
/// with the unsigned form of its weights and the queue of its scales.
pub(super) trait Gemv: Gemm {
    /// Whether the main steps take four chunks through [`Gemv::quad_u`]
    /// (else two through [`Gemv::pair_u`]).
    const QUAD: bool = false;
    /// The unsigned weights [`Gemv::row_u`] gives are below `RANGE`.
    const RANGE: i32;
    /// Those are the weights plus `OFF`: `OFF Σx` comes off each dot.
    const OFF: i32;
    /// The queue that brings the rows' scales to the lanes.
    type Queue: Queue;

    /// Chunk `b` of the row at `w` as 32 unsigned bytes in element order,
    /// the weights plus [`Gemv::OFF`].
    ///
    /// # Safety
    /// Chunk `b` readable; inlined into the VNNI trampoline.
    unsafe fn row_u(w: *const u8, b: usize) -> __m256i;

    /// Whether [`Gemv::pair_u`] gives the nibble order `[u_b[..16]
    /// u_b+1[..16] | u_b[16..] u_b+1[16..]]` (else `[u_b | u_b+1]`).
    const NIBBLE: bool = false;

    /// Chunks `b` and `b + 1` of the row at `w` as 64 unsigned bytes (see
    /// [`Gemv::NIBBLE`]).
    ///
    /// # Safety
    /// The chunks readable; inlined into the VNNI trampoline.
    #[inline(always)]
    unsafe fn pair_u(w: *const u8, b: usize) -> __m512i {
        // SAFETY: forwarded.
        unsafe {
            let lo = _mm512_castsi256_si512(Self::row_u(w, b));
            _mm512_inserti64x4::<1>(lo, Self::row_u(w, b + 1))
        }
    }

    /// Chunks `b..b + 4` of the row at `w` as [`Quad4`] loads them: the
    /// low and the high nibbles, 128-bit lane `k` for chunk `b + k`. Only
    /// called with [`Gemv::QUAD`].
    ///
    /// # Safety
    /// The four chunks readable; inlined into the VNNI trampoline.
    unsafe fn quad_u(_w: *const u8, _b: usize) -> (__m512i, __m512i) {
        unreachable!("a format without quads")
    }
}

impl Gemv for Q4_0 {
    const QUAD: bool = true;
    const NIBBLE: bool = true;
    const RANGE: i32 = 16;
    const OFF: i32 = 8;
    type Queue = F16Queue<18, false>;

    #[inline(always)]
    unsafe fn row_u(w: *const u8, b: usize) -> __m256i {
        // SAFETY: forwarded.
        unsafe { Self::row_u8(w, b) }
    }

    #[inline(always)]
    unsafe fn pair_u(w: *const u8, b: usize) -> __m512i {
        // SAFETY: forwarded.
        unsafe { nibble_pair(w, 18, 2, b) }
    }

    #[inline(always)]
    unsafe fn quad_u(w: *const u8, b: usize) -> (__m512i, __m512i) {
        // SAFETY: blocks `b..b + 4` are 72 readable bytes.
        let (lo, hi, _) = unsafe { Quad4::<18, 2>::load(w.add(b * 18)) };
        (lo, hi)
    }
}

impl Gemv for Q4_1 {
    const QUAD: bool = true;
    const NIBBLE: bool = true;
    const RANGE: i32 = 16;
    const OFF: i32 = 0;
    type Queue = F16Queue<20, true>;

    #[inline(always)]
    unsafe fn row_u(w: *const u8, b: usize) -> __m256i {
        // SAFETY: forwarded.
        unsafe { Self::row_u8(w, b) }
    }

    #[inline(always)]
    unsafe fn pair_u(w: *const u8, b: usize) -> __m512i {
        // SAFETY: forwarded.
        unsafe { nibble_pair(w, 20, 4, b) }
    }

    #[inline(always)]
    unsafe fn quad_u(w: *const u8, b: usize) -> (__m512i, __m512i) {
        // SAFETY: blocks `b..b + 4` are 80 readable bytes.
        let (lo, hi, _) = unsafe { Quad4::<20, 4>::load(w.add(b * 20)) };
        (lo, hi)
    }
}

impl Gemv for Q8_0 {
    const RANGE: i32 = 256;
    const OFF: i32 = 128;
    type Queue = F16Queue<34, false>;

    #[inline(always)]
    unsafe fn row_u(w: *const u8, b: usize) -> __m256i {
        // SAFETY: forwarded; `row_u8` gives `w ^ 0x80 = w + 128`.
        unsafe { Self::row_u8(w, b) }
    }
}

/// What the GEMV needs of a row format beyond [`RowFormat`]: the queue
/// of its scales, and a pair body where one beats [`Gemv::pair_u`]'s.
pub(super) trait GemvRow: RowFormat + Sized {
    type Queue: Queue;
    /// As [`Gemv::NIBBLE`].
    const NIBBLE: bool = false;

    /// As [`Gemv::pair_u`].
    ///
    /// # Safety
    /// As [`Gemv::pair_u`].
    #[inline(always)]
    unsafe fn pair_u(w: *const u8, b: usize) -> __m512i {
        // SAFETY: forwarded.
        unsafe {
            let lo = _mm512_castsi256_si512(row_u::<Self>(w, b));
            _mm512_inserti64x4::<1>(lo, row_u::<Self>(w, b + 1))
        }
    }
}

/// [`Gemv::row_u`] of a row format: its chunk, plus `RANGE / 2` if
/// signed.
///
/// # Safety
/// As [`Gemv::row_u`].
#[inline(always)]
unsafe fn row_u<F: RowFormat>(w: *const u8, b: usize) -> __m256i {
    // SAFETY: the block holding chunk `b` is readable; the trampoline has
    // the features `X86` needs.
    unsafe {
        let q = F::chunk::<crate::kernels::x86_64::rows::X86>(w.add(b / F::NB * F::BB), b % F::NB);
        if F::SIGNED {
            // Values in `-RANGE / 2..RANGE / 2`.
            _mm256_add_epi8(q, _mm256_set1_epi8((F::RANGE / 2) as i8))
        } else {
            q
        }
    }
}

impl<F: GemvRow> Gemv for Rows<F> {
    const RANGE: i32 = F::RANGE;
    const OFF: i32 = if F::SIGNED { F::RANGE / 2 } else { F::OFFSET };
    const NIBBLE: bool = F::NIBBLE;
    type Queue = F::Queue;

    #[inline(always)]
    unsafe fn row_u(w: *const u8, b: usize) -> __m256i {
        // SAFETY: forwarded.
        unsafe { row_u::<F>(w, b) }
    }

    #[inline(always)]
    unsafe fn pair_u(w: *const u8, b: usize) -> __m512i {
        // SAFETY: forwarded.
        unsafe { F::pair_u(w, b) }
    }
}

/// The packed nibbles of two blocks (`bb` bytes, the 16 nibble bytes at
/// byte `q`) in nibble order `[lo_b lo_b1 | hi_b hi_b1]`: each block's
/// bytes broadcast to every 128-bit lane (plain loads), one block per
/// lane pair, the high nibbles shifted down in lanes 2 and 3. No
/// shuffle, where two 256-bit unpacks and an insert took three.
///
/// # Safety
/// Blocks `b` and `b + 1` readable; inlined into the VNNI trampoline.
#[inline(always)]
unsafe fn nibble_pair(w: *const u8, bb: usize, q: usize, b: usize) -> __m512i {
    // SAFETY: 16 bytes at `q` in each block.
    unsafe {
        let (p0, p1) = (w.add(b * bb), w.add((b + 1) * bb));
        let q0 = _mm512_broadcast_i32x4(_mm_loadu_si128(p0.add(q).cast()));
        let q1 = _mm512_broadcast_i32x4(_mm_loadu_si128(p1.add(q).cast()));
        let z = _mm512_mask_blend_epi64(0b1100_1100, q0, q1);
        let z = _mm512_mask_srli_epi16::<4>(z, 0xFFFF_0000, z);
        _mm512_and_si512(z, _mm512_set1_epi8(0x0F))
    }
}

/// Two blocks of Q5_0 or Q5_1 (`BB` bytes, `qh` at byte `H`, then `qs`)
/// in nibble order: [`nibble_pair`], then the fifth bits added as `16`
/// under a byte mask built from the two `qh` words (bit `j` of `qh` is
/// value `j`'s), in the same order: a masked add instead of the
/// table-driven unpacking of each block.
///
/// # Safety
/// Blocks `b` and `b + 1` readable; inlined into the VNNI trampoline.
#[inline(always)]
unsafe fn q5_pair<const BB: usize, const H: usize>(w: *const u8, b: usize) -> __m512i {
    // SAFETY: `qh` (4 bytes) and `qs` (16) of each block are readable.
    unsafe {
        let (p0, p1) = (w.add(b * BB), w.add((b + 1) * BB));
        let z = nibble_pair(w, BB, H + 4, b);
        let a = u32::from_le(p0.add(H).cast::<u32>().read_unaligned()) as u64;
        let c = u32::from_le(p1.add(H).cast::<u32>().read_unaligned()) as u64;
        let k = (a & 0xFFFF) | (c & 0xFFFF) << 16 | (a >> 16) << 32 | (c >> 16) << 48;
        _mm512_mask_add_epi8(z, k, z, _mm512_set1_epi8(16))
    }
}

impl GemvRow for crate::kernels::rows::formats::Q5_0 {
    type Queue = F16Queue<{ std::mem::size_of::<crate::formats::BlockQ5_0>() }, false>;
    const NIBBLE: bool = true;

    #[inline(always)]
    unsafe fn pair_u(w: *const u8, b: usize) -> __m512i {
        use crate::formats::BlockQ5_0 as B;
        const { assert!(std::mem::offset_of!(B, qs) == std::mem::offset_of!(B, qh) + 4) };
        // SAFETY: forwarded.
        unsafe { q5_pair::<{ std::mem::size_of::<B>() }, { std::mem::offset_of!(B, qh) }>(w, b) }
    }
}

impl GemvRow for crate::kernels::rows::formats::Q5_1 {
    type Queue = F16Queue<{ std::mem::size_of::<crate::formats::BlockQ5_1>() }, true>;
    const NIBBLE: bool = true;

    #[inline(always)]
    unsafe fn pair_u(w: *const u8, b: usize) -> __m512i {
        use crate::formats::BlockQ5_1 as B;
        const { assert!(std::mem::offset_of!(B, qs) == std::mem::offset_of!(B, qh) + 4) };
        // SAFETY: forwarded.
        unsafe { q5_pair::<{ std::mem::size_of::<B>() }, { std::mem::offset_of!(B, qh) }>(w, b) }
    }
}

/// The 32-value formats: f16 scale (and minimum) first in each block.
macro_rules! f16_rows {
    ($($f:ident: $block:ident, $min:literal;)*) => {$(
        impl GemvRow for crate::kernels::rows::formats::$f {
            type Queue = F16Queue<{ std::mem::size_of::<crate::formats::$block>() }, $min>;
        }
    )*};
}
f16_rows! {
    Q8_0: BlockQ8_0, false;
    Q4_0: BlockQ4_0, false;
    Q4_1: BlockQ4_1, true;
    Iq4Nl: BlockIq4Nl, false;
}

/// The K-quants and IQ4_XS: small integer scales in each 256-value block.
macro_rules! k_rows {
    ($($f:ident)*) => {$(
        impl GemvRow for crate::kernels::rows::kquants::$f {
            type Queue = KQueue<crate::kernels::rows::kquants::$f>;
        }
    )*};
}
k_rows!(Q2K Q3K Q4K Q5K Q6K Iq4Xs);

/// One row's partial dots for chunks `b..b + C` against each of `T`
/// tokens (activations `x[t]`, laid out as the weights), the weights
/// unpacked once for all of them. Quads ([`Gemv::QUAD`], `C` 4): lanes
/// `4k..4k + 4` sum to chunk `b + k`. Pairs: one `vpdpbusd` of
/// [`Gemv::pair_u`]'s bytes, so each 128-bit lane sums one half of one
/// chunk: `[b lo, b hi, b+1 lo, b+1 hi]`, or with [`Gemv::NIBBLE`] `[b lo,
/// b+1 lo, b hi, b+1 hi]`; one chunk is `[b lo, b hi]` and zeros.
///
/// # Safety
/// The chunks readable; inlined into the VNNI trampoline.
#[inline(always)]
unsafe fn dots<F: Gemv, const C: usize, const T: usize>(
    w: *const u8,
    b: usize,
    x: &[Xs; T],
) -> [__m512i; T] {
    // SAFETY: forwarded; features from the trampoline.
    unsafe {
        let zero = _mm512_setzero_si512();
        let mut out = [zero; T];
        if F::QUAD && C == 4 {
            let (lo, hi) = F::quad_u(w, b);
            for (o, x) in out.iter_mut().zip(x) {
                *o = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, lo, x.a), hi, x.b);
            }
        } else {
            let u = if C == 2 {
                F::pair_u(w, b)
            } else {
                _mm512_zextsi256_si512(F::row_u(w, b))
            };
            for (o, x) in out.iter_mut().zip(x) {
                *o = _mm512_dpbusd_epi32(zero, u, x.a);
            }
        }
        out
    }
}

/// The activations of chunks `b..b + C` in the layout of the row bodies.
///
/// # Safety
/// The blocks readable; inlined into the VNNI trampoline.
#[inline(always)]
unsafe fn act<F: Gemv, const C: usize>(x: *const BlockQ8A, b: usize) -> Xs {
    // SAFETY: blocks `b..b + C` readable; `qs` is 32 bytes.
    unsafe {
        if F::QUAD && C == 4 {
            let q = act_quads([x], b)[0];
            Xs { a: q.lo, b: q.hi }
        } else if F::NIBBLE && C == 2 {
            Xs {
                a: act_pair_nibble_order(x, b),
                b: _mm512_setzero_si512(),
            }
        } else {
            let qs = |k: usize| _mm256_loadu_si256(addr_of!((*x.add(k)).qs).cast());
            let lo = _mm512_castsi256_si512(qs(b));
            let hi = if C == 2 {
                qs(b + 1)
            } else {
                _mm256_setzero_si256()
            };
            Xs {
                a: _mm512_inserti64x4::<1>(lo, hi),
                b: _mm512_setzero_si512(),
            }
        }
    }
}

/// How [`four`] sums: `Packs` levels pack to i16 and add pairs with
/// `vpmaddwd` (each input lane, and at the second level each sum of two,
/// within ±32767); the others unpack and add i32.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sums {
    /// Both levels in i16.
    Packs2,
    /// The first level in i16, the second in i32.
    Packs1,
    /// Both in i32.
    Wide,
}

/// The [`Sums`] of format `F`'s row bodies, whose lanes hold `products`
/// products of an unsigned weight below `F::RANGE` and an activation of
/// magnitude at most 128.
const fn sums<F: Gemv>(products: i32) -> Sums {
    let lane = products * (F::RANGE - 1) * 128;
    if 2 * lane <= i16::MAX as i32 {
        Sums::Packs2
    } else if lane <= i16::MAX as i32 {
        Sums::Packs1
    } else {
        Sums::Wide
    }
}

/// The first level of [`four`] for rows `a` and `b`.
///
/// # Safety
/// As [`four`].
#[inline(always)]
unsafe fn first(a: __m512i, b: __m512i, how: Sums) -> __m512i {
    // SAFETY: features from the trampoline; the packs are exact by the
    // caller's bounds.
    unsafe {
        if how == Sums::Wide {
            _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b))
        } else {
            _mm512_madd_epi16(_mm512_packs_epi32(a, b), _mm512_set1_epi16(1))
        }
    }
}

/// The second level of [`four`], for the [`first`]s of rows `a, b` and
/// `c, d`.
///
/// # Safety
/// As [`four`].
#[inline(always)]
unsafe fn second(p: __m512i, q: __m512i, how: Sums) -> __m512i {
    // SAFETY: as `first`.
    unsafe {
        match how {
            Sums::Packs2 => _mm512_madd_epi16(_mm512_packs_epi32(p, q), _mm512_set1_epi16(1)),
            Sums::Packs1 => {
                let (p, q) = (_mm512_castsi512_ps(p), _mm512_castsi512_ps(q));
                _mm512_add_epi32(
                    _mm512_castps_si512(_mm512_shuffle_ps::<0b10_00_10_00>(p, q)),
                    _mm512_castps_si512(_mm512_shuffle_ps::<0b11_01_11_01>(p, q)),
                )
            }
            Sums::Wide => {
                _mm512_add_epi32(_mm512_unpacklo_epi64(p, q), _mm512_unpackhi_epi64(p, q))
            }
        }
    }
}

/// The two levels of the row sums for rows `a, b, c, d` (`v`): in each
/// 128-bit lane, `[a, b, c, d]`, the sums of that lane's four i32 of each
/// row. Two rows first become `[a0 + a1, a2 + a3, b0 + b1, b2 + b3]`
/// (packs) or `[a0 + a2, b0 + b2, a1 + a3, b1 + b3]` (unpacks).
///
/// # Safety
/// Inlined into an AVX-512 BW trampoline; lanes within the bounds `how`
/// states.
#[inline(always)]
unsafe fn four(v: [__m512i; 4], how: Sums) -> __m512i {
    // SAFETY: features from the trampoline; bounds from the caller.
    unsafe { second(first(v[0], v[1], how), first(v[2], v[3], how), how) }
}

/// Transposes the 4 × 4 matrix of 128-bit lanes of the [`four`]s of rows
/// `4q..4q + 4` (`n[q]`): `out[j]` lane `r` is then row `r`'s sum of its
/// lanes `4j..4j + 4`.
///
/// # Safety
/// Inlined into an AVX-512 trampoline.
#[inline(always)]
unsafe fn transpose(n: [__m512i; 4]) -> [__m512i; 4] {
    // SAFETY: features from the trampoline.
    unsafe {
        let t0 = _mm512_shuffle_i32x4::<0b01_00_01_00>(n[0], n[1]);
        let t1 = _mm512_shuffle_i32x4::<0b11_10_11_10>(n[0], n[1]);
        let t2 = _mm512_shuffle_i32x4::<0b01_00_01_00>(n[2], n[3]);
        let t3 = _mm512_shuffle_i32x4::<0b11_10_11_10>(n[2], n[3]);
        [
            _mm512_shuffle_i32x4::<0b10_00_10_00>(t0, t2),
            _mm512_shuffle_i32x4::<0b11_01_11_01>(t0, t2),
            _mm512_shuffle_i32x4::<0b10_00_10_00>(t1, t3),
            _mm512_shuffle_i32x4::<0b11_01_11_01>(t1, t3),
        ]
    }
}

/// `-OFF` times the activation sum of chunk `xb` (with [`Gemm::HALVES`],
/// of each half), broadcast: what comes off the dots of unsigned weights.
///
/// # Safety
/// `xb` readable; inlined into the VNNI trampoline.
#[inline(always)]
unsafe fn offsets<F: Gemv>(xb: *const BlockQ8A) -> [__m512i; 2] {
    // SAFETY: `xb` readable; features from the trampoline.
    unsafe {
        if F::OFF == 0 {
            [_mm512_setzero_si512(); 2]
        } else if F::HALVES {
            let (l, h) = half_sums(xb);
            [
                _mm512_set1_epi32(-F::OFF * l),
                _mm512_set1_epi32(-F::OFF * h),
            ]
        } else {
            [
                _mm512_set1_epi32(-F::OFF * (*xb).sum),
                _mm512_setzero_si512(),
            ]
        }
    }
}

/// The sixteen row pointers of a group at `w` (`rb` bytes apart); rows
/// past `last` repeat it, so every step reads sixteen valid rows and the
/// extra lanes are dropped at the end.
#[inline(always)]
fn group_rows(w: *const u8, rb: usize, last: usize) -> [*const u8; G] {
    std::array::from_fn(|r| w.wrapping_add(r.min(last) * rb))
}

/// Asks for chunks `b..b + C` of the sixteen rows at `g` (`rb` bytes
/// apart): the lines that hold them, counted back from the last byte: `n`
/// lines hold them, but for the first line, which the previous chunks
/// share (and which chunk 0 asks for apart).
///
/// # Safety
/// None beyond SSE: prefetches never fault, and the addresses are
/// computed with wrapping arithmetic.
#[inline(always)]
unsafe fn prefetch<F: Gemv, const C: usize>(g: *const u8, rb: usize, b: usize) {
    let hi = ((b + C) * F::BB).div_ceil(F::NB);
    let n = (C * F::BB).div_ceil(F::NB * 64);
    for r in 0..G {
        let p = g.wrapping_add(r * rb);
        // SAFETY: prefetches are hints and never fault.
        unsafe {
            if b == 0 {
                _mm_prefetch::<_MM_HINT_T0>(p.cast());
            }
            for i in 0..n {
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(hi - 1 - 64 * i).cast());
            }
        }
    }
}

/// Runs `$body` with `$i` bound to 0, 1, 2 and 3 in turn, written out.
macro_rules! unroll4 {
    ($i:ident => $body:block) => {{
        {
            let $i: usize = 0;
            $body
        }
        {
            let $i: usize = 1;
            $body
        }
        {
            let $i: usize = 2;
            $body
        }
        {
            let $i: usize = 3;
            $body
        }
    }};
}

/// One step of a group of sixteen rows: chunks `b..b + C` against `T`
/// tokens (`x[t]`), continuing `acc[t]`. `C` is 1, 2, 4 (quads) or 8 (a
/// K-quant block, as four pairs). Asks for the same chunks of the next
/// group's rows (`next`, `rb` bytes apart), which that group's step will
/// read one group's time from now: a lead as long for every row, which a
/// linear walk of the next group's bytes (as the tiles do) does not give
/// its last rows, and which ran 5-20% faster on weights from memory.
///
/// # Safety
/// As [`gemv`] for these rows and chunks; `next` is only prefetched.
#[inline(always)]
unsafe fn group_step<F: Gemv, const C: usize, const T: usize>(
    rows: &[*const u8; G],
    rb: usize,
    b: usize,
    x: [*const BlockQ8A; T],
    next: *const u8,
    acc: &mut [__m512; T],
) {
    // SAFETY: the rows' chunks `b..b + C` are readable (the caller's),
    // activation blocks `b..b + C` of each token too.
    unsafe {
        if !next.is_null() {
            prefetch::<F, C>(next, rb, b);
        }
        let quad = F::QUAD && C == 4;
        let mut queue = F::Queue::new();
        for (r, &wr) in rows.iter().enumerate() {
            F::Queue::put::<C>(&mut queue, wr, b, r);
        }
        let cols = F::Queue::cols::<C>(&queue);
        let how = sums::<F>(if quad { 8 } else { 4 });
        let zero = _mm512_setzero_si512();
        // One quad, or pairs: one for C ≤ 2, four for C = 8.
        let parts = if quad { 1 } else { C.div_ceil(2) };
        for p in 0..parts {
            let bp = b + 2 * p;
            let mut xs = [Xs { a: zero, b: zero }; T];
            for (xs, &x) in xs.iter_mut().zip(&x) {
                *xs = if quad {
                    act::<F, 4>(x, b)
                } else if C == 1 {
                    act::<F, 1>(x, b)
                } else {
                    act::<F, 2>(x, bp)
                };
            }
            // `n[t][q]`: rows `4q..4q + 4` summed for token `t`. Written
            // out (`unroll4!`) so that every index is a constant and the
            // sums stay in registers: LLVM leaves these loops rolled, with
            // the arrays on the stack, at a third of the speed.
            let mut n = [[zero; 4]; T];
            unroll4!(q => {
                let mut v = [[zero; 4]; T];
                unroll4!(j => {
                    let wr = rows[4 * q + j];
                    let d = if C == 1 {
                        dots::<F, 1, T>(wr, b, &xs)
                    } else if quad {
                        dots::<F, 4, T>(wr, b, &xs)
                    } else {
                        dots::<F, 2, T>(wr, bp, &xs)
                    };
                    for t in 0..T {
                        v[t][j] = d[t];
                    }
                });
                for t in 0..T {
                    n[t][q] = four(v[t], how);
                }
            });
            for t in 0..T {
                let g = transpose(n[t]);
                for c in 0..if quad { 4 } else { C.min(2) } {
                    let k = 2 * p + c;
                    let xb = x[t].add(b + k);
                    let [o0, o1] = offsets::<F>(xb);
                    let (d0, d1) = if quad {
                        (g[c], zero)
                    } else if F::HALVES {
                        (g[2 * c], g[2 * c + 1])
                    } else if F::NIBBLE && C == 2 {
                        (_mm512_add_epi32(g[c], g[c + 2]), zero)
                    } else {
                        (_mm512_add_epi32(g[2 * c], g[2 * c + 1]), zero)
                    };
                    let dot = [_mm512_add_epi32(d0, o0), _mm512_add_epi32(d1, o1)];
                    acc[t] = step::<F>(acc[t], dot, &F::Queue::lane(&cols, k), xb);
                }
            }
        }
    }
}

/// `out[t][r · os] = W[r] · x[t]` for `rows` rows of `nb` chunks and `T`
/// tokens, each sum in [`super::gemm::gemm`]'s order: the weights are
/// read once for the `T` tokens. Uses a few hundred bytes of stack.
///
/// # Safety
/// AVX-512 F/BW/VL, VNNI, AVX2, FMA and F16C available (inlined into the
/// VNNI trampoline); `w` readable for `rows` rows of `nb` chunks of `F`,
/// every `x[t]` for `nb` blocks, `out[t] + r · os` writable for `r <
/// rows`.
#[inline(always)]
pub(super) unsafe fn gemv<F: Gemv, const T: usize>(
    w: *const u8,
    x: [*const BlockQ8A; T],
    rows: usize,
    nb: usize,
    out: [*mut f32; T],
    os: usize,
) {
    let rb = nb / F::NB * F::BB;
    let mut r0 = 0;
    // SAFETY: rows `r0..r0 + rv` are inside the caller's; `next` is the
    // next group's first row when there is one.
    unsafe {
        while r0 < rows {
            let rv = (rows - r0).min(G);
            let wg = w.add(r0 * rb);
            let next = if r0 + G < rows {
                wg.add(G * rb)
            } else {
                null()
            };
            let rs = group_rows(wg, rb, rv - 1);
            let mut acc = [_mm512_setzero_ps(); T];
            let mut b = 0;
            if F::NB == 8 {
                while b < nb {
                    group_step::<F, 8, T>(&rs, rb, b, x, next, &mut acc);
                    b += 8;
                }
            } else {
                if F::QUAD {
                    while b + 4 <= nb {
                        group_step::<F, 4, T>(&rs, rb, b, x, next, &mut acc);
                        b += 4;
                    }
                }
                while b + 2 <= nb {
                    group_step::<F, 2, T>(&rs, rb, b, x, next, &mut acc);
                    b += 2;
                }
                if b < nb {
                    group_step::<F, 1, T>(&rs, rb, b, x, next, &mut acc);
                }
            }
            for (a, o) in acc.iter().zip(out) {
                let o = o.add(r0 * os);
                if os == 1 {
                    _mm512_mask_storeu_ps(o, ((1u32 << rv) - 1) as __mmask16, *a);
                } else {
                    let mut lanes = [0f32; G];
                    _mm512_storeu_ps(lanes.as_mut_ptr(), *a);
                    for (i, v) in lanes.iter().take(rv).enumerate() {
                        *o.add(i * os) = *v;
                    }
                }
            }
            r0 += G;
        }
    }
}

/// [`gemv`] for `n` tokens (`x`, `nb` blocks each) into `out[r · n + t]`:
/// five to seven in one pass over the weights, otherwise four at a time,
/// then the remaining three, two or one. (A second pass for the fifth to
/// seventh token cost 15-25% of a batch's forward pass on SmolLM2, in
/// Q4_1, Q8_0 and Q4_K_M, 2 threads: batches of 5-7 are what speculative
/// decoding verifies. At eight the GEMM is as fast.)
///
/// # Safety
/// As [`gemv`] for every token.
#[inline(always)]
pub(super) unsafe fn gemv_tokens<F: Gemv>(
    w: *const u8,
    x: *const BlockQ8A,
    rows: usize,
    nb: usize,
    n: usize,
    out: *mut f32,
) {
    // SAFETY: tokens `t < n` are the caller's.
    unsafe {
        let xt = |t: usize| x.add(t * nb);
        let ot = |t: usize| out.add(t);
        let mut t = 0;
        // Five to seven tokens in one pass over the weights.
        match n {
            5 => {
                return gemv::<F, 5>(
                    w,
                    [0, 1, 2, 3, 4].map(xt),
                    rows,
                    nb,
                    [0, 1, 2, 3, 4].map(ot),
                    n,
                )
            }
            6 => {
                return gemv::<F, 6>(
                    w,
                    [0, 1, 2, 3, 4, 5].map(xt),
                    rows,
                    nb,
                    [0, 1, 2, 3, 4, 5].map(ot),
                    n,
                )
            }
            7 => {
                return gemv::<F, 7>(
                    w,
                    [0, 1, 2, 3, 4, 5, 6].map(xt),
                    rows,
                    nb,
                    [0, 1, 2, 3, 4, 5, 6].map(ot),
                    n,
                )
            }
            _ => {}
        }
        while t + 4 <= n {
            let ts = [t, t + 1, t + 2, t + 3];
            gemv::<F, 4>(w, ts.map(xt), rows, nb, ts.map(ot), n);
            t += 4;
        }
        match n - t {
            3 => {
                let ts = [t, t + 1, t + 2];
                gemv::<F, 3>(w, ts.map(xt), rows, nb, ts.map(ot), n);
            }
            2 => gemv::<F, 2>(w, [xt(t), xt(t + 1)], rows, nb, [ot(t), ot(t + 1)], n),
            1 => gemv::<F, 1>(w, [xt(t)], rows, nb, [ot(t)], n),
            _ => {}
        }
    }
}
