//! The machinery every export uses: the panic boundary, typed handles,
//! and checked reads of C pointers and writes to C buffers.
//!
//! # Handles
//!
//! An object the C side holds (`secmx_client *`, …) is a `Box<Tagged<T>>`
//! turned into a raw pointer. The C type is an opaque struct with no
//! fields; the Rust value behind it starts with a tag naming its type, so
//! a NULL pointer, a misaligned one, or a pointer to another SecMX type
//! comes back as an error code instead of undefined behaviour. A pointer
//! to freed memory cannot be detected: that is the caller's contract.
//!
//! A handle whose call panicked is *poisoned*: the panic is caught at the
//! export, and every later call on the handle but its `_free` returns
//! [`secmx_result::Panic`], since its state may be half-updated.

use std::ffi::{CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::secmx_result;

/// Longest NUL-terminated string read from C (file paths included): the
/// scan for the NUL stops here, so a string without one is an error, not
/// a read running through memory.
pub(crate) const MAX_C_STRING: usize = 4096;

/// The value an export returns when its body panicked.
pub(crate) trait PanicValue {
    /// What to return.
    fn panic_value() -> Self;
}

impl PanicValue for secmx_result {
    fn panic_value() -> Self {
        secmx_result::Panic
    }
}

impl<T> PanicValue for *const T {
    fn panic_value() -> Self {
        std::ptr::null()
    }
}

impl<T> PanicValue for *mut T {
    fn panic_value() -> Self {
        std::ptr::null_mut()
    }
}

impl PanicValue for bool {
    fn panic_value() -> Self {
        false
    }
}

impl PanicValue for usize {
    fn panic_value() -> Self {
        0
    }
}

impl PanicValue for u32 {
    fn panic_value() -> Self {
        0
    }
}

impl PanicValue for () {
    fn panic_value() -> Self {}
}

/// Runs `body`, turning a panic into [`PanicValue::panic_value`]. Every
/// export goes through this (or [`result_boundary`]): no unwind crosses
/// into C.
pub(crate) fn boundary<T: PanicValue>(body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| T::panic_value())
}

/// [`boundary`] for the common shape: a body that returns
/// `Result<(), secmx_result>`, flattened to one code.
pub(crate) fn result_boundary(body: impl FnOnce() -> Result<(), secmx_result>) -> secmx_result {
    boundary(|| match body() {
        Ok(()) => secmx_result::Ok,
        Err(code) => code,
    })
}

/// A Rust value behind an opaque C pointer, with its type tag.
#[repr(C)]
pub(crate) struct Tagged<T> {
    tag: u64,
    /// Set while a call runs on the value; still set after a panic.
    busy: bool,
    value: T,
}

/// Tag of a value being freed (for the debugger's eyes: after the free the
/// memory is gone).
const FREED: u64 = 0xdead_dead_dead_dead;

/// An opaque C type and the Rust value behind it.
pub(crate) trait Handle {
    /// Distinct per type.
    const TAG: u64;
    /// The value behind the pointer.
    type Inner;
}

/// Moves `value` to the heap and returns the owned C pointer.
pub(crate) fn into_raw<H: Handle>(value: H::Inner) -> *mut H {
    Box::into_raw(Box::new(Tagged {
        tag: H::TAG,
        busy: false,
        value,
    }))
    .cast()
}

/// Checks `ptr` for NULL, alignment and tag.
fn check<H: Handle>(ptr: *const H) -> Result<*mut Tagged<H::Inner>, secmx_result> {
    if ptr.is_null() {
        return Err(secmx_result::NullParameter);
    }
    let tagged = ptr.cast::<Tagged<H::Inner>>().cast_mut();
    if !tagged.is_aligned() {
        return Err(secmx_result::InvalidArgument);
    }
    // SAFETY: the caller promised a pointer from `into_raw` that was not
    // freed (the documented contract of every export). Its first field is
    // the `u64` tag of a `#[repr(C)]` struct, aligned as just checked; a
    // pointer to another SecMX type is also a `Tagged` with a `u64` first.
    let tag = unsafe { std::ptr::addr_of!((*tagged).tag).read() };
    if tag != H::TAG {
        return Err(secmx_result::InvalidArgument);
    }
    Ok(tagged)
}

/// Runs `f` on the value behind a `*mut` handle, poisoning the handle if
/// `f` panics.
///
/// # Safety
///
/// `ptr` is NULL or came from [`into_raw`] for `H` and was not freed, and
/// no other call on it runs at the same time (handles are not shared
/// between threads without the caller's own lock).
pub(crate) unsafe fn with_mut<H: Handle, R>(
    ptr: *mut H,
    f: impl FnOnce(&mut H::Inner) -> Result<R, secmx_result>,
) -> Result<R, secmx_result> {
    let tagged = check(ptr.cast_const())?;
    // SAFETY: `check` found the tag of a live `Tagged<H::Inner>`; the
    // caller guarantees exclusive access for the call.
    let tagged = unsafe { &mut *tagged };
    if tagged.busy {
        return Err(secmx_result::Panic);
    }
    tagged.busy = true;
    let result = f(&mut tagged.value);
    tagged.busy = false;
    result
}

