//! Issuing through an ACME CA (RFC 8555) with instant-acme, answering HTTP-01 or
//! TLS-ALPN-01 (RFC 8737) through the store: the key authorization (for TLS-ALPN-01 its
//! digest) is written as a challenge row, and every edge answers it from its snapshot.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, CertificateIdentifier,
    ChallengeType, ExternalAccountKey, HttpClient, Identifier, NewAccount, NewOrder, Order,
    OrderStatus, RetryPolicy,
};
use rcgen::{CertificateParams, DistinguishedName, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use stsd_store::{AcmeAccount, Challenge, ChallengeKind, Domain, DomainId, MasterKey, Store};
use time::OffsetDateTime;

use crate::error::CertsError;
use crate::issuer::{Issued, Issuer, RenewalInfo, mta_sts_host};
use crate::propagation::{Propagation, wait_for_edges};
use crate::rate_limit::{CapturingClient, RATE_LIMITED, with_retry_after};

/// How long a published challenge may stay in the store if cleanup fails.
const CHALLENGE_TTL: time::Duration = time::Duration::hours(1);

/// Where and how to talk to the ACME CA.
#[derive(Debug, Clone)]
pub struct AcmeConfig {
    /// The directory URL (`STSD_ACME_DIRECTORY`).
    pub directory_url: String,
    /// Contact e-mail given to the CA when the account is created.
    pub contact_email: Option<String>,
    /// Extra trust roots for the directory's TLS certificate, a PEM bundle
    /// (the contents of the file `STSD_ACME_CA_ROOTS` names). Added to the public roots.
    pub extra_roots_pem: Option<String>,
    /// How long to wait after publishing a challenge before asking the CA to validate it when
    /// no edge reports heartbeats (else the worker waits until every live edge serves it).
    pub propagation_delay: Duration,
    /// The longest wait for every live edge to serve a challenge; then the CA is asked anyway.
    pub propagation_timeout: Duration,
    /// How long to wait for the CA to validate, and then to issue.
    pub order_timeout: Duration,
    /// Which challenge the CA validates (`STSD_ACME_CHALLENGE`).
    pub challenge: AcmeChallenge,
    /// External Account Binding (RFC 8555 §7.3.4), for CAs that require one to create the
    /// account (`STSD_ACME_EAB_KID`, `STSD_ACME_EAB_HMAC_KEY`).
    pub eab: Option<EabKey>,
}

/// How the CA validates control of a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AcmeChallenge {
    /// HTTP-01: the edge's plain-HTTP listener (port 80) answers the token.
    #[default]
    Http01,
    /// TLS-ALPN-01 (RFC 8737): the edge's HTTPS listener (port 443) presents a challenge
    /// certificate to a client offering only ALPN `acme-tls/1`.
    TlsAlpn01,
}

/// An External Account Binding: the key id and HMAC key the CA issued. The key is a secret:
/// `Debug` shows only the id.
#[derive(Clone)]
pub struct EabKey {
    /// The key identifier the CA gave.
    pub kid: String,
    /// The raw HMAC key (already decoded from the CA's base64url).
    pub hmac_key: Vec<u8>,
}

impl std::fmt::Debug for EabKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EabKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl AcmeConfig {
    /// Defaults for `directory_url`: no contact, public roots only, wait for the edges up to
    /// 30 s (2 s without heartbeats), 2 min per order.
    pub fn new(directory_url: impl Into<String>) -> AcmeConfig {
        AcmeConfig {
            directory_url: directory_url.into(),
            contact_email: None,
            extra_roots_pem: None,
            propagation_delay: Duration::from_secs(2),
            propagation_timeout: Duration::from_secs(30),
            order_timeout: Duration::from_secs(120),
            challenge: AcmeChallenge::Http01,
            eab: None,
        }
    }
}

/// An ACME account on one directory, ready to order certificates.
pub struct Acme {
    store: Store,
    account: Account,
    config: AcmeConfig,
}

impl std::fmt::Debug for Acme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acme")
            .field("directory_url", &self.config.directory_url)
            .finish_non_exhaustive()
    }
}

