//! Rate limits on authentication: per account and per client address, so that neither one
//! address guessing many passwords nor many addresses guessing one account get far.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// Keys beyond which old entries are swept, bounding memory under a flood of addresses.
const SWEEP_ABOVE: usize = 50_000;

/// How many attempts the auth endpoints allow: a burst, then a steady rate per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthLimits {
    /// Login attempts per account: burst.
    pub login_account_burst: u32,
    /// Login attempts per account: per minute after the burst.
    pub login_account_per_minute: u32,
    /// Login attempts per client address: burst.
    pub login_address_burst: u32,
    /// Login attempts per client address: per minute after the burst.
    pub login_address_per_minute: u32,
    /// Sign-ups per client address: burst.
    pub signup_address_burst: u32,
    /// Sign-ups per client address: per minute after the burst.
    pub signup_address_per_minute: u32,
}

impl Default for AuthLimits {
    /// Limits suitable for a public service: 10 login attempts per account in a burst, then
    /// 2 per minute; 30 per address, then 10 per minute; 5 sign-ups per address, then one
    /// per minute.
    fn default() -> AuthLimits {
        AuthLimits {
            login_account_burst: 10,
            login_account_per_minute: 2,
            login_address_burst: 30,
            login_address_per_minute: 10,
            signup_address_burst: 5,
            signup_address_per_minute: 1,
        }
    }
}

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
    /// Limiters with these settings (zero counts as one).
    pub(crate) fn new(l: &AuthLimits) -> Limits {
        Limits {
            login_account: RateLimiter::keyed(quota(
                l.login_account_per_minute,
                l.login_account_burst,
            )),
            login_address: RateLimiter::keyed(quota(
                l.login_address_per_minute,
                l.login_address_burst,
            )),
            signup_address: RateLimiter::keyed(quota(
                l.signup_address_per_minute,
                l.signup_address_burst,
            )),
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
        let l = Limits::new(&AuthLimits::default());
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
