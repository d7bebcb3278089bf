use stsd_core::tlsrpt::{Encoding, decode, explain, parse};

fn data(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/tlsrpt/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn rfc_example() {
    let r = parse(&data("rfc8460-example.json")).unwrap();
    assert_eq!(r.organization, "Company-X");
    assert_eq!(
        r.contact.as_deref(),
        Some("sts-reporting@company-x.example")
    );
    assert_eq!(r.report_id, "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
    assert_eq!(r.start.unix_timestamp(), 1_459_468_800);
    assert_eq!(r.policy_domain(), Some("company-y.example"));
    let p = &r.policies[0];
    assert_eq!(p.policy_type, "sts");
    assert_eq!(p.policy_strings.len(), 4);
    assert_eq!(p.mx_hosts, ["*.mail.company-y.example"]);
    assert_eq!((p.successful_sessions, p.failed_sessions), (5326, 303));
    assert_eq!(p.failures.len(), 3);
    let v = &p.failures[2];
    assert_eq!(v.result_type, "validation-failure");
    assert_eq!(v.sending_mta_ip.as_deref(), Some("198.51.100.62"));
    assert_eq!(v.receiving_ip.as_deref(), Some("203.0.113.58"));
    assert_eq!(
        v.failure_reason_code.as_deref(),
        Some("X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED")
    );
    assert!(p.failures[1].additional_information.is_some());
    for f in &p.failures {
        assert!(explain(&f.result_type).known);
    }
}

#[test]
fn google_gzip_equals_plain() {
    let gz = data("google-style.json.gz");
    assert_eq!(decode(&gz, 1 << 20).unwrap().encoding, Encoding::Gzip);
    let r = parse(&gz).unwrap();
    assert_eq!(r, parse(&data("google-style.json")).unwrap());
    assert_eq!(r.organization, "Google Inc.");
    assert!(r.policies[0].mx_hosts.is_empty());
    assert!(r.policies[0].failures.is_empty());
    assert_eq!(r.successful_sessions(), 42);
}

#[test]
fn microsoft_strings_for_numbers_and_single_mx() {
    let r = parse(&data("microsoft-style.json")).unwrap();
    let p = &r.policies[0];
    assert_eq!(p.mx_hosts, ["mx1.example.com"]);
    assert_eq!((p.successful_sessions, p.failed_sessions), (17, 2));
    assert_eq!(p.failures[0].failed_sessions, 2);
    assert_eq!(
        p.failures[0].receiving_mx_hostname.as_deref(),
        Some("mx1.example.com")
    );
}

#[test]
fn quirks_are_tolerated() {
    let r = parse(&data("quirky.json")).unwrap();
    assert_eq!(r.organization, "Small Mail Co");
    assert_eq!(r.report_id, "987654321");
    assert_eq!(r.contact, None);
    assert_eq!(r.policy_domain(), None);
    assert_eq!(r.start.unix_timestamp(), 1_795_132_800);
    assert_eq!(r.end.unix_timestamp(), 1_795_219_200);
    let p = &r.policies[0];
    assert_eq!(p.policy_type, "no-policy-found");
    assert!(p.policy_strings.is_empty());
    assert_eq!(p.failures[0].sending_mta_ip, None);
    assert_eq!(p.failures[1].result_type, "x-greylisted");
    assert!(!explain("x-greylisted").known);
    assert_eq!(r.failed_sessions(), 5);
}

#[test]
fn policies_of_one_report_are_not_added() {
    let r = parse(&data("two-policies.json")).unwrap();
    assert_eq!(r.policies.len(), 2);
    assert_eq!(r.successful_sessions(), 10);
    assert_eq!(r.failed_sessions(), 3);
    assert_eq!(
        r.failures_by_result_and_mx(),
        [(
            "certificate-expired".to_owned(),
            "mx1.example.com".to_owned(),
            3
        )]
    );
}

/// parsedmarc's real samples (see `data/parsedmarc/README.md`).
#[test]
fn real_samples_from_parsedmarc() {
    let r = parse(&data("parsedmarc/mail.ru.json")).unwrap();
    assert_eq!(r.organization, "Mail.ru");
    assert_eq!(r.policy_domain(), Some("example.com"));
    let p = &r.policies[0];
    assert!(p.policy_strings.is_empty() && p.mx_hosts.is_empty());
    assert_eq!(p.failed_sessions, 1);
    assert_eq!(p.failures.len(), 2);
    assert_eq!(
        p.failures[0].failure_reason_code.as_deref(),
        Some("bad https response code: 404")
    );

    let r = parse(&data("parsedmarc/smtp_tls.json")).unwrap();
    assert_eq!(r.failed_sessions(), 3);
    let f = &r.policies[0].failures[0];
    assert_eq!(f.result_type, "validation-failure");
    assert_eq!(f.sending_mta_ip.as_deref(), Some("209.85.222.201"));
    assert_eq!(f.receiving_ip.as_deref(), Some("173.212.201.41"));

    // Empty strings are absent values, not hosts or addresses.
    let r = parse(&data("parsedmarc/empty_failure_detail_fields.json")).unwrap();
    let f = &r.policies[0].failures[0];
    assert_eq!(f.result_type, "sts-policy-fetch-error");
    assert_eq!(f.failure_reason_code.as_deref(), Some("no-policy-served"));
    assert!(f.receiving_mx_hostname.as_deref().is_none_or(str::is_empty));
    assert!(f.sending_mta_ip.as_deref().is_none_or(str::is_empty));
}
