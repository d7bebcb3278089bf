//! Writing and reading the audit log.

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stsd_store::{NewAuditEntry, TenantId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::{Access, Need, Principal};
use crate::error::ApiError;
use crate::extract::{Path, Query};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Appends an entry. A failure is logged, not returned: the change itself already happened.
pub(crate) async fn record(
    state: &AppState,
    tenant: Option<&TenantId>,
    actor: &str,
    action: &str,
    target: &str,
    details: Value,
    client_ip: Option<IpAddr>,
) {
    let ip = client_ip.map(|ip| ip.to_string());
    let details = details.to_string();
    let entry = NewAuditEntry {
        tenant_id: tenant,
        actor,
        action,
        target,
        details: &details,
        client_ip: ip.as_deref(),
    };
    if let Err(e) = state.inner.store.append_audit(&entry).await {
        tracing::error!(error = %e, action, target, "cannot write the audit log");
    }
}

/// Paging through the audit log, newest first.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Page {
    /// Only entries with an id below this (the previous page's `next_before`).
    before: Option<i64>,
    /// Entries per page, 1 to 200 (default 50; out-of-range values are clamped).
    limit: Option<i64>,
}

/// One audit log entry.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEntry {
    /// Entry id; increases over time.
    id: i64,
    /// Who: `user:<id>` or `token:<id>`.
    actor: String,
    /// What, e.g. `domain.create`.
    action: String,
    /// What it was done to.
    target: String,
    /// Before/after values; any JSON (null if unreadable).
    details: Value,
    /// The client's address, if known.
    #[schema(required = true)]
    client_ip: Option<String>,
    /// When, in Unix seconds.
    at: i64,
}

/// A page of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditPage {
    /// Entries, newest first.
    items: Vec<AuditEntry>,
    /// Pass as `before` for the next page; null on the last page.
    #[schema(required = true)]
    next_before: Option<i64>,
}

/// The tenant's audit log: every change, who made it and when.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/audit",
    operation_id = "listAuditEntries",
    tag = "audit",
    params(("tenant" = String, Path, description = "Tenant id"), Page),
    responses((status = 200, description = "A page of entries, newest first", body = AuditPage)),
    security(("bearer" = []))
)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<AuditPage>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let limit = page.limit.unwrap_or(50).clamp(1, 200);
    let entries = state
        .inner
        .store
        .audit_log(&access.tenant, page.before, limit)
        .await?;
    let next = if i64::try_from(entries.len()).unwrap_or(0) == limit {
        entries.last().map(|e| e.id)
    } else {
        None
    };
    Ok(Json(AuditPage {
        items: entries
            .iter()
            .map(|e| AuditEntry {
                id: e.id,
                actor: e.actor.clone(),
                action: e.action.clone(),
                target: e.target.clone(),
                details: serde_json::from_str::<Value>(&e.details).unwrap_or(Value::Null),
                client_ip: e.client_ip.clone(),
                at: e.at.unix_timestamp(),
            })
            .collect(),
        next_before: next,
    }))
}
