//! The 256-value super-block formats as [`RowFormat`]s: Q2_K, Q3_K, Q4_K,
//! Q5_K, Q6_K and IQ4_XS, eight 32-value chunks a block. Their small
//! scales are unpacked in scalar code, a chunk's at a time; formats whose scales
//! cover 16 values have two a chunk ([`RowFormat::HALVES`]).

use super::{Min, RowFormat, Scale, Simd};
use crate::formats::iq4::xs_scale;
use crate::formats::q3_k::scale as q3k_scale;
use crate::formats::q4_k::scale_min;
use crate::formats::KVALUES_IQ4NL;
use crate::formats::{BlockIq4Xs, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K};
use std::mem::size_of;
use std::ptr::addr_of;

pub(in crate::kernels) struct Q2K;
pub(in crate::kernels) struct Q3K;
pub(in crate::kernels) struct Q4K;
pub(in crate::kernels) struct Q5K;
pub(in crate::kernels) struct Q6K;
pub(in crate::kernels) struct Iq4Xs;

/// `a >> 2j` bytewise, for `j < 4` (known once the chunk loop is
/// unrolled).
///
/// # Safety
/// `S`'s features.
#[inline(always)]
unsafe fn shr2<S: Simd>(a: S::B, j: usize) -> S::B {
    // SAFETY: `S`'s features are the caller's.
    unsafe {
        match j {
            0 => a,
            1 => S::shr::<2>(a),
            2 => S::shr::<4>(a),
            _ => S::shr::<6>(a),
        }
    }
}

/// Chunk `i` of Q4_K and Q5_K: the low (even `i`) or high (odd `i`)
/// nibbles of the 32 bytes at `qs + 32 (i / 2)`.
///
/// # Safety
/// `S`'s features; 128 bytes readable at `qs`.
#[inline(always)]
unsafe fn nibble_chunk<S: Simd>(qs: *const u8, i: usize) -> S::B {
    // SAFETY: as stated.
    unsafe {
        let q = S::load(qs.add(32 * (i / 2)));
        if i % 2 == 0 {
            S::and(q, S::splat(0xF))
        } else {
            S::shr::<4>(q)
        }
    }
}

// Q4_K and Q5_K start alike: f16 `d`, f16 `dmin`, 12 bytes of scales.
const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(BlockQ4K, d) == 0 && offset_of!(BlockQ5K, d) == 0);
    assert!(offset_of!(BlockQ4K, dmin) == 2 && offset_of!(BlockQ5K, dmin) == 2);
    assert!(offset_of!(BlockQ4K, scales) == 4 && offset_of!(BlockQ5K, scales) == 4);
};

/// Q4_K's and Q5_K's chunk `i`: scale `d · sc_i`, minimum `dmin · m_i`.
///
/// # Safety
/// `S`'s features; the 16 bytes that start either block readable at `w`.
#[inline(always)]
unsafe fn k_scale<S: Simd>(w: *const u8, i: usize) -> Scale {
    // SAFETY: as stated.
    let (d, dmin, sc) = unsafe {
        (
            S::f16(w),
            S::f16(w.add(2)),
            w.add(4).cast::<[u8; 12]>().read_unaligned(),
        )
    };
    let (s, m) = scale_min(&sc, i);
    let (lo, min) = (d * s as f32, dmin * m as f32);
    Scale {
        lo,
        hi: lo,
        min_lo: min,
        min_hi: min,
    }
}

// SAFETY (every `unsafe` block below): the caller of `scale` and `chunk`
// guarantees one super-block readable at `w` and `S`'s features; fields
// are read through raw pointers (`addr_of!`), unaligned.

impl RowFormat for Q2K {
    const BB: usize = size_of::<BlockQ2K>();
    const NB: usize = 8;
    const SIGNED: bool = false;
    const RANGE: i32 = 4;
    const HALVES: bool = true;
    const MIN: Min = Min::Half;

    #[inline(always)]
    unsafe fn scale<S: Simd>(w: *const u8, i: usize) -> Scale {
        let b = w.cast::<BlockQ2K>();
        // SAFETY: see above.
        let (d, dmin, sc) = unsafe {
            (
                S::f16(addr_of!((*b).d).cast()),
                S::f16(addr_of!((*b).dmin).cast()),
                addr_of!((*b).scales).read_unaligned(),
            )
        };
        let (a, z) = (sc[2 * i], sc[2 * i + 1]);
        Scale {
            lo: d * (a & 0xF) as f32,
            hi: d * (z & 0xF) as f32,
            min_lo: dmin * (a >> 4) as f32,
            min_hi: dmin * (z >> 4) as f32,
        }
    }

    #[inline(always)]
    unsafe fn chunk<S: Simd>(w: *const u8, i: usize) -> S::B {
        let qs = w.wrapping_add(std::mem::offset_of!(BlockQ2K, qs));
        // SAFETY: see above.
        unsafe { S::and(shr2::<S>(S::load(qs.add(32 * (i / 4))), i % 4), S::splat(3)) }
    }
}

impl RowFormat for Q3K {
    const BB: usize = size_of::<BlockQ3K>();
    const NB: usize = 8;
    const SIGNED: bool = true;
    const RANGE: i32 = 8;
    const HALVES: bool = true;
    const MIN: Min = Min::None;

    #[inline(always)]
    unsafe fn scale<S: Simd>(w: *const u8, i: usize) -> Scale {
        let b = w.cast::<BlockQ3K>();
        // SAFETY: see above.
        let (d, sc) = unsafe {
            (
                S::f16(addr_of!((*b).d).cast()),
                addr_of!((*b).scales).read_unaligned(),
            )
        };
        Scale {
            lo: d * q3k_scale(&sc, 2 * i) as f32,
            hi: d * q3k_scale(&sc, 2 * i + 1) as f32,
            ..Scale::default()
        }
    }

