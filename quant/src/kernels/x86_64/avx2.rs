//! AVX2 kernels (with FMA for the float sums and F16C for f16 scales and
//! weights): 8 f32 lanes, 32 int8 lanes.
//!
//! The row formats' products are the shared tiles of [`rows`] over the
//! 256-bit primitives in `x86_64/rows.rs` (`vpmaddubsw` + `vpmaddwd`, the
//! sign trick for signed weights). This file keeps what is AVX2's own: the
//! interleaved groups, float rows, activation quantization.

mod attn;

use super::rows::X86;
use crate::formats::x16::GROUP;
use crate::formats::{BlockQ8A, QK};
use crate::kernels::rows;
use crate::kernels::{x16_tiles, Isa, Kernels};
use std::arch::x86_64::*;
use std::ptr::addr_of;

/// The AVX2 kernel table. Only [`super::super::dispatch`] hands it out, after
/// [`detected`] said yes.
pub(in crate::kernels) static KERNELS: Kernels = Kernels {
    isa: Isa::Avx2,
    name: "avx2",
    quantize_act,
    vec_dot_f32,
    vec_dot_f16,
    vec_dot_bf16,
    rows: rows::row_entries!(matmul_rows),
    matmul_q4_0x16: matmul_x16::<1, 16>,
    matmul_q4_1x16: matmul_x16::<2, 16>,
    matmul_q8_0x16: matmul_x16::<1, 32>,
    attn_scores_f16: attn::attn_scores_f16,
    attn_values_f16: attn::attn_values_f16,
    attn_scores_q8_0: attn::attn_scores_q8_0,
    attn_values_q8_0: attn::attn_values_q8_0,
    exp_shifted,
    silu_mul,
    gemm_min_tokens: usize::MAX,
};

/// Whether this CPU has every feature the functions below are compiled for.
pub(in crate::kernels) fn detected() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

// ---------------------------------------------------------------------------
// Safe entry points. Each checks sizes, then enters the feature-enabled code.
// The features are present because this table is only reachable through
// dispatch after `detected()`.

super::elementwise!("avx2", "AVX2");

fn quantize_act(src: &[f32], dst: &mut [BlockQ8A]) {
    assert_eq!(src.len(), dst.len() * QK, "activation row length");
    for (b, x) in dst.iter_mut().zip(src.chunks_exact(QK)) {
        // SAFETY: AVX2/FMA/F16C were detected before this table was handed
        // out; `x` is exactly one block.
        unsafe { quantize_block(x.try_into().unwrap(), b) }
    }
}

fn vec_dot_f32(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len() * 4, "f32 row size");
    // SAFETY: features detected (see above); `w` holds `x.len()` f32s.
    unsafe { dot_f32(w.as_ptr(), x) }
}

fn vec_dot_f16(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len() * 2, "f16 row size");
    // SAFETY: features detected (see above); `w` holds `x.len()` f16s.
    unsafe { dot_f16(w.as_ptr(), x) }
}

fn vec_dot_bf16(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len() * 2, "bf16 row size");
    // SAFETY: features detected (see above); `w` holds `x.len()` bf16s.
    unsafe { dot_bf16(w.as_ptr(), x) }
}

// The product of a row format ([`rows`]) in an AVX2 frame; the AVX-512
// table without VNNI uses it too (its CPUs have AVX2, FMA and F16C).
rows::rows_entry!(pub(super) matmul_rows, X86, "avx2,fma,f16c");

/// The interleaved products ([`crate::formats::x16`]), for a row format
/// of `F` f16 fields and `Q` quant bytes per block: each 64-byte line of a
/// group block is two registers, rows 0-7 and rows 8-15, one i32 lane per
/// row; tiles of 4 tokens (batches) or 1. Q8_0 takes `|w|` against the
/// activations with `w`'s signs, as the row kernels do. Per row and token
/// the float work is the scalar kernel's, in its order, so the bits are
/// the scalar's.
///
/// # Safety
/// As [`super::super::MatmulX16`].
unsafe fn matmul_x16<const F: usize, const Q: usize>(
    w: &[u8],
    x: &[BlockQ8A],
    n: usize,
    out: *mut f32,
    rs: usize,
    ts: usize,
) {
    // SAFETY: (both closures) AVX2/FMA/F16C were detected before this
    // table was handed out; `x16_tiles` passes a group of `nb` group
    // blocks and activation rows of `nb` blocks.
    let many = |wg, xs, nb| unsafe { x16_group::<F, Q, 4>(wg, xs, nb) };
    // SAFETY: as above.
    let one = |wg, xs, nb| unsafe { x16_group::<F, Q, 1>(wg, xs, nb) };
    // SAFETY: the output's contract is the caller's.
    unsafe { x16_tiles::<4>(2 * F + Q, w, x, n, out, (rs, ts), many, one) }
}

