//! Rate limits on authentication: per account and per client address, so that neither one
//! address guessing many passwords nor many addresses guessing one account get far.
//!
//! Two layers with the same quotas: an in-process limiter refuses a flood without touching
//! the database, and a limit kept in the store ([`Store::rate_limit_hit`]) holds across every
//! API node behind a load balancer, which the in-process one alone would multiply by the
//! number of nodes. Addresses are keyed per IPv4 address and per IPv6 /64, the block a single
//! subscriber usually gets.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use stsd_store::{RateDecision, RateQuota, Store};

use crate::auth::hash_token;
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
    shared: SharedQuotas,
    clock: DefaultClock,
}

/// The same quotas for the limits kept in the store.
#[derive(Debug, Clone, Copy)]
struct SharedQuotas {
    login_account: RateQuota,
    login_address: RateQuota,
    signup_address: RateQuota,
}

fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(burst)
}

fn shared_quota(per_minute: u32, burst: u32) -> RateQuota {
    RateQuota {
        interval: Duration::from_secs(60) / per_minute.max(1),
        burst: burst.max(1),
    }
}

/// The address a limit counts against: IPv4 as it is (also when mapped into IPv6), IPv6 by
/// its /64 prefix, because one subscriber can use any of the 2^64 addresses of theirs.
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Counts one event against a limit in the store. The key is hashed: it holds e-mails, and
/// whatever an attacker typed.
async fn shared_hit(store: &Store, key: &str, quota: RateQuota) -> Result<(), ApiError> {
    match store.rate_limit_hit(&hash_token(key), quota).await? {
        RateDecision::Allowed => Ok(()),
        RateDecision::Refused { retry_after } => Err(ApiError::rate_limited(
            retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0),
        )),
    }
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
            shared: SharedQuotas {
                login_account: shared_quota(l.login_account_per_minute, l.login_account_burst),
                login_address: shared_quota(l.login_address_per_minute, l.login_address_burst),
                signup_address: shared_quota(l.signup_address_per_minute, l.signup_address_burst),
            },
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

    /// Counts a login attempt on this node; refuses with 429 when over either limit.
    fn login_local(&self, account: &str, address: IpAddr) -> Result<(), ApiError> {
        self.sweep();
        self.retry_after(self.login_address.check_key(&address))?;
        self.retry_after(self.login_account.check_key(&account.to_owned()))
    }

    /// Counts a login attempt here and across nodes; refuses with 429 when over a limit.
    pub(crate) async fn login(
        &self,
        store: &Store,
        account: &str,
        address: IpAddr,
    ) -> Result<(), ApiError> {
        let account = account.to_lowercase();
        let address = address_key(address);
        self.login_local(&account, address)?;
        shared_hit(
            store,
            &format!("login-address:{address}"),
            self.shared.login_address,
        )
        .await?;
        shared_hit(
            store,
            &format!("login-account:{account}"),
            self.shared.login_account,
        )
        .await
    }

    /// Counts a sign-up attempt here and across nodes.
    pub(crate) async fn signup(&self, store: &Store, address: IpAddr) -> Result<(), ApiError> {
        let address = address_key(address);
        self.sweep();
        self.retry_after(self.signup_address.check_key(&address))?;
        shared_hit(
            store,
            &format!("signup-address:{address}"),
            self.shared.signup_address,
        )
        .await
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
            if let Err(e) = l.login_local("victim@example.com", IpAddr::from([10, 0, 0, i])) {
                refused = Some((i, e));
                break;
            }
        }
        let (i, e) = refused.expect("the account limit never applied");
        assert_eq!(i, 10);
        assert_eq!(e.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(other));
        assert_eq!(address_key(a).to_string(), "2001:db8:1:2::");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), IpAddr::from([192, 0, 2, 7]));
    }

    #[test]
    fn shared_quotas_match_the_local_ones() {
        let q = shared_quota(2, 10);
        assert_eq!(q.interval, Duration::from_secs(30));
        assert_eq!(q.burst, 10);
        let zero = shared_quota(0, 0);
        assert_eq!(zero.interval, Duration::from_secs(60));
        assert_eq!(zero.burst, 1);
    }
}
