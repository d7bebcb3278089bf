//! Background jobs with leases.
//!
//! A job is a row `(kind, subject)`: "check domain X", "renew certificate of Y". Workers
//! lease a due job for a while; a worker that dies simply lets its lease expire and another
//! takes the job. On PostgreSQL the lease uses `FOR UPDATE SKIP LOCKED` so that concurrent
//! workers never take the same job and never wait on each other; SQLite has one writer at a
//! time, so the same statement without the locking clause is already exclusive.

use std::time::Duration;

use time::OffsetDateTime;

use crate::Result;
use crate::clock::{from_ms, now, to_ms};
use crate::db::{Backend, Store};
use crate::error::StoreError;

/// A leased job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Row id.
    pub id: i64,
    /// What to do.
    pub kind: String,
    /// To what (usually a domain id).
    pub subject: String,
    /// When it became due.
    pub run_at: OffsetDateTime,
    /// Attempts so far, this one included.
    pub attempts: i64,
    /// The previous attempt's error.
    pub last_error: Option<String>,
    /// The lease holder.
    pub owner: String,
    /// The lease ends then; finish before, or another worker takes over.
    pub lease_until: OffsetDateTime,
}

const LEASE_SQLITE: &str =
    "UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
     WHERE id = (SELECT id FROM jobs WHERE kind = $3 AND run_at <= $4
                   AND (lease_until IS NULL OR lease_until < $4)
                 ORDER BY run_at, id LIMIT 1)
     RETURNING id, kind, subject, run_at, attempts, last_error";

