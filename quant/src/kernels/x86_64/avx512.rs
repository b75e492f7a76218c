//! AVX-512 kernels (F, BW, VL, with FMA and F16C): 16 f32 lanes, 64 int8
//! lanes, so one register holds two quantized blocks.
//!
//! Two tables share this code: one for CPUs with AVX512-VNNI, whose
//! `vpdpbusd` does u8 × i8 → i32 with accumulation in one instruction, and
//! one without it, which uses `vpmaddubsw` + `vpmaddwd` as AVX2 does.
//! Dispatch picks the VNNI table when the CPU has it; both report
//! [`Isa::Avx512`].
//!
//! `vpdpbusd` needs one unsigned operand, and AVX-512 has no `vpsignb`, so
//! the VNNI kernels (`gemm.rs`, `gemv.rs`, [`x16`]) make signed weights
//! unsigned by an offset that is taken off exactly in the integer sums:
//! Q8_0 uses `w + 128` (`w ^ 0x80`) and takes off `128 Σx`, from the exact
//! sum each activation block carries; Q4_0 uses its nibbles as stored and
//! takes off `8 Σx`. The tiles below, for the table without VNNI, cannot
//! take `w + 128`: `vpmaddubsw` would saturate its i16 pairs, so they
//! negate `x` where `w < 0` instead, the sign trick by mask, and subtract
//! Q4_0's offset in i16 pairs.
//!
//! Register layout for two blocks `b`, `b + 1` of 4-bit weights: the 16
//! packed bytes of each are loaded side by side, and the low and high
//! nibbles become the two 256-bit halves, `[lo_b lo_b1 | hi_b hi_b1]`
//! (16 bytes each); the activations are permuted to match. The block scale
//! `d_w · d_x` of both blocks is computed in four lanes of one xmm (also
//! giving Q4_1's `m_w · s_x`), then spread over the i32 lanes with one
//! `vpermps`.
//!
//! The 4-bit formats take four blocks at a time where a row has them
//! ([`Quad4`]): two overlapping 64-byte loads and one `vpermt2w` gather the
//! four blocks' packed bytes, one `vpermw` their scales, so a block costs
//! less than half the instructions of the pair path (per-block loads and
//! scalar scale reads). On the Zen 4 this was written on, one core's
//! product with a SmolLM2-sized matrix held in L2 went from 16-18 to
//! 24-26 GB/s for Q4_0 and from 15-16 to 21-25 GB/s for Q4_1. Q8_0 stays
//! with pairs: LLVM turned the overlapping loads of the same treatment into
//! a chain of shuffles, and it ran slower.
//!
//! On VNNI CPUs every row format takes two other routes, in one
//! arithmetic: `gemm.rs` packs 16 weight rows into row-per-lane registers
//! for batches of [`gemm::MIN_TOKENS`] tokens and more, and `gemv.rs`
//! runs smaller batches (decoding) in the GEMM's summation order, so a
//! product's bits do not depend on the batch size (see there). The tiles
//! below serve Q8_0, Q4_0 and Q4_1 on the table without VNNI, at every
//! batch size; its other row formats (Q5, IQ4, the K-quants) run the
//! shared tiles of [`rows`] with 256-bit registers.
//!
//! The tile functions are `#[inline(always)]` without target features: they
//! are only ever inlined into the `#[target_feature]` trampolines at the
//! bottom, which is where the intrinsics get their features (the
//! trampoline pattern of the `gemm` crate). An odd last block goes through
//! a 256-bit path.

mod attn;
mod gemm;
mod gemv;
mod tiles;
mod x16;

use super::avx2::matmul_rows as matmul_rows_avx2;
use crate::formats::{BlockQ8A, QK};
use crate::kernels::rows;
use crate::kernels::{matmul_shape, x16_shape, Isa, Kernels, RowKernels};
use std::arch::x86_64::*;
use std::ptr::{addr_of, null};

use tiles::{Q4_0, Q4_1, Q8_0};

/// The AVX-512 table for CPUs with VNNI.
pub(in crate::kernels) static KERNELS_VNNI: Kernels = Kernels {
    isa: Isa::Avx512,
    name: "avx512-vnni",
    quantize_act,
    vec_dot_f32,
    vec_dot_f16,
    vec_dot_bf16,
    rows: RowKernels {
        q8_0: matmul_gemm::<Q8_0>,
        q4_0: matmul_gemm::<Q4_0>,
        q4_1: matmul_gemm::<Q4_1>,
        ..rows::row_entries!(matmul_rows_vnni)
    },
    matmul_q4_0x16: matmul_x16::<x16::X4_0, true>,
    matmul_q4_1x16: matmul_x16::<x16::X4_1, true>,
    matmul_q8_0x16: matmul_x16::<x16::X8_0, true>,
    attn_scores_f16: attn::attn_scores_f16,
    attn_values_f16: attn::attn_values_f16,
    attn_scores_q8_0: attn::attn_scores_q8_0,
    attn_values_q8_0: attn::attn_values_q8_0,
    exp_shifted,
    silu_mul,
    gemm_min_tokens: gemm::MIN_TOKENS,
};

