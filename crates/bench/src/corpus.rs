//! A generated corpus of TLS reports (RFC 8460) shaped like what real reporters send, for the
//! ingestion benchmark (`stsd-bench-reports corpus`, `bench/reports.sh`).
//!
//! Report `i` of a corpus depends only on the seed, `i`, the number of domains and the last
//! day, so a corpus is reproducible. Shapes follow `crates/core/tests/tlsrpt/data/`:
//!
//! - Google: compact one-line JSON, no `mx-host`, dates with `Z`.
//! - Microsoft: pretty-printed, counts as strings, `mx-host` as one string, the receiving MX
//!   in upper case with a trailing dot.
//! - ~18 other organizations, compact or pretty, `mx-host` as a list, UUID-like report ids.
//!
//! Every report has 1–3 policies (an `sts` policy, sometimes `tlsa` policies for the MX
//! hosts, which describe the same sessions; rarely `no-policy-found` alone) and 0–5 failure
//! details with varied result types, sending IPs (IPv4 and IPv6) and MX hosts. The policy
//! domain is `d{i}.bench.example`. Report start days are spread over the `DAYS` days ending
//! on the last day; the first `DAYS` reports all go to domain 0, one per day, so that domain
//! has a full year of daily reports whatever the corpus size.

use serde_json::{Value, json};
use time::Date;

/// Days covered by a corpus (the summary benchmark asks for a year).
pub const DAYS: u32 = 365;

/// The bench domain with index `i`.
pub fn domain_name(i: usize) -> String {
    format!("d{i}.bench.example")
}

/// SplitMix64: a small, good-enough generator with no dependency; the corpus only needs
/// variety and reproducibility, not unpredictability.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` and stream `stream` (a report index).
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.next_u64() % n
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo).saturating_add(1))
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// An index into `weights`, drawn in proportion to them.
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut x = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        0
    }

    /// A count spread over several orders of magnitude, from `lo` to about `hi`.
    pub fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let bits = 64 - hi.max(1).leading_zeros();
        let cap = 1u64 << self.range(0, u64::from(bits));
        lo.max(self.below(cap.min(hi.saturating_add(1)).max(1)))
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let n = u64::try_from(items.len()).unwrap_or(0);
        items.get(usize::try_from(self.below(n)).unwrap_or(0))
    }
}

/// How an organization writes its reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Compact JSON, no `mx-host`, id `<start>_<domain>`.
    Google,
    /// Pretty JSON, counts as strings, `mx-host` a string, id `<number>+<domain>`.
    Microsoft,
    /// Compact JSON, `mx-host` a list, UUID-like id.
    Compact,
    /// Pretty JSON, `mx-host` a list, UUID-like id.
    Pretty,
}

/// A reporting organization: name, contact, share of the reports, style, sending networks.
struct Org {
    name: &'static str,
    contact: &'static str,
    weight: u64,
    style: Style,
    /// IPv4 /16 prefixes its MTAs send from.
    v4: &'static [[u8; 2]],
    /// IPv6 /32 prefixes (two groups).
    v6: &'static [[u16; 2]],
}

