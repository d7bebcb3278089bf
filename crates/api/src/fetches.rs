//! Who fetched a domain's policy: per UTC day, the number of fetches and the sending
//! networks the edges saw.

use axum::Json as AxumJson;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Access, Need, Principal};
use crate::domains::load;
use crate::error::ApiError;
use crate::extract::{Path, Query};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// How far back to look.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct FetchQuery {
    /// Days back from today, 1 to 400 (default 30; out-of-range values are clamped).
    days: Option<i64>,
}

/// One day of policy fetches.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FetchDay {
    /// The UTC day, `YYYY-MM-DD`.
    date: String,
    /// Fetches of `/.well-known/mta-sts.txt` that day.
    fetches: i64,
    /// Distinct sending networks (IPv4 /24, IPv6 /48), at most 1000 a day.
    networks: Vec<String>,
}

/// Policy fetches, newest day first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FetchList {
    /// The days with fetches.
    items: Vec<FetchDay>,
}

fn date(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day.saturating_mul(86_400))
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

/// Lists who fetched the domain's policy, per day: so that customers see senders such as
/// Google or Microsoft picking it up. Counts are written by the edges every few seconds.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/domains/{name}/fetches",
    operation_id = "listPolicyFetches",
    tag = "domains",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("name" = String, Path, description = "Domain name"),
        FetchQuery,
    ),
    responses((status = 200, description = "Fetches per day", body = FetchList)),
    security(("bearer" = []))
)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, name)): Path<(String, String)>,
    Query(query): Query<FetchQuery>,
) -> Result<AxumJson<FetchList>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let domain = load(&state, &access, &name).await?;
    let days = query.days.unwrap_or(30).clamp(1, 400);
    let today = time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .div_euclid(86_400);
    let rows = state
        .inner
        .store
        .policy_fetches(&access.tenant, &domain.id, today - days + 1)
        .await?;
    Ok(AxumJson(FetchList {
        items: rows
            .into_iter()
            .map(|r| FetchDay {
                date: date(r.day),
                fetches: r.fetches,
                networks: r.networks,
            })
            .collect(),
    }))
}