/// The AVX-512 table for CPUs without VNNI.
pub(in crate::kernels) static KERNELS: Kernels = Kernels {
    isa: Isa::Avx512,
    name: "avx512",
    quantize_act,
    vec_dot_f32,
    vec_dot_f16,
    vec_dot_bf16,
    rows: RowKernels {
        q8_0: matmul::<Q8_0>,
        q4_0: matmul::<Q4_0>,
        q4_1: matmul::<Q4_1>,
        ..rows::row_entries!(matmul_rows_avx2)
    },
    matmul_q4_0x16: matmul_x16::<x16::X4_0, false>,
    matmul_q4_1x16: matmul_x16::<x16::X4_1, false>,
    matmul_q8_0x16: matmul_x16::<x16::X8_0, false>,
    attn_scores_f16: attn::attn_scores_f16,
    attn_values_f16: attn::attn_values_f16,
    attn_scores_q8_0: attn::attn_scores_q8_0,
    attn_values_q8_0: attn::attn_values_q8_0,
    exp_shifted,
    silu_mul,
    gemm_min_tokens: usize::MAX,
};

/// Whether this CPU can run [`KERNELS`].
pub(in crate::kernels) fn detected() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

/// Whether this CPU can run [`KERNELS_VNNI`].
pub(in crate::kernels) fn detected_vnni() -> bool {
    detected() && is_x86_feature_detected!("avx512vnni")
}

// ---------------------------------------------------------------------------
// Safe entry points. The table holding them is only handed out after the
// matching `detected*()` said yes, so the features are present; each checks
// sizes before entering the feature-enabled code.

super::elementwise!("avx512f,avx512vl,avx2", "AVX-512 F/VL");

fn quantize_act(src: &[f32], dst: &mut [BlockQ8A]) {
    assert_eq!(src.len(), dst.len() * QK, "activation row length");
    // SAFETY: AVX-512 F/BW/VL were detected; sizes checked above.
    unsafe { quantize_act_avx512(src, dst) }
}

fn vec_dot_f32(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len() * 4, "f32 row size");
    // SAFETY: features detected; `w` holds `x.len()` f32s.
    unsafe { dot_float::<4>(w.as_ptr(), x) }
}

fn vec_dot_f16(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len() * 2, "f16 row size");
    // SAFETY: features detected; `w` holds `x.len()` f16s.
    unsafe { dot_float::<2>(w.as_ptr(), x) }
}

fn vec_dot_bf16(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len() * 2, "bf16 row size");
    // SAFETY: features detected; `w` holds `x.len()` bf16s.
    unsafe { dot_float::<3>(w.as_ptr(), x) }
}

/// The [`super::super::MatmulQ8`] of format `F` without VNNI.
fn matmul<F: Format>(w: &[u8], x: &[BlockQ8A], n: usize, out: &mut [f32]) {
    let (rows, nb) = matmul_shape(F::BB, w, x, n, out);
    // SAFETY: the table holding this function is only handed out when the
    // trampoline's features were detected; `matmul_shape` checked that `w`
    // holds `rows` rows of `nb` blocks, `x` holds `n` rows of `nb` blocks
    // and `out` holds `rows * n` floats.
    unsafe { matmul_bw::<F>(w.as_ptr(), x.as_ptr(), rows, nb, n, out.as_mut_ptr()) }
}

/// The VNNI product: [`gemv::gemv_tokens`] below [`gemm::MIN_TOKENS`]
/// tokens, [`gemm::gemm`] from there; the same bits either way.
fn matmul_gemm<F: gemv::Gemv + Format>(w: &[u8], x: &[BlockQ8A], n: usize, out: &mut [f32]) {
    let (rows, nb) = matmul_shape(<F as Format>::BB, w, x, n, out);
    // SAFETY: as in `matmul`, with VNNI (this function is only in the
    // VNNI table).
    unsafe { gemm_vnni::<F>(w.as_ptr(), x.as_ptr(), rows, nb, n, out.as_mut_ptr()) }
}

