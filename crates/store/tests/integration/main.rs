//! The store's test suite. Every test runs against SQLite and PostgreSQL, each on a fresh
//! database. The PostgreSQL run is never skipped: without a reachable server it fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed test with its location"
)]

mod harness;

mod audit;
mod certificates;
mod domains;
mod feed;
mod invitations;
mod jobs;
mod nodes;
mod operations;
mod policies;
mod rate_limits;
mod reports;
mod rotation;
mod tenants;
mod tokens;
mod walls;
