//! The one way into the library from C: `ffi_boundary` runs an entry
//! point's body under `catch_unwind`, turns its error into a
//! `minke_status` and records the message for `minke_last_error()`.
//!
//! Beside it live the checks every entry point makes on what C hands it:
//! NULL pointers, strings that must be UTF-8, slices given as pointer and
//! length, versioned params structs (their leading `size` field), and
//! snprintf-style output buffers.

use crate::status::{minke_status, FfiError, FfiResult};
use minke::log::Level;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

// Everything here rests on catching panics: built with `panic = "abort"`,
// a bug in minke would kill the app that links it instead of returning
// MINKE_ERR_INTERNAL. Any profile that builds libminke keeps `unwind`
// (the size profile in Cargo.toml included).
#[cfg(not(panic = "unwind"))]
compile_error!("minke-ffi must be built with panic = \"unwind\": the C boundary catches panics");

/// The name of the function it is written in, e.g. `"minke_model_open"`.
/// Every entry point passes `fn_name!()` to [`ffi_boundary`],
/// [`ffi_getter`] or [`free_handle`], so that a message names the function
/// C called and no name is typed by hand. Write it in the entry point's
/// own body, not inside a closure (whose name is `{{closure}}`); the
/// `entry_points_name_themselves` test checks every entry point.
macro_rules! fn_name {
    () => {{
        fn here() {}
        $crate::boundary::enclosing_fn(::std::any::type_name_of_val(&here))
    }};
}
pub(crate) use fn_name;

/// `"minke_model_open"` from the path of `fn_name!`'s item,
/// `"minke::model::minke_model_open::here"`.
pub(crate) fn enclosing_fn(path: &'static str) -> &'static str {
    let path = path.strip_suffix("::here").unwrap_or(path);
    path.rsplit("::").next().unwrap_or(path)
}

thread_local! {
    /// The message of the last call on this thread that failed.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(func: &str, msg: &str) {
    // A NUL inside the message would cut it short in C: replace it.
    let text = format!("{func}: {msg}").replace('\0', "\u{FFFD}");
    let c = CString::new(text).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// The message of the last call on the calling thread that failed, e.g.
/// `"minke_model_open: model.gguf: No such file or directory (os error 2)"`;
/// `""` if none has failed. Never NULL. The string belongs to the library
/// and stays valid until the next failing minke call on the same thread;
/// copy it to keep it. Thread-safe: each thread has its own message.
#[no_mangle]
pub extern "C" fn minke_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Runs the body of entry point `func`: `MINKE_OK` if it succeeds; its
/// status (message recorded) if it fails; `MINKE_ERR_INTERNAL` if it
/// panics. No panic crosses into C.
pub(crate) fn ffi_boundary(func: &str, body: impl FnOnce() -> FfiResult<()>) -> minke_status {
    // Handles touched by a panicking body may be half-updated: the status
    // documentation tells C to only free them after MINKE_ERR_INTERNAL.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => minke_status::MINKE_OK,
        Ok(Err(e)) => {
            minke::log::write(Level::Debug, format_args!("{func}: {}", e.msg));
            set_last_error(func, &e.msg);
            e.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            minke::log::write(Level::Error, format_args!("{func}: internal error: {what}"));
            set_last_error(func, &format!("internal error (a bug in minke): {what}"));
            minke_status::MINKE_ERR_INTERNAL
        }
    }
}

/// [`ffi_boundary`] for a getter that returns a value: `fallback` when it
/// panics (getters record no message otherwise).
pub(crate) fn ffi_getter<T>(func: &str, fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(_) => {
            set_last_error(func, "internal error (a bug in minke) in a getter");
            fallback
        }
    }
}

