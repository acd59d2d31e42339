//! The certificate checks driven through real in-memory TLS handshakes
//! (RFC 7672 §3, RFC 7671 §5, RFC 6698 §2.1, RFC 8460 §4.3), with
//! certificates made here by rcgen.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, date_time_ymd,
};
use ring::digest;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, Error as TlsError, OtherError, RootCertStore,
    ServerConfig, ServerConnection, SupportedProtocolVersion,
};
use secmx_core::transport::ring_provider;
use secmx_dns::TlsaRecord;
use secmx_policy::CertCheck;
use secmx_policy::verify::{
    CertFailure, DanePolicy, DaneVerifier, EncryptVerifier, PkixVerifier, Reference, Roots,
    TlsaMismatch, VerifyError, client_config, client_config_with,
};

const HOST: &str = "mx.example.test";
const VERSIONS: [&SupportedProtocolVersion; 2] = [&rustls::version::TLS13, &rustls::version::TLS12];

// ---------------------------------------------------------------- the PKI

type Ca = CertifiedIssuer<'static, KeyPair>;

fn dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("no names");
    p.distinguished_name = dn(cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn root(cn: &str) -> Ca {
    CertifiedIssuer::self_signed(ca_params(cn), KeyPair::generate().expect("key")).expect("root")
}

fn intermediate(cn: &str, issuer: &Ca) -> Ca {
    CertifiedIssuer::signed_by(ca_params(cn), KeyPair::generate().expect("key"), issuer)
        .expect("intermediate")
}

/// A server certificate and its key.
struct Leaf {
    cert: CertificateDer<'static>,
    key: KeyPair,
}

#[derive(Clone, Copy)]
enum Validity {
    Now,
    Expired,
}

fn leaf_params(name: &str, validity: Validity) -> CertificateParams {
    let mut p = CertificateParams::new(vec![name.to_owned()]).expect("name");
    p.distinguished_name = dn(name);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    if let Validity::Expired = validity {
        p.not_before = date_time_ymd(2000, 1, 1);
        p.not_after = date_time_ymd(2001, 1, 1);
    }
    p
}

fn leaf(name: &str, validity: Validity, issuer: &Issuer<'_, KeyPair>) -> Leaf {
    let key = KeyPair::generate().expect("key");
    let cert = leaf_params(name, validity)
        .signed_by(&key, issuer)
        .expect("leaf")
        .der()
        .clone();
    Leaf { cert, key }
}

fn self_signed(name: &str, validity: Validity) -> Leaf {
    let key = KeyPair::generate().expect("key");
    let cert = leaf_params(name, validity)
        .self_signed(&key)
        .expect("self-signed")
        .der()
        .clone();
    Leaf { cert, key }
}

/// A CA, an intermediate under it, and leaves under the intermediate.
struct Pki {
    ca: Ca,
    inter: Ca,
    good: Leaf,
    wrong_name: Leaf,
    expired: Leaf,
}

impl Pki {
    fn new() -> Self {
        let ca = root("SecMX Test CA");
        let inter = intermediate("SecMX Test Intermediate", &ca);
        let good = leaf(HOST, Validity::Now, &inter);
        let wrong_name = leaf("other.example.test", Validity::Now, &inter);
        let expired = leaf(HOST, Validity::Expired, &inter);
        Self {
            ca,
            inter,
            good,
            wrong_name,
            expired,
        }
    }

    /// The chain a server sends: leaf and intermediate.
    fn chain(&self, leaf: &Leaf) -> Vec<CertificateDer<'static>> {
        vec![leaf.cert.clone(), self.inter.der().clone()]
    }

    /// The chain with the root included as well.
    fn chain_with_root(&self, leaf: &Leaf) -> Vec<CertificateDer<'static>> {
        vec![
            leaf.cert.clone(),
            self.inter.der().clone(),
            self.ca.der().clone(),
        ]
    }

    fn roots(&self) -> Roots {
        let mut store = RootCertStore::empty();
        store.add(self.ca.der().clone()).expect("CA");
        Roots::configured(store).expect("roots")
    }
}

// ---------------------------------------------------------------- handshakes

