//! `minke_sampler`: chooses the next token from logits with the chain
//! penalties → top-k → top-p → min-p → temperature → seeded draw (greedy
//! at temperature 0), as `minke::Sampler` does.

use crate::boundary::{
    arg_mut, arg_ref, arg_slice, ffi_boundary, fn_name, free_handle, out, read_params,
    write_params, Params,
};
use crate::model::minke_model;
use crate::status::{minke_status, FfiError};
use minke::{Sampler, SamplerParams};

/// Sampling settings. Fill it with `minke_sampler_default_params()` (greedy
/// decoding, no penalties), then change fields.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct minke_sampler_params {
    /// `sizeof(minke_sampler_params)` as the caller compiled it; set by
    /// `minke_sampler_default_params()`.
    pub size: u32,
    /// 0 (default): greedy. Otherwise logits are divided by it before the
    /// draw.
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens; 0 (default): all.
    pub top_k: u32,
    /// Keep the fewest tokens whose probability reaches `top_p`, in (0, 1];
    /// 1 (default): all.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the likeliest, in [0, 1];
    /// 0 (default): none.
    pub min_p: f32,
    /// Divide positive (multiply negative) logits of recent tokens by this;
    /// 1 (default): off.
    pub repeat_penalty: f32,
    /// Subtract `frequency_penalty * count` from recent tokens' logits;
    /// default 0.
    pub frequency_penalty: f32,
    /// Subtract `presence_penalty` from recent tokens' logits; default 0.
    pub presence_penalty: f32,
    /// How many recent tokens the penalties look at (default 64).
    pub penalty_last_n: u32,
    /// Seed of the random generator (default 0). The random draws are the
    /// same on every platform. The text is the same for the same model,
    /// prompt, settings and kernel set (the instruction set, `MINKE_ISA`):
    /// whatever the thread count, `n_batch`, the way the prompt was split
    /// between calls, or a restored session state. Other kernel sets sum
    /// the int8 products in other orders, so logits differ in the last bits
    /// and text can part at a near-tie.
    pub seed: u64,
}

impl Default for minke_sampler_params {
    fn default() -> Self {
        let d = SamplerParams::default();
        minke_sampler_params {
            size: std::mem::size_of::<minke_sampler_params>() as u32,
            temperature: d.temperature,
            top_k: d.top_k as u32,
            top_p: d.top_p,
            min_p: d.min_p,
            repeat_penalty: d.repeat_penalty,
            frequency_penalty: d.frequency_penalty,
            presence_penalty: d.presence_penalty,
            penalty_last_n: d.penalty_last_n as u32,
            seed: d.seed,
        }
    }
}

// SAFETY: repr(C), leading u32 `size`, fields are integers and floats.
unsafe impl Params for minke_sampler_params {
    const SIZES: &'static [usize] = &[std::mem::size_of::<minke_sampler_params>()];
    const NAME: &'static str = "minke_sampler_params";
}

const _: () = assert!(std::mem::size_of::<minke_sampler_params>() == 48);

impl minke_sampler_params {
    /// The Rust settings (checked when a `Sampler` is made from them).
    pub(crate) fn to_core(self) -> SamplerParams {
        SamplerParams {
            temperature: self.temperature,
            top_k: self.top_k as usize,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            frequency_penalty: self.frequency_penalty,
            presence_penalty: self.presence_penalty,
            penalty_last_n: self.penalty_last_n as usize,
            seed: self.seed,
        }
    }
}

/// A sampler (opaque): its settings, random generator and penalty history.
/// Created by `minke_sampler_new()`, freed by `minke_sampler_free()`. One
/// thread at a time.
pub struct minke_sampler {
    pub(crate) sampler: Sampler,
    pub(crate) vocab: usize,
}

