//! Sign-up, login, refresh, logout and `me`.
//!
//! Login answers unknown accounts and wrong passwords identically, and spends the same
//! argon2 work on both, so neither the answer nor its timing tells whether an account exists.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};
use serde_json::json;
use stsd_store::{RefreshOutcome, StoreError, UserId};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{ClientIp, Principal, hash_token, random_token};
use crate::error::{ApiError, ErrorEnvelope, FieldError};
use crate::extract::has_control;
use crate::json::Json;
use crate::tenants::TenantView;
use crate::{AppState, password};

/// Name of the refresh-token cookie.
pub(crate) const REFRESH_COOKIE: &str = "stsd_refresh";
/// Path the refresh cookie is sent to: the auth endpoints only.
const REFRESH_PATH: &str = "/api/v1/auth";
/// Header a cookie-authenticated request must carry. A cross-site form or image cannot set
/// it, and a cross-site script would need a CORS preflight that stsd never grants.
pub(crate) const CSRF_HEADER: &str = "x-requested-with";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
}

/// A new account with its first tenant, or joining a tenant by invitation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignupRequest {
    /// Login e-mail. With `invitation`, it must be the invited address.
    #[schema(examples("ops@example.com"))]
    email: String,
    /// At least 12 characters, and hard to guess.
    #[schema(examples("violet quarry lantern 42 drift"))]
    password: String,
    /// Name of the first tenant, 1 to 200 characters; required without `invitation`, and
    /// left out with it.
    #[schema(examples("Example Inc."))]
    tenant_name: Option<String>,
    /// An invitation token: the account joins the inviting tenant with the invited role
    /// instead of creating a tenant of its own (it can create one later).
    invitation: Option<String>,
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    /// Login e-mail.
    email: String,
    /// Password.
    password: String,
}

/// An access token. The refresh token travels in the `stsd_refresh` cookie.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenResponse {
    /// JWT to send as `Authorization: Bearer …`.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
}

/// A user.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserView {
    /// User id.
    id: String,
    /// Login e-mail.
    email: String,
}

/// A new account, its tenant and a session.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SignupResponse {
    /// The account.
    user: UserView,
    /// Its new tenant, owned by it; or the tenant it joined by invitation, with its role.
    tenant: TenantView,
    /// JWT to send as `Authorization: Bearer …`.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
}

/// A tenant named in a membership.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantRef {
    /// Tenant id.
    id: String,
    /// Display name.
    name: String,
}

/// A user's membership in a tenant.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Membership {
    /// The tenant.
    tenant: TenantRef,
    /// `owner`, `admin`, `editor` or `viewer`.
    role: &'static str,
}

/// A logged-in user and their memberships.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserMe {
    /// The user.
    user: UserView,
    /// Their tenants and roles.
    memberships: Vec<Membership>,
}

/// An API token describing itself.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenIdentity {
    /// Token id.
    id: String,
    /// The token's tenant id.
    tenant: String,
    /// `read` or `write`.
    scope: &'static str,
}

/// An API token's view of itself.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenMe {
    /// The token.
    token: TokenIdentity,
}

/// Who the caller is: a user (JWT) or an API token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum Me {
    /// A logged-in user.
    User(UserMe),
    /// An API token.
    Token(TokenMe),
}

/// Whether `email` looks like a deliverable address: a local part and a public host name.
pub(crate) fn valid_email(email: &str) -> bool {
    email.len() <= 254
        && match email.rsplit_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && local.len() <= 64
                    && !local.chars().any(|c| c.is_whitespace() || c.is_control())
                    && stsd_core::DomainName::parse_host(domain).is_ok()
            }
            None => false,
        }
}

fn check_password(password: &str, inputs: &[&str]) -> Option<String> {
    if password.chars().count() < password::MIN_LENGTH {
        return Some(format!(
            "must be at least {} characters long",
            password::MIN_LENGTH
        ));
    }
    if password.len() > password::MAX_LENGTH {
        return Some(format!(
            "must be at most {} bytes long",
            password::MAX_LENGTH
        ));
    }
    let estimate = zxcvbn::zxcvbn(password, inputs);
    if u8::from(estimate.score()) < 3 {
        let hint = estimate
            .feedback()
            .and_then(|f| f.warning().map(|w| w.to_string()))
            .unwrap_or_else(|| "add more words or characters".to_owned());
        return Some(format!("is too easy to guess: {hint}"));
    }
    None
}

