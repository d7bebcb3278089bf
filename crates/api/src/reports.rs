//! TLS-RPT reports (RFC 8460) of a domain: upload of a report file, the report list, and
//! summaries for charts (per day, result type, reporting organization or receiving MX).

use axum::Json as AxumJson;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::json;
use stsd_core::tlsrpt::{self, ReportError};
use stsd_store::{
    DomainId, FailuresBy, PreparedReport, ReportFilter, ReportOrigin, ReportScope, StoredReport,
    Submission, TenantId, TotalsBy, Transport,
};
use time::Date;
use time::macros::format_description;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Access, ClientIp, Need, Principal};
use crate::domains::load;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Path, Query};

/// Largest report file the upload accepts (compressed or not).
const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// Largest report once decompressed.
const MAX_DECOMPRESSED: usize = tlsrpt::DEFAULT_MAX_DECOMPRESSED;
/// Largest `offset` of the report list; larger ones are this (an empty page).
const MAX_OFFSET: i64 = 1 << 40;
/// Longest summary range, in days.
const MAX_RANGE_DAYS: i64 = 400;
/// Days without a report, after earlier reports, before a domain counts as silent. Senders
/// report daily; three days leave room for late or weekend batches.
pub(crate) const SILENT_AFTER_DAYS: i64 = 3;
/// The window of "recent" failures, in days: what the enforce readiness check looks at.
pub(crate) const RECENT_DAYS: i64 = 14;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
        .merge(OpenApiRouter::new().routes(routes!(list)))
        .merge(OpenApiRouter::new().routes(routes!(summary)))
        .merge(OpenApiRouter::new().routes(routes!(detail)))
        .merge(OpenApiRouter::new().routes(routes!(raw)))
        .merge(OpenApiRouter::new().routes(routes!(tenant_summary)))
        .merge(crate::report_settings::routes())
}

/// What an upload did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UploadResult {
    /// stsd's id of the stored report (the earlier one for a duplicate).
    id: String,
    /// The same report (organization, report id, policy domain) was already stored; it is
    /// not counted again.
    duplicate: bool,
    /// The reporting organization.
    organization: String,
    /// The reporter's report id.
    report_id: String,
    /// The report's policy domain, when it names one.
    policy_domain: Option<String>,
    /// The declared media type does not match the body (accepted anyway).
    media_type_flagged: bool,
    /// The report's policy domain is not this domain. Always false: such uploads are
    /// refused (`domain_mismatch`); kept for clients that read it.
    domain_mismatch: bool,
}

/// One stored report.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReportItem {
    /// stsd's id of the report.
    id: String,
    /// The reporting organization.
    organization: String,
    /// The reporter's report id.
    report_id: String,
    /// The policy domain ('' when the report named none).
    policy_domain: String,
    /// The reporter's contact, when given.
    contact: Option<String>,
    /// Start of the reporting period (RFC 3339).
    start: String,
    /// End of the reporting period (RFC 3339).
    end: String,
    /// How it arrived: `upload`, `https` or `smtp`.
    transport: String,
    /// The declared media type.
    media_type: String,
    /// The declared media type did not match the body.
    media_type_flagged: bool,
    /// The policy domain is not this domain.
    domain_mismatch: bool,
    /// Whether the report is in counts and summaries now. An `unverified_https` report is
    /// only when the tenant's report settings count those (`count_unverified_https`).
    counted: bool,
    /// How the report's origin was established.
    origin: Origin,
    /// Successful sessions.
    successful_sessions: i64,
    /// Failed sessions.
    failed_sessions: i64,
    /// When stsd received it (RFC 3339).
    received_at: String,
    /// For mail: the DKIM verdict (`pass`, `fail`, `none`, `length_limited`). Only `pass`
    /// reports are counted (RFC 8460 §4.3).
    dkim: Option<String>,
    /// Where the delivery disagreed with the report (`submitter_mismatch`,
    /// `report_domain_mismatch`, `subject_mismatch`); the report's own fields are used.
    flags: Vec<String>,
}