fn key_der(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

fn server(
    chain: Vec<CertificateDer<'static>>,
    key: &KeyPair,
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<ServerConfig> {
    let config = ServerConfig::builder_with_provider(ring_provider())
        .with_protocol_versions(versions)
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key_der(key))
        .expect("server certificate");
    Arc::new(config)
}

/// Hands out a certificate with a key that is not the certificate's.
#[derive(Debug)]
struct Replay(Arc<CertifiedKey>);

impl ResolvesServerCert for Replay {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// A server that presents `chain` but signs with `key`, which is not the
/// leaf's key (rustls' `with_single_cert` refuses that pairing).
fn replaying_server(
    chain: Vec<CertificateDer<'static>>,
    key: &KeyPair,
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<ServerConfig> {
    let provider = ring_provider();
    let signer = provider
        .key_provider
        .load_private_key(key_der(key))
        .expect("signing key");
    let certified = CertifiedKey::new(chain, signer);
    assert!(certified.keys_match().is_err(), "the keys must differ");
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Replay(Arc::new(certified))));
    Arc::new(config)
}

/// Runs a handshake in memory and returns the client's verdict.
fn handshake(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    name: ServerName<'static>,
) -> Result<(), TlsError> {
    let mut c = ClientConnection::new(client, name).expect("client");
    let mut s = ServerConnection::new(server).expect("server");
    let mut buf = Vec::new();
    for _ in 0..16 {
        buf.clear();
        while c.wants_write() {
            c.write_tls(&mut buf).expect("client output");
        }
        let mut input = buf.as_slice();
        while !input.is_empty() {
            s.read_tls(&mut input).expect("server input");
            // A server-side failure reaches the client as an alert.
            let _ = s.process_new_packets();
        }
        buf.clear();
        while s.wants_write() {
            s.write_tls(&mut buf).expect("server output");
        }
        let mut input = buf.as_slice();
        while !input.is_empty() {
            c.read_tls(&mut input).expect("client input");
            c.process_new_packets()?;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok(());
        }
    }
    panic!("handshake did not finish");
}

fn reference() -> Reference {
    Reference::parse(HOST).expect("host")
}

fn config(check: CertCheck, tlsa: Option<&[TlsaRecord]>, roots: &Roots) -> Arc<ClientConfig> {
    client_config(check, &reference(), tlsa, roots).expect("client config")
}

fn dane(records: &[TlsaRecord]) -> Arc<ClientConfig> {
    config(CertCheck::Dane, Some(records), &Roots::WebPki)
}

/// Both protocol versions, each alone, so that TLS 1.2's
/// `ServerKeyExchange` signature is exercised as well as TLS 1.3's
/// `CertificateVerify`.
fn connect(
    client: &Arc<ClientConfig>,
    chain: Vec<CertificateDer<'static>>,
    key: &KeyPair,
) -> Result<(), CertFailure> {
    let mut verdicts = VERSIONS.iter().map(|v| {
        handshake(
            client.clone(),
            server(chain.clone(), key, &[*v]),
            reference().server_name(),
        )
        .map_err(CertFailure::from)
    });
    let tls13 = verdicts.next().expect("TLS 1.3");
    let tls12 = verdicts.next().expect("TLS 1.2");
    assert_eq!(tls13, tls12, "TLS 1.3 and 1.2 disagree");
    tls13
}

fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

fn sha512(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA512, data).as_ref().to_vec()
}

fn spki(cert: &CertificateDer<'_>) -> Vec<u8> {
    webpki::EndEntityCert::try_from(cert)
        .expect("certificate")
        .subject_public_key_info()
        .as_ref()
        .to_vec()
}

// ---------------------------------------------------------------- encrypt

#[test]
fn encrypt_accepts_any_certificate() {
    // The SecMX proposal: "TLS negotiation is between parties".
    let pki = Pki::new();
    let client = config(CertCheck::Encrypt, None, &Roots::WebPki);
    let own = self_signed(HOST, Validity::Now);
    let odd = self_signed("elsewhere.example.test", Validity::Expired);
    let cases: [(&str, Vec<CertificateDer<'static>>, &KeyPair); 5] = [
        ("good chain", pki.chain(&pki.good), &pki.good.key),
        (
            "wrong name",
            pki.chain(&pki.wrong_name),
            &pki.wrong_name.key,
        ),
        ("expired", pki.chain(&pki.expired), &pki.expired.key),
        ("self-signed", vec![own.cert.clone()], &own.key),
        (
            "self-signed expired wrong name",
            vec![odd.cert.clone()],
            &odd.key,
        ),
    ];
    for (what, chain, key) in cases {
        assert_eq!(connect(&client, chain, key), Ok(()), "{what}");
    }
}

#[test]
fn encrypt_verifier_takes_garbage_without_panicking() {
    let v = EncryptVerifier::new();
    let garbage = CertificateDer::from(vec![0x30, 0x82, 0xff]);
    let now = UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000));
    let name = reference().server_name();
    assert!(v.verify_server_cert(&garbage, &[], &name, &[], now).is_ok());
    assert!(!v.supported_verify_schemes().is_empty());
}

