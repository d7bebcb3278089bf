//! Limits of the HTTPS receiver: request size and time, and rate limits and daily volume
//! quotas per source and per label, so that no one client and no flood aimed at one
//! registration can fill the database or the disk.
//!
//! Anyone can POST to `reports.<zone>`, so the receiver meters each source (an IPv4 address
//! or an IPv6 /64, the block one subscriber usually holds) and each label, in requests
//! (GCRA: a burst, then a steady rate) and in bytes per day. Bytes are counted as received —
//! the body on the wire, compressed or not — because that is what costs bandwidth and
//! storage (stsd keeps the gzip it was sent), and it is known before anything is
//! decompressed; what decompression can add is bounded per report by `max_decompressed`
//! and in number by the request limits.
//!
//! The counts are in memory, per process, with [`governor`]'s keyed limiters as the API's
//! authentication limits keep them: several edges each keep their own, so a source that
//! spreads its requests over `n` edges gets `n` times the quota. The store-backed limiter of
//! the API (`Store::rate_limit_hit`) could share them later at the price of a database
//! write per report.
//!
//! A flood aimed at one label holds back that label's HTTPS reports until it stops (the
//! reporters' retries and the mail copies, which RFC 8460 reporters send to every `rua`,
//! still arrive); it never affects other labels.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, NotUntil, Quota, RateLimiter};
use stsd_core::tlsrpt::DEFAULT_MAX_DECOMPRESSED;
use stsd_net::ClientKey;

/// The unit of the byte quotas: governor counts in `u32` cells, so KiB keep terabytes in
/// range.
const UNIT: u64 = 1024;
/// Tracked keys above which idle ones are swept (at most once a second: a sweep walks the
/// whole map).
const SWEEP_ABOVE: usize = 50_000;

/// Limits of the HTTPS receiver.
///
/// The defaults leave honest reporters far from every limit. A reporter sends one report per
/// policy domain per day (RFC 8460 §4.1); the largest post from a few addresses for every
/// domain they deliver to, mostly in the hours after midnight UTC. So:
///
/// - per source, 600 requests a minute (burst 600) and 500 MB a day: a provider posting
///   100,000 domains' reports from two addresses in two hours needs ~420 a minute each, and
///   at a few KB per gzipped report well under 500 MB; one client cannot push more than
///   ~6 KB/s on average, against the 7 MB/s a single client got through before;
/// - per label, 60 requests an hour (burst 60) and 50 MB a day: one domain hears from a few
///   dozen reporters a day, each once (plus retries); 50 MB is five reports at the 10 MiB
///   size limit.
#[derive(Debug, Clone)]
pub struct ReceiverLimits {
    /// Largest request body (RFC 8460 reports are small; 10 MiB leaves room for big senders).
    pub max_body: usize,
    /// Largest report once decompressed.
    pub max_decompressed: usize,
    /// Time allowed for the whole body to arrive.
    pub body_timeout: Duration,
    /// Requests per minute from one source (an IPv4 address or IPv6 /64), also the burst.
    pub source_requests_per_minute: u32,
    /// Bytes per day from one source, as received.
    pub source_bytes_per_day: u64,
    /// Requests per hour to one label, also the burst.
    pub label_requests_per_hour: u32,
    /// Bytes per day to one label, as received.
    pub label_bytes_per_day: u64,
    /// Sources tracked at most. Idle ones are swept; a source only stays tracked while its
    /// quota has not refilled, which costs it traffic, so this is reached only under a
    /// flood from very many addresses — then requests are refused with 503 until a sweep
    /// frees room (failing closed: a refused report is retried or comes by mail, while
    /// forgetting counts would let the flood through to the database).
    pub max_tracked_sources: usize,
    /// Time allowed for the reverse and forward DNS lookups that check a report's origin.
    pub origin_timeout: Duration,
}

