//! `_smtp._tls.<d>` CNAME to `<label>.report.<zone>`: where senders send TLS reports.

use stsd_core::TlsRptRecord;

use super::{Subject, Target, classify};
use crate::dns::Dns;
use stsd_core::{CheckName, CheckResult, Outcome};

const NAME: CheckName = CheckName::Tlsrpt;

pub(super) async fn check(dns: &Dns, s: &Subject<'_>) -> CheckResult {
    let record = s.name("_smtp._tls");
    let expected = s.service("report");
    let publish = format!(
        "Publish this record: {}",
        s.cname_line("_smtp._tls", "report")
    );
    let cname = match dns.cname(&record).await {
        Ok(cname) => cname,
        Err(failure) => return CheckResult::lookup_error(NAME, &record, &failure.detail),
    };
    let via = match cname.as_deref().map(|t| classify(s, "report", t)) {
        Some(Target::Ours) => {
            return CheckResult::new(
                NAME,
                &record,
                Outcome::Pass,
                format!("{record} is an alias of {expected}: TLS reports come to stsd."),
                None,
            );
        }
        Some(Target::OtherLabel(other)) => {
            return CheckResult::new(
                NAME,
                &record,
                Outcome::Fail,
                format!(
                    "{record} is an alias of {other}.report.{}, which belongs to another \
                     registration of this domain: its reports do not reach this one.",
                    s.zone
                ),
                Some(format!("Replace the CNAME record. {publish}")),
            );
        }
        Some(Target::Elsewhere(target)) => Some(target),
        None => None,
    };
    // Not ours: the customer may run TLS reporting themselves, which is fine for MTA-STS.
    let texts = match dns.txt(&record).await {
        Ok(texts) => texts,
        Err(failure) => return CheckResult::lookup_error(NAME, &record, &failure.detail),
    };
    let reporting: Vec<&String> = texts
        .iter()
        .filter(|t| {
            t.trim_start()
                .to_ascii_lowercase()
                .starts_with("v=tlsrptv1")
        })
        .collect();
    let place = match &via {
        Some(target) => format!("{record} (an alias of {target})"),
        None => record.clone(),
    };
    match reporting.as_slice() {
        [] => CheckResult::new(
            NAME,
            &record,
            Outcome::Fail,
            format!(
                "There is no TLS reporting record at {place}, so senders do not report \
                 failed TLS connections to your mail servers."
            ),
            Some(publish),
        ),
        [one] => match TlsRptRecord::parse(one) {
            Ok(own) => CheckResult::new(
                NAME,
                &record,
                Outcome::Warn,
                format!(
                    "{place} publishes your own TLS reporting record: reports go to {}, not \
                     to stsd, so stsd shows no reports for this domain.",
                    own.rua
                        .iter()
                        .map(|uri| uri.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(format!(
                    "Nothing is required. To see reports in stsd, replace your record. {publish}"
                )),
            ),
            Err(err) => CheckResult::new(
                NAME,
                &record,
                Outcome::Fail,
                format!(
                    "{place} holds an invalid TLS reporting record \"{one}\" ({err}); senders \
                     ignore it."
                ),
                Some(format!("Replace the record. {publish}")),
            ),
        },
        _ => CheckResult::new(
            NAME,
            &record,
            Outcome::Fail,
            format!(
                "{place} holds {} TLS reporting records; with more than one, senders send no \
                 reports at all (RFC 8460).",
                reporting.len()
            ),
            Some(format!("Delete all but one record. {publish}")),
        ),
    }
}
