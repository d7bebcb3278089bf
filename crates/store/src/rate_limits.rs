//! Rate limits shared by every node: the generic cell rate algorithm (GCRA) on one row per
//! key, updated by a single atomic upsert, so that a limit holds however many API nodes an
//! attacker's requests are spread over.
//!
//! Times come from the calling node's clock; nodes whose clocks differ by seconds shift a
//! per-minute limit by about as much, which is harmless for what it guards.

use std::time::Duration;

use time::OffsetDateTime;

use crate::Result;
use crate::clock::{now, to_ms};
use crate::db::Store;

/// A limit: `burst` events at once, then one every `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateQuota {
    /// Time between events once the burst is spent (at least 1 ms).
    pub interval: Duration,
    /// Events allowed at once (at least 1).
    pub burst: u32,
}

/// What counting one event against a limit decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// The event is within the limit and was counted.
    Allowed,
    /// Over the limit; nothing was counted. The next event is allowed after `retry_after`.
    Refused {
        /// How long to wait.
        retry_after: Duration,
    },
}

impl Store {
    /// Counts one event for `key` against `quota`, atomically across nodes. `key` should be
    /// short and free of personal data (a hash): it is stored as it is.
    pub async fn rate_limit_hit(&self, key: &str, quota: RateQuota) -> Result<RateDecision> {
        self.rate_limit_hit_at(key, quota, now()).await
    }

    /// [`Store::rate_limit_hit`] at a given time (for tests of the algorithm).
    pub async fn rate_limit_hit_at(
        &self,
        key: &str,
        quota: RateQuota,
        at: OffsetDateTime,
    ) -> Result<RateDecision> {
        let interval = i64::try_from(quota.interval.as_millis())
            .unwrap_or(i64::MAX / 4)
            .clamp(1, i64::MAX / 4);
        let burst = i64::from(quota.burst.max(1));
        let now = to_ms(at);
        // An event is allowed when, after it, the theoretical arrival time is at most
        // `burst` intervals ahead of now.
        let window = interval.saturating_mul(burst);
        let (tat, prev): (i64, i64) = sqlx::query_as(
            "INSERT INTO rate_limits (key, tat_ms, prev_ms)
             VALUES ($1, CAST($2 AS BIGINT) + CAST($3 AS BIGINT), CAST($2 AS BIGINT))
             ON CONFLICT (key) DO UPDATE SET
               prev_ms = rate_limits.tat_ms,
               tat_ms = CASE
                 WHEN (CASE WHEN rate_limits.tat_ms > $2 THEN rate_limits.tat_ms ELSE $2 END)
                      + $3 - $2 <= $4
                 THEN (CASE WHEN rate_limits.tat_ms > $2 THEN rate_limits.tat_ms ELSE $2 END) + $3
                 ELSE rate_limits.tat_ms
               END
             RETURNING tat_ms, prev_ms",
        )
        .bind(key)
        .bind(now)
        .bind(interval)
        .bind(window)
        .fetch_one(&self.pool)
        .await?;
        if tat != prev {
            return Ok(RateDecision::Allowed);
        }
        // Refused: the next event fits once `tat + interval - now <= window`.
        let wait = tat
            .saturating_add(interval)
            .saturating_sub(now)
            .saturating_sub(window);
        Ok(RateDecision::Refused {
            retry_after: Duration::from_millis(u64::try_from(wait).unwrap_or(0).max(1)),
        })
    }

    /// Deletes the limits that carry no state any more (their time has passed); returns how
    /// many.
    pub async fn purge_rate_limits(&self, at: OffsetDateTime) -> Result<u64> {
        let done = sqlx::query("DELETE FROM rate_limits WHERE tat_ms <= $1")
            .bind(to_ms(at))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
