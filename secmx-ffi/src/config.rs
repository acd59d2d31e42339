//! TLS configurations for STARTTLS (RFC 3207), on rustls with the ring
//! provider ([`secmx_core::transport::ring_provider`]).
//!
//! - [`secmx_tls_client_config`]: what a client trusts — the Mozilla roots
//!   of `webpki-roots`, or CA certificates from PEM (bytes or a file).
//!   The server's name is checked against its certificate.
//! - [`secmx_tls_server_config`]: a server's certificate chain and private
//!   key from PEM (bytes or files).
//!
//! Ownership: each `_new` function stores an owned pointer in `*out`, to
//! be released with the matching `_free` and nothing else. Sessions take a
//! `const` (borrowed) config and keep their own reference to it, so a
//! config may be freed as soon as the sessions that need it are created.
//! A config is immutable and may be shared by sessions on several
//! threads.
//!
//! The certificate checks of the policy engine (DANE, MTA-STS, "encrypt
//! only") will add more client configuration constructors here, in the
//! same shape.

use std::ffi::c_char;
use std::sync::Arc;

use secmx_core::rustls;
use secmx_core::rustls::pki_types::pem::PemObject;
use secmx_core::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use secmx_core::transport::ring_provider;

use crate::error::secmx_result;
use crate::ffi::{self, Handle};

/// What a client session trusts for STARTTLS. Opaque; owned by the caller
/// from a `secmx_tls_client_config_new_*` call until
/// [`secmx_tls_client_config_free`].
pub struct secmx_tls_client_config {
    _private: [u8; 0],
}

impl Handle for secmx_tls_client_config {
    const TAG: u64 = 0x5345_434d_5801_0001;
    type Inner = Arc<rustls::ClientConfig>;
}

/// A server's certificate and key for STARTTLS. Opaque; owned by the
/// caller from a `secmx_tls_server_config_new_*` call until
/// [`secmx_tls_server_config_free`].
pub struct secmx_tls_server_config {
    _private: [u8; 0],
}

impl Handle for secmx_tls_server_config {
    const TAG: u64 = 0x5345_434d_5801_0002;
    type Inner = Arc<rustls::ServerConfig>;
}

/// A client configuration trusting `roots`.
pub(crate) fn client_config(
    roots: rustls::RootCertStore,
) -> Result<Arc<rustls::ClientConfig>, secmx_result> {
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()
            .map_err(|_| secmx_result::ConfigError)?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// The certificates of a PEM text, at least one.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, secmx_result> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| secmx_result::ConfigError)?;
    if certs.is_empty() {
        return Err(secmx_result::ConfigError);
    }
    Ok(certs)
}

fn client_from_ca_pem(pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, secmx_result> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(pem)? {
        roots.add(cert).map_err(|_| secmx_result::ConfigError)?;
    }
    client_config(roots)
}

fn server_from_pem(cert: &[u8], key: &[u8]) -> Result<Arc<rustls::ServerConfig>, secmx_result> {
    let chain = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| secmx_result::ConfigError)?;
    let config = rustls::ServerConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|_| secmx_result::ConfigError)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|_| secmx_result::ConfigError)?;
    Ok(Arc::new(config))
}

fn read_file(path: &str) -> Result<Vec<u8>, secmx_result> {
    std::fs::read(path).map_err(|_| secmx_result::IoError)
}

/// Stores `value` as a new handle in `*out`.
///
/// # Safety
///
/// `out` was checked with [`ffi::check_out`] and is writable.
unsafe fn hand_out<H: Handle>(out: *mut *mut H, value: H::Inner) -> Result<(), secmx_result> {
    // SAFETY: the caller's contract.
    unsafe { ffi::write(out, ffi::into_raw::<H>(value)) }
}

/// A client configuration that trusts the Mozilla root certificates
/// shipped in `webpki-roots` (the WebPKI: what MTA-STS and SecMX's
/// "verify" level expect).
///
/// On success `*out` holds an owned pointer; free it with
/// [`secmx_tls_client_config_free`]. On failure `*out` is NULL.
///
/// # Safety
///
/// `out` points to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_tls_client_config_new_webpki(
    out: *mut *mut secmx_tls_client_config,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, std::ptr::null_mut())? };
        let roots = webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect();
        let config = client_config(roots)?;
        // SAFETY: checked writable above.
        unsafe { hand_out(out, config) }
    })
}

