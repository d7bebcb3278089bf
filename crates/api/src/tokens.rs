//! API tokens: created by admins, shown once, stored hashed, scoped read or write.

use axum::Json as AxumJson;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use stsd_store::{ApiToken, TokenScope};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::audit::record;
use crate::auth::principal_prefix;
use crate::auth::{Access, ClientIp, Need, Principal, hash_token, random_token};
use crate::error::ApiError;
use crate::extract::{Path, has_control};
use crate::json::Json;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// A new API token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateToken {
    /// What the token is for, 1 to 100 characters.
    name: String,
    /// `read` or `write`.
    #[schema(examples("read", "write"))]
    scope: String,
    /// Days until the token stops working (1 to 3650); absent or null means it works until
    /// revoked.
    expires_in_days: Option<u32>,
}

/// An API token, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenView {
    /// Token id.
    id: String,
    /// What the token is for.
    name: String,
    /// `read` or `write`.
    scope: &'static str,
    /// Who created it; null once that account is deleted. A token acts with its creator's
    /// current role in the tenant: it stops working when they leave or are removed, and a
    /// write token only reads while they are a viewer.
    #[schema(required = true)]
    created_by: Option<TokenCreator>,
    /// Unix seconds.
    created_at: i64,
    /// Unix seconds; null if it never expires.
    #[schema(required = true)]
    expires_at: Option<i64>,
    /// Unix seconds (recorded at most once a minute); null if never used.
    #[schema(required = true)]
    last_used_at: Option<i64>,
    /// Unix seconds; null unless revoked.
    #[schema(required = true)]
    revoked_at: Option<i64>,
}

/// The member who created a token.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenCreator {
    /// User id.
    id: String,
    /// Their e-mail.
    #[schema(required = true)]
    email: Option<String>,
}

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> TokenView {
        TokenView {
            id: t.id.clone(),
            name: t.name.clone(),
            scope: t.scope.as_str(),
            created_by: t.created_by.as_ref().map(|id| TokenCreator {
                id: id.as_str().to_owned(),
                email: t.created_by_email.clone(),
            }),
            created_at: t.created_at.unix_timestamp(),
            expires_at: t.expires_at.map(|x| x.unix_timestamp()),
            last_used_at: t.last_used_at.map(|x| x.unix_timestamp()),
            revoked_at: t.revoked_at.map(|x| x.unix_timestamp()),
        }
    }
}

/// A just-created API token, with its secret.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedToken {
    #[serde(flatten)]
    token: TokenView,
    /// The secret (`stsd_…`): shown this once, stored only as a hash.
    #[serde(rename = "token")]
    secret: String,
}

/// The tenant's API tokens.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenList {
    /// Every token, revoked ones included.
    items: Vec<TokenView>,
}

/// Lists the tenant's API tokens (owners and admins).
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/tokens",
    operation_id = "listTokens",
    tag = "tokens",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, description = "The tokens", body = TokenList)),
    security(("bearer" = []))
)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> Result<AxumJson<TokenList>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    let tokens = state.inner.store.api_tokens(&access.tenant).await?;
    Ok(AxumJson(TokenList {
        items: tokens.iter().map(TokenView::from).collect(),
    }))
}

/// Creates an API token (owners and admins); the answer is the only time its secret is shown.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant}/tokens",
    operation_id = "createToken",
    tag = "tokens",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = CreateToken,
    responses((status = 201, description = "Created; keep the secret now", body = CreatedToken)),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    principal: Principal,
    Path(tenant): Path<String>,
    Json(req): Json<CreateToken>,
) -> Result<(StatusCode, AxumJson<CreatedToken>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 || has_control(name) {
        return Err(ApiError::invalid_field(
            "name",
            "must be 1 to 100 characters, none of them control characters",
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
        Some(peer),
    )
    .await;
    // The only time the secret is ever shown.
    let body = CreatedToken {
        token: TokenView::from(&token),
        secret,
    };
    Ok((StatusCode::CREATED, AxumJson(body)))
}

/// Revokes an API token (owners and admins); it stops working on the next request.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{tenant}/tokens/{id}",
    operation_id = "revokeToken",
    tag = "tokens",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("id" = String, Path, description = "Token id"),
    ),
    responses((status = 204, description = "Revoked")),
    security(("bearer" = []))
)]
async fn revoke(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    principal: Principal,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    if has_control(&id) {
        return Err(ApiError::not_found("api token"));
    }
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
        Some(peer),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
