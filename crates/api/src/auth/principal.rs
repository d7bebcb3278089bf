//! Who is calling: a logged-in user (JWT access token) or an API token.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use stsd_store::{Role, TenantId, TokenScope, UserId};

use crate::AppState;
use crate::auth::secret::{hash_token, hashes_equal};
use crate::error::ApiError;

/// Prefix of API tokens, so that they are recognisable in logs and secret scanners.
pub(crate) const API_TOKEN_PREFIX: &str = "stsd_";

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A user with a valid access token.
    User {
        /// The user.
        user_id: UserId,
    },
    /// An API token, which acts for exactly one tenant.
    Token {
        /// The token's row id.
        token_id: String,
        /// Its tenant.
        tenant_id: TenantId,
        /// What it may do.
        scope: TokenScope,
    },
}

impl Principal {
    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        match self {
            Principal::User { user_id } => format!("user:{user_id}"),
            Principal::Token { token_id, .. } => format!("token:{token_id}"),
        }
    }

    /// The user, for endpoints only people may use.
    pub fn user(&self) -> Result<&UserId, ApiError> {
        match self {
            Principal::User { user_id } => Ok(user_id),
            Principal::Token { .. } => Err(ApiError::forbidden(
                "this endpoint needs a logged-in user, not an API token",
            )),
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let (scheme, credential) = header.split_once(' ').ok_or_else(ApiError::unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::unauthorized());
        }
        let credential = credential.trim();
        if credential.starts_with(API_TOKEN_PREFIX) {
            return api_token(state, credential).await;
        }
        let (user_id, session) = state
            .inner
            .jwt
            .verify_session(credential)
            .ok_or_else(ApiError::unauthorized)?;
        // Logging out or a detected refresh-token reuse revokes the session: its access
        // tokens stop at once, on every API node, not when they expire.
        if let Some(session) = &session
            && !state.inner.store.session_open(&user_id, session).await?
        {
            return Err(ApiError::unauthorized());
        }
        match state.inner.store.user(&user_id).await? {
            Some(user) if user.disabled_at.is_none() => Ok(Principal::User { user_id }),
            _ => Err(ApiError::unauthorized()),
        }
    }
}

async fn api_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let hash = hash_token(token);
    let store = &state.inner.store;
    let found = store
        .api_token_credential(&hash)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    let stored = &found.token;
    let now = time::OffsetDateTime::now_utc();
    if !hashes_equal(&hash, &found.hash)
        || stored.revoked_at.is_some()
        || stored.expires_at.is_some_and(|e| e <= now)
    {
        return Err(ApiError::unauthorized());
    }
    // A token acts with its creator's membership as it is now: gone (removed, disabled,
    // deleted) refuses it, a viewer's write token only reads.
    let scope = match (found.creator_role, stored.scope) {
        (None, _) => return Err(ApiError::unauthorized()),
        (Some(Role::Viewer), _) => TokenScope::Read,
        (Some(_), scope) => scope,
    };
    // Record use at most once a minute per token: a busy script must not turn every read
    // into a write.
    if stored
        .last_used_at
        .is_none_or(|t| now - t > time::Duration::minutes(1))
        && let Err(e) = store.touch_api_token(&stored.tenant_id, &stored.id).await
    {
        tracing::warn!(error = %e, "cannot record API token use");
    }
    Ok(Principal::Token {
        token_id: stored.id.clone(),
        tenant_id: stored.tenant_id.clone(),
        scope,
    })
}
