//! The 32-value formats as [`RowFormat`]s: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1
//! and IQ4_NL. Values are unpacked signed where the format has an offset
//! or a table, unsigned where it has a minimum.

use super::{Min, RowFormat, Scale, Simd};
use crate::formats::{
    BlockIq4Nl, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, KVALUES_IQ4NL,
};
use std::mem::size_of;
use std::ptr::addr_of;

pub(in crate::kernels) struct Q8_0;
pub(in crate::kernels) struct Q4_0;
pub(in crate::kernels) struct Q4_1;
pub(in crate::kernels) struct Q5_0;
pub(in crate::kernels) struct Q5_1;
pub(in crate::kernels) struct Iq4Nl;

// Every 32-value block starts with its f16 scale, and those with a
// minimum follow it with the f16 minimum.
const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(BlockQ8_0, d) == 0 && offset_of!(BlockQ4_0, d) == 0);
    assert!(offset_of!(BlockQ5_0, d) == 0 && offset_of!(BlockIq4Nl, d) == 0);
    assert!(offset_of!(BlockQ4_1, d) == 0 && offset_of!(BlockQ4_1, m) == 2);
    assert!(offset_of!(BlockQ5_1, d) == 0 && offset_of!(BlockQ5_1, m) == 2);
};

/// The one scale of a 32-value block whose first field is its f16 `d`.
///
/// # Safety
/// `S`'s features; 2 bytes readable at `w`.
#[inline(always)]
unsafe fn scale_first<S: Simd>(w: *const u8) -> Scale {
    // SAFETY: as stated.
    Scale::one(unsafe { S::f16(w) })
}

/// The scale `d` and minimum `m` of a 32-value block that starts with
/// them (f16 each): values are `d q + m`, and [`Scale`]'s minimum is
/// subtracted, so it is `-m`.
///
/// # Safety
/// `S`'s features; 4 bytes readable at `w`.
#[inline(always)]
unsafe fn scale_min_first<S: Simd>(w: *const u8) -> Scale {
    // SAFETY: as stated.
    let (d, m) = unsafe { (S::f16(w), S::f16(w.add(2))) };
    Scale {
        lo: d,
        hi: d,
        min_lo: -m,
        min_hi: -m,
    }
}

/// The 5-bit values of a Q5 block: nibbles plus 16 where `qh` has the bit.
///
/// # Safety
/// `S`'s features; 16 bytes readable at `qs`, 4 at `qh`.
#[inline(always)]
unsafe fn five_bits<S: Simd>(qs: *const u8, qh: *const u8) -> S::B {
    // SAFETY: as stated; unaligned read of `qh`.
    unsafe {
        let h = S::and(
            S::bits(qh.cast::<u32>().read_unaligned().to_le()),
            S::splat(16),
        );
        S::or(S::nibbles(qs), h)
    }
}

// SAFETY (every `unsafe` block below): the caller of `scales` and `chunk`
// guarantees one block readable at `w` and `S`'s features; the block's
// fields are read through raw pointers (`addr_of!`), unaligned.

impl RowFormat for Q8_0 {
    const BB: usize = size_of::<BlockQ8_0>();
    const NB: usize = 1;
    const SIGNED: bool = true;
    const RANGE: i32 = 256;
    const HALVES: bool = false;
    const MIN: Min = Min::None;

    #[inline(always)]
    unsafe fn scale<S: Simd>(w: *const u8, _: usize) -> Scale {
        // SAFETY: see above.
        unsafe { scale_first::<S>(w) }
    }

    #[inline(always)]
    unsafe fn chunk<S: Simd>(w: *const u8, _: usize) -> S::B {
        // SAFETY: see above.
        unsafe { S::load(addr_of!((*w.cast::<BlockQ8_0>()).qs).cast()) }
    }
}

impl RowFormat for Q4_0 {
    const BB: usize = size_of::<BlockQ4_0>();
    const NB: usize = 1;
    // `q - 8` with the nibbles unsigned and the offset taken off in the
    // integer sum: no sign trick (vpmaddubsw and vpdpbusd take the
    // nibbles as they are).
    const SIGNED: bool = false;
    const RANGE: i32 = 16;
    const OFFSET: i32 = 8;
    const HALVES: bool = false;
    const MIN: Min = Min::None;

