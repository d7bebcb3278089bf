//! The daily rollups of counted reports, kept on ingest so that summaries never scan reports:
//! reports and sessions per (registration, day, organization, trust), failed sessions per
//! (…, result type, receiving MX). A report enters them once; a better copy that replaces it
//! takes its place (see [`crate::ReportOrigin`]).

use std::collections::BTreeMap;

use crate::Result;
use crate::report_origin::Trust;

/// The rollup rows one report counts in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RollupKey<'a> {
    /// The registration.
    pub(crate) domain_id: &'a str,
    /// The UTC day of the report's start.
    pub(crate) day: i64,
    /// The reporting organization.
    pub(crate) organization: &'a str,
    /// Authenticated or unverified.
    pub(crate) trust: Trust,
}

/// What one report adds to its rollups.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Contribution<'a> {
    /// Successful sessions (the largest policy's).
    pub(crate) successful_sessions: i64,
    /// Failed sessions (the largest policy's).
    pub(crate) failed_sessions: i64,
    /// Failed sessions per (result type, receiving MX or '').
    pub(crate) failures: &'a [(String, String, i64)],
}

/// Adds one counted report to the rollups.
pub(crate) async fn add(
    tx: &mut sqlx::AnyConnection,
    key: RollupKey<'_>,
    c: Contribution<'_>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO tlsrpt_daily (domain_id, day, organization, trust, reports,
                 successful_sessions, failed_sessions)
             VALUES ($1, $2, $3, $4, 1, $5, $6)
             ON CONFLICT (domain_id, day, organization, trust) DO UPDATE SET
                 reports = tlsrpt_daily.reports + 1,
                 successful_sessions = tlsrpt_daily.successful_sessions
                     + excluded.successful_sessions,
                 failed_sessions = tlsrpt_daily.failed_sessions + excluded.failed_sessions",
    )
    .bind(key.domain_id)
    .bind(key.day)
    .bind(key.organization)
    .bind(key.trust.as_str())
    .bind(c.successful_sessions)
    .bind(c.failed_sessions)
    .execute(&mut *tx)
    .await?;
    for (result, mx, n) in c.failures {
        sqlx::query(
            "INSERT INTO tlsrpt_daily_failures (domain_id, day, organization, trust,
                     result_type, receiving_mx, failed_sessions)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (domain_id, day, organization, trust, result_type, receiving_mx)
                 DO UPDATE SET failed_sessions =
                     tlsrpt_daily_failures.failed_sessions + excluded.failed_sessions",
        )
        .bind(key.domain_id)
        .bind(key.day)
        .bind(key.organization)
        .bind(key.trust.as_str())
        .bind(result)
        .bind(mx)
        .bind(*n)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Takes one counted report out of the rollups again (it is being replaced by a better
/// copy); rows left with nothing are deleted.
pub(crate) async fn subtract(
    tx: &mut sqlx::AnyConnection,
    key: RollupKey<'_>,
    c: Contribution<'_>,
) -> Result<()> {
    const KEY: &str = "domain_id = $1 AND day = $2 AND organization = $3 AND trust = $4";
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE tlsrpt_daily SET reports = reports - 1,
             successful_sessions = successful_sessions - $5,
             failed_sessions = failed_sessions - $6
         WHERE {KEY}"
    )))
    .bind(key.domain_id)
    .bind(key.day)
    .bind(key.organization)
    .bind(key.trust.as_str())
    .bind(c.successful_sessions)
    .bind(c.failed_sessions)
    .execute(&mut *tx)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM tlsrpt_daily WHERE {KEY} AND reports <= 0"
    )))
    .bind(key.domain_id)
    .bind(key.day)
    .bind(key.organization)
    .bind(key.trust.as_str())
    .execute(&mut *tx)
    .await?;
    for (result, mx, n) in c.failures {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE tlsrpt_daily_failures SET failed_sessions = failed_sessions - $7
             WHERE {KEY} AND result_type = $5 AND receiving_mx = $6"
        )))
        .bind(key.domain_id)
        .bind(key.day)
        .bind(key.organization)
        .bind(key.trust.as_str())
        .bind(result)
        .bind(mx)
        .bind(*n)
        .execute(&mut *tx)
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM tlsrpt_daily_failures
             WHERE {KEY} AND result_type = $5 AND receiving_mx = $6 AND failed_sessions <= 0"
        )))
        .bind(key.domain_id)
        .bind(key.day)
        .bind(key.organization)
        .bind(key.trust.as_str())
        .bind(result)
        .bind(mx)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// A stored report's failed sessions per (result type, receiving MX or ''), rebuilt from its
/// failure rows the way ingest computed them: summed within a policy, the largest over its
/// policies (they describe the same sessions).
pub(crate) async fn stored_failures(
    tx: &mut sqlx::AnyConnection,
    report_id: &str,
) -> Result<Vec<(String, String, i64)>> {
    let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT policy_idx, result_type,
                COALESCE(receiving_mx_hostname, receiving_ip, '') AS mx,
                CAST(SUM(failed_sessions) AS BIGINT)
         FROM tlsrpt_failures WHERE report_id = $1
         GROUP BY policy_idx, result_type, COALESCE(receiving_mx_hostname, receiving_ip, '')",
    )
    .bind(report_id)
    .fetch_all(&mut *tx)
    .await?;
    Ok(largest_per_key(rows))
}

/// The largest count per (result type, MX) over the policies.
fn largest_per_key(rows: Vec<(i64, String, String, i64)>) -> Vec<(String, String, i64)> {
    let mut best: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (_, result, mx, n) in rows {
        let e = best.entry((result, mx)).or_default();
        *e = (*e).max(n);
    }
    best.into_iter().map(|((r, m), n)| (r, m, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_the_largest_over_policies_not_their_sum() {
        let rows = vec![
            (0, "certificate-expired".to_owned(), "mx1".to_owned(), 4),
            (1, "certificate-expired".to_owned(), "mx1".to_owned(), 6),
            (1, "sts-policy-fetch-error".to_owned(), String::new(), 2),
        ];
        assert_eq!(
            largest_per_key(rows),
            vec![
                ("certificate-expired".to_owned(), "mx1".to_owned(), 6),
                ("sts-policy-fetch-error".to_owned(), String::new(), 2),
            ]
        );
    }
}