/// Runs `f` on the value behind a `*const` handle.
///
/// # Safety
///
/// `ptr` is NULL or came from [`into_raw`] for `H` and was not freed, and
/// no call that changes it runs at the same time.
pub(crate) unsafe fn with_ref<H: Handle, R>(
    ptr: *const H,
    f: impl FnOnce(&H::Inner) -> Result<R, secmx_result>,
) -> Result<R, secmx_result> {
    let tagged = check(ptr)?;
    // SAFETY: `check` found the tag of a live `Tagged<H::Inner>`; shared
    // access only.
    let tagged = unsafe { &*tagged };
    if tagged.busy {
        return Err(secmx_result::Panic);
    }
    f(&tagged.value)
}

/// Frees a handle. NULL is a no-op; a pointer of the wrong type is left
/// alone.
///
/// # Safety
///
/// `ptr` is NULL or came from [`into_raw`] for `H` and was not freed; it
/// is not used again.
pub(crate) unsafe fn free<H: Handle>(ptr: *mut H) {
    let Ok(tagged) = check(ptr.cast_const()) else {
        return;
    };
    // SAFETY: `check` found a live `Tagged<H::Inner>` made by `into_raw`
    // (a `Box`); the caller hands its ownership back here, once.
    let mut boxed = unsafe { Box::from_raw(tagged) };
    boxed.tag = FREED;
    drop(boxed);
}

/// The bytes at `ptr`, `len` of them. `len == 0` gives an empty slice
/// whatever `ptr` is.
///
/// # Safety
///
/// `ptr` is NULL or points to `len` readable bytes that stay unchanged for
/// `'a`.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], secmx_result> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(secmx_result::NullParameter);
    }
    if len > isize::MAX as usize {
        return Err(secmx_result::InvalidArgument);
    }
    // SAFETY: non-NULL, `len` within `isize::MAX`; the caller promised
    // `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The pointers at `ptr`, `len` of them (an array of C strings).
///
/// # Safety
///
/// As [`bytes`], for `len` pointers.
pub(crate) unsafe fn pointers<'a>(
    ptr: *const *const c_char,
    len: usize,
) -> Result<&'a [*const c_char], secmx_result> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(secmx_result::NullParameter);
    }
    if !ptr.is_aligned() || len > isize::MAX as usize / size_of::<*const c_char>() {
        return Err(secmx_result::InvalidArgument);
    }
    // SAFETY: non-NULL, aligned, size within `isize::MAX`; the caller
    // promised `len` readable pointers.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A NUL-terminated UTF-8 string from C, at most [`MAX_C_STRING`] bytes.
///
/// # Safety
///
/// `ptr` is NULL or points to readable bytes up to and including a NUL (or
/// at least [`MAX_C_STRING`] of them), unchanged for `'a`.
pub(crate) unsafe fn string<'a>(ptr: *const c_char) -> Result<&'a str, secmx_result> {
    if ptr.is_null() {
        return Err(secmx_result::NullParameter);
    }
    let mut len = 0;
    loop {
        if len == MAX_C_STRING {
            return Err(secmx_result::InvalidArgument);
        }
        // SAFETY: every byte before this one was not NUL, and the caller
        // promised readable bytes up to the NUL.
        if unsafe { ptr.add(len).read() } == 0 {
            break;
        }
        len += 1;
    }
    // SAFETY: the `len` bytes just read are readable and unchanged for 'a.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    std::str::from_utf8(bytes).map_err(|_| secmx_result::InvalidArgument)
}

/// Writes `value` to an out-parameter.
///
/// # Safety
///
/// `out` is NULL or points to writable memory for a `T`.
pub(crate) unsafe fn write<T>(out: *mut T, value: T) -> Result<(), secmx_result> {
    if out.is_null() {
        return Err(secmx_result::NullParameter);
    }
    if !out.is_aligned() {
        return Err(secmx_result::InvalidArgument);
    }
    // SAFETY: non-NULL and aligned; the caller promised it is writable.
    // `write` does not read or drop the old contents.
    unsafe { out.write(value) };
    Ok(())
}

/// Checks an out-parameter before the work that fills it starts, so that a
/// NULL one fails before anything changes.
pub(crate) fn check_out<T>(out: *mut T) -> Result<(), secmx_result> {
    if out.is_null() {
        Err(secmx_result::NullParameter)
    } else if !out.is_aligned() {
        Err(secmx_result::InvalidArgument)
    } else {
        Ok(())
    }
}