/// How a report's origin was established: `upload` (a member uploaded it), `dkim` (mail with
/// a valid DKIM signature of the reporting domain), `unauthenticated_mail` (mail without one;
/// never counted, RFC 8460 §4.3), `verified_https` (POSTed from an address whose
/// forward-confirmed reverse DNS name lies within the organizational domain the report
/// names), `unverified_https` (POSTed from any other address: anyone can send such a report,
/// so it counts only when the tenant's report settings say so).
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Origin {
    /// Uploaded by a member.
    Upload,
    /// Mail with a valid DKIM signature of the reporting domain.
    Dkim,
    /// Mail without a valid DKIM signature of the reporting domain.
    UnauthenticatedMail,
    /// POSTed from an address tied to the reporting organization.
    VerifiedHttps,
    /// POSTed from an address not tied to the reporting organization.
    UnverifiedHttps,
}

impl From<ReportOrigin> for Origin {
    fn from(o: ReportOrigin) -> Origin {
        match o {
            ReportOrigin::Upload => Origin::Upload,
            ReportOrigin::Dkim => Origin::Dkim,
            ReportOrigin::UnauthenticatedMail => Origin::UnauthenticatedMail,
            ReportOrigin::VerifiedHttps => Origin::VerifiedHttps,
            ReportOrigin::UnverifiedHttps => Origin::UnverifiedHttps,
        }
    }
}

/// A page of reports, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReportList {
    /// The reports.
    items: Vec<ReportItem>,
    /// The `offset` of the next page, when there is one.
    next_offset: Option<i64>,
}

/// Which reports to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// First day (`YYYY-MM-DD`, UTC, of the report's start), inclusive.
    from: Option<String>,
    /// Last day, inclusive.
    to: Option<String>,
    /// Only reports of this organization.
    organization: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<i64>,
    /// How many reports to skip (default 0).
    offset: Option<i64>,
}

/// How to group a summary.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum GroupBy {
    /// Per UTC day, every day of the range (a time series).
    Day,
    /// Per result type (`success` first), with explanations and fixes.
    Result,
    /// Per reporting organization.
    Organization,
    /// Per domain (the tenant-wide summary; one group for a domain's own summary).
    Domain,
    /// Failed sessions per receiving MX.
    Mx,
}

/// The summary's range and grouping.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SummaryQuery {
    /// First day (`YYYY-MM-DD`, UTC), inclusive; default 29 days before `to`.
    from: Option<String>,
    /// Last day, inclusive; default today.
    to: Option<String>,
    /// `day` (default), `result`, `organization` or `mx`.
    group_by: Option<GroupBy>,
}

/// Counts of a range or group.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Totals {
    /// Counted reports.
    reports: i64,
    /// Successful sessions.
    successful_sessions: i64,
    /// Failed sessions.
    failed_sessions: i64,
    /// Successful / all sessions, absent when there were none.
    success_rate: Option<f64>,
}

/// One group of a summary.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SummaryGroup {
    /// The day (`YYYY-MM-DD`), result type, organization or MX host (`unknown` when the
    /// reports did not name it).
    key: String,
    /// Counted reports (day and organization groups).
    reports: Option<i64>,
    /// Successful sessions (day and organization groups, and the `success` result).
    successful_sessions: Option<i64>,
    /// Failed sessions.
    failed_sessions: i64,
    /// Successful / all sessions (day and organization groups with sessions).
    success_rate: Option<f64>,
    /// For result groups: what the result type means.
    explanation: Option<String>,
    /// For result groups: the likely fix.
    fix: Option<String>,
}

/// Stored reports of the range that `totals` leaves out, by reason (each report under the
/// first reason that applies, in this order). Counted from the reports still kept, so
/// reports past their retention are not in it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LeftOut {
    /// Every report left out.
    total: i64,
    /// About another domain than this one.
    domain_mismatch: i64,
    /// Mail without a valid DKIM signature of the reporting domain (RFC 8460 §4.3: such
    /// reports are never counted).
    unauthenticated_mail: i64,
    /// POSTed over HTTPS from an address not tied to the reporting organization, left out
    /// because the tenant's report settings do not count those (`count_unverified_https`).
    unverified_https: i64,
}

