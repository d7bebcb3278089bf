//! The worker: takes `cert` jobs with leases, issues for verified registrations, renews inside
//! the CA's suggested window (ARI, RFC 9773) or, for CAs without one, at two thirds of a
//! certificate's lifetime, backs off exponentially on failure, and never removes a certificate
//! (a failed renewal leaves the valid one served).

use std::sync::Arc;
use std::time::{Duration, Instant};

use stsd_store::{
    CERT_JOB_KIND, Domain, DomainId, DomainState, MasterKey, SERVICE_CERT_JOB_KIND, Store,
    StoreError,
};
use time::OffsetDateTime;

use crate::error::CertsError;
use crate::issuer::Issuer;
use crate::plan::{self, AriPolling};

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Lease owner name, unique per worker (for example the node id).
    pub owner: String,
    /// How long a job is leased: another worker takes it over if this one dies.
    pub lease: Duration,
    /// Sleep between polls when no job is due.
    pub idle_poll: Duration,
    /// How often to look for registrations that need a certificate but have no job.
    pub sweep_interval: Duration,
    /// Delay after the first failure; doubled per further failure.
    pub backoff_base: Duration,
    /// The longest delay between attempts.
    pub backoff_cap: Duration,
    /// The longest a CA's `Retry-After` on a `rateLimited` refusal is honoured: a later
    /// time is cut to this.
    pub rate_limit_cap: Duration,
    /// stsd's own hosts that need a certificate on the edge (`reports.<zone>`).
    pub service_hosts: Vec<String>,
    /// Orders run at once (each is mostly waiting for the CA).
    pub concurrency: usize,
    /// New orders per hour across the account, with a burst of three hours' worth: keeps a
    /// burst of new domains under the CA's limits (Let's Encrypt allows 300 new orders per
    /// 3 hours per account).
    pub orders_per_hour: u32,
    /// The bounds put on the CA's `Retry-After` between two fetches of a certificate's
    /// renewal information.
    pub ari_polling: AriPolling,
}

impl WorkerConfig {
    /// Defaults: 10 min lease, 5 s idle poll, 1 min sweep, back off from 1 min up to 6 h
    /// (a CA's rate limit up to 24 h), 16 orders at once, 100 new orders per hour (burst 300),
    /// the CA's renewal information asked again after its `Retry-After`, between 1 min and 1 day.
    pub fn new(owner: impl Into<String>) -> WorkerConfig {
        WorkerConfig {
            owner: owner.into(),
            lease: Duration::from_secs(600),
            idle_poll: Duration::from_secs(5),
            sweep_interval: Duration::from_secs(60),
            backoff_base: Duration::from_secs(60),
            backoff_cap: Duration::from_secs(6 * 3600),
            rate_limit_cap: Duration::from_secs(24 * 3600),
            service_hosts: Vec::new(),
            concurrency: 16,
            orders_per_hour: 100,
            ari_polling: AriPolling::default(),
        }
    }
}

/// What one job run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A certificate was issued and stored; renewal is scheduled at `renew_at`.
    Issued {
        /// The registration.
        domain: DomainId,
        /// The new certificate's end of validity.
        not_after: OffsetDateTime,
        /// When it will be renewed.
        renew_at: OffsetDateTime,
    },
    /// The current certificate is not due yet; the job was moved to its renewal point.
    NotDue {
        /// The registration.
        domain: DomainId,
        /// When it will be renewed.
        renew_at: OffsetDateTime,
    },
    /// The registration is gone or no longer served: the job was dropped.
    Dropped {
        /// The registration.
        domain: DomainId,
    },
    /// Issuing failed; the job retries at `retry_at`. Any valid certificate stays.
    Failed {
        /// The registration.
        domain: DomainId,
        /// Why.
        error: String,
        /// The next attempt.
        retry_at: OffsetDateTime,
    },
}

/// The account-wide new-order limiter.
type OrderLimiter = governor::DefaultDirectRateLimiter;

