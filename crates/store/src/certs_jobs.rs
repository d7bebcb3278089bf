//! What the certs worker needs beyond certificates and jobs: the local development CA and the
//! registrations that need a (new) certificate.

use time::OffsetDateTime;

use crate::Result;
use crate::all_tenants::{AllTenants, domain_of_tenant};
use crate::clock::{from_ms, now, to_ms};
use crate::db::Store;
use crate::ids::{DomainId, TenantId};

/// The job kind under which the certs worker issues and renews certificates.
pub const CERT_JOB_KIND: &str = "cert";

/// The job kind under which the certs worker keeps a certificate on each of stsd's own
/// service hosts (`reports.<zone>`); the job's subject is the host name.
pub const SERVICE_CERT_JOB_KIND: &str = "service_cert";

/// The single row id of the local CA.
const LOCAL_CA_ID: &str = "default";

/// The local development CA: its certificate and its sealed private key.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalCaRecord {
    /// The CA certificate, PEM.
    pub cert_pem: String,
    /// The PKCS#8 private key, sealed under the master key.
    pub key_ciphertext: Vec<u8>,
    /// Which master key sealed it.
    pub key_id: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

impl std::fmt::Debug for LocalCaRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCaRecord")
            .field("key_id", &self.key_id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// The local CA, if one was created.
    pub async fn local_ca(&self) -> Result<Option<LocalCaRecord>> {
        let row: Option<(String, Vec<u8>, String, i64)> = sqlx::query_as(
            "SELECT cert_pem, key_ciphertext, key_id, created_at FROM local_ca WHERE id = $1",
        )
        .bind(LOCAL_CA_ID)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(cert_pem, key_ciphertext, key_id, created_at)| {
            Ok(LocalCaRecord {
                cert_pem,
                key_ciphertext,
                key_id,
                created_at: from_ms(created_at)?,
            })
        })
        .transpose()
    }

    /// Stores `ca` unless a local CA exists already, and returns the one stored: when two nodes
    /// create a CA at the same time, both end up signing with the first one.
    pub async fn put_local_ca_if_absent(
        &self,
        cert_pem: &str,
        key_ciphertext: &[u8],
        key_id: &str,
    ) -> Result<LocalCaRecord> {
        sqlx::query(
            "INSERT INTO local_ca (id, cert_pem, key_ciphertext, key_id, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(LOCAL_CA_ID)
        .bind(cert_pem)
        .bind(key_ciphertext.to_vec())
        .bind(key_id)
        .bind(to_ms(now()))
        .execute(&self.pool)
        .await?;
        self.local_ca()
            .await?
            .ok_or(crate::StoreError::NotFound("local CA"))
    }

    /// The job of `(kind, domain)` for the tenant's registration, as stored, leased or not:
    /// when it runs next, its attempts and its last error (what the API shows about a
    /// certificate's renewal). `None` for another tenant's registration: the last error may
    /// name the domain.
    pub async fn job_status(
        &self,
        tenant: &TenantId,
        kind: &str,
        domain: &DomainId,
    ) -> Result<Option<JobStatus>> {
        let row: Option<(i64, i64, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT run_at, attempts, last_error FROM jobs WHERE kind = $1 AND subject = $2
               AND {}",
            domain_of_tenant(2, 3)
        )))
        .bind(kind)
        .bind(domain.as_str())
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(job_status_from_row).transpose()
    }
}

/// How the certificates of the served registrations stand, for the worker's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CertificateHealth {
    /// Served registrations with a certificate whose renewal failed and is being retried.
    pub renewals_failing: i64,
    /// Served registrations without a certificate whose order failed and is being retried.
    pub orders_failing: i64,
    /// The soonest expiry among the certificates served (each registration's newest); `None`
    /// when none is.
    pub earliest_expiry: Option<OffsetDateTime>,
}

impl AllTenants<'_> {
    /// Failing renewals and orders, and the soonest expiry, over every served registration
    /// (verified, active, degraded, offboarding).
    pub async fn certificate_health(&self) -> Result<CertificateHealth> {
        let (renewals, orders): (i64, i64) = sqlx::query_as(
            "SELECT
                 CAST(COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM certificates c
                     WHERE c.domain_id = d.id) THEN 1 ELSE 0 END), 0) AS BIGINT),
                 CAST(COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM certificates c
                     WHERE c.domain_id = d.id) THEN 0 ELSE 1 END), 0) AS BIGINT)
             FROM jobs j JOIN domains d ON d.id = j.subject
             WHERE j.kind = $1 AND j.attempts > 0 AND j.last_error IS NOT NULL
               AND d.state IN ('verified', 'active', 'degraded', 'offboarding')",
        )
        .bind(CERT_JOB_KIND)
        .fetch_one(&self.store.pool)
        .await?;
        let earliest: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(newest) FROM (
                 SELECT MAX(c.not_after) AS newest FROM certificates c
                 JOIN domains d ON d.id = c.domain_id
                 WHERE d.state IN ('verified', 'active', 'degraded', 'offboarding')
                 GROUP BY c.domain_id
             ) t",
        )
        .fetch_one(&self.store.pool)
        .await?;
        Ok(CertificateHealth {
            renewals_failing: renewals,
            orders_failing: orders,
            earliest_expiry: earliest.map(from_ms).transpose()?,
        })
    }

    /// Registrations that may be served (verified, active, degraded, offboarding) and have no
    /// certificate before its renewal point at `now` — the renewal point being two thirds of
    /// its lifetime — and no `cert` job yet. Jobs already scheduled (for example backing off
    /// after a failure) are left alone, so sweeping never pulls a retry forward. Every
    /// tenant's: the certificate worker's sweep.
    pub async fn domains_needing_certificate(&self, at: OffsetDateTime) -> Result<Vec<DomainId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT d.id FROM domains d
             WHERE d.state IN ('verified', 'active', 'degraded', 'offboarding')
               AND NOT EXISTS (
                   SELECT 1 FROM certificates c WHERE c.domain_id = d.id
                     AND c.not_before + (c.not_after - c.not_before) * 2 / 3 > $1)
               AND NOT EXISTS (
                   SELECT 1 FROM jobs j WHERE j.kind = $2 AND j.subject = d.id)
             ORDER BY d.id",
        )
        .bind(to_ms(at))
        .bind(CERT_JOB_KIND)
        .fetch_all(&self.store.pool)
        .await?;
        Ok(ids.into_iter().map(DomainId::from_raw).collect())
    }

    /// The job of `(kind, subject)` as stored, leased or not, whatever tenant its subject
    /// belongs to: when it runs next, its attempts and its last error.
    pub async fn job_status(&self, kind: &str, subject: &str) -> Result<Option<JobStatus>> {
        let row: Option<(i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT run_at, attempts, last_error FROM jobs WHERE kind = $1 AND subject = $2",
        )
        .bind(kind)
        .bind(subject)
        .fetch_optional(&self.store.pool)
        .await?;
        row.map(job_status_from_row).transpose()
    }
}

fn job_status_from_row(
    (run_at, attempts, last_error): (i64, i64, Option<String>),
) -> Result<JobStatus> {
    Ok(JobStatus {
        run_at: from_ms(run_at)?,
        attempts,
        last_error,
    })
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// When it runs next.
    pub run_at: OffsetDateTime,
    /// Failed attempts since the last success (a running attempt included).
    pub attempts: i64,
    /// The last failure's message.
    pub last_error: Option<String>,
}
