//! The immutable snapshot of everything served, and how store rows become entries.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use crate::alpn::AlpnChallenge;
use crate::shards::ShardedMap;
use bytes::Bytes;
use rustls::crypto::{CryptoProvider, KeyProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use stsd_store::{
    Certificate, DomainId, DomainState, LiveId, MasterKey, ServedDomain, ServiceCertificate,
};
use time::OffsetDateTime;

/// What a registration's edge host name starts with: `mta-sts.<domain>`.
pub(crate) const HOST_PREFIX: &str = "mta-sts.";

/// What the edge serves for one `mta-sts.<domain>` host.
#[derive(Debug)]
pub struct EdgeHost {
    /// The registration, for the fetch log.
    pub domain_id: DomainId,
    /// The policy bytes of the live version.
    pub body: Bytes,
    /// The certificate, its key opened: checked when the snapshot is built.
    material: KeyMaterial,
    /// The stored certificate's id and dates, for writing the row to the local copy.
    certificate: CertificateRecord,
    /// The signing key, made on the first handshake for the host.
    key: OnceLock<Option<Arc<CertifiedKey>>>,
}

/// A certificate chain and its private key, read and opened but not yet loaded into rustls.
///
/// Loading a P-256 key derives its public point (a scalar multiplication) and checks it
/// against the certificate: about 40 µs. For 100,000 hosts that is seconds of start-up, paid
/// again on every restart for hosts that may never be asked for, so it happens on the first
/// handshake for the host instead (once; the result is kept).
struct KeyMaterial {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &'static dyn KeyProvider,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("KeyMaterial")
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// What the local copy needs of a stored certificate besides its chain and key: a few dozen
/// bytes per host, where keeping the stored row itself would double the chain's memory.
#[derive(Debug, Clone)]
pub(crate) struct CertificateRecord {
    pub(crate) id: String,
    pub(crate) not_before: OffsetDateTime,
    pub(crate) not_after: OffsetDateTime,
    pub(crate) created_at: OffsetDateTime,
}

impl CertificateRecord {
    fn of(cert: &Certificate) -> CertificateRecord {
        CertificateRecord {
            id: cert.id.clone(),
            not_before: cert.not_before,
            not_after: cert.not_after,
            created_at: cert.created_at,
        }
    }
}

/// What a registration contributed to the snapshot, to remove it on change and to write it
/// to the local copy.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    /// `mta-sts.<domain>`; in `hosts` only while served.
    pub(crate) host: String,
    /// Its label, the key in `labels`.
    pub(crate) label: String,
    /// The registration's state when it was read.
    pub(crate) state: DomainState,
}

impl EdgeHost {
    /// The certificate chain and signing key for rustls; `None` when the key cannot be loaded
    /// or does not match the certificate (logged once).
    pub fn key(&self) -> Option<Arc<CertifiedKey>> {
        self.key
            .get_or_init(|| {
                let m = &self.material;
                match signing_key(m.chain.clone(), m.key.clone_key(), m.provider) {
                    Ok(key) => Some(Arc::new(key)),
                    Err(problem) => {
                        tracing::error!(domain = %self.domain_id, %problem, "certificate unusable; handshakes for this host fail");
                        None
                    }
                }
            })
            .clone()
    }

    /// The certificate chain, leaf first.
    pub(crate) fn chain(&self) -> &[CertificateDer<'static>] {
        &self.material.chain
    }

    /// The opened private key (PKCS#8 or another DER form), to seal it again for the copy.
    pub(crate) fn secret_key_der(&self) -> &[u8] {
        self.material.key.secret_der()
    }

    /// The stored certificate's id and dates.
    pub(crate) fn certificate(&self) -> &CertificateRecord {
        &self.certificate
    }

    /// A host serving `body` with no certificate: its handshakes find no key. For the fuzz
    /// fixture ([`crate::fuzzing`]), whose requests never reach a handshake.
    pub(crate) fn without_certificate(
        domain_id: DomainId,
        body: Bytes,
        provider: &'static dyn KeyProvider,
    ) -> EdgeHost {
        EdgeHost {
            domain_id,
            body,
            material: KeyMaterial {
                chain: Vec::new(),
                key: PrivateKeyDer::Pkcs8(Vec::new().into()),
                provider,
            },
            certificate: CertificateRecord {
                id: String::new(),
                not_before: OffsetDateTime::UNIX_EPOCH,
                not_after: OffsetDateTime::UNIX_EPOCH,
                created_at: OffsetDateTime::UNIX_EPOCH,
            },
            key: OnceLock::new(),
        }
    }
}

/// What DNS answers for one label (`<label>.edge|policy|report.<zone>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRecords {
    /// `<label>.edge` has A/AAAA: ownership is verified.
    pub edge: bool,
    /// Candidates for the `<label>.policy` TXT id, newest first: the versions that went live,
    /// and only while the policy is served with a valid certificate. DNS announces the newest
    /// one every edge has applied ([`crate::Acknowledged`]).
    pub policy_ids: Vec<LiveId>,
    /// `<label>.report` has the TLS-RPT TXT: from verification on.
    pub report: bool,
    /// Report destinations the TLS-RPT TXT lists after stsd's: the customer's own.
    pub extra_rua: Vec<String>,
}

