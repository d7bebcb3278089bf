//! Tenants and their members.

use axum::Json as AxumJson;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use stsd_store::{Role, StoreError, UserId};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::audit::record;
use crate::auth::{Access, ClientIp, Need, Principal};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Path, has_control};
use crate::json::Json;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(members, add_member))
        .routes(routes!(change_role, remove_member))
}

/// A new tenant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTenant {
    /// Display name, 1 to 200 characters.
    name: String,
}

/// A member to add: an existing account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddMember {
    /// The account's login e-mail.
    email: String,
    /// `owner`, `admin`, `editor` or `viewer`.
    #[schema(examples("editor"))]
    role: String,
}

/// A member's new role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeRole {
    /// `owner`, `admin`, `editor` or `viewer`.
    #[schema(examples("viewer"))]
    role: String,
}

/// A tenant as its member (or token) sees it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantView {
    /// Tenant id.
    pub(crate) id: String,
    /// Display name.
    pub(crate) name: String,
    /// The caller's role; null when the caller is an API token.
    #[schema(required = true)]
    pub(crate) role: Option<&'static str>,
}

/// The caller's tenants.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantList {
    /// A user's memberships, or an API token's one tenant.
    items: Vec<TenantView>,
}

/// A member of a tenant.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Member {
    /// User id.
    user_id: String,
    /// Login e-mail.
    email: String,
    /// `owner`, `admin`, `editor` or `viewer`.
    role: &'static str,
}

/// A member, with when they joined.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MemberDetail {
    #[serde(flatten)]
    member: Member,
    /// Unix seconds.
    joined_at: i64,
}

/// The tenant's members.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MemberList {
    /// Every member.
    items: Vec<MemberDetail>,
}

/// A member's role after a change.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RoleChanged {
    /// User id.
    user_id: String,
    /// The new role.
    role: &'static str,
}

/// Names may be shown anywhere: no control characters (which also keeps NUL bytes away from
/// databases that refuse them).
fn valid_name(name: &str, max: usize) -> bool {
    !name.is_empty() && name.chars().count() <= max && !has_control(name)
}

/// A user id from the path; one that cannot exist answers 404 without asking the store.
fn member_id(raw: String) -> Result<UserId, ApiError> {
    if has_control(&raw) {
        return Err(ApiError::not_found("member"));
    }
    Ok(UserId::from_raw(raw))
}

pub(crate) fn parse_role(raw: &str) -> Result<Role, ApiError> {
    raw.parse::<Role>()
        .map_err(|e| ApiError::invalid_field("role", e))
}

/// Lists the caller's tenants and roles.
#[utoipa::path(
    get,
    path = "/api/v1/tenants",
    operation_id = "listTenants",
    tag = "tenants",
    responses((status = 200, description = "The caller's tenants", body = TenantList)),
    security(("bearer" = []))
)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<AxumJson<TenantList>, ApiError> {
    let items: Vec<TenantView> = match &principal {
        Principal::User { user_id } => state
            .inner
            .store
            .memberships(user_id)
            .await?
            .iter()
            .map(|m| TenantView {
                id: m.tenant.id.as_str().to_owned(),
                name: m.tenant.name.clone(),
                role: Some(m.role.as_str()),
            })
            .collect(),
        Principal::Token { tenant_id, .. } => state
            .inner
            .store
            .tenant(tenant_id)
            .await?
            .map(|t| TenantView {
                id: t.id.as_str().to_owned(),
                name: t.name,
                role: None,
            })
            .into_iter()
            .collect(),
    };
    Ok(AxumJson(TenantList { items }))
}

