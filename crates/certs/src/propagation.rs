//! Waiting until every live edge serves a freshly published challenge before the CA is told
//! to look: the CA may connect to any edge node, and one that has not applied the challenge
//! yet fails the validation.
//!
//! Edge nodes report the change-feed position their snapshot has applied in heartbeats
//! (sent right after applying a change). When the lowest position among live edges reaches
//! the challenge's, every edge serves it. Without any heartbeating edge (a single `stsd
//! serve` before its first beat, or a deployment whose edges cannot reach the store) a fixed
//! delay stands in; if the edges have not caught up by the timeout, the CA is asked anyway —
//! a lagging node may fail this validation, and the order is retried with backoff.

use std::time::Duration;

use stsd_store::Store;
use time::OffsetDateTime;

use crate::error::CertsError;

/// Heartbeats older than this do not count an edge as live (three of the default 10 s beats).
const HEARTBEAT_WINDOW: time::Duration = time::Duration::seconds(30);

/// How often the heartbeats are read while waiting.
const POLL: Duration = Duration::from_millis(100);

/// How waiting for the edges ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Every live edge reported the challenge's position.
    Acknowledged,
    /// No live edge reports heartbeats: the fixed delay was waited instead.
    NoHeartbeats,
    /// Some edge still lagged at the timeout.
    TimedOut,
}

/// Waits until every live edge has applied change-feed position `seq`; `fallback` when no
/// edge heartbeats, at most `timeout` otherwise.
pub async fn wait_for_edges(
    store: &Store,
    seq: i64,
    fallback: Duration,
    timeout: Duration,
) -> Result<Propagation, CertsError> {
    let start = tokio::time::Instant::now();
    loop {
        let since = OffsetDateTime::now_utc() - HEARTBEAT_WINDOW;
        match store.edge_acknowledged_seq("", since).await? {
            None => {
                tokio::time::sleep(fallback).await;
                return Ok(Propagation::NoHeartbeats);
            }
            Some(acked) if acked >= seq => return Ok(Propagation::Acknowledged),
            Some(_) if start.elapsed() >= timeout => return Ok(Propagation::TimedOut),
            Some(_) => tokio::time::sleep(POLL).await,
        }
    }
}
