//! The certificate checks of a STARTTLS attempt as rustls verifiers: `encrypt`,
//! `verify` and `dane` (RFC 7672 §3, RFC 7671 §5, RFC 6698 §2.1).
//!
//! Each check is a [`ServerCertVerifier`] that decides whether the server's
//! certificate chain is acceptable, and every one of them still checks the
//! handshake signature (TLS 1.2 `ServerKeyExchange`, TLS 1.3
//! `CertificateVerify`) with the ring provider's algorithms: a server that
//! replays someone else's certificate without holding its key fails under
//! every check, `encrypt` included.
//!
//! ```text
//! check    chain                               names            dates
//! encrypt  anything                            ignored          ignored
//! verify   to webpki-roots or configured roots reference names  checked
//! dane     DANE-EE 3 s m: leaf matches         ignored          ignored   RFC 7672 §3.1.1
//!          DANE-TA 2 s m: leaf chains to a     reference names  checked   RFC 7672 §3.1.2
//!                         matching anchor                                 RFC 7672 §3.2.2
//!          no usable record                    as encrypt (RFC 7672 §2.2)
//!
//! TLSA   usage selector matching data                         RFC 6698 §2.1
//!        usage     2 DANE-TA, 3 DANE-EE (0, 1: unusable for SMTP, RFC 7672 §3.1.3)
//!        selector  0 certificate DER, 1 SubjectPublicKeyInfo DER
//!        matching  0 exact, 1 SHA-256, 2 SHA-512
//! ```
//!
//! A DANE-TA anchor is a certificate of the presented chain (or its key) that
//! matches a record. Two records also name an anchor the server may leave
//! out of its chain (RFC 7671 §5.2.2): `2 0 0` carries the anchor's
//! certificate, and `2 1 0` its key, which anchors any presented certificate
//! whose issuer it signed.
//!
//! Reference identifiers are those of a [`Reference`]: the target host and
//! the extra names the policy allows (the MX host name when connecting to an
//! address, the next-hop domain for DANE-TA, RFC 7672 §3.2.2). The
//! `ServerName` handed to the TLS session is only sent as SNI: use
//! [`Reference::server_name`] for it. Names are matched against the subject
//! alternative names only, with a wildcard in the left-most label (webpki);
//! no fallback to the subject common name.
//!
//! Failures are classified for reports by [`CertFailure`] with the TLS-RPT
//! result types (RFC 8460 §4.3); a DANE mismatch is `certificate-not-trusted`.
//! Time comes from rustls (its `time_provider`); this module reads no clock.
//! No revocation checking (no CRLs, stapled OCSP is ignored).
//!
//! # Example
//!
//! ```
//! use secmx_dns::TlsaRecord;
//! use secmx_policy::CertCheck;
//! use secmx_policy::verify::{DanePolicy, Reference, Roots, client_config};
//!
//! let reference = Reference::parse("mx.example.net")?;
//! // PKIX-EE (usage 1) is not usable for SMTP: DANE authenticates nothing,
//! // and the `dane` check becomes TLS without authentication.
//! let records = [TlsaRecord::new(1, 1, 1, vec![0; 32])];
//! assert!(DanePolicy::from_records(&records).is_none());
//! let tls = client_config(CertCheck::Dane, &reference, Some(&records), &Roots::WebPki)?;
//! // `tls` and `reference.server_name()` go to
//! // `secmx_core::client::ClientConfig::new`.
//! # let _ = tls;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, OnceLock};

use ring::digest;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, InvalidDnsNameError, ServerName, TrustAnchor, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, DigitallySignedStruct, Error as TlsError, OtherError, RootCertStore,
    SignatureScheme,
};
use secmx_core::transport::ring_provider;
use secmx_dns::{TlsaMatching, TlsaRecord, TlsaSelector, TlsaSet, TlsaUsage};

use crate::types::CertCheck;