/// `T` tokens against one interleaved group: `result[t][i]` = row `i` ·
/// token `t`.
///
/// # Safety
/// `w` readable for `nb` group blocks, every `x[t]` for `nb` blocks.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn x16_group<const F: usize, const Q: usize, const T: usize>(
    w: *const u8,
    x: [*const BlockQ8A; T],
    nb: usize,
) -> [[f32; GROUP]; T] {
    let mask = _mm256_set1_epi8(0x0F);
    let ones = _mm256_set1_epi16(1);
    let offset = if F == 1 && Q == 16 { 8 } else { 0 };
    let mut acc = [[_mm256_setzero_ps(); 2]; T];
    for b in 0..nb {
        // SAFETY: group block `b < nb` is `16 (2F + Q)` readable bytes at
        // `w + 16 (2F + Q) b`, activation block `b` of each token at
        // `x[t] + b`.
        unsafe {
            let p = w.add(b * GROUP * (2 * F + Q));
            let q = p.add(32 * F);
            for h in 0..2 {
                let d = _mm256_cvtph_ps(_mm_loadu_si128(p.add(16 * h).cast()));
                let mut s = [[_mm256_setzero_si256(); 2]; T];
                for (st, &xt) in s.iter_mut().zip(&x) {
                    st[0] = _mm256_set1_epi32(-offset * (*xt.add(b)).sum);
                }
                for c in 0..Q / 4 {
                    let v = _mm256_loadu_si256(q.add(64 * c + 32 * h).cast());
                    // (weights, line of elements) pairs: nibbles give two,
                    // elements 4c.. and 16+4c..; Q8_0 one, elements 4c...
                    let (lo, hi, a) = if Q == 16 {
                        let lo = _mm256_and_si256(v, mask);
                        (lo, _mm256_and_si256(_mm256_srli_epi16::<4>(v), mask), lo)
                    } else {
                        (v, v, _mm256_sign_epi8(v, v))
                    };
                    for (st, &xt) in s.iter_mut().zip(&x) {
                        let xq = addr_of!((*xt.add(b)).qs).cast::<i32>();
                        let xl = _mm256_set1_epi32(xq.add(c).read_unaligned());
                        if Q == 16 {
                            let xh = _mm256_set1_epi32(xq.add(4 + c).read_unaligned());
                            let pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, xl), ones);
                            let ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xh), ones);
                            st[0] = _mm256_add_epi32(st[0], pl);
                            st[1] = _mm256_add_epi32(st[1], ph);
                        } else {
                            let sx = _mm256_sign_epi8(xl, lo);
                            let pl = _mm256_madd_epi16(_mm256_maddubs_epi16(a, sx), ones);
                            st[c % 2] = _mm256_add_epi32(st[c % 2], pl);
                        }
                    }
                }
                for ((a, st), &xt) in acc.iter_mut().zip(&s).zip(&x) {
                    let xb = xt.add(b);
                    let dot = _mm256_add_epi32(st[0], st[1]);
                    let scale = _mm256_mul_ps(d, _mm256_set1_ps((*xb).d));
                    a[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), scale, a[h]);
                    if F == 2 {
                        let m = _mm256_cvtph_ps(_mm_loadu_si128(p.add(32 + 16 * h).cast()));
                        a[h] = _mm256_fmadd_ps(m, _mm256_set1_ps((*xb).s), a[h]);
                    }
                }
            }
        }
    }
    let mut res = [[0f32; GROUP]; T];
    for (r, a) in res.iter_mut().zip(&acc) {
        // SAFETY: 16 writable floats in `r`, 8 per half.
        unsafe {
            _mm256_storeu_ps(r.as_mut_ptr(), a[0]);
            _mm256_storeu_ps(r.as_mut_ptr().add(8), a[1]);
        }
    }
    res
}

// ---------------------------------------------------------------------------
// Helpers.

/// Sum of the 8 lanes.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

// ---------------------------------------------------------------------------
// Float rows.

/// # Safety
/// AVX2/FMA available; `w` readable for `x.len()` f32s.
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_f32(w: *const u8, x: &[f32]) -> f32 {
    let w = w.cast::<f32>();
    let k = x.len();
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: `i + 32 <= k` in the loop and `i < k` in the tail; `w` holds
    // `k` floats and `x` is a slice of `k`.
    unsafe {
        while i + 32 <= k {
            for (j, a) in acc.iter_mut().enumerate() {
                let wv = _mm256_loadu_ps(w.add(i + 8 * j));
                let xv = _mm256_loadu_ps(x.as_ptr().add(i + 8 * j));
                *a = _mm256_fmadd_ps(wv, xv, *a);
            }
            i += 32;
        }
        let mut s = hsum(_mm256_add_ps(
            _mm256_add_ps(acc[0], acc[1]),
            _mm256_add_ps(acc[2], acc[3]),
        ));
        while i < k {
            s += w.add(i).read_unaligned() * x[i];
            i += 1;
        }
        s
    }
}