/// An interleaved product ([`x16`]), with VNNI when `V`.
///
/// # Safety
/// As [`super::super::MatmulX16`].
unsafe fn matmul_x16<L: x16::Layout, const V: bool>(
    w: &[u8],
    x: &[BlockQ8A],
    n: usize,
    out: *mut f32,
    rs: usize,
    ts: usize,
) {
    let (rows, nb) = x16_shape(L::BB, w, x, n);
    let (w, x) = (w.as_ptr(), x.as_ptr());
    let out = x16::Out { ptr: out, rs, ts };
    // SAFETY: the table holding `matmul_x16::<L, V>` is only handed out
    // when its trampoline's features were detected (VNNI for `V`); the
    // sizes were checked above, `rows` a multiple of 16; the output's
    // contract is the caller's.
    unsafe {
        if V {
            x16_vnni::<L>(w, x, rows, nb, n, out)
        } else {
            x16_bw::<L>(w, x, rows, nb, n, out)
        }
    }
}

// ---------------------------------------------------------------------------
// Trampolines: where the features are switched on.

/// # Safety
/// AVX-512 F/BW/VL, VNNI, FMA and F16C available; pointers as
/// [`x16::matmul`] requires.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn x16_vnni<L: x16::Layout>(
    w: *const u8,
    x: *const BlockQ8A,
    rows: usize,
    nb: usize,
    n: usize,
    out: x16::Out,
) {
    // SAFETY: forwarded from the caller.
    unsafe { x16::matmul::<L, true>(w, x, rows, nb, n, out) }
}

/// # Safety
/// AVX-512 F/BW/VL, FMA and F16C available; pointers as [`x16::matmul`]
/// requires.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn x16_bw<L: x16::Layout>(
    w: *const u8,
    x: *const BlockQ8A,
    rows: usize,
    nb: usize,
    n: usize,
    out: x16::Out,
) {
    // SAFETY: forwarded from the caller.
    unsafe { x16::matmul::<L, false>(w, x, rows, nb, n, out) }
}

/// # Safety
/// AVX-512 F/BW/VL, AVX2, FMA, F16C and AVX512-VNNI must be available, and
/// the pointers valid as [`drive`] requires.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn gemm_vnni<F: gemv::Gemv + Format>(
    w: *const u8,
    x: *const BlockQ8A,
    rows: usize,
    nb: usize,
    n: usize,
    out: *mut f32,
) {
    // The GEMM addresses 16 rows by i32 offsets: rows over 128 MiB (never
    // seen in a model) take the GEMV at every batch size.
    // SAFETY: forwarded from the caller; `gemm` only gets rows whose 16
    // offsets fit an i32.
    unsafe {
        if n < gemm::MIN_TOKENS || !gemm::fits::<F>(nb) {
            gemv::gemv_tokens::<F>(w, x, rows, nb, n, out)
        } else {
            gemm::gemm::<F>(w, x, rows, nb, n, out)
        }
    }
}

/// The formats of [`rows`] with VNNI: [`gemv::gemv_tokens`] below
/// [`gemm::MIN_TOKENS`] tokens, [`gemm::gemm`] from there (this entry is
/// only in the VNNI table).
fn matmul_rows_vnni<F: gemv::GemvRow>(w: &[u8], x: &[BlockQ8A], n: usize, out: &mut [f32]) {
    let (rows, nbw) = rows::shape::<F>(w, x, n, out);
    // SAFETY: the VNNI table is only handed out when the trampoline's
    // features were detected; `shape` checked the sizes `rows_vnni` needs.
    unsafe { rows_vnni::<F>(w.as_ptr(), x.as_ptr(), rows, nbw, n, out.as_mut_ptr()) }
}

/// # Safety
/// AVX-512 F/BW/VL, VNNI, AVX2, FMA and F16C available; pointers as
/// [`rows::drive`] requires.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn rows_vnni<F: gemv::GemvRow>(
    w: *const u8,
    x: *const BlockQ8A,
    rows: usize,
    nbw: usize,
    n: usize,
    out: *mut f32,
) {
    let nb = nbw * F::NB;
    // SAFETY: forwarded from the caller, as in `gemm_vnni`.
    unsafe {
        if n < gemm::MIN_TOKENS || !gemm::fits::<gemm::Rows<F>>(nb) {
            gemv::gemv_tokens::<gemm::Rows<F>>(w, x, rows, nb, n, out)
        } else {
            gemm::gemm::<gemm::Rows<F>>(w, x, rows, nb, n, out)
        }
    }
}