/// A failure to build a verifier or a client configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A reference name is neither a DNS name nor an IP address.
    #[error("invalid reference name: {0}")]
    Name(#[from] InvalidDnsNameError),
    /// The configured root store holds no trust anchor.
    #[error("no trust anchors configured")]
    NoRoots,
    /// A PEM file could not be read.
    #[error("PEM: {0}")]
    Pem(#[from] rustls::pki_types::pem::Error),
    /// rustls refused a certificate or the configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] TlsError),
    /// [`CertCheck::Dane`] without any TLSA record: DANE does not apply to
    /// this target (RFC 7672 §2.2), so the plan should not ask for it.
    #[error("DANE check requested without TLSA records")]
    DaneWithoutTlsa,
}

/// The names a server certificate must match (RFC 6125 reference
/// identifiers; RFC 7672 §3.2.2 for DANE-TA, RFC 8461 §4.1 for MTA-STS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    host: ServerName<'static>,
    extra: Vec<ServerName<'static>>,
}

impl Reference {
    /// The target host only.
    pub fn new(host: ServerName<'static>) -> Self {
        Self {
            host,
            extra: Vec::new(),
        }
    }

    /// The target host from text: a DNS name or an IP address.
    pub fn parse(host: &str) -> Result<Self, VerifyError> {
        Ok(Self::new(ServerName::try_from(host)?.to_owned()))
    }

    /// Also accept `name` (the MX host name while connecting to an address;
    /// the next-hop domain under DANE-TA).
    #[must_use]
    pub fn with_name(mut self, name: ServerName<'static>) -> Self {
        if name != self.host && !self.extra.contains(&name) {
            self.extra.push(name);
        }
        self
    }

    /// [`Reference::with_name`] from text.
    pub fn with_parsed(self, name: &str) -> Result<Self, VerifyError> {
        Ok(self.with_name(ServerName::try_from(name)?.to_owned()))
    }

    /// The target host.
    pub fn host(&self) -> &ServerName<'static> {
        &self.host
    }

    /// The name for the TLS session (SNI when it is a DNS name).
    pub fn server_name(&self) -> ServerName<'static> {
        self.host.clone()
    }

    /// Every accepted name, the target host first.
    pub fn names(&self) -> impl Iterator<Item = &ServerName<'static>> {
        std::iter::once(&self.host).chain(self.extra.iter())
    }
}

/// The roots the `verify` check chains to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Roots {
    /// The Mozilla roots of `webpki-roots`.
    WebPki,
    /// An embedder's store, e.g. a PEM CA file ([`Roots::from_pem`]).
    Configured(Arc<RootCertStore>),
}

impl Roots {
    /// An embedder's store; it must hold at least one anchor.
    pub fn configured(store: RootCertStore) -> Result<Self, VerifyError> {
        if store.is_empty() {
            return Err(VerifyError::NoRoots);
        }
        Ok(Self::Configured(Arc::new(store)))
    }

    /// An embedder's store plus the `webpki-roots` anchors.
    pub fn configured_and_webpki(mut store: RootCertStore) -> Self {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Self::Configured(Arc::new(store))
    }

    /// Every `CERTIFICATE` of a PEM text (other sections are skipped).
    pub fn from_pem(pem: &[u8]) -> Result<Self, VerifyError> {
        let mut store = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            store.add(cert?)?;
        }
        Self::configured(store)
    }

    /// The store itself.
    pub fn store(&self) -> Arc<RootCertStore> {
        match self {
            Self::WebPki => webpki_store(),
            Self::Configured(store) => store.clone(),
        }
    }
}

fn webpki_store() -> Arc<RootCertStore> {
    static STORE: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    STORE
        .get_or_init(|| {
            Arc::new(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
        })
        .clone()
}

/// The usable TLSA records of one target (RFC 7672 §3.1): DANE-TA and
/// DANE-EE with a known selector and matching type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DanePolicy {
    records: Vec<TlsaRecord>,
}

impl DanePolicy {
    /// The policy of an authenticated TLSA RRset; `None` when no record is
    /// usable, which means TLS without authentication (RFC 7672 §2.2).
    pub fn from_tlsa(set: &TlsaSet) -> Option<Self> {
        Self::from_records(&set.records)
    }