fn order_limiter(per_hour: u32) -> OrderLimiter {
    let n = std::num::NonZeroU32::new(per_hour).unwrap_or(std::num::NonZeroU32::MIN);
    let burst = n.saturating_mul(std::num::NonZeroU32::new(3).unwrap_or(std::num::NonZeroU32::MIN));
    governor::RateLimiter::direct(governor::Quota::per_hour(n).allow_burst(burst))
}

/// Runs the worker until the task is dropped: sweeps for work every
/// [`WorkerConfig::sweep_interval`] and runs due jobs, up to [`WorkerConfig::concurrency`]
/// at once, each order first waiting for the account-wide limiter.
pub async fn run_worker(
    store: Store,
    master: Arc<MasterKey>,
    issuer: Arc<dyn Issuer>,
    config: WorkerConfig,
) {
    tracing::info!(issuer = issuer.name(), owner = %config.owner,
        concurrency = config.concurrency, orders_per_hour = config.orders_per_hour,
        "certificate worker started");
    let limiter = Arc::new(order_limiter(config.orders_per_hour));
    let config = Arc::new(config);
    let mut last_sweep: Option<Instant> = None;
    let mut running = tokio::task::JoinSet::new();
    // A domain verified in this process gets its order at once, not at the next poll.
    let mut scheduled = store.scheduled_jobs();
    loop {
        if last_sweep.is_none_or(|t| t.elapsed() >= config.sweep_interval) {
            if let Err(e) = schedule_due(&store).await {
                tracing::warn!(error = %e, "certificate sweep failed");
            }
            if let Err(e) = schedule_service_due(&store, &config.service_hosts).await {
                tracing::warn!(error = %e, "service certificate sweep failed");
            }
            last_sweep = Some(Instant::now());
        }
        if let Err(e) = run_next_service(&store, &master, issuer.as_ref(), &config).await {
            tracing::warn!(error = %e, "service certificate job failed");
        }
        // Fill the free slots; each task leases its own job, so two never order the same
        // certificate, and stops when nothing is due.
        while running.len() < config.concurrency.max(1) {
            let (store, master, issuer, config, limiter) = (
                store.clone(),
                master.clone(),
                issuer.clone(),
                config.clone(),
                limiter.clone(),
            );
            running.spawn(async move {
                run_next_limited(&store, &master, issuer.as_ref(), &config, Some(&limiter)).await
            });
        }
        let mut idle = false;
        while let Some(done) = running.join_next().await {
            match done {
                // Another job may be due right away: refill.
                Ok(Ok(Some(_))) => break,
                Ok(Ok(None)) => idle = true,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "certificate job failed");
                    idle = true;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "certificate task ended abnormally");
                    idle = true;
                }
            }
            if running.is_empty() {
                break;
            }
        }
        if idle && running.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(config.idle_poll) => {}
                _ = scheduled.changed() => {}
            }
        }
    }
}

/// Schedules a `cert` job, due now, for every served registration that has no certificate
/// before its renewal point and no job yet. Returns how many were scheduled.
pub async fn schedule_due(store: &Store) -> Result<usize, CertsError> {
    let now = OffsetDateTime::now_utc();
    let due = store.all_tenants().domains_needing_certificate(now).await?;
    for id in &due {
        store.schedule_job(CERT_JOB_KIND, id.as_str(), now).await?;
    }
    Ok(due.len())
}

/// Leases one due `cert` job and runs it; `None` when nothing is due.
pub async fn run_next(
    store: &Store,
    master: &MasterKey,
    issuer: &dyn Issuer,
    config: &WorkerConfig,
) -> Result<Option<Outcome>, CertsError> {
    run_next_limited(store, master, issuer, config, None).await
}