impl Acme {
    /// Restores the account for the configured directory from the store, or creates one at the
    /// CA and stores its credentials sealed under `master`.
    pub async fn connect(
        store: Store,
        master: Arc<MasterKey>,
        config: AcmeConfig,
    ) -> Result<Acme, CertsError> {
        let url = config.directory_url.clone();
        let http = http_client(config.extra_roots_pem.as_deref())?;
        let account = match store.acme_account(&url).await? {
            Some(stored) => {
                let json = master.open(&stored.credentials_ciphertext)?;
                let credentials: AccountCredentials = serde_json::from_slice(&json)?;
                Account::builder_with_http(http)
                    .from_credentials(credentials)
                    .await?
            }
            None => {
                let contact = config.contact_email.as_ref().map(|e| format!("mailto:{e}"));
                let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
                // The binding is needed only here: once created, the account stands alone.
                let eab = config
                    .eab
                    .as_ref()
                    .map(|k| ExternalAccountKey::new(k.kid.clone(), &k.hmac_key));
                let (account, credentials) = Account::builder_with_http(http)
                    .create(
                        &NewAccount {
                            contact: &contacts,
                            terms_of_service_agreed: true,
                            only_return_existing: false,
                        },
                        url.clone(),
                        eab.as_ref(),
                    )
                    .await?;
                let json = serde_json::to_vec(&credentials)?;
                store
                    .put_acme_account(&AcmeAccount {
                        directory_url: url,
                        contact: config.contact_email.clone(),
                        credentials_ciphertext: master.seal(&json)?,
                        key_id: master.id().to_owned(),
                    })
                    .await?;
                tracing::info!(directory = %config.directory_url,
                    eab_kid = config.eab.as_ref().map(|k| k.kid.as_str()),
                    "created ACME account");
                account
            }
        };
        Ok(Acme {
            store,
            account,
            config,
        })
    }

    /// Publishes the challenge answers, has the CA validate them and finalizes the order.
    /// Every published token is pushed to `tokens` so that the caller can remove it.
    async fn complete(
        &self,
        order: &mut Order,
        owner: Option<&DomainId>,
        host: &str,
        tokens: &mut Vec<String>,
    ) -> Result<Issued, CertsError> {
        let mut authorizations = order.authorizations();
        while let Some(authz) = authorizations.next().await {
            let mut authz = authz?;
            match authz.status {
                AuthorizationStatus::Pending => {}
                // Authorizations may be reused from an earlier order.
                AuthorizationStatus::Valid => continue,
                other => return Err(order_failed(host, format!("authorization {other:?}"))),
            }
            let (wanted, name) = match self.config.challenge {
                AcmeChallenge::Http01 => (ChallengeType::Http01, "http-01"),
                AcmeChallenge::TlsAlpn01 => (ChallengeType::TlsAlpn01, "tls-alpn-01"),
            };
            let mut challenge = authz
                .challenge(wanted)
                .ok_or_else(|| order_failed(host, format!("the CA offers no {name} challenge")))?;
            let token = challenge.token.clone();
            let key_authorization = challenge.key_authorization();
            let (key_authorization, kind) = match self.config.challenge {
                AcmeChallenge::Http01 => {
                    (key_authorization.as_str().to_owned(), ChallengeKind::Http01)
                }
                // The edge needs only the digest for the acmeIdentifier extension.
                AcmeChallenge::TlsAlpn01 => (
                    hex(key_authorization.digest().as_ref()),
                    ChallengeKind::TlsAlpn01 {
                        host: host.to_owned(),
                    },
                ),
            };
            let seq = self
                .store
                .put_challenge(&Challenge {
                    token: token.clone(),
                    domain_id: owner.cloned(),
                    key_authorization,
                    expires_at: OffsetDateTime::now_utc() + CHALLENGE_TTL,
                    kind,
                })
                .await?;
            tokens.push(token);
            // The edges learn of the challenge through the change feed; the CA may ask any.
            let propagation = wait_for_edges(
                &self.store,
                seq,
                self.config.propagation_delay,
                self.config.propagation_timeout,
            )
            .await?;
            if propagation == Propagation::TimedOut {
                tracing::warn!(%host, "not every edge serves the challenge yet; asking the CA anyway");
            }
            challenge.set_ready().await?;
        }
        let retries = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .backoff(1.5)
            .timeout(self.config.order_timeout);
        let status = order.poll_ready(&retries).await?;
        if status != OrderStatus::Ready {
            return Err(order_failed(host, failure_detail(order).await));
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec![host.to_owned()])?;
        params.distinguished_name = DistinguishedName::new();
        let csr = params.serialize_request(&key)?;
        order.finalize_csr(csr.der()).await?;
        let chain_pem = order.poll_certificate(&retries).await?;
        Issued::from_chain(chain_pem, key.serialize_der())
    }
}

#[async_trait]
impl Issuer for Acme {
    fn name(&self) -> &str {
        &self.config.directory_url
    }

    async fn issue_host(&self, host: &str, owner: Option<&DomainId>) -> Result<Issued, CertsError> {
        with_retry_after(self.order(host, owner, None)).await
    }

    async fn renew(&self, domain: &Domain, replacing_pem: &str) -> Result<Issued, CertsError> {
        let host = mta_sts_host(domain);
        let replaces = certificate_id(replacing_pem)?;
        with_retry_after(self.order(&host, Some(&domain.id), replaces)).await
    }

