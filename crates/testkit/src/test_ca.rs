//! A certificate authority for tests: its root in PEM for the side that validates, and
//! rustls server configurations with leaves it signs for the side that serves.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A test CA. Its methods panic on failure: failing loudly is the point in a test.
pub struct TestCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// A fresh CA named `name`.
    #[allow(
        clippy::expect_used,
        reason = "test support: failing loudly is the point"
    )]
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-signed root");
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The root certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A server configuration with a leaf for the DNS names `sans` and the common name `cn`.
    #[allow(
        clippy::expect_used,
        reason = "test support: failing loudly is the point"
    )]
    pub fn server_with_cn(&self, sans: &[&str], cn: &str) -> Arc<rustls::ServerConfig> {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.subject_alt_names = sans
            .iter()
            .map(|s| SanType::DnsName((*s).try_into().expect("a DNS name")))
            .collect();
        params.distinguished_name.push(DnType::CommonName, cn);
        let leaf = params.signed_by(&key, &self.issuer).expect("leaf");
        Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("server config"),
        )
    }

    /// A server configuration with a leaf for `names`, the first one also its common name.
    pub fn server(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        self.server_with_cn(names, names.first().copied().unwrap_or("test"))
    }
}