const LEASE_POSTGRES: &str =
    "UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
     WHERE id = (SELECT id FROM jobs WHERE kind = $3 AND run_at <= $4
                   AND (lease_until IS NULL OR lease_until < $4)
                 ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING id, kind, subject, run_at, attempts, last_error";

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    /// Schedules `(kind, subject)` at `run_at`. If it is already scheduled, the earlier time
    /// wins, so "check now" pulls a job forward but never pushes one back.
    pub async fn schedule_job(
        &self,
        kind: &str,
        subject: &str,
        run_at: OffsetDateTime,
    ) -> Result<()> {
        sqlx::query(
            // A job leased right now is running on what it read before this call: its
            // `run_at` moves to the new time even if that is later, so that finishing it
            // sees the request and keeps it ([`Store::finish_job`]).
            "INSERT INTO jobs (kind, subject, run_at, attempts, created_at) VALUES ($1, $2, $3, 0, $4)
             ON CONFLICT (kind, subject) DO UPDATE SET run_at = excluded.run_at
             WHERE jobs.run_at > excluded.run_at OR jobs.lease_owner IS NOT NULL",
        )
        .bind(kind)
        .bind(subject)
        .bind(to_ms(run_at))
        .bind(to_ms(now()))
        .execute(&self.pool)
        .await?;
        self.local_jobs.send_modify(|n| *n = n.wrapping_add(1));
        Ok(())
    }

    /// Changes whenever this process schedules a job: a worker waits on it next to its poll
    /// interval (other processes' jobs are found at the next poll).
    pub fn scheduled_jobs(&self) -> tokio::sync::watch::Receiver<u64> {
        self.local_jobs.subscribe()
    }

    /// Leases the most overdue job of `kind` for `lease`, or `None` when nothing is due.
    pub async fn lease_job(&self, kind: &str, owner: &str, lease: Duration) -> Result<Option<Job>> {
        let at = now();
        let until = to_ms(at).saturating_add(millis(lease));
        let sql = match self.backend {
            Backend::Sqlite => LEASE_SQLITE,
            Backend::Postgres => LEASE_POSTGRES,
        };
        let mut tx = self.begin_relaxed().await?;
        let row: Option<(i64, String, String, i64, i64, Option<String>)> = sqlx::query_as(sql)
            .bind(owner)
            .bind(until)
            .bind(kind)
            .bind(to_ms(at))
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(|(id, kind, subject, run_at, attempts, last_error)| {
            Ok(Job {
                id,
                kind,
                subject,
                run_at: from_ms(run_at)?,
                attempts,
                last_error,
                owner: owner.to_owned(),
                lease_until: from_ms(until)?,
            })
        })
        .transpose()
    }

    /// Gives up every lease `owner` holds, so that other workers take those jobs at once
    /// instead of after the leases expire (a worker stopping cleanly). Returns how many.
    pub async fn release_leases(&self, owner: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Ends a leased job: reschedules it at `next_run` (attempts reset) or deletes it.
    /// Fails with [`StoreError::StateMismatch`] if the lease was lost to another worker.
    pub async fn finish_job(&self, job: &Job, next_run: Option<OffsetDateTime>) -> Result<()> {
        let mut tx = self.begin_relaxed().await?;
        // A `run_at` that moved since the lease is a run asked for while this one was
        // running (it may have read the DNS before the change that prompted the request):
        // it is kept when it is sooner than the next regular run, and the job is not deleted.
        let leased_at = to_ms(job.run_at);
        let done = match next_run {
            Some(next) => sqlx::query(
                "UPDATE jobs SET run_at = CASE WHEN run_at <> $4 AND run_at < $1 THEN run_at ELSE $1 END,
                                 lease_owner = NULL, lease_until = NULL, attempts = 0,
                                 last_error = NULL
                 WHERE id = $2 AND lease_owner = $3",
            )
            .bind(to_ms(next))
            .bind(job.id)
            .bind(&job.owner)
            .bind(leased_at)
            .execute(&mut *tx)
            .await?,
            None => {
                let deleted = sqlx::query(
                    "DELETE FROM jobs WHERE id = $1 AND lease_owner = $2 AND run_at = $3",
                )
                .bind(job.id)
                .bind(&job.owner)
                .bind(leased_at)
                .execute(&mut *tx)
                .await?;
                if deleted.rows_affected() > 0 {
                    deleted
                } else {
                    sqlx::query(
                        "UPDATE jobs SET lease_owner = NULL, lease_until = NULL, attempts = 0,
                                         last_error = NULL
                         WHERE id = $1 AND lease_owner = $2",
                    )
                    .bind(job.id)
                    .bind(&job.owner)
                    .execute(&mut *tx)
                    .await?
                }
            }
        };
        tx.commit().await?;
        lease_kept(done.rows_affected())?;
        self.job_counts.record(&job.kind, true);
        Ok(())
    }

    /// Records a failed attempt and retries at `retry_at`, keeping the attempt count.
    pub async fn fail_job(&self, job: &Job, error: &str, retry_at: OffsetDateTime) -> Result<()> {
        let mut tx = self.begin_relaxed().await?;
        let done = sqlx::query(
            "UPDATE jobs SET run_at = $1, lease_owner = NULL, lease_until = NULL, last_error = $2
             WHERE id = $3 AND lease_owner = $4",
        )
        .bind(to_ms(retry_at))
        .bind(error)
        .bind(job.id)
        .bind(&job.owner)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        lease_kept(done.rows_affected())?;
        self.job_counts.record(&job.kind, false);
        Ok(())
    }

    /// Jobs this process finished and failed since it started, by kind (for metrics: which
    /// worker took which work).
    pub fn job_counts(&self) -> Vec<JobCount> {
        self.job_counts.snapshot()
    }
}

/// How many jobs of one kind this process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCount {
    /// The job kind (`verify`, `cert`, …).
    pub kind: String,
    /// Ended with [`Store::finish_job`].
    pub finished: u64,
    /// Ended with [`Store::fail_job`] (to be retried).
    pub failed: u64,
}

/// Per-process counts of ended jobs, shared by every clone of a [`Store`].
#[derive(Debug, Default)]
pub(crate) struct JobCounts(std::sync::Mutex<std::collections::BTreeMap<String, (u64, u64)>>);

impl JobCounts {
    fn record(&self, kind: &str, finished: bool) {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = counts.entry(kind.to_owned()).or_default();
        if finished {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }

    fn snapshot(&self) -> Vec<JobCount> {
        let counts = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counts
            .iter()
            .map(|(kind, (finished, failed))| JobCount {
                kind: kind.clone(),
                finished: *finished,
                failed: *failed,
            })
            .collect()
    }
}

fn lease_kept(rows: u64) -> Result<()> {
    if rows == 1 {
        Ok(())
    } else {
        Err(StoreError::StateMismatch {
            what: "job lease",
            expected: "held by this worker".to_owned(),
            actual: "lost".to_owned(),
        })
    }
}