/// A domain's TLS report summary.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Summary {
    /// First day of the range.
    from: String,
    /// Last day of the range.
    to: String,
    /// The grouping.
    group_by: GroupBy,
    /// Counts over the whole range.
    totals: Totals,
    /// Reports of the range stored but not in `totals`, and why.
    left_out: LeftOut,
    /// Whether the tenant counts unverified HTTPS reports (its report settings).
    count_unverified_https: bool,
    /// The groups.
    groups: Vec<SummaryGroup>,
    /// For a domain's summary: what the reports say beyond the numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    signals: Option<Signals>,
}

/// What a domain's reports signal, independent of the range asked for.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Signals {
    /// When the newest report arrived (RFC 3339), if any ever did.
    last_received_at: Option<String>,
    /// Reports arrived before but none for [`SILENT_AFTER_DAYS`] days: a reporter went quiet
    /// or the `_smtp._tls` record broke.
    silent: bool,
    /// Failed sessions in counted reports of the last [`RECENT_DAYS`] days (what the
    /// enforce readiness check looks at).
    recent_failed_sessions: i64,
    /// Successful sessions in the same window.
    recent_successful_sessions: i64,
}

fn rate(ok: i64, failed: i64) -> Option<f64> {
    let all = ok.saturating_add(failed);
    // Session counts stay far below 2^53; the ratio is for display.
    (all > 0).then(|| ok as f64 / all as f64)
}

fn day_of(date: Date) -> i64 {
    date.midnight()
        .assume_utc()
        .unix_timestamp()
        .div_euclid(86_400)
}

fn date_of(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day.saturating_mul(86_400))
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

fn parse_day(field: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    Date::parse(value, format_description!("[year]-[month]-[day]"))
        .map(|d| Some(day_of(d)))
        .map_err(|_| {
            ApiError::validation(vec![crate::FieldError {
                field: field.to_owned(),
                message: "expected a date as YYYY-MM-DD".to_owned(),
            }])
        })
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn item(r: StoredReport) -> ReportItem {
    ReportItem {
        start: rfc3339(r.start),
        end: rfc3339(r.end),
        received_at: rfc3339(r.received_at),
        id: r.id,
        organization: r.organization,
        report_id: r.report_id,
        policy_domain: r.policy_domain,
        contact: r.contact,
        transport: r.transport,
        media_type: r.media_type,
        media_type_flagged: r.media_type_flagged,
        domain_mismatch: r.domain_mismatch,
        counted: r.counted,
        origin: r.origin.into(),
        successful_sessions: r.successful_sessions,
        failed_sessions: r.failed_sessions,
        dkim: r.dkim,
        flags: r.flags,
    }
}

fn report_error(e: &ReportError) -> ApiError {
    match e {
        ReportError::NotAReport | ReportError::Gzip(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("{e}: send a TLS report as application/tlsrpt+gzip or application/tlsrpt+json"),
        ),
        ReportError::TooLarge { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            e.to_string(),
        ),
        ReportError::TooDeep(_) | ReportError::Json(_) | ReportError::Invalid(_) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_report",
            e.to_string(),
        ),
    }
}

