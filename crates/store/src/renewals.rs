//! When each certificate is to be renewed: the window (from the CA's renewal information,
//! RFC 9773, or the two-thirds rule), the moment picked inside it, and when the CA may be
//! asked again. Written by the certificate worker, read by it and by the API.

use time::OffsetDateTime;

use crate::Result;
use crate::all_tenants::AllTenants;
use crate::clock::{from_ms, from_ms_opt, now, to_ms};
use crate::db::Store;
use crate::error::StoreError;
use crate::ids::TenantId;

/// Where a renewal window comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewalSource {
    /// The CA's `renewalInfo` (ACME Renewal Information, RFC 9773).
    Ari,
    /// The CA offers no renewal information: the last twentieth of the lifetime before two
    /// thirds of it.
    TwoThirds,
}

impl RenewalSource {
    /// `ari` or `two_thirds`, as stored and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            RenewalSource::Ari => "ari",
            RenewalSource::TwoThirds => "two_thirds",
        }
    }

    fn parse(s: &str) -> Result<RenewalSource> {
        match s {
            "ari" => Ok(RenewalSource::Ari),
            "two_thirds" => Ok(RenewalSource::TwoThirds),
            other => Err(StoreError::Corrupt {
                what: "renewal source",
                detail: format!("`{other}`"),
            }),
        }
    }
}

/// The renewal plan of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalPlan {
    /// Where the window comes from.
    pub source: RenewalSource,
    /// The window's start (for ARI: the CA's `suggestedWindow.start`).
    pub window_start: OffsetDateTime,
    /// The window's end (for ARI: the CA's `suggestedWindow.end`).
    pub window_end: OffsetDateTime,
    /// The moment picked inside the window (bounded by the certificate's expiry); kept while
    /// the window stays the same.
    pub renew_at: OffsetDateTime,
    /// The CA's `explanationURL`, when it gave one.
    pub explanation_url: Option<String>,
    /// ARI only: the CA is not asked again before this (its `Retry-After`).
    pub next_poll: Option<OffsetDateTime>,
    /// When the plan was last written.
    pub updated_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct PlanRow {
    source: String,
    window_start: i64,
    window_end: i64,
    renew_at: i64,
    explanation_url: Option<String>,
    next_poll: Option<i64>,
    updated_at: i64,
}

impl TryFrom<PlanRow> for RenewalPlan {
    type Error = StoreError;
    fn try_from(r: PlanRow) -> Result<RenewalPlan> {
        Ok(RenewalPlan {
            source: RenewalSource::parse(&r.source)?,
            window_start: from_ms(r.window_start)?,
            window_end: from_ms(r.window_end)?,
            renew_at: from_ms(r.renew_at)?,
            explanation_url: r.explanation_url,
            next_poll: from_ms_opt(r.next_poll)?,
            updated_at: from_ms(r.updated_at)?,
        })
    }
}

impl Store {
    /// The renewal plan of the certificate `certificate_id` of one of `tenant`'s domains, if
    /// the worker made one; `None` for another tenant's certificate.
    pub async fn renewal_plan(
        &self,
        tenant: &TenantId,
        certificate_id: &str,
    ) -> Result<Option<RenewalPlan>> {
        let row: Option<PlanRow> = sqlx::query_as(
            "SELECT r.source, r.window_start, r.window_end, r.renew_at, r.explanation_url,
                    r.next_poll, r.updated_at
             FROM certificate_renewals r
             JOIN certificates c ON c.id = r.certificate_id
             JOIN domains d ON d.id = c.domain_id
             WHERE r.certificate_id = $1 AND d.tenant_id = $2",
        )
        .bind(certificate_id)
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(RenewalPlan::try_from).transpose()
    }
}

impl AllTenants<'_> {
    /// The renewal plan of the certificate `certificate_id`, whatever its tenant: for the
    /// certificate worker.
    pub async fn renewal_plan(&self, certificate_id: &str) -> Result<Option<RenewalPlan>> {
        let row: Option<PlanRow> = sqlx::query_as(
            "SELECT source, window_start, window_end, renew_at, explanation_url, next_poll,
                    updated_at
             FROM certificate_renewals WHERE certificate_id = $1",
        )
        .bind(certificate_id)
        .fetch_optional(&self.store.pool)
        .await?;
        row.map(RenewalPlan::try_from).transpose()
    }

    /// Stores (or replaces) the renewal plan of the certificate `certificate_id`, whatever its
    /// tenant (the certificate worker's);
    /// `plan.updated_at` is set to now. Fails with [`StoreError::NotFound`] when the
    /// certificate is gone (its registration was purged meanwhile).
    pub async fn put_renewal_plan(
        &self,
        certificate_id: &str,
        plan: &RenewalPlan,
    ) -> Result<RenewalPlan> {
        let at = now();
        let exists: Option<String> =
            sqlx::query_scalar("SELECT id FROM certificates WHERE id = $1")
                .bind(certificate_id)
                .fetch_optional(&self.store.pool)
                .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound("certificate"));
        }
        sqlx::query(
            "INSERT INTO certificate_renewals (certificate_id, source, window_start, window_end,
                                               renew_at, explanation_url, next_poll, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (certificate_id) DO UPDATE SET source = excluded.source,
                 window_start = excluded.window_start, window_end = excluded.window_end,
                 renew_at = excluded.renew_at, explanation_url = excluded.explanation_url,
                 next_poll = excluded.next_poll, updated_at = excluded.updated_at",
        )
        .bind(certificate_id)
        .bind(plan.source.as_str())
        .bind(to_ms(plan.window_start))
        .bind(to_ms(plan.window_end))
        .bind(to_ms(plan.renew_at))
        .bind(plan.explanation_url.clone())
        .bind(plan.next_poll.map(to_ms))
        .bind(to_ms(at))
        .execute(&self.store.pool)
        .await?;
        Ok(RenewalPlan {
            updated_at: at,
            ..plan.clone()
        })
    }
}
