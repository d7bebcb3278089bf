//! What an issuer is, and what it hands back.

use async_trait::async_trait;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use stsd_store::{
    Certificate, Domain, DomainId, MasterKey, NewCertificate, ServiceCertificate, Store,
};
use time::OffsetDateTime;

use crate::error::CertsError;

/// Something that turns a verified registration into a certificate for `mta-sts.<domain>`.
#[async_trait]
pub trait Issuer: Send + Sync {
    /// A short name for logs (`local`, or the ACME directory URL).
    fn name(&self) -> &str;

    /// Obtains a certificate for `host`. `owner` is the registration it is for (`None` for
    /// stsd's own hosts, such as `reports.<zone>`). Nothing is stored yet, except the
    /// transient ACME challenges, which are removed again before returning.
    async fn issue_host(&self, host: &str, owner: Option<&DomainId>) -> Result<Issued, CertsError>;

    /// The issuer that places a registration's order on its job's `attempt` (1 for the
    /// first): `None` means this one; a [`crate::FallbackIssuer`] names the CA whose turn it is.
    fn for_attempt(&self, attempt: i64) -> Option<&dyn Issuer> {
        let _ = attempt;
        None
    }

    /// Obtains a certificate for `mta-sts.<domain.name>`.
    async fn issue(&self, domain: &Domain) -> Result<Issued, CertsError> {
        self.issue_host(&mta_sts_host(domain), Some(&domain.id))
            .await
    }

    /// Obtains a certificate for `mta-sts.<domain.name>` that replaces the one whose chain is
    /// `replacing_pem`, telling the CA so where it understands it (ARI's `replaces`, RFC 9773
    /// §5). Issuers without renewal information issue as [`Issuer::issue`] does.
    async fn renew(&self, domain: &Domain, replacing_pem: &str) -> Result<Issued, CertsError> {
        let _ = replacing_pem;
        self.issue(domain).await
    }

    /// The CA's renewal information (RFC 9773) for the certificate whose chain is
    /// `chain_pem`; `None` when the CA offers none, and then the two-thirds rule applies.
    async fn renewal_info(&self, chain_pem: &str) -> Result<Option<RenewalInfo>, CertsError> {
        let _ = chain_pem;
        Ok(None)
    }
}

/// What a CA answered about when to renew one certificate (RFC 9773 §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalInfo {
    /// `suggestedWindow.start`.
    pub window_start: OffsetDateTime,
    /// `suggestedWindow.end`.
    pub window_end: OffsetDateTime,
    /// `explanationURL`, when given.
    pub explanation_url: Option<String>,
    /// The CA's `Retry-After`: not to be asked again before this long.
    pub retry_after: std::time::Duration,
}

/// A freshly issued certificate with its private key, not yet sealed.
pub struct Issued {
    /// Leaf first, then intermediates, PEM.
    pub chain_pem: String,
    /// The PKCS#8 private key (DER).
    pub key_pkcs8: Vec<u8>,
    /// The leaf's validity start.
    pub not_before: OffsetDateTime,
    /// The leaf's validity end.
    pub not_after: OffsetDateTime,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Issued")
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Issued {
    /// Builds an [`Issued`] from a PEM chain, reading the validity from its leaf.
    pub fn from_chain(chain_pem: String, key_pkcs8: Vec<u8>) -> Result<Issued, CertsError> {
        let (not_before, not_after) = leaf_validity(&chain_pem)?;
        Ok(Issued {
            chain_pem,
            key_pkcs8,
            not_before,
            not_after,
        })
    }

    /// Seals the key under `master` and stores the certificate for the service host `host`.
    pub async fn store_service(
        &self,
        store: &Store,
        master: &MasterKey,
        host: &str,
    ) -> Result<ServiceCertificate, CertsError> {
        let cert = ServiceCertificate {
            host: host.to_owned(),
            chain_pem: self.chain_pem.clone(),
            key_ciphertext: master.seal(&self.key_pkcs8)?,
            key_id: master.id().to_owned(),
            not_before: self.not_before,
            not_after: self.not_after,
        };
        store.put_service_certificate(&cert).await?;
        Ok(cert)
    }

    /// Seals the key under `master` and stores the certificate for `domain`.
    pub async fn store(
        &self,
        store: &Store,
        master: &MasterKey,
        domain: &Domain,
    ) -> Result<Certificate, CertsError> {
        let key_ciphertext = master.seal(&self.key_pkcs8)?;
        Ok(store
            .all_tenants()
            .put_certificate(&NewCertificate {
                domain_id: domain.id.clone(),
                chain_pem: self.chain_pem.clone(),
                key_ciphertext,
                key_id: master.id().to_owned(),
                not_before: self.not_before,
                not_after: self.not_after,
            })
            .await?)
    }
}

/// The host every registration's certificate is for.
pub fn mta_sts_host(domain: &Domain) -> String {
    format!("mta-sts.{}", domain.name)
}

/// The validity of the first certificate in a PEM chain.
pub fn leaf_validity(chain_pem: &str) -> Result<(OffsetDateTime, OffsetDateTime), CertsError> {
    let leaf = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .ok_or_else(|| CertsError::Certificate("empty chain".to_owned()))?
        .map_err(|e| CertsError::Certificate(e.to_string()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf)
        .map_err(|e| CertsError::Certificate(e.to_string()))?;
    let validity = cert.validity();
    let at = |secs: i64| {
        OffsetDateTime::from_unix_timestamp(secs)
            .map_err(|e| CertsError::Certificate(e.to_string()))
    };
    Ok((
        at(validity.not_before.timestamp())?,
        at(validity.not_after.timestamp())?,
    ))
}
