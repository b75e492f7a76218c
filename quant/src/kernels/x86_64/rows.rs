//! [`Simd`] for x86-64: 256-bit registers, 32 int8 or 8 f32 lanes. The
//! AVX2 table and the AVX-512 table without VNNI run the row formats'
//! shared tiles with it; the AVX512-VNNI GEMM and matrix-vector kernels
//! use its unpacking (`chunk`, `scale`) only.
//!
//! The dot products follow ggml: `vpmaddubsw` (u8 × i8 → saturating i16
//! pairs, exact for weights ≤ 127 or |x| ≤ 127 with one side ≤ 128) then
//! `vpmaddwd` against ones (→ i32). Signed weights take the sign trick,
//! `|w| · (x · sign w)`. The i32 lanes 0-3 cover values 0-15, as
//! [`Simd`] requires.

use crate::kernels::rows::Simd;
use std::arch::x86_64::*;

/// The x86 primitives.
#[derive(Clone, Copy)]
pub(super) struct X86;

impl X86 {
    /// The i32 sums of `u · s` in groups of 4 (`u` unsigned).
    #[inline(always)]
    unsafe fn dot_us(u: __m256i, s: __m256i) -> __m256i {
        // SAFETY: AVX2 is enabled by the trampoline this is inlined into.
        unsafe { _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)) }
    }
}

// SAFETY (for every method below): each is `#[inline(always)]` and only
// called from code inlined into a trampoline with AVX2, FMA and F16C
// enabled; pointer arguments are readable for the bytes the trait states,
// and every load is unaligned.
impl Simd for X86 {
    type B = __m256i;
    type I = __m256i;
    type F = __m256;

    #[inline(always)]
    unsafe fn load(p: *const u8) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_loadu_si256(p.cast()) }
    }

    #[inline(always)]
    unsafe fn nibbles(p: *const u8) -> __m256i {
        // SAFETY: see the impl.
        unsafe {
            let v = _mm_loadu_si128(p.cast());
            let both = _mm256_set_m128i(_mm_srli_epi16::<4>(v), v);
            _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
        }
    }

    #[inline(always)]
    unsafe fn splat(v: u8) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_set1_epi8(v as i8) }
    }

    #[inline(always)]
    unsafe fn and(a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_and_si256(a, b) }
    }

    #[inline(always)]
    unsafe fn or(a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_or_si256(a, b) }
    }

    #[inline(always)]
    unsafe fn sub(a: __m256i, b: __m256i) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_sub_epi8(a, b) }
    }

    #[inline(always)]
    unsafe fn shr<const N: i32>(a: __m256i) -> __m256i {
        // x86 has no byte shifts: shift 16-bit lanes, clear what crossed.
        // SAFETY: see the impl.
        unsafe {
            _mm256_and_si256(
                _mm256_srli_epi16::<N>(a),
                _mm256_set1_epi8((0xFFu8 >> N) as i8),
            )
        }
    }

    #[inline(always)]
    unsafe fn shl<const N: i32>(a: __m256i) -> __m256i {
        // SAFETY: see the impl.
        unsafe {
            _mm256_and_si256(
                _mm256_slli_epi16::<N>(a),
                _mm256_set1_epi8((0xFFu8 << N) as i8),
            )
        }
    }

    #[inline(always)]
    unsafe fn test(a: __m256i, bit: __m256i) -> __m256i {
        // SAFETY: see the impl.
        unsafe { _mm256_cmpeq_epi8(_mm256_and_si256(a, bit), bit) }
    }

    #[inline(always)]
    unsafe fn bits(bits: u32) -> __m256i {
        // Byte i takes byte i / 8 of `bits`, then keeps bit i % 8 of it.
        // SAFETY: see the impl.
        unsafe {
            let spread = _mm256_setr_epi64x(
                0,
                0x0101_0101_0101_0101,
                0x0202_0202_0202_0202,
                0x0303_0303_0303_0303,
            );
            let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(bits as i32), spread);
            Self::test(bytes, _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64))
        }
    }

    #[inline(always)]
    unsafe fn lookup(table: *const i8, idx: __m256i) -> __m256i {
        // SAFETY: see the impl; 16 bytes at `table`.
        unsafe {
            let t = _mm256_broadcastsi128_si256(_mm_loadu_si128(table.cast()));
            _mm256_shuffle_epi8(t, idx)
        }
    }

    #[inline(always)]
    unsafe fn dot_u(w: __m256i, x: __m256i) -> __m256i {
        // SAFETY: see the impl.
        unsafe { Self::dot_us(w, x) }
    }

    #[inline(always)]
    unsafe fn dot_off(w: __m256i, x: __m256i, corr: i32) -> __m256i {
        // SAFETY: see the impl.
        unsafe {
            let c = _mm256_zextsi128_si256(_mm_cvtsi32_si128(corr));
            _mm256_add_epi32(Self::dot_us(w, x), c)
        }
    }

    #[inline(always)]
    unsafe fn dot_s(w: __m256i, x: __m256i) -> __m256i {
        // SAFETY: see the impl.
        unsafe { Self::dot_us(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)) }
    }

    #[inline(always)]
    unsafe fn f16(p: *const u8) -> f32 {
        // SAFETY: see the impl; 2 bytes at `p`.
        unsafe {
            let bits = p.cast::<u16>().read_unaligned();
            _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
        }
    }

    #[inline(always)]
    unsafe fn zero() -> __m256 {
        // SAFETY: see the impl.
        unsafe { _mm256_setzero_ps() }
    }

    #[inline(always)]
    unsafe fn fma(acc: __m256, i: __m256i, s: f32) -> __m256 {
        // SAFETY: see the impl.
        unsafe { _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_set1_ps(s), acc) }
    }

    #[inline(always)]
    unsafe fn fma2(acc: __m256, i: __m256i, lo: f32, hi: f32) -> __m256 {
        // SAFETY: see the impl.
        unsafe {
            let s = _mm256_set_m128(_mm_set1_ps(hi), _mm_set1_ps(lo));
            _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), s, acc)
        }
    }

    #[inline(always)]
    unsafe fn sum(acc: __m256) -> f32 {
        // SAFETY: see the impl.
        unsafe {
            let s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_movehdup_ps(s));
            _mm_cvtss_f32(s)
        }
    }

    #[inline(always)]
    unsafe fn prefetch(p: *const u8) {
        // SAFETY: a prefetch never faults.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) }
    }
}