/// [`run_next`], waiting for `limiter` before placing an order.
async fn run_next_limited(
    store: &Store,
    master: &MasterKey,
    issuer: &dyn Issuer,
    config: &WorkerConfig,
    limiter: Option<&OrderLimiter>,
) -> Result<Option<Outcome>, CertsError> {
    let Some(job) = store
        .lease_job(CERT_JOB_KIND, &config.owner, config.lease)
        .await?
    else {
        return Ok(None);
    };
    let id = DomainId::from_raw(job.subject.clone());
    let Some(domain) = store
        .all_tenants()
        .domain_by_id(&id)
        .await?
        .filter(|d| certifiable(d.state))
    else {
        store.finish_job(&job, None).await?;
        return Ok(Some(Outcome::Dropped { domain: id }));
    };
    let now = OffsetDateTime::now_utc();
    let current = store.all_tenants().current_certificate(&id).await?;
    if let Some(current) = &current {
        let plan = plan::refresh(store, issuer, current, config.ari_polling, now).await?;
        if now < plan.renew_at {
            activate(store, &domain).await?;
            store
                .finish_job(&job, Some(next_run(plan.renew_at, plan.next_poll)))
                .await?;
            return Ok(Some(Outcome::NotDue {
                domain: id,
                renew_at: plan.renew_at,
            }));
        }
    }
    if let Some(limiter) = limiter {
        limiter.until_ready().await;
    }
    // After repeated failures a fallback issuer hands the order to its next CA.
    let ordering = issuer.for_attempt(job.attempts).unwrap_or(issuer);
    let issued = match &current {
        // A renewal names the certificate it replaces (ARI `replaces`).
        Some(current) => ordering.renew(&domain, &current.chain_pem).await,
        None => ordering.issue(&domain).await,
    };
    let issued = match issued {
        Ok(issued) => issued.store(store, master, &domain).await,
        Err(e) => Err(e),
    };
    match issued {
        Ok(cert) => {
            activate(store, &domain).await?;
            // The new certificate's own plan, asked of the CA right away.
            let plan = plan::refresh(
                store,
                issuer,
                &cert,
                config.ari_polling,
                OffsetDateTime::now_utc(),
            )
            .await?;
            store
                .finish_job(&job, Some(next_run(plan.renew_at, plan.next_poll)))
                .await?;
            tracing::info!(domain = %domain.name, not_after = %cert.not_after,
                renew_at = %plan.renew_at, source = plan.source.as_str(), "certificate issued");
            Ok(Some(Outcome::Issued {
                domain: id,
                not_after: cert.not_after,
                renew_at: plan.renew_at,
            }))
        }
        Err(e) => {
            let error = e.to_string();
            let retry_at = retry_time(now, job.attempts, config, &e);
            store.fail_job(&job, &error, retry_at).await?;
            tracing::warn!(domain = %domain.name, attempts = job.attempts, %retry_at, %error,
                "certificate issuance failed");
            let current = store.all_tenants().current_certificate(&id).await?;
            let event = serde_json::json!({
                "event": "certificate.failed",
                "domain": domain.name.as_str(),
                "host": format!("mta-sts.{}", domain.name),
                "error": error,
                "attempts": job.attempts,
                "next_attempt_at": retry_at.unix_timestamp(),
                "current_not_after": current.map(|c| c.not_after.unix_timestamp()),
            });
            store
                .enqueue_event(&domain.tenant_id, "certificate.failed", &event.to_string())
                .await?;
            Ok(Some(Outcome::Failed {
                domain: id,
                error,
                retry_at,
            }))
        }
    }
}

/// Schedules a `service_cert` job, due now, for each service host without a certificate
/// before its renewal point and without a job already (a job backing off is left alone).
pub async fn schedule_service_due(store: &Store, hosts: &[String]) -> Result<usize, CertsError> {
    let now = OffsetDateTime::now_utc();
    let current = store.service_certificates().await?;
    let mut scheduled = 0;
    for host in hosts {
        let fresh = current
            .iter()
            .any(|c| &c.host == host && !renewal_due(c.not_before, c.not_after, now));
        if fresh
            || store
                .all_tenants()
                .job_status(SERVICE_CERT_JOB_KIND, host)
                .await?
                .is_some()
        {
            continue;
        }
        store.schedule_job(SERVICE_CERT_JOB_KIND, host, now).await?;
        scheduled += 1;
    }
    Ok(scheduled)
}

