//! The scalar reference kernels. Every SIMD kernel is tested against these;
//! they are also the fallback on CPUs without a SIMD set and under Miri.
//!
//! Integer sums are exact (i32 per block); float accumulation is in f32, one
//! block at a time, in element order.

mod more;

pub use more::{
    vec_dot_iq4_nl, vec_dot_iq4_xs, vec_dot_q2_k, vec_dot_q3_k, vec_dot_q4_k, vec_dot_q5_0,
    vec_dot_q5_1, vec_dot_q5_k, vec_dot_q6_k,
};

use super::{
    block_shape, x16_shape, CacheRows, Isa, Kernels, KvRows, KvRowsQ8, RowKernels, VecDotQ8,
};
use crate::formats::x16::{layout, GROUP};
use crate::formats::{quantize_act_row_scalar, BlockQ8A, QK};
use crate::DType;
use half::{bf16, f16};

/// The scalar kernel table.
pub static KERNELS: Kernels = Kernels {
    isa: Isa::Scalar,
    name: "scalar",
    quantize_act: quantize_act_row_scalar,
    vec_dot_f32,
    vec_dot_f16,
    vec_dot_bf16,
    rows: RowKernels {
        q8_0: matmul_q8_0,
        q4_0: matmul_q4_0,
        q4_1: matmul_q4_1,
        q5_0: |w, x, n, out| matmul_with(vec_dot_q5_0, 22, 1, w, x, n, out),
        q5_1: |w, x, n, out| matmul_with(vec_dot_q5_1, 24, 1, w, x, n, out),
        iq4_nl: |w, x, n, out| matmul_with(vec_dot_iq4_nl, 18, 1, w, x, n, out),
        q2_k: |w, x, n, out| matmul_with(vec_dot_q2_k, 84, 8, w, x, n, out),
        q3_k: |w, x, n, out| matmul_with(vec_dot_q3_k, 110, 8, w, x, n, out),
        q4_k: |w, x, n, out| matmul_with(vec_dot_q4_k, 144, 8, w, x, n, out),
        q5_k: |w, x, n, out| matmul_with(vec_dot_q5_k, 176, 8, w, x, n, out),
        q6_k: |w, x, n, out| matmul_with(vec_dot_q6_k, 210, 8, w, x, n, out),
        iq4_xs: |w, x, n, out| matmul_with(vec_dot_iq4_xs, 136, 8, w, x, n, out),
    },
    matmul_q4_0x16,
    matmul_q4_1x16,
    matmul_q8_0x16,
    attn_scores_f16,
    attn_values_f16,
    attn_scores_q8_0,
    attn_values_q8_0,
    exp_shifted,
    silu_mul,
    gemm_min_tokens: usize::MAX,
};

/// Softmax without the division (see [`Kernels::exp_shifted`]).
pub fn exp_shifted(x: &mut [f32]) -> (f32, f32) {
    crate::math::exp_shifted(x)
}

/// SwiGLU's gate (see [`Kernels::silu_mul`]).
pub fn silu_mul(g: &mut [f32], u: &[f32]) {
    crate::math::silu_mul(g, u)
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// f32 weights · f32 activations.
pub fn vec_dot_f32(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len() * 4);
    w.chunks_exact(4)
        .zip(x)
        .map(|(b, &v)| f32::from_le_bytes(b.try_into().unwrap()) * v)
        .sum()
}

/// f16 weights · f32 activations.
pub fn vec_dot_f16(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len() * 2);
    w.chunks_exact(2)
        .zip(x)
        .map(|(b, &v)| f16_at(b, 0) * v)
        .sum()
}

/// bf16 weights · f32 activations.
pub fn vec_dot_bf16(w: &[u8], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len() * 2);
    w.chunks_exact(2)
        .zip(x)
        .map(|(b, &v)| bf16::from_le_bytes([b[0], b[1]]).to_f32() * v)
        .sum()
}

/// Q8_0 weights · Q8A activations: `Σ_blocks d_w d_x Σ w_i x_i`.
pub fn vec_dot_q8_0(w: &[u8], x: &[BlockQ8A]) -> f32 {
    assert_eq!(w.len(), x.len() * 34);
    let mut acc = 0f32;
    for (wb, xb) in w.chunks_exact(34).zip(x) {
        let mut s = 0i32;
        for i in 0..QK {
            s += (wb[2 + i] as i8 as i32) * xb.qs[i] as i32;
        }
        acc += s as f32 * f16_at(wb, 0) * xb.d;
    }
    acc
}

/// Q4_0 weights · Q8A activations: `Σ_blocks d_w d_x Σ (q_i - 8) x_i`.
pub fn vec_dot_q4_0(w: &[u8], x: &[BlockQ8A]) -> f32 {
    assert_eq!(w.len(), x.len() * 18);
    let mut acc = 0f32;
    for (wb, xb) in w.chunks_exact(18).zip(x) {
        let mut s = 0i32;
        for j in 0..QK / 2 {
            let q = wb[2 + j];
            s += ((q & 0xF) as i32 - 8) * xb.qs[j] as i32;
            s += ((q >> 4) as i32 - 8) * xb.qs[j + QK / 2] as i32;
        }
        acc += s as f32 * f16_at(wb, 0) * xb.d;
    }
    acc
}

