//! The normalized report and the tolerant extraction from JSON.
//!
//! Keys are matched case-insensitively with `_` read as `-`; numbers may be strings;
//! `mx-host` and `policy-string` may be a string or a list; optional fields may be missing or
//! `null`; unknown fields are ignored and unknown result and policy types are kept as sent.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::decode::{DEFAULT_MAX_DECOMPRESSED, decode};
use super::error::ReportError;

/// Longest string kept from a report field; longer values are cut (at a char boundary).
const MAX_FIELD: usize = 1024;
/// Most policies read from one report.
const MAX_POLICIES: usize = 1000;
/// Most failure details read from one policy.
const MAX_DETAILS: usize = 10_000;

/// One TLS report, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `organization-name`: who sent the report (`unknown` when missing).
    pub organization: String,
    /// `contact-info`, when given.
    pub contact: Option<String>,
    /// `report-id`: unique per organization only.
    pub report_id: String,
    /// Start of the reporting period.
    pub start: OffsetDateTime,
    /// End of the reporting period (the start when missing).
    pub end: OffsetDateTime,
    /// The policies the sessions were evaluated against.
    pub policies: Vec<Policy>,
}

/// One entry of `policies`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `policy-type`: `sts`, `tlsa`, `no-policy-found`, or whatever was sent (lowercased).
    pub policy_type: String,
    /// `policy-domain`, lowercased without a trailing dot, when given.
    pub policy_domain: Option<String>,
    /// `policy-string`: the policy's lines (or TLSA records).
    pub policy_strings: Vec<String>,
    /// `mx-host`: the MX patterns of the policy.
    pub mx_hosts: Vec<String>,
    /// `total-successful-session-count`.
    pub successful_sessions: u64,
    /// `total-failure-session-count`.
    pub failed_sessions: u64,
    /// `failure-details`.
    pub failures: Vec<FailureDetail>,
}

/// One entry of `failure-details`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureDetail {
    /// `result-type`, lowercased; unknown values are kept.
    pub result_type: String,
    /// `sending-mta-ip`.
    pub sending_mta_ip: Option<String>,
    /// `receiving-mx-hostname`, lowercased without a trailing dot.
    pub receiving_mx_hostname: Option<String>,
    /// `receiving-mx-helo`.
    pub receiving_mx_helo: Option<String>,
    /// `receiving-ip`.
    pub receiving_ip: Option<String>,
    /// `failed-session-count`.
    pub failed_sessions: u64,
    /// `additional-information`.
    pub additional_information: Option<String>,
    /// `failure-reason-code`.
    pub failure_reason_code: Option<String>,
}

impl Report {
    /// The first policy domain of the report: with the organization and report id, the key
    /// that makes a second delivery of the same report a duplicate.
    pub fn policy_domain(&self) -> Option<&str> {
        self.policies
            .iter()
            .find_map(|p| p.policy_domain.as_deref())
    }

    /// Successful sessions of the report. The policies describe the same sessions, so this
    /// is the largest policy's count, not the sum.
    pub fn successful_sessions(&self) -> u64 {
        self.policies
            .iter()
            .map(|p| p.successful_sessions)
            .max()
            .unwrap_or(0)
    }

    /// Failed sessions of the report (the largest policy's count, not the sum).
    pub fn failed_sessions(&self) -> u64 {
        self.policies
            .iter()
            .map(|p| p.failed_sessions)
            .max()
            .unwrap_or(0)
    }

    /// Failed sessions per (result type, receiving MX host or IP, or empty), each the largest
    /// count of any one policy: failures listed under several policies are the same sessions.
    pub fn failures_by_result_and_mx(&self) -> Vec<(String, String, u64)> {
        use std::collections::BTreeMap;
        let mut best: BTreeMap<(String, String), u64> = BTreeMap::new();
        for p in &self.policies {
            let mut this: BTreeMap<(String, String), u64> = BTreeMap::new();
            for f in &p.failures {
                let mx = f
                    .receiving_mx_hostname
                    .clone()
                    .or_else(|| f.receiving_ip.clone())
                    .unwrap_or_default();
                let n = this.entry((f.result_type.clone(), mx)).or_default();
                *n = n.saturating_add(f.failed_sessions);
            }
            for (k, n) in this {
                let e = best.entry(k).or_default();
                *e = (*e).max(n);
            }
        }
        best.into_iter().map(|((r, m), n)| (r, m, n)).collect()
    }
}