// One row per organization: name, contact, weight, style, IPv4 /16s, IPv6 /32s.
#[rustfmt::skip]
const ORGS: &[Org] = &[
    org("Google Inc.", "smtp-tls-reporting@google.com", 300, Style::Google, &[[209, 85], [74, 125], [172, 217]], &[[0x2a00, 0x1450], [0x2607, 0xf8b0]]),
    org("Microsoft Corporation", "tlsrpt-noreply@microsoft.com", 220, Style::Microsoft, &[[40, 107], [52, 100], [40, 92]], &[[0x2a01, 0x0111]]),
    org("Yahoo", "tlsrpt@yahooinc.com", 60, Style::Compact, &[[66, 163], [98, 137]], &[]),
    org("Apple Inc.", "tlsrpt@apple.com", 40, Style::Compact, &[[17, 58]], &[]),
    org("Comcast", "tlsrpt@comcast.net", 30, Style::Pretty, &[[96, 114]], &[[0x2001, 0x0558]]),
    org("Mail.Ru", "tlsrpt@corp.mail.ru", 25, Style::Compact, &[[94, 100], [185, 5]], &[]),
    org("Yandex", "tlsrpt@yandex-team.ru", 25, Style::Compact, &[[77, 88], [5, 255]], &[[0x2a02, 0x06b8]]),
    org("GMX", "tlsrpt@gmx.net", 20, Style::Pretty, &[[212, 227]], &[]),
    org("WEB.DE", "tlsrpt@web.de", 15, Style::Pretty, &[[217, 72]], &[]),
    org("Fastmail Pty Ltd", "tlsrpt@fastmail.com", 15, Style::Compact, &[[103, 168], [66, 111]], &[]),
    org("Proton AG", "tlsrpt@proton.me", 15, Style::Compact, &[[185, 70]], &[]),
    org("Zoho Corporation", "tlsrpt@zohocorp.com", 12, Style::Pretty, &[[136, 143]], &[]),
    org("Cisco Systems, Inc.", "tlsrpt@cisco.com", 10, Style::Compact, &[[173, 37]], &[]),
    org("Mimecast", "tlsrpt@mimecast.com", 10, Style::Pretty, &[[205, 139], [185, 58]], &[]),
    org("Proofpoint, Inc.", "tlsrpt@proofpoint.com", 10, Style::Compact, &[[148, 163], [67, 231]], &[]),
    org("Amazon Web Services", "tlsrpt@amazonses.com", 10, Style::Compact, &[[54, 240], [23, 251]], &[]),
    org("mailbox.org", "tlsrpt@mailbox.org", 8, Style::Pretty, &[[80, 241]], &[[0x2001, 0x067c]]),
    org("Posteo e.K.", "tlsrpt@posteo.de", 6, Style::Compact, &[[185, 67]], &[]),
    org("Seznam.cz", "tlsrpt@seznam.cz", 5, Style::Pretty, &[[77, 75]], &[]),
    org("Hornetsecurity", "tlsrpt@hornetsecurity.com", 4, Style::Compact, &[[94, 100]], &[]),
];

const fn org(
    name: &'static str,
    contact: &'static str,
    weight: u64,
    style: Style,
    v4: &'static [[u8; 2]],
    v6: &'static [[u16; 2]],
) -> Org {
    Org {
        name,
        contact,
        weight,
        style,
        v4,
        v6,
    }
}

/// Result types with their share among failure details; the last one is not in RFC 8460
/// (the list is extensible and reporters send such values).
const RESULTS: &[(&str, u64)] = &[
    ("starttls-not-supported", 22),
    ("certificate-host-mismatch", 18),
    ("certificate-expired", 10),
    ("certificate-not-trusted", 14),
    ("validation-failure", 12),
    ("sts-policy-fetch-error", 10),
    ("sts-policy-invalid", 3),
    ("sts-webpki-invalid", 4),
    ("tlsa-invalid", 2),
    ("dnssec-invalid", 2),
    ("dane-required", 1),
    ("x-greylisted", 2),
];

const REASON_CODES: &[&str] = &[
    "X509_V_ERR_CERT_HAS_EXPIRED",
    "X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT",
    "X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    "X509_V_ERR_HOSTNAME_MISMATCH",
    "421 4.7.0 TLS not available",
];

/// One generated report.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Index of its domain (`d{domain}.bench.example`).
    pub domain: usize,
    /// Day of its start, counted from the first day of the corpus (0 to `DAYS - 1`).
    pub day: u32,
    /// The report's JSON text.
    pub json: Vec<u8>,
}

/// What a corpus is made of.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Number of domains (at least 1).
    pub domains: usize,
    /// The seed.
    pub seed: u64,
    /// The last day (UTC) of the range; the first is `DAYS - 1` days before.
    pub last_day: Date,
}