/// Q4_1 weights · Q8A activations:
/// `Σ_blocks d_w d_x Σ q_i x_i + m_w s_x` (`s_x = d_x Σ x_i`).
pub fn vec_dot_q4_1(w: &[u8], x: &[BlockQ8A]) -> f32 {
    assert_eq!(w.len(), x.len() * 20);
    let mut acc = 0f32;
    for (wb, xb) in w.chunks_exact(20).zip(x) {
        let mut s = 0i32;
        for j in 0..QK / 2 {
            let q = wb[4 + j];
            s += (q & 0xF) as i32 * xb.qs[j] as i32;
            s += (q >> 4) as i32 * xb.qs[j + QK / 2] as i32;
        }
        acc += s as f32 * f16_at(wb, 0) * xb.d + f16_at(wb, 2) * xb.s;
    }
    acc
}

/// The plain block product: one [`VecDotQ8`] per output, row by row, for
/// weight blocks of `block_bytes` that span `per` activation blocks.
///
/// # Panics
/// When `n` is zero or the slices disagree (caller bugs).
fn matmul_with(
    dot: VecDotQ8,
    block_bytes: usize,
    per: usize,
    w: &[u8],
    x: &[BlockQ8A],
    n: usize,
    out: &mut [f32],
) {
    let (_, nbw) = block_shape(block_bytes, per, w, x, n, out);
    let (rb, nb) = (nbw * block_bytes, nbw * per);
    if nb == 0 {
        out.fill(0.0);
        return;
    }
    for (wr, o) in w.chunks_exact(rb).zip(out.chunks_exact_mut(n)) {
        for (ot, xt) in o.iter_mut().zip(x.chunks_exact(nb)) {
            *ot = dot(wr, xt);
        }
    }
}

/// Q8_0 block product (see [`super::MatmulQ8`]).
pub fn matmul_q8_0(w: &[u8], x: &[BlockQ8A], n: usize, out: &mut [f32]) {
    matmul_with(vec_dot_q8_0, 34, 1, w, x, n, out);
}

/// Q4_0 block product (see [`super::MatmulQ8`]).
pub fn matmul_q4_0(w: &[u8], x: &[BlockQ8A], n: usize, out: &mut [f32]) {
    matmul_with(vec_dot_q4_0, 18, 1, w, x, n, out);
}

/// Q4_1 block product (see [`super::MatmulQ8`]).
pub fn matmul_q4_1(w: &[u8], x: &[BlockQ8A], n: usize, out: &mut [f32]) {
    matmul_with(vec_dot_q4_1, 20, 1, w, x, n, out);
}

/// Q4_0x16 block product (see [`super::MatmulX16`]).
///
/// # Safety
/// As [`super::MatmulX16`].
pub unsafe fn matmul_q4_0x16(
    w: &[u8],
    x: &[BlockQ8A],
    n: usize,
    out: *mut f32,
    rs: usize,
    ts: usize,
) {
    // SAFETY: forwarded from the caller.
    unsafe { matmul_x16(DType::Q4_0x16, w, x, n, out, (rs, ts)) }
}

/// Q4_1x16 block product (see [`super::MatmulX16`]).
///
/// # Safety
/// As [`super::MatmulX16`].
pub unsafe fn matmul_q4_1x16(
    w: &[u8],
    x: &[BlockQ8A],
    n: usize,
    out: *mut f32,
    rs: usize,
    ts: usize,
) {
    // SAFETY: forwarded from the caller.
    unsafe { matmul_x16(DType::Q4_1x16, w, x, n, out, (rs, ts)) }
}

/// Q8_0x16 block product (see [`super::MatmulX16`]).
///
/// # Safety
/// As [`super::MatmulX16`].
pub unsafe fn matmul_q8_0x16(
    w: &[u8],
    x: &[BlockQ8A],
    n: usize,
    out: *mut f32,
    rs: usize,
    ts: usize,
) {
    // SAFETY: forwarded from the caller.
    unsafe { matmul_x16(DType::Q8_0x16, w, x, n, out, (rs, ts)) }
}

