//! Invitations: owners and admins invite an e-mail address with a role; the invitee accepts
//! with the token, logged in or while signing up.
//!
//! stsd sends no mail. Creating an invitation answers its token once; the inviter passes it
//! on (chat, their own mail). Only the token's SHA-256 is stored, and it is compared in
//! constant time; it works once, for seven days, and only for an account with the invited
//! e-mail address, so a leaked link is useless to anyone else.

use axum::Json as AxumJson;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use stsd_store::{Invitation, InvitationState, StoreError, User};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::audit::record;
use crate::auth::{Access, ClientIp, Need, Principal, hash_token, hashes_equal, random_token};
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Path, has_control};
use crate::json::Json;
use crate::tenants::{TenantView, may_grant, parse_role};

/// Prefix of invitation tokens: recognisable in logs and secret scanners, and distinct from
/// API tokens (`stsd_`), which the bearer extractor treats differently.
const INVITATION_PREFIX: &str = "stsdinv_";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
        .routes(routes!(accept))
}

/// An invitation to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateInvitation {
    /// The invitee's e-mail; only an account with this address can accept.
    #[schema(examples("new.colleague@example.com"))]
    email: String,
    /// `owner`, `admin`, `editor` or `viewer`; only owners invite owners.
    #[schema(examples("editor"))]
    role: String,
}

/// A pending invitation (never its token).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InvitationView {
    /// Invitation id, to revoke it.
    id: String,
    /// The invited e-mail, lower-cased.
    email: String,
    /// The role the invitee gets.
    role: &'static str,
    /// The user id of whoever invited, while that account exists.
    #[schema(required = true)]
    invited_by: Option<String>,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds; after this the token no longer works.
    expires_at: i64,
}

/// A new invitation with its token, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InvitationCreated {
    /// The invitation.
    invitation: InvitationView,
    /// The secret to pass to the invitee (stsd sends no mail): they accept it with
    /// `POST /api/v1/invitations/accept`, or sign up with it as `invitation`. Not shown again.
    token: String,
}

/// The tenant's pending invitations.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InvitationList {
    /// Unused, unexpired invitations, oldest first.
    items: Vec<InvitationView>,
}

/// An invitation token to accept.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptInvitation {
    /// The token the inviter passed on.
    token: String,
}

fn view(i: &Invitation) -> InvitationView {
    InvitationView {
        id: i.id.clone(),
        email: i.email.clone(),
        role: i.role.as_str(),
        invited_by: i.invited_by.as_ref().map(|u| u.as_str().to_owned()),
        created_at: i.created_at.unix_timestamp(),
        expires_at: i.expires_at.unix_timestamp(),
    }
}

/// Invites an e-mail address to the tenant with a role (owners and admins; only owners
/// invite owners). Answers the token once; stsd sends no mail, so pass it on yourself.
/// Inviting an address again replaces its pending invitation.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant}/members/invitations",
    operation_id = "createInvitation",
    tag = "members",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = CreateInvitation,
    responses(
        (status = 201, description = "Invited; the token is in the answer, and only there", body = InvitationCreated),
        (status = 403, description = "Not an owner or admin, or an admin inviting an owner (`forbidden`)", body = ErrorEnvelope),
        (status = 409, description = "The address already belongs to a member (`already_member`)", body = ErrorEnvelope),
        (status = 422, description = "Not an e-mail address, or an unknown role", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Path(tenant): Path<String>,
    Json(req): Json<CreateInvitation>,
) -> Result<(StatusCode, AxumJson<InvitationCreated>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    let role = parse_role(&req.role)?;
    may_grant(&access, None, Some(role))?;
    let email = req.email.trim().to_lowercase();
    if !crate::auth::valid_email(&email) {
        return Err(ApiError::invalid_field("email", "is not an e-mail address"));
    }
    let store = &state.inner.store;
    // An invitation for someone already inside could only fail when used.
    if let Some(user) = store.user_by_email(&email).await?
        && store.role_in(&access.tenant, &user.id).await?.is_some()
    {
        return Err(ApiError::conflict(
            "already_member",
            "this user is already a member",
        ));
    }
    let token = random_token(INVITATION_PREFIX)?;
    let expires_at = OffsetDateTime::now_utc() + state.inner.config.invitation_ttl;
    let invitation = store
        .create_invitation(
            &access.tenant,
            &email,
            role,
            &hash_token(&token),
            principal.user().ok(),
            expires_at,
        )
        .await?;
    record(
        &state,
        Some(&access.tenant),
        &principal.actor(),
        "invitation.create",
        &invitation.email,
        json!({
            "invitation": invitation.id,
            "after": { "role": role.as_str() },
            "expires_at": expires_at.unix_timestamp(),
        }),
        Some(ip),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        AxumJson(InvitationCreated {
            invitation: view(&invitation),
            token,
        }),
    ))
}

/// Lists the tenant's pending invitations, without their tokens (owners and admins).
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/members/invitations",
    operation_id = "listInvitations",
    tag = "members",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, description = "Pending invitations", body = InvitationList)),
    security(("bearer" = []))
)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> Result<AxumJson<InvitationList>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    let pending = state
        .inner
        .store
        .pending_invitations(&access.tenant)
        .await?;
    Ok(AxumJson(InvitationList {
        items: pending.iter().map(view).collect(),
    }))
}