/// Uploads one TLS report file (RFC 8460), gzip or plain JSON, e.g. from an old mailbox.
/// A body whose declared media type does not match is accepted and flagged; a body that is
/// neither gzip nor JSON is refused with 415. A second upload of the same report (same
/// organization, report id and policy domain, by any transport) answers 200 with
/// `duplicate: true` and is not counted again. A report whose policies name another domain
/// is refused with 422 (`domain_mismatch`), naming it.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant}/domains/{name}/reports",
    operation_id = "uploadReport",
    tag = "domains",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    request_body(
        content = Vec<u8>,
        content_type = "application/tlsrpt+gzip",
        description = "The report, gzip (`application/tlsrpt+gzip`, `application/gzip`) or JSON (`application/tlsrpt+json`, `application/json`); at most 10 MiB, 20 MiB decompressed"
    ),
    responses(
        (status = 201, description = "Stored", body = UploadResult),
        (status = 200, description = "Already stored: a duplicate, not counted again", body = UploadResult),
        (status = 413, description = "Over 10 MiB, or over 20 MiB decompressed (`payload_too_large`)", body = ErrorEnvelope),
        (status = 415, description = "Neither gzip nor JSON (`unsupported_media_type`)", body = ErrorEnvelope),
        (status = 422, description = "JSON that is not a TLS report (`invalid_report`), or a report whose policies name another domain (`domain_mismatch`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn upload(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, AxumJson<UploadResult>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Write).await?;
    let domain = load(&state, &access, &name).await?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the report file is over 10 MiB",
            )
        } else {
            ApiError::bad_request(e.body_text())
        }
    })?;
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let submission = Submission {
        domain: &domain,
        body: &body,
        declared_media_type: declared,
        transport: Transport::Upload,
        origin: ReportOrigin::Upload,
        dkim: None,
        flags: &[],
        max_decompressed: MAX_DECOMPRESSED,
    };
    let prepared = PreparedReport::new(&submission).map_err(|e| report_error(&e))?;
    // A member uploading by hand is there to hear it: a report about another domain is
    // refused rather than stored and flagged (the reporting endpoints, which cannot tell
    // the sender, still store and flag such reports).
    if let [first, ..] = prepared.foreign_policy_domains() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "domain_mismatch",
            format!(
                "this report is about {first}, not {}: upload it to the domain it names",
                domain.name
            ),
        ));
    }
    let ingested = state
        .inner
        .store
        .ingest_prepared(&access.tenant, prepared)
        .await?;
    // Duplicates too: the log says who sent what, even when nothing new was stored.
    crate::audit::record(
        &state,
        Some(&access.tenant),
        &principal.actor(),
        "report.upload",
        domain.name.as_str(),
        json!({
            "report": ingested.id,
            "organization": ingested.organization,
            "report_id": ingested.report_id,
            "duplicate": ingested.duplicate,
        }),
        Some(ip),
    )
    .await;
    let status = if ingested.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        AxumJson(UploadResult {
            id: ingested.id,
            duplicate: ingested.duplicate,
            organization: ingested.organization,
            report_id: ingested.report_id,
            policy_domain: ingested.policy_domain,
            media_type_flagged: ingested.media_type_flagged,
            domain_mismatch: ingested.domain_mismatch,
        }),
    ))
}

/// Lists a domain's TLS reports, newest reporting period first, with filters by date range
/// and organization.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/domains/{name}/reports",
    operation_id = "listReports",
    tag = "domains",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
        ListQuery,
    ),
    responses((status = 200, description = "A page of reports", body = ReportList)),
    security(("bearer" = []))
)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
    Query(query): Query<ListQuery>,
) -> Result<AxumJson<ReportList>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = load(&state, &access, &name).await?;
    let filter = ReportFilter {
        from_day: parse_day("from", query.from.as_deref())?,
        to_day: parse_day("to", query.to.as_deref())?,
        organization: query.organization.filter(|o| !o.is_empty()),
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    // Bounded so that `offset + limit` cannot overflow (an offset past every row is an
    // empty page, whatever its size).
    let offset = query.offset.unwrap_or(0).clamp(0, MAX_OFFSET);
    // One more than asked tells whether there is a next page.
    let mut rows = state
        .inner
        .store
        .reports(&access.tenant, &domain.id, &filter, limit + 1, offset)
        .await?;
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(AxumJson(ReportList {
        items: rows.into_iter().map(item).collect(),
        next_offset: more.then(|| offset.saturating_add(limit)),
    }))
}