    /// As [`DanePolicy::from_tlsa`], from the records themselves.
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a TlsaRecord>) -> Option<Self> {
        let records: Vec<TlsaRecord> = records
            .into_iter()
            .filter(|r| r.usable())
            .cloned()
            .collect();
        (!records.is_empty()).then_some(Self { records })
    }

    /// The usable records, in the RRset's order.
    pub fn records(&self) -> &[TlsaRecord] {
        &self.records
    }

    fn with_usage(&self, usage: TlsaUsage) -> impl Iterator<Item = &TlsaRecord> {
        self.records.iter().filter(move |r| r.usage == usage)
    }
}

/// The DANE decision was made, but no usable TLSA record matched the
/// server's chain (RFC 7671 §5). Carried in
/// `rustls::Error::InvalidCertificate(CertificateError::Other(..))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no usable TLSA record matches the server's certificate chain")]
pub struct TlsaMismatch;

fn tlsa_mismatch() -> TlsError {
    TlsError::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(TlsaMismatch))))
}

/// Why a server's certificate (or the TLS handshake) was not accepted, with
/// its TLS-RPT result type (RFC 8460 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertFailure {
    /// No reference name matches the certificate.
    HostMismatch,
    /// The certificate is outside its validity period (expired, or not yet
    /// valid: TLS's `certificate_expired` alert covers both).
    Expired,
    /// The chain leads to no trusted anchor.
    NotTrusted,
    /// DANE: no usable TLSA record matches the chain. Reported as
    /// `certificate-not-trusted`: the records are valid, the chain is not
    /// trusted by them.
    TlsaMismatch,
    /// DANE: the TLSA RRset is broken (the planner's finding, e.g. DANE is
    /// required but every record is malformed).
    TlsaInvalid,
    /// DANE is required but the target has no authenticated TLSA records.
    DaneRequired,
    /// A signature does not verify: over the handshake (the server lacks
    /// the certificate's key) or inside the chain.
    BadSignature,
    /// Any other certificate defect (encoding, purpose, critical extension,
    /// unsupported algorithm, revocation).
    Invalid,
    /// The handshake failed for a reason other than the certificate.
    Handshake,
}

impl CertFailure {
    /// The RFC 8460 §4.3 result type.
    pub fn result_type(&self) -> &'static str {
        match self {
            Self::HostMismatch => "certificate-host-mismatch",
            Self::Expired => "certificate-expired",
            Self::NotTrusted | Self::TlsaMismatch => "certificate-not-trusted",
            Self::TlsaInvalid => "tlsa-invalid",
            Self::DaneRequired => "dane-required",
            Self::BadSignature | Self::Invalid | Self::Handshake => "validation-failure",
        }
    }

    /// A short human text for a DSN's diagnostic.
    pub fn text(&self) -> &'static str {
        match self {
            Self::HostMismatch => "server certificate does not match the host name",
            Self::Expired => "server certificate is expired or not yet valid",
            Self::NotTrusted => "server certificate is not issued by a trusted authority",
            Self::TlsaMismatch => "server certificate does not match the DANE TLSA records",
            Self::TlsaInvalid => "the DANE TLSA records are invalid",
            Self::DaneRequired => "DANE required but no authenticated TLSA records",
            Self::BadSignature => "server signature does not verify with its certificate",
            Self::Invalid => "server certificate is invalid",
            Self::Handshake => "TLS handshake failed",
        }
    }

    /// True for the failures about the certificate (all but
    /// [`CertFailure::Handshake`]).
    pub fn is_certificate(&self) -> bool {
        !matches!(self, Self::Handshake)
    }
}

impl fmt::Display for CertFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl From<&TlsError> for CertFailure {
    fn from(e: &TlsError) -> Self {
        let TlsError::InvalidCertificate(ce) = e else {
            return Self::Handshake;
        };
        #[allow(deprecated)] // UnsupportedSignatureAlgorithm is still produced
        match ce {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Self::HostMismatch
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => Self::Expired,
            CertificateError::UnknownIssuer => Self::NotTrusted,
            CertificateError::BadSignature => Self::BadSignature,
            CertificateError::Other(OtherError(inner))
                if inner.downcast_ref::<TlsaMismatch>().is_some() =>
            {
                Self::TlsaMismatch
            }
            _ => Self::Invalid,
        }
    }
}

