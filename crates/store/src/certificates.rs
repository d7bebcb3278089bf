//! Certificates, ACME accounts and pending ACME challenges.

use time::OffsetDateTime;

use crate::Result;
use crate::all_tenants::{AllTenants, domain_of_tenant};
use crate::clock::{from_ms, now, to_ms};
use crate::db::Store;
use crate::error::{StoreError, conflict};
use crate::feed::{self, ChangeKind};
use crate::ids::{DomainId, TenantId, row_id};

/// A certificate to store. The private key arrives already encrypted under the master key.
#[derive(Debug, Clone)]
pub struct NewCertificate {
    /// The registration it is for (`mta-sts.<domain>`).
    pub domain_id: DomainId,
    /// Leaf first, then intermediates, PEM.
    pub chain_pem: String,
    /// AES-256-GCM ciphertext of the PKCS#8 private key.
    pub key_ciphertext: Vec<u8>,
    /// Which master key encrypted it (so the master key can rotate).
    pub key_id: String,
    /// Validity start.
    pub not_before: OffsetDateTime,
    /// Validity end.
    pub not_after: OffsetDateTime,
}

/// A stored certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Row id.
    pub id: String,
    /// The registration.
    pub domain_id: DomainId,
    /// Leaf first, PEM.
    pub chain_pem: String,
    /// Encrypted private key.
    pub key_ciphertext: Vec<u8>,
    /// Master key id.
    pub key_id: String,
    /// Validity start.
    pub not_before: OffsetDateTime,
    /// Validity end.
    pub not_after: OffsetDateTime,
    /// When it was stored.
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is encrypted, but it has no business in logs either way.
        f.debug_struct("Certificate")
            .field("id", &self.id)
            .field("domain_id", &self.domain_id)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// A pending ACME challenge, answered by every edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The challenge's token (for HTTP-01 the last segment of
    /// `/.well-known/acme-challenge/{token}`).
    pub token: String,
    /// The registration being validated; `None` for a service host (`reports.<zone>`).
    pub domain_id: Option<DomainId>,
    /// HTTP-01: the response body (the key authorization). TLS-ALPN-01: the hex SHA-256 of
    /// the key authorization, which the challenge certificate's acmeIdentifier carries.
    pub key_authorization: String,
    /// When it may be dropped.
    pub expires_at: OffsetDateTime,
    /// How the CA validates it.
    pub kind: ChallengeKind,
}

/// How the CA looks for a challenge's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeKind {
    /// HTTP-01: a plain-HTTP GET of `/.well-known/acme-challenge/{token}`.
    Http01,
    /// TLS-ALPN-01 (RFC 8737): a TLS handshake for `host` offering only ALPN `acme-tls/1`.
    TlsAlpn01 {
        /// The host name being validated (lower case, no trailing dot).
        host: String,
    },
}

impl ChallengeKind {
    fn as_str(&self) -> &'static str {
        match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::TlsAlpn01 { .. } => "tls-alpn-01",
        }
    }

    fn host(&self) -> Option<&str> {
        match self {
            ChallengeKind::Http01 => None,
            ChallengeKind::TlsAlpn01 { host } => Some(host),
        }
    }

    fn from_row(kind: &str, host: Option<String>) -> Result<ChallengeKind> {
        match (kind, host) {
            ("http-01", _) => Ok(ChallengeKind::Http01),
            ("tls-alpn-01", Some(host)) => Ok(ChallengeKind::TlsAlpn01 { host }),
            (other, _) => Err(StoreError::Corrupt {
                what: "challenge kind",
                detail: format!("`{other}` (a tls-alpn-01 challenge needs a host)"),
            }),
        }
    }
}

/// ACME account credentials for one directory.
#[derive(Clone, PartialEq, Eq)]
pub struct AcmeAccount {
    /// The directory URL.
    pub directory_url: String,
    /// Contact address given to the CA.
    pub contact: Option<String>,
    /// Encrypted account credentials.
    pub credentials_ciphertext: Vec<u8>,
    /// Master key id.
    pub key_id: String,
}