    #[inline(always)]
    unsafe fn chunk<S: Simd>(w: *const u8, i: usize) -> S::B {
        let b = w.cast::<BlockQ3K>();
        // SAFETY: see above.
        unsafe {
            let qs = addr_of!((*b).qs).cast::<u8>();
            let low = S::and(shr2::<S>(S::load(qs.add(32 * (i / 4))), i % 4), S::splat(3));
            let hm = S::load(addr_of!((*b).hmask).cast());
            let high = S::and(S::test(hm, S::splat(1 << i)), S::splat(4));
            S::sub(S::or(low, high), S::splat(4))
        }
    }
}

impl RowFormat for Q4K {
    const BB: usize = size_of::<BlockQ4K>();
    const NB: usize = 8;
    const SIGNED: bool = false;
    const RANGE: i32 = 16;
    const HALVES: bool = false;
    const MIN: Min = Min::Chunk;

    #[inline(always)]
    unsafe fn scale<S: Simd>(w: *const u8, i: usize) -> Scale {
        // SAFETY: see above.
        unsafe { k_scale::<S>(w, i) }
    }

    #[inline(always)]
    unsafe fn chunk<S: Simd>(w: *const u8, i: usize) -> S::B {
        // SAFETY: see above.
        unsafe { nibble_chunk::<S>(addr_of!((*w.cast::<BlockQ4K>()).qs).cast(), i) }
    }
}

impl RowFormat for Q5K {
    const BB: usize = size_of::<BlockQ5K>();
    const NB: usize = 8;
    const SIGNED: bool = false;
    const RANGE: i32 = 32;
    const HALVES: bool = false;
    const MIN: Min = Min::Chunk;

    #[inline(always)]
    unsafe fn scale<S: Simd>(w: *const u8, i: usize) -> Scale {
        // SAFETY: see above.
        unsafe { k_scale::<S>(w, i) }
    }

    #[inline(always)]
    unsafe fn chunk<S: Simd>(w: *const u8, i: usize) -> S::B {
        let b = w.cast::<BlockQ5K>();
        // SAFETY: see above.
        unsafe {
            let low = nibble_chunk::<S>(addr_of!((*b).qs).cast(), i);
            let qh = S::load(addr_of!((*b).qh).cast());
            S::or(low, S::and(S::test(qh, S::splat(1 << i)), S::splat(16)))
        }
    }
}

impl RowFormat for Q6K {
    const BB: usize = size_of::<BlockQ6K>();
    const NB: usize = 8;
    const SIGNED: bool = true;
    const RANGE: i32 = 64;
    const HALVES: bool = true;
    const MIN: Min = Min::None;

    #[inline(always)]
    unsafe fn scale<S: Simd>(w: *const u8, i: usize) -> Scale {
        let b = w.cast::<BlockQ6K>();
        // SAFETY: see above.
        let (d, sc) = unsafe {
            (
                S::f16(addr_of!((*b).d).cast()),
                addr_of!((*b).scales).read_unaligned(),
            )
        };
        Scale {
            lo: d * sc[2 * i] as f32,
            hi: d * sc[2 * i + 1] as f32,
            ..Scale::default()
        }
    }

    #[inline(always)]
    unsafe fn chunk<S: Simd>(w: *const u8, i: usize) -> S::B {
        let b = w.cast::<BlockQ6K>();
        let (h, s) = (i / 4, i % 4);
        // SAFETY: see above.
        unsafe {
            let ql = S::load(addr_of!((*b).ql).cast::<u8>().add(64 * h + 32 * (s % 2)));
            let low = if s < 2 {
                S::and(ql, S::splat(0xF))
            } else {
                S::shr::<4>(ql)
            };
            // Bits 4-5 of the value sit at bits 2s..2s+2 of `qh`.
            let qh = S::load(addr_of!((*b).qh).cast::<u8>().add(32 * h));
            let high = match s {
                0 => S::shl::<4>(qh),
                1 => S::shl::<2>(qh),
                2 => qh,
                _ => S::shr::<2>(qh),
            };
            let q = S::or(low, S::and(high, S::splat(0x30)));
            S::sub(q, S::splat(32))
        }
    }
}

impl RowFormat for Iq4Xs {
    const BB: usize = size_of::<BlockIq4Xs>();
    const NB: usize = 8;
    const SIGNED: bool = true;
    const RANGE: i32 = 256;
    const HALVES: bool = false;
    const MIN: Min = Min::None;

    #[inline(always)]
    unsafe fn scale<S: Simd>(w: *const u8, i: usize) -> Scale {
        let b = w.cast::<BlockIq4Xs>();
        // SAFETY: see above.
        let (d, h, l) = unsafe {
            (
                S::f16(addr_of!((*b).d).cast()),
                addr_of!((*b).scales_h).read_unaligned(),
                addr_of!((*b).scales_l).read_unaligned(),
            )
        };
        Scale::one(d * xs_scale(h, l, i) as f32)
    }

    #[inline(always)]
    unsafe fn chunk<S: Simd>(w: *const u8, i: usize) -> S::B {
        // SAFETY: see above; the table is 16 bytes.
        unsafe {
            let qs = addr_of!((*w.cast::<BlockIq4Xs>()).qs).cast::<u8>();
            S::lookup(KVALUES_IQ4NL.as_ptr(), S::nibbles(qs.add(16 * i)))
        }
    }
}
