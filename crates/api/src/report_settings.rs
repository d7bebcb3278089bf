//! A tenant's report settings: how long reports are kept, and whether reports POSTed over
//! HTTPS from an address not tied to the reporting organization count.
//!
//! Unverified HTTPS reports are left out of counts by default: RFC 8460 lets anyone POST a
//! report, and one forged report claiming a million failed sessions would turn a domain's
//! success rate to zero (or hide real failures behind invented successes). A tenant whose
//! reporters post from addresses without matching reverse DNS can count them; the choice
//! applies to the whole history at once, and is audited.

use axum::Json as AxumJson;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Access, ClientIp, Need, Principal};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::Path;

/// Shortest and longest report retention a tenant may choose, in days.
const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 7..=3650;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(settings, update_settings))
}

/// A tenant's report settings.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReportSettings {
    /// Days a report is kept after its reporting period started (7 to 3650). Summaries
    /// keep their history after the reports themselves are gone.
    retention_days: i64,
    /// Whether reports POSTed over HTTPS whose origin could not be verified (the client's
    /// forward-confirmed reverse DNS is not within the reporting organization's domain)
    /// count in summaries. Off by default: anyone can POST such a report. They are stored
    /// and listed either way.
    count_unverified_https: bool,
}

/// New report settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportSettingsUpdate {
    /// Days a report is kept after its reporting period started (7 to 3650).
    retention_days: i64,
    /// Whether unverified HTTPS reports count; unchanged when left out. Applies to every
    /// summary at once, the past included.
    #[serde(default)]
    count_unverified_https: Option<bool>,
}

async fn current(state: &AppState, access: &Access) -> Result<ReportSettings, ApiError> {
    let store = &state.inner.store;
    Ok(ReportSettings {
        retention_days: store.report_retention_days(&access.tenant).await?,
        count_unverified_https: store.count_unverified_https(&access.tenant).await?,
    })
}

/// The tenant's report settings.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/reports/settings",
    operation_id = "getReportSettings",
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, description = "The settings", body = ReportSettings)),
    security(("bearer" = []))
)]
async fn settings(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> Result<AxumJson<ReportSettings>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    Ok(AxumJson(current(&state, &access).await?))
}

/// Changes the tenant's report settings (owners and admins).
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{tenant}/reports/settings",
    operation_id = "updateReportSettings",
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = ReportSettingsUpdate,
    responses(
        (status = 200, description = "The new settings", body = ReportSettings),
        (status = 422, description = "A value is out of range", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn update_settings(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Path(tenant): Path<String>,
    crate::json::Json(body): crate::json::Json<ReportSettingsUpdate>,
) -> Result<AxumJson<ReportSettings>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    if !RETENTION_DAYS.contains(&body.retention_days) {
        return Err(ApiError::invalid_field(
            "retention_days",
            format!(
                "keep reports {} to {} days",
                RETENTION_DAYS.start(),
                RETENTION_DAYS.end()
            ),
        ));
    }
    let store = &state.inner.store;
    let before = current(&state, &access).await?;
    store
        .set_report_retention_days(&access.tenant, body.retention_days)
        .await?;
    if let Some(on) = body.count_unverified_https {
        store.set_count_unverified_https(&access.tenant, on).await?;
    }
    let after = ReportSettings {
        retention_days: body.retention_days,
        count_unverified_https: body
            .count_unverified_https
            .unwrap_or(before.count_unverified_https),
    };
    crate::audit::record(
        &state,
        Some(&access.tenant),
        &principal.actor(),
        "reports.settings",
        access.tenant.as_str(),
        json!({ "before": before, "after": after }),
        Some(ip),
    )
    .await;
    Ok(AxumJson(after))
}
