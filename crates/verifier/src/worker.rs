//! The verify worker: leases `verify` jobs, checks, transitions, reschedules; and between
//! rounds gives jobs to domains without one and runs the publisher step.

use std::time::{Duration, Instant};

use stsd_store::{DomainId, DomainState, Job, Store, StoreError, VERIFY_JOB_KIND};
use time::OffsetDateTime;
use tokio::task::JoinSet;

use crate::config::VerifierConfig;
use crate::error::VerifyError;
use crate::mx_moves::advance_mx_moves;
use crate::publisher::{publish_pending, record_dns_switches};
use crate::state::next_check_in;
use crate::verify::verify_domain;

/// The states whose domains are checked periodically.
const CHECKED_STATES: [DomainState; 4] = [
    DomainState::Pending,
    DomainState::Verified,
    DomainState::Active,
    DomainState::Degraded,
];

/// At most this many jobs per round, so the publisher and the scheduler are not starved.
const JOBS_PER_ROUND: usize = 100;

/// Enqueues a `verify` job, due now, for every pending, verified, active or degraded domain
/// that has none. Returns how many were enqueued.
pub async fn schedule_all(store: &Store) -> Result<usize, VerifyError> {
    let missing = store
        .all_tenants()
        .domains_without_job(VERIFY_JOB_KIND, &CHECKED_STATES)
        .await?;
    let now = OffsetDateTime::now_utc();
    for id in &missing {
        store
            .schedule_job(VERIFY_JOB_KIND, id.as_str(), now)
            .await?;
    }
    Ok(missing.len())
}

/// Removes the offboarding registrations whose serving period (RFC 8461 §8.3: the last
/// moment a non-`none` policy was served plus the largest `max_age` ever served) is over,
/// and deletes their certificates and keys. The label is never reused. Returns how many.
pub async fn finish_offboarding(store: &Store, now: OffsetDateTime) -> Result<usize, VerifyError> {
    let done = store.all_tenants().offboarding_done(now).await?;
    let mut removed = 0;
    for id in &done {
        match store
            .all_tenants()
            .transition_domain(
                id,
                DomainState::Offboarding,
                DomainState::Removed,
                "offboarding period over: senders' cached policies have expired",
            )
            .await
        {
            Ok(domain) => {
                let certs = store.all_tenants().purge_removed(id).await?;
                tracing::info!(domain = %domain.name, certificates = certs, "domain removed");
                removed += 1;
            }
            // Someone else finished it, or it came back: not ours to remove.
            Err(StoreError::StateMismatch { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(removed)
}

/// Runs forever: every `cfg.poll_interval`, runs the due `verify` jobs and finishes
/// offboarding; every `cfg.schedule_interval`, [`schedule_all`]. The publisher is
/// [`run_publisher`], on a task of its own. Errors are logged and retried,
/// never fatal: spawn it and let it run.
pub async fn run_worker(store: Store, cfg: VerifierConfig) {
    let mut last_schedule: Option<Instant> = None;
    // A check asked for in this process (`POST …/checks`, the enforce gate) starts at once.
    let mut scheduled = store.scheduled_jobs();
    loop {
        if last_schedule.is_none_or(|at| at.elapsed() >= cfg.schedule_interval) {
            match schedule_all(&store).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(jobs = n, "scheduled verification of domains"),
                Err(err) => tracing::warn!(error = %err, "cannot schedule verify jobs"),
            }
            last_schedule = Some(Instant::now());
        }
        run_due_jobs(&store, &cfg).await;
        if let Err(err) = finish_offboarding(&store, OffsetDateTime::now_utc()).await {
            tracing::warn!(error = %err, "offboarding step failed");
        }
        if let Err(err) = advance_mx_moves(&store, &cfg, OffsetDateTime::now_utc()).await {
            tracing::warn!(error = %err, "planned MX move step failed");
        }
        tokio::select! {
            () = tokio::time::sleep(cfg.poll_interval) => {}
            _ = scheduled.changed() => {}
        }
    }
}

/// Runs the publisher on its own, so that it never waits behind a round of checks (DNS
/// look-ups, STARTTLS probes that time out): wakes on every change-feed entry (a certificate
/// stored, a domain turned active) and at least every `poll`, makes pending versions live and
/// records DNS switches. Edits of served domains are made live by the edit itself
/// (`Store::publish_latest`); this catches everything else. Runs until aborted.
pub async fn run_publisher(store: Store, poll: Duration) {
    let mut changes = store.subscribe(poll);
    loop {
        if let Err(err) = publish_pending(&store).await {
            tracing::warn!(error = %err, "publisher step failed");
        }
        if let Err(err) = record_dns_switches(&store).await {
            tracing::warn!(error = %err, "recording DNS switches failed");
        }
        changes.changed().await;
    }
}

/// Leases and runs due jobs, `cfg.concurrency` at a time, until none is due (or a round
/// is full).
async fn run_due_jobs(store: &Store, cfg: &VerifierConfig) {
    let mut running = JoinSet::new();
    let mut leased = 0;
    let mut exhausted = false;
    loop {
        while !exhausted && running.len() < cfg.concurrency.max(1) && leased < JOBS_PER_ROUND {
            match store
                .lease_job(VERIFY_JOB_KIND, &cfg.worker_id, cfg.lease)
                .await
            {
                Ok(Some(job)) => {
                    leased += 1;
                    running.spawn(run_job(store.clone(), cfg.clone(), job));
                }
                Ok(None) => exhausted = true,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot lease verify jobs");
                    exhausted = true;
                }
            }
        }
        match running.join_next().await {
            None => return,
            Some(Ok(())) => {}
            Some(Err(err)) => tracing::warn!(error = %err, "verify job task failed"),
        }
    }
}

/// Checks the job's domain and reschedules the job for the domain's new state.
async fn run_job(store: Store, cfg: VerifierConfig, job: Job) {
    let (store, cfg, job) = (&store, &cfg, &job);
    let id = DomainId::from_raw(job.subject.clone());
    let now = OffsetDateTime::now_utc();
    let ended = match verify_domain(store, cfg, &id).await {
        Ok(Some((domain, _))) => {
            let next = next_check_in(domain.state, domain.state_changed_at, now).map(|d| now + d);
            store.finish_job(job, next).await
        }
        // Gone or removed: nothing left to check.
        Ok(None) => store.finish_job(job, None).await,
        Err(err) => {
            tracing::warn!(domain = %id, error = %err, attempt = job.attempts, "verification failed");
            store
                .fail_job(job, &err.to_string(), now + retry_delay(job.attempts))
                .await
        }
    };
    match ended {
        Ok(()) => {}
        // The lease ran out and another worker took the job; it reschedules.
        Err(StoreError::StateMismatch { .. }) => {
            tracing::debug!(domain = %id, "verify job lease lost");
        }
        Err(err) => tracing::warn!(domain = %id, error = %err, "cannot reschedule verify job"),
    }
}

/// A minute per failed attempt so far, at most an hour.
fn retry_delay(attempts: i64) -> Duration {
    let minutes = u64::try_from(attempts).unwrap_or(1).clamp(1, 60);
    Duration::from_secs(60 * minutes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_linearly_up_to_an_hour() {
        assert_eq!(retry_delay(0).as_secs(), 60);
        assert_eq!(retry_delay(3).as_secs(), 180);
        assert_eq!(retry_delay(500).as_secs(), 3600);
    }
}
