//! Rate limits on authentication: per account and per client address, so that neither one
//! address guessing many passwords nor many addresses guessing one account get far.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// Keys beyond which old entries are swept, bounding memory under a flood of addresses.
const SWEEP_ABOVE: usize = 50_000;

/// The limiters of the auth endpoints.
#[derive(Debug)]
pub(crate) struct Limits {
    login_account: DefaultKeyedRateLimiter<String>,
    login_address: DefaultKeyedRateLimiter<IpAddr>,
    signup_address: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

impl Limits {
    /// Limits suitable for a public service: 10 login attempts per account in a burst, then
    /// 2 per minute; 30 per address, then 10 per minute; 5 sign-ups per address, then one
    /// per minute.
    pub(crate) fn new() -> Limits {
        Limits {
            login_account: RateLimiter::keyed(quota(2, 10)),
            login_address: RateLimiter::keyed(quota(10, 30)),
            signup_address: RateLimiter::keyed(quota(1, 5)),
            clock: DefaultClock::default(),
        }
    }

    fn retry_after(
        &self,
        result: Result<(), governor::NotUntil<<DefaultClock as Clock>::Instant>>,
    ) -> Result<(), ApiError> {
        result.map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::rate_limited(wait.as_secs() + 1)
        })
    }

    /// Counts a login attempt; refuses with 429 when over either limit.
    pub(crate) fn login(&self, account: &str, address: IpAddr) -> Result<(), ApiError> {
        self.sweep();
        self.retry_after(self.login_address.check_key(&address))?;
        self.retry_after(self.login_account.check_key(&account.to_lowercase()))
    }

    /// Counts a sign-up attempt.
    pub(crate) fn signup(&self, address: IpAddr) -> Result<(), ApiError> {
        self.sweep();
        self.retry_after(self.signup_address.check_key(&address))
    }

    fn sweep(&self) {
        if self.login_account.len() > SWEEP_ABOVE {
            self.login_account.retain_recent();
        }
        if self.login_address.len() > SWEEP_ABOVE {
            self.login_address.retain_recent();
        }
        if self.signup_address.len() > SWEEP_ABOVE {
            self.signup_address.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_limit_applies_across_addresses() {
        let l = Limits::new();
        let mut refused = None;
        for i in 0..20u8 {
            if let Err(e) = l.login("Victim@Example.com", IpAddr::from([10, 0, 0, i])) {
                refused = Some((i, e));
                break;
            }
        }
        let (i, e) = refused.expect("the account limit never applied");
        assert_eq!(i, 10);
        assert_eq!(e.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
    }
}