impl Default for ReceiverLimits {
    fn default() -> ReceiverLimits {
        ReceiverLimits {
            max_body: 10 * 1024 * 1024,
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
            body_timeout: Duration::from_secs(60),
            source_requests_per_minute: 600,
            source_bytes_per_day: 500 * 1000 * 1000,
            label_requests_per_hour: 60,
            label_bytes_per_day: 50 * 1000 * 1000,
            max_tracked_sources: 1_000_000,
            origin_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Over a limit; the request may be repeated after this long.
    Later {
        /// Whose limit: the source's or the label's.
        whose: Whose,
        /// When to retry.
        retry_after: Duration,
    },
    /// The body is larger than a whole day's quota: it will never be accepted.
    TooLarge(Whose),
    /// Too many sources are tracked to take another.
    Busy,
}

/// Whose limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Whose {
    /// The client's address (or /64).
    Source,
    /// The report address.
    Label,
}

/// The limiters, shared by every request of one receiver.
#[derive(Debug)]
pub(crate) struct Limiter {
    source_requests: DefaultKeyedRateLimiter<ClientKey>,
    source_bytes: DefaultKeyedRateLimiter<ClientKey>,
    label_requests: DefaultKeyedRateLimiter<String>,
    label_bytes: DefaultKeyedRateLimiter<String>,
    max_sources: usize,
    clock: DefaultClock,
    epoch: Instant,
    /// Milliseconds after `epoch` of the last sweep.
    last_sweep: AtomicU64,
}

fn nonzero(n: u64) -> NonZeroU32 {
    NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN)
}

/// `n` requests per `period`, all of them at once if they come so.
fn per(period: Duration, n: u32) -> Quota {
    let n = nonzero(u64::from(n));
    Quota::with_period(period / n.get())
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(n)
}

/// Units (KiB, rounded up) of `bytes`.
fn units(bytes: u64) -> NonZeroU32 {
    nonzero(bytes.div_ceil(UNIT))
}

impl Limiter {
    /// Limiters with `limits` (zero counts as one).
    pub(crate) fn new(limits: &ReceiverLimits) -> Limiter {
        let day = Duration::from_secs(86_400);
        let source_units = units(limits.source_bytes_per_day).get();
        let label_units = units(limits.label_bytes_per_day).get();
        Limiter {
            source_requests: RateLimiter::keyed(per(
                Duration::from_secs(60),
                limits.source_requests_per_minute,
            )),
            source_bytes: RateLimiter::keyed(per(day, source_units)),
            label_requests: RateLimiter::keyed(per(
                Duration::from_secs(3600),
                limits.label_requests_per_hour,
            )),
            label_bytes: RateLimiter::keyed(per(day, label_units)),
            max_sources: limits.max_tracked_sources.max(1),
            clock: DefaultClock::default(),
            epoch: Instant::now(),
            last_sweep: AtomicU64::new(0),
        }
    }