impl std::fmt::Debug for AcmeAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeAccount")
            .field("directory_url", &self.directory_url)
            .field("contact", &self.contact)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct CertRow {
    id: String,
    domain_id: String,
    chain_pem: String,
    key_ciphertext: Vec<u8>,
    key_id: String,
    not_before: i64,
    not_after: i64,
    created_at: i64,
}

impl TryFrom<CertRow> for Certificate {
    type Error = StoreError;
    fn try_from(r: CertRow) -> Result<Certificate> {
        Ok(Certificate {
            id: r.id,
            domain_id: DomainId::from_raw(r.domain_id),
            chain_pem: r.chain_pem,
            key_ciphertext: r.key_ciphertext,
            key_id: r.key_id,
            not_before: from_ms(r.not_before)?,
            not_after: from_ms(r.not_after)?,
            created_at: from_ms(r.created_at)?,
        })
    }
}

impl Store {
    /// The certificate the tenant's registration serves: the one valid longest; `None` for
    /// another tenant's registration.
    pub async fn current_certificate(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
    ) -> Result<Option<Certificate>> {
        self.certificate(Some(tenant), domain).await
    }

    /// `tenant`: the tenant the registration must belong to, or `None` for [`AllTenants`].
    async fn certificate(
        &self,
        tenant: Option<&TenantId>,
        domain: &DomainId,
    ) -> Result<Option<Certificate>> {
        let wall = match tenant {
            Some(_) => format!(" AND {}", domain_of_tenant(1, 2)),
            None => String::new(),
        };
        let q = sqlx::query_as::<_, CertRow>(sqlx::AssertSqlSafe(format!(
            "SELECT id, domain_id, chain_pem, key_ciphertext, key_id, not_before, not_after,
                    created_at
             FROM certificates WHERE domain_id = $1{wall}
             ORDER BY not_after DESC, created_at DESC LIMIT 1"
        )))
        .bind(domain.as_str());
        let q = match tenant {
            Some(t) => q.bind(t.as_str()),
            None => q,
        };
        let row = q.fetch_optional(&self.pool).await?;
        row.map(Certificate::try_from).transpose()
    }