/// Issues an access token and a new refresh family, answering with the cookie set.
async fn start_session(
    state: &AppState,
    jar: CookieJar,
    user: &UserId,
) -> Result<(CookieJar, TokenResponse), ApiError> {
    let cfg = &state.inner.config;
    let refresh = random_token("")?;
    let expires = time::OffsetDateTime::now_utc() + refresh_lifetime(state);
    let family = state
        .inner
        .store
        .create_refresh_token(user, &hash_token(&refresh), expires)
        .await?;
    let access = state
        .inner
        .jwt
        .issue_for_session(user, &family, cfg.access_ttl)?;
    Ok((
        jar.add(refresh_cookie(state, refresh)),
        TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: cfg.access_ttl.as_secs(),
        },
    ))
}

/// How long a refresh token (and its cookie) lives.
fn refresh_lifetime(state: &AppState) -> time::Duration {
    time::Duration::seconds(
        i64::try_from(state.inner.config.refresh_ttl.as_secs()).unwrap_or(i64::MAX / 2),
    )
}

fn refresh_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build((REFRESH_COOKIE, value))
        .path(REFRESH_PATH)
        .http_only(true)
        .secure(state.inner.config.secure_cookies)
        .same_site(SameSite::Strict)
        .max_age(refresh_lifetime(state))
        .build()
}

fn cleared_cookie() -> Cookie<'static> {
    Cookie::build((REFRESH_COOKIE, ""))
        .path(REFRESH_PATH)
        .max_age(time::Duration::ZERO)
        .build()
}

