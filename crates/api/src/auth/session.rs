//! Sign-up, login, refresh, logout and `me`.
//!
//! Login answers unknown accounts and wrong passwords identically, and spends the same
//! argon2 work on both, so neither the answer nor its timing tells whether an account exists.

use std::net::SocketAddr;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::{Deserialize, Serialize};
use serde_json::json;
use stsd_store::{RefreshOutcome, StoreError, UserId};

use crate::auth::{Principal, hash_token, random_token};
use crate::error::{ApiError, FieldError};
use crate::json::Json;
use crate::{AppState, password};

/// Name of the refresh-token cookie.
pub(crate) const REFRESH_COOKIE: &str = "stsd_refresh";
/// Path the refresh cookie is sent to: the auth endpoints only.
const REFRESH_PATH: &str = "/api/v1/auth";
/// Header a cookie-authenticated request must carry. A cross-site form or image cannot set
/// it, and a cross-site script would need a CORS preflight that stsd never grants.
pub(crate) const CSRF_HEADER: &str = "x-requested-with";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/signup", post(signup))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/me", get(me))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignupRequest {
    email: String,
    password: String,
    tenant_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

fn valid_email(email: &str) -> bool {
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
    let expires = time::OffsetDateTime::now_utc()
        + time::Duration::seconds(i64::try_from(cfg.refresh_ttl.as_secs()).unwrap_or(i64::MAX / 2));
    state
        .inner
        .store
        .create_refresh_token(user, &hash_token(&refresh), expires)
        .await?;
    let access = state.inner.jwt.issue(user, cfg.access_ttl)?;
    Ok((
        jar.add(refresh_cookie(state, refresh)),
        TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: cfg.access_ttl.as_secs(),
        },
    ))
}

fn refresh_cookie(state: &AppState, value: String) -> Cookie<'static> {
    Cookie::build((REFRESH_COOKIE, value))
        .path(REFRESH_PATH)
        .http_only(true)
        .secure(state.inner.config.secure_cookies)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(
            i64::try_from(state.inner.config.refresh_ttl.as_secs()).unwrap_or(i64::MAX / 2),
        ))
        .build()
}

fn cleared_cookie() -> Cookie<'static> {
    Cookie::build((REFRESH_COOKIE, ""))
        .path(REFRESH_PATH)
        .max_age(time::Duration::ZERO)
        .build()
}

async fn signup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    Json(req): Json<SignupRequest>,
) -> Result<Response, ApiError> {
    state.inner.limits.signup(peer.ip())?;
    let email = req.email.trim().to_lowercase();
    let tenant_name = req.tenant_name.trim();
    let mut errors = Vec::new();
    if !valid_email(&email) {
        errors.push(FieldError {
            field: "email".into(),
            message: "is not an e-mail address".into(),
        });
    }
    if tenant_name.is_empty() || tenant_name.chars().count() > 200 {
        errors.push(FieldError {
            field: "tenant_name".into(),
            message: "must be 1 to 200 characters".into(),
        });
    }
    if let Some(problem) = check_password(&req.password, &[&email, tenant_name]) {
        errors.push(FieldError {
            field: "password".into(),
            message: problem,
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let hash = password::hash(&req.password).map_err(|e| ApiError::internal(&e))?;
    let store = &state.inner.store;
    let user = match store.create_user(&email, &hash).await {
        Ok(u) => u,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "email_taken",
                "an account with this e-mail exists; log in instead",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let tenant = store
        .create_tenant_with_owner(tenant_name, &user.id)
        .await?;
    crate::audit::record(
        &state,
        Some(&tenant.id),
        &format!("user:{}", user.id),
        "account.signup",
        &email,
        json!({ "tenant": tenant.name }),
        Some(peer.ip()),
    )
    .await;
    let (jar, tokens) = start_session(&state, jar, &user.id).await?;
    let body = json!({
        "user": { "id": user.id.as_str(), "email": user.email },
        "tenant": { "id": tenant.id.as_str(), "name": tenant.name, "role": "owner" },
        "access_token": tokens.access_token,
        "token_type": tokens.token_type,
        "expires_in": tokens.expires_in,
    });
    Ok((StatusCode::CREATED, jar, axum::Json(body)).into_response())
}

/// A hash to verify against when the account does not exist, so that both paths cost the same.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        password::hash("stsd timing equalizer, never a real password").unwrap_or_default()
    })
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let email = req.email.trim().to_lowercase();
    state.inner.limits.login(&email, peer.ip())?;
    let user = state.inner.store.user_by_email(&email).await?;
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
    let expires = time::OffsetDateTime::now_utc()
        + time::Duration::seconds(i64::try_from(cfg.refresh_ttl.as_secs()).unwrap_or(i64::MAX / 2));
    let outcome = state
        .inner
        .store
        .rotate_refresh_token(&hash_token(&old), &hash_token(&new), expires)
        .await?;
    match outcome {
        RefreshOutcome::Rotated { user_id, .. } => {
            let access = state.inner.jwt.issue(&user_id, cfg.access_ttl)?;
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

async fn me(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    match &principal {
        Principal::User { user_id } => {
            let user = state
                .inner
                .store
                .user(user_id)
                .await?
                .ok_or_else(ApiError::unauthorized)?;
            let memberships = state.inner.store.memberships(user_id).await?;
            Ok(axum::Json(json!({
                "user": { "id": user.id.as_str(), "email": user.email },
                "memberships": memberships.iter().map(|m| json!({
                    "tenant": { "id": m.tenant.id.as_str(), "name": m.tenant.name },
                    "role": m.role.as_str(),
                })).collect::<Vec<_>>(),
            })))
        }
        Principal::Token {
            token_id,
            tenant_id,
            scope,
        } => Ok(axum::Json(json!({
            "token": { "id": token_id, "tenant": tenant_id.as_str(), "scope": scope.as_str() },
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
