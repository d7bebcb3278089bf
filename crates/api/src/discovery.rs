//! Discovery of a domain's mail exchangers through DNS, so the API can suggest (and the verifier
//! can check) the `mx:` lines of an MTA-STS policy.
//!
//! One [`Resolvers`] is built at start and cloned into whoever needs it; it queries either the
//! system's resolvers or explicit `ip:port` servers, with caching off so that every lookup sees
//! the zone as it is now.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, Record};
use serde::Serialize;
use stsd_core::{DomainName, DomainNameError};

/// Where to send DNS queries: the system's resolvers (empty list) or these `ip:port` servers.
///
/// Cheap to clone: clones share one resolver and its connections.
#[derive(Clone, Debug)]
pub struct Resolvers {
    resolver: TokioResolver,
    timeout: Duration,
}

impl Resolvers {
    /// Builds the resolver.
    ///
    /// `servers` empty means the system configuration (`/etc/resolv.conf`); otherwise each
    /// server is asked over UDP, and over TCP when an answer is truncated. `timeout` bounds a
    /// whole [`Resolvers::mx_hosts`] call, retries included: each of the three tries gets a
    /// third of it.
    ///
    /// Fails with [`DiscoveryError::Config`] if `timeout` is zero or the system configuration
    /// cannot be read.
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> Result<Resolvers, DiscoveryError> {
        let resolver = stsd_sender::dns::resolver(servers, timeout).map_err(|e| match e {
            stsd_sender::SenderError::Dns(message) => DiscoveryError::Config(message),
            other => DiscoveryError::Config(other.to_string()),
        })?;
        Ok(Resolvers { resolver, timeout })
    }

    /// Looks up the MX records of `domain`.
    ///
    /// Hosts are normalized (lower case A-labels, no trailing dot), sorted by preference then
    /// name, and listed once each at their lowest preference. Exchanges that are not valid host
    /// names are skipped; only if no valid host is left does that become an error. A lone null
    /// MX (RFC 7505, `0 .`) gives [`MxLookup::NullMx`]; NXDOMAIN and NODATA give
    /// [`MxLookup::NoMx`].
    pub async fn mx_hosts(&self, domain: &DomainName) -> Result<MxLookup, DiscoveryError> {
        // Fully qualified, so no search domain is ever appended.
        let fqdn = format!("{}.", domain.as_str());
        let result = tokio::time::timeout(self.timeout, self.resolver.mx_lookup(fqdn)).await;
        match result {
            Err(_) | Ok(Err(NetError::Timeout)) => Err(DiscoveryError::Timeout {
                domain: domain.clone(),
                timeout: self.timeout,
            }),
            Ok(Ok(lookup)) => classify(domain, lookup.answers()),
            Ok(Err(err)) => negative(domain, err),
        }
    }
}

/// What an MX lookup found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "hosts", rename_all = "snake_case")]
pub enum MxLookup {
    /// The domain's mail exchangers, sorted by preference then name.
    Hosts(Vec<MxHost>),
    /// The domain declares that it accepts no mail (RFC 7505 null MX, `0 .`).
    NullMx,
    /// The domain has no MX records (NXDOMAIN or NODATA).
    NoMx,
}

/// One mail exchanger of a domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MxHost {
    /// The MX preference; lower is tried first.
    pub preference: u16,
    /// The exchange, normalized by [`DomainName::parse_host`].
    #[schema(value_type = String)]
    pub host: DomainName,
}

