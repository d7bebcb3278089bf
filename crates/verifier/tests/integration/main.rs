//! Integration tests of the verifier: the checks against a fake authoritative DNS on
//! loopback, and the worker and publisher on SQLite and PostgreSQL.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod alerts;
mod checks;
mod mx_moves;
mod mx_tls;
mod reporters;
mod worker;
mod world;