/// Decodes (gzip or plain, at most [`DEFAULT_MAX_DECOMPRESSED`] bytes) and parses a report.
pub fn parse(body: &[u8]) -> Result<Report, ReportError> {
    parse_json(&decode(body, DEFAULT_MAX_DECOMPRESSED)?.json)
}

/// Parses report JSON. Call [`decode`] first for input from the network: it bounds size
/// and nesting.
pub fn parse_json(json: &[u8]) -> Result<Report, ReportError> {
    let value: Value =
        serde_json::from_slice(json).map_err(|e| ReportError::Json(e.to_string()))?;
    let Value::Object(root) = value else {
        return Err(ReportError::Invalid(
            "the report is not a JSON object".into(),
        ));
    };
    let report_id = text(get(&root, "report-id"))
        .ok_or_else(|| ReportError::Invalid("report-id is missing".into()))?;
    let range = get(&root, "date-range").and_then(Value::as_object);
    let start = range
        .and_then(|r| date(get(r, "start-datetime")))
        .ok_or_else(|| {
            ReportError::Invalid("date-range.start-datetime is missing or invalid".into())
        })?;
    let end = range
        .and_then(|r| date(get(r, "end-datetime")))
        .unwrap_or(start);
    let policies = list(get(&root, "policies"))
        .iter()
        .filter_map(Value::as_object)
        .take(MAX_POLICIES)
        .map(policy)
        .collect();
    Ok(Report {
        organization: text(get(&root, "organization-name")).unwrap_or_else(|| "unknown".into()),
        contact: text(get(&root, "contact-info")),
        report_id,
        start,
        end,
        policies,
    })
}

fn policy(entry: &Map<String, Value>) -> Policy {
    // RFC 8460 nests the policy under "policy"; a flattened entry is read the same way.
    let pol = get(entry, "policy")
        .and_then(Value::as_object)
        .unwrap_or(entry);
    let summary = get(entry, "summary")
        .and_then(Value::as_object)
        .unwrap_or(entry);
    Policy {
        policy_type: text(get(pol, "policy-type"))
            .map(|t| t.to_ascii_lowercase())
            .unwrap_or_else(|| "unknown".into()),
        policy_domain: text(get(pol, "policy-domain")).map(|d| host(&d)),
        policy_strings: strings(get(pol, "policy-string")),
        mx_hosts: strings(get(pol, "mx-host")),
        successful_sessions: count(get(summary, "total-successful-session-count")),
        failed_sessions: count(get(summary, "total-failure-session-count")),
        failures: list(get(entry, "failure-details"))
            .iter()
            .filter_map(Value::as_object)
            .take(MAX_DETAILS)
            .map(failure)
            .collect(),
    }
}

fn failure(d: &Map<String, Value>) -> FailureDetail {
    FailureDetail {
        result_type: text(get(d, "result-type"))
            .map(|t| t.to_ascii_lowercase())
            .unwrap_or_else(|| "unknown".into()),
        sending_mta_ip: text(get(d, "sending-mta-ip")),
        receiving_mx_hostname: text(get(d, "receiving-mx-hostname")).map(|h| host(&h)),
        receiving_mx_helo: text(get(d, "receiving-mx-helo")),
        receiving_ip: text(get(d, "receiving-ip")),
        failed_sessions: count(get(d, "failed-session-count")),
        additional_information: text(get(d, "additional-information")),
        failure_reason_code: text(get(d, "failure-reason-code")),
    }
}

/// A member by RFC 8460 name, matched case-insensitively with `_` read as `-`.
fn get<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| {
                k.len() == name.len()
                    && k.bytes()
                        .zip(name.bytes())
                        .all(|(a, b)| a.to_ascii_lowercase() == b || (a == b'_' && b == b'-'))
            })
            .map(|(_, v)| v)
    })
}