/// Copies `text` and a NUL into `buf` (`len` bytes) and its length without
/// the NUL into `*out_len`. When it does not fit, writes nothing to `buf`,
/// sets `*out_len` to the size needed (NUL included) and returns
/// [`secmx_result::BufferTooSmall`].
///
/// # Safety
///
/// `buf` is NULL or points to `len` writable bytes; `out_len` is NULL or
/// points to a writable `size_t`.
pub(crate) unsafe fn copy_text(
    text: &str,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> Result<(), secmx_result> {
    check_out(out_len)?;
    let needed = text.len() + 1;
    if len < needed {
        // SAFETY: checked above; the caller promised it is writable.
        unsafe { write(out_len, needed)? };
        return Err(secmx_result::BufferTooSmall);
    }
    if buf.is_null() {
        return Err(secmx_result::NullParameter);
    }
    // SAFETY: `buf` has `len >= text.len() + 1` writable bytes (the
    // caller's promise); the regions cannot overlap, `text` is Rust's.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), text.len());
        buf.add(text.len()).write(0);
        write(out_len, text.len())
    }
}

/// Copies `data` whole into `buf` (`len` bytes) and its length into
/// `*out_len`; when it does not fit, [`secmx_result::BufferTooSmall`] with
/// the size needed in `*out_len` and nothing written to `buf`.
///
/// # Safety
///
/// As [`copy_text`].
pub(crate) unsafe fn copy_whole(
    data: &[u8],
    buf: *mut u8,
    len: usize,
    out_len: *mut usize,
) -> Result<(), secmx_result> {
    check_out(out_len)?;
    if len < data.len() {
        // SAFETY: checked above.
        unsafe { write(out_len, data.len())? };
        return Err(secmx_result::BufferTooSmall);
    }
    if buf.is_null() && !data.is_empty() {
        return Err(secmx_result::NullParameter);
    }
    // SAFETY: `buf` has at least `data.len()` writable bytes; no overlap.
    unsafe {
        if !data.is_empty() {
            std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
        }
        write(out_len, data.len())
    }
}

/// Bytes waiting for the caller, handed out in pieces as large as the
/// caller's buffer (the stream semantics of `read(2)`).
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    data: Vec<u8>,
    taken: usize,
}

impl Outbox {
    /// Whether every byte was handed out.
    pub(crate) fn is_empty(&self) -> bool {
        self.taken >= self.data.len()
    }

    /// Refills from `fill` once empty: `fill` appends to the buffer.
    pub(crate) fn refill(&mut self, fill: impl FnOnce(&mut Vec<u8>)) {
        if self.is_empty() {
            self.data.clear();
            self.taken = 0;
            fill(&mut self.data);
            if self.data.is_empty() {
                // Hold no heap while idle.
                self.data = Vec::new();
            }
        }
    }

    /// The bytes not yet handed out.
    pub(crate) fn pending(&self) -> &[u8] {
        self.data.get(self.taken..).unwrap_or_default()
    }

    /// Copies up to `len` bytes into `buf`.
    ///
    /// # Safety
    ///
    /// As [`copy_text`].
    pub(crate) unsafe fn take(
        &mut self,
        buf: *mut u8,
        len: usize,
        out_len: *mut usize,
    ) -> Result<(), secmx_result> {
        check_out(out_len)?;
        let pending = self.pending();
        if pending.is_empty() {
            // SAFETY: checked above.
            unsafe { write(out_len, 0)? };
            return Err(secmx_result::Nothing);
        }
        if len == 0 {
            // SAFETY: checked above.
            unsafe { write(out_len, pending.len())? };
            return Err(secmx_result::BufferTooSmall);
        }
        if buf.is_null() {
            return Err(secmx_result::NullParameter);
        }
        let n = pending.len().min(len);
        // SAFETY: `buf` has `len >= n` writable bytes (the caller's
        // promise); `pending` is Rust's own memory.
        unsafe {
            std::ptr::copy_nonoverlapping(pending.as_ptr(), buf, n);
            write(out_len, n)?;
        }
        self.taken += n;
        if self.is_empty() {
            self.data.clear();
            self.taken = 0;
        }
        Ok(())
    }
}

/// A C string from text that may hold NUL or other control characters
/// (peer-supplied reply text, error messages): controls are escaped as
/// Rust's `escape_default` writes them, so the result is printable and
/// has no interior NUL.
pub(crate) fn c_string(text: &str) -> CString {
    let escaped: String = if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        text.to_owned()
    };
    // No NUL is left: it is a control character and was escaped.
    CString::new(escaped).unwrap_or_default()
}

