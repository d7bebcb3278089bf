//! TLS-RPT reports: ingest (raw, normalized rows and daily rollups in one transaction,
//! deduplicated across transports, a better copy replacing a weaker one) and the queries
//! behind the report list and summaries.

use time::OffsetDateTime;

use crate::Result;
use crate::all_tenants::{AllTenants, domain_of_tenant, tenant_owns_domain};
use crate::clock::{from_ms, now, to_ms};
use crate::db::Store;
use crate::error::StoreError;
use crate::ids::{DomainId, TenantId, row_id};
use crate::report_origin::{COUNTING_UNVERIFIED, ReportOrigin, counted_rollups};
use crate::report_rollups::{self, Contribution, RollupKey};

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
    /// Whether the report enters the daily rollups: its origin can count and it is about the
    /// registration's domain. (Whether an unverified HTTPS report shows in summaries is its
    /// tenant's choice, made when reading.)
    pub counted: bool,
    /// How its origin was established.
    pub origin: ReportOrigin,
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
    /// Whether the report is in its tenant's counts and summaries now (an unverified HTTPS
    /// report only when the tenant counts those).
    pub counted: bool,
    /// How its origin was established.
    pub origin: ReportOrigin,
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

/// Stored reports left out of the counts, by reason (a report counts under one reason only,
/// the first that applies in this order).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeftOut {
    /// About another domain than the registration's.
    pub domain_mismatch: i64,
    /// Mail without a valid DKIM signature of the reporting domain (RFC 8460 §4.3).
    pub unauthenticated_mail: i64,
    /// POSTed over HTTPS from an address not tied to the reporting organization, for a
    /// tenant that does not count those.
    pub unverified_https: i64,
}

impl LeftOut {
    /// Every report left out.
    pub fn total(&self) -> i64 {
        self.domain_mismatch
            .saturating_add(self.unauthenticated_mail)
            .saturating_add(self.unverified_https)
    }
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

/// Whose reports a summary covers. Both name the tenant: a registration of another tenant
/// has no reports in a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportScope<'a> {
    /// One registration of the tenant.
    Domain(&'a TenantId, &'a DomainId),
    /// Every registration of a tenant.
    Tenant(&'a TenantId),
}

impl<'a> ReportScope<'a> {
    /// The rows of the scope: the tenant is `$1` and, for one registration, its id `$4`
    /// (bound by [`ReportScope::bind`] after the caller's `$2` and `$3`).
    fn condition(self) -> String {
        match self {
            ReportScope::Domain(..) => format!("domain_id = $4 AND {}", domain_of_tenant(4, 1)),
            ReportScope::Tenant(_) => {
                "domain_id IN (SELECT id FROM domains WHERE tenant_id = $1)".to_owned()
            }
        }
    }

    /// The tenant, bound as `$1`.
    fn tenant(self) -> &'a TenantId {
        match self {
            ReportScope::Domain(t, _) | ReportScope::Tenant(t) => t,
        }
    }

