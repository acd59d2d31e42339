//! Certificates for the session targets: an rcgen CA and a leaf for
//! `mx.example.test`, made once per process.

use std::sync::{Arc, OnceLock};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use secmx_core::transport::ring_provider;

struct Pki {
    ca: CertificateDer<'static>,
    leaf: CertificateDer<'static>,
    key: Vec<u8>,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().expect("leaf key");
        let params = CertificateParams::new(vec!["mx.example.test".to_owned()]).expect("params");
        let leaf = params.signed_by(&key, &issuer).expect("leaf certificate");
        Pki { ca: ca.der().clone(), leaf: leaf.der().clone(), key: key.serialize_der() }
    })
}

#[allow(dead_code)]
pub fn server_config() -> Arc<rustls::ServerConfig> {
    static CONFIG: OnceLock<Arc<rustls::ServerConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let pki = pki();
            let config = rustls::ServerConfig::builder_with_provider(ring_provider())
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(
                    vec![pki.leaf.clone()],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone())),
                )
                .expect("key matches");
            Arc::new(config)
        })
        .clone()
}

#[allow(dead_code)]
pub fn client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(pki().ca.clone()).expect("CA parses");
            let config = rustls::ClientConfig::builder_with_provider(ring_provider())
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

#[allow(dead_code)]
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from("mx.example.test").expect("valid name")
}
