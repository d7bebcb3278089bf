//! Live nodes and the snapshot version each serves.
//!
//! Every serving node reports the change-feed sequence its snapshot has applied. The
//! publisher switches a DNS id only when every live node has reached the change that made
//! the policy live.

use time::OffsetDateTime;

use crate::Result;
use crate::clock::{from_ms, now, to_ms};
use crate::db::Store;

/// A node's last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Stable id of the process (host name plus a random part).
    pub id: String,
    /// Comma-separated roles it runs (`api,edge,dns,worker,smtp`).
    pub roles: String,
    /// stsd version.
    pub version: String,
    /// The change-feed sequence its snapshot has applied.
    pub snapshot_seq: i64,
    /// When the process started.
    pub started_at: OffsetDateTime,
    /// Last heartbeat.
    pub heartbeat_at: OffsetDateTime,
}

impl Store {
    /// Records that node `id` is alive and serves the snapshot at `snapshot_seq`.
    pub async fn heartbeat(
        &self,
        id: &str,
        roles: &str,
        version: &str,
        snapshot_seq: i64,
        started_at: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO nodes (id, roles, version, snapshot_seq, started_at, heartbeat_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET roles = excluded.roles, version = excluded.version,
                 snapshot_seq = excluded.snapshot_seq, heartbeat_at = excluded.heartbeat_at",
        )
        .bind(id)
        .bind(roles)
        .bind(version)
        .bind(snapshot_seq)
        .bind(to_ms(started_at))
        .bind(to_ms(now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The lowest snapshot position among live edge nodes other than `except` (heartbeat at
    /// or after `since`), or `None` when there are none: what every other edge has applied.
    pub async fn edge_acknowledged_seq(
        &self,
        except: &str,
        since: OffsetDateTime,
    ) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(snapshot_seq) FROM nodes
             WHERE id <> $1 AND heartbeat_at >= $2 AND roles LIKE '%edge%'",
        )
        .bind(except)
        .bind(to_ms(since))
        .fetch_one(&self.pool)
        .await?)
    }

    /// Nodes whose last heartbeat is at or after `since`.
    pub async fn live_nodes(&self, since: OffsetDateTime) -> Result<Vec<Node>> {
        let rows: Vec<(String, String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT id, roles, version, snapshot_seq, started_at, heartbeat_at FROM nodes
             WHERE heartbeat_at >= $1 ORDER BY id",
        )
        .bind(to_ms(since))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(
                |(id, roles, version, snapshot_seq, started_at, heartbeat_at)| {
                    Ok(Node {
                        id,
                        roles,
                        version,
                        snapshot_seq,
                        started_at: from_ms(started_at)?,
                        heartbeat_at: from_ms(heartbeat_at)?,
                    })
                },
            )
            .collect()
    }
}