/// # Safety
/// AVX-512 F/BW/VL, AVX2, FMA and F16C must be available, and the pointers
/// valid as [`drive`] requires.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn matmul_bw<F: Format>(
    w: *const u8,
    x: *const BlockQ8A,
    rows: usize,
    nb: usize,
    n: usize,
    out: *mut f32,
) {
    // SAFETY: forwarded from the caller.
    unsafe { drive::<F>(w, x, rows, nb, n, out) }
}

// ---------------------------------------------------------------------------
// Tiling.

/// A weight format's tile kernel.
trait Format {
    /// Bytes per weight block.
    const BB: usize;

    /// Dots `R` weight rows with `C` activation rows, `nb` blocks each, and
    /// returns the `R × C` sums. When `next` is not null, the `R` rows that
    /// follow in memory start there and are prefetched in address order
    /// while this tile runs (see [`prefetch_next`]).
    ///
    /// # Safety
    /// Must be inlined into a trampoline with the AVX-512 features; every
    /// `w[r]` readable for `nb * BB` bytes and every `x[c]` for `nb`
    /// blocks.
    unsafe fn tile<const R: usize, const C: usize>(
        w: [*const u8; R],
        x: [*const BlockQ8A; C],
        nb: usize,
        next: *const u8,
    ) -> [[f32; C]; R];
}

/// Runs the tiles over the whole product: decoding (`n == 1`) in 4 × 1
/// tiles so four weight streams share each activation load; batches in
/// 2 × 4 tiles, so each weight block is unpacked once for four tokens and
/// each activation block serves two rows.
///
/// # Safety
/// As [`Format::tile`]; `w` readable for `rows * nb` blocks, `x` for
/// `n * nb` blocks, `out` writable for `rows * n` floats.
#[inline(always)]
unsafe fn drive<F: Format>(
    w: *const u8,
    x: *const BlockQ8A,
    rows: usize,
    nb: usize,
    n: usize,
    out: *mut f32,
) {
    let rb = nb * F::BB;
    // SAFETY: row `r < rows` starts at `r * rb`, activation row `t < n` at
    // block `t * nb`, output `(r, t)` at `r * n + t`: all within the sizes
    // the caller guarantees.
    unsafe {
        if n == 1 {
            let mut r = 0;
            while r + 4 <= rows {
                let wr = [
                    w.add(r * rb),
                    w.add((r + 1) * rb),
                    w.add((r + 2) * rb),
                    w.add((r + 3) * rb),
                ];
                let s = F::tile::<4, 1>(wr, [x], nb, w.wrapping_add((r + 4) * rb));
                for (i, v) in s.iter().enumerate() {
                    *out.add(r + i) = v[0];
                }
                r += 4;
            }
            while r < rows {
                *out.add(r) = F::tile::<1, 1>([w.add(r * rb)], [x], nb, null())[0][0];
                r += 1;
            }
            return;
        }
        let mut r = 0;
        while r + 2 <= rows {
            let wr = [w.add(r * rb), w.add((r + 1) * rb)];
            row_tiles::<F, 2>(wr, x, nb, n, out.add(r * n));
            r += 2;
        }
        if r < rows {
            row_tiles::<F, 1>([w.add(r * rb)], x, nb, n, out.add(r * n));
        }
    }
}

