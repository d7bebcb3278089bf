//! The stsd REST API.
//!
//! For now it answers the operational endpoints (`/healthz`, `/readyz`) and gives every other
//! path the API's JSON error shape; tenant and domain management grows here.

mod error;
mod health;
pub mod password;

use axum::Router;
use stsd_store::Store;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The persistent store.
    pub store: Store,
}

/// The API's router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::routes())
        .fallback(error::not_found)
        .with_state(state)
}