/// Creates a tenant owned by the caller (users only, not API tokens).
#[utoipa::path(
    post,
    path = "/api/v1/tenants",
    operation_id = "createTenant",
    tag = "tenants",
    request_body = CreateTenant,
    responses(
        (status = 201, description = "Created; the caller is its owner", body = TenantView),
        (status = 403, description = "API tokens cannot create tenants", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    principal: Principal,
    Json(req): Json<CreateTenant>,
) -> Result<(StatusCode, AxumJson<TenantView>), ApiError> {
    let user = principal.user()?;
    let name = req.name.trim();
    if !valid_name(name, 200) {
        return Err(ApiError::invalid_field(
            "name",
            "must be 1 to 200 characters, none of them control characters",
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
        Some(peer),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        AxumJson(TenantView {
            id: tenant.id.as_str().to_owned(),
            name: tenant.name,
            role: Some(Role::Owner.as_str()),
        }),
    ))
}

fn member(user: &UserId, email: &str, role: Role) -> Member {
    Member {
        user_id: user.as_str().to_owned(),
        email: email.to_owned(),
        role: role.as_str(),
    }
}

/// Lists the tenant's members and their roles.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/members",
    operation_id = "listMembers",
    tag = "members",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, description = "The members", body = MemberList)),
    security(("bearer" = []))
)]
async fn members(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> Result<AxumJson<MemberList>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Read).await?;
    let members = state.inner.store.members(&access.tenant).await?;
    Ok(AxumJson(MemberList {
        items: members
            .iter()
            .map(|m| MemberDetail {
                member: member(&m.user_id, &m.email, m.role),
                joined_at: m.joined_at.unix_timestamp(),
            })
            .collect(),
    }))
}

/// Only an owner may make or unmake owners.
pub(crate) fn may_grant(
    access: &Access,
    from: Option<Role>,
    to: Option<Role>,
) -> Result<(), ApiError> {
    let touches_owner = from == Some(Role::Owner) || to == Some(Role::Owner);
    if touches_owner && access.role != Role::Owner {
        return Err(ApiError::forbidden(
            "only an owner can grant or remove the owner role",
        ));
    }
    Ok(())
}

/// Adds an existing account to the tenant (owners and admins; only owners grant `owner`).
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant}/members",
    operation_id = "addMember",
    tag = "members",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = AddMember,
    responses(
        (status = 201, description = "Added", body = Member),
        (status = 409, description = "Already a member (`already_member`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn add_member(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    principal: Principal,
    Path(tenant): Path<String>,
    Json(req): Json<AddMember>,
) -> Result<(StatusCode, AxumJson<Member>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    let role = parse_role(&req.role)?;
    may_grant(&access, None, Some(role))?;
    let store = &state.inner.store;
    let found = if has_control(&req.email) {
        None
    } else {
        store.user_by_email(&req.email).await?
    };
    let Some(user) = found else {
        return Err(ApiError::invalid_field(
            "email",
            "no account uses this e-mail; invite them instead (POST …/members/invitations)",
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
        Some(peer),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        AxumJson(member(&user.id, &user.email, role)),
    ))
}

/// Changes a member's role (owners and admins; only owners touch `owner`).
#[utoipa::path(
    patch,
    path = "/api/v1/tenants/{tenant}/members/{user}",
    operation_id = "changeMemberRole",
    tag = "members",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("user" = String, Path, description = "The member's user id"),
    ),
    request_body = ChangeRole,
    responses(
        (status = 200, description = "Changed", body = RoleChanged),
        (status = 409, description = "It would leave no owner (`last_owner`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn change_role(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    principal: Principal,
    Path((tenant, user)): Path<(String, String)>,
    Json(req): Json<ChangeRole>,
) -> Result<AxumJson<RoleChanged>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    let role = parse_role(&req.role)?;
    let user = member_id(user)?;
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
        json!({ "before": { "role": before.before.as_str() }, "after": { "role": role.as_str() } }),
        Some(peer),
    )
    .await;
    Ok(AxumJson(RoleChanged {
        user_id: user.as_str().to_owned(),
        role: role.as_str(),
    }))
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

/// Removes a member (owners and admins), or leaves (any member removing themselves).
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{tenant}/members/{user}",
    operation_id = "removeMember",
    tag = "members",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("user" = String, Path, description = "The member's user id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 409, description = "It would leave no owner (`last_owner`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn remove_member(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    principal: Principal,
    Path((tenant, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user = member_id(user)?;
    // Anyone may leave; removing others needs an admin.
    let leaving = matches!(&principal, Principal::User { user_id } if *user_id == user);
    let need = if leaving { Need::Read } else { Need::Admin };
    let access = Access::check(&state, &principal, &tenant, need).await?;
    let current = state.inner.store.role_in(&access.tenant, &user).await?;
    let current = current.ok_or_else(|| ApiError::not_found("member"))?;
    if !leaving {
        may_grant(&access, Some(current), None)?;
    }
    let change = state
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
        json!({
            "before": { "role": current.as_str() },
            "tokens_revoked": change.tokens_revoked,
        }),
        Some(peer),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
