//! What the serving snapshot reads: every registration that DNS or the edges may answer for,
//! with its live policy, the id DNS publishes and its current certificate.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::str::FromStr;

use stsd_core::{DomainName, Label, PolicyId};

use crate::Result;
use crate::all_tenants::AllTenants;
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
    /// The versions that went live on the edges, newest first (at most
    /// [`ANNOUNCE_CANDIDATES`]): DNS announces the newest one every edge has applied.
    pub live_ids: Vec<LiveId>,
    /// The certificate valid longest, if one is valid now.
    pub certificate: Option<Certificate>,
    /// Report destinations the `_smtp._tls` record lists after stsd's own.
    pub extra_rua: Vec<String>,
}

/// A version that went live on the edges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveId {
    /// Its id.
    pub id: PolicyId,
    /// The change-feed position at which it went live.
    pub seq: i64,
    /// When it went live (unix milliseconds).
    pub live_at_ms: i64,
}

/// How many recent live versions a snapshot keeps per registration, so that DNS can keep
/// announcing an older id while a lagging edge catches up.
pub const ANNOUNCE_CANDIDATES: i64 = 4;

/// States in which a registration may appear in DNS or on the edges at all.
const SERVABLE: &str = "('verified', 'active', 'degraded', 'offboarding')";

type ServedRow = (String, String, String, String, Option<String>, String);

const SERVED_SELECT: &str = "SELECT d.id, d.name, d.label, d.state, lv.body, d.extra_rua
     FROM domains d
     LEFT JOIN policy_versions lv ON lv.id = d.live_version_id";

type LiveRow = (String, String, i64, Option<i64>);

const LIVE_SELECT: &str = "SELECT domain_id, policy_id, live_seq, published_at FROM (
         SELECT domain_id, policy_id, live_seq, published_at,
                ROW_NUMBER() OVER (PARTITION BY domain_id ORDER BY live_seq DESC) AS n
         FROM policy_versions WHERE live_seq IS NOT NULL";

fn live_from_row(r: LiveRow) -> Result<(String, LiveId)> {
    let (domain, id, seq, at) = r;
    Ok((
        domain,
        LiveId {
            id: PolicyId::from_str(&id).map_err(|e| corrupt("policy id")(&e))?,
            seq,
            live_at_ms: at.unwrap_or(0),
        },
    ))
}

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

fn served_from_row(
    r: ServedRow,
    certificate: Option<Certificate>,
    live_ids: Vec<LiveId>,
) -> Result<ServedDomain> {
    let (id, name, label, state, body, extra_rua) = r;
    Ok(ServedDomain {
        domain_id: DomainId::from_raw(id),
        name: DomainName::parse_host(&name).map_err(|e| corrupt("domain name")(&e))?,
        label: Label::from_str(&label).map_err(|e| corrupt("label")(&e))?,
        state: state.parse().map_err(|e: String| corrupt("state")(&e))?,
        policy_body: body,
        live_ids,
        certificate,
        extra_rua: crate::domains::split_rua(&extra_rua),
    })
}

impl AllTenants<'_> {
    /// Every registration in a servable state, of every tenant, for building a snapshot from
    /// scratch.
    pub async fn served_domains(&self) -> Result<Vec<ServedDomain>> {
        // Three independent reads, run at once: on a pool each gets its own connection (and
        // SQLite its own worker thread), so a large start-up uses every core.
        let served = format!("{SERVED_SELECT} WHERE d.state IN {SERVABLE}");
        // No ORDER BY: sorting 100,000 rows with their chains costs more than picking the
        // best certificate per registration while reading them.
        let valid = format!("{CERT_SELECT} WHERE c.not_after > $1");
        let live = format!(
            "{LIVE_SELECT}) v WHERE n <= {ANNOUNCE_CANDIDATES} ORDER BY domain_id, live_seq DESC"
        );
        let (rows, certs, lives) = tokio::try_join!(
            sqlx::query_as::<_, ServedRow>(sqlx::AssertSqlSafe(served)).fetch_all(&self.store.pool),
            sqlx::query_as::<_, CertRow>(sqlx::AssertSqlSafe(valid))
                .bind(to_ms(now()))
                .fetch_all(&self.store.pool),
            sqlx::query_as::<_, LiveRow>(sqlx::AssertSqlSafe(live)).fetch_all(&self.store.pool),
        )?;
        // The latest-expiring valid certificate per registration (the newest on a tie).
        let mut by_domain: HashMap<String, Certificate> = HashMap::new();
        for row in certs {
            let cert = cert_from_row(row)?;
            match by_domain.entry(cert.domain_id.as_str().to_owned()) {
                Entry::Vacant(e) => {
                    e.insert(cert);
                }
                Entry::Occupied(mut e) => {
                    let best = e.get();
                    if (cert.not_after, cert.created_at) > (best.not_after, best.created_at) {
                        e.insert(cert);
                    }
                }
            }
        }
        let mut live_by_domain: HashMap<String, Vec<LiveId>> = HashMap::new();
        for row in lives {
            let (domain, live) = live_from_row(row)?;
            live_by_domain.entry(domain).or_default().push(live);
        }
        rows.into_iter()
            .map(|r| {
                let cert = by_domain.remove(&r.0);
                let live = live_by_domain.remove(&r.0).unwrap_or_default();
                served_from_row(r, cert, live)
            })
            .collect()
    }

    /// One registration, whatever its tenant, or `None` when it is gone or not in a servable
    /// state: for the snapshot following the change feed.
    pub async fn served_domain(&self, id: &DomainId) -> Result<Option<ServedDomain>> {
        let row: Option<ServedRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SERVED_SELECT} WHERE d.id = $1 AND d.state IN {SERVABLE}"
        )))
        .bind(id.as_str())
        .fetch_optional(&self.store.pool)
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
        .fetch_optional(&self.store.pool)
        .await?;
        let lives: Vec<LiveRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{LIVE_SELECT} AND domain_id = $1) v WHERE n <= {ANNOUNCE_CANDIDATES} ORDER BY live_seq DESC"
        )))
        .bind(id.as_str())
        .fetch_all(&self.store.pool)
        .await?;
        let live = lives
            .into_iter()
            .map(|r| live_from_row(r).map(|(_, l)| l))
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(served_from_row(
            row,
            cert.map(cert_from_row).transpose()?,
            live,
        )?))
    }
}

impl Store {
    /// Every unexpired HTTP-01 challenge: token and key authorization.
    pub async fn live_challenges(&self) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT token, key_authorization FROM acme_challenges
             WHERE expires_at > $1 AND kind = 'http-01'",
        )
        .bind(to_ms(now()))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every unexpired TLS-ALPN-01 challenge: host and hex SHA-256 of the key authorization.
    /// Should a host have two (an abandoned order's), the newest comes last.
    pub async fn live_tls_alpn_challenges(&self) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT host, key_authorization FROM acme_challenges
             WHERE expires_at > $1 AND kind = 'tls-alpn-01' AND host IS NOT NULL
             ORDER BY created_at",
        )
        .bind(to_ms(now()))
        .fetch_all(&self.pool)
        .await?)
    }
}
