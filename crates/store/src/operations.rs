//! What an operator's monitoring asks of the store: how far the job queues are behind, how
//! webhook deliveries fare, how many registrations have reporters that went quiet, and the
//! reports this process took in. The worker's metrics read [`AllTenants::operations`] on a
//! timer; the report counts are kept in memory by the process that received the reports.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use time::OffsetDateTime;

use crate::Result;
use crate::all_tenants::AllTenants;
use crate::clock::{from_ms, to_ms};
use crate::db::Store;
use crate::report_ingest::Transport;

/// How far one kind of job is behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobBacklog {
    /// The job kind (`verify`, `cert`, …).
    pub kind: String,
    /// Jobs due now that no worker holds.
    pub due: i64,
    /// When the longest-waiting of them fell due.
    pub oldest_due_at: Option<OffsetDateTime>,
}

/// The fleet-wide figures behind the operator's alerts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operations {
    /// Per job kind that has jobs at all, how many are due and unclaimed.
    pub jobs: Vec<JobBacklog>,
    /// Webhook deliveries that failed at least once and are still being retried.
    pub webhook_deliveries_retrying: i64,
    /// Webhook deliveries given up on (every attempt failed) in the last 24 hours.
    pub webhook_deliveries_abandoned_24h: i64,
    /// Registrations with at least one reporting organization that went quiet.
    pub domains_with_silent_reporters: i64,
}

/// Job kinds with no job at all still get a series, so that an alert on them has data.
const KNOWN_JOB_KINDS: [&str; 2] = [crate::VERIFY_JOB_KIND, crate::CERT_JOB_KIND];

impl AllTenants<'_> {
    /// Reads the figures of [`Operations`] at `now`, every tenant's.
    pub async fn operations(&self, now: OffsetDateTime) -> Result<Operations> {
        let now_ms = to_ms(now);
        let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT kind,
                    CAST(COALESCE(SUM(CASE WHEN run_at <= $1
                        AND (lease_until IS NULL OR lease_until < $1) THEN 1 ELSE 0 END), 0) AS BIGINT),
                    MIN(CASE WHEN run_at <= $1
                        AND (lease_until IS NULL OR lease_until < $1) THEN run_at END)
             FROM jobs GROUP BY kind ORDER BY kind",
        )
        .bind(now_ms)
        .fetch_all(&self.store.pool)
        .await?;
        let mut jobs: BTreeMap<String, JobBacklog> = KNOWN_JOB_KINDS
            .iter()
            .map(|k| {
                (
                    (*k).to_owned(),
                    JobBacklog {
                        kind: (*k).to_owned(),
                        due: 0,
                        oldest_due_at: None,
                    },
                )
            })
            .collect();
        for (kind, due, oldest) in rows {
            let oldest_due_at = oldest.map(from_ms).transpose()?;
            jobs.insert(
                kind.clone(),
                JobBacklog {
                    kind,
                    due,
                    oldest_due_at,
                },
            );
        }
        let (retrying, abandoned): (i64, i64) = sqlx::query_as(
            "SELECT
                 CAST(COALESCE(SUM(CASE WHEN delivered_at IS NULL AND failed_at IS NULL
                     AND attempts > 0 THEN 1 ELSE 0 END), 0) AS BIGINT),
                 CAST(COALESCE(SUM(CASE WHEN failed_at IS NOT NULL AND failed_at >= $1
                     THEN 1 ELSE 0 END), 0) AS BIGINT)
             FROM webhook_deliveries
             WHERE delivered_at IS NULL",
        )
        .bind(now_ms.saturating_sub(24 * 3_600_000))
        .fetch_one(&self.store.pool)
        .await?;
        let silent: i64 = sqlx::query_scalar(
            "SELECT CAST(COUNT(DISTINCT s.domain_id) AS BIGINT) FROM reporter_silences s
             JOIN domains d ON d.id = s.domain_id WHERE d.state <> 'removed'",
        )
        .fetch_one(&self.store.pool)
        .await?;
        Ok(Operations {
            jobs: jobs.into_values().collect(),
            webhook_deliveries_retrying: retrying,
            webhook_deliveries_abandoned_24h: abandoned,
            domains_with_silent_reporters: silent,
        })
    }
}

/// What became of a report body this process received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReportOutcome {
    /// Stored.
    Stored,
    /// Already stored before (a sender's retry).
    Duplicate,
    /// Not a usable TLS report: the sender was told so and nothing was stored.
    Rejected,
    /// The store failed: the sender was told to retry.
    Failed,
}

impl ReportOutcome {
    /// Every outcome, in the order metrics list them.
    pub const ALL: [ReportOutcome; 4] = [
        ReportOutcome::Stored,
        ReportOutcome::Duplicate,
        ReportOutcome::Rejected,
        ReportOutcome::Failed,
    ];

    /// The label value in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportOutcome::Stored => "stored",
            ReportOutcome::Duplicate => "duplicate",
            ReportOutcome::Rejected => "rejected",
            ReportOutcome::Failed => "failed",
        }
    }
}

/// How many report bodies of one transport came to one outcome in this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportCount {
    /// `https`, `smtp` or `upload`.
    pub transport: &'static str,
    /// What became of them.
    pub outcome: ReportOutcome,
    /// How many since the process started.
    pub count: u64,
}

/// The per-process report counts behind [`Store::report_counts`].
#[derive(Debug, Default)]
pub(crate) struct ReportCounts(Mutex<BTreeMap<(&'static str, ReportOutcome), u64>>);

impl ReportCounts {
    pub(crate) fn record(&self, transport: &'static str, outcome: ReportOutcome) {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry((transport, outcome)).or_default() += 1;
    }
}

impl Store {
    /// Counts a report body received over `transport` that was not a usable TLS report
    /// (ingestion itself counts what it stores or fails to store).
    pub fn count_rejected_report(&self, transport: Transport) {
        self.report_counts
            .record(transport.as_str(), ReportOutcome::Rejected);
    }

    /// The report bodies this process received since it started, by transport and outcome.
    pub fn report_counts(&self) -> Vec<ReportCount> {
        let counts = self
            .report_counts
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        counts
            .iter()
            .map(|(&(transport, outcome), &count)| ReportCount {
                transport,
                outcome,
                count,
            })
            .collect()
    }
}
