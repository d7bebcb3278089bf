//! The result of one check of a customer's domain: what the verifier stores (JSON in
//! `domains.last_checks`) and the API and the enforce gate read back, typed on both sides.

use serde::{Deserialize, Serialize};

/// Which check a result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    /// `_mta-sts.<d>` CNAME to `<label>.policy.<zone>` (or, in TXT mode, the
    /// `_mta-sts-verify.<d>` TXT): proves the registration owns the domain.
    Ownership,
    /// `mta-sts.<d>` CNAME to `<label>.edge.<zone>`: where senders fetch the policy.
    MtaStsCname,
    /// `_smtp._tls.<d>` CNAME to `<label>.report.<zone>`: where TLS reports go.
    Tlsrpt,
    /// Every MX host of `<d>` is covered by an `mx` pattern of the latest policy.
    MxCoverage,
    /// TXT mode only: the customer's `_mta-sts.<d>` TXT announces the id stsd serves.
    StsRecord,
    /// Every MX host offers STARTTLS with a certificate valid for its name.
    MxStarttls,
    /// CAA records do not forbid stsd's CA to issue for `mta-sts.<d>`.
    Caa,
}

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The record is as it should be.
    Pass,
    /// It works, but something deserves attention.
    Warn,
    /// The record is missing or wrong; the fix says what to publish.
    Fail,
    /// The check could not be made (DNS failure); it is retried, nothing is concluded.
    Error,
}

/// One check of one DNS name of a domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Which check.
    pub name: CheckName,
    /// The full DNS name the check concerns, without trailing dot (`_mta-sts.example.com`).
    pub record: String,
    /// The verdict.
    pub result: Outcome,
    /// What was found, in plain language.
    pub explanation: String,
    /// What the customer should change; `None` when nothing needs changing.
    pub fix: Option<String>,
    /// Per MX host, for the checks that look at each (`mx_starttls`): which host came to
    /// what, so that the enforce gate and the dashboard can name the failing ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostCheck>,
    /// For `mx_coverage`: the MX hosts no pattern of the policy matches (what an MX drift
    /// alert names and its one-click fix adds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uncovered: Vec<String>,
}

/// What one MX host came to in a per-host check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCheck {
    /// The MX host name.
    pub host: String,
    /// The verdict for this host.
    pub status: HostStatus,
    /// What was found (a sentence fragment in English; the status is what to translate).
    pub detail: String,
}

/// The verdict for one MX host of the STARTTLS check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostStatus {
    /// STARTTLS with a certificate valid for the host's name.
    Secure,
    /// STARTTLS is not offered.
    NoStarttls,
    /// STARTTLS is offered but TLS fails: a certificate for another name, an untrusted or
    /// expired one, or a broken handshake.
    TlsFailed,
    /// An address senders cannot reach (private, loopback, reserved), not probed.
    NotPublic,
    /// The host name has no address.
    NoAddress,
    /// Nothing answered (refused, timed out): nothing is concluded.
    Unreachable,
}

impl CheckResult {
    /// A result without per-host details.
    pub fn new(
        name: CheckName,
        record: &str,
        result: Outcome,
        explanation: impl Into<String>,
        fix: Option<String>,
    ) -> CheckResult {
        CheckResult {
            name,
            record: record.to_owned(),
            result,
            explanation: explanation.into(),
            fix,
            hosts: Vec::new(),
            uncovered: Vec::new(),
        }
    }

    /// A check that could not be made because DNS did not answer usefully.
    pub fn lookup_error(name: CheckName, record: &str, detail: &str) -> CheckResult {
        CheckResult::new(
            name,
            record,
            Outcome::Error,
            format!(
                "The check could not be made: {detail}. Nothing is concluded from this; \
                 the check is retried."
            ),
            None,
        )
    }
}

/// The outcome of the check `name` among `checks`, if it ran.
pub fn outcome_of(checks: &[CheckResult], name: CheckName) -> Option<Outcome> {
    checks.iter().find(|c| c.name == name).map(|c| c.result)
}

/// Reads stored results; `None` when the JSON is not a list of results (a row written by a
/// version that stored something else is treated as "no results", never as a pass).
pub fn parse_checks(json: &str) -> Option<Vec<CheckResult>> {
    serde_json::from_str(json).ok()
}

impl CheckName {
    /// The name as stored and shown (`mx_starttls`).
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::Ownership => "ownership",
            CheckName::MtaStsCname => "mta_sts_cname",
            CheckName::Tlsrpt => "tlsrpt",
            CheckName::MxCoverage => "mx_coverage",
            CheckName::StsRecord => "sts_record",
            CheckName::MxStarttls => "mx_starttls",
            CheckName::Caa => "caa",
        }
    }
}

impl Outcome {
    /// The outcome as stored and shown (`pass`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Warn => "warn",
            Outcome::Fail => "fail",
            Outcome::Error => "error",
        }
    }
}

impl HostStatus {
    /// The status as stored and shown (`no_starttls`).
    pub fn as_str(self) -> &'static str {
        match self {
            HostStatus::Secure => "secure",
            HostStatus::NoStarttls => "no_starttls",
            HostStatus::TlsFailed => "tls_failed",
            HostStatus::NotPublic => "not_public",
            HostStatus::NoAddress => "no_address",
            HostStatus::Unreachable => "unreachable",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_outcomes_read_back_as_written() {
        let mut check = CheckResult::new(
            CheckName::MxStarttls,
            "example.com",
            Outcome::Fail,
            "mx1 does not offer STARTTLS",
            Some("enable it".into()),
        );
        check.hosts.push(HostCheck {
            host: "mx1.example.com".into(),
            status: HostStatus::NoStarttls,
            detail: "no".into(),
        });
        let json = serde_json::to_string(&[check.clone()]).unwrap_or_default();
        assert_eq!(parse_checks(&json), Some(vec![check]));
        for name in [
            CheckName::MxStarttls,
            CheckName::MtaStsCname,
            CheckName::Caa,
        ] {
            let v = serde_json::to_value(name).unwrap_or_default();
            assert_eq!(v, name.as_str());
        }
        for s in [HostStatus::TlsFailed, HostStatus::Unreachable] {
            assert_eq!(serde_json::to_value(s).unwrap_or_default(), s.as_str());
        }
        assert_eq!(parse_checks("{\"not\": \"a list\"}"), None);
        // Results stored before per-host details existed still read.
        let old = r#"[{"name":"ownership","record":"_mta-sts.example.com","result":"pass","explanation":"ok","fix":null}]"#;
        assert_eq!(parse_checks(old).map(|c| c[0].hosts.len()), Some(0));
    }

    #[test]
    fn serializes_with_the_api_field_names() {
        let check = CheckResult::new(
            CheckName::MtaStsCname,
            "mta-sts.example.com",
            Outcome::Pass,
            "ok",
            None,
        );
        let json = serde_json::to_value(&check).unwrap_or_default();
        assert_eq!(json["name"], "mta_sts_cname");
        assert_eq!(json["record"], "mta-sts.example.com");
        assert_eq!(json["result"], "pass");
        assert_eq!(json["explanation"], "ok");
        assert!(json["fix"].is_null());
    }
}