/// Creates an account and its first tenant, and starts a session (also sets the refresh
/// cookie). With an `invitation` token the account joins the inviting tenant instead; its
/// e-mail must be the invited one.
#[utoipa::path(
    post,
    path = "/api/v1/auth/signup",
    operation_id = "signUp",
    tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Created and logged in; sets the `stsd_refresh` cookie", body = SignupResponse),
        (status = 409, description = "The e-mail is taken (`email_taken`)", body = ErrorEnvelope),
        (status = 422, description = "A field is invalid, including an unusable `invitation` (unknown, expired, used, or for another e-mail)", body = ErrorEnvelope),
        (status = 429, description = "Too many sign-ups from this address (`rate_limited`); attempts refused with 422 for their e-mail, tenant name or password do not count. The message and `Retry-After` say when to try again", body = ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
async fn signup(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    jar: CookieJar,
    Json(req): Json<SignupRequest>,
) -> Result<Response, ApiError> {
    let email = req.email.trim().to_lowercase();
    let tenant_name = req.tenant_name.as_deref().map(str::trim);
    let mut errors = Vec::new();
    let field = |field: &str, message: &str| FieldError {
        field: field.into(),
        message: message.into(),
    };
    if !valid_email(&email) {
        errors.push(field("email", "is not an e-mail address"));
    }
    match (tenant_name, &req.invitation) {
        (None, None) => errors.push(field(
            "tenant_name",
            "is required (unless signing up with an invitation)",
        )),
        (Some(_), Some(_)) => errors.push(field(
            "tenant_name",
            "must be left out when signing up with an invitation; create tenants later",
        )),
        (Some(name), None)
            if name.is_empty() || name.chars().count() > 200 || has_control(name) =>
        {
            errors.push(field(
                "tenant_name",
                "must be 1 to 200 characters, none of them control characters",
            ));
        }
        _ => {}
    }
    if let Some(problem) = check_password(&req.password, &[&email, tenant_name.unwrap_or("")]) {
        errors.push(FieldError {
            field: "password".into(),
            message: problem,
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    // Only a well-formed attempt spends the limit: a typo or a weak password costs the
    // person nothing, and tells nobody anything (it depends on the request alone). What
    // follows reads the store (the invitation, whether the e-mail is taken), so it is
    // limited.
    state.inner.limits.signup(&state.inner.store, peer).await?;
    let invitation = match &req.invitation {
        Some(token) => match crate::invitations::usable(&state, token, &email).await? {
            Ok(invitation) => Some(invitation),
            Err(refusal) => {
                return Err(ApiError::invalid_field(
                    "invitation",
                    refusal.field_message(),
                ));
            }
        },
        None => None,
    };
    let hash = password::hash(&req.password).map_err(|e| ApiError::internal(&e))?;
    let store = &state.inner.store;
    let email_taken = || {
        ApiError::conflict(
            "email_taken",
            "an account with this e-mail exists; log in instead",
        )
    };
    let (user, tenant) = match (invitation, tenant_name) {
        (Some(invitation), _) => {
            let (user, invitation) = match store
                .create_user_accepting_invitation(&email, &hash, &invitation.id)
                .await
            {
                Ok(done) => done,
                Err(StoreError::Conflict("user with this e-mail")) => return Err(email_taken()),
                Err(e) => return Err(crate::invitations::acceptance_error(e)),
            };
            crate::invitations::record_acceptance(&state, &user, &invitation, peer).await;
            let tenant = store
                .tenant(&invitation.tenant_id)
                .await?
                .ok_or_else(|| ApiError::not_found("tenant"))?;
            crate::audit::record(
                &state,
                Some(&tenant.id),
                &format!("user:{}", user.id),
                "account.signup",
                &email,
                json!({ "tenant": tenant.name, "invitation": invitation.id }),
                Some(peer),
            )
            .await;
            let view = TenantView {
                id: tenant.id.as_str().to_owned(),
                name: tenant.name,
                role: Some(invitation.role.as_str()),
            };
            (user, view)
        }
        (None, name) => {
            let name = name.unwrap_or_default();
            let user = match store.create_user(&email, &hash).await {
                Ok(u) => u,
                Err(StoreError::Conflict(_)) => return Err(email_taken()),
                Err(e) => return Err(e.into()),
            };
            let tenant = store.create_tenant_with_owner(name, &user.id).await?;
            crate::audit::record(
                &state,
                Some(&tenant.id),
                &format!("user:{}", user.id),
                "account.signup",
                &email,
                json!({ "tenant": tenant.name }),
                Some(peer),
            )
            .await;
            let view = TenantView {
                id: tenant.id.as_str().to_owned(),
                name: tenant.name,
                role: Some(stsd_store::Role::Owner.as_str()),
            };
            (user, view)
        }
    };
    let (jar, tokens) = start_session(&state, jar, &user.id).await?;
    let body = SignupResponse {
        user: UserView {
            id: user.id.as_str().to_owned(),
            email: user.email,
        },
        tenant,
        access_token: tokens.access_token,
        token_type: tokens.token_type,
        expires_in: tokens.expires_in,
    };
    Ok((StatusCode::CREATED, jar, axum::Json(body)).into_response())
}

/// Computes the dummy hash now (see [`dummy_hash`]); called at start-up.
pub(crate) fn prewarm_dummy_hash() {
    let _ = dummy_hash();
}

/// A hash to verify against when the account does not exist, so that both paths cost the same.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        password::hash("stsd timing equalizer, never a real password").unwrap_or_default()
    })
}

/// Logs in: answers an access token and sets the refresh cookie. Unknown accounts and wrong
/// passwords get the same answer.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    operation_id = "logIn",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; sets the `stsd_refresh` cookie", body = TokenResponse),
        (status = 401, description = "Wrong e-mail or password (`invalid_credentials`)", body = ErrorEnvelope),
        (status = 429, description = "Too many attempts from this address or for this account (`rate_limited`)", body = ErrorEnvelope, headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
async fn login(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    jar: CookieJar,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let email = req.email.trim().to_lowercase();
    state
        .inner
        .limits
        .login(&state.inner.store, &email, peer)
        .await?;
    // Text with control characters is no account's e-mail; not asking the store keeps NUL
    // bytes (which PostgreSQL refuses) from becoming a server error.
    let user = if has_control(&email) {
        None
    } else {
        state.inner.store.user_by_email(&email).await?
    };
    let (hash, user) = match user {
        Some(u) if u.disabled_at.is_none() => (u.password_hash.clone(), Some(u)),
        _ => (dummy_hash().to_owned(), None),
    };
    let password = req.password;
    // argon2 is CPU work: keep it off the async workers.
    let matches = tokio::task::spawn_blocking(move || password::verify(&password, &hash))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let Some(user) = user.filter(|_| matches) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong e-mail or password",
        ));
    };
    let (jar, tokens) = start_session(&state, jar, &user.id).await?;
    Ok((jar, axum::Json(tokens)).into_response())
}

fn require_csrf_header(headers: &HeaderMap) -> Result<(), ApiError> {
    if headers.contains_key(CSRF_HEADER) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "cookie-authenticated requests must send the X-Requested-With header",
        ))
    }
}

