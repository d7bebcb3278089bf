//! When to renew a certificate: inside the CA's suggested window (ARI, RFC 9773) when the CA
//! has renewal information, else by the two-thirds rule; the moment picked is stored so that
//! it stays the same across polls and restarts until the window itself changes.

use std::time::Duration;

use stsd_store::{Certificate, RenewalPlan, RenewalSource, Store};
use time::OffsetDateTime;

use crate::error::CertsError;
use crate::issuer::{Issuer, RenewalInfo};

/// How long to wait before asking the CA again when its renewal information could not be
/// fetched (bounded by [`AriPolling::max`]).
const ARI_ERROR_RETRY: Duration = Duration::from_secs(3600);

/// The bounds put on a CA's `Retry-After` for renewal information (RFC 9773 §4.3 suggests
/// treating values under a minute as a minute and over a day as a day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AriPolling {
    /// A shorter `Retry-After` counts as this.
    pub min: Duration,
    /// A longer one counts as this.
    pub max: Duration,
}

impl Default for AriPolling {
    /// One minute to one day.
    fn default() -> AriPolling {
        AriPolling {
            min: Duration::from_secs(60),
            max: Duration::from_secs(24 * 3600),
        }
    }
}

impl AriPolling {
    /// `retry_after` bounded to `[min, max]`.
    fn bound(&self, retry_after: Duration) -> Duration {
        retry_after.clamp(self.min, self.max.max(self.min))
    }
}

/// The plan of `cert`, refreshed from the CA when its renewal information may be asked
/// again (or was never asked), and stored. A CA that cannot be asked leaves the stored plan
/// (or the two-thirds rule, if there is none) in force until the next try.
pub(crate) async fn refresh(
    store: &Store,
    issuer: &dyn Issuer,
    cert: &Certificate,
    polling: AriPolling,
    now: OffsetDateTime,
) -> Result<RenewalPlan, CertsError> {
    let stored = store.all_tenants().renewal_plan(&cert.id).await?;
    // Asked recently enough (the CA's Retry-After, or the retry after a failed ask, has not
    // come), or the CA has no renewal information at all (`next_poll` empty).
    if let Some(plan) = &stored
        && plan.next_poll.is_none_or(|at| at > now)
    {
        return Ok(plan.clone());
    }
    let plan = match issuer.renewal_info(&cert.chain_pem).await {
        Ok(Some(info)) => from_ari(&info, stored.as_ref(), cert, polling, now),
        Ok(None) => two_thirds(stored.as_ref(), cert, None),
        Err(e) => {
            tracing::warn!(domain = %cert.domain_id, error = %e,
                "cannot fetch the CA's renewal information; keeping the plan in force");
            let retry = now + bounded(ARI_ERROR_RETRY.min(polling.max));
            match stored {
                Some(plan) => RenewalPlan {
                    next_poll: Some(retry),
                    ..plan
                },
                None => two_thirds(None, cert, Some(retry)),
            }
        }
    };
    Ok(store
        .all_tenants()
        .put_renewal_plan(&cert.id, &plan)
        .await?)
}

/// A plan inside the CA's window: the moment picked before is kept while the window is the
/// same, a new one is drawn when it moved.
fn from_ari(
    info: &RenewalInfo,
    stored: Option<&RenewalPlan>,
    cert: &Certificate,
    polling: AriPolling,
    now: OffsetDateTime,
) -> RenewalPlan {
    // The store keeps milliseconds: compare and keep the window at that precision, or a
    // window with finer times would look moved at every poll.
    let (start, end) = (millis(info.window_start), millis(info.window_end));
    let renew_at = match stored {
        Some(p)
            if p.source == RenewalSource::Ari && p.window_start == start && p.window_end == end =>
        {
            p.renew_at
        }
        _ => pick(start, end, cert.not_before, cert.not_after, fraction()),
    };
    RenewalPlan {
        source: RenewalSource::Ari,
        window_start: start,
        window_end: end,
        renew_at,
        explanation_url: info.explanation_url.clone(),
        next_poll: Some(now + bounded(polling.bound(info.retry_after))),
        updated_at: now,
    }
}