impl Spec {
    /// The first day of the range.
    pub fn first_day(&self) -> Date {
        self.last_day
            .checked_sub(time::Duration::days(i64::from(DAYS) - 1))
            .unwrap_or(self.last_day)
    }

    /// Report number `i`.
    pub fn report(&self, i: usize) -> anyhow::Result<Generated> {
        let mut rng = Rng::new(self.seed, i as u64);
        let domains = u64::try_from(self.domains.max(1))?;
        let (domain, day) = if i < DAYS as usize {
            (0, u32::try_from(i)?)
        } else {
            (
                usize::try_from(rng.below(domains))?,
                u32::try_from(rng.below(u64::from(DAYS)))?,
            )
        };
        let date = self
            .first_day()
            .checked_add(time::Duration::days(i64::from(day)))
            .ok_or_else(|| anyhow::anyhow!("date out of range"))?;
        let weights: Vec<u64> = ORGS.iter().map(|o| o.weight).collect();
        let org = ORGS
            .get(rng.weighted(&weights))
            .ok_or_else(|| anyhow::anyhow!("no organization"))?;
        let value = report(&mut rng, org, &domain_name(domain), date, i);
        let json = match org.style {
            Style::Google | Style::Compact => serde_json::to_vec(&value)?,
            Style::Microsoft | Style::Pretty => serde_json::to_vec_pretty(&value)?,
        };
        Ok(Generated { domain, day, json })
    }
}

fn ipv4(rng: &mut Rng, org: &Org) -> String {
    let p = rng.pick(org.v4).copied().unwrap_or([192, 0]);
    format!("{}.{}.{}.{}", p[0], p[1], rng.below(256), rng.range(1, 254))
}

fn sending_ip(rng: &mut Rng, org: &Org) -> String {
    match rng.pick(org.v6) {
        Some(p) if rng.chance(30) => format!(
            "{:x}:{:x}:{:x}:{:x}::{:x}",
            p[0],
            p[1],
            rng.below(0x1_0000),
            rng.below(0x1_0000),
            rng.range(1, 0xfff)
        ),
        _ => ipv4(rng, org),
    }
}

fn receiving_ip(rng: &mut Rng, mx: u64) -> String {
    if rng.chance(20) {
        format!("2001:db8:{mx:x}::{:x}", rng.range(1, 0xff))
    } else {
        format!("203.0.113.{}", mx * 10 + rng.below(10))
    }
}

fn hex(rng: &mut Rng, len: usize) -> String {
    let mut s = String::with_capacity(len);
    while s.len() < len {
        s.push_str(&format!("{:016x}", rng.next_u64()));
    }
    s.truncate(len);
    s
}

fn report_id(rng: &mut Rng, org: &Org, domain: &str, date: Date, i: usize) -> String {
    match org.style {
        // Google's ids name the day and the domain; the index keeps them unique when the
        // corpus has several reports of one organization for one domain and day.
        Style::Google => format!("{date}T00:00:00Z_{domain}_{i}"),
        Style::Microsoft => format!(
            "{}{:06}+{domain}",
            133_000_000_000_u64 + rng.below(999_999_999),
            i % 1_000_000
        ),
        Style::Compact | Style::Pretty => {
            let h = hex(rng, 20);
            format!(
                "{}-{}-{}-{}-{i:012x}",
                h.get(..8).unwrap_or_default(),
                h.get(8..12).unwrap_or_default(),
                h.get(12..16).unwrap_or_default(),
                h.get(16..20).unwrap_or_default()
            )
        }
    }
}

/// A count as the organization writes it (Microsoft sends strings).
fn count(org: &Org, n: u64) -> Value {
    if org.style == Style::Microsoft {
        Value::String(n.to_string())
    } else {
        json!(n)
    }
}

