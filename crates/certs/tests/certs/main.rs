//! The certs worker end to end: a store, a running edge, and an issuer (the local CA on
//! SQLite and PostgreSQL, and Pebble as a real ACME server: bookworm's 2.4, and trixie's 2.6
//! for renewal information).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed test with its location"
)]

mod ari;
mod local;
mod pebble;
mod propagation;
mod world;
