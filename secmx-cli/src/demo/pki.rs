//! A certificate authority made in memory for one run (rcgen), and server
//! certificates it signs: what the demo's receivers present and its
//! senders trust for the `verify` check.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use secmx_core::rustls;
use secmx_core::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use secmx_core::transport::ring_provider;
use secmx_policy::verify::Roots;

/// Why a certificate or a TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// rcgen failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the result.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// The CA could not be made a root store.
    #[error("root store: {0}")]
    Roots(#[from] secmx_policy::verify::VerifyError),
}

/// The demo's CA.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

impl Pki {
    /// A new CA, `SecMX demo CA`, with a fresh P-256 key.
    pub fn new() -> Result<Self, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "SecMX demo CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(Self { ca })
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// The CA as the roots of the `verify` check.
    pub fn roots(&self) -> Result<Roots, PkiError> {
        Ok(Roots::from_pem(self.ca_pem().as_bytes())?)
    }

    fn issue(&self, names: &[&str]) -> Result<(rcgen::Certificate, KeyPair), PkiError> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone())?;
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.ca)?;
        Ok((cert, key))
    }

    /// A server certificate for `names` (DNS names or IP addresses) signed
    /// by the CA, and its key (PKCS#8 DER).
    pub fn server_certificate(
        &self,
        names: &[&str],
    ) -> Result<(CertificateDer<'static>, PrivatePkcs8KeyDer<'static>), PkiError> {
        let (cert, key) = self.issue(names)?;
        Ok((
            cert.der().clone(),
            PrivatePkcs8KeyDer::from(key.serialize_der()),
        ))
    }

    /// The same as PEM: the chain (the certificate, then the CA) and the
    /// key, for servers configured from files.
    pub fn server_pem(&self, names: &[&str]) -> Result<(String, String), PkiError> {
        let (cert, key) = self.issue(names)?;
        Ok((cert.pem() + &self.ca.pem(), key.serialize_pem()))
    }

    /// A rustls server configuration (ring provider) presenting a
    /// certificate for `names` and the CA.
    pub fn server_config(&self, names: &[&str]) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        let (cert, key) = self.server_certificate(names)?;
        let chain = vec![cert, self.ca.der().clone()];
        let config = rustls::ServerConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, PrivateKeyDer::Pkcs8(key))?;
        Ok(Arc::new(config))
    }
}