/// Leases one due `service_cert` job and runs it; `None` when nothing is due. A host no
/// longer configured is dropped; a failure backs off like a customer's certificate.
pub async fn run_next_service(
    store: &Store,
    master: &MasterKey,
    issuer: &dyn Issuer,
    config: &WorkerConfig,
) -> Result<Option<ServiceOutcome>, CertsError> {
    let Some(job) = store
        .lease_job(SERVICE_CERT_JOB_KIND, &config.owner, config.lease)
        .await?
    else {
        return Ok(None);
    };
    let host = job.subject.clone();
    if !config.service_hosts.contains(&host) {
        store.finish_job(&job, None).await?;
        return Ok(Some(ServiceOutcome::Dropped { host }));
    }
    let now = OffsetDateTime::now_utc();
    let issued = match issuer.issue_host(&host, None).await {
        Ok(issued) => issued.store_service(store, master, &host).await,
        Err(e) => Err(e),
    };
    match issued {
        Ok(cert) => {
            let renew_at = jittered_renewal(cert.not_before, cert.not_after);
            store.finish_job(&job, Some(renew_at)).await?;
            tracing::info!(%host, not_after = %cert.not_after, "service certificate issued");
            Ok(Some(ServiceOutcome::Issued { host, renew_at }))
        }
        Err(e) => {
            let error = e.to_string();
            let retry_at = retry_time(now, job.attempts, config, &e);
            store.fail_job(&job, &error, retry_at).await?;
            tracing::warn!(%host, attempts = job.attempts, %retry_at, %error,
                "service certificate issuance failed");
            Ok(Some(ServiceOutcome::Failed {
                host,
                error,
                retry_at,
            }))
        }
    }
}

/// What one service-certificate job run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceOutcome {
    /// Issued and stored; renewal is scheduled at `renew_at`.
    Issued {
        /// The host.
        host: String,
        /// When it will be renewed.
        renew_at: OffsetDateTime,
    },
    /// The host is no longer configured: the job was dropped.
    Dropped {
        /// The host.
        host: String,
    },
    /// Issuing failed; the job retries at `retry_at`.
    Failed {
        /// The host.
        host: String,
        /// Why.
        error: String,
        /// The next attempt.
        retry_at: OffsetDateTime,
    },
}

/// When a job not due yet runs again: at the renewal moment, or earlier when the CA's
/// renewal information is to be asked again then (the window may have moved: a revocation
/// pulls it into the past).
fn next_run(renew_at: OffsetDateTime, next_poll: Option<OffsetDateTime>) -> OffsetDateTime {
    next_poll.map_or(renew_at, |poll| poll.min(renew_at))
}

/// States whose registrations keep a certificate (offboarding ones serve `mode: none`).
fn certifiable(state: DomainState) -> bool {
    matches!(
        state,
        DomainState::Verified
            | DomainState::Active
            | DomainState::Degraded
            | DomainState::Offboarding
    )
}

