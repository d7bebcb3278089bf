//! Response rate limiting (RRL) for DNS over UDP.
//!
//! A UDP query's source address can be forged, so an authoritative server that answers
//! whatever arrives is a reflector: an attacker sends small queries "from" a victim and the
//! server sends the victim its larger answers. RRL, as BIND (`rate-limit { responses-per-second;
//! slip; }`) and Knot (`mod-rrl`: `rate-limit`, `slip`, `table-size`) implement it, bounds how
//! many *identical* responses one network gets per second:
//!
//! - The client is its network, not its address: IPv4 /24 and IPv6 /56 (BIND's
//!   `ipv4-prefix-length`/`ipv6-prefix-length` defaults, Knot's fixed masks), because an
//!   attacker can spread a forged flood over a victim's neighbours as easily as over one host.
//! - Responses are classified as Knot and BIND do: a positive answer counts per name and type;
//!   NODATA per name, whatever the type (the empty answer is the same); every NXDOMAIN of the
//!   zone together (random names must not each get their own budget); every error (REFUSED,
//!   FORMERR, …) together, whatever the name. In-zone names all end in the zone, so keying on
//!   the full name is keying on its zone-relative owner.
//! - Each (network, class, name) key draws from a token bucket: `rate` tokens a second, at most
//!   `burst` saved. Over the limit, every `slip`-th response is sent truncated (TC=1, question
//!   only, no records) so that a real resolver behind that network retries over TCP and is
//!   answered; the others are dropped. A truncated answer is no bigger than the query, so a
//!   forged flood gets no amplification and at most the limit in full answers. TCP is never
//!   limited: its handshake proves the address, and it is the way back in.
//! - Memory is one array of buckets fixed at start and indexed by a keyed hash of the key, as
//!   Knot's table: nothing grows with what an attacker sends. The hash is SipHash with random
//!   keys (Knot seeds its SipHash at start too), so no one can aim keys at a chosen bucket. A
//!   bucket remembers the hash of its key; a different key that lands on it takes it over only
//!   once it is idle (full again), and otherwise shares it — a collision can make a client
//!   slip (to TCP) but can never reset a flooded victim's budget. Knot guards the same way,
//!   more loosely: a colliding key resets a bucket once, then shares it for that second.
//!
//! The limiter is owned by the UDP loop (one task per socket), so it takes no lock, and a
//! check allocates nothing: one hash, one array slot, a few integer operations.

use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::time::Instant;

use super::zone::{Answer, Rcode};

/// Response rate limiting of DNS over UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RrlConfig {
    /// Whether UDP responses are rate limited at all.
    pub enabled: bool,
    /// Identical responses per second to one network (IPv4 /24, IPv6 /56); at least 1.
    pub rate: u32,
    /// Identical responses a network that was quiet may get at once, above which `rate`
    /// applies; at least 1.
    pub burst: u32,
    /// Of the responses over the limit, every `slip`-th is sent truncated (TC=1) and the others
    /// are dropped; 1 truncates them all, 0 drops them all.
    pub slip: u32,
    /// Buckets in the table, rounded up to a power of two and capped at 4,194,304 (24 bytes
    /// each): the memory RRL uses, whatever arrives.
    pub table_size: usize,
}

impl Default for RrlConfig {
    fn default() -> RrlConfig {
        RrlConfig {
            enabled: true,
            // The figure the security issue asks for, within the examples BIND's and Knot's
            // documentation give (5 to 200). A resolver asks a name once per TTL (300 s here),
            // so 20 identical answers a second to one network is far above any honest need.
            rate: 20,
            // One second's worth, like BIND's credit (its balance never exceeds the rate).
            burst: 20,
            // BIND's default: half of the limited responses truncated, half dropped, so both
            // the packets and the bytes sent stay below what arrives (Knot's documentation).
            slip: 2,
            // 1.5 MiB. Knot's guidance is 1.4 × the most queries a second the server answers
            // ÷ the rate: ~6,000 for stsd's ~85k a second on one core. Ten times that keeps
            // collisions between honest clients rare.
            table_size: 65_536,
        }
    }
}

/// Largest table: 4 Mi buckets of 24 bytes.
const MAX_TABLE: usize = 1 << 22;
/// A token, in the thousandths the buckets count in: a bucket gains `rate` of them each
/// millisecond, so refills are exact whatever the rate.
const TOKEN: u64 = 1000;

