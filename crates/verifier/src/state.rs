//! The domain state machine, as a pure function of the state, the clock and the checks.
//!
//! Only two checks gate the state: ownership and the `mta-sts` CNAME. A check that could
//! not be made (`error`) proves nothing either way, so it never moves a domain.

use std::time::Duration;

use stsd_store::DomainState;
use time::OffsetDateTime;

use stsd_core::{CheckName, CheckResult, Outcome, outcome_of};

/// How long a degraded domain is still served before it is detached, by default.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(72 * 3600);

/// A transition the checks call for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The state to move to.
    pub to: DomainState,
    /// Why, in plain language (stored with the transition).
    pub reason: String,
}

/// The registration's certificate, as far as the state machine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateHealth {
    /// None is stored (or none is valid).
    Missing,
    /// A valid certificate with time left.
    Valid,
    /// Valid, but expiring within [`EXPIRING_WITHIN`]: renewals have been failing for weeks.
    Expiring,
}

/// A certificate this close to its end of validity has failed to renew since its renewal
/// point (a third of the lifetime before): the domain is degraded until one is stored.
pub const EXPIRING_WITHIN: time::Duration = time::Duration::days(10);

/// What the gating checks say together.
#[derive(Debug, PartialEq, Eq)]
enum Gate {
    /// Both pass (a warning still works).
    Ok,
    /// At least one fails; the explanations of the failing ones.
    Broken(Vec<String>),
    /// Neither fails, but one could not be made.
    Unknown,
}

fn gate(checks: &[CheckResult]) -> Gate {
    let gating = [CheckName::Ownership, CheckName::MtaStsCname];
    let broken: Vec<String> = checks
        .iter()
        .filter(|c| gating.contains(&c.name) && c.result == Outcome::Fail)
        .map(|c| c.explanation.clone())
        .collect();
    if !broken.is_empty() {
        return Gate::Broken(broken);
    }
    let ok = gating.iter().all(|name| {
        matches!(
            outcome_of(checks, *name),
            Some(Outcome::Pass | Outcome::Warn)
        )
    });
    if ok { Gate::Ok } else { Gate::Unknown }
}

/// The next state of a domain in `state` since `state_changed_at`, at `now`, given the
/// latest `checks`; `None` when it stays.
///
/// - `pending` → `verified` once ownership and the `mta-sts` CNAME check out;
/// - `verified` → `active` when they still do and a certificate is stored;
/// - `verified`/`active` → `degraded` when either fails, and `active` → `degraded` when the
///   certificate is about to expire unrenewed (back to `active` once renewed; never
///   detached for that alone);
/// - `degraded` → `active` (with a certificate) or `verified` (without) once fixed, and
///   → `detached` when still broken `grace` after it became degraded;
/// - `detached` → `verified` when the customer fixes the records (the certificate is
///   re-checked from there);
/// - `offboarding` and `removed` are never touched.
pub fn next_state(
    state: DomainState,
    state_changed_at: OffsetDateTime,
    now: OffsetDateTime,
    checks: &[CheckResult],
    certificate: CertificateHealth,
    grace: Duration,
) -> Option<Decision> {
    let decide = |to, reason: String| Some(Decision { to, reason });
    let has_certificate = certificate != CertificateHealth::Missing;
    let expiring = certificate == CertificateHealth::Expiring;
    match (state, gate(checks)) {
        (DomainState::Offboarding | DomainState::Removed, _) | (_, Gate::Unknown) => None,
        (DomainState::Pending, Gate::Ok) => decide(
            DomainState::Verified,
            "ownership and the mta-sts CNAME check out".to_owned(),
        ),
        (DomainState::Pending, Gate::Broken(_)) => None,
        (DomainState::Verified, Gate::Ok) if has_certificate => decide(
            DomainState::Active,
            "records check out and a certificate is stored".to_owned(),
        ),
        (DomainState::Active, Gate::Ok) if expiring => decide(
            DomainState::Degraded,
            "the certificate expires within 10 days and could not be renewed".to_owned(),
        ),
        (DomainState::Verified, Gate::Ok) | (DomainState::Active, Gate::Ok) => None,
        // Still served while the worker keeps retrying the renewal; not a reason to detach.
        (DomainState::Degraded, Gate::Ok) if expiring => None,
        (DomainState::Verified | DomainState::Active, Gate::Broken(why)) => {
            decide(DomainState::Degraded, why.join(" "))
        }
        (DomainState::Degraded, Gate::Ok) if has_certificate => decide(
            DomainState::Active,
            "the records are fixed and a certificate is stored".to_owned(),
        ),
        (DomainState::Degraded, Gate::Ok) => decide(
            DomainState::Verified,
            "the records are fixed; waiting for a certificate".to_owned(),
        ),
        (DomainState::Degraded, Gate::Broken(why)) => {
            let broken_for = now - state_changed_at;
            (broken_for >= grace).then(|| Decision {
                to: DomainState::Detached,
                reason: format!(
                    "still broken after the grace period of {} hours: {}",
                    grace.as_secs() / 3600,
                    why.join(" ")
                ),
            })
        }
        (DomainState::Detached, Gate::Ok) => decide(
            DomainState::Verified,
            "ownership and the mta-sts CNAME check out again".to_owned(),
        ),
        (DomainState::Detached, Gate::Broken(_)) => None,
    }
}

