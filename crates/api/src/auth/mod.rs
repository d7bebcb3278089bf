//! Authentication and authorization: sessions (JWT access tokens plus rotating refresh
//! tokens), API tokens for automation, and the tenant access check every tenant-scoped
//! handler starts with.

mod access;
mod client_ip;
mod jwt;
mod limits;
mod principal;
mod secret;
mod session;

pub use access::{Access, Need};
pub use client_ip::{ClientIp, ProxyNet, ProxyNetError, TrustedProxies};
pub use jwt::JwtKeys;
pub use limits::AuthLimits;
pub(crate) use limits::Limits;
pub use principal::Principal;

/// The prefix every API token starts with.
pub(crate) fn principal_prefix() -> &'static str {
    principal::API_TOKEN_PREFIX
}
pub(crate) use secret::{hash_token, hashes_equal, random_token};
pub(crate) use session::{prewarm_dummy_hash, routes, valid_email};