// ---------------------------------------------------------------- verify

#[test]
fn verify_accepts_the_good_chain_with_configured_roots() {
    let pki = Pki::new();
    let client = config(CertCheck::Verify, None, &pki.roots());
    assert_eq!(
        connect(&client, pki.chain(&pki.good), &pki.good.key),
        Ok(())
    );
    // With the root in the chain as well.
    assert_eq!(
        connect(&client, pki.chain_with_root(&pki.good), &pki.good.key),
        Ok(())
    );
}

#[test]
fn verify_roots_from_a_pem_ca_file() {
    let pki = Pki::new();
    let pem = format!("junk before\n{}", pki.ca.pem());
    let roots = Roots::from_pem(pem.as_bytes()).expect("PEM");
    let client = config(CertCheck::Verify, None, &roots);
    assert_eq!(
        connect(&client, pki.chain(&pki.good), &pki.good.key),
        Ok(())
    );
    assert!(matches!(
        Roots::from_pem(b"no certificate here"),
        Err(VerifyError::NoRoots)
    ));
    assert!(matches!(
        Roots::configured(RootCertStore::empty()),
        Err(VerifyError::NoRoots)
    ));
}

#[test]
fn verify_rejects_with_the_rfc8460_result_type() {
    let pki = Pki::new();
    let stranger = root("Unknown CA");
    let unknown = leaf(HOST, Validity::Now, &stranger);
    let client = config(CertCheck::Verify, None, &pki.roots());
    let cases = [
        (
            "unknown issuer",
            vec![unknown.cert.clone()],
            &unknown.key,
            CertFailure::NotTrusted,
            "certificate-not-trusted",
        ),
        (
            "wrong name",
            pki.chain(&pki.wrong_name),
            &pki.wrong_name.key,
            CertFailure::HostMismatch,
            "certificate-host-mismatch",
        ),
        (
            "expired",
            pki.chain(&pki.expired),
            &pki.expired.key,
            CertFailure::Expired,
            "certificate-expired",
        ),
        (
            "leaf without its intermediate",
            vec![pki.good.cert.clone()],
            &pki.good.key,
            CertFailure::NotTrusted,
            "certificate-not-trusted",
        ),
    ];
    for (what, chain, key, failure, result) in cases {
        let got = connect(&client, chain, key);
        assert_eq!(got, Err(failure), "{what}");
        assert_eq!(failure.result_type(), result, "{what}");
    }
}

#[test]
fn verify_against_webpki_roots_rejects_a_private_ca() {
    let pki = Pki::new();
    let client = config(CertCheck::Verify, None, &Roots::WebPki);
    assert_eq!(
        connect(&client, pki.chain(&pki.good), &pki.good.key),
        Err(CertFailure::NotTrusted)
    );
    // The private CA alongside the public roots.
    let mut store = RootCertStore::empty();
    store.add(pki.ca.der().clone()).expect("CA");
    let both = Roots::configured_and_webpki(store);
    assert!(both.store().len() > 1);
    let client = config(CertCheck::Verify, None, &both);
    assert_eq!(
        connect(&client, pki.chain(&pki.good), &pki.good.key),
        Ok(())
    );
}