/// The two-thirds plan: the window is the last twentieth of the lifetime before two thirds
/// of it; the moment drawn before is kept. `next_poll` is set when ARI is to be tried again
/// (it failed), and `None` when the CA has none.
fn two_thirds(
    stored: Option<&RenewalPlan>,
    cert: &Certificate,
    next_poll: Option<OffsetDateTime>,
) -> RenewalPlan {
    let end = crate::worker::renewal_point(cert.not_before, cert.not_after);
    let start = end - (cert.not_after - cert.not_before) / 20;
    let renew_at = match stored {
        Some(p) if p.source == RenewalSource::TwoThirds => p.renew_at,
        _ => crate::worker::jittered_renewal(cert.not_before, cert.not_after),
    };
    RenewalPlan {
        source: RenewalSource::TwoThirds,
        window_start: start,
        window_end: end,
        renew_at,
        explanation_url: None,
        next_poll,
        updated_at: OffsetDateTime::now_utc(),
    }
}

/// A moment `fraction` (0 to 1) into the window `[start, end]`, the window's end first moved
/// back so that a tenth of the certificate's lifetime is left when it is reached: a CA's
/// window that runs past the expiry (Pebble's runs a day on both sides of the two-thirds
/// point, whatever the lifetime) must not let the certificate expire before its renewal.
/// A window already past is as good as now: the caller renews at once (RFC 9773 §4.2).
pub(crate) fn pick(
    start: OffsetDateTime,
    end: OffsetDateTime,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    fraction: f64,
) -> OffsetDateTime {
    let latest = millis(not_after - (not_after - not_before) / 10);
    let end = end.min(latest);
    if start >= end {
        return end;
    }
    // Milliseconds: what the store keeps is what the caller is told.
    millis(start + (end - start) * fraction.clamp(0.0, 1.0))
}

/// `t` cut to whole milliseconds, the store's precision.
fn millis(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}

/// A uniform random fraction in `[0, 1]`; without randomness the window's start, the
/// earliest safe choice.
fn fraction() -> f64 {
    let mut bytes = [0u8; 4];
    match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 0.0,
    }
}

fn bounded(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).unwrap()
    }

    #[test]
    fn a_moment_inside_the_window() {
        let (nb, na) = (t(0), t(90 * 86400));
        let (start, end) = (t(59 * 86400), t(61 * 86400));
        assert_eq!(pick(start, end, nb, na, 0.0), start);
        assert_eq!(pick(start, end, nb, na, 1.0), end);
        assert_eq!(pick(start, end, nb, na, 0.5), t(60 * 86400));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let at = pick(start, end, nb, na, fraction());
            assert!(start <= at && at <= end, "{at}");
            seen.insert(at.unix_timestamp() / 3600);
        }
        assert!(seen.len() > 10, "spread over the window: {seen:?}");
    }

    #[test]
    fn a_window_past_the_expiry_is_cut_before_it() {
        // Pebble: a day either side of two thirds of a 60-second lifetime.
        let (nb, na) = (t(0), t(60));
        let (start, end) = (t(40 - 86400), t(40 + 86400));
        for f in [0.0, 0.3, 1.0] {
            let at = pick(start, end, nb, na, f);
            assert!(at <= t(54) && at >= start, "{at}");
        }
        // A window entirely after the safe point: the safe point.
        assert_eq!(pick(t(58), t(100), nb, na, 0.5), t(54));
    }

    #[test]
    fn a_window_in_the_past_is_due_now() {
        // A revoked certificate: the window ended before now.
        let (nb, na) = (t(0), t(90 * 86400));
        let at = pick(t(3600), t(5400), nb, na, 0.7);
        assert!(at <= t(5400) && at >= t(3600));
    }

    #[test]
    fn retry_after_is_bounded() {
        let p = AriPolling::default();
        assert_eq!(p.bound(Duration::from_secs(1)), Duration::from_secs(60));
        assert_eq!(
            p.bound(Duration::from_secs(6 * 3600)),
            Duration::from_secs(6 * 3600)
        );
        assert_eq!(
            p.bound(Duration::from_secs(9 * 86400)),
            Duration::from_secs(86400)
        );
    }
}