/// Everything one node serves, at one position of the change feed.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub(crate) seq: i64,
    pub(crate) hosts: ShardedMap<String, Arc<EdgeHost>>,
    pub(crate) labels: ShardedMap<String, LabelRecords>,
    /// What each registration contributed, to remove it on change.
    pub(crate) by_domain: ShardedMap<DomainId, Registration>,
    pub(crate) challenges: HashMap<String, Bytes>,
    /// Certificates of stsd's own hosts (`reports.<zone>`), by host.
    pub(crate) service_hosts: HashMap<String, Arc<CertifiedKey>>,
    /// The rows `service_hosts` was built from, keys sealed: a loaded rustls key cannot give
    /// its private key back, and the local copy needs it. There are only a handful.
    pub(crate) service_rows: Arc<[ServiceCertificate]>,
    /// Pending TLS-ALPN-01 challenge certificates, by host.
    pub(crate) tls_alpn: HashMap<String, AlpnChallenge>,
}

impl LabelRecords {
    /// The id DNS announces given what the edges acknowledged: the newest version every edge
    /// has applied, or with no heartbeat data the newest one live for `settle_ms` already.
    pub fn announced(&self, acked: Acknowledged, now_ms: i64, settle_ms: i64) -> Option<&LiveId> {
        self.policy_ids.iter().find(|v| match acked {
            Acknowledged::Seq(seq) => v.seq <= seq,
            Acknowledged::Unknown => v.live_at_ms <= now_ms.saturating_sub(settle_ms),
        })
    }
}

/// How far every live edge node has applied the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acknowledged {
    /// Every live edge (this node included) serves a snapshot at or after this position.
    Seq(i64),
    /// No heartbeat data yet: fall back to the settle delay.
    Unknown,
}

impl Snapshot {
    /// The change-feed position this snapshot reflects.
    pub fn seq(&self) -> i64 {
        self.seq
    }

    /// The edge entry for a host name (lower case, no trailing dot), if served.
    pub fn host(&self, host: &str) -> Option<&Arc<EdgeHost>> {
        self.hosts.get(host)
    }

    /// The DNS records of a label, if it has any.
    pub fn label(&self, label: &str) -> Option<&LabelRecords> {
        self.labels.get(label)
    }

    /// The certificate of one of stsd's own hosts (`reports.<zone>`), if it has one.
    pub fn service_host(&self, host: &str) -> Option<&Arc<CertifiedKey>> {
        self.service_hosts.get(host)
    }

    /// The key authorization for an HTTP-01 token, if pending.
    pub fn challenge(&self, token: &str) -> Option<&Bytes> {
        self.challenges.get(token)
    }

    /// The TLS-ALPN-01 challenge certificate for a host, if a validation is pending.
    pub fn tls_alpn_challenge(&self, host: &str) -> Option<&Arc<CertifiedKey>> {
        self.tls_alpn.get(host).map(|c| &c.key)
    }

    /// How many hosts the edge serves.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Removes what a registration contributed.
    pub(crate) fn remove_domain(&mut self, id: &DomainId) {
        if let Some(gone) = self.by_domain.remove(id) {
            self.hosts.remove(&gone.host);
            self.labels.remove(&gone.label);
        }
    }

    /// Replaces the service-host certificates.
    pub(crate) fn set_service(
        &mut self,
        rows: Vec<ServiceCertificate>,
        master: &MasterKey,
        provider: &CryptoProvider,
    ) {
        self.service_hosts = service_keys(&rows, master, provider);
        self.service_rows = rows.into();
    }

    /// Adds (or replaces) a registration's entries.
    pub(crate) fn put_domain(
        &mut self,
        row: &ServedDomain,
        master: &MasterKey,
        provider: &CryptoProvider,
    ) {
        let edge = edge_host(row, master, provider);
        self.put_domain_with(row, edge);
    }

    /// Adds (or replaces) a registration's entries with its edge entry already built.
    pub(crate) fn put_domain_with(&mut self, row: &ServedDomain, edge: Option<EdgeHost>) {
        self.remove_domain(&row.domain_id);
        let host = format!("{HOST_PREFIX}{}", row.name.as_str());
        let label = row.label.as_str().to_owned();
        let served = edge.is_some();
        if let Some(edge) = edge {
            self.hosts.insert(host.clone(), Arc::new(edge));
        }
        self.labels.insert(
            label.clone(),
            LabelRecords {
                edge: true,
                // DNS announces an id only for a policy this node serves with a certificate.
                policy_ids: if served {
                    row.live_ids.clone()
                } else {
                    Vec::new()
                },
                report: true,
                extra_rua: row.extra_rua.clone(),
            },
        );
        self.by_domain.insert(
            row.domain_id.clone(),
            Registration {
                host,
                label,
                state: row.state,
            },
        );
    }
}

