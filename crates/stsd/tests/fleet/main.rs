//! The fleet as separate processes of the real binary on one PostgreSQL cluster that the test
//! owns (its own `initdb` data directory and port), so that the test can stop and start it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a failed test with its location"
)]

mod cert_kill;
mod customer;
mod process;
mod readiness;
mod spread;
mod zone;
