//! A domain's DNS checks: the latest results, and running them now.
//!
//! The checks themselves run in the verifier worker; the API meets it in the store: `POST`
//! pulls the domain's verify job forward and waits briefly for fresh results.

use std::time::Duration;

use axum::Json as AxumJson;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Access, Need, Principal};
use crate::domains::load;
use crate::error::ApiError;
use crate::extract::Path;

/// How long `POST …/checks` waits for the worker before answering 202.
const WAIT: Duration = Duration::from_secs(10);

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(latest, run))
}

/// One check's result.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Check {
    /// What was checked (`ownership`, `mta_sts_cname`, `tlsrpt`, `mx_coverage`, `sts_record`).
    name: String,
    /// The full DNS name it concerns, e.g. `_mta-sts.example.com`.
    record: String,
    /// `pass`, `warn`, `fail` or `error`.
    result: String,
    /// What was found, in plain language.
    explanation: String,
    /// What to change, when something should change.
    fix: Option<String>,
}

/// The latest check results of a domain.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Checks {
    /// The domain's state after the checks.
    state: String,
    /// Unix time of the last run; null before the first one.
    checked_at: Option<i64>,
    /// The results; empty before the first run.
    items: Vec<Check>,
}

/// The stored results, typed by the vocabulary the verifier writes them with.
fn parse(raw: Option<&str>) -> Vec<Check> {
    raw.and_then(stsd_core::parse_checks)
        .unwrap_or_default()
        .into_iter()
        .map(|c| Check {
            name: c.name.as_str().to_owned(),
            record: c.record,
            result: c.result.as_str().to_owned(),
            explanation: c.explanation,
            fix: c.fix,
        })
        .collect()
}

fn view(d: &stsd_store::Domain) -> Checks {
    Checks {
        state: d.state.as_str().to_owned(),
        checked_at: d.last_checked_at.map(|t| t.unix_timestamp()),
        items: parse(d.last_checks.as_deref()),
    }
}

/// The latest results of the domain's DNS checks, each with its explanation and fix.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/domains/{name}/checks",
    operation_id = "getDomainChecks",
    tag = "domains",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    responses((status = 200, description = "The latest results", body = Checks)),
    security(("bearer" = []))
)]
async fn latest(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<AxumJson<Checks>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = load(&state, &access, &name).await?;
    Ok(AxumJson(view(&domain)))
}

/// Runs the domain's DNS checks now (and applies the state change they imply). Answers 200
/// with fresh results, or 202 with the previous ones when the worker is still busy.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant}/domains/{name}/checks",
    operation_id = "runDomainChecks",
    tag = "domains",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
    ),
    responses(
        (status = 200, description = "Fresh results", body = Checks),
        (status = 202, description = "Scheduled; the results shown are the previous ones", body = Checks),
    ),
    security(("bearer" = []))
)]
async fn run(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<(StatusCode, AxumJson<Checks>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Write).await?;
    let domain = load(&state, &access, &name).await?;
    Ok(match run_now(&state, &access, &domain, WAIT).await? {
        Fresh::Ran(current) => (StatusCode::OK, AxumJson(view(&current))),
        Fresh::Waiting(current) => (StatusCode::ACCEPTED, AxumJson(view(&current))),
    })
}

/// What [`run_now`] came to.
pub(crate) enum Fresh {
    /// The checks ran after the request: the domain with their results.
    Ran(stsd_store::Domain),
    /// No run finished within the wait: the domain as it is, with older results.
    Waiting(stsd_store::Domain),
}

/// Pulls the domain's verify job forward and waits up to `wait` for a run that began after
/// the call, so that the results describe the DNS and the MX hosts as they are now.
pub(crate) async fn run_now(
    state: &AppState,
    access: &Access,
    domain: &stsd_store::Domain,
    wait: Duration,
) -> Result<Fresh, ApiError> {
    let store = &state.inner.store;
    let asked = time::OffsetDateTime::now_utc();
    store
        .schedule_job(stsd_store::VERIFY_JOB_KIND, domain.id.as_str(), asked)
        .await?;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let current = store
            .domain_by_id(&access.tenant, &domain.id)
            .await?
            .ok_or_else(|| ApiError::not_found("domain"))?;
        // Only a run that began after the request looked at the DNS as it is now.
        // (Compared in milliseconds, the precision the store keeps.)
        let ms = |t: time::OffsetDateTime| t.unix_timestamp_nanos() / 1_000_000;
        if current.last_checked_at.is_some_and(|t| ms(t) >= ms(asked)) {
            return Ok(Fresh::Ran(current));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(Fresh::Waiting(current));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
