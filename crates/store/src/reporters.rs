//! Who usually reports on a registration, and who of them went quiet. A reporting organization
//! (Google, Microsoft …) that sent TLS reports on many days and then none for several means
//! that its mail stopped arriving, or that the domain's TLS-RPT record broke: either way the
//! customer should hear of it. The verifier announces each silence once; this module keeps the
//! habits and what was announced.

use time::OffsetDateTime;

use crate::Result;
use crate::all_tenants::{domain_of_tenant, tenant_owns_domain};
use crate::clock::{from_ms, to_ms};
use crate::db::Store;
use crate::ids::{DomainId, TenantId};
use crate::report_origin::COUNTING_UNVERIFIED;
use crate::reports::utc_day;

/// One organization's reports on a registration in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReporterActivity {
    /// The reporting organization, as its reports name it.
    pub organization: String,
    /// On how many distinct UTC days (by report period) it reported.
    pub days: i64,
    /// When its newest report arrived.
    pub last_received: OffsetDateTime,
}

/// An announced silence: the organization and when its last report had arrived then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    /// The organization.
    pub organization: String,
    /// When its last report before the silence arrived.
    pub last_received: OffsetDateTime,
}

impl Store {
    /// Per organization, the counted reports of the tenant's registration (unverified HTTPS
    /// ones only where the tenant counts them, as the charts do) whose period started
    /// at or after `since`: on how many days, and the newest arrival. Empty for another
    /// tenant's registration.
    pub async fn reporter_activity(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
        since: OffsetDateTime,
    ) -> Result<Vec<ReporterActivity>> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT organization, COUNT(DISTINCT day), MAX(received_ms) FROM tlsrpt_reports
             WHERE domain_id = $1 AND {} AND day >= $3 AND counted <> 0
               AND (origin <> 'unverified_https' OR domain_id IN {COUNTING_UNVERIFIED})
             GROUP BY organization ORDER BY organization",
            domain_of_tenant(1, 2)
        )))
        .bind(domain.as_str())
        .bind(tenant.as_str())
        .bind(utc_day(since))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(organization, days, last)| {
                Ok(ReporterActivity {
                    organization,
                    days,
                    last_received: from_ms(last)?,
                })
            })
            .collect()
    }

    /// Claims the look for silent reporters on the tenant's registration at `now`: true (and
    /// recorded) when the last look was at least `every` ago or never, false otherwise, so
    /// that one worker looks once per period however often the registration is checked.
    pub async fn claim_reporter_check(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
        now: OffsetDateTime,
        every: std::time::Duration,
    ) -> Result<bool> {
        let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
        let now_ms = to_ms(now);
        let done = sqlx::query(
            "UPDATE domains SET reporters_checked_ms = $3
             WHERE id = $1 AND tenant_id = $2
               AND (reporters_checked_ms IS NULL OR reporters_checked_ms <= $4)",
        )
        .bind(domain.as_str())
        .bind(tenant.as_str())
        .bind(now_ms)
        .bind(now_ms.saturating_sub(every_ms))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The silences announced for the tenant's registration and not yet over.
    pub async fn reporter_silences(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
    ) -> Result<Vec<Silence>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT organization, last_received_ms FROM reporter_silences
             WHERE domain_id = $1 AND {} ORDER BY organization",
            domain_of_tenant(1, 2)
        )))
        .bind(domain.as_str())
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(organization, last)| {
                Ok(Silence {
                    organization,
                    last_received: from_ms(last)?,
                })
            })
            .collect()
    }

    /// Replaces the silences of the tenant's registration with `now`: those that ended are
    /// forgotten, so that a later silence of the same organization is announced again.
    pub async fn set_reporter_silences(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
        now: &[Silence],
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        if !tenant_owns_domain(&mut tx, tenant, domain.as_str()).await? {
            return Ok(());
        }
        sqlx::query("DELETE FROM reporter_silences WHERE domain_id = $1")
            .bind(domain.as_str())
            .execute(&mut *tx)
            .await?;
        for silence in now {
            sqlx::query(
                "INSERT INTO reporter_silences (domain_id, organization, last_received_ms)
                 VALUES ($1, $2, $3)",
            )
            .bind(domain.as_str())
            .bind(&silence.organization)
            .bind(to_ms(silence.last_received))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