/// A string (or number, or boolean) as trimmed text; empty and `null` are `None`.
fn text(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    if s.is_empty() {
        return None;
    }
    Some(cut(s))
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_FIELD {
        let mut end = MAX_FIELD;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn host(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// A list, or a single value as a one-element list; `null` and missing are empty.
fn list(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other.clone()],
    }
}

/// Strings from a string or a list of strings; a single string with commas or newlines is
/// not split (policy lines are whole lines).
fn strings(v: Option<&Value>) -> Vec<String> {
    list(v)
        .iter()
        .take(MAX_DETAILS)
        .filter_map(|x| text(Some(x)))
        .collect()
}

/// A count from a number or a numeric string; anything else (and negatives) is 0.
fn count(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Number(n)) => n.as_u64().unwrap_or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                // Saturating float-to-int conversion; fractional counts are truncated.
                .map_or(0, |f| f as u64)
        }),
        Some(Value::String(s)) => {
            let s = s.trim();
            s.parse::<u64>().ok().unwrap_or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .map_or(0, |f| f as u64)
            })
        }
        _ => 0,
    }
}

/// A date-time: RFC 3339, or the common variants (space for `T`, lowercase, no zone meaning
/// UTC, a date alone), or unix seconds.
fn date(v: Option<&Value>) -> Option<OffsetDateTime> {
    match v? {
        Value::Number(n) => OffsetDateTime::from_unix_timestamp(n.as_i64()?).ok(),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
                return Some(t);
            }
            if let Ok(secs) = s.parse::<i64>() {
                return OffsetDateTime::from_unix_timestamp(secs).ok();
            }
            let mut t = s.to_ascii_uppercase().replacen(' ', "T", 1);
            if t.len() == 10 {
                t.push_str("T00:00:00");
            }
            let has_zone = t.ends_with('Z')
                || t.get(19..)
                    .is_some_and(|rest| rest.contains('+') || rest.contains('-'));
            if !has_zone {
                t.push('Z');
            }
            OffsetDateTime::parse(&t, &Rfc3339).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_dates_are_tolerant() {
        assert_eq!(count(Some(&Value::from("12"))), 12);
        assert_eq!(count(Some(&Value::from(" 7 "))), 7);
        assert_eq!(count(Some(&Value::from(-3))), 0);
        assert_eq!(count(Some(&Value::from(2.0))), 2);
        assert_eq!(count(Some(&Value::Null)), 0);
        assert_eq!(count(Some(&Value::from("many"))), 0);
        let day = |s: &str| date(Some(&Value::from(s))).map(|t| t.unix_timestamp());
        assert_eq!(day("2016-04-01T00:00:00Z"), Some(1_459_468_800));
        assert_eq!(day("2016-04-01 00:00:00"), Some(1_459_468_800));
        assert_eq!(day("2016-04-01t00:00:00z"), Some(1_459_468_800));
        assert_eq!(day("2016-04-01T02:00:00+02:00"), Some(1_459_468_800));
        assert_eq!(day("2016-04-01"), Some(1_459_468_800));
        assert_eq!(day("1459468800"), Some(1_459_468_800));
        assert_eq!(day("yesterday"), None);
    }

    #[test]
    fn keys_match_loosely() {
        let v: Value = serde_json::json!({"Report_ID": "x"});
        let o = v.as_object().unwrap();
        assert_eq!(text(get(o, "report-id")).as_deref(), Some("x"));
    }

    #[test]
    fn minimal_and_invalid() {
        let r = parse_json(
            br#"{"report-id":"1","date-range":{"start-datetime":"2020-01-01T00:00:00Z"}}"#,
        )
        .unwrap();
        assert_eq!(r.organization, "unknown");
        assert!(r.policies.is_empty());
        assert_eq!(r.end, r.start);
        assert!(matches!(
            parse_json(br#"{"date-range":{}}"#),
            Err(ReportError::Invalid(_))
        ));
        assert!(matches!(parse_json(b"[1]"), Err(ReportError::Invalid(_))));
        assert!(matches!(parse_json(b"{"), Err(ReportError::Json(_))));
    }

    #[test]
    fn long_fields_are_cut_at_char_boundaries() {
        let long = "é".repeat(1000);
        let t = text(Some(&Value::from(long))).unwrap();
        assert!(t.len() <= MAX_FIELD);
    }
}
