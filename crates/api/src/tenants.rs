//! Tenants and their members.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json as AxumJson, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use stsd_store::{Role, StoreError, UserId};

use crate::AppState;
use crate::audit::record;
use crate::auth::{Access, Need, Principal};
use crate::error::ApiError;
use crate::json::Json;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants", get(list).post(create))
        .route(
            "/api/v1/tenants/{tenant}/members",
            get(members).post(add_member),
        )
        .route(
            "/api/v1/tenants/{tenant}/members/{user}",
            patch(change_role).delete(remove_member),
        )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTenant {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddMember {
    email: String,
    role: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeRole {
    role: String,
}

fn parse_role(raw: &str) -> Result<Role, ApiError> {
    raw.parse::<Role>()
        .map_err(|e| ApiError::invalid_field("role", e))
}

async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<AxumJson<Value>, ApiError> {
    let items: Vec<Value> = match &principal {
        Principal::User { user_id } => state
            .inner
            .store
            .memberships(user_id)
            .await?
            .iter()
            .map(|m| json!({ "id": m.tenant.id.as_str(), "name": m.tenant.name, "role": m.role.as_str() }))
            .collect(),
        Principal::Token { tenant_id, .. } => state
            .inner
            .store
            .tenant(tenant_id)
            .await?
            .map(|t| json!({ "id": t.id.as_str(), "name": t.name, "role": null }))
            .into_iter()
            .collect(),
    };
    Ok(AxumJson(json!({ "items": items })))
}

async fn create(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    principal: Principal,
    Json(req): Json<CreateTenant>,
) -> Result<(StatusCode, AxumJson<Value>), ApiError> {
    let user = principal.user()?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid_field(
            "name",
            "must be 1 to 200 characters",
        ));
    }
    let tenant = state
        .inner
        .store
        .create_tenant_with_owner(name, user)
        .await?;
    record(
        &state,
        Some(&tenant.id),
        &principal.actor(),
        "tenant.create",
        name,
        json!({}),
        Some(peer.ip()),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        AxumJson(json!({ "id": tenant.id.as_str(), "name": tenant.name, "role": "owner" })),
    ))
}

fn member_json(user: &UserId, email: &str, role: Role) -> Value {
    json!({ "user_id": user.as_str(), "email": email, "role": role.as_str() })
}

async fn members(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> Result<AxumJson<Value>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let members = state.inner.store.members(&access.tenant).await?;
    Ok(AxumJson(json!({
        "items": members.iter().map(|m| {
            let mut v = member_json(&m.user_id, &m.email, m.role);
            v["joined_at"] = json!(m.joined_at.unix_timestamp());
            v
        }).collect::<Vec<_>>()
    })))
}

/// Only an owner may make or unmake owners.
fn may_grant(access: &Access, from: Option<Role>, to: Option<Role>) -> Result<(), ApiError> {
    let touches_owner = from == Some(Role::Owner) || to == Some(Role::Owner);
    if touches_owner && access.role != Role::Owner {
        return Err(ApiError::forbidden(
            "only an owner can grant or remove the owner role",
        ));
    }
    Ok(())
}

async fn add_member(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    principal: Principal,
    Path(tenant): Path<String>,
    Json(req): Json<AddMember>,
) -> Result<(StatusCode, AxumJson<Value>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    let role = parse_role(&req.role)?;
    may_grant(&access, None, Some(role))?;
    let store = &state.inner.store;
    let Some(user) = store.user_by_email(&req.email).await? else {
        return Err(ApiError::invalid_field(
            "email",
            "no account uses this e-mail; ask them to sign up first",
        ));
    };
    match store.add_member(&access.tenant, &user.id, role).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "already_member",
                "this user is already a member",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    record(
        &state,
        Some(&access.tenant),
        &principal.actor(),
        "member.add",
        &user.email,
        json!({ "after": { "role": role.as_str() } }),
        Some(peer.ip()),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        AxumJson(member_json(&user.id, &user.email, role)),
    ))
}

async fn change_role(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    principal: Principal,
    Path((tenant, user)): Path<(String, String)>,
    Json(req): Json<ChangeRole>,
) -> Result<AxumJson<Value>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    let role = parse_role(&req.role)?;
    let user = UserId::from_raw(user);
    let current = state.inner.store.role_in(&access.tenant, &user).await?;
    let current = current.ok_or_else(|| ApiError::not_found("member"))?;
    may_grant(&access, Some(current), Some(role))?;
    let before = state
        .inner
        .store
        .change_member(&access.tenant, &user, Some(role))
        .await
        .map_err(last_owner)?;
    record(
        &state,
        Some(&access.tenant),
        &principal.actor(),
        "member.role",
        user.as_str(),
        json!({ "before": { "role": before.as_str() }, "after": { "role": role.as_str() } }),
        Some(peer.ip()),
    )
    .await;
    Ok(AxumJson(
        json!({ "user_id": user.as_str(), "role": role.as_str() }),
    ))
}

fn last_owner(e: StoreError) -> ApiError {
    match e {
        StoreError::StateMismatch { .. } => ApiError::conflict(
            "last_owner",
            "a tenant needs at least one owner; make someone else owner first",
        ),
        other => other.into(),
    }
}

async fn remove_member(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    principal: Principal,
    Path((tenant, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = UserId::from_raw(user);
    // Anyone may leave; removing others needs an admin.
    let leaving = matches!(&principal, Principal::User { user_id } if *user_id == user);
    let need = if leaving { Need::Read } else { Need::Admin };
    let access = Access::check(&state, &principal, &tenant, need).await?;
    let current = state.inner.store.role_in(&access.tenant, &user).await?;
    let current = current.ok_or_else(|| ApiError::not_found("member"))?;
    if !leaving {
        may_grant(&access, Some(current), None)?;
    }
    state
        .inner
        .store
        .change_member(&access.tenant, &user, None)
        .await
        .map_err(last_owner)?;
    record(
        &state,
        Some(&access.tenant),
        &principal.actor(),
        "member.remove",
        user.as_str(),
        json!({ "before": { "role": current.as_str() } }),
        Some(peer.ip()),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
