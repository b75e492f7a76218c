//! Scalar references for the 5-bit, IQ4 and K-quant formats, written from
//! the block layouts in [`crate::formats`]: exact integer sums per 16 or
//! 32 values (scales applied in integers where the format's scales are
//! integers), then one f32 step per activation block.

use crate::formats::{
    BlockIq4Nl, BlockIq4Xs, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ5_0, BlockQ5_1, BlockQ6K,
    BlockQ8A, KVALUES_IQ4NL, QK,
};
use bytemuck::Pod;

/// The blocks of `w`, read without alignment, each with its `per`
/// activation blocks.
fn blocks<'a, B: Pod>(
    w: &'a [u8],
    x: &'a [BlockQ8A],
    per: usize,
) -> impl Iterator<Item = (B, &'a [BlockQ8A])> {
    let bb = std::mem::size_of::<B>();
    assert_eq!(w.len() * per, x.len() * bb, "row sizes");
    w.chunks_exact(bb)
        .map(bytemuck::pod_read_unaligned::<B>)
        .zip(x.chunks_exact(per))
}

/// `Σ q_l · x_l` over `l` in `range` of one 32-value chunk.
fn isum(q: impl Fn(usize) -> i32, x: &BlockQ8A, range: std::ops::Range<usize>) -> i32 {
    range.map(|l| q(l) * x.qs[l] as i32).sum()
}

/// The 5-bit value `l` of a Q5 block.
fn q5(qh: [u8; 4], qs: &[u8; 16], l: usize) -> i32 {
    let lo = if l < 16 { qs[l] & 0xF } else { qs[l - 16] >> 4 };
    (lo as i32) | ((u32::from_le_bytes(qh) >> l) as i32 & 1) << 4
}

/// The table index `l` of an IQ4 block's 16 packed bytes, as its level.
fn iq4(qs: &[u8], l: usize) -> i32 {
    let i = if l < 16 { qs[l] & 0xF } else { qs[l - 16] >> 4 };
    KVALUES_IQ4NL[i as usize] as i32
}

/// Q5_0 · Q8A: `Σ d_w d_x Σ (q - 16) x`.
pub fn vec_dot_q5_0(w: &[u8], x: &[BlockQ8A]) -> f32 {
    let mut acc = 0f32;
    for (b, xb) in blocks::<BlockQ5_0>(w, x, 1) {
        let s = isum(|l| q5(b.qh, &b.qs, l) - 16, &xb[0], 0..QK);
        acc += s as f32 * b.d.to_f32() * xb[0].d;
    }
    acc
}

/// Q5_1 · Q8A: `Σ d_w d_x Σ q x + m_w s_x`.
pub fn vec_dot_q5_1(w: &[u8], x: &[BlockQ8A]) -> f32 {
    let mut acc = 0f32;
    for (b, xb) in blocks::<BlockQ5_1>(w, x, 1) {
        let s = isum(|l| q5(b.qh, &b.qs, l), &xb[0], 0..QK);
        acc += s as f32 * b.d.to_f32() * xb[0].d + b.m.to_f32() * xb[0].s;
    }
    acc
}

/// IQ4_NL · Q8A: `Σ d_w d_x Σ K[q] x`.
pub fn vec_dot_iq4_nl(w: &[u8], x: &[BlockQ8A]) -> f32 {
    let mut acc = 0f32;
    for (b, xb) in blocks::<BlockIq4Nl>(w, x, 1) {
        let s = isum(|l| iq4(&b.qs, l), &xb[0], 0..QK);
        acc += s as f32 * b.d.to_f32() * xb[0].d;
    }
    acc
}

/// IQ4_XS · Q8A: per sub-block `i`, `(d · ls_i) d_x Σ K[q] x`.
pub fn vec_dot_iq4_xs(w: &[u8], x: &[BlockQ8A]) -> f32 {
    let mut acc = 0f32;
    for (b, xb) in blocks::<BlockIq4Xs>(w, x, 8) {
        for (i, xi) in xb.iter().enumerate() {
            let s = isum(|l| iq4(&b.qs[16 * i..], l), xi, 0..QK);
            acc += s as f32 * (b.d.to_f32() * b.scale(i) as f32) * xi.d;
        }
    }
    acc
}