    async fn renewal_info(&self, chain_pem: &str) -> Result<Option<RenewalInfo>, CertsError> {
        let Some(id) = certificate_id(chain_pem)? else {
            return Ok(None);
        };
        match self.account.renewal_info(&id).await {
            Ok((info, retry_after)) => Ok(Some(RenewalInfo {
                window_start: info.suggested_window.start,
                window_end: info.suggested_window.end,
                explanation_url: info.explanation_url,
                retry_after,
            })),
            // The directory has no `renewalInfo`: the two-thirds rule.
            Err(instant_acme::Error::Unsupported(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl Acme {
    /// Places an order for `host` (replacing the certificate `replaces` when given), answers
    /// its challenges and finalizes it; the published challenges are removed again whatever
    /// the outcome.
    async fn order(
        &self,
        host: &str,
        owner: Option<&DomainId>,
        replaces: Option<CertificateIdentifier<'static>>,
    ) -> Result<Issued, CertsError> {
        let identifiers = [Identifier::Dns(host.to_owned())];
        let plain = NewOrder::new(&identifiers);
        let mut order = match replaces {
            None => self.account.new_order(&plain).await?,
            Some(replaces) => match self.account.new_order(&plain.replaces(replaces)).await {
                Ok(order) => order,
                // `replaces` is a courtesy to the CA (RFC 9773 §5), never a reason to go
                // without a certificate: a CA that refuses the order naming it (no ARI; the
                // certificate replaced already by an order of ours that was never stored; a
                // CA that does not know the certificate yet, as Pebble right after issuing)
                // gets the order without it.
                Err(e) if replacement_refused(&e) => {
                    tracing::warn!(%host, error = %e,
                        "the CA refused an order naming the certificate it replaces; ordering without");
                    self.account.new_order(&NewOrder::new(&identifiers)).await?
                }
                Err(e) => return Err(e.into()),
            },
        };
        let mut tokens = Vec::new();
        let result = self.complete(&mut order, owner, host, &mut tokens).await;
        // Whatever the outcome, the challenges have served their purpose.
        for token in tokens {
            if let Err(e) = self.store.delete_challenge(&token).await {
                tracing::warn!(%host, error = %e, "could not remove an ACME challenge");
            }
        }
        result
    }
}

/// The ARI identifier (RFC 9773 §4.1: the leaf's Authority Key Identifier and serial) of the
/// leaf of `chain_pem`; `None` when the leaf has no AKI, and then ARI cannot name it.
fn certificate_id(chain_pem: &str) -> Result<Option<CertificateIdentifier<'static>>, CertsError> {
    let leaf = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .ok_or_else(|| CertsError::Certificate("empty chain".to_owned()))?
        .map_err(|e| CertsError::Certificate(e.to_string()))?;
    match CertificateIdentifier::try_from(&leaf) {
        Ok(id) => Ok(Some(id.into_owned())),
        Err(e) => {
            tracing::debug!(error = %e, "no ARI identifier for the certificate");
            Ok(None)
        }
    }
}

/// Whether a refused order naming the certificate it replaces is worth placing again
/// without: any refusal but a rate limit (the same order without `replaces` would only be
/// refused again, one more request against the limit).
fn replacement_refused(error: &instant_acme::Error) -> bool {
    match error {
        instant_acme::Error::Unsupported(_) => true,
        instant_acme::Error::Api(problem) => problem.r#type.as_deref() != Some(RATE_LIMITED),
        _ => false,
    }
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn order_failed(host: &str, detail: String) -> CertsError {
    CertsError::Order {
        host: host.to_owned(),
        detail,
    }
}

/// What the CA says went wrong with an invalid order: the order's or a challenge's problem.
async fn failure_detail(order: &mut Order) -> String {
    if let Some(problem) = &order.state().error {
        return problem.to_string();
    }
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authz)) = authorizations.next().await {
        if let Ok(state) = authz.refresh().await
            && let Some(problem) = state.challenges.iter().find_map(|c| c.error.as_ref())
        {
            return problem.to_string();
        }
    }
    "the order became invalid".to_owned()
}

/// An HTTPS client trusting the public web roots plus `extra_roots_pem`.
fn http_client(extra_roots_pem: Option<&str>) -> Result<Box<dyn HttpClient>, CertsError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(pem) = extra_roots_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| CertsError::TrustRoots(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| CertsError::TrustRoots(e.to_string()))?;
            added += 1;
        }
        if added == 0 {
            return Err(CertsError::TrustRoots(
                "the bundle holds no certificate".to_owned(),
            ));
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| CertsError::TrustRoots(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    let client: Client<_, BodyWrapper<bytes::Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    Ok(Box::new(CapturingClient::new(Box::new(client))))
}