/// # Safety
/// AVX2/FMA/F16C available; `w` readable for `x.len()` f16s.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_f16(w: *const u8, x: &[f32]) -> f32 {
    let k = x.len();
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: as in `dot_f32`, with 2-byte elements.
    unsafe {
        while i + 32 <= k {
            for (j, a) in acc.iter_mut().enumerate() {
                let wv = _mm256_cvtph_ps(_mm_loadu_si128(w.add(2 * (i + 8 * j)).cast()));
                let xv = _mm256_loadu_ps(x.as_ptr().add(i + 8 * j));
                *a = _mm256_fmadd_ps(wv, xv, *a);
            }
            i += 32;
        }
        let mut s = hsum(_mm256_add_ps(
            _mm256_add_ps(acc[0], acc[1]),
            _mm256_add_ps(acc[2], acc[3]),
        ));
        while i < k {
            let bits = w.add(2 * i).cast::<u16>().read_unaligned();
            s += _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32))) * x[i];
            i += 1;
        }
        s
    }
}

/// # Safety
/// AVX2/FMA available; `w` readable for `x.len()` bf16s.
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_bf16(w: *const u8, x: &[f32]) -> f32 {
    let k = x.len();
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: as in `dot_f32`, with 2-byte elements.
    unsafe {
        while i + 32 <= k {
            for (j, a) in acc.iter_mut().enumerate() {
                // bf16 is the top half of an f32: widen and shift up.
                let h = _mm256_cvtepu16_epi32(_mm_loadu_si128(w.add(2 * (i + 8 * j)).cast()));
                let wv = _mm256_castsi256_ps(_mm256_slli_epi32::<16>(h));
                let xv = _mm256_loadu_ps(x.as_ptr().add(i + 8 * j));
                *a = _mm256_fmadd_ps(wv, xv, *a);
            }
            i += 32;
        }
        let mut s = hsum(_mm256_add_ps(
            _mm256_add_ps(acc[0], acc[1]),
            _mm256_add_ps(acc[2], acc[3]),
        ));
        while i < k {
            let bits = w.add(2 * i).cast::<u16>().read_unaligned();
            s += f32::from_bits((bits as u32) << 16) * x[i];
            i += 1;
        }
        s
    }
}

// ---------------------------------------------------------------------------
// Activation quantization.

/// One block of [`crate::formats::quantize_act_row_scalar`], bit for bit on
/// finite input: the same f32 divisions, and rounding half away from zero
/// as `trunc(v + copysign(0.5 - 2^-25, v))` (the truncating conversion),
/// which equals `f32::round` for every finite f32: the constant is the
/// float just below 0.5, so values just below a half never round up, and
/// an exact half still does (the sum rounds up to the next integer).
///
/// # Safety
/// AVX2/FMA available.
#[target_feature(enable = "avx2,fma")]
unsafe fn quantize_block(x: &[f32; QK], out: &mut BlockQ8A) {
    // SAFETY: `x` is 32 floats, read as four unaligned 8-lane loads.
    let v: [__m256; 4] = std::array::from_fn(|j| unsafe { _mm256_loadu_ps(x.as_ptr().add(8 * j)) });
    let sign = _mm256_set1_ps(-0.0);
    let a = v.map(|v| _mm256_andnot_ps(sign, v));
    let m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
    let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_max_ss(m, _mm_movehdup_ps(m));
    let amax = _mm_cvtss_f32(m);
    let d = amax / 127.0;
    let id = if d.is_normal() { 1.0 / d } else { 0.0 };
    let mul = _mm256_set1_ps(id);
    let half = _mm256_set1_ps(f32::from_bits(0x3EFF_FFFF)); // 0.5 - 2^-25
    let q = v.map(|v| {
        let s = _mm256_mul_ps(v, mul);
        let h = _mm256_or_ps(_mm256_and_ps(s, sign), half);
        _mm256_cvttps_epi32(_mm256_add_ps(s, h))
    });
    let sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    let sum = _mm_add_epi32(
        _mm256_castsi256_si128(sum),
        _mm256_extracti128_si256::<1>(sum),
    );
    let sum = _mm_add_epi32(sum, _mm_shuffle_epi32::<0b01_00_11_10>(sum));
    let sum = _mm_add_epi32(sum, _mm_shuffle_epi32::<0b10_11_00_01>(sum));
    let sum = _mm_cvtsi128_si32(sum);
    // packs work within 128-bit lanes; the permute puts elements back in order.
    let p = _mm256_packs_epi16(
        _mm256_packs_epi32(q[0], q[1]),
        _mm256_packs_epi32(q[2], q[3]),
    );
    let p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    // SAFETY: `qs` is 32 bytes; unaligned store.
    unsafe { _mm256_storeu_si256(out.qs.as_mut_ptr().cast(), p) };
    out.d = d;
    out.s = d * sum as f32;
    out.sum = sum;
}