/// What a response is, for telling identical responses apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind<'a> {
    /// Records of this type at this name.
    Positive {
        /// The question's name, lower case.
        name: &'a str,
        /// The question's type.
        qtype: u16,
    },
    /// The name exists without the type: the same answer whatever the type.
    NoData {
        /// The question's name, lower case.
        name: &'a str,
    },
    /// The name does not exist: one kind for the whole zone.
    NxDomain,
    /// REFUSED, FORMERR and the other errors: one kind whatever was asked.
    Error,
}

impl<'a> Kind<'a> {
    /// Classifies the answer to a query for `qtype` at `name`; `refused` when the protocol
    /// refused the query before the zone saw it.
    pub(super) fn of(answer: &Answer, refused: bool, name: &'a str, qtype: u16) -> Kind<'a> {
        if refused {
            return Kind::Error;
        }
        match answer.rcode {
            Rcode::Refused => Kind::Error,
            Rcode::NxDomain => Kind::NxDomain,
            Rcode::NoError if answer.answers.is_empty() => Kind::NoData { name },
            Rcode::NoError => Kind::Positive { name, qtype },
        }
    }
}

/// The network a client address counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Prefix {
    /// The /24 of an IPv4 address, or of an IPv4-mapped IPv6 address.
    V4(u32),
    /// The /56 of an IPv6 address: its top 56 bits.
    V6(u64),
}

impl Prefix {
    /// The network of `ip`.
    pub(super) fn of(ip: IpAddr) -> Prefix {
        // A dual-stack socket sees IPv4 clients as ::ffff:a.b.c.d; they are IPv4 networks.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => Prefix::V4(u32::from(v4) & 0xFFFF_FF00),
            // 128 - 72 = 56 bits, which fit a u64.
            IpAddr::V6(v6) => Prefix::V6((u128::from(v6) >> 72) as u64),
        }
    }
}

/// What to do with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Send it in full.
    Send,
    /// Send it truncated: TC=1, the question, no records.
    Slip,
    /// Send nothing.
    Drop,
}

/// One slot of the table.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// The hash of the key that owns the slot.
    key: u64,
    /// When the credit was last brought up to date, in milliseconds since the table's start.
    stamp_ms: u64,
    /// Tokens left, in thousandths.
    credit: u32,
    /// Responses over the limit so far, modulo `slip`: the slip-th one is truncated.
    over: u32,
}

/// The rate limiter of one UDP socket; `S` hashes the keys (random keys outside tests).
#[derive(Debug)]
pub(crate) struct Limiter<S = RandomState> {
    enabled: bool,
    /// Thousandths of a token gained per millisecond: the rate per second.
    rate: u64,
    /// The bucket's capacity, in thousandths.
    capacity: u32,
    slip: u32,
    buckets: Vec<Bucket>,
    hasher: S,
    epoch: Instant,
}

impl Limiter {
    /// A limiter for `config`; allocates its whole table now (nothing when disabled).
    pub(crate) fn new(config: &RrlConfig) -> Limiter {
        Limiter::with_hasher(config, RandomState::new())
    }
}

impl<S: BuildHasher> Limiter<S> {
    /// Like [`Limiter::new`], hashing with `hasher`.
    fn with_hasher(config: &RrlConfig, hasher: S) -> Limiter<S> {
        let rate = config.rate.max(1);
        // At least one token, so that a quiet network is always answered once.
        let capacity = u64::from(config.burst.max(1)) * TOKEN;
        let capacity = u32::try_from(capacity).unwrap_or(u32::MAX / 1000 * 1000);
        let size = if config.enabled {
            config.table_size.clamp(1, MAX_TABLE).next_power_of_two()
        } else {
            0
        };
        let empty = Bucket {
            key: 0,
            stamp_ms: 0,
            // Full: an unused slot is idle, so the first key to come takes it over.
            credit: capacity,
            over: 0,
        };
        Limiter {
            enabled: config.enabled,
            rate: u64::from(rate),
            capacity,
            slip: config.slip,
            buckets: vec![empty; size],
            hasher,
            epoch: Instant::now(),
        }
    }

