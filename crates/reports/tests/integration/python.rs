//! Deliveries by Python's `smtplib`, a client stsd's code has nothing to do with.

use std::process::Command;

use stsd_testkit::TestDatabase;

use crate::world::{World, message, report};

const CLIENT: &str = r#"
import smtplib, ssl, sys
port, cafile, mode, rcpt, path = sys.argv[1:]
msg = open(path, 'rb').read()
s = smtplib.SMTP('127.0.0.1', int(port), local_hostname='mta.reporter.example', timeout=30)
if mode == 'starttls':
    s.starttls(context=ssl.create_default_context(cafile=cafile))
try:
    s.sendmail('reports@reporter.example', [rcpt], msg)
    print('250')
except smtplib.SMTPRecipientsRefused as e:
    print(list(e.recipients.values())[0][0])
except smtplib.SMTPResponseException as e:
    print(e.smtp_code)
s.quit()
"#;

/// Sends `message` with `smtplib`; returns the final reply code it saw.
async fn deliver(world: &World, mode: &str, rcpt: &str, message: &str) -> u16 {
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("msg.eml");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&msg, message).unwrap();
    std::fs::write(&ca, &world.ca_pem).unwrap();
    let args = [
        "-c".to_owned(),
        CLIENT.to_owned(),
        world.addr.port().to_string(),
        ca.display().to_string(),
        mode.to_owned(),
        rcpt.to_owned(),
        msg.display().to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || Command::new("python3").args(args).output())
        .await
        .unwrap()
        .expect("python3 is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "smtplib failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

pub(crate) async fn signed_reports_plain_and_starttls(db: TestDatabase) {
    let w = World::start(db, |_| {}).await;
    let rcpt = w.rcpt();
    let contact = "mailto:tlsrpt@reporter.example";
    let first = w.sign(
        &message(&rcpt, "r-1", &report("Reporter", "r-1", contact)),
        "reporter.example",
        false,
    );
    assert_eq!(deliver(&w, "plain", &rcpt, &first).await, 250);
    let second = w.sign(
        &message(&rcpt, "r-2", &report("Reporter", "r-2", contact)),
        "reporter.example",
        false,
    );
    assert_eq!(deliver(&w, "starttls", &rcpt, &second).await, 250);
    // The first report again, over TLS: acknowledged, stored once.
    assert_eq!(deliver(&w, "starttls", &rcpt, &first).await, 250);
    let stored = w.stored().await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    for r in &stored {
        assert_eq!(r.transport, "smtp");
        assert_eq!(r.dkim.as_deref(), Some("pass"), "{r:?}");
        assert!(r.counted);
        assert!(!r.media_type_flagged);
        assert!(r.flags.is_empty(), "{r:?}");
        assert_eq!((r.successful_sessions, r.failed_sessions), (10, 1));
    }
    let day = time::Date::from_calendar_date(2026, time::Month::November, 20)
        .unwrap()
        .to_julian_day()
        - time::Date::from_calendar_date(1970, time::Month::January, 1)
            .unwrap()
            .to_julian_day();
    let totals = w
        .store
        .report_totals(
            stsd_store::ReportScope::Domain(&w.domain.tenant_id, &w.domain.id),
            i64::from(day),
            i64::from(day),
            stsd_store::TotalsBy::All,
        )
        .await
        .unwrap();
    assert_eq!(totals[0].reports, 2);
    assert_eq!(totals[0].successful_sessions, 20);
    // An unknown recipient is refused at RCPT.
    let other = format!("zzzzzzzzzz@{}", crate::world::HOST);
    assert_eq!(deliver(&w, "plain", &other, &first).await, 550);
    w.finish().await;
}

pub(crate) async fn unsigned_and_badly_signed_reports_are_not_counted(db: TestDatabase) {
    let w = World::start(db, |_| {}).await;
    let rcpt = w.rcpt();
    let contact = "mailto:tlsrpt@reporter.example";
    let unsigned = message(&rcpt, "u-1", &report("Unsigned", "u-1", contact));
    assert_eq!(deliver(&w, "plain", &rcpt, &unsigned).await, 250);
    // Signed by a domain that is not the reporter's: the key is there, the alignment is not.
    w.dns.set_txt(
        "sel._domainkey.other.example",
        &[&w.dns_record_of("reporter.example")],
    );
    let foreign = w.sign(
        &message(&rcpt, "f-1", &report("Foreign", "f-1", contact)),
        "other.example",
        false,
    );
    assert_eq!(deliver(&w, "plain", &rcpt, &foreign).await, 250);
    let limited = w.sign(
        &message(&rcpt, "l-1", &report("Limited", "l-1", contact)),
        "reporter.example",
        true,
    );
    assert_eq!(deliver(&w, "plain", &rcpt, &limited).await, 250);
    // A valid signature on a message whose headers disagree with the report: counted,
    // flagged; the report's own fields win.
    let mismatched = w.sign(
        &message(
            &rcpt,
            "m-9",
            &report("Mismatch", "m-1", "mailto:x@elsewhere.example"),
        ),
        "reporter.example",
        false,
    );
    assert_eq!(deliver(&w, "plain", &rcpt, &mismatched).await, 250);
    let stored = w.stored().await;
    let by_org = |org: &str| stored.iter().find(|r| r.organization == org).unwrap();
    assert_eq!(by_org("Unsigned").dkim.as_deref(), Some("none"));
    assert_eq!(by_org("Foreign").dkim.as_deref(), Some("fail"));
    assert_eq!(by_org("Limited").dkim.as_deref(), Some("length_limited"));
    for org in ["Unsigned", "Foreign", "Limited"] {
        assert!(!by_org(org).counted, "{org}: {:?}", by_org(org));
    }
    let m = by_org("Mismatch");
    assert!(m.counted);
    assert_eq!(m.report_id, "m-1");
    assert_eq!(m.flags, ["submitter_mismatch"]);
    let all = w
        .store
        .report_totals(
            stsd_store::ReportScope::Domain(&w.domain.tenant_id, &w.domain.id),
            0,
            100_000,
            stsd_store::TotalsBy::All,
        )
        .await
        .unwrap();
    assert_eq!(all[0].reports, 1, "only the signed report counts");
    w.finish().await;
}

/// A report built and mailed by an independent producer: `mail-auth`'s TLS-RPT generator
/// (the one the Stalwart mail server sends its reports with), signed, sent by `smtplib`.
pub(crate) async fn report_from_an_independent_producer(db: TestDatabase) {
    use mail_auth::report::tlsrpt::{
        DateRange, FailureDetails, Policy, PolicyDetails, PolicyType, ResultType, Summary,
        TlsReport,
    };
    let w = World::start(db, |_| {}).await;
    let rcpt = w.rcpt();
    let mut failure = FailureDetails::new(ResultType::CertificateExpired)
        .with_receiving_mx_hostname("mx1.example.com")
        .with_receiving_ip("192.0.2.25".parse().unwrap());
    failure.failed_session_count = 3;
    let report = TlsReport {
        organization_name: Some("Stalwart Test".to_owned()),
        date_range: DateRange::from_timestamps(1_763_596_800, 1_763_683_199),
        contact_info: Some("mailto:postmaster@reporter.example".to_owned()),
        report_id: "stalwart-1".to_owned(),
        policies: vec![Policy {
            policy: PolicyDetails {
                policy_type: PolicyType::Sts,
                policy_string: vec![
                    "version: STSv1".to_owned(),
                    "mode: testing".to_owned(),
                    "mx: mx1.example.com".to_owned(),
                    "max_age: 86400".to_owned(),
                ],
                policy_domain: "example.com".to_owned(),
                mx_host: vec!["mx1.example.com".to_owned()],
            },
            summary: Summary {
                total_success: 42,
                total_failure: 3,
            },
            failure_details: vec![failure],
        }],
    };
    let mail = report
        .to_rfc5322(
            "example.com",
            "reporter.example",
            "reports@reporter.example",
            [rcpt.as_str()].into_iter(),
        )
        .unwrap();
    let signed = w.sign(&mail, "reporter.example", false);
    assert_eq!(deliver(&w, "starttls", &rcpt, &signed).await, 250);
    let stored = w.stored().await;
    assert_eq!(stored.len(), 1);
    let r = &stored[0];
    assert_eq!(
        (r.organization.as_str(), r.report_id.as_str()),
        ("Stalwart Test", "stalwart-1")
    );
    assert_eq!(r.dkim.as_deref(), Some("pass"));
    assert!(r.counted && r.flags.is_empty(), "{r:?}");
    assert_eq!((r.successful_sessions, r.failed_sessions), (42, 3));
    w.finish().await;
}