    /// Publishes a challenge answer to every edge. Returns the change-feed position of the
    /// change, which edges report in their heartbeats once they serve it.
    pub async fn put_challenge(&self, challenge: &Challenge) -> Result<i64> {
        let at = now();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO acme_challenges (token, domain_id, key_authorization, created_at, expires_at,
                                          kind, host)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&challenge.token)
        .bind(challenge.domain_id.as_ref().map(|d| d.as_str().to_owned()))
        .bind(&challenge.key_authorization)
        .bind(to_ms(at))
        .bind(to_ms(challenge.expires_at))
        .bind(challenge.kind.as_str())
        .bind(challenge.kind.host().map(str::to_owned))
        .execute(&mut *tx)
        .await
        .map_err(conflict("challenge token"))?;
        let seq = feed::append(
            &mut tx,
            self.backend,
            ChangeKind::Challenge,
            challenge.domain_id.as_ref(),
            at,
        )
        .await?;
        tx.commit().await?;
        self.changed_locally();
        Ok(seq)
    }

    /// The challenge for `token`, if pending.
    pub async fn challenge(&self, token: &str) -> Result<Option<Challenge>> {
        #[allow(
            clippy::type_complexity,
            reason = "one row of the query right below, read once"
        )]
        let row: Option<(String, Option<String>, String, i64, String, Option<String>)> =
            sqlx::query_as(
                "SELECT token, domain_id, key_authorization, expires_at, kind, host
                 FROM acme_challenges WHERE token = $1",
            )
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        row.map(
            |(token, domain_id, key_authorization, expires_at, kind, host)| {
                Ok(Challenge {
                    token,
                    domain_id: domain_id.map(DomainId::from_raw),
                    key_authorization,
                    expires_at: from_ms(expires_at)?,
                    kind: ChallengeKind::from_row(&kind, host)?,
                })
            },
        )
        .transpose()
    }

    /// Removes a challenge once validated or abandoned.
    pub async fn delete_challenge(&self, token: &str) -> Result<()> {
        let at = now();
        let mut tx = self.begin().await?;
        let deleted: Option<(Option<String>,)> =
            sqlx::query_as("DELETE FROM acme_challenges WHERE token = $1 RETURNING domain_id")
                .bind(token)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some((domain,)) = deleted {
            let domain = domain.map(DomainId::from_raw);
            feed::append(
                &mut tx,
                self.backend,
                ChangeKind::Challenge,
                domain.as_ref(),
                at,
            )
            .await?;
        }
        tx.commit().await?;
        self.changed_locally();
        Ok(())
    }

    /// Stores (or replaces) the ACME account for a directory.
    pub async fn put_acme_account(&self, account: &AcmeAccount) -> Result<()> {
        sqlx::query(
            "INSERT INTO acme_accounts (id, directory_url, contact, credentials_ciphertext, key_id,
                                        created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (directory_url) DO UPDATE SET contact = excluded.contact,
                 credentials_ciphertext = excluded.credentials_ciphertext,
                 key_id = excluded.key_id",
        )
        .bind(row_id())
        .bind(&account.directory_url)
        .bind(account.contact.clone())
        .bind(account.credentials_ciphertext.clone())
        .bind(&account.key_id)
        .bind(to_ms(now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The ACME account for a directory, if one was created.
    pub async fn acme_account(&self, directory_url: &str) -> Result<Option<AcmeAccount>> {
        let row: Option<(String, Option<String>, Vec<u8>, String)> = sqlx::query_as(
            "SELECT directory_url, contact, credentials_ciphertext, key_id FROM acme_accounts
             WHERE directory_url = $1",
        )
        .bind(directory_url)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(directory_url, contact, credentials_ciphertext, key_id)| AcmeAccount {
                directory_url,
                contact,
                credentials_ciphertext,
                key_id,
            },
        ))
    }
}

impl AllTenants<'_> {
    /// Stores a certificate; edges pick it up through the change feed. Older certificates stay
    /// (a valid certificate is never thrown away because a newer one was stored). For the
    /// certificate worker, whatever the registration's tenant.
    pub async fn put_certificate(&self, cert: &NewCertificate) -> Result<Certificate> {
        let at = now();
        let stored = Certificate {
            id: row_id(),
            domain_id: cert.domain_id.clone(),
            chain_pem: cert.chain_pem.clone(),
            key_ciphertext: cert.key_ciphertext.clone(),
            key_id: cert.key_id.clone(),
            not_before: cert.not_before,
            not_after: cert.not_after,
            created_at: at,
        };
        let mut tx = self.store.begin().await?;
        sqlx::query(
            "INSERT INTO certificates (id, domain_id, chain_pem, key_ciphertext, key_id,
                                       not_before, not_after, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&stored.id)
        .bind(stored.domain_id.as_str())
        .bind(&stored.chain_pem)
        .bind(stored.key_ciphertext.clone())
        .bind(&stored.key_id)
        .bind(to_ms(stored.not_before))
        .bind(to_ms(stored.not_after))
        .bind(to_ms(at))
        .execute(&mut *tx)
        .await?;
        feed::append(
            &mut tx,
            self.store.backend,
            ChangeKind::Certificate,
            Some(&stored.domain_id),
            at,
        )
        .await?;
        tx.commit().await?;
        self.store.changed_locally();
        Ok(stored)
    }

    /// The certificate to serve for a registration, whatever its tenant: the one valid
    /// longest. For the certificate worker and the verifier.
    pub async fn current_certificate(&self, domain: &DomainId) -> Result<Option<Certificate>> {
        self.store.certificate(None, domain).await
    }
}