#[test]
fn verify_accepts_an_extra_reference_name() {
    // RFC 8461 §4.1 / RFC 7672 §3.2.2: connecting to an address (or a
    // name the certificate lacks) while the MX host name is the reference.
    let pki = Pki::new();
    for target in ["192.0.2.25", "alias.example.test"] {
        let only_target = Reference::parse(target).expect("target");
        let with_mx = only_target.clone().with_parsed(HOST).expect("MX name");
        assert_eq!(with_mx.names().count(), 2);
        for (reference, want) in [
            (only_target, Err(CertFailure::HostMismatch)),
            (with_mx, Ok(())),
        ] {
            let client =
                client_config(CertCheck::Verify, &reference, None, &pki.roots()).expect("config");
            let got = handshake(
                client,
                server(pki.chain(&pki.good), &pki.good.key, &VERSIONS),
                reference.server_name(),
            )
            .map_err(CertFailure::from);
            assert_eq!(got, want, "{target}");
        }
    }
}

// ---------------------------------------------------------------- DANE-EE

#[test]
fn rfc7672_3_1_1_dane_ee_ignores_names_and_dates() {
    // A self-signed, expired certificate for another name.
    let odd = self_signed("elsewhere.example.test", Validity::Expired);
    let cases = [
        (
            "3 1 1 SPKI SHA-256",
            TlsaRecord::new(3, 1, 1, sha256(&spki(&odd.cert))),
        ),
        (
            "3 0 2 cert SHA-512",
            TlsaRecord::new(3, 0, 2, sha512(&odd.cert)),
        ),
        (
            "3 0 0 cert exact",
            TlsaRecord::new(3, 0, 0, odd.cert.to_vec()),
        ),
        (
            "3 1 0 SPKI exact",
            TlsaRecord::new(3, 1, 0, spki(&odd.cert)),
        ),
        (
            "3 1 2 SPKI SHA-512",
            TlsaRecord::new(3, 1, 2, sha512(&spki(&odd.cert))),
        ),
    ];
    for (what, record) in cases {
        let client = dane(std::slice::from_ref(&record));
        assert_eq!(
            connect(&client, vec![odd.cert.clone()], &odd.key),
            Ok(()),
            "{what}"
        );
    }
}

#[test]
fn rfc7671_5_any_matching_record_is_enough() {
    let pki = Pki::new();
    let records = [
        TlsaRecord::new(3, 1, 1, vec![0x11; 32]),
        TlsaRecord::new(3, 1, 1, sha256(&spki(&pki.wrong_name.cert))),
        TlsaRecord::new(2, 0, 1, vec![0x22; 32]),
    ];
    let client = dane(&records);
    assert_eq!(
        connect(&client, pki.chain(&pki.wrong_name), &pki.wrong_name.key),
        Ok(())
    );
}

#[test]
fn rfc7672_3_1_dane_wrong_digest_is_certificate_not_trusted() {
    // No usable record matches: CertFailure::TlsaMismatch, reported as
    // `certificate-not-trusted` (the records are fine, the chain is not
    // trusted by them).
    let pki = Pki::new();
    let spki_digest = sha256(&spki(&pki.good.cert));
    let mut flipped = spki_digest.clone();
    if let Some(b) = flipped.first_mut() {
        *b ^= 1;
    }
    let cases = [
        (
            "EE SPKI digest off by one bit",
            TlsaRecord::new(3, 1, 1, flipped.clone()),
        ),
        (
            "EE digest of the wrong selector",
            TlsaRecord::new(3, 0, 1, spki_digest.clone()),
        ),
        (
            "EE SHA-256 data under SHA-512",
            TlsaRecord::new(3, 1, 2, sha512(b"other")),
        ),
        (
            "TA digest matching nothing",
            TlsaRecord::new(2, 1, 1, flipped),
        ),
    ];
    for (what, record) in cases {
        let client = dane(std::slice::from_ref(&record));
        let got = connect(&client, pki.chain_with_root(&pki.good), &pki.good.key);
        assert_eq!(got, Err(CertFailure::TlsaMismatch), "{what}");
        assert_eq!(
            CertFailure::TlsaMismatch.result_type(),
            "certificate-not-trusted"
        );
    }
}

// ---------------------------------------------------------------- DANE-TA

