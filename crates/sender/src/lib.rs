//! A sending MTA's view of a domain: what it publishes for MTA-STS (RFC 8461) and TLS-RPT
//! (RFC 8460), read the way senders read it.
//!
//! [`SenderView::read`] looks up the `_mta-sts` TXT record and, if it names a policy id,
//! fetches `https://mta-sts.<domain>/.well-known/mta-sts.txt` on port 443 with certificate
//! validation and no redirects, then parses it with the same tolerant parser stsd uses for
//! imports; it also reads the `_smtp._tls` record. The API uses it to import a policy a
//! customer already hosts, so that moving to stsd changes nothing senders see but the id.
//!
//! This is a library under the role crates, like the store: it opens outbound connections only,
//! and only to the names a domain publishes.

pub mod dns;
mod fetch;
mod reading;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use stsd_core::DomainName;

pub use reading::{Fetched, Lookup, Reading};

/// The port senders fetch policies from (RFC 8461 §3.3: HTTPS on the default port).
pub const HTTPS_PORT: u16 = 443;

/// Reads domains as a sender would. Cheap to clone: clones share the resolver and the TLS
/// configuration.
#[derive(Clone)]
pub struct SenderView {
    dns: dns::Dns,
    tls: Arc<rustls::ClientConfig>,
    /// Fetch policies from loopback and private addresses too (tests, on-premises). Off on a
    /// public service, so that a tenant cannot make stsd open connections inside its network.
    pub allow_private: bool,
    /// The port policies are fetched from: [`HTTPS_PORT`]; tests serve elsewhere.
    pub port: u16,
    /// Bound on the whole policy fetch: resolving, connecting, TLS and the body.
    pub fetch_timeout: Duration,
}

impl std::fmt::Debug for SenderView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderView")
            .field("allow_private", &self.allow_private)
            .field("port", &self.port)
            .field("fetch_timeout", &self.fetch_timeout)
            .finish_non_exhaustive()
    }
}

/// Why a [`SenderView`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// The DNS settings are unusable (a zero timeout, an unreadable system configuration).
    #[error("DNS: {0}")]
    Dns(String),
    /// The extra trust roots are not a PEM bundle of certificates.
    #[error("policy fetch trust roots: {0}")]
    Roots(String),
    /// The TLS configuration could not be built.
    #[error("TLS: {0}")]
    Tls(String),
}

impl SenderView {
    /// A view asking `servers` (`ip:port`; empty means the system's resolvers) with
    /// `dns_timeout` per lookup, trusting the Web PKI roots plus `extra_roots_pem`; policies
    /// are fetched from public addresses on port 443 within 10 seconds.
    pub fn new(
        servers: &[SocketAddr],
        dns_timeout: Duration,
        extra_roots_pem: Option<&str>,
    ) -> Result<SenderView, SenderError> {
        let dns = dns::Dns::new(servers, dns_timeout)?;
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(pem) = extra_roots_pem {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| SenderError::Roots(e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| SenderError::Roots(e.to_string()))?;
                added += 1;
            }
            if added == 0 {
                return Err(SenderError::Roots(
                    "the bundle holds no certificate".to_owned(),
                ));
            }
        }
        let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| SenderError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(SenderView {
            dns,
            tls: Arc::new(tls),
            allow_private: false,
            port: HTTPS_PORT,
            fetch_timeout: Duration::from_secs(10),
        })
    }

    /// What `domain` publishes now: its `_mta-sts` record, the policy it names (fetched only
    /// when the record gives an id, as senders do) and its `_smtp._tls` record. The lookups run
    /// at once; the call is bounded by the DNS timeout plus the fetch timeout.
    pub async fn read(&self, domain: &DomainName) -> Reading {
        let sts = async {
            let record = self.sts_record(domain).await;
            let policy = match &record {
                Lookup::Found(_) => fetch::policy(self, domain).await,
                _ => Lookup::Absent,
            };
            (record, policy)
        };
        let ((sts_record, policy), tlsrpt) = tokio::join!(sts, self.tlsrpt_record(domain));
        Reading {
            sts_record,
            policy,
            tlsrpt,
        }
    }

    /// The `_mta-sts` record: senders ignore TXT records that do not start with `v=STSv1`
    /// and treat more than one that does as no record at all (RFC 8461 §3.1).
    async fn sts_record(&self, domain: &DomainName) -> Lookup<stsd_core::PolicyId> {
        let name = format!("_mta-sts.{}", domain.as_str());
        let texts = match self.dns.txt(&name).await {
            Ok(texts) => texts,
            Err(failure) => return Lookup::Failed(failure.detail),
        };
        let records: Vec<&String> = texts.iter().filter(|t| t.starts_with("v=STSv1")).collect();
        match records.as_slice() {
            [] => Lookup::Absent,
            [record] => match stsd_core::StsRecord::parse(record) {
                Ok(parsed) => Lookup::Found(parsed.id),
                Err(e) => Lookup::Invalid(format!("{name} has the record \"{record}\": {e}")),
            },
            _ => Lookup::Invalid(format!(
                "{name} has {} records starting with v=STSv1; senders treat that as no policy",
                records.len()
            )),
        }
    }

    /// The `_smtp._tls` record and its report destinations (RFC 8460 §3: several records
    /// starting with `v=TLSRPTv1` mean none).
    async fn tlsrpt_record(&self, domain: &DomainName) -> Lookup<Vec<stsd_core::RuaUri>> {
        let name = format!("_smtp._tls.{}", domain.as_str());
        let texts = match self.dns.txt(&name).await {
            Ok(texts) => texts,
            Err(failure) => return Lookup::Failed(failure.detail),
        };
        let records: Vec<&String> = texts
            .iter()
            .filter(|t| t.starts_with("v=TLSRPTv1"))
            .collect();
        match records.as_slice() {
            [] => Lookup::Absent,
            [record] => match stsd_core::TlsRptRecord::parse(record) {
                Ok(parsed) => Lookup::Found(parsed.rua),
                Err(e) => Lookup::Invalid(format!("{name} has the record \"{record}\": {e}")),
            },
            _ => Lookup::Invalid(format!(
                "{name} has {} records starting with v=TLSRPTv1; reporters treat that as none",
                records.len()
            )),
        }
    }
}