    #[inline(always)]
    unsafe fn scale<S: Simd>(w: *const u8, _: usize) -> Scale {
        // SAFETY: see above.
        unsafe { scale_first::<S>(w) }
    }

    #[inline(always)]
    unsafe fn chunk<S: Simd>(w: *const u8, _: usize) -> S::B {
        // SAFETY: see above.
        unsafe { S::nibbles(addr_of!((*w.cast::<BlockQ4_0>()).qs).cast()) }
    }
}

impl RowFormat for Q4_1 {
    const BB: usize = size_of::<BlockQ4_1>();
    const NB: usize = 1;
    const SIGNED: bool = false;
    const RANGE: i32 = 16;
    const HALVES: bool = false;
    const MIN: Min = Min::Chunk;

    #[inline(always)]
    unsafe fn scale<S: Simd>(w: *const u8, _: usize) -> Scale {
        // SAFETY: see above.
        unsafe { scale_min_first::<S>(w) }
    }

    #[inline(always)]
    unsafe fn chunk<S: Simd>(w: *const u8, _: usize) -> S::B {
        // SAFETY: see above.
        unsafe { S::nibbles(addr_of!((*w.cast::<BlockQ4_1>()).qs).cast()) }
    }
}

impl RowFormat for Q5_0 {
    const BB: usize = size_of::<BlockQ5_0>();
    const NB: usize = 1;
    // `q - 16`, the offset taken off in the integer sum as Q4_0's.
    const SIGNED: bool = false;
    const RANGE: i32 = 32;
    const OFFSET: i32 = 16;
    const HALVES: bool = false;
    const MIN: Min = Min::None;

    #[inline(always)]
    unsafe fn scale<S: Simd>(w: *const u8, _: usize) -> Scale {
        // SAFETY: see above.
        unsafe { scale_first::<S>(w) }
    }

    #[inline(always)]
    unsafe fn chunk<S: Simd>(w: *const u8, _: usize) -> S::B {
        let b = w.cast::<BlockQ5_0>();
        // SAFETY: see above.
        unsafe { five_bits::<S>(addr_of!((*b).qs).cast(), addr_of!((*b).qh).cast()) }
    }
}

impl RowFormat for Q5_1 {
    const BB: usize = size_of::<BlockQ5_1>();
    const NB: usize = 1;
    const SIGNED: bool = false;
    const RANGE: i32 = 32;
    const HALVES: bool = false;
    const MIN: Min = Min::Chunk;

    #[inline(always)]
    unsafe fn scale<S: Simd>(w: *const u8, _: usize) -> Scale {
        // SAFETY: see above.
        unsafe { scale_min_first::<S>(w) }
    }

    #[inline(always)]
    unsafe fn chunk<S: Simd>(w: *const u8, _: usize) -> S::B {
        let b = w.cast::<BlockQ5_1>();
        // SAFETY: see above.
        unsafe { five_bits::<S>(addr_of!((*b).qs).cast(), addr_of!((*b).qh).cast()) }
    }
}

impl RowFormat for Iq4Nl {
    const BB: usize = size_of::<BlockIq4Nl>();
    const NB: usize = 1;
    const SIGNED: bool = true;
    const RANGE: i32 = 256;
    const HALVES: bool = false;
    const MIN: Min = Min::None;

    #[inline(always)]
    unsafe fn scale<S: Simd>(w: *const u8, _: usize) -> Scale {
        // SAFETY: see above.
        unsafe { scale_first::<S>(w) }
    }

    #[inline(always)]
    unsafe fn chunk<S: Simd>(w: *const u8, _: usize) -> S::B {
        // SAFETY: see above; the table is 16 bytes.
        unsafe {
            let idx = S::nibbles(addr_of!((*w.cast::<BlockIq4Nl>()).qs).cast());
            S::lookup(KVALUES_IQ4NL.as_ptr(), idx)
        }
    }
}