    /// Counts one response of `kind` to `client` at `now`, and says whether to send it.
    pub(super) fn check(&mut self, client: IpAddr, kind: Kind<'_>, now: Instant) -> Verdict {
        if !self.enabled {
            return Verdict::Send;
        }
        let key = self.key(client, kind);
        let now_ms = u64::try_from(now.saturating_duration_since(self.epoch).as_millis())
            .unwrap_or(u64::MAX);
        let slot = self.slot(key);
        let Some(bucket) = self.buckets.get_mut(slot) else {
            return Verdict::Send;
        };
        let gained = now_ms
            .saturating_sub(bucket.stamp_ms)
            .saturating_mul(self.rate);
        let credit = u64::from(bucket.credit).saturating_add(gained);
        bucket.credit = u32::try_from(credit.min(u64::from(self.capacity))).unwrap_or(u32::MAX);
        bucket.stamp_ms = bucket.stamp_ms.max(now_ms);
        if bucket.key != key && bucket.credit == self.capacity {
            // An idle slot holds nothing worth keeping. A busy one is shared instead, so that
            // a stream of colliding keys cannot keep resetting a flooded network's budget.
            bucket.key = key;
            bucket.over = 0;
        }
        if u64::from(bucket.credit) >= TOKEN {
            bucket.credit -= TOKEN as u32;
            return Verdict::Send;
        }
        if self.slip == 0 {
            return Verdict::Drop;
        }
        // The first response over the limit slips, then every slip-th: a resolver behind a
        // forged flood learns at once that it should ask over TCP.
        let slips = bucket.over == 0;
        bucket.over = (bucket.over + 1) % self.slip;
        if slips { Verdict::Slip } else { Verdict::Drop }
    }

    /// The hash of a response's key: its client's network and its kind.
    fn key(&self, client: IpAddr, kind: Kind<'_>) -> u64 {
        self.hasher.hash_one((Prefix::of(client), kind))
    }

    /// The slot of a key: the table's length is a power of two, and the low bits of a SipHash
    /// are as good as any.
    fn slot(&self, key: u64) -> usize {
        (key as usize) & self.buckets.len().wrapping_sub(1)
    }

    /// Slots in the table.
    #[cfg(test)]
    fn slots(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;
    use std::hash::BuildHasherDefault;
    use std::time::Duration;

    use super::*;

    /// SipHash with fixed keys: the same slots every run, so that two keys a test expects to
    /// count apart are checked to sit apart (see `apart`) rather than collide by chance.
    type Fixed = BuildHasherDefault<DefaultHasher>;

    const NAME: Kind<'static> = Kind::Positive {
        name: "abc.policy.sts.example.net",
        qtype: 16,
    };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limiter(rate: u32, burst: u32, slip: u32) -> Limiter<Fixed> {
        Limiter::with_hasher(
            &RrlConfig {
                enabled: true,
                rate,
                burst,
                slip,
                table_size: 1024,
            },
            Fixed::default(),
        )
    }

