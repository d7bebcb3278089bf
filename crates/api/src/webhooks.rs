//! Webhooks: where a tenant's alerts go (state changes, failing checks, certificate
//! problems). The signing secret is shown once at creation and kept sealed.

use axum::Json as AxumJson;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use stsd_store::{WEBHOOK_EVENTS, Webhook};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::audit::record;
use crate::auth::{Access, ClientIp, Need, Principal, random_token};
use crate::error::ApiError;
use crate::extract::{Path, has_control};
use crate::json::Json;

/// Webhooks a tenant may have.
const MAX_WEBHOOKS: usize = 10;
/// Prefix of webhook secrets, so that a leaked one is recognizable.
const SECRET_PREFIX: &str = "whsec_";

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(delete))
        .routes(routes!(deliveries))
        .routes(routes!(ping))
}

/// A webhook.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookView {
    /// Its id.
    id: String,
    /// Where alerts are POSTed.
    url: String,
    /// The events it receives (`*` for all).
    events: Vec<String>,
    /// When it was created (Unix seconds).
    created_at: i64,
}

impl From<&Webhook> for WebhookView {
    fn from(w: &Webhook) -> WebhookView {
        WebhookView {
            id: w.id.clone(),
            url: w.url.clone(),
            events: w.events.clone(),
            created_at: w.created_at.unix_timestamp(),
        }
    }
}

/// The tenant's webhooks.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookList {
    /// Oldest first.
    items: Vec<WebhookView>,
}

/// A new webhook.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateWebhook {
    /// An `https://` URL on the public internet.
    url: String,
    /// Events to receive: `domain.state_changed`, `domain.checks_failing`,
    /// `domain.mx_uncovered` (an MX host the enforced policy does not cover),
    /// `domain.reporters_silent` (organizations that usually send TLS reports stopped),
    /// `certificate.failed`; absent or `["*"]` for all.
    events: Option<Vec<String>>,
}

/// A created webhook with its signing secret, shown only now.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedWebhook {
    /// The webhook.
    webhook: WebhookView,
    /// The HMAC-SHA256 key of `Stsd-Signature: t=<unix>,v1=<hex of HMAC("<t>.<body>")>`.
    /// Store it now: it is never shown again.
    secret: String,
}

/// One delivery of an alert.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryView {
    /// Its id (the `Stsd-Delivery` header).
    id: String,
    /// The event.
    event: String,
    /// `pending`, `delivered` or `failed` (given up after the last retry).
    status: &'static str,
    /// Attempts made.
    attempts: i64,
    /// The receiver's last HTTP status.
    last_status: Option<i64>,
    /// The last failure.
    last_error: Option<String>,
    /// The body sent.
    body: String,
    /// When the event happened (Unix seconds).
    created_at: i64,
}

/// The latest deliveries of a webhook.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryList {
    /// Newest first, at most 50.
    items: Vec<DeliveryView>,
}

fn validate_url(url: &str, allow_private: bool) -> Result<String, ApiError> {
    let url = url.trim();
    let bad = |why: &str| ApiError::invalid_field("url", why.to_owned());
    if url.len() > 2000 || has_control(url) {
        return Err(bad(
            "must be at most 2000 characters, without control characters",
        ));
    }
    let parsed = url::Url::parse(url).map_err(|e| bad(&format!("not a URL: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(bad("must be an https:// URL")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "must not carry credentials; authenticate with the signature",
        ));
    }
    let Some(host) = parsed.host() else {
        return Err(bad("must name a host"));
    };
    if !allow_private {
        let literal: Option<std::net::IpAddr> = match host {
            url::Host::Ipv4(v4) => Some(v4.into()),
            url::Host::Ipv6(v6) => Some(v6.into()),
            url::Host::Domain(d) if d == "localhost" || d.ends_with(".localhost") => {
                return Err(bad("must be on the public internet"));
            }
            url::Host::Domain(_) => None,
        };
        if literal.is_some_and(|ip| !stsd_core::is_public_address(ip)) {
            return Err(bad("must be on the public internet"));
        }
    }
    Ok(parsed.to_string())
}

fn validate_events(events: Option<Vec<String>>) -> Result<Vec<String>, ApiError> {
    let events = events.unwrap_or_else(|| vec!["*".to_owned()]);
    if events.is_empty() {
        return Err(ApiError::invalid_field(
            "events",
            "name at least one event, or *",
        ));
    }
    for e in &events {
        if e != "*" && !WEBHOOK_EVENTS.contains(&e.as_str()) {
            return Err(ApiError::invalid_field(
                "events",
                format!("unknown event `{e}`; known: {}", WEBHOOK_EVENTS.join(", ")),
            ));
        }
    }
    let mut events = events;
    events.sort();
    events.dedup();
    Ok(events)
}