#[test]
fn rfc7672_3_1_2_dane_ta_accepts_a_good_leaf_under_the_anchor() {
    let pki = Pki::new();
    let ca = pki.ca.der();
    let inter = pki.inter.der();
    let cases = [
        // The root, sent in the chain.
        (
            "2 0 1 root cert",
            TlsaRecord::new(2, 0, 1, sha256(ca)),
            true,
        ),
        (
            "2 1 1 root SPKI",
            TlsaRecord::new(2, 1, 1, sha256(&spki(ca))),
            true,
        ),
        (
            "2 0 2 root cert",
            TlsaRecord::new(2, 0, 2, sha512(ca)),
            true,
        ),
        // The intermediate as the anchor.
        (
            "2 0 1 intermediate",
            TlsaRecord::new(2, 0, 1, sha256(inter)),
            false,
        ),
        (
            "2 1 2 intermediate",
            TlsaRecord::new(2, 1, 2, sha512(&spki(inter))),
            false,
        ),
        // RFC 7671 §5.2.2: the record carries the anchor, the server may
        // leave it out of its chain.
        (
            "2 0 0 root not sent",
            TlsaRecord::new(2, 0, 0, ca.to_vec()),
            false,
        ),
        (
            "2 1 0 root key not sent",
            TlsaRecord::new(2, 1, 0, spki(ca)),
            false,
        ),
    ];
    for (what, record, send_root) in cases {
        let client = dane(std::slice::from_ref(&record));
        let chain = if send_root {
            pki.chain_with_root(&pki.good)
        } else {
            pki.chain(&pki.good)
        };
        assert_eq!(connect(&client, chain, &pki.good.key), Ok(()), "{what}");
    }
}

#[test]
fn rfc7672_3_2_2_dane_ta_checks_names_and_dates() {
    let pki = Pki::new();
    let record = TlsaRecord::new(2, 0, 1, sha256(pki.ca.der()));
    let client = dane(std::slice::from_ref(&record));
    assert_eq!(
        connect(
            &client,
            pki.chain_with_root(&pki.wrong_name),
            &pki.wrong_name.key
        ),
        Err(CertFailure::HostMismatch)
    );
    assert_eq!(
        connect(&client, pki.chain_with_root(&pki.expired), &pki.expired.key),
        Err(CertFailure::Expired)
    );
}

#[test]
fn rfc7672_3_2_2_dane_ta_accepts_the_next_hop_domain_as_a_name() {
    // The certificate names the next-hop domain, the TLSA base domain
    // (target) is another name.
    let pki = Pki::new();
    let record = TlsaRecord::new(2, 0, 1, sha256(pki.ca.der()));
    let target = Reference::parse("mx1.example.net").expect("target");
    for (reference, want) in [
        (target.clone(), Err(CertFailure::HostMismatch)),
        (target.with_parsed(HOST).expect("next hop"), Ok(())),
    ] {
        let client = client_config(
            CertCheck::Dane,
            &reference,
            Some(std::slice::from_ref(&record)),
            &Roots::WebPki,
        )
        .expect("config");
        let got = handshake(
            client,
            server(pki.chain_with_root(&pki.good), &pki.good.key, &VERSIONS),
            reference.server_name(),
        )
        .map_err(CertFailure::from);
        assert_eq!(got, want);
    }
}

#[test]
fn rfc7672_3_1_2_dane_ta_anchor_must_sign_the_chain() {
    let pki = Pki::new();
    let stranger = root("Unknown CA");
    let foreign = leaf(HOST, Validity::Now, &stranger);
    let foreign_chain = vec![foreign.cert.clone(), stranger.der().clone()];
    let other_key = KeyPair::generate().expect("key");
    let cases = [
        // The anchor is not presented and only its digest is published.
        (
            "2 0 1 root, root not sent",
            TlsaRecord::new(2, 0, 1, sha256(pki.ca.der())),
            pki.chain(&pki.good),
            &pki.good.key,
        ),
        // A leaf from another CA.
        (
            "2 0 1 root, foreign chain",
            TlsaRecord::new(2, 0, 1, sha256(pki.ca.der())),
            foreign_chain.clone(),
            &foreign.key,
        ),
        // A key that signed nothing presented.
        (
            "2 1 0 unrelated key",
            TlsaRecord::new(2, 1, 0, other_key.subject_public_key_info()),
            pki.chain(&pki.good),
            &pki.good.key,
        ),
        (
            "2 0 0 unrelated root",
            TlsaRecord::new(2, 0, 0, pki.ca.der().to_vec()),
            foreign_chain,
            &foreign.key,
        ),
    ];
    for (what, record, chain, key) in cases {
        let client = dane(std::slice::from_ref(&record));
        assert_eq!(
            connect(&client, chain, key),
            Err(CertFailure::TlsaMismatch),
            "{what}"
        );
    }
}