/// Summarizes a domain's counted TLS reports over a range of UTC days: totals and success
/// rate, grouped per day (every day of the range, for time series), per result type (with
/// the plain-language explanation and likely fix of each), per reporting organization, or
/// failed sessions per receiving MX. Sessions are never added across the policies of one
/// report. Reports stored but not counted — POSTed over HTTPS from an unverified address
/// (unless the tenant counts those), mail without a valid DKIM signature, reports about
/// another domain — are counted by reason in `left_out`.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/domains/{name}/reports/summary",
    operation_id = "getReportSummary",
    tag = "domains",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
        SummaryQuery,
    ),
    responses((status = 200, description = "The summary", body = Summary)),
    security(("bearer" = []))
)]
async fn summary(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
    Query(query): Query<SummaryQuery>,
) -> Result<AxumJson<Summary>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = load(&state, &access, &name).await?;
    let mut summary = summarize(
        &state,
        &access.tenant,
        ReportScope::Domain(&access.tenant, &domain.id),
        &query,
    )
    .await?;
    summary.signals = Some(signals(&state, &access.tenant, &domain.id).await?);
    Ok(AxumJson(summary))
}

/// Summarizes the counted TLS reports of every domain of the tenant, like a domain's
/// summary, with `group_by=domain` to compare domains.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/reports/summary",
    operation_id = "getTenantReportSummary",
    tag = "tenants",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        SummaryQuery,
    ),
    responses((status = 200, description = "The summary", body = Summary)),
    security(("bearer" = []))
)]
async fn tenant_summary(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    Query(query): Query<SummaryQuery>,
) -> Result<AxumJson<Summary>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let summary = summarize(
        &state,
        &access.tenant,
        ReportScope::Tenant(&access.tenant),
        &query,
    )
    .await?;
    Ok(AxumJson(summary))
}

impl Signals {
    /// Successful sessions in counted reports of the recent window.
    pub(crate) fn recent_successful_sessions(&self) -> i64 {
        self.recent_successful_sessions
    }

    /// Failed sessions in counted reports of the recent window.
    pub(crate) fn recent_failed_sessions(&self) -> i64 {
        self.recent_failed_sessions
    }
}

/// The report signals of a domain.
pub(crate) async fn signals(
    state: &AppState,
    tenant: &TenantId,
    domain: &DomainId,
) -> Result<Signals, ApiError> {
    let store = &state.inner.store;
    let now = time::OffsetDateTime::now_utc();
    let today = now.unix_timestamp().div_euclid(86_400);
    let last = store.last_report_received(tenant, domain).await?;
    let recent = store
        .report_totals(
            ReportScope::Domain(tenant, domain),
            today - RECENT_DAYS + 1,
            today,
            TotalsBy::All,
        )
        .await?;
    let (ok, failed) = recent
        .first()
        .map_or((0, 0), |t| (t.successful_sessions, t.failed_sessions));
    Ok(Signals {
        last_received_at: last.map(rfc3339),
        silent: last.is_some_and(|t| now - t > time::Duration::days(SILENT_AFTER_DAYS)),
        recent_failed_sessions: failed,
        recent_successful_sessions: ok,
    })
}