/// Why MX discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// No answer arrived within the configured timeout: the resolvers are down or unreachable.
    #[error("DNS lookup of the MX records of `{domain}` timed out after {timeout:?}")]
    Timeout {
        /// The domain looked up.
        domain: DomainName,
        /// The configured timeout.
        timeout: Duration,
    },
    /// The DNS answered with an error code (SERVFAIL, REFUSED, ...) instead of an answer.
    #[error("DNS server failure looking up the MX records of `{domain}`: {rcode}")]
    ServerFailure {
        /// The domain looked up.
        domain: DomainName,
        /// The response code, as text.
        rcode: String,
    },
    /// The lookup failed below DNS: a refused connection, a malformed response and the like.
    #[error("DNS lookup of the MX records of `{domain}` failed: {cause}")]
    Transport {
        /// The domain looked up.
        domain: DomainName,
        /// The resolver's error.
        cause: NetError,
    },
    /// The resolver configuration is unusable (system configuration unreadable, zero timeout).
    #[error("bad resolver configuration: {0}")]
    Config(String),
    /// Every MX record of the domain names an exchange that is not a valid host name.
    #[error("the MX records of `{domain}` name no valid host; for example `{exchange}`: {reason}")]
    InvalidExchange {
        /// The domain looked up.
        domain: DomainName,
        /// One offending exchange, as found in DNS.
        exchange: String,
        /// Why it is not a valid host name.
        reason: DomainNameError,
    },
}

/// Turns the answer records of a successful lookup into an [`MxLookup`].
fn classify(domain: &DomainName, answers: &[Record]) -> Result<MxLookup, DiscoveryError> {
    let mut hosts = Vec::new();
    let mut null_mx = false;
    let mut invalid = None;
    // Answers may also hold the CNAMEs that led to the MX records.
    for record in answers {
        let RData::MX(mx) = &record.data else {
            continue;
        };
        if mx.exchange.is_root() {
            null_mx = true;
            continue;
        }
        let exchange = mx.exchange.to_ascii();
        match DomainName::parse_host(&exchange) {
            Ok(host) => hosts.push(MxHost {
                preference: mx.preference,
                host,
            }),
            Err(reason) => {
                invalid.get_or_insert((exchange, reason));
            }
        }
    }

    if !hosts.is_empty() {
        hosts.sort_by(|a, b| (a.preference, &a.host).cmp(&(b.preference, &b.host)));
        let mut seen = HashSet::new();
        hosts.retain(|mx| seen.insert(mx.host.clone()));
        return Ok(MxLookup::Hosts(hosts));
    }
    if null_mx {
        return Ok(MxLookup::NullMx);
    }
    match invalid {
        Some((exchange, reason)) => Err(DiscoveryError::InvalidExchange {
            domain: domain.clone(),
            exchange,
            reason,
        }),
        None => Ok(MxLookup::NoMx),
    }
}