    /// Asserts that these keys have slots of their own, so that what a test sees is the
    /// counting and not a collision.
    fn apart(l: &Limiter<Fixed>, keys: &[(&str, Kind<'_>)]) {
        let mut slots: Vec<usize> = keys.iter().map(|&(c, k)| l.slot(l.key(ip(c), k))).collect();
        slots.sort_unstable();
        slots.dedup();
        assert_eq!(slots.len(), keys.len(), "keys collide in the test table");
    }

    /// Verdicts of `n` responses of `kind` to `client`, all at `at`.
    fn run<S: BuildHasher>(
        l: &mut Limiter<S>,
        client: &str,
        kind: Kind<'_>,
        at: Instant,
        n: usize,
    ) -> Vec<Verdict> {
        (0..n).map(|_| l.check(ip(client), kind, at)).collect()
    }

    fn sent(v: &[Verdict]) -> usize {
        v.iter().filter(|&&v| v == Verdict::Send).count()
    }

    #[test]
    fn burst_then_rate() {
        let mut l = limiter(10, 10, 2);
        let t0 = Instant::now();
        let v = run(&mut l, "192.0.2.1", NAME, t0, 15);
        assert_eq!(sent(&v), 10);
        assert!(v[..10].iter().all(|&v| v == Verdict::Send));
        // 10 a second is one token every 100 ms, not before.
        assert_eq!(
            l.check(ip("192.0.2.1"), NAME, t0 + Duration::from_millis(99)),
            Verdict::Drop
        );
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(l.check(ip("192.0.2.1"), NAME, t1), Verdict::Send);
        assert_ne!(l.check(ip("192.0.2.1"), NAME, t1), Verdict::Send);
        // 350 ms later: 3.5 tokens, so 3 answers.
        let t2 = t1 + Duration::from_millis(350);
        assert_eq!(sent(&run(&mut l, "192.0.2.1", NAME, t2, 10)), 3);
        // The half token is kept: 50 ms more make a whole one.
        let t3 = t2 + Duration::from_millis(50);
        assert_eq!(sent(&run(&mut l, "192.0.2.1", NAME, t3, 10)), 1);
        // A long pause refills up to the burst, no more.
        let t4 = t3 + Duration::from_secs(60);
        assert_eq!(sent(&run(&mut l, "192.0.2.1", NAME, t4, 100)), 10);
    }

    #[test]
    fn a_steady_flood_gets_the_rate() {
        let mut l = limiter(20, 20, 2);
        let t0 = Instant::now();
        // 1,000 queries a second for 5 s: the burst plus 20 a second.
        let sent: usize = (0..5_000)
            .map(|ms| l.check(ip("198.51.100.9"), NAME, t0 + Duration::from_millis(ms)))
            .filter(|&v| v == Verdict::Send)
            .count();
        assert!((20 + 99..=20 + 100).contains(&sent), "{sent}");
    }

    #[test]
    fn every_slip_th_limited_response_is_truncated() {
        let t0 = Instant::now();
        let over = |slip| {
            let mut l = limiter(5, 5, slip);
            let v = run(&mut l, "192.0.2.1", NAME, t0, 5 + 9);
            assert_eq!(sent(&v), 5);
            v[5..].to_vec()
        };
        use Verdict::{Drop as D, Slip as S};
        assert_eq!(over(2), [S, D, S, D, S, D, S, D, S]);
        assert_eq!(over(3), [S, D, D, S, D, D, S, D, D]);
        assert_eq!(over(1), [S; 9]);
        assert_eq!(over(0), [D; 9]);
    }

    #[test]
    fn networks_are_v4_slash_24_and_v6_slash_56() {
        assert_eq!(Prefix::of(ip("192.0.2.1")), Prefix::of(ip("192.0.2.254")));
        assert_ne!(Prefix::of(ip("192.0.2.1")), Prefix::of(ip("192.0.3.1")));
        assert_eq!(Prefix::of(ip("192.0.2.1")), Prefix::V4(0xC000_0200));
        assert_eq!(
            Prefix::of(ip("::ffff:192.0.2.77")),
            Prefix::of(ip("192.0.2.1"))
        );
        assert_eq!(
            Prefix::of(ip("2001:db8:0:100::1")),
            Prefix::of(ip("2001:db8:0:1ff:ffff:ffff:ffff:ffff"))
        );
        assert_eq!(
            Prefix::of(ip("2001:db8:0:1ab::")),
            Prefix::V6(u64::from_be_bytes([0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0x01]))
        );
        assert_ne!(
            Prefix::of(ip("2001:db8:0:100::1")),
            Prefix::of(ip("2001:db8:0:200::1"))
        );
        // An IPv4 network and the IPv6 one with the same bits are different networks.
        assert_ne!(Prefix::of(ip("0.0.1.0")), Prefix::of(ip("::1")));

        // The limiter counts networks: a neighbour shares the budget, the next /24 does not.
        let mut l = limiter(20, 20, 2);
        apart(
            &l,
            &[
                ("192.0.2.1", NAME),
                ("192.0.3.1", NAME),
                ("2001:db8:0:100::1", NAME),
                ("2001:db8:0:200::1", NAME),
            ],
        );
        let t0 = Instant::now();
        assert_eq!(sent(&run(&mut l, "192.0.2.1", NAME, t0, 10)), 10);
        assert_eq!(sent(&run(&mut l, "192.0.2.200", NAME, t0, 20)), 10);
        assert_eq!(sent(&run(&mut l, "192.0.3.1", NAME, t0, 20)), 20);
        assert_eq!(sent(&run(&mut l, "2001:db8:0:100::1", NAME, t0, 15)), 15);
        assert_eq!(sent(&run(&mut l, "2001:db8:0:1ff::2", NAME, t0, 15)), 5);
        assert_eq!(sent(&run(&mut l, "2001:db8:0:200::1", NAME, t0, 15)), 15);
    }

    #[test]
    fn identical_responses_are_counted_together() {
        let t0 = Instant::now();
        let budget = |a: Kind<'_>, b: Kind<'_>| {
            let mut l = limiter(5, 5, 2);
            if a != b {
                apart(&l, &[("192.0.2.1", a), ("192.0.2.1", b)]);
            }
            sent(&run(&mut l, "192.0.2.1", a, t0, 5)) + sent(&run(&mut l, "192.0.2.1", b, t0, 5))
        };
        let pos = |name, qtype| Kind::Positive { name, qtype };
        // A name's answers per type, and other names, have budgets of their own.
        assert_eq!(
            budget(pos("a.sts.example", 1), pos("a.sts.example", 28)),
            10
        );
        assert_eq!(budget(pos("a.sts.example", 1), pos("b.sts.example", 1)), 10);
        // NODATA is one answer per name whatever the type was.
        assert_eq!(
            budget(
                Kind::NoData {
                    name: "a.sts.example"
                },
                Kind::NoData {
                    name: "a.sts.example"
                }
            ),
            5
        );
        assert_eq!(
            budget(
                Kind::NoData {
                    name: "a.sts.example"
                },
                Kind::NoData {
                    name: "b.sts.example"
                }
            ),
            10
        );
        // Every NXDOMAIN (random names) and every error share one budget each.
        assert_eq!(budget(Kind::NxDomain, Kind::NxDomain), 5);
        assert_eq!(budget(Kind::Error, Kind::Error), 5);
        assert_eq!(budget(Kind::NxDomain, Kind::Error), 10);
    }

    #[test]
    fn answers_are_classified_like_bind_and_knot() {
        use crate::dns::zone::{Data, Owner, Rr};
        let answer = |rcode, records: usize| Answer {
            rcode,
            authoritative: true,
            answers: vec![
                Rr {
                    owner: Owner::Question,
                    ttl: 1,
                    data: Data::Ns(0),
                };
                records
            ],
            authority: Vec::new(),
        };
        let n = "x.sts.example";
        assert_eq!(
            Kind::of(&answer(Rcode::NoError, 1), false, n, 2),
            Kind::Positive { name: n, qtype: 2 }
        );
        assert_eq!(
            Kind::of(&answer(Rcode::NoError, 0), false, n, 2),
            Kind::NoData { name: n }
        );
        assert_eq!(
            Kind::of(&answer(Rcode::NxDomain, 0), false, n, 2),
            Kind::NxDomain
        );
        assert_eq!(
            Kind::of(&answer(Rcode::Refused, 0), false, n, 2),
            Kind::Error
        );
        assert_eq!(
            Kind::of(&answer(Rcode::NoError, 1), true, n, 2),
            Kind::Error
        );
    }

    #[test]
    fn the_table_is_bounded() {
        let sized = |table_size| {
            Limiter::new(&RrlConfig {
                table_size,
                ..RrlConfig::default()
            })
            .slots()
        };
        assert_eq!(sized(65_536), 65_536);
        assert_eq!(sized(1000), 1024);
        assert_eq!(sized(0), 1);
        assert_eq!(sized(usize::MAX), MAX_TABLE);
        let off = Limiter::new(&RrlConfig {
            enabled: false,
            ..RrlConfig::default()
        });
        assert_eq!(off.slots(), 0);

        // A million forged networks later the table is as large as it was.
        let mut l = limiter(20, 20, 2);
        let t0 = Instant::now();
        for i in 0..1_000_000u32 {
            l.check(IpAddr::V4((i << 8).into()), NAME, t0);
        }
        assert_eq!(l.slots(), 1024);
    }

    #[test]
    fn a_collision_shares_a_busy_bucket_and_takes_an_idle_one() {
        // One slot: every key collides.
        let mut l = Limiter::with_hasher(
            &RrlConfig {
                enabled: true,
                rate: 10,
                burst: 10,
                slip: 2,
                table_size: 1,
            },
            Fixed::default(),
        );
        let t0 = Instant::now();
        // The flooded network empties the bucket...
        assert_eq!(sent(&run(&mut l, "192.0.2.1", NAME, t0, 50)), 10);
        // ...and another key landing on it does not reset it: it is limited too (and slips,
        // so a real resolver there moves to TCP).
        let other = run(&mut l, "203.0.113.1", NAME, t0, 2);
        assert_eq!(other, [Verdict::Slip, Verdict::Drop]);
        // Once idle (full again), the slot goes to whoever comes next.
        let later = t0 + Duration::from_secs(2);
        assert_eq!(sent(&run(&mut l, "203.0.113.1", NAME, later, 10)), 10);
    }

    #[test]
    fn disabled_sends_everything() {
        let mut l = Limiter::new(&RrlConfig {
            enabled: false,
            ..RrlConfig::default()
        });
        let v = run(&mut l, "192.0.2.1", Kind::NxDomain, Instant::now(), 1000);
        assert_eq!(sent(&v), 1000);
    }
}
