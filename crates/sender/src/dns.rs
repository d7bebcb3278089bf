//! DNS lookups, through hickory-resolver: the verifier's checks and the sender's view use them.
//!
//! Every lookup asks for exactly one record type of one fully qualified name and reports
//! what the authoritative data says: records, "nothing there" (NXDOMAIN or NODATA, which
//! the checks treat alike) or a failure (SERVFAIL, timeout, transport), which a check turns
//! into the result `error` instead of judging the customer's records on a broken answer.
//! Caching is off so that a customer's fix is seen at the next check.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};

use crate::SenderError;

/// Retries after a failed try (hickory's `attempts`): three tries in all.
const RETRIES: u32 = 2;

/// A lookup that produced no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupFailure {
    /// What went wrong, in plain language.
    pub detail: String,
}

/// What an MX lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MxAnswer {
    /// The exchanges, normalized (lower case, no trailing dot), sorted and deduplicated.
    Hosts(Vec<String>),
    /// RFC 7505 null MX: the domain accepts no mail.
    NullMx,
    /// No MX records at all.
    NoMx,
}

/// A resolver with caching off. Cheap to clone: clones share one resolver and its connections.
#[derive(Clone, Debug)]
pub struct Dns {
    resolver: TokioResolver,
    timeout: Duration,
}

impl Dns {
    /// The system's resolvers when `servers` is empty, otherwise these `ip:port` servers
    /// (UDP, TCP for truncated answers). `timeout` bounds one lookup, retries included.
    pub fn new(servers: &[SocketAddr], timeout: Duration) -> Result<Dns, SenderError> {
        let resolver = resolver(servers, timeout)?;
        Ok(Dns { resolver, timeout })
    }

    /// The target of the CNAME record at `name` itself (not the chased answer), normalized.
    pub async fn cname(&self, name: &str) -> Result<Option<String>, LookupFailure> {
        let data = self.lookup(name, RecordType::CNAME).await?;
        Ok(data.iter().find_map(|rdata| match rdata {
            RData::CNAME(target) => Some(normalize(&target.0.to_ascii())),
            _ => None,
        }))
    }