/// A client configuration that trusts the CA certificates in `pem`
/// (`len` bytes of one or more `-----BEGIN CERTIFICATE-----` blocks). The
/// bytes are read during the call only.
///
/// `SECMX_RESULT_CONFIG_ERROR` when the PEM holds no certificate or one
/// that does not parse. On success `*out` holds an owned pointer; free it
/// with [`secmx_tls_client_config_free`]. On failure `*out` is NULL.
///
/// # Safety
///
/// `pem` points to `len` readable bytes; `out` to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_tls_client_config_new_ca_pem(
    pem: *const u8,
    len: usize,
    out: *mut *mut secmx_tls_client_config,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, std::ptr::null_mut())? };
        // SAFETY: the caller's contract for `pem` and `len`.
        let pem = unsafe { ffi::bytes(pem, len)? };
        let config = client_from_ca_pem(pem)?;
        // SAFETY: checked writable above.
        unsafe { hand_out(out, config) }
    })
}

/// As [`secmx_tls_client_config_new_ca_pem`], reading the PEM from the
/// file at `path` (a NUL-terminated UTF-8 path).
/// `SECMX_RESULT_IO_ERROR` when the file cannot be read.
///
/// # Safety
///
/// `path` is a NUL-terminated string; `out` points to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_tls_client_config_new_ca_file(
    path: *const c_char,
    out: *mut *mut secmx_tls_client_config,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, std::ptr::null_mut())? };
        // SAFETY: the caller's contract for `path`.
        let path = unsafe { ffi::string(path)? };
        let config = client_from_ca_pem(&read_file(path)?)?;
        // SAFETY: checked writable above.
        unsafe { hand_out(out, config) }
    })
}

/// Releases a client configuration from a `secmx_tls_client_config_new_*`
/// call. Sessions created from it keep working. NULL is a no-op.
///
/// # Safety
///
/// `config` is NULL or an owned pointer not yet freed; it is not used
/// again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_tls_client_config_free(config: *mut secmx_tls_client_config) {
    // SAFETY: the caller's contract.
    ffi::boundary(|| unsafe { ffi::free(config) })
}

/// A server configuration from a certificate chain (`cert_pem`, the
/// end-entity certificate first, then its intermediates) and its private
/// key (`key_pem`: PKCS#8, PKCS#1 or SEC1), both PEM. The bytes are read
/// during the call only.
///
/// `SECMX_RESULT_CONFIG_ERROR` when either does not parse or the key does
/// not fit the certificate. On success `*out` holds an owned pointer; free
/// it with [`secmx_tls_server_config_free`]. On failure `*out` is NULL.
///
/// # Safety
///
/// `cert_pem` and `key_pem` point to `cert_len` and `key_len` readable
/// bytes; `out` to a writable pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_tls_server_config_new_pem(
    cert_pem: *const u8,
    cert_len: usize,
    key_pem: *const u8,
    key_len: usize,
    out: *mut *mut secmx_tls_server_config,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, std::ptr::null_mut())? };
        // SAFETY: the caller's contract for the two buffers.
        let (cert, key) = unsafe {
            (
                ffi::bytes(cert_pem, cert_len)?,
                ffi::bytes(key_pem, key_len)?,
            )
        };
        let config = server_from_pem(cert, key)?;
        // SAFETY: checked writable above.
        unsafe { hand_out(out, config) }
    })
}

/// As [`secmx_tls_server_config_new_pem`], reading the PEM from the files
/// at `cert_path` and `key_path`. `SECMX_RESULT_IO_ERROR` when a file
/// cannot be read.
///
/// # Safety
///
/// The paths are NUL-terminated strings; `out` points to a writable
/// pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_tls_server_config_new_pem_files(
    cert_path: *const c_char,
    key_path: *const c_char,
    out: *mut *mut secmx_tls_server_config,
) -> secmx_result {
    ffi::result_boundary(|| {
        ffi::check_out(out)?;
        // SAFETY: checked writable above.
        unsafe { ffi::write(out, std::ptr::null_mut())? };
        // SAFETY: the caller's contract for the paths.
        let (cert_path, key_path) = unsafe { (ffi::string(cert_path)?, ffi::string(key_path)?) };
        let config = server_from_pem(&read_file(cert_path)?, &read_file(key_path)?)?;
        // SAFETY: checked writable above.
        unsafe { hand_out(out, config) }
    })
}

/// Releases a server configuration from a `secmx_tls_server_config_new_*`
/// call. Sessions created from it keep working. NULL is a no-op.
///
/// # Safety
///
/// `config` is NULL or an owned pointer not yet freed; it is not used
/// again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn secmx_tls_server_config_free(config: *mut secmx_tls_server_config) {
    // SAFETY: the caller's contract.
    ffi::boundary(|| unsafe { ffi::free(config) })
}
