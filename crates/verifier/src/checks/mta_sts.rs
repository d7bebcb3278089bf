//! `mta-sts.<d>` CNAME to `<label>.edge.<zone>`: the host senders fetch the policy from.

use std::net::IpAddr;

use super::{Subject, Target, classify};
use crate::dns::Dns;
use stsd_core::{CheckName, CheckResult, Outcome};

const NAME: CheckName = CheckName::MtaStsCname;

pub(super) async fn check(dns: &Dns, s: &Subject<'_>) -> CheckResult {
    let record = s.name("mta-sts");
    let expected = s.service("edge");
    let publish = format!("Publish this record: {}", s.cname_line("mta-sts", "edge"));
    let cname = match dns.cname(&record).await {
        Ok(cname) => cname,
        Err(failure) => return CheckResult::lookup_error(NAME, &record, &failure.detail),
    };
    match cname.as_deref().map(|t| classify(s, "edge", t)) {
        Some(Target::Ours) => CheckResult::new(
            NAME,
            &record,
            Outcome::Pass,
            format!("{record} is an alias of {expected}: senders fetch the policy from stsd."),
            None,
        ),
        Some(Target::OtherLabel(other)) => CheckResult::new(
            NAME,
            &record,
            Outcome::Fail,
            format!(
                "{record} is an alias of {other}.edge.{}, which belongs to another \
                 registration of this domain, not to this one.",
                s.zone
            ),
            Some(format!("Replace the CNAME record. {publish}")),
        ),
        Some(Target::Elsewhere(target)) => {
            let addresses = match dns.addresses(&record).await {
                Ok(addresses) => addresses,
                Err(failure) => return CheckResult::lookup_error(NAME, &record, &failure.detail),
            };
            if all_edges(&addresses, s.edges) {
                CheckResult::new(
                    NAME,
                    &record,
                    Outcome::Warn,
                    format!(
                        "{record} is an alias of {target}, which resolves to stsd's edge \
                         addresses ({}). This works, but will not follow if those addresses \
                         change.",
                        list(&addresses)
                    ),
                    Some(format!("Replace the CNAME record. {publish}")),
                )
            } else {
                CheckResult::new(
                    NAME,
                    &record,
                    Outcome::Fail,
                    format!(
                        "{record} is an alias of {target}, not of {expected}, so senders do not \
                         fetch the policy from stsd."
                    ),
                    Some(format!("Replace the CNAME record. {publish}")),
                )
            }
        }
        None => without_cname(dns, s, &record, &publish).await,
    }
}

/// No CNAME at the name: address records pointing at the edges work (warn); anything else
/// there is named as a conflict, because the CNAME cannot be added next to it.
async fn without_cname(dns: &Dns, s: &Subject<'_>, record: &str, publish: &str) -> CheckResult {
    let addresses = match dns.addresses(record).await {
        Ok(addresses) => addresses,
        Err(failure) => return CheckResult::lookup_error(NAME, record, &failure.detail),
    };
    let texts = match dns.txt(record).await {
        Ok(texts) => texts,
        Err(failure) => return CheckResult::lookup_error(NAME, record, &failure.detail),
    };
    if texts.is_empty() && all_edges(&addresses, s.edges) {
        return CheckResult::new(
            NAME,
            record,
            Outcome::Warn,
            format!(
                "{record} has address records pointing at stsd's edge addresses ({}) instead \
                 of a CNAME. This works, but will not follow if those addresses change.",
                list(&addresses)
            ),
            Some(format!("Delete the A/AAAA records at {record}. {publish}")),
        );
    }
    let mut conflicts: Vec<String> = addresses
        .iter()
        .map(|ip| match ip {
            IpAddr::V4(v4) => format!("A {v4}"),
            IpAddr::V6(v6) => format!("AAAA {v6}"),
        })
        .collect();
    conflicts.extend(texts.iter().map(|t| format!("TXT \"{t}\"")));
    if conflicts.is_empty() {
        return CheckResult::new(
            NAME,
            record,
            Outcome::Fail,
            format!("There is no CNAME record at {record}, so senders cannot fetch the policy."),
            Some(publish.to_owned()),
        );
    }
    let kinds = conflict_kinds(&addresses, !texts.is_empty());
    CheckResult::new(
        NAME,
        record,
        Outcome::Fail,
        format!(
            "{record} has conflicting records ({}) instead of a CNAME to {}; a CNAME cannot \
             coexist with other records at the same name.",
            conflicts.join(", "),
            s.service("edge")
        ),
        Some(format!("Delete the {kinds} records at {record}. {publish}")),
    )
}

/// Whether every address is one of the edges (and there is at least one).
fn all_edges(addresses: &[IpAddr], edges: &[IpAddr]) -> bool {
    !addresses.is_empty() && addresses.iter().all(|ip| edges.contains(ip))
}

fn list(addresses: &[IpAddr]) -> String {
    addresses
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `A`, `AAAA`, `TXT` joined with `/`, for the kinds present.
fn conflict_kinds(addresses: &[IpAddr], txt: bool) -> String {
    let mut kinds = Vec::new();
    if addresses.iter().any(IpAddr::is_ipv4) {
        kinds.push("A");
    }
    if addresses.iter().any(IpAddr::is_ipv6) {
        kinds.push("AAAA");
    }
    if txt {
        kinds.push("TXT");
    }
    kinds.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_must_cover_every_address() {
        let edge = IpAddr::from([192, 0, 2, 1]);
        let other = IpAddr::from([198, 51, 100, 7]);
        assert!(all_edges(&[edge], &[edge]));
        assert!(!all_edges(&[edge, other], &[edge]));
        assert!(!all_edges(&[], &[edge]));
        assert_eq!(conflict_kinds(&[other], true), "A/TXT");
    }
}