/// Rotates the refresh token (cookie) and answers a new access token. Presenting an already
/// rotated refresh token revokes the whole session: its refresh tokens and, at once, its
/// access tokens. The user's other sessions (other browsers, devices) stay open: a stolen
/// refresh token exposes only the session it belongs to; the reuse is in the audit log
/// (`session.reuse_detected`).
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    operation_id = "refreshSession",
    tag = "auth",
    params(("X-Requested-With" = String, Header, description = "Any value, e.g. `fetch`: a cross-site form cannot send it")),
    responses(
        (status = 200, description = "A new access token; sets a new `stsd_refresh` cookie", body = TokenResponse),
        (status = 401, description = "No, an unknown, an expired or an already used refresh cookie (`unauthorized`)", body = ErrorEnvelope),
        (status = 403, description = "The `X-Requested-With` header is missing (`forbidden`)", body = ErrorEnvelope),
    ),
    security(("refresh_cookie" = []))
)]
async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    require_csrf_header(&headers)?;
    let Some(old) = jar.get(REFRESH_COOKIE).map(|c| c.value().to_owned()) else {
        return Err(ApiError::unauthorized());
    };
    let cfg = &state.inner.config;
    let new = random_token("")?;
    let expires = time::OffsetDateTime::now_utc() + refresh_lifetime(&state);
    let outcome = state
        .inner
        .store
        .rotate_refresh_token(&hash_token(&old), &hash_token(&new), expires)
        .await?;
    match outcome {
        RefreshOutcome::Rotated { user_id, family_id } => {
            let access = state
                .inner
                .jwt
                .issue_for_session(&user_id, &family_id, cfg.access_ttl)?;
            let jar = jar.add(refresh_cookie(&state, new));
            let body = TokenResponse {
                access_token: access,
                token_type: "Bearer",
                expires_in: cfg.access_ttl.as_secs(),
            };
            Ok((jar, axum::Json(body)).into_response())
        }
        RefreshOutcome::Reused { user_id } => {
            tracing::warn!(user = %user_id, "refresh token reused: session family revoked");
            crate::audit::record(
                &state,
                None,
                &format!("user:{user_id}"),
                "session.reuse_detected",
                user_id.as_str(),
                json!({}),
                None,
            )
            .await;
            Err(ApiError::unauthorized())
        }
        RefreshOutcome::Invalid => Err(ApiError::unauthorized()),
    }
}

/// Ends the session: revokes the refresh token's whole family and the session's access
/// tokens (on every API node at once), and clears the cookie. Other sessions stay open.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    operation_id = "logOut",
    tag = "auth",
    params(("X-Requested-With" = String, Header, description = "Any value, e.g. `fetch`: a cross-site form cannot send it")),
    responses(
        (status = 204, description = "Logged out; clears the `stsd_refresh` cookie"),
        (status = 403, description = "The `X-Requested-With` header is missing (`forbidden`)", body = ErrorEnvelope),
    ),
    security(("refresh_cookie" = []), ())
)]
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    require_csrf_header(&headers)?;
    if let Some(token) = jar.get(REFRESH_COOKIE) {
        state
            .inner
            .store
            .revoke_refresh_family(&hash_token(token.value()))
            .await?;
    }
    Ok((StatusCode::NO_CONTENT, jar.add(cleared_cookie())).into_response())
}

/// Who the caller is: the user and their memberships, or the API token.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    operation_id = "getMe",
    tag = "auth",
    responses((status = 200, description = "The caller", body = Me)),
    security(("bearer" = []))
)]
async fn me(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<Me>, ApiError> {
    match &principal {
        Principal::User { user_id } => {
            let user = state
                .inner
                .store
                .user(user_id)
                .await?
                .ok_or_else(ApiError::unauthorized)?;
            let memberships = state.inner.store.memberships(user_id).await?;
            Ok(axum::Json(Me::User(UserMe {
                user: UserView {
                    id: user.id.as_str().to_owned(),
                    email: user.email,
                },
                memberships: memberships
                    .iter()
                    .map(|m| Membership {
                        tenant: TenantRef {
                            id: m.tenant.id.as_str().to_owned(),
                            name: m.tenant.name.clone(),
                        },
                        role: m.role.as_str(),
                    })
                    .collect(),
            })))
        }
        Principal::Token {
            token_id,
            tenant_id,
            scope,
        } => Ok(axum::Json(Me::Token(TokenMe {
            token: TokenIdentity {
                id: token_id.clone(),
                tenant: tenant_id.as_str().to_owned(),
                scope: scope.as_str(),
            },
        }))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert!(check_password("short", &[]).unwrap().contains("at least"));
        assert!(
            check_password("password1234", &[])
                .unwrap()
                .contains("too easy")
        );
        assert!(
            check_password("ops@example.com1", &["ops@example.com"])
                .unwrap()
                .contains("too easy")
        );
        assert_eq!(check_password("violet quarry lantern 42 drift", &[]), None);
    }

    #[test]
    fn emails() {
        assert!(valid_email("ops@example.com"));
        assert!(!valid_email("ops@localhost"));
        assert!(!valid_email("@example.com"));
        assert!(!valid_email("a b@example.com"));
        assert!(!valid_email("no-at-sign"));
    }
}
