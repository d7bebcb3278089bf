//! The certificates of the customer's own `mta-sts.<domain>` host: issued by the same test CA
//! as the MX's (whose root stsd trusts through `STSD_MX_CA_ROOTS`), one per name a client asks
//! for, on first use, so that the test can host a policy for any domain it makes up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::mx_cert::MxCertificate;

/// Certificates by server name.
#[derive(Debug)]
pub(crate) struct PolicyCertificates {
    ca: Arc<MxCertificate>,
    issued: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl PolicyCertificates {
    pub(crate) fn new(ca: Arc<MxCertificate>) -> PolicyCertificates {
        PolicyCertificates {
            ca,
            issued: Mutex::new(HashMap::new()),
        }
    }

    /// A TLS server configuration presenting a certificate for the name asked for.
    pub(crate) fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, String> {
        let config = rustls::ServerConfig::builder_with_provider(self.ca.provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for PolicyCertificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // No name, no certificate: senders always send SNI.
        let name = hello.server_name()?.to_ascii_lowercase();
        let mut issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(key) = issued.get(&name) {
            return Some(key.clone());
        }
        let key = self.ca.issue_for(std::slice::from_ref(&name)).ok()?;
        issued.insert(name, key.clone());
        Some(key)
    }
}
