//! Block bodies of the 32-value formats: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and
//! IQ4_NL. Each unpacks its weights into int8 lanes, signed where the
//! format has an offset or a table (dotted with [`Simd::dot_s`]) and
//! unsigned where it has a minimum ([`Simd::dot_u`], the minimum times the
//! activation block's sum `s` going to the scalar part).

use super::{act, RowFormat, Simd};
use crate::formats::{
    BlockIq4Nl, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8A, BlockQ8_0, KVALUES_IQ4NL,
};
use std::mem::size_of;
use std::ptr::addr_of;

pub(in crate::kernels) struct Q8_0;
pub(in crate::kernels) struct Q4_0;
pub(in crate::kernels) struct Q4_1;
pub(in crate::kernels) struct Q5_0;
pub(in crate::kernels) struct Q5_1;
pub(in crate::kernels) struct Iq4Nl;

/// `acc[c] += d_w · d_x[c] · (q · x[c])` for signed weights `q`.
///
/// # Safety
/// `S`'s features; one activation block readable at every `x[c]`.
#[inline(always)]
unsafe fn signed<S: Simd, const C: usize>(
    q: S::B,
    d: f32,
    x: [*const BlockQ8A; C],
    acc: &mut [S::F; C],
) {
    for c in 0..C {
        // SAFETY: as stated.
        unsafe { acc[c] = S::fma(acc[c], S::dot_s(q, act::<S>(x[c])), d * (*x[c]).d) };
    }
}

/// `acc[c] += d_w · d_x[c] · (q · x[c])` and `accs[c] += m · s_x[c]` for
/// unsigned weights `q` with minimum `m`.
///
/// # Safety
/// As [`signed`].
#[inline(always)]
unsafe fn with_min<S: Simd, const C: usize>(
    q: S::B,
    d: f32,
    m: f32,
    x: [*const BlockQ8A; C],
    acc: &mut [S::F; C],
    accs: &mut [f32; C],
) {
    for c in 0..C {
        // SAFETY: as stated.
        unsafe {
            acc[c] = S::fma(acc[c], S::dot_u(q, act::<S>(x[c])), d * (*x[c]).d);
            accs[c] += m * (*x[c]).s;
        }
    }
}

impl RowFormat for Q8_0 {
    const BB: usize = size_of::<BlockQ8_0>();
    const NB: usize = 1;

    #[inline(always)]
    unsafe fn block<S: Simd, const C: usize>(
        w: *const u8,
        x: [*const BlockQ8A; C],
        acc: &mut [S::F; C],
        _: &mut [f32; C],
    ) {
        let b = w.cast::<BlockQ8_0>();
        // SAFETY: one block readable at `w` (the caller's); fields read
        // through raw pointers, unaligned.
        unsafe {
            let q = S::load(addr_of!((*b).qs).cast());
            signed::<S, C>(q, S::f16(addr_of!((*b).d).cast()), x, acc);
        }
    }
}

impl RowFormat for Q4_0 {
    const BB: usize = size_of::<BlockQ4_0>();
    const NB: usize = 1;

    #[inline(always)]
    unsafe fn block<S: Simd, const C: usize>(
        w: *const u8,
        x: [*const BlockQ8A; C],
        acc: &mut [S::F; C],
        _: &mut [f32; C],
    ) {
        let b = w.cast::<BlockQ4_0>();
        // SAFETY: as in `Q8_0::block`.
        unsafe {
            let q = S::sub(S::nibbles(addr_of!((*b).qs).cast()), S::splat(8));
            signed::<S, C>(q, S::f16(addr_of!((*b).d).cast()), x, acc);
        }
    }
}

impl RowFormat for Q4_1 {
    const BB: usize = size_of::<BlockQ4_1>();
    const NB: usize = 1;

    #[inline(always)]
    unsafe fn block<S: Simd, const C: usize>(
        w: *const u8,
        x: [*const BlockQ8A; C],
        acc: &mut [S::F; C],
        accs: &mut [f32; C],
    ) {
        let b = w.cast::<BlockQ4_1>();
        // SAFETY: as in `Q8_0::block`.
        unsafe {
            let q = S::nibbles(addr_of!((*b).qs).cast());
            let (d, m) = (
                S::f16(addr_of!((*b).d).cast()),
                S::f16(addr_of!((*b).m).cast()),
            );
            with_min::<S, C>(q, d, m, x, acc, accs);
        }
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

impl RowFormat for Q5_0 {
    const BB: usize = size_of::<BlockQ5_0>();
    const NB: usize = 1;

    #[inline(always)]
    unsafe fn block<S: Simd, const C: usize>(
        w: *const u8,
        x: [*const BlockQ8A; C],
        acc: &mut [S::F; C],
        _: &mut [f32; C],
    ) {
        let b = w.cast::<BlockQ5_0>();
        // SAFETY: as in `Q8_0::block`.
        unsafe {
            let q = five_bits::<S>(addr_of!((*b).qs).cast(), addr_of!((*b).qh).cast());
            let q = S::sub(q, S::splat(16));
            signed::<S, C>(q, S::f16(addr_of!((*b).d).cast()), x, acc);
        }
    }
}

impl RowFormat for Q5_1 {
    const BB: usize = size_of::<BlockQ5_1>();
    const NB: usize = 1;

    #[inline(always)]
    unsafe fn block<S: Simd, const C: usize>(
        w: *const u8,
        x: [*const BlockQ8A; C],
        acc: &mut [S::F; C],
        accs: &mut [f32; C],
    ) {
        let b = w.cast::<BlockQ5_1>();
        // SAFETY: as in `Q8_0::block`.
        unsafe {
            let q = five_bits::<S>(addr_of!((*b).qs).cast(), addr_of!((*b).qh).cast());
            let (d, m) = (
                S::f16(addr_of!((*b).d).cast()),
                S::f16(addr_of!((*b).m).cast()),
            );
            with_min::<S, C>(q, d, m, x, acc, accs);
        }
    }
}

impl RowFormat for Iq4Nl {
    const BB: usize = size_of::<BlockIq4Nl>();
    const NB: usize = 1;

    #[inline(always)]
    unsafe fn block<S: Simd, const C: usize>(
        w: *const u8,
        x: [*const BlockQ8A; C],
        acc: &mut [S::F; C],
        _: &mut [f32; C],
    ) {
        let b = w.cast::<BlockIq4Nl>();
        // SAFETY: as in `Q8_0::block`; the table is 16 bytes.
        unsafe {
            let q = S::lookup(KVALUES_IQ4NL.as_ptr(), S::nibbles(addr_of!((*b).qs).cast()));
            signed::<S, C>(q, S::f16(addr_of!((*b).d).cast()), x, acc);
        }
    }
}
