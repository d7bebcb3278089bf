//! API tokens: created by admins, shown once, stored hashed, scoped read or write.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json as AxumJson, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use stsd_store::{ApiToken, TokenScope};

use crate::AppState;
use crate::audit::record;
use crate::auth::principal_prefix;
use crate::auth::{Access, Need, Principal, hash_token, random_token};
use crate::error::ApiError;
use crate::json::Json;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants/{tenant}/tokens", get(list).post(create))
        .route("/api/v1/tenants/{tenant}/tokens/{id}", delete(revoke))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    name: String,
    scope: String,
    /// Days until the token stops working; none means it works until revoked.
    expires_in_days: Option<u32>,
}

fn token_json(t: &ApiToken) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "scope": t.scope.as_str(),
        "created_at": t.created_at.unix_timestamp(),
        "expires_at": t.expires_at.map(|x| x.unix_timestamp()),
        "last_used_at": t.last_used_at.map(|x| x.unix_timestamp()),
        "revoked_at": t.revoked_at.map(|x| x.unix_timestamp()),
    })
}

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> Result<AxumJson<Value>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    let tokens = state.inner.store.api_tokens(&access.tenant).await?;
    Ok(AxumJson(
        json!({ "items": tokens.iter().map(token_json).collect::<Vec<_>>() }),
    ))
}

async fn create(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    principal: Principal,
    Path(tenant): Path<String>,
    Json(req): Json<CreateToken>,
) -> Result<(StatusCode, AxumJson<Value>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid_field(
            "name",
            "must be 1 to 100 characters",
        ));
    }
    let scope: TokenScope = req
        .scope
        .parse()
        .map_err(|e: String| ApiError::invalid_field("scope", e))?;
    let expires_at = match req.expires_in_days {
        Some(0) | Some(3651..) => {
            return Err(ApiError::invalid_field(
                "expires_in_days",
                "must be 1 to 3650",
            ));
        }
        Some(days) => Some(time::OffsetDateTime::now_utc() + time::Duration::days(i64::from(days))),
        None => None,
    };
    let secret = random_token(principal_prefix())?;
    let user = principal.user()?;
    let token = state
        .inner
        .store
        .create_api_token(
            &access.tenant,
            name,
            &hash_token(&secret),
            scope,
            Some(user),
            expires_at,
        )
        .await?;
    record(
        &state,
        Some(&access.tenant),
        &principal.actor(),
        "token.create",
        &token.id,
        json!({ "after": { "name": name, "scope": scope.as_str() } }),
        Some(peer.ip()),
    )
    .await;
    let mut body = token_json(&token);
    // The only time the secret is ever shown.
    body["token"] = json!(secret);
    Ok((StatusCode::CREATED, AxumJson(body)))
}

async fn revoke(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    principal: Principal,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    state
        .inner
        .store
        .revoke_api_token(&access.tenant, &id)
        .await?;
    record(
        &state,
        Some(&access.tenant),
        &principal.actor(),
        "token.revoke",
        &id,
        json!({}),
        Some(peer.ip()),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