/// Q2_K · Q8A: per chunk, `d d_x (sc_lo Σ_lo q x + sc_hi Σ_hi q x) -
/// dmin d_x (m_lo Σ_lo x + m_hi Σ_hi x)`, the bracketed sums exact.
pub fn vec_dot_q2_k(w: &[u8], x: &[BlockQ8A]) -> f32 {
    let mut acc = 0f32;
    for (b, xb) in blocks::<BlockQ2K>(w, x, 8) {
        for (i, xi) in xb.iter().enumerate() {
            let (mut s, mut m) = (0i32, 0i32);
            for h in 0..2 {
                let sc = b.scales[2 * i + h] as i32;
                let r = 16 * h..16 * h + 16;
                s += (sc & 0xF) * isum(|l| b.q(i, l) as i32, xi, r.clone());
                m += (sc >> 4) * isum(|_| 1, xi, r);
            }
            acc += s as f32 * b.d.to_f32() * xi.d - m as f32 * b.dmin.to_f32() * xi.d;
        }
    }
    acc
}

/// Q3_K · Q8A: per chunk, `d d_x (sc_lo Σ_lo q x + sc_hi Σ_hi q x)`.
pub fn vec_dot_q3_k(w: &[u8], x: &[BlockQ8A]) -> f32 {
    let mut acc = 0f32;
    for (b, xb) in blocks::<BlockQ3K>(w, x, 8) {
        for (i, xi) in xb.iter().enumerate() {
            let s: i32 = (0..2)
                .map(|h| b.scale(2 * i + h) * isum(|l| b.q(i, l) as i32, xi, 16 * h..16 * h + 16))
                .sum();
            acc += s as f32 * b.d.to_f32() * xi.d;
        }
    }
    acc
}

/// Q6_K · Q8A: as Q3_K, with int8 group scales.
pub fn vec_dot_q6_k(w: &[u8], x: &[BlockQ8A]) -> f32 {
    let mut acc = 0f32;
    for (b, xb) in blocks::<BlockQ6K>(w, x, 8) {
        for (i, xi) in xb.iter().enumerate() {
            let s: i32 = (0..2)
                .map(|h| {
                    let sc = b.scales[2 * i + h] as i32;
                    sc * isum(|l| b.q(i, l) as i32, xi, 16 * h..16 * h + 16)
                })
                .sum();
            acc += s as f32 * b.d.to_f32() * xi.d;
        }
    }
    acc
}

/// The K-quants with a scale and minimum per 32 values:
/// `Σ (d sc_i) d_x Σ q x - (dmin m_i) s_x`, for blocks whose `(d, dmin,
/// scales)` come from `parts` and values from `q(block, chunk, l)`.
fn dot_k_min<B: Pod>(
    w: &[u8],
    x: &[BlockQ8A],
    parts: impl Fn(&B) -> (f32, f32, [u8; 12]),
    q: impl Fn(&B, usize, usize) -> u8,
) -> f32 {
    let mut acc = 0f32;
    for (b, xb) in blocks::<B>(w, x, 8) {
        let (d, dmin, scales) = parts(&b);
        for (i, xi) in xb.iter().enumerate() {
            let (sc, m) = crate::formats::q4_k::scale_min(&scales, i);
            let s = isum(|l| q(&b, i, l) as i32, xi, 0..QK);
            acc += s as f32 * (d * sc as f32) * xi.d - (dmin * m as f32) * xi.s;
        }
    }
    acc
}

/// Q4_K · Q8A.
pub fn vec_dot_q4_k(w: &[u8], x: &[BlockQ8A]) -> f32 {
    let parts = |b: &BlockQ4K| (b.d.to_f32(), b.dmin.to_f32(), b.scales);
    dot_k_min(w, x, parts, BlockQ4K::q)
}

/// Q5_K · Q8A.
pub fn vec_dot_q5_k(w: &[u8], x: &[BlockQ8A]) -> f32 {
    let parts = |b: &BlockQ5K| (b.d.to_f32(), b.dmin.to_f32(), b.scales);
    dot_k_min(w, x, parts, BlockQ5K::q)
}
