//! What the serving snapshot reads: every registration that DNS or the edges may answer for,
//! with its live policy, the id DNS publishes and its current certificate.

use std::collections::HashMap;
use std::str::FromStr;

use stsd_core::{DomainName, Label, PolicyId};

use crate::Result;
use crate::certificates::Certificate;
use crate::clock::{from_ms, now, to_ms};
use crate::db::Store;
use crate::domains::DomainState;
use crate::error::corrupt;
use crate::ids::DomainId;

/// One registration as the serving layer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedDomain {
    /// The registration.
    pub domain_id: DomainId,
    /// The customer's domain.
    pub name: DomainName,
    /// Its label in the service zone.
    pub label: Label,
    /// Its state; the serving layer decides what each state may answer.
    pub state: DomainState,
    /// The bytes the edges serve (the live version), if one is live.
    pub policy_body: Option<String>,
    /// The id DNS publishes (the DNS version), if one is published.
    pub dns_policy_id: Option<PolicyId>,
    /// The certificate valid longest, if one is valid now.
    pub certificate: Option<Certificate>,
}

/// States in which a registration may appear in DNS or on the edges at all.
const SERVABLE: &str = "('verified', 'active', 'degraded', 'offboarding')";

type ServedRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

const SERVED_SELECT: &str = "SELECT d.id, d.name, d.label, d.state, lv.body, dv.policy_id
     FROM domains d
     LEFT JOIN policy_versions lv ON lv.id = d.live_version_id
     LEFT JOIN policy_versions dv ON dv.id = d.dns_version_id";

type CertRow = (String, String, String, Vec<u8>, String, i64, i64, i64);

const CERT_SELECT: &str = "SELECT c.id, c.domain_id, c.chain_pem, c.key_ciphertext, c.key_id,
            c.not_before, c.not_after, c.created_at
     FROM certificates c";

fn cert_from_row(r: CertRow) -> Result<Certificate> {
    let (id, domain_id, chain_pem, key_ciphertext, key_id, not_before, not_after, created_at) = r;
    Ok(Certificate {
        id,
        domain_id: DomainId::from_raw(domain_id),
        chain_pem,
        key_ciphertext,
        key_id,
        not_before: from_ms(not_before)?,
        not_after: from_ms(not_after)?,
        created_at: from_ms(created_at)?,
    })
}

fn served_from_row(r: ServedRow, certificate: Option<Certificate>) -> Result<ServedDomain> {
    let (id, name, label, state, body, policy_id) = r;
    Ok(ServedDomain {
        domain_id: DomainId::from_raw(id),
        name: DomainName::parse_host(&name).map_err(|e| corrupt("domain name")(&e))?,
        label: Label::from_str(&label).map_err(|e| corrupt("label")(&e))?,
        state: state.parse().map_err(|e: String| corrupt("state")(&e))?,
        policy_body: body,
        dns_policy_id: policy_id
            .map(|p| PolicyId::from_str(&p).map_err(|e| corrupt("policy id")(&e)))
            .transpose()?,
        certificate,
    })
}

impl Store {
    /// Every registration in a servable state, for building a snapshot from scratch.
    pub async fn served_domains(&self) -> Result<Vec<ServedDomain>> {
        let rows: Vec<ServedRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SERVED_SELECT} WHERE d.state IN {SERVABLE}"
        )))
        .fetch_all(&self.pool)
        .await?;
        // The latest-expiring valid certificate per registration.
        let certs: Vec<CertRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{CERT_SELECT} WHERE c.not_after > $1 ORDER BY c.domain_id, c.not_after DESC, c.created_at DESC"
        )))
        .bind(to_ms(now()))
        .fetch_all(&self.pool)
        .await?;
        let mut by_domain: HashMap<String, Certificate> = HashMap::new();
        for row in certs {
            let cert = cert_from_row(row)?;
            by_domain
                .entry(cert.domain_id.as_str().to_owned())
                .or_insert(cert);
        }
        rows.into_iter()
            .map(|r| {
                let cert = by_domain.remove(&r.0);
                served_from_row(r, cert)
            })
            .collect()
    }

    /// One registration, or `None` when it is gone or not in a servable state.
    pub async fn served_domain(&self, id: &DomainId) -> Result<Option<ServedDomain>> {
        let row: Option<ServedRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SERVED_SELECT} WHERE d.id = $1 AND d.state IN {SERVABLE}"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let cert: Option<CertRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{CERT_SELECT} WHERE c.domain_id = $1 AND c.not_after > $2
             ORDER BY c.not_after DESC, c.created_at DESC LIMIT 1"
        )))
        .bind(id.as_str())
        .bind(to_ms(now()))
        .fetch_optional(&self.pool)
        .await?;
        Ok(Some(served_from_row(
            row,
            cert.map(cert_from_row).transpose()?,
        )?))
    }

    /// Every unexpired HTTP-01 challenge: token and key authorization.
    pub async fn live_challenges(&self) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT token, key_authorization FROM acme_challenges WHERE expires_at > $1",
        )
        .bind(to_ms(now()))
        .fetch_all(&self.pool)
        .await?)
    }
}
