//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    status: &'static str,
}

/// Readiness and what it depends on.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// `ready` or `not_ready`.
    status: &'static str,
    /// Each dependency's state.
    checks: ReadinessChecks,
}

/// The state of each dependency.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReadinessChecks {
    /// `ok` or `unavailable`.
    database: &'static str,
    /// `current` or `stale` (serving the last snapshot while the store is unreachable);
    /// absent when this process does not serve.
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot: Option<&'static str>,
}

/// The process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "getHealth",
    tag = "health",
    responses((status = 200, description = "The process is up", body = Health))
)]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The API can do its work: the database answers. Answers within about a second whatever
/// the database does (the store's health is read from memory when the binary keeps it, else
/// one ping bounded to a second). A stale serving snapshot in the same process is reported,
/// but does not make the API unready: the API needs the store, not the snapshot.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "getReadiness",
    tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "A dependency is unavailable", body = Readiness),
    )
)]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let up = match state.store_health() {
        Some(health) => health.is_up(),
        None => matches!(
            tokio::time::timeout(std::time::Duration::from_secs(1), state.store().ping()).await,
            Ok(Ok(()))
        ),
    };
    let database = if up { "ok" } else { "unavailable" };
    let snapshot = state
        .snapshot_report()
        .map(|r| if r.stale { "stale" } else { "current" });
    let ready = up;
    (
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(Readiness {
            status: if ready { "ready" } else { "not_ready" },
            checks: ReadinessChecks { database, snapshot },
        }),
    )
}
