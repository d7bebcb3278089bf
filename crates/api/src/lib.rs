//! The stsd REST API: accounts, tenants, members, API tokens, domains and policies, the
//! one-click mode switch, the audit log, and the operational endpoints.
//!
//! Every tenant-scoped handler starts with [`auth::Access::check`], and every store query
//! it then makes is filtered by that tenant, so a foreign tenant's resources answer 404.

mod assets_spa;
mod audit;
pub mod auth;
mod certificate;
mod checks;
pub mod discovery;
mod docs;
mod domains;
mod error;
mod existing;
mod extract;
mod fetches;
mod health;
mod housekeeping;
mod invitations;
mod json;
pub mod listen;
mod metrics;
mod mx;
mod mx_move;
mod openapi;
pub mod password;
mod policy;
mod report_settings;
mod reports;
mod tenants;
mod tokens;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::{Extension, Router};
use stsd_core::DomainName;
use stsd_store::Store;
use tower_http::catch_panic::CatchPanicLayer;

pub use error::{ApiError, FieldError};
pub use housekeeping::run_housekeeping;

/// Largest request body the API reads; policies and names are small.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Settings of the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The operator's zone (`STSD_SERVICE_ZONE`), for the records customers publish.
    pub service_zone: DomainName,
    /// Most live domains a tenant may register.
    pub domain_quota: i64,
    /// Lifetime of access tokens.
    pub access_ttl: Duration,
    /// Lifetime of refresh tokens (and of an idle session).
    pub refresh_ttl: Duration,
    /// Mark the refresh cookie `Secure`. Browsers accept Secure cookies from
    /// `http://localhost`, so this stays on except for tests over plain HTTP with other hosts.
    pub secure_cookies: bool,
    /// Accept `http://` webhook URLs and receivers on private addresses (tests,
    /// on-premises); a public SaaS keeps this off.
    pub webhooks_allow_private: bool,
    /// The built dashboard (`frontend/dist`) served at `/`; `None` serves no dashboard.
    pub dashboard_dir: Option<std::path::PathBuf>,
    /// How long an invitation token works.
    pub invitation_ttl: Duration,
    /// Rate limits of login and sign-up.
    pub auth_limits: auth::AuthLimits,
    /// Peers whose `X-Forwarded-For` names the client (`STSD_TRUSTED_PROXIES`).
    pub trusted_proxies: auth::TrustedProxies,
    /// How long switching to `enforce` waits for the checks it runs (the MX hosts probed
    /// then and there); a probe that has not finished by then blocks the switch.
    pub enforce_gate_wait: Duration,
}

impl ApiConfig {
    /// Defaults for `zone`: 1000 domains per tenant, 15-minute access tokens, 30-day sessions,
    /// 7-day invitations, a 10-second enforce gate, [`auth::AuthLimits::default`], no trusted proxies.
    pub fn new(service_zone: DomainName) -> ApiConfig {
        ApiConfig {
            service_zone,
            domain_quota: 1000,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            secure_cookies: true,
            webhooks_allow_private: false,
            dashboard_dir: assets_spa::default_dashboard_dir(),
            invitation_ttl: Duration::from_secs(7 * 24 * 3600),
            auth_limits: auth::AuthLimits::default(),
            trusted_proxies: auth::TrustedProxies::default(),
            // The hosts are probed at once; under the 15 s many HTTP clients wait.
            enforce_gate_wait: Duration::from_secs(10),
        }
    }
}

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: ApiConfig,
    jwt: auth::JwtKeys,
    limits: auth::Limits,
    resolvers: discovery::Resolvers,
    /// Reads what a domain publishes now, as senders do (imports of self-hosted policies).
    sender: stsd_sender::SenderView,
    metrics: metrics::Metrics,
    snapshot: std::sync::OnceLock<SnapshotProbe>,
    master: std::sync::OnceLock<Arc<stsd_store::MasterKey>>,
    health: std::sync::OnceLock<stsd_store::StoreHealth>,
}

/// What the serving snapshot of this process reports, for `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotReport {
    /// The change-feed position served.
    pub seq: i64,
    /// True while the store cannot be read and the last snapshot is served.
    pub stale: bool,
}