// ---------------------------------------------------------------- unusable

#[test]
fn rfc7672_3_1_3_pkix_usages_give_no_dane_authentication() {
    let pki = Pki::new();
    let odd = self_signed("elsewhere.example.test", Validity::Expired);
    let unusable = [
        TlsaRecord::new(0, 0, 1, sha256(pki.ca.der())), // PKIX-TA
        TlsaRecord::new(1, 1, 1, vec![0x33; 32]),       // PKIX-EE, no match
        TlsaRecord::new(1, 0, 1, sha256(&odd.cert)),    // PKIX-EE, matching
        TlsaRecord::new(3, 2, 1, sha256(&odd.cert)),    // unknown selector
        TlsaRecord::new(3, 0, 9, sha256(&odd.cert)),    // unknown matching
        TlsaRecord::new(4, 0, 1, sha256(&odd.cert)),    // unknown usage
        TlsaRecord::new(3, 0, 1, vec![0x44; 31]),       // short digest
    ];
    // The API says so: no usable TLSA, no DANE authentication.
    assert_eq!(DanePolicy::from_records(&unusable), None);
    // RFC 7672 §2.2: mandatory TLS without authentication.
    let client = dane(&unusable);
    assert_eq!(connect(&client, vec![odd.cert.clone()], &odd.key), Ok(()));

    // With one usable record among them, only it counts: the matching
    // PKIX-EE record is ignored.
    let mut mixed = unusable.to_vec();
    mixed.push(TlsaRecord::new(3, 1, 1, vec![0x55; 32]));
    let policy = DanePolicy::from_records(&mixed).expect("one usable");
    assert_eq!(policy.records().len(), 1);
    let client = dane(&mixed);
    assert_eq!(
        connect(&client, vec![odd.cert.clone()], &odd.key),
        Err(CertFailure::TlsaMismatch)
    );
}

#[test]
fn dane_without_any_tlsa_is_a_planning_error() {
    let got = client_config(CertCheck::Dane, &reference(), None, &Roots::WebPki);
    assert!(matches!(got, Err(VerifyError::DaneWithoutTlsa)));
}

// ---------------------------------------------------------------- replay

#[test]
fn a_replayed_certificate_without_its_key_fails_under_every_check() {
    let pki = Pki::new();
    let thief = KeyPair::generate().expect("key");
    let odd = self_signed(HOST, Validity::Now);
    let ta = [TlsaRecord::new(2, 0, 1, sha256(pki.ca.der()))];
    let ee = [TlsaRecord::new(3, 1, 1, sha256(&spki(&pki.good.cert)))];
    let ee_odd = [TlsaRecord::new(3, 0, 1, sha256(&odd.cert))];
    let cases = [
        (
            "encrypt",
            config(CertCheck::Encrypt, None, &Roots::WebPki),
            pki.chain(&pki.good),
        ),
        (
            "encrypt, self-signed",
            config(CertCheck::Encrypt, None, &Roots::WebPki),
            vec![odd.cert.clone()],
        ),
        (
            "verify",
            config(CertCheck::Verify, None, &pki.roots()),
            pki.chain(&pki.good),
        ),
        ("dane-ta", dane(&ta), pki.chain_with_root(&pki.good)),
        ("dane-ee", dane(&ee), pki.chain(&pki.good)),
        (
            "dane-ee, self-signed",
            dane(&ee_odd),
            vec![odd.cert.clone()],
        ),
    ];
    for (what, client, chain) in cases {
        // The honest server is accepted: only the key makes the difference.
        let honest_key = if chain.first() == Some(&odd.cert) {
            &odd.key
        } else {
            &pki.good.key
        };
        assert_eq!(
            connect(&client, chain.clone(), honest_key),
            Ok(()),
            "{what}"
        );
        for version in VERSIONS {
            let got = handshake(
                client.clone(),
                replaying_server(chain.clone(), &thief, &[version]),
                reference().server_name(),
            );
            let failure = got.map_err(CertFailure::from);
            assert_eq!(
                failure,
                Err(CertFailure::BadSignature),
                "{what} {version:?}"
            );
            assert_eq!(
                CertFailure::BadSignature.result_type(),
                "validation-failure"
            );
        }
    }
}

