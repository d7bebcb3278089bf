//! Writing and reading the audit log.

use std::net::IpAddr;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use stsd_store::{NewAuditEntry, TenantId};

use crate::AppState;
use crate::auth::{Access, Need, Principal};
use crate::error::ApiError;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/tenants/{tenant}/audit", get(list))
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

#[derive(Debug, Deserialize)]
struct Page {
    before: Option<i64>,
    limit: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({
        "items": entries.iter().map(|e| json!({
            "id": e.id,
            "actor": e.actor,
            "action": e.action,
            "target": e.target,
            "details": serde_json::from_str::<Value>(&e.details).unwrap_or(Value::Null),
            "client_ip": e.client_ip,
            "at": e.at.unix_timestamp(),
        })).collect::<Vec<_>>(),
        "next_before": next,
    })))
}
