//! TXT mode only: the `_mta-sts.<d>` TXT record the customer publishes, whose `id` must be
//! the one of the policy version stsd serves, or senders keep a stale policy.

use stsd_core::StsRecord;

use super::Subject;
use crate::dns::Dns;
use stsd_core::{CheckName, CheckResult, Outcome};

const NAME: CheckName = CheckName::StsRecord;

pub(super) async fn check(dns: &Dns, s: &Subject<'_>) -> CheckResult {
    let record = s.name("_mta-sts");
    let texts = match dns.txt(&record).await {
        Ok(texts) => texts,
        Err(failure) => return CheckResult::lookup_error(NAME, &record, &failure.detail),
    };
    let publish = s
        .live_id
        .map(|id| format!("Publish this record: {record}. TXT \"v=STSv1; id={id};\""));
    let sts: Vec<&String> = texts
        .iter()
        .filter(|t| t.trim_start().to_ascii_lowercase().starts_with("v=stsv1"))
        .collect();
    let one = match sts.as_slice() {
        [] => {
            return CheckResult::new(
                NAME,
                &record,
                Outcome::Fail,
                format!(
                    "There is no MTA-STS record at {record}, so senders do not look for the \
                     policy."
                ),
                publish,
            );
        }
        [one] => one,
        more => {
            return CheckResult::new(
                NAME,
                &record,
                Outcome::Fail,
                format!(
                    "{record} holds {} MTA-STS records; with more than one, senders ignore \
                     the policy (RFC 8461).",
                    more.len()
                ),
                publish.map(|p| format!("Delete all but one record. {p}")),
            );
        }
    };
    let parsed = match StsRecord::parse(one) {
        Ok(parsed) => parsed,
        Err(err) => {
            return CheckResult::new(
                NAME,
                &record,
                Outcome::Fail,
                format!("{record} holds an invalid MTA-STS record \"{one}\" ({err})."),
                publish.map(|p| format!("Replace the record. {p}")),
            );
        }
    };
    match s.live_id {
        None => CheckResult::new(
            NAME,
            &record,
            Outcome::Warn,
            format!(
                "{record} announces id {}, but stsd serves no policy for this domain yet.",
                parsed.id
            ),
            None,
        ),
        Some(live) if parsed.id.as_str() == live => CheckResult::new(
            NAME,
            &record,
            Outcome::Pass,
            format!("{record} announces id {live}, the id of the policy stsd serves."),
            None,
        ),
        Some(live) => CheckResult::new(
            NAME,
            &record,
            Outcome::Warn,
            format!(
                "{record} announces id {}, but the policy stsd serves has id {live}: senders \
                 that cached the old policy do not fetch the new one.",
                parsed.id
            ),
            publish.map(|p| format!("Update the record. {p}")),
        ),
    }
}
