//! MX STARTTLS: every MX host of `<d>` offers STARTTLS with a certificate valid for its own
//! name — what senders enforcing the policy will require (RFC 8461 §4.2).

use std::net::IpAddr;
use std::sync::Arc;

use tokio::task::JoinSet;

use super::Subject;
use crate::dns::{Dns, MxAnswer};
use crate::smtp_probe::{HostOutcome, MxProbe, probe};
use stsd_core::{CheckName, CheckResult, HostCheck, HostStatus, Outcome};

const NAME: CheckName = CheckName::MxStarttls;
/// More MX hosts than this are not probed (the rest is named in the explanation).
const MAX_HOSTS: usize = 10;

/// What one MX host came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostVerdict {
    /// Secure on the first address that answered.
    Secure(String),
    /// The host has no address.
    NoAddress,
    /// A definite problem a sender would refuse: which, and what was found.
    Insecure(HostStatus, String),
    /// Nothing could be concluded (unreachable from here).
    Unknown(String),
}

pub(super) async fn check(dns: &Dns, probe_config: &MxProbe, s: &Subject<'_>) -> CheckResult {
    let record = s.domain;
    let hosts = match dns.mx(record).await {
        Ok(MxAnswer::Hosts(hosts)) => hosts,
        Ok(MxAnswer::NullMx | MxAnswer::NoMx) => {
            return CheckResult::new(
                NAME,
                record,
                Outcome::Warn,
                format!("{record} has no MX hosts to probe (see the MX coverage check)."),
                None,
            );
        }
        Err(failure) => return CheckResult::lookup_error(NAME, record, &failure.detail),
    };
    let probe_config = Arc::new(probe_config.clone());
    let mut set = JoinSet::new();
    for (i, host) in hosts.iter().take(MAX_HOSTS).enumerate() {
        let addresses = dns.addresses(host).await;
        let (host, probe_config) = (host.clone(), probe_config.clone());
        set.spawn(async move {
            let verdict = match addresses {
                Ok(ips) if ips.is_empty() => HostVerdict::NoAddress,
                Ok(ips) => probe_host(&probe_config, &host, &ips).await,
                Err(failure) => HostVerdict::Unknown(failure.detail),
            };
            (i, host, verdict)
        });
    }
    let mut verdicts = Vec::new();
    while let Some(joined) = set.join_next().await {
        if let Ok(v) = joined {
            verdicts.push(v);
        }
    }
    verdicts.sort_by_key(|(i, _, _)| *i);
    let verdicts: Vec<(String, HostVerdict)> =
        verdicts.into_iter().map(|(_, h, v)| (h, v)).collect();
    judge(record, &verdicts, hosts.len().saturating_sub(MAX_HOSTS))
}

/// Tries the host's addresses in order until one gives a definite answer. A host with any
/// address that is not public fails before anything is connected to: senders on the
/// internet cannot use that address, and probing it would scan the operator's network.
async fn probe_host(probe_config: &MxProbe, host: &str, ips: &[IpAddr]) -> HostVerdict {
    if let Some(verdict) = not_public(probe_config, host, ips) {
        return verdict;
    }
    let mut last = String::new();
    for ip in ips {
        match probe(probe_config, host, *ip).await {
            HostOutcome::Secure(version) => return HostVerdict::Secure(version),
            HostOutcome::NoStarttls => {
                return HostVerdict::Insecure(
                    HostStatus::NoStarttls,
                    format!("{host} ({ip}) does not offer STARTTLS"),
                );
            }
            HostOutcome::TlsFailed(why) => {
                return HostVerdict::Insecure(
                    HostStatus::TlsFailed,
                    format!("{host} ({ip}) offers STARTTLS, but TLS fails: {why}"),
                );
            }
            HostOutcome::Unreachable(why) => last = why,
            HostOutcome::NotPublic => return not_public_verdict(host, &[*ip]),
        }
    }
    HostVerdict::Unknown(last)
}

/// The failing verdict when some of `ips` may not be probed.
fn not_public(probe_config: &MxProbe, host: &str, ips: &[IpAddr]) -> Option<HostVerdict> {
    let refused: Vec<IpAddr> = ips
        .iter()
        .copied()
        .filter(|ip| !probe_config.may_probe(*ip))
        .collect();
    (!refused.is_empty()).then(|| not_public_verdict(host, &refused))
}

fn not_public_verdict(host: &str, refused: &[IpAddr]) -> HostVerdict {
    let list: Vec<String> = refused.iter().map(IpAddr::to_string).collect();
    let (noun, verb) = if refused.len() == 1 {
        ("address", "is")
    } else {
        ("addresses", "are")
    };
    HostVerdict::Insecure(
        HostStatus::NotPublic,
        format!(
            "{host} ({}): its {noun} {verb} not public (private, loopback, link-local or \
             reserved), so senders on the internet cannot reach it and stsd does not probe it",
            list.join(", ")
        ),
    )
}