/// Lists the tenant's webhooks (owners and admins).
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/webhooks",
    operation_id = "listWebhooks",
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, description = "The webhooks", body = WebhookList)),
    security(("bearer" = []))
)]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Path(tenant): Path<String>,
) -> Result<AxumJson<WebhookList>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    let hooks = state.inner.store.webhooks(&access.tenant).await?;
    Ok(AxumJson(WebhookList {
        items: hooks.iter().map(WebhookView::from).collect(),
    }))
}

/// Creates a webhook (owners and admins). The answer holds the signing secret, once.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant}/webhooks",
    operation_id = "createWebhook",
    tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Created; keep the secret now", body = CreatedWebhook),
        (status = 422, description = "A bad URL or event", body = crate::error::ErrorEnvelope),
    ),
    security(("bearer" = []))
)]
async fn create(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    principal: Principal,
    Path(tenant): Path<String>,
    Json(req): Json<CreateWebhook>,
) -> Result<(StatusCode, AxumJson<CreatedWebhook>), ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    let url = validate_url(&req.url, state.inner.config.webhooks_allow_private)?;
    let events = validate_events(req.events)?;
    let Some(master) = state.master_key() else {
        return Err(ApiError::unavailable(
            &"webhooks are not configured on this node",
        ));
    };
    let store = &state.inner.store;
    if store.webhooks(&access.tenant).await?.len() >= MAX_WEBHOOKS {
        return Err(ApiError::conflict(
            "quota_exceeded",
            format!("a tenant has at most {MAX_WEBHOOKS} webhooks"),
        ));
    }
    let secret = random_token(SECRET_PREFIX)?;
    let sealed = master
        .seal(secret.as_bytes())
        .map_err(|e| ApiError::internal(&e))?;
    let hook = store
        .create_webhook(&access.tenant, &url, &events, &sealed, master.id())
        .await?;
    record(
        &state,
        Some(&access.tenant),
        &principal.actor(),
        "webhook.create",
        &hook.id,
        json!({ "after": { "url": url, "events": events } }),
        Some(peer),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        AxumJson(CreatedWebhook {
            webhook: WebhookView::from(&hook),
            secret,
        }),
    ))
}

/// Deletes a webhook and its delivery history (owners and admins).
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{tenant}/webhooks/{id}",
    operation_id = "deleteWebhook",
    tag = "tenants",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("id" = String, Path, description = "Webhook id"),
    ),
    responses((status = 204, description = "Deleted")),
    security(("bearer" = []))
)]
async fn delete(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    principal: Principal,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    if has_control(&id)
        || !state
            .inner
            .store
            .delete_webhook(&access.tenant, &id)
            .await?
    {
        return Err(ApiError::not_found("webhook"));
    }
    record(
        &state,
        Some(&access.tenant),
        &principal.actor(),
        "webhook.delete",
        &id,
        json!({}),
        Some(peer),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

async fn load(state: &AppState, access: &Access, id: &str) -> Result<Webhook, ApiError> {
    if has_control(id) {
        return Err(ApiError::not_found("webhook"));
    }
    state
        .inner
        .store
        .webhook(&access.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

/// The latest deliveries of a webhook, with each attempt's outcome (owners and admins).
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{tenant}/webhooks/{id}/deliveries",
    operation_id = "listWebhookDeliveries",
    tag = "tenants",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("id" = String, Path, description = "Webhook id"),
    ),
    responses((status = 200, description = "The latest deliveries", body = DeliveryList)),
    security(("bearer" = []))
)]
async fn deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<AxumJson<DeliveryList>, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    let hook = load(&state, &access, &id).await?;
    let items = state
        .inner
        .store
        .webhook_deliveries(&access.tenant, &hook.id, 50)
        .await?
        .into_iter()
        .map(|d| DeliveryView {
            status: if d.delivered_at.is_some() {
                "delivered"
            } else if d.failed_at.is_some() {
                "failed"
            } else {
                "pending"
            },
            id: d.id,
            event: d.event,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            body: d.body,
            created_at: d.created_at.unix_timestamp(),
        })
        .collect();
    Ok(AxumJson(DeliveryList { items }))
}

/// Sends a `ping` event to the webhook, to test the receiver (owners and admins).
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{tenant}/webhooks/{id}/ping",
    operation_id = "pingWebhook",
    tag = "tenants",
    params(
        ("tenant" = String, Path, description = "Tenant id"),
        ("id" = String, Path, description = "Webhook id"),
    ),
    responses((status = 202, description = "Queued; see the deliveries")),
    security(("bearer" = []))
)]
async fn ping(
    State(state): State<AppState>,
    principal: Principal,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let access = Access::check(&state, &principal, &tenant, Need::Admin).await?;
    let hook = load(&state, &access, &id).await?;
    let body = json!({
        "event": "ping",
        "webhook": hook.id,
        "at": time::OffsetDateTime::now_utc().unix_timestamp(),
    });
    state
        .inner
        .store
        .enqueue_ping(&access.tenant, &hook.id, &body.to_string())
        .await?;
    Ok(StatusCode::ACCEPTED)
}
