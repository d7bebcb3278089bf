//! Ownership: `_mta-sts.<d>` CNAME to `<label>.policy.<zone>`, or in TXT mode the
//! `_mta-sts-verify.<d>` TXT `stsd-verify=<label>`.

use stsd_store::Ownership;

use super::{Subject, Target, classify};
use crate::dns::Dns;
use stsd_core::{CheckName, CheckResult, Outcome};

const NAME: CheckName = CheckName::Ownership;

pub(super) async fn check(dns: &Dns, s: &Subject<'_>) -> CheckResult {
    match s.ownership {
        Ownership::Cname => by_cname(dns, s).await,
        Ownership::Txt => by_txt(dns, s).await,
    }
}

async fn by_cname(dns: &Dns, s: &Subject<'_>) -> CheckResult {
    let record = s.name("_mta-sts");
    let expected = s.service("policy");
    let publish = format!(
        "Publish this record: {}",
        s.cname_line("_mta-sts", "policy")
    );
    let cname = match dns.cname(&record).await {
        Ok(cname) => cname,
        Err(failure) => return CheckResult::lookup_error(NAME, &record, &failure.detail),
    };
    match cname.as_deref().map(|t| classify(s, "policy", t)) {
        Some(Target::Ours) => CheckResult::new(
            NAME,
            &record,
            Outcome::Pass,
            format!("{record} is an alias of {expected}: ownership is proven."),
            None,
        ),
        Some(Target::OtherLabel(other)) => CheckResult::new(
            NAME,
            &record,
            Outcome::Fail,
            format!(
                "{record} is an alias of {other}.policy.{}, which belongs to another \
                 registration of this domain (perhaps in another account), not to this one. \
                 Only the registration the record names is served.",
                s.zone
            ),
            Some(format!("Replace the CNAME record. {publish}")),
        ),
        Some(Target::Elsewhere(target)) => CheckResult::new(
            NAME,
            &record,
            Outcome::Fail,
            format!("{record} is an alias of {target}, not of {expected}."),
            Some(format!("Replace the CNAME record. {publish}")),
        ),
        None => {
            // A customer moving from self-hosted MTA-STS often still has the TXT record; a
            // CNAME cannot sit next to it, so say so instead of only "missing".
            let own_record = dns
                .txt(&record)
                .await
                .unwrap_or_default()
                .into_iter()
                .find(|txt| txt.trim_start().to_ascii_lowercase().starts_with("v=stsv1"));
            match own_record {
                Some(txt) => CheckResult::new(
                    NAME,
                    &record,
                    Outcome::Fail,
                    format!(
                        "{record} holds your own MTA-STS record \"{txt}\" instead of a CNAME to \
                         {expected}. A CNAME cannot coexist with other records at the same name."
                    ),
                    Some(format!(
                        "Delete the TXT record at {record}. {publish} (Or register the domain in \
                         TXT mode to keep publishing the record yourself.)"
                    )),
                ),
                None => CheckResult::new(
                    NAME,
                    &record,
                    Outcome::Fail,
                    format!("There is no CNAME record at {record}, so ownership is not proven."),
                    Some(publish),
                ),
            }
        }
    }
}

async fn by_txt(dns: &Dns, s: &Subject<'_>) -> CheckResult {
    let record = s.name("_mta-sts-verify");
    let expected = format!("stsd-verify={}", s.label);
    let publish = format!("Publish this record: {record}. TXT \"{expected}\"");
    let texts = match dns.txt(&record).await {
        Ok(texts) => texts,
        Err(failure) => return CheckResult::lookup_error(NAME, &record, &failure.detail),
    };
    if texts
        .iter()
        .any(|t| t.trim().eq_ignore_ascii_case(&expected))
    {
        return CheckResult::new(
            NAME,
            &record,
            Outcome::Pass,
            format!("{record} holds \"{expected}\": ownership is proven."),
            None,
        );
    }
    let others: Vec<&str> = texts
        .iter()
        .map(|t| t.trim())
        .filter(|t| t.to_ascii_lowercase().starts_with("stsd-verify="))
        .collect();
    match (s.ownership_proven, others.is_empty()) {
        // The TXT proves ownership once; after that its absence is expected.
        (true, true) => CheckResult::new(
            NAME,
            &record,
            Outcome::Pass,
            format!("Ownership was proven earlier; the record at {record} is no longer needed."),
            None,
        ),
        (true, false) => CheckResult::new(
            NAME,
            &record,
            Outcome::Warn,
            format!(
                "Ownership was proven earlier, but {record} now holds \"{}\", which names \
                 another registration.",
                others.join("\", \"")
            ),
            Some(format!(
                "Delete the record at {record}, or set it to \"{expected}\"."
            )),
        ),
        (false, true) => CheckResult::new(
            NAME,
            &record,
            Outcome::Fail,
            format!(
                "There is no \"{expected}\" TXT record at {record}, so ownership is not proven."
            ),
            Some(publish),
        ),
        (false, false) => CheckResult::new(
            NAME,
            &record,
            Outcome::Fail,
            format!(
                "{record} holds \"{}\", which names another registration, not this one.",
                others.join("\", \"")
            ),
            Some(format!("Replace the TXT record. {publish}")),
        ),
    }
}