/// ------------------------------------------------------------------
/// Sampler: choose the next token from logits.
/// ------------------------------------------------------------------
///
/// Fills `params` (a struct of `size` bytes, normally
/// `sizeof(minke_sampler_params)`) with the defaults and sets
/// `params->size`.
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_INVALID_ARG` (`size` below
/// the first version of the struct). Thread-safe.
///
/// # Safety
/// `params` is NULL or valid for writing `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn minke_sampler_default_params(
    params: *mut minke_sampler_params,
    size: u32,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or writable for `size` bytes (caller).
        unsafe { write_params(params, size, minke_sampler_params::default()) }
    })
}

/// Creates a sampler for `model`'s vocabulary with `params` (NULL:
/// defaults). `*out_sampler` is a new sampler the caller owns and frees
/// with `minke_sampler_free()`, or NULL on failure. All its memory is
/// allocated here: sampling allocates nothing.
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_INVALID_ARG` (a setting out
/// of range; the message names it). Thread-safe.
///
/// # Safety
/// `model` is NULL or a live model; `params` NULL or a filled params
/// struct; `out_sampler` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_sampler_new(
    model: *const minke_model,
    params: *const minke_sampler_params,
    out_sampler: *mut *mut minke_sampler,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or writable (caller).
        let o = unsafe { out(out_sampler, "out_sampler") }?;
        o.set(std::ptr::null_mut());
        // SAFETY: the caller's contract, for each pointer.
        let (m, p) = unsafe { (arg_ref(model, "model")?, read_params(params)?) };
        let vocab = m.model.config.vocab_size;
        let sampler = Sampler::new(p.to_core(), vocab)?;
        o.set(Box::into_raw(Box::new(minke_sampler { sampler, vocab })));
        Ok(())
    })
}

/// Frees a sampler. NULL does nothing. Call it when no other call on the
/// sampler is running.
///
/// # Safety
/// `sampler` is NULL or a pointer from `minke_sampler_new()` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn minke_sampler_free(sampler: *mut minke_sampler) {
    // SAFETY: NULL or from this type's constructor, not yet freed, used
    // by no other thread (the caller's contract).
    unsafe { free_handle(fn_name!(), sampler) }
}

/// Chooses a token from `logits` (`n_logits` floats, one per vocabulary
/// entry, e.g. from `minke_session_logits()`) into `*token`. It does not
/// record the token: call `minke_sampler_accept()` with the one you keep.
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_INVALID_ARG` (`n_logits` is
/// not the vocabulary size). One thread at a time per sampler.
///
/// # Safety
/// `sampler` is NULL or a live sampler; `logits` NULL or `n_logits`
/// readable floats; `token` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_sampler_sample(
    sampler: *mut minke_sampler,
    logits: *const f32,
    n_logits: usize,
    token: *mut u32,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (s, l, o) = unsafe {
            (
                arg_mut(sampler, "sampler")?,
                arg_slice(logits, n_logits, "logits")?,
                out(token, "token")?,
            )
        };
        if l.len() != s.vocab {
            return Err(FfiError::invalid(format!(
                "n_logits is {}; the sampler's vocabulary has {}",
                l.len(),
                s.vocab
            )));
        }
        o.set(s.sampler.sample(l)?);
        Ok(())
    })
}

