//! Bad input never panics: arbitrary bytes, and arbitrary JSON shaped like a report; the
//! origin rule holds for any names.

use proptest::prelude::*;
use stsd_core::tlsrpt::{
    contact_host, decode, gzip, organizational_domain, parse, parse_json, within,
};

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[a-z0-9 :.-]{0,20}".prop_map(serde_json::Value::from),
        prop_oneof![
            Just("2026-11-20T00:00:00Z"),
            Just("sts"),
            Just("starttls-not-supported"),
            Just("12"),
        ]
        .prop_map(serde_json::Value::from),
    ];
    let keys = prop_oneof![
        Just("organization-name"),
        Just("report-id"),
        Just("date-range"),
        Just("start-datetime"),
        Just("policies"),
        Just("policy"),
        Just("summary"),
        Just("failure-details"),
        Just("policy-domain"),
        Just("mx-host"),
        Just("result-type"),
        Just("failed-session-count"),
        Just("total-successful-session-count"),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(keys.clone().prop_map(str::to_owned), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
        let _ = parse(&gzip(&bytes));
    }

    #[test]
    fn report_shaped_json_does_not_panic(value in json_value()) {
        let text = serde_json::to_vec(&value).unwrap();
        if let Ok(decoded) = decode(&text, 1 << 20)
            && let Ok(report) = parse_json(&decoded.json)
        {
            let _ = report.failures_by_result_and_mx();
            // The report's sessions are its largest policy's, never a sum.
            for p in &report.policies {
                prop_assert!(report.successful_sessions() >= p.successful_sessions);
                prop_assert!(report.failed_sessions() >= p.failed_sessions);
            }
        }
    }

    #[test]
    fn contact_info_never_panics(contact in "\\PC{0,80}") {
        if let Some(host) = contact_host(&contact) {
            let _ = organizational_domain(&host);
        }
    }

    /// A host is within its own organizational domain, whatever is below it, and a name
    /// that merely ends in the same letters is not.
    #[test]
    fn hosts_are_within_their_organizational_domain(
        below in prop::collection::vec("[a-z0-9]{1,10}", 0..4),
        org in "[a-z][a-z0-9]{0,10}",
        tld in prop_oneof![Just("com"), Just("co.uk"), Just("net"), Just("example")],
    ) {
        let registrable = format!("{org}.{tld}");
        // Some such names are public suffixes themselves (`cn.com` is one, in the PSL's
        // private section): then the organizational domain is one label further down.
        prop_assume!(
            organizational_domain(&registrable).is_some_and(|d| d.as_str() == registrable)
        );
        let mut labels = below.clone();
        labels.push(registrable.clone());
        let host = labels.join(".");
        let od = organizational_domain(&host).unwrap();
        prop_assert_eq!(od.as_str(), registrable.as_str());
        let dotted = format!("{host}.");
        let lookalike = format!("x{registrable}");
        prop_assert!(within(&dotted, &od));
        prop_assert!(!within(&lookalike, &od));
    }
}
