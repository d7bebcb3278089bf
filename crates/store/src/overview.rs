//! What a domain list shows beside each registration, for a page of registrations at once
//! (a few queries per page, not per row): the newest policy's mode, the certificate's end
//! of validity, and the recent report totals.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::Result;
use crate::clock::{from_ms, now, to_ms};
use crate::db::Store;
use crate::ids::DomainId;

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
    /// The overviews of `ids` (at most a few hundred: one page), report totals from
    /// `from_day` (UTC day number) on. Registrations with nothing to show get defaults.
    pub async fn domain_overviews(
        &self,
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
        let list = placeholders(1, ids.len());
        // Newest version per registration: the greatest (created_at, policy_id).
        let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(format!(
            "SELECT v.domain_id, v.mode FROM policy_versions v
             WHERE v.domain_id IN ({list})
               AND NOT EXISTS (SELECT 1 FROM policy_versions w
                   WHERE w.domain_id = v.domain_id
                     AND (w.created_at > v.created_at
                          OR (w.created_at = v.created_at AND w.policy_id > v.policy_id)))"
        )));
        for id in ids {
            q = q.bind(id.as_str().to_owned());
        }
        let modes = q.fetch_all(&self.pool).await?;
        for (id, mode) in modes {
            if let Some(o) = out.get_mut(&id) {
                o.mode = Some(mode);
            }
        }
        let n = ids.len();
        let mut q = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(format!(
            "SELECT domain_id, MAX(not_after) FROM certificates
             WHERE domain_id IN ({list}) AND not_after > ${} GROUP BY domain_id",
            n + 1
        )));
        for id in ids {
            q = q.bind(id.as_str().to_owned());
        }
        for (id, not_after) in q.bind(to_ms(now())).fetch_all(&self.pool).await? {
            if let Some(o) = out.get_mut(&id) {
                o.certificate_not_after = Some(from_ms(not_after)?);
            }
        }
        let mut q = sqlx::query_as::<_, (String, i64, i64, i64)>(sqlx::AssertSqlSafe(format!(
            "SELECT domain_id, CAST(SUM(reports) AS BIGINT),
                    CAST(SUM(successful_sessions) AS BIGINT), CAST(SUM(failed_sessions) AS BIGINT)
             FROM tlsrpt_daily WHERE domain_id IN ({list}) AND day >= ${} AND {}
             GROUP BY domain_id",
            n + 1,
            crate::report_origin::counted_rollups()
        )));
        for id in ids {
            q = q.bind(id.as_str().to_owned());
        }
        for (id, reports, ok, failed) in q.bind(from_day).fetch_all(&self.pool).await? {
            if let Some(o) = out.get_mut(&id) {
                o.reports = reports;
                o.successful_sessions = ok;
                o.failed_sessions = failed;
            }
        }
        Ok(out)
    }
}
