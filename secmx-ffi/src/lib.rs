//! # secmx-ffi
//!
//! The C ABI of SecMX, with its committed header `include/secmx.h`: client
//! and server sessions, discovery and the policy engine for MTAs written in
//! C. Every export catches panics; no global state.
//!
//! This crate will hold the only `unsafe` code in SecMX, at the C boundary.

#![allow(unsafe_code)] // the C boundary: every unsafe block states its contract
#![deny(missing_docs)]

/// The version of the SecMX C API, as a NUL-terminated string.
#[unsafe(no_mangle)]
pub extern "C" fn secmx_version() -> *const core::ffi::c_char {
    c"0.1.0".as_ptr()
}