/// The summary of `scope`, which lies within `tenant`.
async fn summarize(
    state: &AppState,
    tenant: &TenantId,
    scope: ReportScope<'_>,
    query: &SummaryQuery,
) -> Result<Summary, ApiError> {
    let today = time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .div_euclid(86_400);
    let to = parse_day("to", query.to.as_deref())?.unwrap_or(today);
    let from = parse_day("from", query.from.as_deref())?.unwrap_or(to - 29);
    if from > to || to - from >= MAX_RANGE_DAYS {
        return Err(ApiError::validation(vec![crate::FieldError {
            field: "from".to_owned(),
            message: format!("the range must be 1 to {MAX_RANGE_DAYS} days with from <= to"),
        }]));
    }
    let group_by = query.group_by.unwrap_or(GroupBy::Day);
    let store = &state.inner.store;
    let all = store.report_totals(scope, from, to, TotalsBy::All).await?;
    let (reports, ok, failed) = all.first().map_or((0, 0, 0), |t| {
        (t.reports, t.successful_sessions, t.failed_sessions)
    });
    let totals_group = |key: String, t: Option<&stsd_store::ReportTotals>| {
        let (r, s, f) = t.map_or((0, 0, 0), |t| {
            (t.reports, t.successful_sessions, t.failed_sessions)
        });
        SummaryGroup {
            key,
            reports: Some(r),
            successful_sessions: Some(s),
            failed_sessions: f,
            success_rate: rate(s, f),
            explanation: None,
            fix: None,
        }
    };
    let groups = match group_by {
        GroupBy::Day => {
            let rows = store.report_totals(scope, from, to, TotalsBy::Day).await?;
            (from..=to)
                .map(|day| {
                    let key = day.to_string();
                    totals_group(date_of(day), rows.iter().find(|r| r.key == key))
                })
                .collect()
        }
        GroupBy::Organization => store
            .report_totals(scope, from, to, TotalsBy::Organization)
            .await?
            .iter()
            .map(|t| totals_group(t.key.clone(), Some(t)))
            .collect(),
        GroupBy::Domain => store
            .report_totals(scope, from, to, TotalsBy::Domain)
            .await?
            .iter()
            .map(|t| totals_group(t.key.clone(), Some(t)))
            .collect(),
        GroupBy::Result => {
            let info = tlsrpt::explain("success");
            let mut groups = vec![SummaryGroup {
                key: "success".to_owned(),
                reports: None,
                successful_sessions: Some(ok),
                failed_sessions: 0,
                success_rate: None,
                explanation: Some(info.explanation.to_owned()),
                fix: Some(info.fix.to_owned()),
            }];
            for (key, n) in store
                .report_failures(scope, from, to, FailuresBy::Result)
                .await?
            {
                let info = tlsrpt::explain(&key);
                groups.push(SummaryGroup {
                    key,
                    reports: None,
                    successful_sessions: None,
                    failed_sessions: n,
                    success_rate: None,
                    explanation: Some(info.explanation.to_owned()),
                    fix: Some(info.fix.to_owned()),
                });
            }
            groups
        }
        GroupBy::Mx => store
            .report_failures(scope, from, to, FailuresBy::Mx)
            .await?
            .into_iter()
            .map(|(key, n)| SummaryGroup {
                key: if key.is_empty() {
                    "unknown".to_owned()
                } else {
                    key
                },
                reports: None,
                successful_sessions: None,
                failed_sessions: n,
                success_rate: None,
                explanation: None,
                fix: None,
            })
            .collect(),
    };
    let left = store.reports_left_out(scope, from, to).await?;
    Ok(Summary {
        from: date_of(from),
        to: date_of(to),
        group_by,
        totals: Totals {
            reports,
            successful_sessions: ok,
            failed_sessions: failed,
            success_rate: rate(ok, failed),
        },
        left_out: LeftOut {
            total: left.total(),
            domain_mismatch: left.domain_mismatch,
            unauthenticated_mail: left.unauthenticated_mail,
            unverified_https: left.unverified_https,
        },
        count_unverified_https: store.count_unverified_https(tenant).await?,
        groups,
        signals: None,
    })
}

/// One failure detail of a report, with what its result type means.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FailureView {
    /// `result-type` as sent.
    result_type: String,
    /// What the result type means, in plain words.
    explanation: String,
    /// The likely fix.
    fix: String,
    /// `sending-mta-ip`.
    sending_mta_ip: Option<String>,
    /// `receiving-mx-hostname`.
    receiving_mx_hostname: Option<String>,
    /// `receiving-mx-helo`.
    receiving_mx_helo: Option<String>,
    /// `receiving-ip`.
    receiving_ip: Option<String>,
    /// `failed-session-count`.
    failed_sessions: i64,
    /// `additional-information`.
    additional_information: Option<String>,
    /// `failure-reason-code`.
    failure_reason_code: Option<String>,
}

/// One policy of a report.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PolicyView {
    /// `sts`, `tlsa`, `no-policy-found` or as sent.
    policy_type: String,
    /// `policy-domain`.
    policy_domain: Option<String>,
    /// `policy-string` lines.
    policy_strings: Vec<String>,
    /// `mx-host` patterns.
    mx_hosts: Vec<String>,
    /// `total-successful-session-count`.
    successful_sessions: i64,
    /// `total-failure-session-count`.
    failed_sessions: i64,
    /// `failure-details`.
    failures: Vec<FailureView>,
}

