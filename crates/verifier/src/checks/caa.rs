//! CAA (RFC 8659): the certificate authority stsd uses may issue for `mta-sts.<d>`.
//!
//! The relevant record set is the first non-empty one found climbing from `mta-sts.<d>`
//! towards the root (a CNAME at `mta-sts.<d>` is followed by the resolver, so the service
//! zone's answer — none — comes first). Only `issue` records matter for a non-wildcard
//! certificate; without any, every CA may issue.

use super::Subject;
use crate::dns::Dns;
use stsd_core::{CheckName, CheckResult, Outcome};

const NAME: CheckName = CheckName::Caa;

pub(super) async fn check(dns: &Dns, s: &Subject<'_>, ca_identities: &[String]) -> CheckResult {
    let host = s.name("mta-sts");
    let mut candidate = host.as_str();
    loop {
        let issuers = match dns.caa_issuers(candidate).await {
            Ok(found) => found,
            Err(failure) => return CheckResult::lookup_error(NAME, &host, &failure.detail),
        };
        if let Some(issuers) = issuers {
            return judge(&host, candidate, &issuers, ca_identities);
        }
        match candidate.split_once('.') {
            // Stop below the top-level domain: no registry publishes CAA for a TLD.
            Some((_, parent)) if parent.contains('.') => candidate = parent,
            _ => break,
        }
    }
    CheckResult::new(
        NAME,
        &host,
        Outcome::Pass,
        format!("No CAA record restricts which CA may issue for {host}."),
        None,
    )
}

/// The verdict on the relevant `issue` records found at `at`.
pub(crate) fn judge(
    host: &str,
    at: &str,
    issuers: &[Option<String>],
    ca_identities: &[String],
) -> CheckResult {
    let allowed = issuers
        .iter()
        .flatten()
        .any(|i| ca_identities.iter().any(|c| c.eq_ignore_ascii_case(i)));
    let listed: Vec<&str> = issuers
        .iter()
        .map(|i| i.as_deref().unwrap_or(";"))
        .collect();
    if allowed {
        return CheckResult::new(
            NAME,
            at,
            Outcome::Pass,
            format!(
                "The CAA records at {at} ({}) allow stsd's CA to issue for {host}.",
                listed.join(", ")
            ),
            None,
        );
    }
    let ca = ca_identities.first().map_or("the CA", String::as_str);
    CheckResult::new(
        NAME,
        at,
        Outcome::Fail,
        format!(
            "The CAA records at {at} allow only {} to issue certificates, so stsd's CA ({ca}) \
             cannot issue the certificate for {host}, and renewals will fail.",
            listed.join(", ")
        ),
        Some(format!(
            "Add this record next to the others: {at}. CAA 0 issue \"{ca}\""
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        vec!["letsencrypt.org".to_owned()]
    }

    #[test]
    fn listed_ca_passes_case_insensitively() {
        let r = judge(
            "mta-sts.example.com",
            "example.com",
            &[Some("digicert.com".into()), Some("LetsEncrypt.org".into())],
            &ids(),
        );
        assert_eq!(r.result, Outcome::Pass);
    }

    #[test]
    fn other_cas_only_or_empty_issuer_fail_with_the_record_to_add() {
        for issuers in [vec![Some("digicert.com".to_owned())], vec![None]] {
            let r = judge("mta-sts.example.com", "example.com", &issuers, &ids());
            assert_eq!(r.result, Outcome::Fail);
            assert_eq!(
                r.fix.as_deref(),
                Some(
                    "Add this record next to the others: example.com. CAA 0 issue \"letsencrypt.org\""
                )
            );
        }
    }
}