impl From<TlsError> for CertFailure {
    fn from(e: TlsError) -> Self {
        Self::from(&e)
    }
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    ring_provider().signature_verification_algorithms
}

/// What every verifier here shares: the handshake signature check.
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, TlsError> {
            verify_tls12_signature(message, cert, dss, &self.algs)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, TlsError> {
            verify_tls13_signature(message, cert, dss, &self.algs)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.algs.supported_schemes()
        }
    };
}

/// `encrypt`: any certificate chain; the handshake signature must still
/// verify with the leaf's key.
#[derive(Debug, Clone)]
pub struct EncryptVerifier {
    algs: WebPkiSupportedAlgorithms,
}

impl EncryptVerifier {
    /// With the ring provider's algorithms.
    pub fn new() -> Self {
        Self { algs: algorithms() }
    }
}

impl Default for EncryptVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerCertVerifier for EncryptVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

/// `verify`: a chain to the roots, valid now, and a reference name.
#[derive(Debug, Clone)]
pub struct PkixVerifier {
    roots: Arc<RootCertStore>,
    reference: Reference,
    algs: WebPkiSupportedAlgorithms,
}

impl PkixVerifier {
    /// Chains to `roots`, names from `reference`.
    pub fn new(reference: Reference, roots: &Roots) -> Result<Self, VerifyError> {
        let roots = roots.store();
        if roots.is_empty() {
            return Err(VerifyError::NoRoots);
        }
        Ok(Self {
            roots,
            reference,
            algs: algorithms(),
        })
    }
}

impl ServerCertVerifier for PkixVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let leaf = ParsedCertificate::try_from(end_entity)?;
        chain_and_names(
            &leaf,
            &self.roots,
            intermediates,
            now,
            &self.reference,
            &self.algs,
        )
    }

    handshake_signatures!();
}