/// Records `token` as part of the context (prompt or generated) for the
/// penalties.
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_TOKEN_OUT_OF_RANGE`. One
/// thread at a time per sampler.
///
/// # Safety
/// `sampler` is NULL or a live sampler.
#[no_mangle]
pub unsafe extern "C" fn minke_sampler_accept(
    sampler: *mut minke_sampler,
    token: u32,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or live (caller).
        let s = unsafe { arg_mut(sampler, "sampler") }?;
        if token as usize >= s.vocab {
            return Err(FfiError::new(
                minke_status::MINKE_ERR_TOKEN_OUT_OF_RANGE,
                format!(
                    "token id {token} is out of range (the vocabulary has {})",
                    s.vocab
                ),
            ));
        }
        s.sampler.accept(token);
        Ok(())
    })
}

/// Forgets the penalty history and restarts the random generator from the
/// seed. Returns `MINKE_ERR_NULL_ARG`. One thread at a time per sampler.
///
/// # Safety
/// `sampler` is NULL or a live sampler.
#[no_mangle]
pub unsafe extern "C" fn minke_sampler_reset(sampler: *mut minke_sampler) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: NULL or live (caller).
        let s = unsafe { arg_mut(sampler, "sampler") }?;
        s.sampler.reset();
        Ok(())
    })
}

/// Bytes `minke_sampler_state_get()` writes for the sampler as it is now:
/// `*size` (80, and 4 for each token its penalties remember).
///
/// Returns `MINKE_ERR_NULL_ARG`. One thread at a time per sampler.
///
/// # Safety
/// `sampler` is NULL or a live sampler; `size` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_sampler_state_size(
    sampler: *const minke_sampler,
    size: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (s, n) = unsafe { (arg_ref(sampler, "sampler")?, out(size, "size")?) };
        n.set(s.sampler.state_len());
        Ok(())
    })
}

/// Writes what the sampler carries from token to token (its random
/// generator's position and the tokens its penalties remember, with a
/// checksum) to `buf`, room for `capacity` bytes; the size goes to
/// `*written` in every case, and if `capacity` is too small nothing is
/// written (`MINKE_ERR_BUFFER_TOO_SMALL`; `buf` may be NULL when
/// `capacity` is 0). Saved beside a session's state, it makes a restored
/// conversation sample exactly what the saved one would have. The
/// sampler's settings are not part of it.
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_BUFFER_TOO_SMALL`. One
/// thread at a time per sampler.
///
/// # Safety
/// `sampler` is NULL or a live sampler; `buf` NULL or writable for
/// `capacity` bytes; `written` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn minke_sampler_state_get(
    sampler: *const minke_sampler,
    buf: *mut u8,
    capacity: usize,
    written: *mut usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (s, n) = unsafe { (arg_ref(sampler, "sampler")?, out(written, "written")?) };
        let state = s.sampler.state();
        n.set(state.len());
        if capacity < state.len() {
            return Err(FfiError::new(
                minke_status::MINKE_ERR_BUFFER_TOO_SMALL,
                format!("`buf` holds {capacity} bytes; the state is {}", state.len()),
            ));
        }
        if buf.is_null() {
            return Err(FfiError::new(
                minke_status::MINKE_ERR_NULL_ARG,
                "`buf` is NULL",
            ));
        }
        // SAFETY: non-NULL and writable for `capacity >= state.len()` bytes
        // (caller); a fresh Vec cannot overlap it.
        unsafe { std::ptr::copy_nonoverlapping(state.as_ptr(), buf, state.len()) };
        Ok(())
    })
}

/// Restores a state that `minke_sampler_state_get()` wrote (`len` bytes at
/// `buf`), into this sampler or another with the same vocabulary and
/// `penalty_last_n` (and penalties on or off alike): its random generator
/// continues where the saved one was, and its penalties remember the same
/// tokens.
///
/// Returns `MINKE_ERR_NULL_ARG` or `MINKE_ERR_STATE` (truncated, damaged,
/// another format version, or another vocabulary or penalty window); on an
/// error the sampler is unchanged. One thread at a time per sampler.
///
/// # Safety
/// `sampler` is NULL or a live sampler; `buf` NULL or readable for `len`
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn minke_sampler_state_set(
    sampler: *mut minke_sampler,
    buf: *const u8,
    len: usize,
) -> minke_status {
    ffi_boundary(fn_name!(), || {
        // SAFETY: the caller's contract, for each pointer.
        let (s, data) = unsafe { (arg_mut(sampler, "sampler")?, arg_slice(buf, len, "buf")?) };
        s.sampler.restore_state(data)?;
        Ok(())
    })
}