/// How long until the next check of a domain in `state` since `state_changed_at`, or
/// `None` when it is not checked periodically (detached, offboarding, removed).
///
/// Pending domains are checked often while the customer is likely at the keyboard (every
/// minute), then less and less often (half the time spent pending, at most hourly).
pub fn next_check_in(
    state: DomainState,
    state_changed_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Option<Duration> {
    const MINUTE: Duration = Duration::from_secs(60);
    match state {
        DomainState::Pending => {
            let waited = Duration::try_from(now - state_changed_at).unwrap_or_default();
            Some((waited / 2).clamp(MINUTE, 60 * MINUTE))
        }
        // Waiting for its certificate: soon active once the certificate arrives.
        DomainState::Verified => Some(5 * MINUTE),
        DomainState::Active => Some(4 * 60 * MINUTE),
        // Notice fixes quickly, and detach on time.
        DomainState::Degraded => Some(15 * MINUTE),
        DomainState::Detached | DomainState::Offboarding | DomainState::Removed => None,
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const GRACE: Duration = DEFAULT_GRACE_PERIOD;

    fn check(name: CheckName, result: Outcome) -> CheckResult {
        CheckResult::new(
            name,
            "x.example.com",
            result,
            format!("{name:?} {result:?}"),
            None,
        )
    }

    fn checks(ownership: Outcome, cname: Outcome) -> Vec<CheckResult> {
        vec![
            check(CheckName::Ownership, ownership),
            check(CheckName::MtaStsCname, cname),
            // Non-gating checks never matter.
            check(CheckName::Tlsrpt, Outcome::Fail),
            check(CheckName::MxCoverage, Outcome::Fail),
        ]
    }

    fn next(
        state: DomainState,
        hours_in_state: i64,
        c: &[CheckResult],
        cert: bool,
    ) -> Option<DomainState> {
        let since = datetime!(2026-01-01 0:00 UTC);
        let now = since + time::Duration::hours(hours_in_state);
        let cert = if cert {
            CertificateHealth::Valid
        } else {
            CertificateHealth::Missing
        };
        next_state(state, since, now, c, cert, GRACE).map(|d| d.to)
    }

    use DomainState::*;
    use Outcome::{Error, Fail, Pass, Warn};

    #[test]
    fn pending_becomes_verified_when_both_gating_checks_pass() {
        assert_eq!(next(Pending, 0, &checks(Pass, Pass), false), Some(Verified));
        assert_eq!(next(Pending, 0, &checks(Pass, Warn), false), Some(Verified));
        assert_eq!(next(Pending, 0, &checks(Pass, Fail), false), None);
        assert_eq!(next(Pending, 0, &checks(Fail, Pass), false), None);
        assert_eq!(next(Pending, 0, &checks(Error, Pass), false), None);
        // Even after months a pending domain simply stays pending.
        assert_eq!(next(Pending, 5000, &checks(Fail, Fail), false), None);
    }

    #[test]
    fn verified_and_active_degrade_when_a_gating_check_fails() {
        assert_eq!(
            next(Verified, 1, &checks(Fail, Pass), false),
            Some(Degraded)
        );
        assert_eq!(next(Active, 1, &checks(Pass, Fail), true), Some(Degraded));
        assert_eq!(next(Active, 1, &checks(Pass, Pass), true), None);
        assert_eq!(next(Verified, 1, &checks(Pass, Pass), false), None);
        assert_eq!(next(Verified, 1, &checks(Pass, Pass), true), Some(Active));
    }

    #[test]
    fn a_dns_error_moves_nothing() {
        assert_eq!(next(Active, 1, &checks(Error, Pass), true), None);
        assert_eq!(next(Degraded, 500, &checks(Error, Error), true), None);
        assert_eq!(next(Verified, 1, &[], true), None);
    }

    #[test]
    fn degraded_recovers_to_active_or_verified() {
        assert_eq!(next(Degraded, 1, &checks(Pass, Pass), true), Some(Active));
        assert_eq!(
            next(Degraded, 1, &checks(Pass, Warn), false),
            Some(Verified)
        );
    }

    #[test]
    fn degraded_detaches_only_after_the_grace_period() {
        assert_eq!(next(Degraded, 0, &checks(Fail, Pass), true), None);
        assert_eq!(next(Degraded, 71, &checks(Fail, Pass), true), None);
        assert_eq!(
            next(Degraded, 72, &checks(Fail, Pass), true),
            Some(Detached)
        );
        assert_eq!(
            next(Degraded, 100, &checks(Pass, Fail), true),
            Some(Detached)
        );
        // A shorter configured grace period is honoured.
        let since = datetime!(2026-01-01 0:00 UTC);
        let now = since + time::Duration::minutes(61);
        let d = next_state(
            Degraded,
            since,
            now,
            &checks(Fail, Fail),
            CertificateHealth::Valid,
            Duration::from_secs(3600),
        );
        assert_eq!(d.map(|d| d.to), Some(Detached));
        // And the reason says why.
        let d = next_state(
            Active,
            since,
            now,
            &checks(Fail, Pass),
            CertificateHealth::Valid,
            GRACE,
        );
        assert!(d.is_some_and(|d| d.reason.contains("Ownership Fail")));
    }

    #[test]
    fn an_unrenewed_certificate_degrades_but_never_detaches() {
        let since = datetime!(2026-01-01 0:00 UTC);
        let at = |hours| since + time::Duration::hours(hours);
        let ok = checks(Pass, Pass);
        let step = |state, hours, cert| {
            next_state(state, since, at(hours), &ok, cert, GRACE).map(|d| d.to)
        };
        assert_eq!(step(Active, 1, CertificateHealth::Expiring), Some(Degraded));
        // Degraded for it, long past the grace period: still served, still degraded.
        assert_eq!(step(Degraded, 1000, CertificateHealth::Expiring), None);
        // Renewed: active again.
        assert_eq!(step(Degraded, 1000, CertificateHealth::Valid), Some(Active));
    }

    #[test]
    fn detached_reattaches_when_fixed() {
        assert_eq!(next(Detached, 1, &checks(Pass, Pass), true), Some(Verified));
        assert_eq!(next(Detached, 1, &checks(Fail, Pass), true), None);
    }

    #[test]
    fn offboarding_and_removed_are_untouched() {
        for state in [Offboarding, Removed] {
            assert_eq!(next(state, 1, &checks(Fail, Fail), true), None);
            assert_eq!(next(state, 1, &checks(Pass, Pass), true), None);
        }
    }

    #[test]
    fn pending_checks_back_off_from_a_minute_to_an_hour() {
        let since = datetime!(2026-01-01 0:00 UTC);
        let at = |minutes| {
            next_check_in(Pending, since, since + time::Duration::minutes(minutes))
                .map(|d| d.as_secs() / 60)
        };
        assert_eq!(at(0), Some(1));
        assert_eq!(at(2), Some(1));
        assert_eq!(at(30), Some(15));
        assert_eq!(at(600), Some(60));
        assert_eq!(
            next_check_in(Active, since, since).map(|d| d.as_secs()),
            Some(4 * 3600)
        );
        assert_eq!(next_check_in(Detached, since, since), None);
        assert_eq!(next_check_in(Offboarding, since, since), None);
    }
}