/// The interleaved products ([`crate::formats::x16`]): per row and token,
/// the exact integer dot of each block (Q4_0 taking off its offset of 8
/// as `8 Σx`), then `acc = fma(dot, d_w · d_x, acc)` and, for Q4_1,
/// `acc = fma(m_w, s_x, acc)`, block after block. Every SIMD table
/// follows this order, so they all give these bits, whatever the number
/// of tokens.
///
/// # Safety
/// As [`super::MatmulX16`], `out` taking `(r, t)` at `r * rs + t * ts`.
unsafe fn matmul_x16(
    dtype: DType,
    w: &[u8],
    x: &[BlockQ8A],
    n: usize,
    out: *mut f32,
    (rs, ts): (usize, usize),
) {
    let gbb = GROUP * dtype.block_bytes();
    let (rows, nb) = x16_shape(gbb / GROUP, w, x, n);
    let (f, q) = layout(dtype);
    let offset = if dtype == DType::Q4_0x16 { 8 } else { 0 };
    for g in 0..rows / GROUP {
        for t in 0..n {
            let mut acc = [0f32; GROUP];
            for b in 0..nb {
                let blk = &w[(g * nb + b) * gbb..][..gbb];
                let xb = &x[t * nb + b];
                for (i, a) in acc.iter_mut().enumerate() {
                    let mut s = -offset * xb.sum;
                    for c in 0..q / 4 {
                        for j in 0..4 {
                            let v = blk[32 * f + 64 * c + 4 * i + j];
                            if q == 32 {
                                s += (v as i8 as i32) * xb.qs[4 * c + j] as i32;
                            } else {
                                s += (v & 0xF) as i32 * xb.qs[4 * c + j] as i32;
                                s += (v >> 4) as i32 * xb.qs[16 + 4 * c + j] as i32;
                            }
                        }
                    }
                    *a = (s as f32).mul_add(f16_at(blk, 2 * i) * xb.d, *a);
                    if f == 2 {
                        *a = f16_at(blk, 32 + 2 * i).mul_add(xb.s, *a);
                    }
                }
            }
            for (i, a) in acc.iter().enumerate() {
                // SAFETY: row `16 g + i < rows`, token `t < n`: a position
                // the caller lets us write.
                unsafe { *out.add((g * GROUP + i) * rs + t * ts) = *a };
            }
        }
    }
}

/// [`super::AttnScoresF16`]: one f32 sum per score, in element order.
pub fn attn_scores_f16(q: &[f32], k: KvRows<'_>, scale: f32, out: &mut [f32], os: usize) {
    k.check();
    let d = k.d;
    if d == 0 {
        return;
    }
    for (i, qi) in q.chunks_exact(d).enumerate() {
        for j in 0..k.len {
            let kj = &k.data[j * k.stride..j * k.stride + d];
            let s: f32 = qi.iter().zip(kj).map(|(a, b)| a * b.to_f32()).sum();
            out[i * os + j] = scale * s;
        }
    }
}

/// [`super::AttnValuesF16`]: element-wise sums in order of `j`.
pub fn attn_values_f16(p: &[f32], ps: usize, v: KvRows<'_>, out: &mut [f32]) {
    v.check();
    let d = v.d;
    if d == 0 {
        return;
    }
    for (i, oi) in out.chunks_exact_mut(d).enumerate() {
        oi.fill(0.0);
        for j in 0..v.len {
            let pj = p[i * ps + j];
            let vj = &v.data[j * v.stride..j * v.stride + d];
            for (o, x) in oi.iter_mut().zip(vj) {
                *o += pj * x.to_f32();
            }
        }
    }
}

/// The blocks of row `j` of `r`.
fn q8_row<'a>(r: &KvRowsQ8<'a>, j: usize) -> &'a [crate::BlockQ8_0] {
    &r.data[j * r.stride..j * r.stride + r.blocks()]
}

/// [`super::AttnScoresQ8`]: one f32 sum per score in element order, each
/// key value dequantized as `qs[i] · d` (exact), as [`attn_scores_f16`].
pub fn attn_scores_q8_0(q: &[f32], k: KvRowsQ8<'_>, scale: f32, out: &mut [f32], os: usize) {
    k.check();
    let d = k.d;
    if d == 0 {
        return;
    }
    for (i, qi) in q.chunks_exact(d).enumerate() {
        for j in 0..k.len {
            let mut s = 0f32;
            for (qc, b) in qi.chunks(QK).zip(q8_row(&k, j)) {
                let sc = b.d.to_f32();
                for (a, &x) in qc.iter().zip(&b.qs) {
                    s += a * (x as f32 * sc);
                }
            }
            out[i * os + j] = scale * s;
        }
    }
}

/// [`super::AttnValuesQ8`]: element-wise sums in order of `j`, as
/// [`attn_values_f16`].
pub fn attn_values_q8_0(p: &[f32], ps: usize, v: KvRowsQ8<'_>, out: &mut [f32]) {
    v.check();
    let d = v.d;
    if d == 0 {
        return;
    }
    for (i, oi) in out.chunks_exact_mut(d).enumerate() {
        oi.fill(0.0);
        for j in 0..v.len {
            let pj = p[i * ps + j];
            for (oc, b) in oi.chunks_mut(QK).zip(q8_row(&v, j)) {
                let sc = b.d.to_f32();
                for (o, &x) in oc.iter_mut().zip(&b.qs) {
                    *o += pj * (x as f32 * sc);
                }
            }
        }
    }
}