/// All `n` activation rows against the `R` weight rows `w`, four at a time;
/// writes the `(R, n)` results at `out`.
///
/// # Safety
/// As [`drive`] for these rows.
#[inline(always)]
unsafe fn row_tiles<F: Format, const R: usize>(
    w: [*const u8; R],
    x: *const BlockQ8A,
    nb: usize,
    n: usize,
    out: *mut f32,
) {
    // SAFETY: activation rows `t < n` and outputs `(i, t)` with `i < R`,
    // within the caller's sizes.
    unsafe {
        let xt = |t: usize| x.add(t * nb);
        // The first tile reads these rows from memory; prefetch the next ones.
        let next = |t: usize| {
            if t == 0 {
                w[0].wrapping_add(R * nb * F::BB)
            } else {
                null()
            }
        };
        let put = |t: usize, s: &[[f32; 4]; R], m: usize| {
            for (i, row) in s.iter().enumerate() {
                for (j, v) in row.iter().take(m).enumerate() {
                    *out.add(i * n + t + j) = *v;
                }
            }
        };
        let mut t = 0;
        while t + 4 <= n {
            let s = F::tile::<R, 4>(w, [xt(t), xt(t + 1), xt(t + 2), xt(t + 3)], nb, next(t));
            put(t, &s, 4);
            t += 4;
        }
        match n - t {
            3 => {
                let s = F::tile::<R, 3>(w, [xt(t), xt(t + 1), xt(t + 2)], nb, next(t));
                put(t, &s.map(|r| [r[0], r[1], r[2], 0.0]), 3);
            }
            2 => {
                let s = F::tile::<R, 2>(w, [xt(t), xt(t + 1)], nb, next(t));
                put(t, &s.map(|r| [r[0], r[1], 0.0, 0.0]), 2);
            }
            1 => {
                let s = F::tile::<R, 1>(w, [xt(t)], nb, next(t));
                put(t, &s.map(|r| [r[0], 0.0, 0.0, 0.0]), 1);
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Shared pieces of the tiles. All `#[inline(always)]`, for the trampolines.

/// For blocks `b`, `b + 1` of activation row `x`: the xmm
/// `[d_b, s_b, d_b1, s_b1]` (scale and scaled sum side by side, as the
/// block stores them).
///
/// # Safety
/// Blocks `b` and `b + 1` readable.
#[inline(always)]
unsafe fn act_scales(x: *const BlockQ8A, b: usize) -> __m128 {
    // SAFETY: `d` and `s` are the first 8 bytes of each block.
    unsafe {
        let lo = _mm_load_sd(x.add(b).cast::<f64>());
        _mm_castpd_ps(_mm_loadh_pd(lo, x.add(b + 1).cast::<f64>()))
    }
}

/// The int8 values of blocks `b`, `b + 1` of `x`, in natural order
/// (`[x_b | x_b1]`).
///
/// # Safety
/// Blocks `b` and `b + 1` readable.
#[inline(always)]
unsafe fn act_pair(x: *const BlockQ8A, b: usize) -> __m512i {
    // SAFETY: each `qs` is 32 readable bytes; unaligned loads.
    unsafe {
        let lo = _mm256_loadu_si256(addr_of!((*x.add(b)).qs).cast());
        let hi = _mm256_loadu_si256(addr_of!((*x.add(b + 1)).qs).cast());
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
    }
}

/// [`act_pair`] permuted to the nibble layout `[x_b[..16] x_b1[..16] |
/// x_b[16..] x_b1[16..]]`.
///
/// # Safety
/// As [`act_pair`].
#[inline(always)]
unsafe fn act_pair_nibble_order(x: *const BlockQ8A, b: usize) -> __m512i {
    // SAFETY: as `act_pair`.
    unsafe {
        let v = act_pair(x, b);
        _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 4, 5, 2, 3, 6, 7), v)
    }
}

/// Activation blocks `b..b + 4` of one row in the layout of [`Quad4`].
#[derive(Clone, Copy)]
pub(super) struct ActQuad {
    /// The first 16 values of each block side by side: `[x_b[..16]
    /// x_b1[..16] x_b2[..16] x_b3[..16]]`.
    pub lo: __m512i,
    /// The last 16 values of each block, the same way.
    pub hi: __m512i,
    /// Each block's scale over its four i32 lanes of the products:
    /// `[d_b ×4, d_b1 ×4, d_b2 ×4, d_b3 ×4]`.
    pub d: __m512,
    /// The four scaled sums `[s_b .. s_b3]`.
    pub s: __m128,
}

/// [`ActQuad`]s of blocks `b..b + 4` of each activation row in `x`.
///
/// # Safety
/// Blocks `b..b + 4` readable behind every pointer; inlined into a
/// trampoline with AVX-512 F.
#[inline(always)]
unsafe fn act_quads<const C: usize>(x: [*const BlockQ8A; C], b: usize) -> [ActQuad; C] {
    // SAFETY: as `act_pair` and `act_scales`, for blocks `b..b + 4`.
    unsafe {
        let zero = ActQuad {
            lo: _mm512_setzero_si512(),
            hi: _mm512_setzero_si512(),
            d: _mm512_setzero_ps(),
            s: _mm_setzero_ps(),
        };
        let mut out = [zero; C];
        for (o, &x) in out.iter_mut().zip(&x) {
            let a = act_pair(x, b);
            let c = act_pair(x, b + 2);
            o.lo = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13), c);
            o.hi = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15), c);
            // [d0 s0 d1 s1 d2 s2 d3 s3]
            let ds = _mm256_set_m128(act_scales(x, b + 2), act_scales(x, b));
            o.d = _mm512_permutexvar_ps(
                _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6),
                _mm512_castps256_ps512(ds),
            );
            let s = _mm256_permutevar8x32_ps(ds, _mm256_setr_epi32(1, 3, 5, 7, 1, 3, 5, 7));
            o.s = _mm256_castps256_ps128(s);
        }
        out
    }
}