// ---------------------------------------------------------------- failures

#[test]
fn rfc8460_4_3_result_types_from_rustls_errors() {
    use rustls::{AlertDescription, PeerIncompatible};
    let cert = |e: CertificateError| TlsError::InvalidCertificate(e);
    let cases = [
        (
            cert(CertificateError::NotValidForName),
            "certificate-host-mismatch",
        ),
        (cert(CertificateError::Expired), "certificate-expired"),
        (cert(CertificateError::NotValidYet), "certificate-expired"),
        (
            cert(CertificateError::UnknownIssuer),
            "certificate-not-trusted",
        ),
        (
            cert(CertificateError::Other(OtherError(Arc::new(TlsaMismatch)))),
            "certificate-not-trusted",
        ),
        (cert(CertificateError::BadSignature), "validation-failure"),
        (cert(CertificateError::BadEncoding), "validation-failure"),
        (cert(CertificateError::InvalidPurpose), "validation-failure"),
        (
            cert(CertificateError::ApplicationVerificationFailure),
            "validation-failure",
        ),
        (
            cert(CertificateError::Other(OtherError(Arc::new(
                std::fmt::Error,
            )))),
            "validation-failure",
        ),
        (
            TlsError::AlertReceived(AlertDescription::HandshakeFailure),
            "validation-failure",
        ),
        (
            TlsError::PeerIncompatible(PeerIncompatible::NoCipherSuitesInCommon),
            "validation-failure",
        ),
    ];
    for (error, want) in cases {
        let failure = CertFailure::from(&error);
        assert_eq!(failure.result_type(), want, "{error:?}");
        assert!(!failure.text().is_empty());
        assert_eq!(failure.to_string(), failure.text());
    }
    assert!(!CertFailure::from(&TlsError::HandshakeNotComplete).is_certificate());
    assert_eq!(CertFailure::TlsaInvalid.result_type(), "tlsa-invalid");
    assert_eq!(CertFailure::DaneRequired.result_type(), "dane-required");
}

#[test]
fn client_config_with_any_verifier_is_ring_only() {
    let pki = Pki::new();
    let v = PkixVerifier::new(reference(), &pki.roots()).expect("verifier");
    let client = client_config_with(Arc::new(v)).expect("config");
    assert!(client.crypto_provider().cipher_suites.len() >= 2);
    assert_eq!(
        connect(&client, pki.chain(&pki.good), &pki.good.key),
        Ok(())
    );
}

// ---------------------------------------------------------------- proptest

proptest! {
    /// RFC 6698 §2.1: a `3 0 x` record matches exactly the bytes it was
    /// made from, whatever they are, and no verifier panics on them.
    #[test]
    fn dane_ee_full_certificate_matches_only_itself(
        der in proptest::collection::vec(any::<u8>(), 0..512),
        other in proptest::collection::vec(any::<u8>(), 0..512),
        matching in 0u8..3,
    ) {
        let data = match matching {
            0 => der.clone(),
            1 => sha256(&der),
            _ => sha512(&der),
        };
        let now = UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000));
        let name = reference().server_name();
        let cert = CertificateDer::from(der.clone());
        let records = [
            TlsaRecord::new(3, 0, matching, data),
            TlsaRecord::new(2, 1, 0, der.clone()),
        ];
        match DanePolicy::from_records(&records) {
            Some(policy) => {
                let v = DaneVerifier::new(policy, reference());
                prop_assert!(v.verify_server_cert(&cert, &[], &name, &[], now).is_ok());
                let presented = CertificateDer::from(other.clone());
                let chain = std::slice::from_ref(&cert);
                let got = v.verify_server_cert(&presented, chain, &name, &[], now);
                prop_assert_eq!(got.is_ok(), other == der);
            }
            // Exact matching of zero bytes is not a usable record.
            None => prop_assert!(der.is_empty()),
        }
        let pkix = PkixVerifier::new(reference(), &Roots::WebPki).expect("roots");
        prop_assert!(pkix.verify_server_cert(&cert, &[], &name, &[], now).is_err());
        let encrypt = EncryptVerifier::new();
        prop_assert!(encrypt.verify_server_cert(&cert, &[], &name, &[], now).is_ok());
    }
}
