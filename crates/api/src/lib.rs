//! The stsd REST API: accounts, tenants, members, API tokens, domains and policies, the
//! one-click mode switch, the audit log, and the operational endpoints.
//!
//! Every tenant-scoped handler starts with [`auth::Access::check`], and every store query
//! it then makes is filtered by that tenant, so a foreign tenant's resources answer 404.

mod audit;
pub mod auth;
pub mod discovery;
mod domains;
mod error;
mod health;
mod json;
pub mod password;
mod policy;
mod tenants;
mod tokens;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use stsd_core::DomainName;
use stsd_store::Store;

pub use error::{ApiError, FieldError};

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
}

impl ApiConfig {
    /// Defaults for `zone`: 1000 domains per tenant, 15-minute access tokens, 30-day sessions.
    pub fn new(service_zone: DomainName) -> ApiConfig {
        ApiConfig {
            service_zone,
            domain_quota: 1000,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            secure_cookies: true,
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
}

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
    ) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                store,
                config,
                jwt,
                limits: auth::Limits::new(),
                resolvers,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
}

/// The API's router. Serve it with `into_make_service_with_connect_info::<SocketAddr>()`:
/// rate limits key on the client address.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(auth::routes())
        .merge(tenants::routes())
        .merge(tokens::routes())
        .merge(domains::routes())
        .merge(policy::routes())
        .merge(audit::routes())
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