/// A verified registration with a certificate becomes active.
async fn activate(store: &Store, domain: &Domain) -> Result<(), CertsError> {
    if domain.state != DomainState::Verified {
        return Ok(());
    }
    match store
        .all_tenants()
        .transition_domain(
            &domain.id,
            DomainState::Verified,
            DomainState::Active,
            "certificate issued",
        )
        .await
    {
        // Someone else moved it on (activated it, or detached it): theirs is newer news.
        Ok(_) | Err(StoreError::StateMismatch { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Two thirds into the lifetime: 60 days for a 90-day certificate, and short-lived
/// certificates still get a third of their life to be renewed in.
pub fn renewal_point(not_before: OffsetDateTime, not_after: OffsetDateTime) -> OffsetDateTime {
    not_before + (not_after - not_before) * 2 / 3
}

/// The renewal window: the last twentieth of the lifetime before [`renewal_point`] (4.5 days
/// of a 90-day certificate). Renewals are spread over it so that certificates issued
/// together — a burst of new domains — do not all come due in the same minute.
fn jitter_window(not_before: OffsetDateTime, not_after: OffsetDateTime) -> time::Duration {
    (not_after - not_before) / 20
}

/// Whether a certificate is inside its renewal window at `now`.
pub fn renewal_due(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> bool {
    now >= renewal_point(not_before, not_after) - jitter_window(not_before, not_after)
}

/// A random moment of the renewal window, when the renewal job is scheduled.
pub fn jittered_renewal(not_before: OffsetDateTime, not_after: OffsetDateTime) -> OffsetDateTime {
    let mut bytes = [0u8; 2];
    // Without randomness the window's end is as good as any moment of it.
    let fraction = match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u16::from_le_bytes(bytes)) / f64::from(u16::MAX),
        Err(_) => 0.0,
    };
    let at = renewal_point(not_before, not_after) - jitter_window(not_before, not_after) * fraction;
    // Whole seconds: what the job table stores is what the caller is told.
    at.replace_nanosecond(0).unwrap_or(at)
}

/// When a job that failed with `error` runs again: after the backoff, or at the time a
/// rate-limiting CA named (bounded by [`WorkerConfig::rate_limit_cap`]).
fn retry_time(
    now: OffsetDateTime,
    attempts: i64,
    config: &WorkerConfig,
    error: &CertsError,
) -> OffsetDateTime {
    let cap = time::Duration::try_from(config.rate_limit_cap).unwrap_or(time::Duration::DAY);
    crate::rate_limit::next_attempt(now, backoff(attempts, config), cap, error)
}

/// The delay after the `attempts`-th failure: base, doubling, capped.
fn backoff(attempts: i64, config: &WorkerConfig) -> time::Duration {
    stsd_core::backoff(attempts, config.backoff_base, config.backoff_cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renews_at_two_thirds() {
        let start = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        assert_eq!(
            renewal_point(start, start + time::Duration::days(90)),
            start + time::Duration::days(60)
        );
        assert_eq!(
            renewal_point(start, start + time::Duration::hours(6)),
            start + time::Duration::hours(4)
        );
    }

    #[test]
    fn renewals_spread_over_the_window_before_two_thirds() {
        let start = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let end = start + time::Duration::days(90);
        let point = renewal_point(start, end);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let at = jittered_renewal(start, end);
            assert!(
                at <= point
                    && at >= point - time::Duration::hours(108) - time::Duration::seconds(1)
            );
            assert!(renewal_due(start, end, at));
            seen.insert(at.unix_timestamp() / 3600);
        }
        assert!(
            seen.len() > 10,
            "spread over the window, not one moment: {seen:?}"
        );
        assert!(!renewal_due(start, end, point - time::Duration::days(5)));
        assert!(renewal_due(start, end, point - time::Duration::days(4)));
    }

    #[test]
    fn the_order_limiter_allows_a_burst_then_waits() {
        let limiter = order_limiter(3);
        assert!(
            (0..9).all(|_| limiter.check().is_ok()),
            "three hours' worth at once"
        );
        assert!(limiter.check().is_err(), "the tenth order waits");
        // A zero configuration still lets orders through, one per hour.
        assert!(order_limiter(0).check().is_ok());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let c = WorkerConfig::new("t");
        let mins = |n: i64| backoff(n, &c).whole_minutes();
        assert_eq!([mins(0), mins(1), mins(2), mins(3)], [1, 1, 2, 4]);
        assert_eq!(mins(9), 256);
        assert_eq!(mins(10), 360);
        assert_eq!(mins(i64::MAX), 360);
    }

    #[test]
    fn a_rate_limit_moves_the_next_attempt_to_the_cas_time() {
        let c = WorkerConfig::new("t");
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let limited = |hours: i64| CertsError::RateLimited {
            detail: "too many".into(),
            retry_after: Some(now + time::Duration::hours(hours)),
        };
        assert_eq!(
            retry_time(now, 1, &c, &limited(5)),
            now + time::Duration::hours(5)
        );
        assert_eq!(
            retry_time(now, 1, &c, &limited(100)),
            now + time::Duration::hours(24),
            "capped"
        );
        let other = CertsError::Random("x".into());
        assert_eq!(
            retry_time(now, 1, &c, &other),
            now + time::Duration::minutes(1)
        );
    }

    #[test]
    fn only_served_states_keep_certificates() {
        let kept: Vec<_> = DomainState::ALL
            .into_iter()
            .filter(|s| certifiable(*s))
            .collect();
        assert_eq!(
            kept,
            [
                DomainState::Verified,
                DomainState::Active,
                DomainState::Degraded,
                DomainState::Offboarding
            ]
        );
    }
}
