//! Where an HTTPS report came from: forward-confirmed reverse DNS of the client address.
//!
//! A report POSTed over HTTPS proves nothing about its origin (RFC 8460 §4.3 asks for DKIM on
//! mail only). The one link between the report and its sender is the client address, so a
//! report counts as `verified_https` when the address's PTR names a host within the
//! organizational domain the report names (see `stsd_core::tlsrpt::reporter_domain`) and
//! that host's A (for IPv4) or AAAA (for IPv6) records hold the address again — the reverse
//! zone is the address owner's to write, the forward zone the domain owner's, so both
//! agreeing ties the address to the domain. Anything else — no PTR, a name elsewhere, a
//! forward lookup without the address, a DNS failure or timeout — leaves the report
//! `unverified_https`: it is stored and shown, and counted only where the tenant chose so.
//!
//! A DNS failure does not refuse the report: HTTPS reporters need not retry, and a report
//! left out of counts is better than a report lost. A signed mail copy still replaces it.
//!
//! Verification says who sent the report, not that the sender is honest: whoever owns an
//! address block and a domain can verify reports naming that domain, as whoever owns a domain
//! can DKIM-sign mail. Such reports show under their organization in the summaries.

use std::net::IpAddr;
use std::time::Duration;

use mail_auth::hickory_resolver::TokioResolver;
use mail_auth::hickory_resolver::proto::rr::{Name, RData};
use stsd_core::DomainName;
use stsd_core::tlsrpt::within;

/// PTR names of one address looked at, at most (an address rarely has more than one or two).
const MAX_PTR_NAMES: usize = 8;

/// The outcome of an origin check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginCheck {
    /// The client's forward-confirmed reverse DNS name lies within the report's domain.
    Verified {
        /// That name.
        host: String,
    },
    /// Nothing ties the client to the report's domain.
    Unverified(&'static str),
}

/// Checks the origin of HTTPS reports with a resolver (the same configuration as the DKIM
/// verifier's: [`crate::report_resolver`]).
#[derive(Clone)]
pub struct OriginVerifier {
    resolver: TokioResolver,
}

impl std::fmt::Debug for OriginVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginVerifier").finish_non_exhaustive()
    }
}

/// The address as the DNS knows it: an IPv4-mapped IPv6 address is its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

impl OriginVerifier {
    /// A verifier asking `resolver`.
    pub fn new(resolver: TokioResolver) -> OriginVerifier {
        OriginVerifier { resolver }
    }

    /// Whether `client` is a host within `domain` (the organizational domain the report
    /// names; `None` when it names none), by forward-confirmed reverse DNS, within
    /// `timeout`.
    pub async fn check(
        &self,
        client: IpAddr,
        domain: Option<&DomainName>,
        timeout: Duration,
    ) -> OriginCheck {
        let Some(domain) = domain else {
            return OriginCheck::Unverified("the report names no domain");
        };
        tokio::time::timeout(timeout, self.confirm(canonical(client), domain))
            .await
            .unwrap_or(OriginCheck::Unverified("the DNS lookups timed out"))
    }

