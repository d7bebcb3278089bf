//! TLS-RPT reports: ingest (raw, normalized rows and daily rollups in one transaction,
//! deduplicated across transports) and the queries behind the report list and summaries.

use time::OffsetDateTime;

use crate::Result;
use crate::clock::{from_ms, now, to_ms};
use crate::db::Store;
use crate::error::StoreError;
use crate::ids::{DomainId, TenantId, row_id};

/// A parsed report to store for one registration.
#[derive(Debug, Clone)]
pub struct NewReport {
    /// The registration the report was delivered for.
    pub domain_id: DomainId,
    /// The reporting organization.
    pub organization: String,
    /// The reporter's report id.
    pub report_id: String,
    /// The report's (first) policy domain; part of the deduplication key.
    pub policy_domain: Option<String>,
    /// `contact-info`.
    pub contact: Option<String>,
    /// Start of the reporting period; its UTC date is the report's day.
    pub start: OffsetDateTime,
    /// End of the reporting period.
    pub end: OffsetDateTime,
    /// How it arrived: `upload`, `https` or `smtp`.
    pub transport: String,
    /// The media type it was declared with.
    pub media_type: String,
    /// The declared media type is not an RFC 8460 one for what the body is.
    pub media_type_flagged: bool,
    /// The policy domain is not the registration's name.
    pub domain_mismatch: bool,
    /// Whether the report enters counts and summaries (mismatched reports do not).
    pub counted: bool,
    /// For mail: the DKIM verdict (`pass`, `fail`, `none`, `length_limited`).
    pub dkim: Option<String>,
    /// Where the delivery and the report disagree (e.g. `submitter_mismatch`).
    pub flags: Vec<String>,
    /// Successful sessions of the report (its largest policy's count).
    pub successful_sessions: i64,
    /// Failed sessions of the report (its largest policy's count).
    pub failed_sessions: i64,
    /// Failed sessions per (result type, receiving MX or ''), not added across policies.
    pub failure_rollup: Vec<(String, String, i64)>,
    /// The raw report, gzip-compressed.
    pub raw_gzip: Vec<u8>,
    /// The normalized policies.
    pub policies: Vec<NewReportPolicy>,
}

/// One policy of a [`NewReport`].
#[derive(Debug, Clone)]
pub struct NewReportPolicy {
    /// `sts`, `tlsa`, `no-policy-found` or as sent.
    pub policy_type: String,
    /// `policy-domain`.
    pub policy_domain: Option<String>,
    /// `policy-string` lines.
    pub policy_strings: Vec<String>,
    /// `mx-host` patterns.
    pub mx_hosts: Vec<String>,
    /// `total-successful-session-count`.
    pub successful_sessions: i64,
    /// `total-failure-session-count`.
    pub failed_sessions: i64,
    /// `failure-details`.
    pub failures: Vec<NewReportFailure>,
}

/// One failure detail of a [`NewReportPolicy`].
#[derive(Debug, Clone)]
pub struct NewReportFailure {
    /// `result-type` as sent (lowercased).
    pub result_type: String,
    /// `sending-mta-ip`.
    pub sending_mta_ip: Option<String>,
    /// `receiving-mx-hostname`.
    pub receiving_mx_hostname: Option<String>,
    /// `receiving-mx-helo`.
    pub receiving_mx_helo: Option<String>,
    /// `receiving-ip`.
    pub receiving_ip: Option<String>,
    /// `failed-session-count`.
    pub failed_sessions: i64,
    /// `additional-information`.
    pub additional_information: Option<String>,
    /// `failure-reason-code`.
    pub failure_reason_code: Option<String>,
}

/// What an ingest did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportIngest {
    /// Stored as a new report with this id.
    Stored(String),
    /// The same (organization, report id, policy domain) was already stored under this id;
    /// nothing was changed.
    Duplicate(String),
}