/// Revokes a pending invitation (owners and admins): its token stops working.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{tenant}/members/invitations/{id}",
    operation_id = "revokeInvitation",
    tag = "members",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("id" = String, Path, description = "Invitation id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such pending invitation (`not_found`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    if has_control(&id) {
        return Err(ApiError::not_found("invitation"));
    }
    let revoked = state
        .inner
        .store
        .revoke_invitation(&access.tenant, &id)
        .await?;
    record(
        &state,
        Some(&access.tenant),
        &principal.actor(),
        "invitation.revoke",
        &revoked.email,
        json!({ "invitation": revoked.id, "before": { "role": revoked.role.as_str() } }),
        Some(ip),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Why a token cannot be used, as the API answers it. The caller holds the token, so saying
/// "expired" or "used" reveals nothing they could not know.
pub(crate) enum Refusal {
    /// No invitation has this token (never issued, revoked, or replaced).
    Unknown,
    /// Past its seven days.
    Expired,
    /// Already accepted.
    Used,
    /// Issued to another e-mail address.
    OtherEmail,
}

impl Refusal {
    fn into_error(self) -> ApiError {
        match self {
            Refusal::Unknown => ApiError::not_found("invitation"),
            Refusal::Expired => ApiError::new(
                StatusCode::GONE,
                "invitation_expired",
                "this invitation has expired; ask for a new one",
            ),
            Refusal::Used => ApiError::new(
                StatusCode::GONE,
                "invitation_used",
                "this invitation was already used",
            ),
            Refusal::OtherEmail => ApiError::new(
                StatusCode::FORBIDDEN,
                "invitation_email_mismatch",
                "this invitation was issued to another e-mail address",
            ),
        }
    }

    /// The same refusal as a message for sign-up's `invitation` field.
    pub(crate) fn field_message(&self) -> &'static str {
        match self {
            Refusal::Unknown => "is not a valid invitation (revoked, replaced or mistyped)",
            Refusal::Expired => "has expired; ask for a new one",
            Refusal::Used => "was already used",
            Refusal::OtherEmail => "was issued to another e-mail address",
        }
    }
}

/// The invitation `token` names, if `email` may use it now.
pub(crate) async fn usable(
    state: &AppState,
    token: &str,
    email: &str,
) -> Result<Result<Invitation, Refusal>, ApiError> {
    let token = token.trim();
    if !token.starts_with(INVITATION_PREFIX) || has_control(token) {
        return Ok(Err(Refusal::Unknown));
    }
    let hash = hash_token(token);
    let Some((invitation, stored)) = state.inner.store.invitation_with_hash(&hash).await? else {
        return Ok(Err(Refusal::Unknown));
    };
    if !hashes_equal(&hash, &stored) {
        return Ok(Err(Refusal::Unknown));
    }
    Ok(match invitation.state_at(OffsetDateTime::now_utc()) {
        InvitationState::Accepted => Err(Refusal::Used),
        InvitationState::Expired => Err(Refusal::Expired),
        // Both sides are stored lower-cased; comparing lower-cased again costs nothing and
        // keeps the rule "case-insensitive" true whatever wrote the rows.
        InvitationState::Pending if invitation.email.to_lowercase() != email.to_lowercase() => {
            Err(Refusal::OtherEmail)
        }
        InvitationState::Pending => Ok(invitation),
    })
}

/// Maps a store refusal during acceptance (a race with another acceptance, a revocation or
/// the expiry, or an existing membership) to the API's answer.
pub(crate) fn acceptance_error(e: StoreError) -> ApiError {
    match e {
        StoreError::StateMismatch { .. } => Refusal::Used.into_error(),
        StoreError::Conflict("membership") => {
            ApiError::conflict("already_member", "you are already a member of this tenant")
        }
        other => other.into(),
    }
}

/// Records an acceptance in the tenant's audit log.
pub(crate) async fn record_acceptance(
    state: &AppState,
    user: &User,
    invitation: &Invitation,
    ip: std::net::IpAddr,
) {
    record(
        state,
        Some(&invitation.tenant_id),
        &format!("user:{}", user.id),
        "invitation.accept",
        &user.email,
        json!({ "invitation": invitation.id, "after": { "role": invitation.role.as_str() } }),
        Some(ip),
    )
    .await;
}

/// Accepts an invitation as the logged-in user, whose e-mail must be the invited one
/// (compared case-insensitively); joins the tenant with the invited role. Users only, not
/// API tokens.
#[utoipa::path(
    post,
    path = "/api/v1/invitations/accept",
    operation_id = "acceptInvitation",
    tag = "members",
    request_body = AcceptInvitation,
    responses(
        (status = 200, description = "Joined; the tenant with the caller's new role", body = TenantView),
        (status = 403, description = "An API token, or the invitation is for another e-mail (`invitation_email_mismatch`)", body = ErrorEnvelope),
        (status = 404, description = "No such invitation: never issued, revoked or replaced (`not_found`)", body = ErrorEnvelope),
        (status = 409, description = "Already a member (`already_member`)", body = ErrorEnvelope),
        (status = 410, description = "Expired (`invitation_expired`) or already used (`invitation_used`)", body = ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn accept(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    principal: Principal,
    Json(req): Json<AcceptInvitation>,
) -> Result<AxumJson<TenantView>, ApiError> {
    let user_id = principal.user()?;
    let store = &state.inner.store;
    let user = store
        .user(user_id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let invitation = usable(&state, &req.token, &user.email)
        .await?
        .map_err(Refusal::into_error)?;
    let invitation = store
        .accept_invitation(&invitation.id, &user.id)
        .await
        .map_err(acceptance_error)?;
    record_acceptance(&state, &user, &invitation, ip).await;
    let tenant = store
        .tenant(&invitation.tenant_id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))?;
    Ok(AxumJson(TenantView {
        id: tenant.id.as_str().to_owned(),
        name: tenant.name,
        role: Some(invitation.role.as_str()),
    }))
}