/// The chain from `leaf` to an anchor of `roots`, then a reference name.
fn chain_and_names(
    leaf: &ParsedCertificate<'_>,
    roots: &RootCertStore,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    reference: &Reference,
    algs: &WebPkiSupportedAlgorithms,
) -> Result<ServerCertVerified, TlsError> {
    verify_server_cert_signed_by_trust_anchor(leaf, roots, intermediates, now, algs.all)?;
    let mut first = None;
    for name in reference.names() {
        match verify_server_name(leaf, name) {
            Ok(()) => return Ok(ServerCertVerified::assertion()),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    Err(first.unwrap_or(TlsError::InvalidCertificate(
        CertificateError::NotValidForName,
    )))
}

/// `dane`: the usable TLSA records of the target decide (RFC 7672 §3).
#[derive(Debug, Clone)]
pub struct DaneVerifier {
    policy: DanePolicy,
    reference: Reference,
    algs: WebPkiSupportedAlgorithms,
}

impl DaneVerifier {
    /// DANE-EE and DANE-TA records of `policy`; DANE-TA checks names from
    /// `reference`.
    pub fn new(policy: DanePolicy, reference: Reference) -> Self {
        Self {
            policy,
            reference,
            algs: algorithms(),
        }
    }

    /// The records in force.
    pub fn policy(&self) -> &DanePolicy {
        &self.policy
    }

    /// DANE-TA (RFC 7672 §3.1.2): the trust anchors the records name.
    fn anchors(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> RootCertStore {
        let mut store = RootCertStore::empty();
        let mut issuers: Option<BTreeSet<Vec<u8>>> = None;
        for record in self.policy.with_usage(TlsaUsage::DaneTa) {
            let carries_cert =
                (record.selector, record.matching) == (TlsaSelector::Cert, TlsaMatching::Full);
            let presented = std::iter::once(end_entity).chain(intermediates);
            for cert in presented.filter(|_| !carries_cert) {
                if matches_cert(record, cert)
                    && let Ok(anchor) = webpki::anchor_from_trusted_cert(cert)
                {
                    store.roots.push(anchor.to_owned());
                }
            }
            match (record.selector, record.matching) {
                (TlsaSelector::Cert, TlsaMatching::Full) => {
                    let cert = CertificateDer::from(record.data.as_slice());
                    if let Ok(anchor) = webpki::anchor_from_trusted_cert(&cert) {
                        store.roots.push(anchor.to_owned());
                    }
                }
                (TlsaSelector::Spki, TlsaMatching::Full) => {
                    let Some(spki) = der_sequence_content(&record.data) else {
                        continue;
                    };
                    let issuers =
                        issuers.get_or_insert_with(|| issuer_names(end_entity, intermediates));
                    for issuer in issuers.iter() {
                        store.roots.push(TrustAnchor {
                            subject: issuer.clone().into(),
                            subject_public_key_info: spki.to_vec().into(),
                            name_constraints: None,
                        });
                    }
                }
                _ => {}
            }
        }
        store
    }
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        // DANE-EE: the leaf itself; names and dates are not checked
        // (RFC 7672 §3.1.1).
        if self
            .policy
            .with_usage(TlsaUsage::DaneEe)
            .any(|r| matches_cert(r, end_entity))
        {
            return Ok(ServerCertVerified::assertion());
        }
        if self.policy.with_usage(TlsaUsage::DaneTa).next().is_none() {
            return Err(tlsa_mismatch());
        }
        let Ok(leaf) = ParsedCertificate::try_from(end_entity) else {
            return Err(tlsa_mismatch());
        };
        let anchors = self.anchors(end_entity, intermediates);
        if anchors.is_empty() {
            return Err(tlsa_mismatch());
        }
        match chain_and_names(
            &leaf,
            &anchors,
            intermediates,
            now,
            &self.reference,
            &self.algs,
        ) {
            Ok(v) => Ok(v),
            // No path from the leaf to a matching anchor: the chain is not
            // the one the records describe.
            Err(TlsError::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature,
            )) => Err(tlsa_mismatch()),
            Err(e) => Err(e),
        }
    }

    handshake_signatures!();
}

/// The distinct issuer names (DER content) of the presented chain.
fn issuer_names(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> BTreeSet<Vec<u8>> {
    std::iter::once(end_entity)
        .chain(intermediates)
        .filter_map(|cert| webpki::EndEntityCert::try_from(cert).ok())
        .map(|cert| cert.issuer().to_vec())
        .collect()
}

/// Whether `cert` (DER) matches `record` (RFC 6698 §2.1.2, §2.1.3).
fn matches_cert(record: &TlsaRecord, cert: &CertificateDer<'_>) -> bool {
    match record.selector {
        TlsaSelector::Cert => matches_data(record, cert.as_ref()),
        TlsaSelector::Spki => match webpki::EndEntityCert::try_from(cert) {
            Ok(ee) => matches_data(record, ee.subject_public_key_info().as_ref()),
            Err(_) => false,
        },
        // Unknown selectors are not usable (RFC 7672 §3.1).
        _ => false,
    }
}

fn matches_data(record: &TlsaRecord, selected: &[u8]) -> bool {
    match record.matching {
        TlsaMatching::Full => record.data == selected,
        TlsaMatching::Sha256 => {
            digest::digest(&digest::SHA256, selected).as_ref() == record.data.as_slice()
        }
        TlsaMatching::Sha512 => {
            digest::digest(&digest::SHA512, selected).as_ref() == record.data.as_slice()
        }
        // Unknown matching types are not usable (RFC 7672 §3.1).
        _ => false,
    }
}

/// The content of a DER `SEQUENCE` that spans all of `der` (X.690 §8.1.3:
/// short or long definite length), or `None`.
fn der_sequence_content(der: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(n);
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    (rest.len() == len).then_some(rest)
}

/// The verifier for `check`. `tlsa` is read only for [`CertCheck::Dane`]:
/// without usable records DANE gives no authentication and the verifier is
/// [`EncryptVerifier`] (RFC 7672 §2.2); without any record it is
/// [`VerifyError::DaneWithoutTlsa`].
pub fn verifier(
    check: CertCheck,
    reference: &Reference,
    tlsa: Option<&[TlsaRecord]>,
    roots: &Roots,
) -> Result<Arc<dyn ServerCertVerifier>, VerifyError> {
    Ok(match check {
        CertCheck::Encrypt => Arc::new(EncryptVerifier::new()),
        CertCheck::Verify => Arc::new(PkixVerifier::new(reference.clone(), roots)?),
        CertCheck::Dane => {
            let records = tlsa.ok_or(VerifyError::DaneWithoutTlsa)?;
            match DanePolicy::from_records(records) {
                Some(policy) => Arc::new(DaneVerifier::new(policy, reference.clone())),
                None => Arc::new(EncryptVerifier::new()),
            }
        }
    })
}

/// A ring-only rustls client configuration (TLS 1.3 and 1.2, the default
/// resumption) for `check`; see [`verifier`].
pub fn client_config(
    check: CertCheck,
    reference: &Reference,
    tlsa: Option<&[TlsaRecord]>,
    roots: &Roots,
) -> Result<Arc<rustls::ClientConfig>, VerifyError> {
    client_config_with(verifier(check, reference, tlsa, roots)?)
}

/// A ring-only rustls client configuration around any verifier.
pub fn client_config_with(
    verifier: Arc<dyn ServerCertVerifier>,
) -> Result<Arc<rustls::ClientConfig>, VerifyError> {
    let config = rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x690_8_1_3_sequence_content() {
        let long = {
            let mut v = vec![0x30, 0x81, 0x80];
            v.extend([7u8; 0x80]);
            v
        };
        let cases: [(&[u8], Option<&[u8]>); 9] = [
            (&[0x30, 0x00], Some(&[])),
            (&[0x30, 0x02, 1, 2], Some(&[1, 2])),
            (&[0x30, 0x82, 0x00, 0x01, 9], Some(&[9])),
            (&[0x31, 0x01, 1], None),             // a SET, not a SEQUENCE
            (&[0x30, 0x02, 1], None),             // short
            (&[0x30, 0x01, 1, 2], None),          // trailing data
            (&[0x30, 0x80, 1, 0, 0], None),       // indefinite length: not DER
            (&[0x30, 0x85, 0, 0, 0, 0, 1], None), // length of length > 4
            (&[], None),
        ];
        for (der, want) in cases {
            assert_eq!(der_sequence_content(der), want, "{der:02x?}");
        }
        assert_eq!(der_sequence_content(&long).map(<[u8]>::len), Some(0x80));
    }

    #[test]
    fn rfc6698_2_1_3_matching_types() {
        let data = b"selected content";
        let sha256 = digest::digest(&digest::SHA256, data).as_ref().to_vec();
        let sha512 = digest::digest(&digest::SHA512, data).as_ref().to_vec();
        let cases = [
            (TlsaRecord::new(3, 0, 0, data.to_vec()), true),
            (TlsaRecord::new(3, 0, 1, sha256.clone()), true),
            (TlsaRecord::new(3, 0, 2, sha512.clone()), true),
            (TlsaRecord::new(3, 0, 2, sha256.clone()), false),
            (TlsaRecord::new(3, 0, 1, sha512), false),
            (TlsaRecord::new(3, 0, 3, sha256), false), // unknown matching type
        ];
        for (record, want) in cases {
            assert_eq!(matches_data(&record, data), want, "{record:?}");
        }
    }

    #[test]
    fn rfc6125_reference_names_are_deduplicated() {
        let r = Reference::parse("mx.example.test")
            .and_then(|r| r.with_parsed("MX.example.test"))
            .and_then(|r| r.with_parsed("example.test"))
            .and_then(|r| r.with_parsed("example.test"))
            .expect("names");
        // DNS names compare without regard to ASCII case.
        let names: Vec<String> = r.names().map(|n| n.to_str().into_owned()).collect();
        assert_eq!(names, ["mx.example.test", "example.test"]);
        assert_eq!(r.host().to_str(), "mx.example.test");
        assert!(Reference::parse("not a name!").is_err());
    }
}