fn failure_details(rng: &mut Rng, org: &Org, domain: &str, mx_count: u64) -> Vec<(u64, Value)> {
    let n = rng.weighted(&[25, 20, 17, 14, 12, 12]);
    let results: Vec<u64> = RESULTS.iter().map(|r| r.1).collect();
    (0..n)
        .map(|_| {
            let result = RESULTS
                .get(rng.weighted(&results))
                .map_or("validation-failure", |r| r.0);
            let mx = rng.range(1, mx_count);
            let failed = rng.log_uniform(1, 2_000);
            let mut d = serde_json::Map::new();
            d.insert("result-type".into(), json!(result));
            if !rng.chance(5) {
                d.insert("sending-mta-ip".into(), json!(sending_ip(rng, org)));
            }
            let mx_name = if org.style == Style::Microsoft {
                format!("MX{mx}.{}.", domain.to_ascii_uppercase())
            } else {
                format!("mx{mx}.{domain}")
            };
            if result != "sts-policy-fetch-error" || rng.chance(50) {
                d.insert("receiving-mx-hostname".into(), json!(mx_name));
            }
            if rng.chance(60) {
                d.insert("receiving-ip".into(), json!(receiving_ip(rng, mx)));
            }
            if rng.chance(10) {
                d.insert(
                    "receiving-mx-helo".into(),
                    json!(format!("mx{mx}-{}", hex(rng, 6))),
                );
            }
            d.insert("failed-session-count".into(), count(org, failed));
            if rng.chance(40) {
                d.insert(
                    "additional-information".into(),
                    json!(format!(
                        "https://tlsrpt.{}/info?report={}#{result}",
                        org.contact.split('@').nth(1).unwrap_or("reporter.example"),
                        hex(rng, 24)
                    )),
                );
            }
            if rng.chance(30)
                && let Some(code) = rng.pick(REASON_CODES)
            {
                d.insert("failure-reason-code".into(), json!(code));
            }
            (failed, Value::Object(d))
        })
        .collect()
}

fn report(rng: &mut Rng, org: &Org, domain: &str, date: Date, i: usize) -> Value {
    let mx_count = rng.range(1, 4);
    let mxs: Vec<String> = (1..=mx_count).map(|m| format!("mx{m}.{domain}")).collect();
    let details = failure_details(rng, org, domain, mx_count);
    let failed: u64 = details.iter().map(|d| d.0).sum();
    let ok = rng.log_uniform(1, 50_000);
    let details: Vec<Value> = details.into_iter().map(|d| d.1).collect();
    let summary = json!({
        "total-successful-session-count": count(org, ok),
        "total-failure-session-count": count(org, failed),
    });
    let with_details = |mut p: serde_json::Map<String, Value>| {
        p.insert("summary".into(), summary.clone());
        if !details.is_empty() || writes_empty_details(org) {
            p.insert("failure-details".into(), Value::Array(details.clone()));
        }
        Value::Object(p)
    };
    let mut policies = Vec::new();
    if rng.chance(3) {
        // A domain whose policy the sender could not find at all.
        let mut p = serde_json::Map::new();
        p.insert(
            "policy".into(),
            json!({ "policy-type": "no-policy-found", "policy-domain": domain }),
        );
        policies.push(with_details(p));
    } else {
        let mut lines = vec![
            "version: STSv1".to_owned(),
            format!(
                "mode: {}",
                if rng.chance(40) { "enforce" } else { "testing" }
            ),
        ];
        lines.extend(mxs.iter().map(|m| format!("mx: {m}")));
        let max_age = [86_400, 604_800, 1_209_600]
            .get(rng.weighted(&[2, 5, 3]))
            .copied()
            .unwrap_or(86_400);
        lines.push(format!("max_age: {max_age}"));
        let mut sts = serde_json::Map::new();
        sts.insert("policy-type".into(), json!("sts"));
        sts.insert("policy-string".into(), json!(lines));
        sts.insert("policy-domain".into(), json!(domain));
        match org.style {
            Style::Google => {}
            Style::Microsoft => {
                sts.insert("mx-host".into(), json!(mxs.first()));
            }
            Style::Compact | Style::Pretty => {
                sts.insert("mx-host".into(), json!(mxs));
            }
        }
        let mut p = serde_json::Map::new();
        p.insert("policy".into(), Value::Object(sts));
        policies.push(with_details(p));
        // DANE alongside MTA-STS: one `tlsa` policy per MX (up to two), the same sessions.
        let tlsa = rng.weighted(&[70, 20, 10]).min(mxs.len());
        for mx in mxs.iter().take(tlsa) {
            let mut p = serde_json::Map::new();
            p.insert(
                "policy".into(),
                json!({
                    "policy-type": "tlsa",
                    "policy-string": [format!("3 1 1 {}", hex(rng, 64).to_ascii_uppercase())],
                    "policy-domain": domain,
                    "mx-host": mx,
                }),
            );
            policies.push(with_details(p));
        }
    }
    let start = format!("{date}T00:00:00Z");
    let end = format!("{date}T23:59:59Z");
    json!({
        "organization-name": org.name,
        "date-range": { "start-datetime": start, "end-datetime": end },
        "contact-info": org.contact,
        "report-id": report_id(rng, org, domain, date, i),
        "policies": policies,
    })
}