/// Four consecutive blocks of a 4-bit row format read with two 64-byte
/// loads and two word shuffles, instead of per-block loads and scalar scale
/// reads: the row formats are what GGUF stores, so they cannot be laid out
/// for the kernel, but every field of four blocks (72 bytes of Q4_0, 80 of
/// Q4_1) sits at an even offset within two overlapping loads, which
/// `vpermt2w` and `vpermw` (AVX-512 BW) gather.
///
/// The products come out four i32 lanes per block: lane group `k` holds
/// block `b + k`. `BB` is the block size, `H` the bytes before its packed
/// nibbles (the f16 scale, and for Q4_1 the f16 minimum).
pub(super) struct Quad4<const BB: usize, const H: usize>;

impl<const BB: usize, const H: usize> Quad4<BB, H> {
    /// Where the second load starts: it ends where the four blocks end.
    const SECOND: usize = 4 * BB - 64;

    /// `vpermt2w` indices that put block `k`'s 16 packed bytes at bytes
    /// `16k..16k + 16` (words `8k..8k + 8`); indices from 32 read the
    /// second load.
    const NIBBLES: [u16; 32] = {
        assert!(BB % 2 == 0 && H % 2 == 0 && 4 * BB >= 64 && 4 * BB <= 128);
        let mut idx = [0u16; 32];
        let mut k = 0;
        while k < 4 {
            let start = BB * k + H;
            let from = if start + 16 <= 64 {
                start / 2
            } else {
                assert!(start >= Self::SECOND);
                32 + (start - Self::SECOND) / 2
            };
            let mut i = 0;
            while i < 8 {
                idx[8 * k + i] = (from + i) as u16;
                i += 1;
            }
            k += 1;
        }
        idx
    };

    /// `vpermw` indices from the first load: words `0..16` the four f16
    /// scales spread over their blocks' lanes, words `16..20` the f16 that
    /// follows each scale (Q4_1's minimum; unused for Q4_0).
    const SCALES: [u16; 32] = {
        assert!(3 * BB + 2 <= 64);
        let mut idx = [0u16; 32];
        let mut k = 0;
        while k < 4 {
            let mut i = 0;
            while i < 4 {
                idx[4 * k + i] = (BB * k / 2) as u16;
                i += 1;
            }
            idx[16 + k] = (BB * k / 2 + 1) as u16;
            k += 1;
        }
        idx
    };

    /// Reads blocks at `p..p + 4 BB`: the low nibbles and the high nibbles
    /// in [`ActQuad`]'s layout, and the f16 words that
    /// [`Quad4::SCALES`] picks.
    ///
    /// # Safety
    /// `4 BB` bytes readable at `p`; inlined into a trampoline with AVX-512
    /// BW.
    #[inline(always)]
    unsafe fn load(p: *const u8) -> (__m512i, __m512i, __m512i) {
        // SAFETY: both weight loads lie within the `4 BB` readable bytes
        // (`SECOND + 64 == 4 BB`); each index table is 32 u16, 64 bytes;
        // all loads unaligned.
        unsafe {
            let l1 = _mm512_loadu_si512(p.cast());
            let l2 = _mm512_loadu_si512(p.add(Self::SECOND).cast());
            let nib = _mm512_loadu_si512(Self::NIBBLES.as_ptr().cast());
            let sc = _mm512_loadu_si512(Self::SCALES.as_ptr().cast());
            let g = _mm512_permutex2var_epi16(l1, nib, l2);
            let mask = _mm512_set1_epi8(0x0F);
            let lo = _mm512_and_si512(g, mask);
            let hi = _mm512_and_si512(_mm512_srli_epi16::<4>(g), mask);
            (lo, hi, _mm512_permutexvar_epi16(sc, l1))
        }
    }
}

/// The 16 packed bytes of two 4-bit blocks at `p0` and `p1`, as 64 nibble
/// values in the layout `[lo_0 lo_1 | hi_0 hi_1]`.
///
/// # Safety
/// 16 bytes readable at `p0` and at `p1`.
#[inline(always)]
unsafe fn nibble_pair(p0: *const u8, p1: *const u8) -> __m512i {
    // SAFETY: 16 readable bytes at each pointer; unaligned loads.
    unsafe {
        let t = _mm256_inserti128_si256::<1>(
            _mm256_castsi128_si256(_mm_loadu_si128(p0.cast())),
            _mm_loadu_si128(p1.cast()),
        );
        let z = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(t), _mm256_srli_epi16::<4>(t));
        _mm512_and_si512(z, _mm512_set1_epi8(0x0F))
    }
}