/// Frees a handle that its constructor made with `Box::into_raw`: the body
/// of every `minke_*_free`. NULL does nothing. `func` is the entry point,
/// for the message of a panic in a destructor.
///
/// # Safety
/// `p` is NULL or a pointer from `Box::into_raw(Box<T>)` not yet freed,
/// which no other thread uses.
pub(crate) unsafe fn free_handle<T>(func: &str, p: *mut T) {
    ffi_getter(func, (), || {
        if !p.is_null() {
            // SAFETY: from Box::into_raw and freed exactly once (caller).
            drop(unsafe { Box::from_raw(p) });
        }
    })
}

fn null(name: &str) -> FfiError {
    FfiError::new(
        minke_status::MINKE_ERR_NULL_ARG,
        format!("`{name}` is NULL"),
    )
}

/// `&*p`, or `MINKE_ERR_NULL_ARG` naming `name`.
///
/// # Safety
/// `p` is NULL or points to a live, properly aligned `T` that nothing
/// mutates during `'a`.
pub(crate) unsafe fn arg_ref<'a, T>(p: *const T, name: &str) -> FfiResult<&'a T> {
    // SAFETY: the caller guarantees a non-NULL `p` is valid for `'a`.
    unsafe { p.as_ref() }.ok_or_else(|| null(name))
}

/// `&mut *p`, or `MINKE_ERR_NULL_ARG` naming `name`.
///
/// # Safety
/// `p` is NULL or points to a live, properly aligned `T` that nothing
/// else reads or writes during `'a`.
pub(crate) unsafe fn arg_mut<'a, T>(p: *mut T, name: &str) -> FfiResult<&'a mut T> {
    // SAFETY: the caller guarantees a non-NULL `p` is valid and unaliased.
    unsafe { p.as_mut() }.ok_or_else(|| null(name))
}

/// A NUL-terminated UTF-8 string argument: `MINKE_ERR_NULL_ARG` if NULL,
/// `MINKE_ERR_UTF8` if not UTF-8.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that lives, unchanged,
/// during `'a`.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, name: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL and NUL-terminated, per the caller.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str().map_err(|e| {
        FfiError::new(
            minke_status::MINKE_ERR_UTF8,
            format!(
                "`{name}` is not valid UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

/// A slice given as pointer and length; `p` may be NULL when `n` is 0.
///
/// # Safety
/// `p` is NULL or points to `n` initialised `T`s that live, unchanged,
/// during `'a`.
pub(crate) unsafe fn arg_slice<'a, T>(p: *const T, n: usize, name: &str) -> FfiResult<&'a [T]> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: non-NULL, `n` valid elements, per the caller.
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// An out-parameter: a place C gave us to write values to.
pub(crate) struct Out<T>(*mut T);

impl<T> Out<T> {
    /// Writes `v` (the old contents, perhaps uninitialised, are not read
    /// or dropped).
    pub fn set(&self, v: T) {
        // SAFETY: `out()` checked the pointer for NULL, and its caller
        // promised it is valid for writes of a `T`.
        unsafe { self.0.write(v) }
    }
}

/// Checks out-parameter `p` for NULL.
///
/// # Safety
/// `p` is NULL or valid for writing one properly aligned `T` for as long
/// as the returned [`Out`] lives.
pub(crate) unsafe fn out<T>(p: *mut T, name: &str) -> FfiResult<Out<T>> {
    if p.is_null() {
        Err(null(name))
    } else {
        Ok(Out(p))
    }
}

/// Like [`out`], but NULL means "the caller does not want this value".
///
/// # Safety
/// As [`out`].
pub(crate) unsafe fn out_opt<T>(p: *mut T) -> Option<Out<T>> {
    (!p.is_null()).then_some(Out(p))
}

/// Writes `text` and a NUL to `buf` (`size` bytes), snprintf-style: the
/// length without the NUL goes to `n_out` in every case; if it does not
/// fit (`size < len + 1`), nothing but an empty string is written and the
/// result is `MINKE_ERR_BUFFER_TOO_SMALL`. `buf` may be NULL when `size`
/// is 0, to ask for the length.
///
/// # Safety
/// `buf` is NULL or valid for writing `size` bytes.
pub(crate) unsafe fn write_text(
    buf: *mut c_char,
    size: usize,
    text: &[u8],
    n_out: Out<usize>,
    name: &str,
) -> FfiResult<()> {
    n_out.set(text.len());
    if size > 0 && buf.is_null() {
        return Err(null(name));
    }
    if size < text.len() + 1 {
        if size > 0 {
            // SAFETY: non-NULL and at least one byte long.
            unsafe { buf.write(0) };
        }
        return Err(FfiError::new(
            minke_status::MINKE_ERR_BUFFER_TOO_SMALL,
            format!(
                "`{name}` holds {size} bytes; {} are needed (text and NUL)",
                text.len() + 1
            ),
        ));
    }
    // SAFETY: `buf` has room for `text.len() + 1` bytes, checked above;
    // `text` is ours and cannot overlap C's buffer.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
        buf.add(text.len()).write(0);
    }
    Ok(())
}

/// Writes `items` to `buf` (room for `cap`), snprintf-style: the count
/// goes to `n_out` in every case; if it exceeds `cap`, nothing is written
/// and the result is `MINKE_ERR_BUFFER_TOO_SMALL`.
///
/// # Safety
/// `buf` is NULL or valid for writing `cap` elements.
pub(crate) unsafe fn write_items<T: Copy>(
    buf: *mut T,
    cap: usize,
    items: &[T],
    n_out: Out<usize>,
    name: &str,
) -> FfiResult<()> {
    n_out.set(items.len());
    if cap > 0 && buf.is_null() {
        return Err(null(name));
    }
    if cap < items.len() {
        return Err(FfiError::new(
            minke_status::MINKE_ERR_BUFFER_TOO_SMALL,
            format!("`{name}` holds {cap} items; {} are needed", items.len()),
        ));
    }
    // SAFETY: room for `items.len()` elements, checked above; no overlap
    // with our own vector.
    unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), buf, items.len()) };
    Ok(())
}

