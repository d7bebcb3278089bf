//! MX coverage: every MX host of `<d>` matches an `mx` pattern of the latest policy.

use stsd_core::{Mode, MxPattern};

use super::Subject;
use crate::dns::{Dns, MxAnswer};
use stsd_core::{CheckName, CheckResult, Outcome};

const NAME: CheckName = CheckName::MxCoverage;

pub(super) async fn check(dns: &Dns, s: &Subject<'_>) -> CheckResult {
    let record = s.domain;
    let hosts = match dns.mx(record).await {
        Ok(MxAnswer::Hosts(hosts)) => hosts,
        Ok(MxAnswer::NullMx) => {
            return CheckResult::new(
                NAME,
                record,
                Outcome::Warn,
                format!(
                    "{record} publishes a null MX record (RFC 7505): it accepts no mail, so an \
                     MTA-STS policy has nothing to protect."
                ),
                Some(format!(
                    "If {record} should receive mail, publish its MX records; otherwise \
                     nothing needs to change."
                )),
            );
        }
        Ok(MxAnswer::NoMx) => {
            return CheckResult::new(
                NAME,
                record,
                Outcome::Warn,
                format!(
                    "{record} has no MX records. Senders then deliver to the domain's own \
                     address, which an MTA-STS policy cannot cover: MTA-STS applies to MX \
                     hosts only."
                ),
                Some(format!("Publish the MX records of {record}.")),
            );
        }
        Err(failure) => return CheckResult::lookup_error(NAME, record, &failure.detail),
    };
    let Some(policy) = s.policy else {
        return CheckResult::new(
            NAME,
            record,
            Outcome::Warn,
            format!(
                "No policy is saved yet, so the MX hosts ({}) cannot be checked against it.",
                hosts.join(", ")
            ),
            Some(format!("Save a policy with {}.", mx_lines(&hosts))),
        );
    };
    let patterns = policy.mx();
    let uncovered: Vec<&String> = hosts
        .iter()
        .filter(|host| !patterns.iter().any(|p| p.matches(host)))
        .collect();
    let unused: Vec<&MxPattern> = patterns
        .iter()
        .filter(|p| !hosts.iter().any(|host| p.matches(host)))
        .collect();
    if !uncovered.is_empty() {
        let names: Vec<String> = uncovered.iter().map(|h| (*h).clone()).collect();
        // Under mode none senders apply nothing, so a gap is a warning, not a failure.
        let result = if policy.mode() == Mode::None {
            Outcome::Warn
        } else {
            Outcome::Fail
        };
        let mut check = CheckResult::new(
            NAME,
            record,
            result,
            format!(
                "These MX hosts of {record} match no mx line of the policy: {}. In enforce mode \
                 senders refuse to deliver to them; in testing mode they report failures.",
                names.join(", ")
            ),
            Some(format!("Add {} to the policy.", mx_lines(&names))),
        );
        check.uncovered = names;
        return check;
    }
    if !unused.is_empty() {
        let patterns: Vec<&str> = unused.iter().map(|p| p.as_str()).collect();
        return CheckResult::new(
            NAME,
            record,
            Outcome::Warn,
            format!(
                "Every MX host is covered, but these mx lines match no current MX host: {}.",
                patterns.join(", ")
            ),
            Some(format!(
                "Remove {} from the policy if those hosts are gone.",
                patterns
                    .iter()
                    .map(|p| format!("\"mx: {p}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        );
    }
    CheckResult::new(
        NAME,
        record,
        Outcome::Pass,
        format!(
            "Every MX host of {record} ({}) is covered by the policy.",
            hosts.join(", ")
        ),
        None,
    )
}

/// `"mx: a", "mx: b"` lines for a fix.
fn mx_lines(hosts: &[String]) -> String {
    hosts
        .iter()
        .map(|h| format!("\"mx: {h}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
