//! The certificate the customer's MX presents after `STARTTLS`: issued by a CA of this process
//! (whose root the e2e hands to stsd as `STSD_MX_CA_ROOTS`) for the host names the test names,
//! and replaceable while the server runs, as a mail admin would renew it.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The MX host name the certificate is for before the test names any.
pub(crate) const INITIAL_HOST: &str = "mx.fake-customer.test";

/// The test CA and the MX's current certificate. Every handshake gets the current one, whatever
/// name the client asks for: a mail server has one certificate, and a client that asked for
/// another name must find that it does not match.
pub(crate) struct MxCertificate {
    ca: CertifiedIssuer<'static, KeyPair>,
    provider: Arc<CryptoProvider>,
    current: RwLock<(Vec<String>, Arc<CertifiedKey>)>,
}

impl fmt::Debug for MxCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MxCertificate")
            .field("hosts", &self.hosts())
            .finish_non_exhaustive()
    }
}

impl MxCertificate {
    /// A new CA and a first certificate for [`INITIAL_HOST`].
    pub(crate) fn new() -> Result<MxCertificate, String> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "stsd fake customer MX CA");
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let ca = CertifiedIssuer::self_signed(params, key).map_err(|e| e.to_string())?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let hosts = vec![INITIAL_HOST.to_owned()];
        let key = issue(&ca, &provider, &hosts)?;
        Ok(MxCertificate {
            ca,
            provider,
            current: RwLock::new((hosts, key)),
        })
    }

    /// The CA's root certificate (PEM): what stsd must trust to accept the MX.
    pub(crate) fn root_pem(&self) -> String {
        self.ca.pem()
    }

    /// The names the current certificate is valid for.
    pub(crate) fn hosts(&self) -> Vec<String> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }

    /// Replaces the certificate with one for `hosts`; fails for a name a certificate cannot
    /// carry, keeping the old one.
    pub(crate) fn reissue(&self, hosts: Vec<String>) -> Result<(), String> {
        if hosts.is_empty() {
            return Err("name at least one host".to_owned());
        }
        let key = issue(&self.ca, &self.provider, &hosts)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = (hosts, key);
        Ok(())
    }

    /// A certificate for `hosts` from the same CA, apart from the MX's.
    pub(crate) fn issue_for(&self, hosts: &[String]) -> Result<Arc<CertifiedKey>, String> {
        issue(&self.ca, &self.provider, hosts)
    }

    /// The crypto provider the certificates are made for.
    pub(crate) fn provider(&self) -> Arc<CryptoProvider> {
        self.provider.clone()
    }

    /// A TLS server configuration presenting the current certificate.
    pub(crate) fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, String> {
        let config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for MxCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .1
                .clone(),
        )
    }
}

/// A leaf certificate for `hosts` (subject alternative names) with its chain and key.
fn issue(
    ca: &CertifiedIssuer<'static, KeyPair>,
    provider: &CryptoProvider,
    hosts: &[String],
) -> Result<Arc<CertifiedKey>, String> {
    let key = KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = CertificateParams::new(hosts.to_vec())
        .map_err(|e| format!("cannot certify {hosts:?}: {e}"))?
        .signed_by(&key, ca)
        .map_err(|e| e.to_string())?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone(), ca.der().clone()],
        signing,
    )))
}