/// A versioned params struct: `#[repr(C)]`, plain data, first field a
/// `u32 size` that C sets to `sizeof` the struct it compiled against.
///
/// # Safety
/// Implementors are `#[repr(C)]`, begin with a `u32` size field, and every
/// field is valid for any bit pattern C's types can hold (integers,
/// floats, pointers, C `bool`).
pub(crate) unsafe trait Params: Copy + Default {
    /// `sizeof` of each released version of the struct, oldest first; the
    /// last is the current one. A caller's `size` selects the newest
    /// version it covers, and only that many bytes are read or written, so
    /// a newer field sitting in an older struct's tail padding is never
    /// read from garbage.
    const SIZES: &'static [usize];
    /// For messages: the struct's C name.
    const NAME: &'static str;

    /// The size of the version a caller's `size` selects.
    fn version_size(size: u32) -> FfiResult<usize> {
        Self::SIZES
            .iter()
            .copied()
            .filter(|&s| s <= size as usize)
            .max()
            .ok_or_else(|| {
                FfiError::invalid(format!(
                    "{}.size is {size}, smaller than any version of the struct ({}); \
                     fill it with its default_params function",
                    Self::NAME,
                    Self::SIZES[0]
                ))
            })
    }
}

/// Reads a params struct: the defaults if `p` is NULL, else the bytes of
/// the version its `size` field selects over the defaults.
///
/// # Safety
/// `p` is NULL or points to at least `(*p).size` readable bytes, starting
/// with a `u32`.
pub(crate) unsafe fn read_params<T: Params>(p: *const T) -> FfiResult<T> {
    let mut v = T::default();
    if p.is_null() {
        return Ok(v);
    }
    // SAFETY: non-NULL and starts with a readable u32, per the caller.
    let size = unsafe { p.cast::<u32>().read_unaligned() };
    let n = T::version_size(size)?;
    // SAFETY: `n <= size` bytes are readable at `p`; `n <= sizeof(T)`
    // bytes fit in `v`; every field accepts any bit pattern C can store
    // (the `Params` contract); no overlap between C's struct and `v`.
    unsafe {
        std::ptr::copy_nonoverlapping(p.cast::<u8>(), (&mut v as *mut T).cast::<u8>(), n);
    }
    Ok(v)
}