/// A stored report as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    /// stsd's id of the report.
    pub id: String,
    /// The reporting organization.
    pub organization: String,
    /// The reporter's report id.
    pub report_id: String,
    /// The policy domain ('' when the report named none).
    pub policy_domain: String,
    /// `contact-info`.
    pub contact: Option<String>,
    /// Start of the reporting period.
    pub start: OffsetDateTime,
    /// End of the reporting period.
    pub end: OffsetDateTime,
    /// `upload`, `https` or `smtp`.
    pub transport: String,
    /// The declared media type.
    pub media_type: String,
    /// The declared media type did not match the body.
    pub media_type_flagged: bool,
    /// The policy domain is not the registration's name.
    pub domain_mismatch: bool,
    /// Whether the report is in counts and summaries.
    pub counted: bool,
    /// Successful sessions.
    pub successful_sessions: i64,
    /// Failed sessions.
    pub failed_sessions: i64,
    /// When stsd received it.
    pub received_at: OffsetDateTime,
    /// For mail: the DKIM verdict (`pass`, `fail`, `none`, `length_limited`).
    pub dkim: Option<String>,
    /// Where the delivery and the report disagree (e.g. `submitter_mismatch`).
    pub flags: Vec<String>,
}

/// One report as stored: the normalized rows and the raw report.
#[derive(Debug, Clone)]
pub struct ReportDetail {
    /// The report.
    pub report: StoredReport,
    /// Its policies with their failure details.
    pub policies: Vec<NewReportPolicy>,
    /// The report as received (JSON), gzip-compressed.
    pub raw_gzip: Vec<u8>,
}

/// Which reports to list.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    /// First UTC day (days since 1970-01-01), inclusive.
    pub from_day: Option<i64>,
    /// Last UTC day, inclusive.
    pub to_day: Option<i64>,
    /// Only this reporting organization.
    pub organization: Option<String>,
}

/// Whose reports a summary covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportScope<'a> {
    /// One registration.
    Domain(&'a DomainId),
    /// Every registration of a tenant.
    Tenant(&'a TenantId),
}

impl ReportScope<'_> {
    /// The rollup rows of the scope, with its id as `$1`.
    fn condition(self) -> &'static str {
        match self {
            ReportScope::Domain(_) => "domain_id = $1",
            ReportScope::Tenant(_) => "domain_id IN (SELECT id FROM domains WHERE tenant_id = $1)",
        }
    }

    fn id(self) -> String {
        match self {
            ReportScope::Domain(d) => d.as_str().to_owned(),
            ReportScope::Tenant(t) => t.as_str().to_owned(),
        }
    }
}

/// How to group report totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotalsBy {
    /// One row for the whole range (key '').
    All,
    /// Per UTC day (key: the day number).
    Day,
    /// Per reporting organization.
    Organization,
    /// Per registration (key: the domain name).
    Domain,
}

/// How to group failed sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailuresBy {
    /// Per result type.
    Result,
    /// Per receiving MX host (or IP; '' when unknown).
    Mx,
}

/// Reports and sessions of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTotals {
    /// The group key (see [`TotalsBy`]).
    pub key: String,
    /// Counted reports.
    pub reports: i64,
    /// Successful sessions.
    pub successful_sessions: i64,
    /// Failed sessions.
    pub failed_sessions: i64,
}

#[derive(sqlx::FromRow)]
struct ReportRow {
    id: String,
    organization: String,
    report_id: String,
    policy_domain: String,
    contact: Option<String>,
    start_ms: i64,
    end_ms: i64,
    transport: String,
    media_type: String,
    media_type_flagged: i64,
    domain_mismatch: i64,
    counted: i64,
    successful_sessions: i64,
    failed_sessions: i64,
    received_ms: i64,
    dkim: Option<String>,
    flags: String,
}

const REPORT_COLUMNS: &str = "id, organization, report_id, policy_domain, contact, start_ms, \
     end_ms, transport, media_type, media_type_flagged, domain_mismatch, counted, \
     successful_sessions, failed_sessions, received_ms, dkim, flags";

