//! Checking one domain and applying the transition the checks call for.

use stsd_store::{Domain, DomainId, DomainState, Store, StoreError};
use time::OffsetDateTime;

use crate::checks::{Subject, run_all};
use crate::config::VerifierConfig;
use crate::error::VerifyError;
use crate::state::{CertificateHealth, EXPIRING_WITHIN, next_state};
use stsd_core::CheckResult;

/// How often a transition is retried when another worker moved the domain in between.
const TRANSITION_TRIES: usize = 3;

/// Runs every check of the domain `id`, stores the results (`domains.last_checks`) and
/// applies the transition they imply; returns the results.
///
/// Removed registrations are not checked. Offboarding ones are (the customer must keep the
/// records until the end), but never moved.
///
/// Fails with [`VerifyError::DomainNotFound`] for an unknown or removed registration, and
/// with [`VerifyError::Store`] when the store fails. DNS failures are not errors: they are
/// checks with the result `error`.
pub async fn check_now(
    store: &Store,
    cfg: &VerifierConfig,
    domain_id: &DomainId,
) -> Result<Vec<CheckResult>, VerifyError> {
    match verify_domain(store, cfg, domain_id).await? {
        Some((_, checks)) => Ok(checks),
        None => Err(VerifyError::DomainNotFound(domain_id.to_string())),
    }
}

/// [`check_now`], returning the registration as it is afterwards too; `None` when the
/// registration is gone or removed.
pub(crate) async fn verify_domain(
    store: &Store,
    cfg: &VerifierConfig,
    id: &DomainId,
) -> Result<Option<(Domain, Vec<CheckResult>)>, VerifyError> {
    let Some(mut domain) = store.all_tenants().domain_by_id(id).await? else {
        return Ok(None);
    };
    if domain.state == DomainState::Removed {
        return Ok(None);
    }
    let latest = store.all_tenants().latest_policy_version(id).await?;
    let live = match &domain.live_version_id {
        Some(version) => store.all_tenants().policy_version(id, version).await?,
        None => None,
    };
    let subject = Subject {
        domain: domain.name.as_str(),
        label: domain.label.as_str(),
        ownership: domain.ownership,
        // TXT-mode ownership is proven once; pending and detached domains must prove it.
        ownership_proven: !matches!(domain.state, DomainState::Pending | DomainState::Detached),
        zone: cfg.service_zone.as_str(),
        edges: &cfg.edge_addresses,
        policy: latest.as_ref().map(|v| &v.policy),
        live_id: live.as_ref().map(|v| v.policy_id.as_str()),
    };
    let previous_checks = domain.last_checks.clone();
    let started = OffsetDateTime::now_utc();
    let checks = run_all(
        cfg.dns(),
        cfg.mx_probe.as_ref(),
        &cfg.ca_identities,
        &subject,
    )
    .await;
    let now = OffsetDateTime::now_utc();
    let certificate = match store.all_tenants().current_certificate(id).await? {
        Some(c) if c.not_after <= now => CertificateHealth::Missing,
        Some(c) if c.not_after - now < EXPIRING_WITHIN => CertificateHealth::Expiring,
        Some(_) => CertificateHealth::Valid,
        None => CertificateHealth::Missing,
    };

    for _ in 0..TRANSITION_TRIES {
        let Some(decision) = next_state(
            domain.state,
            domain.state_changed_at,
            OffsetDateTime::now_utc(),
            &checks,
            certificate,
            cfg.grace_period,
        ) else {
            break;
        };
        match store
            .all_tenants()
            .transition_domain_relaxed(id, domain.state, decision.to, &decision.reason)
            .await
        {
            Ok(moved) => {
                tracing::info!(
                    domain = %moved.name, from = %domain.state, to = %moved.state,
                    reason = %decision.reason, "domain state changed"
                );
                // A newly verified domain needs its certificate now, not at the certificate
                // worker's next sweep: the two workers meet in the job table.
                if moved.state == DomainState::Verified {
                    store
                        .schedule_job(
                            stsd_store::CERT_JOB_KIND,
                            id.as_str(),
                            OffsetDateTime::now_utc(),
                        )
                        .await?;
                }
                domain = moved;
                break;
            }
            // Someone else moved it (the API, the certificate worker): decide again from
            // where it is now, with the same checks.
            Err(StoreError::StateMismatch { .. }) => {
                match store.all_tenants().domain_by_id(id).await? {
                    Some(fresh) => domain = fresh,
                    None => return Ok(None),
                }
            }
            Err(err) => return Err(err.into()),
        }
    }
    announce_failures(store, &domain, previous_checks.as_deref(), &checks).await?;
    if latest
        .as_ref()
        .is_some_and(|v| v.policy.mode() == stsd_core::Mode::Enforce)
    {
        announce_mx_drift(store, &domain, previous_checks.as_deref(), &checks).await?;
    }
    let now = OffsetDateTime::now_utc();
    if matches!(domain.state, DomainState::Active | DomainState::Degraded)
        && store
            .claim_reporter_check(&domain.tenant_id, &domain.id, now, REPORTER_CHECK_EVERY)
            .await?
    {
        crate::reporters::check_reporters(store, &domain, now).await?;
    }
    // Recorded after the transition: whoever waits for fresh results (`POST …/checks`)
    // then also sees the state they imply, never fresh checks with a stale state.
    store
        .all_tenants()
        .record_checks(id, &serde_json::to_string(&checks)?, started)
        .await?;
    Ok(Some((domain, checks)))
}