/// Writes the defaults into a caller's params struct of `size` bytes and
/// sets its `size` field.
///
/// # Safety
/// `p` is NULL or valid for writing `size` bytes.
pub(crate) unsafe fn write_params<T: Params>(p: *mut T, size: u32, value: T) -> FfiResult<()> {
    let n = T::version_size(size)?;
    if p.is_null() {
        return Err(null("params"));
    }
    // SAFETY: `n <= size` bytes are writable at `p`; `value` has
    // `sizeof(T) >= n` bytes; no overlap. Then `size` goes in the leading
    // u32, which every version has.
    unsafe {
        std::ptr::copy_nonoverlapping((&value as *const T).cast::<u8>(), p.cast::<u8>(), n);
        p.cast::<u32>().write_unaligned(size);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fn_name_is_the_enclosing_function() {
        fn minke_example() -> &'static str {
            fn_name!()
        }
        assert_eq!(minke_example(), "minke_example");
        assert_eq!(fn_name!(), "fn_name_is_the_enclosing_function");
    }

    #[test]
    fn panics_become_internal_errors() {
        let st = ffi_boundary("minke_test", || panic!("boom"));
        assert_eq!(st, minke_status::MINKE_ERR_INTERNAL);
        // SAFETY: minke_last_error returns a NUL-terminated string.
        let msg = unsafe { CStr::from_ptr(minke_last_error()) };
        let msg = msg.to_str().unwrap();
        assert!(msg.starts_with("minke_test: internal error"), "{msg}");
        assert!(msg.contains("boom"), "{msg}");
    }

    #[test]
    fn last_error_is_per_thread() {
        let st = ffi_boundary("minke_a", || Err(FfiError::invalid("on main")));
        assert_eq!(st, minke_status::MINKE_ERR_INVALID_ARG);
        std::thread::spawn(|| {
            // SAFETY: as above.
            let msg = unsafe { CStr::from_ptr(minke_last_error()) };
            assert_eq!(msg.to_bytes(), b"");
        })
        .join()
        .unwrap();
        // SAFETY: as above.
        let msg = unsafe { CStr::from_ptr(minke_last_error()) };
        assert_eq!(msg.to_str().unwrap(), "minke_a: on main");
    }

    #[test]
    fn text_output_is_snprintf_like() {
        let mut buf = [0x55 as c_char; 4];
        let mut n = 0usize;
        // SAFETY: `buf` has 4 bytes; `n` is a valid out-pointer.
        let r = unsafe {
            write_text(
                buf.as_mut_ptr(),
                4,
                b"hello",
                out(&mut n, "n").unwrap(),
                "b",
            )
        };
        assert_eq!(
            r.unwrap_err().status,
            minke_status::MINKE_ERR_BUFFER_TOO_SMALL
        );
        assert_eq!((n, buf[0]), (5, 0));
        let mut big = [0 as c_char; 6];
        // SAFETY: `big` has 6 bytes.
        unsafe {
            write_text(
                big.as_mut_ptr(),
                6,
                b"hello",
                out(&mut n, "n").unwrap(),
                "b",
            )
        }
        .unwrap();
        assert_eq!(n, 5);
        // SAFETY: NUL-terminated by write_text.
        assert_eq!(unsafe { CStr::from_ptr(big.as_ptr()) }.to_bytes(), b"hello");
        // Size query with a NULL buffer.
        // SAFETY: NULL buffer with size 0 is allowed.
        let r = unsafe {
            write_text(
                std::ptr::null_mut(),
                0,
                b"abc",
                out(&mut n, "n").unwrap(),
                "b",
            )
        };
        assert_eq!(
            (r.unwrap_err().status, n),
            (minke_status::MINKE_ERR_BUFFER_TOO_SMALL, 3)
        );
    }
}