/// Reads the serving snapshot's state. The API does not depend on the serving crate; the
/// binary wires the two together.
pub type SnapshotProbe = Arc<dyn Fn() -> SnapshotReport + Send + Sync>;

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Bundles the API's dependencies.
    pub fn new(
        store: Store,
        config: ApiConfig,
        jwt: auth::JwtKeys,
        resolvers: discovery::Resolvers,
        sender: stsd_sender::SenderView,
    ) -> AppState {
        // Computed now, not by the first login for an unknown account, which would otherwise
        // take one hash longer than a wrong password and tell the two apart.
        auth::prewarm_dummy_hash();
        let limits = auth::Limits::new(&config.auth_limits);
        AppState {
            inner: Arc::new(Inner {
                store,
                config,
                jwt,
                limits,
                resolvers,
                sender,
                metrics: metrics::Metrics::new(),
                snapshot: std::sync::OnceLock::new(),
                master: std::sync::OnceLock::new(),
                health: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Makes `/readyz` report the serving snapshot of this process. Only the
    /// first call has an effect.
    pub fn set_snapshot_probe(&self, probe: SnapshotProbe) {
        let _ = self.inner.snapshot.set(probe);
    }

    /// Makes `/readyz` read the store's health from `health` (kept by a background task)
    /// instead of pinging the store itself. Only the first call has an effect.
    pub fn set_store_health(&self, health: stsd_store::StoreHealth) {
        let _ = self.inner.health.set(health);
    }

    /// The store's health as last checked, when a monitor was set.
    pub(crate) fn store_health(&self) -> Option<&stsd_store::StoreHealth> {
        self.inner.health.get()
    }

    /// The directory the dashboard is served from, if one was found.
    pub fn dashboard_dir(&self) -> Option<&std::path::Path> {
        self.inner.config.dashboard_dir.as_deref()
    }

    /// The API's request metrics in the Prometheus text format, for the binary's metrics
    /// listener.
    pub fn metrics_text(&self) -> Result<String, std::fmt::Error> {
        self.inner.metrics.encode()
    }

    /// Gives the API the master key, to seal webhook secrets. Without it, creating a webhook
    /// answers 503. Only the first call has an effect.
    pub fn set_master_key(&self, key: Arc<stsd_store::MasterKey>) {
        let _ = self.inner.master.set(key);
    }

    /// The master key, when set.
    pub(crate) fn master_key(&self) -> Option<&stsd_store::MasterKey> {
        self.inner.master.get().map(AsRef::as_ref)
    }

    /// The serving snapshot's state, when this process serves.
    pub(crate) fn snapshot_report(&self) -> Option<SnapshotReport> {
        self.inner.snapshot.get().map(|probe| probe())
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
}

/// Every route with its documentation. Routes are only ever added through
/// `utoipa_axum::routes!`, so each one is in the OpenAPI document.
fn documented_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = openapi::base()
        .merge(health::routes())
        .merge(auth::routes())
        .merge(tenants::routes())
        .merge(invitations::routes())
        .merge(tokens::routes())
        .merge(domains::routes())
        .merge(existing::routes())
        .merge(mx_move::routes())
        .merge(fetches::routes())
        .merge(reports::routes())
        .merge(checks::routes())
        .merge(certificate::routes())
        .merge(mx::routes())
        .merge(policy::routes())
        .merge(audit::routes())
        .merge(webhooks::routes())
        .merge(openapi::routes())
        .merge(docs::routes())
        .split_for_parts();
    openapi::finish(&mut doc);
    (router, doc)
}

/// The OpenAPI 3.1 document of [`router`], as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented_routes().1
}

/// The API's router. Serve it with `into_make_service_with_connect_info::<SocketAddr>()`:
/// rate limits key on the client address.
pub fn router(state: AppState) -> Router {
    let (router, doc) = documented_routes();
    // Serialized once here; the handler only clones a pointer. A document that cannot be
    // serialized is a bug in a schema, reported on every request rather than at start.
    let json: Arc<str> = match doc.to_json() {
        Ok(json) => json.into(),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialize the OpenAPI document");
            Arc::from("{}")
        }
    };
    router
        // After every route: it applies to the routes present.
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(assets_spa::fallback)
        .layer(Extension(openapi::Document(json)))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // A bug that panics in a handler answers 500 with the usual envelope and is logged;
        // without this the connection is dropped with no response at all.
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// The response to a handler that panicked.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    axum::response::IntoResponse::into_response(ApiError::internal(&format!(
        "handler panicked: {what}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_envelope() {
        let app: axum::routing::MethodRouter = axum::routing::get(|| async {
            let v: Vec<String> = Vec::new();
            // An index out of bounds: the kind of bug the layer is for.
            std::hint::black_box(&v)[3].clone()
        })
        .layer(CatchPanicLayer::custom(panic_response));
        let response = tower::ServiceExt::oneshot(
            app,
            axum::http::Request::get("/boom")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 500);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "internal", "{v}");
    }
}