    async fn confirm(&self, client: IpAddr, domain: &DomainName) -> OriginCheck {
        let Ok(ptr) = self.resolver.reverse_lookup(client).await else {
            return OriginCheck::Unverified("the address has no PTR record");
        };
        let names: Vec<Name> = ptr
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::PTR(p) => Some(p.0.clone()),
                _ => None,
            })
            .take(MAX_PTR_NAMES)
            .collect();
        let mut outside = true;
        for name in names {
            let host = name.to_ascii();
            if !within(&host, domain) {
                continue;
            }
            outside = false;
            if self.resolves_to(name, client).await {
                let host = host.trim_end_matches('.').to_ascii_lowercase();
                return OriginCheck::Verified { host };
            }
        }
        OriginCheck::Unverified(if outside {
            "the address's PTR names a host outside the report's domain"
        } else {
            "the PTR name does not resolve to the address"
        })
    }

    /// Whether `name`'s A or AAAA records (by the address's family) hold `client`.
    async fn resolves_to(&self, name: Name, client: IpAddr) -> bool {
        let found = match client {
            IpAddr::V4(_) => self.resolver.ipv4_lookup(name).await,
            IpAddr::V6(_) => self.resolver.ipv6_lookup(name).await,
        };
        found.is_ok_and(|l| {
            l.answers().iter().any(|r| match &r.data {
                RData::A(a) => IpAddr::V4(a.0) == client,
                RData::AAAA(a) => IpAddr::V6(a.0) == client,
                _ => false,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::net::{Ipv4Addr, Ipv6Addr};

    use stsd_testkit::FakeDns;

    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    async fn world() -> (FakeDns, OriginVerifier) {
        let dns = FakeDns::start().await.unwrap();
        let verifier = OriginVerifier::new(crate::report_resolver(&[dns.addr()]).unwrap());
        (dns, verifier)
    }

    #[tokio::test]
    async fn forward_confirmed_names_within_the_domain_verify() {
        let (dns, v) = world().await;
        let org: DomainName = "reporter.example".parse().unwrap();
        let v4 = IpAddr::from([198, 51, 100, 7]);
        dns.set_ptr(v4, &["out-1.mail.reporter.example"]);
        dns.set_a(
            "out-1.mail.reporter.example",
            &[Ipv4Addr::new(198, 51, 100, 7)],
        );
        assert_eq!(
            v.check(v4, Some(&org), WAIT).await,
            OriginCheck::Verified {
                host: "out-1.mail.reporter.example".to_owned()
            }
        );
        // The same address, mapped into IPv6 as a dual-stack socket shows it.
        let mapped = IpAddr::V6(Ipv4Addr::new(198, 51, 100, 7).to_ipv6_mapped());
        assert!(matches!(
            v.check(mapped, Some(&org), WAIT).await,
            OriginCheck::Verified { .. }
        ));
        let v6: IpAddr = "2001:db8:25::7".parse().unwrap();
        dns.set_ptr(v6, &["elsewhere.example.net", "out-6.reporter.example"]);
        dns.set_aaaa(
            "out-6.reporter.example",
            &["2001:db8:25::7".parse::<Ipv6Addr>().unwrap()],
        );
        assert!(matches!(
            v.check(v6, Some(&org), WAIT).await,
            OriginCheck::Verified { .. }
        ));
    }

    #[tokio::test]
    async fn anything_less_is_unverified() {
        // Each case on an address and names of its own: the resolver caches answers.
        let (dns, v) = world().await;
        let org: DomainName = "reporter.example".parse().unwrap();
        let ip = |n: u8| IpAddr::from([198, 51, 100, n]);
        assert_eq!(
            v.check(ip(8), None, WAIT).await,
            OriginCheck::Unverified("the report names no domain")
        );
        assert_eq!(
            v.check(ip(8), Some(&org), WAIT).await,
            OriginCheck::Unverified("the address has no PTR record")
        );
        // A PTR anyone could write for their own block, naming the victim's reporter, without
        // the forward record; then with one that holds another address.
        dns.set_ptr(ip(11), &["mail.reporter.example"]);
        assert_eq!(
            v.check(ip(11), Some(&org), WAIT).await,
            OriginCheck::Unverified("the PTR name does not resolve to the address")
        );
        dns.set_ptr(ip(12), &["mx.reporter.example"]);
        dns.set_a("mx.reporter.example", &[Ipv4Addr::new(198, 51, 100, 9)]);
        assert_eq!(
            v.check(ip(12), Some(&org), WAIT).await,
            OriginCheck::Unverified("the PTR name does not resolve to the address")
        );
        // A confirmed name, but of another domain than the report names.
        dns.set_ptr(ip(13), &["mail.attacker.example"]);
        dns.set_a("mail.attacker.example", &[Ipv4Addr::new(198, 51, 100, 13)]);
        assert_eq!(
            v.check(ip(13), Some(&org), WAIT).await,
            OriginCheck::Unverified("the address's PTR names a host outside the report's domain")
        );
        // A DNS failure is no verification either.
        let failing = IpAddr::from([198, 51, 100, 10]);
        dns.set_servfail(&Name::from(failing).to_ascii(), true);
        assert!(matches!(
            v.check(failing, Some(&org), WAIT).await,
            OriginCheck::Unverified(_)
        ));
        // Loopback: hickory answers `localhost.` itself (RFC 6761), never the zone.
        let loopback = IpAddr::from([127, 0, 0, 2]);
        dns.set_ptr(loopback, &["mail.reporter.example"]);
        assert!(matches!(
            v.check(loopback, Some(&org), WAIT).await,
            OriginCheck::Unverified(_)
        ));
    }
}