/// How often a registration's reporters are looked at: a silence counts after days, so an hour
/// is plenty, and it keeps a 30-day grouped query off every 5-minute check run.
const REPORTER_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(3_600);

/// Whether a result is worth an alert: a failure, or (TXT mode) a published id that
/// drifted from the live one — senders then cache a stale policy.
fn alerting(c: &CheckResult) -> bool {
    c.result == stsd_core::Outcome::Fail
        || (c.name == stsd_core::CheckName::StsRecord && c.result == stsd_core::Outcome::Warn)
}

/// The alerting checks in stored or fresh results, as `name:result`.
fn failing(checks: &[CheckResult]) -> Vec<String> {
    let mut names: Vec<String> = checks
        .iter()
        .filter(|c| alerting(c))
        .filter_map(|c| serde_json::to_value((c.name, c.result)).ok())
        .map(|v| v.to_string())
        .collect();
    names.sort();
    names
}

/// Announces `domain.checks_failing` when the set of failing checks (and TXT-mode id drift)
/// changed to a non-empty one: a customer hears of a breakage once, not at every check run.
async fn announce_failures(
    store: &Store,
    domain: &Domain,
    previous: Option<&str>,
    checks: &[CheckResult],
) -> Result<(), VerifyError> {
    let now_failing = failing(checks);
    let before = previous
        .and_then(|json| serde_json::from_str::<Vec<CheckResult>>(json).ok())
        .map(|c| failing(&c))
        .unwrap_or_default();
    if now_failing.is_empty() || now_failing == before {
        return Ok(());
    }
    let body = serde_json::json!({
        "event": "domain.checks_failing",
        "domain": domain.name.as_str(),
        "state": domain.state.as_str(),
        "failing": checks
            .iter()
            .filter(|c| alerting(c))
            .collect::<Vec<_>>(),
        "at": OffsetDateTime::now_utc().unix_timestamp(),
    });
    store
        .enqueue_event(
            &domain.tenant_id,
            "domain.checks_failing",
            &body.to_string(),
        )
        .await?;
    Ok(())
}

/// The MX hosts the coverage check found uncovered, sorted.
fn uncovered(checks: &[CheckResult]) -> Vec<String> {
    let mut hosts: Vec<String> = checks
        .iter()
        .filter(|c| c.name == stsd_core::CheckName::MxCoverage)
        .flat_map(|c| c.uncovered.iter().cloned())
        .collect();
    hosts.sort();
    hosts
}

/// Announces `domain.mx_uncovered` when a domain in `enforce` has MX hosts its policy does
/// not cover, once per new set: senders enforcing the policy refuse to deliver to those hosts
/// from now on, so the customer must hear of it at once, with the fix (add them, through
/// the enforce gate) in the body.
async fn announce_mx_drift(
    store: &Store,
    domain: &Domain,
    previous: Option<&str>,
    checks: &[CheckResult],
) -> Result<(), VerifyError> {
    let now_uncovered = uncovered(checks);
    let before = previous
        .and_then(stsd_core::parse_checks)
        .map(|c| uncovered(&c))
        .unwrap_or_default();
    if now_uncovered.is_empty() || now_uncovered == before {
        return Ok(());
    }
    tracing::warn!(domain = %domain.name, uncovered = ?now_uncovered, "MX hosts not covered by the enforced policy");
    let body = serde_json::json!({
        "event": "domain.mx_uncovered",
        "domain": domain.name.as_str(),
        "mode": "enforce",
        "uncovered": now_uncovered,
        "explanation": "these MX hosts match no mx pattern of the enforced policy: senders \
                        enforcing it refuse to deliver to them",
        "fix": "add them to the policy (the dashboard offers it in one click)",
        "at": OffsetDateTime::now_utc().unix_timestamp(),
    });
    store
        .enqueue_event(&domain.tenant_id, "domain.mx_uncovered", &body.to_string())
        .await?;
    Ok(())
}
