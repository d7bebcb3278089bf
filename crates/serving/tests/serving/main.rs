//! The edge over real sockets: a rustls client trusting a test CA fetches policies by SNI
//! over HTTP/1.1 and HTTP/2, and ACME challenges over plain HTTP; on SQLite and PostgreSQL.
//! A node starts from its local copy of the snapshot when the store is away.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed test with its location"
)]

mod copy;
mod dns;
mod edge;
mod flood;
mod handshake_log;
mod outage;
mod world;