/// The check's verdict from each host's.
pub(crate) fn judge(
    record: &str,
    verdicts: &[(String, HostVerdict)],
    skipped: usize,
) -> CheckResult {
    let mut secure = Vec::new();
    let mut insecure = Vec::new();
    let mut unknown = Vec::new();
    let mut hosts = Vec::new();
    for (host, v) in verdicts {
        let (status, detail) = match v {
            HostVerdict::Secure(version) => {
                secure.push(format!("{host} ({version})"));
                (HostStatus::Secure, version.clone())
            }
            HostVerdict::NoAddress => {
                let why = format!("{host} has no IP address");
                insecure.push(why.clone());
                (HostStatus::NoAddress, why)
            }
            HostVerdict::Insecure(status, why) => {
                insecure.push(why.clone());
                (*status, why.clone())
            }
            HostVerdict::Unknown(why) => {
                unknown.push(format!("{host}: {why}"));
                (HostStatus::Unreachable, why.clone())
            }
        };
        hosts.push(HostCheck {
            host: host.clone(),
            status,
            detail,
        });
    }
    let mut explanation = String::new();
    if !secure.is_empty() {
        explanation.push_str(&format!(
            "STARTTLS with a certificate valid for the MX name: {}. ",
            secure.join(", ")
        ));
    }
    if !insecure.is_empty() {
        explanation.push_str(&format!(
            "Senders enforcing the policy would refuse: {}. ",
            insecure.join("; ")
        ));
    }
    if !unknown.is_empty() {
        explanation.push_str(&format!(
            "Could not be checked from stsd: {}. ",
            unknown.join("; ")
        ));
    }
    if skipped > 0 {
        explanation.push_str(&format!("{skipped} more MX hosts were not probed. "));
    }
    let explanation = explanation.trim_end().to_owned();
    let mut result = judge_outcome(record, explanation, &insecure, &unknown);
    result.hosts = hosts;
    result
}

fn judge_outcome(
    record: &str,
    explanation: String,
    insecure: &[String],
    unknown: &[String],
) -> CheckResult {
    if !insecure.is_empty() {
        CheckResult::new(
            NAME,
            record,
            Outcome::Fail,
            explanation,
            Some(
                "Give every MX host a public address and STARTTLS with a certificate from a public CA whose subject \
                 alternative names include the MX host name exactly as the MX record names it \
                 (a wildcard covers one label); then check again before switching to enforce."
                    .to_owned(),
            ),
        )
    } else if !unknown.is_empty() {
        CheckResult::new(NAME, record, Outcome::Error, explanation, None)
    } else {
        CheckResult::new(NAME, record, Outcome::Pass, explanation, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(host: &str, verdict: HostVerdict) -> (String, HostVerdict) {
        (host.to_owned(), verdict)
    }

    #[test]
    fn every_host_secure_passes() {
        let r = judge(
            "example.com",
            &[
                v("mx1.example.com", HostVerdict::Secure("TLS 1.3".into())),
                v("mx2.example.com", HostVerdict::Secure("TLS 1.2".into())),
            ],
            0,
        );
        assert_eq!(r.result, Outcome::Pass);
        assert!(r.explanation.contains("mx2.example.com (TLS 1.2)"));
        assert_eq!(r.fix, None);
    }

    #[test]
    fn one_insecure_host_fails_and_is_named() {
        let r = judge(
            "example.com",
            &[
                v("mx1.example.com", HostVerdict::Secure("TLS 1.3".into())),
                v(
                    "mx2.example.com",
                    HostVerdict::Insecure(
                        HostStatus::NoStarttls,
                        "mx2.example.com (192.0.2.2) does not offer STARTTLS".into(),
                    ),
                ),
                v("mx3.example.com", HostVerdict::NoAddress),
            ],
            0,
        );
        assert_eq!(r.result, Outcome::Fail);
        assert!(r.explanation.contains("does not offer STARTTLS"));
        assert!(r.explanation.contains("mx3.example.com has no IP address"));
        assert!(r.fix.is_some());
        let statuses: Vec<(&str, HostStatus)> = r
            .hosts
            .iter()
            .map(|h| (h.host.as_str(), h.status))
            .collect();
        assert_eq!(
            statuses,
            [
                ("mx1.example.com", HostStatus::Secure),
                ("mx2.example.com", HostStatus::NoStarttls),
                ("mx3.example.com", HostStatus::NoAddress),
            ]
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["hosts"][1]["status"], "no_starttls");
    }

    #[test]
    fn unreachable_hosts_conclude_nothing() {
        let r = judge(
            "example.com",
            &[v(
                "mx1.example.com",
                HostVerdict::Unknown("connection refused".into()),
            )],
            2,
        );
        assert_eq!(r.result, Outcome::Error);
        assert!(r.explanation.contains("2 more MX hosts"));
    }

    #[tokio::test]
    async fn non_public_addresses_fail_unless_allowed() {
        let mut probe = MxProbe::new("verifier.test", None).unwrap();
        let ips: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()];
        let verdict = probe_host(&probe, "mx.example.com", &ips).await;
        let HostVerdict::Insecure(HostStatus::NotPublic, why) = verdict else {
            panic!("{verdict:?}");
        };
        assert!(
            why.starts_with("mx.example.com (10.0.0.1, fd00::1): its addresses are not public"),
            "{why}"
        );
        probe.allow_private = true;
        assert_eq!(not_public(&probe, "mx.example.com", &ips), None);
        probe.allow_private = false;
        let public: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap()];
        assert!(not_public(&probe, "mx.example.com", &public).is_some());
        let public: Vec<IpAddr> = vec!["8.8.8.8".parse().unwrap()];
        assert_eq!(not_public(&probe, "mx.example.com", &public), None);
    }
}
