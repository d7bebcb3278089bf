//! What a domain list shows beside each registration, for a page of registrations at once
//! (a few queries per page, not per row): the newest policy's mode, the certificate's end
//! of validity, and the recent report totals.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::Result;
use crate::clock::{from_ms, now, to_ms};
use crate::db::Store;
use crate::ids::{DomainId, TenantId};

/// One registration's overview.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainOverview {
    /// The newest policy version's mode.
    pub mode: Option<String>,
    /// The end of validity of the certificate valid longest, if one is valid.
    pub certificate_not_after: Option<OffsetDateTime>,
    /// Successful sessions in counted reports since the day asked for (unverified HTTPS
    /// reports only when the tenant counts them).
    pub successful_sessions: i64,
    /// Failed sessions in the same reports.
    pub failed_sessions: i64,
    /// Counted reports since the day asked for.
    pub reports: i64,
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// The overviews of the tenant's registrations `ids` (at most a few hundred: one page),
    /// report totals from `from_day` (UTC day number) on. Registrations with nothing to
    /// show, and ids that name another tenant's, get defaults.
    pub async fn domain_overviews(
        &self,
        tenant: &TenantId,
        ids: &[DomainId],
        from_day: i64,
    ) -> Result<HashMap<String, DomainOverview>> {
        let mut out: HashMap<String, DomainOverview> = ids
            .iter()
            .map(|id| (id.as_str().to_owned(), DomainOverview::default()))
            .collect();
        if ids.is_empty() {
            return Ok(out);
        }
        let n = ids.len();
        let list = placeholders(1, n);
        // The wall: only the tenant's registrations among `ids` (the tenant is the last
        // value bound to each query).
        let mine = |tenant_param: usize| {
            format!(
                "domain_id IN (SELECT id FROM domains \
                 WHERE id IN ({list}) AND tenant_id = ${tenant_param})"
            )
        };
        // Newest version per registration: the greatest (created_at, policy_id).
        let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(format!(
            "SELECT v.domain_id, v.mode FROM policy_versions v
             WHERE v.{}
               AND NOT EXISTS (SELECT 1 FROM policy_versions w
                   WHERE w.domain_id = v.domain_id
                     AND (w.created_at > v.created_at
                          OR (w.created_at = v.created_at AND w.policy_id > v.policy_id)))",
            mine(n + 1)
        )));
        for id in ids {
            q = q.bind(id.as_str().to_owned());
        }
        let modes = q.bind(tenant.as_str()).fetch_all(&self.pool).await?;
        for (id, mode) in modes {
            if let Some(o) = out.get_mut(&id) {
                o.mode = Some(mode);
            }
        }
        let mut q = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(format!(
            "SELECT domain_id, MAX(not_after) FROM certificates
             WHERE {} AND not_after > ${} GROUP BY domain_id",
            mine(n + 2),
            n + 1
        )));
        for id in ids {
            q = q.bind(id.as_str().to_owned());
        }
        let certs = q
            .bind(to_ms(now()))
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await?;
        for (id, not_after) in certs {
            if let Some(o) = out.get_mut(&id) {
                o.certificate_not_after = Some(from_ms(not_after)?);
            }
        }
        let mut q = sqlx::query_as::<_, (String, i64, i64, i64)>(sqlx::AssertSqlSafe(format!(
            "SELECT domain_id, CAST(SUM(reports) AS BIGINT),
                    CAST(SUM(successful_sessions) AS BIGINT), CAST(SUM(failed_sessions) AS BIGINT)
             FROM tlsrpt_daily WHERE {} AND day >= ${} AND {}
             GROUP BY domain_id",
            mine(n + 2),
            n + 1,
            crate::report_origin::counted_rollups()
        )));
        for id in ids {
            q = q.bind(id.as_str().to_owned());
        }
        let totals = q
            .bind(from_day)
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await?;
        for (id, reports, ok, failed) in totals {
            if let Some(o) = out.get_mut(&id) {
                o.reports = reports;
                o.successful_sessions = ok;
                o.failed_sessions = failed;
            }
        }
        Ok(out)
    }
}