/// Maps a failed lookup: "no records" is an answer, the rest are errors.
fn negative(domain: &DomainName, err: NetError) -> Result<MxLookup, DiscoveryError> {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(no_records))
            if matches!(
                no_records.response_code,
                ResponseCode::NXDomain | ResponseCode::NoError
            ) =>
        {
            Ok(MxLookup::NoMx)
        }
        NetError::Dns(DnsError::NoRecordsFound(no_records)) => Err(DiscoveryError::ServerFailure {
            domain: domain.clone(),
            rcode: no_records.response_code.to_string(),
        }),
        NetError::Dns(DnsError::ResponseCode(code)) => Err(DiscoveryError::ServerFailure {
            domain: domain.clone(),
            rcode: code.to_string(),
        }),
        cause => Err(DiscoveryError::Transport {
            domain: domain.clone(),
            cause,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Instant;

    use stsd_testkit::FakeDns;

    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(3);

    fn domain(name: &str) -> DomainName {
        name.parse().unwrap()
    }

    fn host(preference: u16, name: &str) -> MxHost {
        MxHost {
            preference,
            host: DomainName::parse_host(name).unwrap(),
        }
    }

    async fn lookup(dns: &FakeDns, name: &str) -> Result<MxLookup, DiscoveryError> {
        let resolvers = Resolvers::new(&[dns.addr()], TIMEOUT).unwrap();
        resolvers.mx_hosts(&domain(name)).await
    }

    #[tokio::test]
    async fn hosts_are_normalized_sorted_and_deduplicated() {
        let dns = FakeDns::start().await.unwrap();
        dns.set_mx(
            "example.com",
            &[
                (20, "MX2.Example.NET."),
                (10, "mx1.example.net"),
                (10, "mx1.example.net."),
                (30, "MX1.example.net"),
                (10, "a.example.net"),
                (5, "mx0.example.net"),
            ],
        );
        let found = lookup(&dns, "Example.com").await.unwrap();
        assert_eq!(
            found,
            MxLookup::Hosts(vec![
                host(5, "mx0.example.net"),
                host(10, "a.example.net"),
                host(10, "mx1.example.net"),
                host(20, "mx2.example.net"),
            ])
        );
        let json = serde_json::to_value(&found).unwrap();
        assert_eq!(json["kind"], "hosts");
        assert_eq!(json["hosts"][0]["host"], "mx0.example.net");
        assert_eq!(json["hosts"][0]["preference"], 5);
    }

    #[tokio::test]
    async fn follows_a_cname_to_the_mx_records() {
        let dns = FakeDns::start().await.unwrap();
        dns.set_cname("example.com", "mail-zone.example.net");
        dns.set_mx("mail-zone.example.net", &[(10, "mx.example.net")]);
        let found = lookup(&dns, "example.com").await.unwrap();
        assert_eq!(found, MxLookup::Hosts(vec![host(10, "mx.example.net")]));
    }

    #[tokio::test]
    async fn null_mx() {
        let dns = FakeDns::start().await.unwrap();
        dns.set_mx("example.com", &[(0, ".")]);
        let found = lookup(&dns, "example.com").await.unwrap();
        assert_eq!(found, MxLookup::NullMx);
        assert_eq!(
            serde_json::to_value(&found).unwrap(),
            serde_json::json!({ "kind": "null_mx" })
        );
    }

    #[tokio::test]
    async fn nxdomain_and_nodata_are_no_mx() {
        let dns = FakeDns::start().await.unwrap();
        dns.set_a("example.com", &[Ipv4Addr::new(192, 0, 2, 1)]);
        assert_eq!(lookup(&dns, "example.com").await.unwrap(), MxLookup::NoMx);
        assert_eq!(
            lookup(&dns, "missing.example.com").await.unwrap(),
            MxLookup::NoMx
        );
        assert_eq!(lookup(&dns, "example.org").await.unwrap(), MxLookup::NoMx);
    }

    #[tokio::test]
    async fn servfail_is_a_server_failure() {
        let dns = FakeDns::start().await.unwrap();
        dns.set_mx("example.com", &[(10, "mx.example.com")]);
        dns.set_servfail("example.com", true);
        let err = lookup(&dns, "example.com").await.unwrap_err();
        assert!(
            matches!(&err, DiscoveryError::ServerFailure { domain, .. } if domain.as_str() == "example.com"),
            "{err:?}"
        );
        assert!(dns.queries() >= 1);
    }

    #[tokio::test]
    async fn invalid_exchanges_are_skipped() {
        let dns = FakeDns::start().await.unwrap();
        dns.set_mx(
            "example.com",
            &[
                (10, "localhost"),
                (20, "mx.example.net"),
                (30, "192.0.2.1"),
                (40, "under_score.example.net"),
            ],
        );
        let found = lookup(&dns, "example.com").await.unwrap();
        assert_eq!(found, MxLookup::Hosts(vec![host(20, "mx.example.net")]));

        dns.set_mx("example.com", &[(10, "localhost"), (30, "192.0.2.1")]);
        let err = lookup(&dns, "example.com").await.unwrap_err();
        assert!(
            matches!(&err, DiscoveryError::InvalidExchange { exchange, .. } if exchange == "localhost."),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn unreachable_server_times_out_within_the_timeout() {
        // Bound, so nothing else gets the port, but never read: queries vanish.
        let silent = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let timeout = Duration::from_millis(600);
        let resolvers = Resolvers::new(&[silent.local_addr().unwrap()], timeout).unwrap();
        let started = Instant::now();
        let err = resolvers
            .mx_hosts(&domain("example.com"))
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(matches!(err, DiscoveryError::Timeout { .. }), "{err:?}");
        assert!(
            elapsed < timeout + Duration::from_millis(500),
            "{elapsed:?}"
        );
    }

    #[test]
    fn zero_timeout_is_a_configuration_error() {
        let server = SocketAddr::from((Ipv4Addr::LOCALHOST, 53));
        let err = Resolvers::new(&[server], Duration::ZERO).unwrap_err();
        assert!(matches!(err, DiscoveryError::Config(_)), "{err:?}");
    }
}
