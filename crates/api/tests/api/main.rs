//! Black-box tests of the API: a real server on an ephemeral port, spoken to over HTTP, on
//! SQLite and on PostgreSQL, with a fake customer DNS zone on loopback.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed test with its location"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "tests set up state (certificates, transitions, reports by label) as the workers \
              would, through the store's cross-tenant entry point the API itself may not use"
)]

mod harness;

mod accounts;
mod attacks;
mod domains;
mod errors;
mod gate;
mod import;
mod invitations;
mod isolation;
mod mx_move;
mod openapi;
mod proxies;
mod reporters;
mod reports;
mod sessions;
mod tokens;
mod webhooks;