/// The two f16 pairs at `p0` and `p1` (scale and next two bytes) as the
/// f32 xmm `[p0[0], p0[1], p1[0], p1[1]]`.
///
/// # Safety
/// 4 bytes readable at `p0` and at `p1`.
#[inline(always)]
unsafe fn f16_pairs(p0: *const u8, p1: *const u8) -> __m128 {
    // SAFETY: 4 readable bytes at each pointer; unaligned reads.
    unsafe {
        let a = p0.cast::<i32>().read_unaligned();
        let b = p1.cast::<i32>().read_unaligned();
        _mm_cvtph_ps(_mm_insert_epi32::<1>(_mm_cvtsi32_si128(a), b))
    }
}

/// `Σ` over each group of four `u · s` byte products, added to `acc`
/// (`u` unsigned, `s` signed, |s| ≤ 127 and pair sums that fit in i16 on
/// the non-VNNI path).
///
/// # Safety
/// Inlined into a trampoline with AVX-512 BW (and VNNI when `V`).
#[inline(always)]
unsafe fn dot4<const V: bool>(acc: __m512i, u: __m512i, s: __m512i) -> __m512i {
    // SAFETY: features provided by the trampoline this is inlined into.
    unsafe {
        if V {
            _mm512_dpbusd_epi32(acc, u, s)
        } else {
            let p = _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1));
            _mm512_add_epi32(acc, p)
        }
    }
}

/// Prefetches, in address order, the share of the next tile's `R` rows
/// that matches block pair `b` of this one (`R · 2 · bb` bytes).
///
/// Why: rows are contiguous, and a tile reads its `R` rows side by side.
/// Measured on Zen 4, `R` interleaved streams only get 35-50% of the
/// bandwidth of one sequential stream (the hardware prefetcher trains on
/// each short row again), with or without per-row software prefetch; a
/// linear walk one tile ahead restores the sequential rate.
///
/// # Safety
/// None needed beyond the trampoline's SSE: prefetches never fault, and the
/// address is computed with wrapping arithmetic.
#[inline(always)]
unsafe fn prefetch_next<const R: usize>(next: *const u8, b: usize, bb: usize) {
    if next.is_null() {
        return;
    }
    let span = R * 2 * bb;
    let at = next.wrapping_add(b / 2 * span);
    let mut off = 0;
    while off < span {
        // SAFETY: a prefetch is a hint and never faults.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(at.wrapping_add(off).cast()) };
        off += 64;
    }
}

/// Sum of the 16 lanes.
///
/// # Safety
/// Inlined into a trampoline with AVX-512 F.
#[inline(always)]
unsafe fn hsum(v: __m512) -> f32 {
    // SAFETY: features provided by the trampoline this is inlined into.
    unsafe {
        let h = _mm256_add_ps(
            _mm512_castps512_ps256(v),
            _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v))),
        );
        let s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps::<1>(h));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }
}

/// Spreads xmm lanes 0 and 2 (the two block scales) over the i32 lanes of
/// the nibble layout: `[s0 ×4, s1 ×4, s0 ×4, s1 ×4]`.
///
/// # Safety
/// Inlined into a trampoline with AVX-512 F.
#[inline(always)]
unsafe fn spread_nibble(s: __m128) -> __m512 {
    // SAFETY: features provided by the trampoline this is inlined into.
    unsafe {
        let idx = _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 0, 0, 0, 0, 2, 2, 2, 2);
        _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(s))
    }
}

/// As [`spread_nibble`] for the natural layout: `[s0 ×8, s1 ×8]`.
///
/// # Safety
/// Inlined into a trampoline with AVX-512 F.
#[inline(always)]
unsafe fn spread_natural(s: __m128) -> __m512 {
    // SAFETY: features provided by the trampoline this is inlined into.
    unsafe {
        let idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
        _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(s))
    }
}

/// One 256-bit block product `d · Σ q x` for an odd last block, added to
/// `acc` (`q` unsigned weights, `x` signed activations, `off` the i16 pair
/// offsets to subtract).
///
/// # Safety
/// Inlined into a trampoline with AVX2 and FMA.
#[inline(always)]
unsafe fn tail_block(acc: __m256, q: __m256i, x: __m256i, off: __m256i, d: f32) -> __m256 {
    // SAFETY: features provided by the trampoline this is inlined into.
    unsafe {
        let p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(q, x), off);
        let p = _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
        _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d), acc)
    }
}

/// The f16 at `p` as f32.
///
/// # Safety
/// 2 bytes readable at `p`; inlined into a trampoline with F16C.
#[inline(always)]
unsafe fn f16_at(p: *const u8) -> f32 {
    // SAFETY: as stated; unaligned read.
    unsafe {
        let bits = p.cast::<u16>().read_unaligned();
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
    }
}