    /// The TXT records at `name`, each with its character-strings joined.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, LookupFailure> {
        let data = self.lookup(name, RecordType::TXT).await?;
        Ok(data
            .iter()
            .filter_map(|rdata| match rdata {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect())
    }

    /// The A and AAAA addresses of `name` (a CNAME in front is followed by the resolver).
    pub async fn addresses(&self, name: &str) -> Result<Vec<IpAddr>, LookupFailure> {
        let mut found = Vec::new();
        for rtype in [RecordType::A, RecordType::AAAA] {
            for rdata in self.lookup(name, rtype).await? {
                match rdata {
                    RData::A(a) => found.push(IpAddr::V4(a.0)),
                    RData::AAAA(aaaa) => found.push(IpAddr::V6(aaaa.0)),
                    _ => {}
                }
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// The issuer domains of the CAA `issue` records at `name` exactly (a CNAME in front is
    /// followed by the resolver): `None` per record for the empty issuer (`;`), and
    /// `Ok(None)` when `name` has no CAA record with the `issue` tag at all.
    pub async fn caa_issuers(
        &self,
        name: &str,
    ) -> Result<Option<Vec<Option<String>>>, LookupFailure> {
        let data = self.lookup(name, RecordType::CAA).await?;
        let issuers: Vec<Option<String>> = data
            .iter()
            .filter_map(|rdata| match rdata {
                RData::CAA(caa) if caa.tag.eq_ignore_ascii_case("issue") => Some(
                    caa.value_as_issue()
                        .ok()
                        .and_then(|(name, _)| name)
                        .map(|n| normalize(&n.to_ascii())),
                ),
                _ => None,
            })
            .collect();
        Ok((!issuers.is_empty()).then_some(issuers))
    }

    /// The MX records of `name`.
    pub async fn mx(&self, name: &str) -> Result<MxAnswer, LookupFailure> {
        let data = self.lookup(name, RecordType::MX).await?;
        let mut hosts = Vec::new();
        let mut null_mx = false;
        for rdata in &data {
            let RData::MX(mx) = rdata else { continue };
            if mx.exchange.is_root() {
                null_mx = true;
            } else {
                hosts.push(normalize(&mx.exchange.to_ascii()));
            }
        }
        hosts.sort();
        hosts.dedup();
        Ok(if !hosts.is_empty() {
            MxAnswer::Hosts(hosts)
        } else if null_mx {
            MxAnswer::NullMx
        } else {
            MxAnswer::NoMx
        })
    }

    /// The record data of type `rtype` at `name`; empty for NXDOMAIN and NODATA.
    async fn lookup(&self, name: &str, rtype: RecordType) -> Result<Vec<RData>, LookupFailure> {
        // Fully qualified, so no search domain is ever appended.
        let fqdn = format!("{}.", normalize(name));
        let result = tokio::time::timeout(self.timeout, self.resolver.lookup(fqdn, rtype)).await;
        let failure = |detail: String| LookupFailure { detail };
        match result {
            Err(_) | Ok(Err(NetError::Timeout)) => Err(failure(format!(
                "no answer to the {rtype} query for {name} within {:?}",
                self.timeout
            ))),
            Ok(Ok(lookup)) => Ok(lookup
                .answers()
                .iter()
                .filter(|record| record.record_type() == rtype)
                .map(|record| record.data.clone())
                .collect()),
            Ok(Err(NetError::Dns(DnsError::NoRecordsFound(none))))
                if matches!(
                    none.response_code,
                    ResponseCode::NXDomain | ResponseCode::NoError
                ) =>
            {
                Ok(Vec::new())
            }
            Ok(Err(NetError::Dns(DnsError::NoRecordsFound(none)))) => Err(failure(format!(
                "the DNS answered {} to the {rtype} query for {name}",
                none.response_code
            ))),
            Ok(Err(NetError::Dns(DnsError::ResponseCode(code)))) => Err(failure(format!(
                "the DNS answered {code} to the {rtype} query for {name}"
            ))),
            Ok(Err(err)) => Err(failure(format!(
                "the {rtype} query for {name} failed: {err}"
            ))),
        }
    }
}

/// A resolver with caching off (every lookup sees the zone as it is now) asking the system's
/// resolvers when `servers` is empty, otherwise these `ip:port` servers (UDP, TCP for
/// truncated answers), each of its three tries given a third of `timeout`. Fails for a zero
/// timeout or an unreadable system configuration. The API's MX discovery builds on it too.
pub fn resolver(servers: &[SocketAddr], timeout: Duration) -> Result<TokioResolver, SenderError> {
    if timeout.is_zero() {
        return Err(SenderError::Dns(
            "the DNS timeout must be longer than zero".to_owned(),
        ));
    }
    let mut builder = if servers.is_empty() {
        TokioResolver::builder_tokio().map_err(|err| {
            SenderError::Dns(format!(
                "cannot read the system resolver configuration: {err}"
            ))
        })?
    } else {
        let name_servers = servers.iter().map(|&server| name_server(server)).collect();
        TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            TokioRuntimeProvider::default(),
        )
    };
    let options = builder.options_mut();
    options.timeout = timeout / (RETRIES + 1);
    options.attempts = RETRIES as usize;
    // Never longer than the TTL, and simplest: not at all. A fix must show at once.
    options.cache_size = 0;
    options.positive_max_ttl = Some(Duration::ZERO);
    options.negative_max_ttl = Some(Duration::ZERO);
    options.use_hosts_file = ResolveHosts::Never;
    builder
        .build()
        .map_err(|err| SenderError::Dns(format!("cannot build the DNS resolver: {err}")))
}

/// A DNS name for comparison: lower case, without the trailing dot.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A name server at `server`, asked over UDP with TCP for truncated answers.
fn name_server(server: SocketAddr) -> NameServerConfig {
    let mut udp = ConnectionConfig::udp();
    udp.port = server.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = server.port();
    NameServerConfig::new(server.ip(), true, vec![udp, tcp])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_ignores_case_and_trailing_dot() {
        assert_eq!(
            normalize("AbC.Policy.Example.NET."),
            "abc.policy.example.net"
        );
        assert_eq!(normalize("x.y"), "x.y");
    }

    #[test]
    fn zero_timeout_is_refused() {
        let server = SocketAddr::from(([127, 0, 0, 1], 53));
        assert!(matches!(
            Dns::new(&[server], Duration::ZERO),
            Err(SenderError::Dns(_))
        ));
    }
}