    /// Binds the registration as `$4` when the scope is one registration.
    fn bind<O>(
        self,
        q: sqlx::query::QueryAs<'a, sqlx::Any, O, sqlx::any::AnyArguments>,
    ) -> sqlx::query::QueryAs<'a, sqlx::Any, O, sqlx::any::AnyArguments> {
        match self {
            ReportScope::Domain(_, d) => q.bind(d.as_str()),
            ReportScope::Tenant(_) => q,
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
    origin: String,
}

/// The columns of a listed report; `counted` says whether the report counts for its tenant
/// now (the stored flag, and for an unverified HTTPS report the tenant's choice).
fn report_columns() -> String {
    format!(
        "id, organization, report_id, policy_domain, contact, start_ms, end_ms, transport, \
         media_type, media_type_flagged, domain_mismatch, \
         CAST(CASE WHEN counted <> 0 AND (origin <> 'unverified_https' \
             OR domain_id IN {COUNTING_UNVERIFIED}) THEN 1 ELSE 0 END AS BIGINT) AS counted, \
         successful_sessions, failed_sessions, received_ms, dkim, flags, origin"
    )
}

fn report_from_row(r: ReportRow) -> Result<StoredReport> {
    let origin = ReportOrigin::parse(&r.origin).ok_or_else(|| StoreError::Corrupt {
        what: "report origin",
        detail: r.origin.clone(),
    })?;
    Ok(StoredReport {
        origin,
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

/// The UTC day (days since 1970-01-01) of a time.
pub(crate) fn utc_day(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().div_euclid(86_400)
}

/// What a stored copy of a report is, for judging a second copy against it.
#[derive(sqlx::FromRow)]
struct Existing {
    id: String,
    origin: String,
    counted: i64,
    day: i64,
    successful_sessions: i64,
    failed_sessions: i64,
}

/// The report's own columns, as `$3`… of an insert or update keyed by `$1` (id) and `$2`.
const REPORT_VALUES: &str = "contact, start_ms, end_ms, day, transport, media_type, \
     media_type_flagged, domain_mismatch, counted, successful_sessions, failed_sessions, \
     raw_gzip, received_ms, dkim, flags, origin";

/// Binds the values of [`REPORT_VALUES`] in order.
fn bind_values<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    r: &'q NewReport,
    day: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(r.contact.as_deref())
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
        .bind(r.origin.as_str())
}

/// Writes a report's policies and failure details under stsd's id `id`.
async fn insert_rows(tx: &mut sqlx::AnyConnection, id: &str, r: &NewReport) -> Result<()> {
    for (pi, p) in (0_i64..).zip(&r.policies) {
        sqlx::query(
            "INSERT INTO tlsrpt_policies (report_id, idx, policy_type, policy_domain,
                 policy_strings, mx_hosts, successful_sessions, failed_sessions)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
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
            .bind(id)
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
    Ok(())
}

/// Adds a new counted report to its rollups.
async fn count(tx: &mut sqlx::AnyConnection, r: &NewReport, day: i64) -> Result<()> {
    let Some(trust) = r.origin.trust().filter(|_| r.counted) else {
        return Ok(());
    };
    report_rollups::add(
        tx,
        RollupKey {
            domain_id: r.domain_id.as_str(),
            day,
            organization: &r.organization,
            trust,
        },
        Contribution {
            successful_sessions: r.successful_sessions,
            failed_sessions: r.failed_sessions,
            failures: &r.failure_rollup,
        },
    )
    .await
}

/// Replaces the stored copy `existing` (of origin `stored`) with the better copy `r`: its
/// rollups out, its rows rewritten, the new copy's rollups in. `false` when another
/// transaction replaced it first (nothing was changed here).
async fn replace(
    tx: &mut sqlx::AnyConnection,
    existing: &Existing,
    stored: ReportOrigin,
    r: &NewReport,
) -> Result<bool> {
    let day = utc_day(r.start);
    // Guarded on the origin read above: of two copies arriving at once, one replaces.
    let update = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE tlsrpt_reports SET ({REPORT_VALUES}) =
             ($3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
         WHERE id = $1 AND origin = $2"
    )))
    .bind(&existing.id)
    .bind(stored.as_str());
    if bind_values(update, r, day)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 0
    {
        return Ok(false);
    }
    if let Some(trust) = stored.trust().filter(|_| existing.counted != 0) {
        let failures = report_rollups::stored_failures(tx, &existing.id).await?;
        report_rollups::subtract(
            tx,
            RollupKey {
                domain_id: r.domain_id.as_str(),
                day: existing.day,
                organization: &r.organization,
                trust,
            },
            Contribution {
                successful_sessions: existing.successful_sessions,
                failed_sessions: existing.failed_sessions,
                failures: &failures,
            },
        )
        .await?;
    }
    sqlx::query("DELETE FROM tlsrpt_failures WHERE report_id = $1")
        .bind(&existing.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM tlsrpt_policies WHERE report_id = $1")
        .bind(&existing.id)
        .execute(&mut *tx)
        .await?;
    insert_rows(tx, &existing.id, r).await?;
    count(tx, r, day).await?;
    Ok(true)
}

impl Store {
    /// Stores a report with its rows and, when it is counted, adds it to the daily rollups,
    /// all in one transaction. A report whose (organization, report id, policy domain) is
    /// already stored for the registration answers [`ReportIngest::Duplicate`]; when the new
    /// copy's origin proves more than the stored one's (a signed or verified copy after an
    /// unverified one), it replaces the stored copy — content, origin and rollups — under
    /// the same id, because the first copy may be a forgery that took the real report's id.
    ///
    /// `tenant`: the tenant the registration must belong to (a member's upload), or `None`
    /// for a report delivered by label ([`AllTenants`]); another tenant's registration is
    /// "not found".
    pub(crate) async fn ingest_report(
        &self,
        tenant: Option<&TenantId>,
        r: &NewReport,
    ) -> Result<ReportIngest> {
        let id = row_id();
        let policy_domain = r.policy_domain.clone().unwrap_or_default();
        let day = utc_day(r.start);
        let mut tx = self.begin().await?;
        if let Some(tenant) = tenant
            && !tenant_owns_domain(&mut tx, tenant, r.domain_id.as_str()).await?
        {
            return Err(StoreError::NotFound("domain"));
        }
        let insert = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO tlsrpt_reports (id, domain_id, organization, report_id, policy_domain,
                 {REPORT_VALUES})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                 $17, $18, $19, $20, $21)
             ON CONFLICT (domain_id, organization, report_id, policy_domain) DO NOTHING"
        )))
        .bind(&id)
        .bind(r.domain_id.as_str())
        .bind(&r.organization)
        .bind(&r.report_id)
        .bind(&policy_domain);
        let inserted = match bind_values(insert, r, day).execute(&mut *tx).await {
            Ok(done) => done.rows_affected(),
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
                return Err(StoreError::NotFound("domain"));
            }
            Err(e) => return Err(e.into()),
        };
        if inserted == 0 {
            let existing: Existing = sqlx::query_as(
                "SELECT id, origin, counted, day, successful_sessions, failed_sessions
                 FROM tlsrpt_reports WHERE domain_id = $1 AND organization = $2
                 AND report_id = $3 AND policy_domain = $4",
            )
            .bind(r.domain_id.as_str())
            .bind(&r.organization)
            .bind(&r.report_id)
            .bind(&policy_domain)
            .fetch_one(&mut *tx)
            .await?;
            let stored =
                ReportOrigin::parse(&existing.origin).ok_or_else(|| StoreError::Corrupt {
                    what: "report origin",
                    detail: existing.origin.clone(),
                })?;
            if r.origin.rank() > stored.rank() && replace(&mut tx, &existing, stored, r).await? {
                tx.commit().await?;
            }
            return Ok(ReportIngest::Duplicate(existing.id));
        }
        insert_rows(&mut tx, &id, r).await?;
        count(&mut tx, r, day).await?;
        tx.commit().await?;
        Ok(ReportIngest::Stored(id))
    }

    /// The reports of the tenant's registration, newest start first, `limit` from `offset`;
    /// none for another tenant's registration.
    pub async fn reports(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
        filter: &ReportFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<StoredReport>> {
        let rows: Vec<ReportRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM tlsrpt_reports
             WHERE domain_id = $1 AND day >= $2 AND day <= $3
               AND ($4 = '' OR organization = $4) AND {}
             ORDER BY start_ms DESC, id DESC LIMIT $5 OFFSET $6",
            report_columns(),
            domain_of_tenant(1, 7)
        )))
        .bind(domain.as_str())
        .bind(filter.from_day.unwrap_or(i64::MIN))
        .bind(filter.to_day.unwrap_or(i64::MAX))
        .bind(filter.organization.clone().unwrap_or_default())
        .bind(limit)
        .bind(offset)
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(report_from_row).collect()
    }

    /// Counted reports and sessions of a registration or tenant from `from_day` to `to_day`
    /// (inclusive), from the daily rollups; unverified HTTPS reports only when the tenant
    /// counts them.
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
        let q = sqlx::query_as::<_, (String, i64, i64, i64)>(sqlx::AssertSqlSafe(format!(
            "SELECT {key} AS k, CAST(COALESCE(SUM(reports), 0) AS BIGINT),
                    CAST(COALESCE(SUM(successful_sessions), 0) AS BIGINT),
                    CAST(COALESCE(SUM(failed_sessions), 0) AS BIGINT)
             FROM tlsrpt_daily WHERE {} AND day >= $2 AND day <= $3 AND {}
             GROUP BY k ORDER BY k",
            scope.condition(),
            counted_rollups()
        )))
        .bind(scope.tenant().as_str())
        .bind(from_day)
        .bind(to_day);
        let rows = scope.bind(q).fetch_all(&self.pool).await?;
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
    /// `to_day` (inclusive) per result type or receiving MX, most failures first (unverified
    /// HTTPS reports only when the tenant counts them).
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
        let q = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(format!(
            "SELECT {key} AS k, CAST(SUM(failed_sessions) AS BIGINT) AS n
             FROM tlsrpt_daily_failures WHERE {} AND day >= $2 AND day <= $3 AND {}
             GROUP BY k ORDER BY n DESC, k",
            scope.condition(),
            counted_rollups()
        )))
        .bind(scope.tenant().as_str())
        .bind(from_day)
        .bind(to_day);
        let rows = scope.bind(q).fetch_all(&self.pool).await?;
        Ok(rows)
    }

    /// How many reports of a registration or tenant from `from_day` to `to_day` (inclusive)
    /// are stored but left out of the counts, by reason. Read from the reports themselves,
    /// so reports already past their retention are not in it.
    pub async fn reports_left_out(
        &self,
        scope: ReportScope<'_>,
        from_day: i64,
        to_day: i64,
    ) -> Result<LeftOut> {
        let q = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(format!(
            "SELECT CASE WHEN domain_mismatch <> 0 THEN 'domain_mismatch'
                         WHEN origin = 'unauthenticated_mail' THEN 'unauthenticated_mail'
                         ELSE 'unverified_https' END AS reason,
                    CAST(COUNT(*) AS BIGINT)
             FROM tlsrpt_reports WHERE {} AND day >= $2 AND day <= $3
               AND (counted = 0 OR (origin = 'unverified_https'
                    AND domain_id NOT IN {COUNTING_UNVERIFIED}))
             GROUP BY reason",
            scope.condition()
        )))
        .bind(scope.tenant().as_str())
        .bind(from_day)
        .bind(to_day);
        let rows = scope.bind(q).fetch_all(&self.pool).await?;
        let mut out = LeftOut::default();
        for (reason, n) in rows {
            match reason.as_str() {
                "domain_mismatch" => out.domain_mismatch = n,
                "unauthenticated_mail" => out.unauthenticated_mail = n,
                _ => out.unverified_https = n,
            }
        }
        Ok(out)
    }

    /// When the newest report of the tenant's registration arrived (any report, counted or
    /// not); `None` for another tenant's registration.
    pub async fn last_report_received(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
    ) -> Result<Option<OffsetDateTime>> {
        let at: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT MAX(received_ms) FROM tlsrpt_reports WHERE domain_id = $1 AND {}",
            domain_of_tenant(1, 2)
        )))
        .bind(domain.as_str())
        .bind(tenant.as_str())
        .fetch_one(&self.pool)
        .await?;
        at.map(from_ms).transpose()
    }

    /// One report of the tenant's registration with its policies, failure details and raw
    /// gzip; `None` when `id` names no report of that registration, or the registration is
    /// another tenant's.
    pub async fn report_detail(
        &self,
        tenant: &TenantId,
        domain: &DomainId,
        id: &str,
    ) -> Result<Option<ReportDetail>> {
        let row: Option<ReportRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM tlsrpt_reports WHERE domain_id = $1 AND id = $2 AND {}",
            report_columns(),
            domain_of_tenant(1, 3)
        )))
        .bind(domain.as_str())
        .bind(id)
        .bind(tenant.as_str())
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

    /// Whether a tenant counts reports POSTed over HTTPS whose origin could not be verified.
    pub async fn count_unverified_https(&self, tenant: &TenantId) -> Result<bool> {
        let on: Option<i64> =
            sqlx::query_scalar("SELECT count_unverified_https FROM tenants WHERE id = $1")
                .bind(tenant.as_str())
                .fetch_optional(&self.pool)
                .await?;
        on.map(|v| v != 0).ok_or(StoreError::NotFound("tenant"))
    }

    /// Sets whether a tenant counts unverified HTTPS reports. Takes effect at once on every
    /// summary, the past included: the rollups keep those reports apart.
    pub async fn set_count_unverified_https(&self, tenant: &TenantId, on: bool) -> Result<()> {
        let done = sqlx::query("UPDATE tenants SET count_unverified_https = $1 WHERE id = $2")
            .bind(i64::from(on))
            .bind(tenant.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("tenant"));
        }
        Ok(())
    }
}

impl AllTenants<'_> {
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
        .execute(&self.store.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