/// Adds the 8 lanes of the tail accumulator into the 16-lane one.
///
/// # Safety
/// Inlined into a trampoline with AVX-512 F.
#[inline(always)]
unsafe fn widen(acc: __m512, tail: __m256) -> __m512 {
    // SAFETY: features provided by the trampoline this is inlined into.
    unsafe {
        let z = _mm512_insertf64x4::<0>(_mm512_setzero_pd(), _mm256_castps_pd(tail));
        _mm512_add_ps(acc, _mm512_castpd_ps(z))
    }
}

// ---------------------------------------------------------------------------
// Float rows. `E` picks the element: 4 = f32, 2 = f16, 3 = bf16 (2 bytes).

/// # Safety
/// AVX-512 F/BW/VL and F16C available; `w` readable for `x.len()` elements.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn dot_float<const E: usize>(w: *const u8, x: &[f32]) -> f32 {
    let k = x.len();
    let bytes = if E == 4 { 4 } else { 2 };
    // SAFETY: full loads cover `i + 16 * j + 16 <= k`; the tail uses masked
    // loads, which touch no memory outside the mask.
    unsafe {
        let load = |i: usize, m: __mmask16| -> __m512 {
            let p = w.add(i * bytes);
            match E {
                4 => _mm512_maskz_loadu_ps(m, p.cast()),
                2 => _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p.cast())),
                _ => {
                    let h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p.cast()));
                    _mm512_castsi512_ps(_mm512_slli_epi32::<16>(h))
                }
            }
        };
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + 64 <= k {
            for (j, a) in acc.iter_mut().enumerate() {
                let xv = _mm512_loadu_ps(x.as_ptr().add(i + 16 * j));
                *a = _mm512_fmadd_ps(load(i + 16 * j, 0xFFFF), xv, *a);
            }
            i += 64;
        }
        while i < k {
            let m: __mmask16 = if k - i >= 16 {
                0xFFFF
            } else {
                (1u16 << (k - i)) - 1
            };
            let xv = _mm512_maskz_loadu_ps(m, x.as_ptr().add(i));
            acc[0] = _mm512_fmadd_ps(load(i, m), xv, acc[0]);
            i += 16;
        }
        hsum(_mm512_add_ps(
            _mm512_add_ps(acc[0], acc[1]),
            _mm512_add_ps(acc[2], acc[3]),
        ))
    }
}

// ---------------------------------------------------------------------------
// Activation quantization.

/// [`crate::formats::quantize_act_row_scalar`], bit for bit on finite input
/// (see the AVX2 version for the rounding argument); `vpmovsdb` narrows.
///
/// # Safety
/// AVX-512 F/BW/VL available; `src.len() == dst.len() * 32`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
unsafe fn quantize_act_avx512(src: &[f32], dst: &mut [BlockQ8A]) {
    let half = _mm512_set1_ps(f32::from_bits(0x3EFF_FFFF)); // 0.5 - 2^-25
    let sign = _mm512_set1_epi32(i32::MIN);
    for (out, x) in dst.iter_mut().zip(src.chunks_exact(QK)) {
        // SAFETY: `x` is 32 floats, read as two unaligned 16-lane loads.
        let (v0, v1) = unsafe {
            (
                _mm512_loadu_ps(x.as_ptr()),
                _mm512_loadu_ps(x.as_ptr().add(16)),
            )
        };
        let amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        let d = amax / 127.0;
        let id = if d.is_normal() { 1.0 / d } else { 0.0 };
        let mul = _mm512_set1_ps(id);
        let round = |v: __m512| {
            let s = _mm512_mul_ps(v, mul);
            let h = _mm512_or_si512(
                _mm512_and_si512(_mm512_castps_si512(s), sign),
                _mm512_castps_si512(half),
            );
            _mm512_cvttps_epi32(_mm512_add_ps(s, _mm512_castsi512_ps(h)))
        };
        let (q0, q1) = (round(v0), round(v1));
        let sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
        let b0 = _mm512_cvtsepi32_epi8(q0);
        let b1 = _mm512_cvtsepi32_epi8(q1);
        // SAFETY: `qs` is 32 bytes; two unaligned 16-byte stores.
        unsafe {
            _mm_storeu_si128(out.qs.as_mut_ptr().cast(), b0);
            _mm_storeu_si128(out.qs.as_mut_ptr().add(16).cast(), b1);
        }
        out.d = d;
        out.s = d * sum as f32;
        out.sum = sum;
    }
}
