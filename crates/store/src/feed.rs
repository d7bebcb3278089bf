//! The change feed.
//!
//! Every write that changes what edges or DNS serve appends a row to `changes` in the same
//! transaction. A follower remembers the last sequence number it applied, reads
//! [`Store::changes_since`] and waits on a [`ChangeSubscription`] for more. On PostgreSQL a
//! trigger sends `NOTIFY stsd_changes` at commit, which wakes followers on every node; in
//! one process a watch channel wakes them without a round trip. Polling at a fixed interval
//! is the fallback when notifications are lost (a dropped LISTEN connection).

use std::time::Duration;

use sqlx::postgres::PgListener;
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::Result;
use crate::clock::{from_ms, to_ms};
use crate::db::{Backend, Store};
use crate::error::corrupt;
use crate::ids::DomainId;

/// The PostgreSQL notification channel the `changes` trigger signals.
const CHANNEL: &str = "stsd_changes";

/// What kind of served state a change touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A domain was registered, or its state changed.
    Domain,
    /// The policy version served on the edges changed.
    Policy,
    /// The policy id published in DNS changed.
    Dns,
    /// A certificate was stored.
    Certificate,
    /// An ACME challenge appeared or went away.
    Challenge,
}

impl ChangeKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Domain => "domain",
            ChangeKind::Policy => "policy",
            ChangeKind::Dns => "dns",
            ChangeKind::Certificate => "certificate",
            ChangeKind::Challenge => "challenge",
        }
    }

    fn parse(s: &str) -> Option<ChangeKind> {
        Some(match s {
            "domain" => ChangeKind::Domain,
            "policy" => ChangeKind::Policy,
            "dns" => ChangeKind::Dns,
            "certificate" => ChangeKind::Certificate,
            "challenge" => ChangeKind::Challenge,
            _ => return None,
        })
    }
}

/// One entry of the change feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Position in the feed; strictly increasing.
    pub seq: i64,
    /// What changed.
    pub kind: ChangeKind,
    /// The registration concerned, if any.
    pub domain_id: Option<DomainId>,
    /// When the change committed (the writer's clock).
    pub at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    seq: i64,
    kind: String,
    domain_id: Option<String>,
    at: i64,
}

/// Key of the PostgreSQL advisory lock that orders feed writers.
const FEED_LOCK: i64 = 0x5354_5344_4645_4544; // "STSDFEED"

/// Appends to the feed inside the caller's transaction and returns the new sequence number.
///
/// Followers read the feed by sequence number, so sequence order must be commit order: a
/// transaction that took seq 10 but commits after the one that took seq 11 would be skipped
/// by a follower that already read 11. On PostgreSQL a transaction-scoped advisory lock makes
/// feed writers take turns (it is released at commit); SQLite's `BEGIN IMMEDIATE` already
/// admits one writer at a time.
pub(crate) async fn append(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    kind: ChangeKind,
    domain_id: Option<&DomainId>,
    at: OffsetDateTime,
) -> Result<i64> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(FEED_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO changes (kind, domain_id, at) VALUES ($1, $2, $3) RETURNING seq",
    )
    .bind(kind.as_str())
    .bind(domain_id.map(|d| d.as_str().to_owned()))
    .bind(to_ms(at))
    .fetch_one(&mut *tx)
    .await?;
    Ok(seq)
}

impl Store {
    /// Entries after `seq`, oldest first, at most `limit`.
    pub async fn changes_since(&self, seq: i64, limit: i64) -> Result<Vec<Change>> {
        let rows: Vec<ChangeRow> = sqlx::query_as(
            "SELECT seq, kind, domain_id, at FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Change {
                    seq: r.seq,
                    kind: ChangeKind::parse(&r.kind)
                        .ok_or_else(|| corrupt("change kind")(&r.kind))?,
                    domain_id: r.domain_id.map(DomainId::from_raw),
                    at: from_ms(r.at)?,
                })
            })
            .collect()
    }

    /// The newest sequence number in the feed (0 when empty).
    pub async fn latest_change_seq(&self) -> Result<i64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM changes")
            .fetch_one(&self.pool)
            .await?;
        Ok(seq.unwrap_or(0))
    }

    /// Tells local followers that a transaction with feed entries committed.
    pub(crate) fn changed_locally(&self) {
        self.local_changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A subscription that wakes when the feed may have grown. On PostgreSQL it also listens
    /// for other nodes' commits.
    pub fn subscribe(&self, poll_interval: Duration) -> ChangeSubscription {
        let local = self.local_changes.subscribe();
        let remote = match self.backend {
            Backend::Postgres => Some(spawn_listener(self.listen_url.to_string())),
            Backend::Sqlite => None,
        };
        ChangeSubscription {
            local,
            remote,
            poll_interval,
        }
    }
}

/// Wakes a follower when the change feed may have grown. See [`Store::subscribe`].
#[derive(Debug)]
pub struct ChangeSubscription {
    local: watch::Receiver<u64>,
    remote: Option<watch::Receiver<u64>>,
    poll_interval: Duration,
}

impl ChangeSubscription {
    /// Returns when a change may be waiting: a local commit, a notification from another
    /// node, or the poll interval elapsed. The caller then reads [`Store::changes_since`].
    pub async fn changed(&mut self) {
        let remote = async {
            match self.remote.as_mut() {
                Some(rx) => {
                    if rx.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            r = self.local.changed() => {
                if r.is_err() {
                    // The store is gone; fall back to polling rather than spinning.
                    tokio::time::sleep(self.poll_interval).await;
                }
            }
            () = remote => {}
            () = tokio::time::sleep(self.poll_interval) => {}
        }
    }
}

/// Forwards `NOTIFY stsd_changes` into a watch channel, reconnecting with backoff while the
/// database is away. Ends when the subscription is dropped.
fn spawn_listener(url: String) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0u64);
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(200);
        loop {
            if tx.is_closed() {
                return;
            }
            match listen(&url, &tx).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "change feed listener lost its connection; retrying");
                    // Something may have changed while we were not listening.
                    tx.send_modify(|n| *n = n.wrapping_add(1));
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    });
    rx
}

async fn listen(url: &str, tx: &watch::Sender<u64>) -> std::result::Result<(), sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.ignore_pool_close_event(true);
    listener.listen(CHANNEL).await?;
    loop {
        tokio::select! {
            n = listener.try_recv() => match n? {
                Some(_) => tx.send_modify(|n| *n = n.wrapping_add(1)),
                // The connection dropped and reconnected: notifications may be lost.
                None => tx.send_modify(|n| *n = n.wrapping_add(1)),
            },
            () = tx.closed() => return Ok(()),
        }
    }
}