    fn later(
        &self,
        whose: Whose,
        not_until: &NotUntil<<DefaultClock as Clock>::Instant>,
    ) -> Refusal {
        // Rounded up to whole seconds, as `Retry-After` carries them.
        let wait = not_until.wait_time_from(self.clock.now());
        let retry_after = Duration::from_secs(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
        Refusal::Later {
            whose,
            retry_after: retry_after.max(Duration::from_secs(1)),
        }
    }

    /// Counts one request from `client`.
    pub(crate) fn source_request(&self, client: IpAddr) -> Result<(), Refusal> {
        self.sweep();
        if self.source_requests.len() >= self.max_sources
            || self.source_bytes.len() >= self.max_sources
        {
            return Err(Refusal::Busy);
        }
        self.source_requests
            .check_key(&ClientKey::of(client))
            .map_err(|n| self.later(Whose::Source, &n))
    }

    /// Counts one request to `label`.
    pub(crate) fn label_request(&self, label: &str) -> Result<(), Refusal> {
        self.label_requests
            .check_key(&label.to_owned())
            .map_err(|n| self.later(Whose::Label, &n))
    }

    /// Counts `bytes` received from `client` for `label`, against both daily quotas. (When
    /// the label's quota refuses, the source's has counted them all the same: they were
    /// sent.)
    pub(crate) fn bytes(&self, client: IpAddr, label: &str, bytes: u64) -> Result<(), Refusal> {
        let n = units(bytes);
        match self.source_bytes.check_key_n(&ClientKey::of(client), n) {
            Ok(Ok(())) => {}
            Ok(Err(not_until)) => return Err(self.later(Whose::Source, &not_until)),
            Err(_) => return Err(Refusal::TooLarge(Whose::Source)),
        }
        match self.label_bytes.check_key_n(&label.to_owned(), n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(self.later(Whose::Label, &not_until)),
            Err(_) => Err(Refusal::TooLarge(Whose::Label)),
        }
    }

    /// Drops keys whose quotas have refilled, when there are many, at most once a second.
    fn sweep(&self) {
        let large = [
            self.source_requests.len(),
            self.source_bytes.len(),
            self.label_requests.len(),
            self.label_bytes.len(),
        ]
        .into_iter()
        .any(|n| n >= SWEEP_ABOVE.min(self.max_sources));
        if !large {
            return;
        }
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) < 1000
            || self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.source_requests.retain_recent();
        self.source_bytes.retain_recent();
        self.label_requests.retain_recent();
        self.label_bytes.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn small() -> ReceiverLimits {
        ReceiverLimits {
            source_requests_per_minute: 3,
            source_bytes_per_day: 10 * 1024,
            label_requests_per_hour: 2,
            label_bytes_per_day: 4 * 1024,
            ..ReceiverLimits::default()
        }
    }

    #[test]
    fn sources_count_per_address_and_ipv6_per_64() {
        let l = Limiter::new(&small());
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        l.source_request(a).unwrap();
        l.source_request(b).unwrap();
        l.source_request(a).unwrap();
        let Err(Refusal::Later { whose, retry_after }) = l.source_request(b) else {
            panic!("the fourth request of one /64 passed");
        };
        assert_eq!(whose, Whose::Source);
        // 3 a minute: the next one in 20 s.
        assert!(retry_after <= Duration::from_secs(20), "{retry_after:?}");
        l.source_request(other).unwrap();
        l.source_request(IpAddr::from([192, 0, 2, 1])).unwrap();
    }

    #[test]
    fn labels_count_requests_and_bytes_of_every_source() {
        let l = Limiter::new(&small());
        l.label_request("k7q2m9x4c1").unwrap();
        l.label_request("k7q2m9x4c1").unwrap();
        assert!(matches!(
            l.label_request("k7q2m9x4c1"),
            Err(Refusal::Later {
                whose: Whose::Label,
                ..
            })
        ));
        l.label_request("zzzzzzzzzz").unwrap();
        // 4 KiB a day for the label, whoever sends.
        l.bytes(IpAddr::from([192, 0, 2, 1]), "k7q2m9x4c1", 3000)
            .unwrap();
        assert!(matches!(
            l.bytes(IpAddr::from([192, 0, 2, 2]), "k7q2m9x4c1", 3000),
            Err(Refusal::Later {
                whose: Whose::Label,
                ..
            })
        ));
        // More than a whole day's quota can never pass.
        assert_eq!(
            l.bytes(IpAddr::from([192, 0, 2, 3]), "yyyyyyyyyy", 5000),
            Err(Refusal::TooLarge(Whose::Label))
        );
    }

    #[test]
    fn tracked_sources_are_capped() {
        let l = Limiter::new(&ReceiverLimits {
            max_tracked_sources: 2,
            ..ReceiverLimits::default()
        });
        l.source_request(IpAddr::from([192, 0, 2, 1])).unwrap();
        l.source_request(IpAddr::from([192, 0, 2, 2])).unwrap();
        assert_eq!(
            l.source_request(IpAddr::from([192, 0, 2, 3])),
            Err(Refusal::Busy)
        );
    }
}
