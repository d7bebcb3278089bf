//! The DNS checks of one domain registration.
//!
//! Each check looks at one name of the customer's zone and returns a [`CheckResult`]. The
//! CNAME checks ask for the CNAME record itself rather than the chased answer, so that they
//! judge what the customer published and work against an authoritative server.

mod caa;
mod mta_sts;
mod mx;
mod mx_tls;
mod ownership;
mod sts_record;
mod tlsrpt;

use std::net::IpAddr;

use stsd_core::Policy;
use stsd_store::Ownership;

use crate::dns::{Dns, normalize};
use crate::smtp_probe::MxProbe;
use stsd_core::CheckResult;

/// Everything the checks need to know about one registration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    /// The customer's domain, normalized.
    pub(crate) domain: &'a str,
    /// The registration's label.
    pub(crate) label: &'a str,
    /// How ownership is proven.
    pub(crate) ownership: Ownership,
    /// Whether ownership was proven before (TXT mode needs the record only once).
    pub(crate) ownership_proven: bool,
    /// The service zone, normalized.
    pub(crate) zone: &'a str,
    /// The edge addresses `<label>.edge.<zone>` resolves to.
    pub(crate) edges: &'a [IpAddr],
    /// The latest policy version's policy, if one was saved.
    pub(crate) policy: Option<&'a Policy>,
    /// The policy id of the version the edges serve, if any (TXT mode compares it).
    pub(crate) live_id: Option<&'a str>,
}

impl Subject<'_> {
    /// `<prefix>.<domain>`.
    fn name(&self, prefix: &str) -> String {
        format!("{prefix}.{}", self.domain)
    }

    /// This registration's service name `<label>.<kind>.<zone>`.
    fn service(&self, kind: &str) -> String {
        format!("{}.{kind}.{}", self.label, self.zone)
    }

    /// The zone-file line the customer should publish: `<name>. CNAME <label>.<kind>.<zone>.`
    fn cname_line(&self, prefix: &str, kind: &str) -> String {
        format!("{}. CNAME {}.", self.name(prefix), self.service(kind))
    }
}

/// Where a CNAME points, relative to this registration.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// `<our label>.<kind>.<zone>`.
    Ours,
    /// `<another label>.<kind>.<zone>`: another registration of this service.
    OtherLabel(String),
    /// Somewhere else entirely.
    Elsewhere(String),
}

/// Classifies a (normalized) CNAME target against `<label>.<kind>.<zone>`.
fn classify(subject: &Subject<'_>, kind: &str, target: &str) -> Target {
    let target = normalize(target);
    let suffix = format!(".{kind}.{}", subject.zone);
    match target.strip_suffix(&suffix) {
        Some(label) if label == subject.label => Target::Ours,
        Some(label) if !label.is_empty() && !label.contains('.') => {
            Target::OtherLabel(label.to_owned())
        }
        _ => Target::Elsewhere(target),
    }
}

/// Runs every check of `subject`, concurrently, in a fixed order. `probe` is how MX hosts
/// are probed for STARTTLS; `None` leaves that check out.
pub(crate) async fn run_all(
    dns: &Dns,
    probe: Option<&MxProbe>,
    ca_identities: &[String],
    subject: &Subject<'_>,
) -> Vec<CheckResult> {
    let mx_tls = async {
        match probe {
            Some(p) => Some(mx_tls::check(dns, p, subject).await),
            None => None,
        }
    };
    let caa = async {
        if ca_identities.is_empty() {
            None
        } else {
            Some(caa::check(dns, subject, ca_identities).await)
        }
    };
    let (ownership, mta_sts, tlsrpt, mx, mx_tls, caa) = tokio::join!(
        ownership::check(dns, subject),
        mta_sts::check(dns, subject),
        tlsrpt::check(dns, subject),
        mx::check(dns, subject),
        mx_tls,
        caa,
    );
    let mut checks = vec![ownership, mta_sts, tlsrpt, mx];
    checks.extend(mx_tls);
    checks.extend(caa);
    // In TXT mode the customer publishes the policy id; elsewhere stsd's DNS does.
    if subject.ownership == Ownership::Txt {
        checks.push(sts_record::check(dns, subject).await);
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject<'static> {
        Subject {
            domain: "example.com",
            label: "abc",
            ownership: Ownership::Cname,
            ownership_proven: false,
            zone: "sts.example.net",
            edges: &[],
            policy: None,
            live_id: None,
        }
    }

    #[test]
    fn targets_are_classified_case_insensitively() {
        let s = subject();
        assert_eq!(
            classify(&s, "policy", "ABC.Policy.STS.example.net."),
            Target::Ours
        );
        assert_eq!(
            classify(&s, "policy", "xyz.policy.sts.example.net"),
            Target::OtherLabel("xyz".to_owned())
        );
        assert_eq!(
            classify(&s, "policy", "abc.edge.sts.example.net"),
            Target::Elsewhere("abc.edge.sts.example.net".to_owned())
        );
        assert_eq!(
            classify(&s, "policy", "a.b.policy.sts.example.net"),
            Target::Elsewhere("a.b.policy.sts.example.net".to_owned())
        );
        assert_eq!(
            s.cname_line("_mta-sts", "policy"),
            "_mta-sts.example.com. CNAME abc.policy.sts.example.net."
        );
    }
}