/// The static empty C string: the value of every string field that does
/// not apply, so that no string field is ever NULL.
pub(crate) fn empty() -> *const c_char {
    c"".as_ptr()
}

/// Owns the strings and bytes that an event's pointers refer to. Opaque;
/// reached only through the `owned` field of an event, and released by
/// that event's `_free` function.
pub struct secmx_event_storage {
    _private: [u8; 0],
}

impl Handle for secmx_event_storage {
    const TAG: u64 = 0x5345_434d_5800_0001;
    type Inner = Storage;
}

/// What an event owns. Every pointer handed out points into heap memory
/// that does not move while the storage lives (a `CString`'s buffer, a
/// `Vec`'s buffer, a `Bytes`' buffer), however the storage itself moves.
#[derive(Default)]
pub(crate) struct Storage {
    strings: Vec<CString>,
    arrays: Vec<Vec<*const c_char>>,
    bytes: Vec<secmx_core::bytes::Bytes>,
}

impl Storage {
    /// Keeps a C copy of `text` (controls escaped) and returns it.
    pub(crate) fn text(&mut self, text: &str) -> *const c_char {
        self.keep(c_string(text))
    }

    /// Keeps `text` and returns it.
    pub(crate) fn keep(&mut self, text: CString) -> *const c_char {
        let ptr = text.as_ptr();
        self.strings.push(text);
        ptr
    }

    /// Keeps an array of C copies of `texts` and returns it (NULL when
    /// empty).
    pub(crate) fn texts<'t>(
        &mut self,
        texts: impl Iterator<Item = &'t str>,
    ) -> *const *const c_char {
        let array: Vec<*const c_char> = texts.map(|t| self.text(t)).collect();
        if array.is_empty() {
            return std::ptr::null();
        }
        let ptr = array.as_ptr();
        self.arrays.push(array);
        ptr
    }

    /// Keeps `bytes` (no copy) and returns a pointer to them (NULL when
    /// empty).
    pub(crate) fn bytes(&mut self, bytes: secmx_core::bytes::Bytes) -> *const u8 {
        if bytes.is_empty() {
            return std::ptr::null();
        }
        let ptr = bytes.as_ptr();
        self.bytes.push(bytes);
        ptr
    }

    /// Moves the storage behind an owned pointer (NULL when it holds
    /// nothing).
    pub(crate) fn into_raw(self) -> *mut secmx_event_storage {
        if self.strings.is_empty() && self.arrays.is_empty() && self.bytes.is_empty() {
            std::ptr::null_mut()
        } else {
            into_raw::<secmx_event_storage>(self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Peer text reaches C printable: a terminal escape or a NUL in a
    /// server's reply cannot act on the embedder's log or cut the string.
    #[test]
    fn control_characters_are_escaped() {
        let text = c_string("ok \u{1b}[31mred\0tail\r\n");
        assert_eq!(text.to_str(), Ok("ok \\u{1b}[31mred\\u{0}tail\\r\\n"));
        assert_eq!(c_string("plain text").to_str(), Ok("plain text"));
    }

    #[test]
    fn strings_are_bounded_and_utf8() {
        let long = vec![b'a' as c_char; MAX_C_STRING + 10];
        // SAFETY: `long` has more readable bytes than the scan reads.
        assert_eq!(
            unsafe { string(long.as_ptr()) },
            Err(secmx_result::InvalidArgument)
        );
        // SAFETY: NUL-terminated literals.
        unsafe {
            assert_eq!(string(c"héllo".as_ptr()), Ok("héllo"));
            assert_eq!(string(c"\xc3".as_ptr()), Err(secmx_result::InvalidArgument));
            assert_eq!(string(std::ptr::null()), Err(secmx_result::NullParameter));
        }
    }

    #[test]
    fn outbox_hands_out_a_stream_in_pieces() {
        let mut outbox = Outbox::default();
        outbox.refill(|out| out.extend_from_slice(b"hello world"));
        let mut buf = [0u8; 4];
        let mut len = 0;
        let mut got = Vec::new();
        // SAFETY: `buf` has 4 writable bytes; `len` is writable.
        unsafe {
            while outbox.take(buf.as_mut_ptr(), buf.len(), &mut len).is_ok() {
                got.extend_from_slice(&buf[..len]);
                outbox.refill(|_| {});
            }
        }
        assert_eq!(got, b"hello world");
        assert!(outbox.is_empty());
        // A refill while bytes wait does not reorder or drop them.
        outbox.refill(|out| out.extend_from_slice(b"ab"));
        outbox.refill(|out| out.extend_from_slice(b"XX"));
        assert_eq!(outbox.pending(), b"ab");
    }
}