fn report_from_row(r: ReportRow) -> Result<StoredReport> {
    Ok(StoredReport {
        id: r.id,
        organization: r.organization,
        report_id: r.report_id,
        policy_domain: r.policy_domain,
        contact: r.contact,
        start: from_ms(r.start_ms)?,
        end: from_ms(r.end_ms)?,
        transport: r.transport,
        media_type: r.media_type,
        media_type_flagged: r.media_type_flagged != 0,
        domain_mismatch: r.domain_mismatch != 0,
        counted: r.counted != 0,
        successful_sessions: r.successful_sessions,
        failed_sessions: r.failed_sessions,
        received_at: from_ms(r.received_ms)?,
        dkim: r.dkim,
        flags: r
            .flags
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Adds a counted report to the daily rollups.
async fn add_to_rollups(tx: &mut sqlx::AnyConnection, r: &NewReport, day: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO tlsrpt_daily (domain_id, day, organization, reports,
                 successful_sessions, failed_sessions)
             VALUES ($1, $2, $3, 1, $4, $5)
             ON CONFLICT (domain_id, day, organization) DO UPDATE SET
                 reports = tlsrpt_daily.reports + 1,
                 successful_sessions = tlsrpt_daily.successful_sessions
                     + excluded.successful_sessions,
                 failed_sessions = tlsrpt_daily.failed_sessions + excluded.failed_sessions",
    )
    .bind(r.domain_id.as_str())
    .bind(day)
    .bind(&r.organization)
    .bind(r.successful_sessions)
    .bind(r.failed_sessions)
    .execute(&mut *tx)
    .await?;
    for (result, mx, n) in &r.failure_rollup {
        sqlx::query(
            "INSERT INTO tlsrpt_daily_failures (domain_id, day, organization,
                     result_type, receiving_mx, failed_sessions)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (domain_id, day, organization, result_type, receiving_mx)
                 DO UPDATE SET failed_sessions =
                     tlsrpt_daily_failures.failed_sessions + excluded.failed_sessions",
        )
        .bind(r.domain_id.as_str())
        .bind(day)
        .bind(&r.organization)
        .bind(result)
        .bind(mx)
        .bind(*n)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The UTC day (days since 1970-01-01) of a time.
pub(crate) fn utc_day(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().div_euclid(86_400)
}

impl Store {
    /// Stores a report with its rows and, when it is counted, adds it to the daily rollups,
    /// all in one transaction. A report whose (organization, report id, policy domain) is
    /// already stored for the registration changes nothing and answers
    /// [`ReportIngest::Duplicate`].
    pub async fn ingest_report(&self, r: &NewReport) -> Result<ReportIngest> {
        let id = row_id();
        let policy_domain = r.policy_domain.clone().unwrap_or_default();
        let day = utc_day(r.start);
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO tlsrpt_reports (id, domain_id, organization, report_id, policy_domain,
                 contact, start_ms, end_ms, day, transport, media_type, media_type_flagged,
                 domain_mismatch, counted, successful_sessions, failed_sessions, raw_gzip,
                 received_ms, dkim, flags)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                 $18, $19, $20)
             ON CONFLICT (domain_id, organization, report_id, policy_domain) DO NOTHING",
        )
        .bind(&id)
        .bind(r.domain_id.as_str())
        .bind(&r.organization)
        .bind(&r.report_id)
        .bind(&policy_domain)
        .bind(r.contact.as_deref())
        .bind(to_ms(r.start))
        .bind(to_ms(r.end))
        .bind(day)
        .bind(&r.transport)
        .bind(&r.media_type)
        .bind(i64::from(r.media_type_flagged))
        .bind(i64::from(r.domain_mismatch))
        .bind(i64::from(r.counted))
        .bind(r.successful_sessions)
        .bind(r.failed_sessions)
        .bind(r.raw_gzip.clone())
        .bind(to_ms(now()))
        .bind(r.dkim.as_deref())
        .bind(r.flags.join(","))
        .execute(&mut *tx)
        .await;
        let inserted = match inserted {
            Ok(done) => done.rows_affected(),
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                return Err(StoreError::NotFound("domain"));
            }
            Err(e) => return Err(e.into()),
        };
        if inserted == 0 {
            let (existing, counted): (String, i64) = sqlx::query_as(
                "SELECT id, counted FROM tlsrpt_reports WHERE domain_id = $1 AND organization = $2
                 AND report_id = $3 AND policy_domain = $4",
            )
            .bind(r.domain_id.as_str())
            .bind(&r.organization)
            .bind(&r.report_id)
            .bind(&policy_domain)
            .fetch_one(&mut *tx)
            .await?;
            // The same report, now from a source that counts (a signed copy after an unsigned
            // one, or over HTTPS): it enters the counts once, as if it had come so first.
            if counted == 0 && r.counted {
                let upgraded = sqlx::query(
                    "UPDATE tlsrpt_reports SET counted = 1, dkim = $1, flags = $2
                     WHERE id = $3 AND counted = 0",
                )
                .bind(r.dkim.as_deref())
                .bind(r.flags.join(","))
                .bind(&existing)
                .execute(&mut *tx)
                .await?;
                if upgraded.rows_affected() == 1 {
                    add_to_rollups(&mut tx, r, day).await?;
                    tx.commit().await?;
                }
            }
            return Ok(ReportIngest::Duplicate(existing));
        }
        for (pi, p) in (0_i64..).zip(&r.policies) {
            sqlx::query(
                "INSERT INTO tlsrpt_policies (report_id, idx, policy_type, policy_domain,
                     policy_strings, mx_hosts, successful_sessions, failed_sessions)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(pi)
            .bind(&p.policy_type)
            .bind(p.policy_domain.as_deref())
            .bind(p.policy_strings.join("\n"))
            .bind(p.mx_hosts.join("\n"))
            .bind(p.successful_sessions)
            .bind(p.failed_sessions)
            .execute(&mut *tx)
            .await?;
            for (fi, f) in (0_i64..).zip(&p.failures) {
                sqlx::query(
                    "INSERT INTO tlsrpt_failures (report_id, policy_idx, idx, result_type,
                         sending_mta_ip, receiving_mx_hostname, receiving_mx_helo, receiving_ip,
                         failed_sessions, additional_information, failure_reason_code)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&id)
                .bind(pi)
                .bind(fi)
                .bind(&f.result_type)
                .bind(f.sending_mta_ip.as_deref())
                .bind(f.receiving_mx_hostname.as_deref())
                .bind(f.receiving_mx_helo.as_deref())
                .bind(f.receiving_ip.as_deref())
                .bind(f.failed_sessions)
                .bind(f.additional_information.as_deref())
                .bind(f.failure_reason_code.as_deref())
                .execute(&mut *tx)
                .await?;
            }
        }
        if r.counted {
            add_to_rollups(&mut tx, r, day).await?;
        }
        tx.commit().await?;
        Ok(ReportIngest::Stored(id))
    }

    /// A registration's reports, newest start first, `limit` from `offset`.
    pub async fn reports(
        &self,
        domain: &DomainId,
        filter: &ReportFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<StoredReport>> {
        let rows: Vec<ReportRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REPORT_COLUMNS} FROM tlsrpt_reports
             WHERE domain_id = $1 AND day >= $2 AND day <= $3
               AND ($4 = '' OR organization = $4)
             ORDER BY start_ms DESC, id DESC LIMIT $5 OFFSET $6"
        )))
        .bind(domain.as_str())
        .bind(filter.from_day.unwrap_or(i64::MIN))
        .bind(filter.to_day.unwrap_or(i64::MAX))
        .bind(filter.organization.clone().unwrap_or_default())
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(report_from_row).collect()
    }

    /// Counted reports and sessions of a registration or tenant from `from_day` to `to_day`
    /// (inclusive), from the daily rollups.
    pub async fn report_totals(
        &self,
        scope: ReportScope<'_>,
        from_day: i64,
        to_day: i64,
        by: TotalsBy,
    ) -> Result<Vec<ReportTotals>> {
        let key = match by {
            TotalsBy::All => "''",
            TotalsBy::Day => "CAST(day AS TEXT)",
            TotalsBy::Organization => "organization",
            TotalsBy::Domain => "(SELECT name FROM domains WHERE domains.id = domain_id)",
        };
        let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {key} AS k, CAST(COALESCE(SUM(reports), 0) AS BIGINT),
                    CAST(COALESCE(SUM(successful_sessions), 0) AS BIGINT),
                    CAST(COALESCE(SUM(failed_sessions), 0) AS BIGINT)
             FROM tlsrpt_daily WHERE {} AND day >= $2 AND day <= $3
             GROUP BY k ORDER BY k",
            scope.condition()
        )))
        .bind(scope.id())
        .bind(from_day)
        .bind(to_day)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(key, reports, ok, failed)| ReportTotals {
                key,
                reports,
                successful_sessions: ok,
                failed_sessions: failed,
            })
            .collect())
    }

    /// Failed sessions of a registration's or tenant's counted reports from `from_day` to
    /// `to_day` (inclusive) per result type or receiving MX, most failures first.
    pub async fn report_failures(
        &self,
        scope: ReportScope<'_>,
        from_day: i64,
        to_day: i64,
        by: FailuresBy,
    ) -> Result<Vec<(String, i64)>> {
        let key = match by {
            FailuresBy::Result => "result_type",
            FailuresBy::Mx => "receiving_mx",
        };
        let rows: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {key} AS k, CAST(SUM(failed_sessions) AS BIGINT) AS n
             FROM tlsrpt_daily_failures WHERE {} AND day >= $2 AND day <= $3
             GROUP BY k ORDER BY n DESC, k",
            scope.condition()
        )))
        .bind(scope.id())
        .bind(from_day)
        .bind(to_day)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    /// When the registration's newest report arrived (any report, counted or not).
    pub async fn last_report_received(&self, domain: &DomainId) -> Result<Option<OffsetDateTime>> {
        let at: Option<i64> =
            sqlx::query_scalar("SELECT MAX(received_ms) FROM tlsrpt_reports WHERE domain_id = $1")
                .bind(domain.as_str())
                .fetch_one(&self.pool)
                .await?;
        at.map(from_ms).transpose()
    }

    /// One report of a registration with its policies, failure details and raw gzip.
    pub async fn report_detail(&self, domain: &DomainId, id: &str) -> Result<Option<ReportDetail>> {
        let row: Option<ReportRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {REPORT_COLUMNS} FROM tlsrpt_reports WHERE domain_id = $1 AND id = $2"
        )))
        .bind(domain.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let report = report_from_row(row)?;
        let raw_gzip: Vec<u8> =
            sqlx::query_scalar("SELECT raw_gzip FROM tlsrpt_reports WHERE id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        type PolicyRow = (i64, String, Option<String>, String, String, i64, i64);
        let policies: Vec<PolicyRow> = sqlx::query_as(
            "SELECT idx, policy_type, policy_domain, policy_strings, mx_hosts,
                    successful_sessions, failed_sessions
             FROM tlsrpt_policies WHERE report_id = $1 ORDER BY idx",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        type FailureRow = (
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
            Option<String>,
            Option<String>,
        );
        let failures: Vec<FailureRow> = sqlx::query_as(
            "SELECT policy_idx, result_type, sending_mta_ip, receiving_mx_hostname,
                    receiving_mx_helo, receiving_ip, failed_sessions, additional_information,
                    failure_reason_code
             FROM tlsrpt_failures WHERE report_id = $1 ORDER BY policy_idx, idx",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let lines = |s: String| -> Vec<String> {
            s.split('\n')
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let policies = policies
            .into_iter()
            .map(
                |(idx, policy_type, policy_domain, strings, mx, ok, failed)| NewReportPolicy {
                    policy_type,
                    policy_domain,
                    policy_strings: lines(strings),
                    mx_hosts: lines(mx),
                    successful_sessions: ok,
                    failed_sessions: failed,
                    failures: failures
                        .iter()
                        .filter(|f| f.0 == idx)
                        .map(|f| NewReportFailure {
                            result_type: f.1.clone(),
                            sending_mta_ip: f.2.clone(),
                            receiving_mx_hostname: f.3.clone(),
                            receiving_mx_helo: f.4.clone(),
                            receiving_ip: f.5.clone(),
                            failed_sessions: f.6,
                            additional_information: f.7.clone(),
                            failure_reason_code: f.8.clone(),
                        })
                        .collect(),
                },
            )
            .collect();
        Ok(Some(ReportDetail {
            report,
            policies,
            raw_gzip,
        }))
    }

    /// How many days a tenant's reports are kept.
    pub async fn report_retention_days(&self, tenant: &TenantId) -> Result<i64> {
        let days: Option<i64> =
            sqlx::query_scalar("SELECT report_retention_days FROM tenants WHERE id = $1")
                .bind(tenant.as_str())
                .fetch_optional(&self.pool)
                .await?;
        days.ok_or(StoreError::NotFound("tenant"))
    }

    /// Sets how many days a tenant's reports are kept.
    pub async fn set_report_retention_days(&self, tenant: &TenantId, days: i64) -> Result<()> {
        let done = sqlx::query("UPDATE tenants SET report_retention_days = $1 WHERE id = $2")
            .bind(days)
            .bind(tenant.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("tenant"));
        }
        Ok(())
    }

    /// Deletes the reports of every tenant's registrations that started before the tenant's
    /// retention period (`tenants.report_retention_days`), with their rows; the daily
    /// rollups stay, so summaries keep their history. Returns how many were deleted.
    pub async fn purge_expired_reports(&self, at: OffsetDateTime) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM tlsrpt_reports WHERE id IN (
                 SELECT r.id FROM tlsrpt_reports r
                 JOIN domains d ON d.id = r.domain_id
                 JOIN tenants t ON t.id = d.tenant_id
                 WHERE r.start_ms < $1 - CAST(t.report_retention_days AS BIGINT) * 86400000)",
        )
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