/// A report: the parsed view and the report as received.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReportDetailView {
    /// The report's summary row.
    report: ReportItem,
    /// Its policies and failure details.
    policies: Vec<PolicyView>,
    /// The report JSON exactly as the reporter sent it.
    #[schema(value_type = Object)]
    raw: serde_json::Value,
}

async fn load_report(
    state: &AppState,
    access: &Access,
    name: &str,
    id: &str,
) -> Result<stsd_store::ReportDetail, ApiError> {
    let domain = load(state, access, name).await?;
    if crate::extract::has_control(id) {
        return Err(ApiError::not_found("report"));
    }
    state
        .inner
        .store
        .report_detail(&access.tenant, &domain.id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("report"))
}

fn raw_json(detail: &stsd_store::ReportDetail) -> Result<Vec<u8>, ApiError> {
    tlsrpt::decode(&detail.raw_gzip, MAX_DECOMPRESSED)
        .map(|d| d.json)
        .map_err(|e| ApiError::internal(&e))
}

/// One TLS report: its summary row, the parsed policies and failure details (each result
/// type explained), and the raw JSON as received.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/domains/{name}/reports/{id}",
    operation_id = "getReport",
    tag = "domains",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
        ("id" = String, Path, description = "stsd's id of the report"),
    ),
    responses(
        (status = 200, description = "The report", body = ReportDetailView),
        (status = 404, description = "No such report for this domain", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn detail(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name, id)): Path<(String, String, String)>,
) -> Result<AxumJson<ReportDetailView>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let detail = load_report(&state, &access, &name, &id).await?;
    let raw: serde_json::Value =
        serde_json::from_slice(&raw_json(&detail)?).map_err(|e| ApiError::internal(&e))?;
    let policies = detail
        .policies
        .into_iter()
        .map(|p| PolicyView {
            policy_type: p.policy_type,
            policy_domain: p.policy_domain,
            policy_strings: p.policy_strings,
            mx_hosts: p.mx_hosts,
            successful_sessions: p.successful_sessions,
            failed_sessions: p.failed_sessions,
            failures: p
                .failures
                .into_iter()
                .map(|f| {
                    let info = tlsrpt::explain(&f.result_type);
                    FailureView {
                        explanation: info.explanation.to_owned(),
                        fix: info.fix.to_owned(),
                        result_type: f.result_type,
                        sending_mta_ip: f.sending_mta_ip,
                        receiving_mx_hostname: f.receiving_mx_hostname,
                        receiving_mx_helo: f.receiving_mx_helo,
                        receiving_ip: f.receiving_ip,
                        failed_sessions: f.failed_sessions,
                        additional_information: f.additional_information,
                        failure_reason_code: f.failure_reason_code,
                    }
                })
                .collect(),
        })
        .collect();
    Ok(AxumJson(ReportDetailView {
        report: item(detail.report),
        policies,
        raw,
    }))
}

/// Downloads one TLS report as received (`application/tlsrpt+json`), for export.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/domains/{name}/reports/{id}/raw",
    operation_id = "downloadReport",
    tag = "domains",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
        ("id" = String, Path, description = "stsd's id of the report"),
    ),
    responses(
        (status = 200, description = "The report JSON", content_type = "application/tlsrpt+json", body = Vec<u8>),
        (status = 404, description = "No such report for this domain", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn raw(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name, id)): Path<(String, String, String)>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let detail = load_report(&state, &access, &name, &id).await?;
    let json = raw_json(&detail)?;
    // stsd's own ids are alphanumeric with dashes; nothing from the reporter goes into the
    // header.
    let safe: String = detail
        .report
        .id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, "application/tlsrpt+json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"tlsrpt-{safe}.json\""),
            ),
        ],
        json,
    )
        .into_response())
}