/// Whether an organization writes `"failure-details": []` when there are none (Microsoft
/// and the pretty printers do; Google and the compact ones leave the member out).
fn writes_empty_details(org: &Org) -> bool {
    matches!(org.style, Style::Microsoft | Style::Pretty)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use stsd_core::tlsrpt;
    use time::macros::date;

    fn spec() -> Spec {
        Spec {
            domains: 10,
            seed: 7,
            last_day: date!(2026 - 11 - 30),
        }
    }

    #[test]
    fn reports_parse_and_are_reproducible() {
        let s = spec();
        let mut orgs = BTreeSet::new();
        let mut results = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for i in 0..2_000 {
            let g = s.report(i).unwrap();
            assert_eq!(g.json, s.report(i).unwrap().json);
            let r = tlsrpt::parse_json(&g.json).unwrap();
            assert_eq!(r.policy_domain(), Some(domain_name(g.domain).as_str()));
            assert!((1..=3).contains(&r.policies.len()));
            let first = r.policies.first().unwrap();
            assert!(first.failures.len() <= 5);
            let sum: u64 = first.failures.iter().map(|f| f.failed_sessions).sum();
            assert_eq!(first.failed_sessions, sum);
            assert_eq!(
                r.start.date(),
                s.first_day() + time::Duration::days(i64::from(g.day))
            );
            results.extend(first.failures.iter().map(|f| f.result_type.clone()));
            assert!(keys.insert((r.organization.clone(), r.report_id.clone())));
            orgs.insert(r.organization);
        }
        assert!(orgs.len() >= 15, "{orgs:?}");
        assert!(results.len() >= 10, "{results:?}");
    }

    #[test]
    fn domain_zero_has_a_report_every_day() {
        let s = spec();
        let days: BTreeSet<u32> = (0..DAYS as usize)
            .map(|i| s.report(i).unwrap())
            .inspect(|g| assert_eq!(g.domain, 0))
            .map(|g| g.day)
            .collect();
        assert_eq!(days.len(), DAYS as usize);
        assert_eq!(s.first_day(), date!(2025 - 12 - 01));
    }

    #[test]
    fn weighted_and_ranges_stay_in_bounds() {
        let mut r = Rng::new(1, 2);
        for _ in 0..10_000 {
            assert!(r.weighted(&[1, 0, 3]) != 1);
            assert!((5..=9).contains(&r.range(5, 9)));
            assert!((1..=2_000).contains(&r.log_uniform(1, 2_000)));
        }
        assert_eq!(r.below(0), 0);
    }
}