/// The edge entry of a registration, when it may be served: an active (or degraded, or
/// offboarding) registration with a live policy and a usable certificate.
pub(crate) fn edge_host(
    row: &ServedDomain,
    master: &MasterKey,
    provider: &CryptoProvider,
) -> Option<EdgeHost> {
    if !matches!(
        row.state,
        DomainState::Active | DomainState::Degraded | DomainState::Offboarding
    ) {
        return None;
    }
    let body = row.policy_body.as_ref()?;
    let cert = row.certificate.as_ref()?;
    match key_material(&cert.chain_pem, &cert.key_ciphertext, master, provider) {
        Ok(material) => Some(EdgeHost {
            domain_id: row.domain_id.clone(),
            body: Bytes::from(body.clone().into_bytes()),
            material,
            certificate: CertificateRecord::of(cert),
            key: OnceLock::new(),
        }),
        Err(problem) => {
            tracing::error!(domain = %row.name, certificate = %cert.id, %problem, "certificate unusable; not serving this host");
            None
        }
    }
}

/// The usable service-host certificates among `rows`; an unusable one is logged and left out.
fn service_keys(
    rows: &[ServiceCertificate],
    master: &MasterKey,
    provider: &CryptoProvider,
) -> HashMap<String, Arc<CertifiedKey>> {
    rows.iter()
        .filter_map(
            |c| match certified_key(&c.chain_pem, &c.key_ciphertext, master, provider) {
                Ok(key) => Some((c.host.clone(), Arc::new(key))),
                Err(problem) => {
                    tracing::error!(host = %c.host, %problem, "service certificate unusable");
                    None
                }
            },
        )
        .collect()
}

/// Parses a PEM chain and opens a sealed PKCS#8 key: everything but loading the key.
fn key_material(
    chain_pem: &str,
    sealed_key: &[u8],
    master: &MasterKey,
    provider: &CryptoProvider,
) -> Result<KeyMaterial, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate chain: {e}"))?;
    if chain.is_empty() {
        return Err("certificate chain is empty".to_owned());
    }
    let der = master
        .open(sealed_key)
        .map_err(|e| format!("private key: {e}"))?;
    let key = PrivateKeyDer::try_from(der).map_err(|e| format!("private key: {e}"))?;
    Ok(KeyMaterial {
        chain,
        key,
        provider: provider.key_provider,
    })
}

/// Loads a key into rustls and checks that it belongs to the chain's leaf.
fn signing_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &dyn KeyProvider,
) -> Result<CertifiedKey, String> {
    let signing = provider
        .load_private_key(key)
        .map_err(|e| format!("private key: {e}"))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| format!("key does not match the certificate: {e}"))?;
    Ok(certified)
}

/// Parses a PEM chain and a sealed PKCS#8 key into a rustls key.
pub(crate) fn certified_key(
    chain_pem: &str,
    sealed_key: &[u8],
    master: &MasterKey,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let m = key_material(chain_pem, sealed_key, master, provider)?;
    signing_key(m.chain, m.key, m.provider)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn host_with(cert_key: &rcgen::KeyPair, served_key: &rcgen::KeyPair) -> EdgeHost {
        let cert = rcgen::CertificateParams::new(vec!["mta-sts.example.com".to_owned()])
            .unwrap()
            .self_signed(cert_key)
            .unwrap();
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        EdgeHost {
            domain_id: DomainId::from_raw("d1"),
            body: Bytes::from_static(b"version: STSv1\r\n"),
            material: KeyMaterial {
                chain: vec![cert.der().clone()],
                key: PrivateKeyDer::try_from(served_key.serialize_der()).unwrap(),
                provider: provider.key_provider,
            },
            certificate: CertificateRecord {
                id: "c1".to_owned(),
                not_before: OffsetDateTime::UNIX_EPOCH,
                not_after: OffsetDateTime::UNIX_EPOCH,
                created_at: OffsetDateTime::UNIX_EPOCH,
            },
            key: OnceLock::new(),
        }
    }

    #[test]
    fn key_is_made_on_first_use_and_kept() {
        let key = rcgen::KeyPair::generate().unwrap();
        let host = host_with(&key, &key);
        let first = host.key().unwrap();
        assert!(Arc::ptr_eq(&first, &host.key().unwrap()));
    }

    #[test]
    fn a_key_of_another_certificate_is_never_presented() {
        let host = host_with(
            &rcgen::KeyPair::generate().unwrap(),
            &rcgen::KeyPair::generate().unwrap(),
        );
        assert!(host.key().is_none());
        assert!(host.key().is_none());
        // The key stays out of debug output.
        assert!(!format!("{host:?}").contains("key: PrivateKeyDer"));
    }
}
