//! The HTTPS receiver against a forger and a flood: what an attacker POSTs does not change a
//! domain's success rate under the default setting, floods are refused with 429 per source
//! and per label while others go on, and a reporter whose address's forward-confirmed
//! reverse DNS lies within its domain is verified.

use std::net::{IpAddr, Ipv4Addr};

use stsd_reports::ReceiverLimits;
use stsd_store::{Domain, LeftOut, ReportOrigin, ReportScope, Store, TotalsBy};
use stsd_testkit::TestDatabase;

use crate::https_world::{HttpsWorld, REPORTER_ADDR, REPORTER_LOOPBACK, report};

/// The UTC day of the reports (2026-11-20).
fn report_day() -> i64 {
    time::macros::date!(2026 - 11 - 20)
        .midnight()
        .assume_utc()
        .unix_timestamp()
        .div_euclid(86_400)
}

/// (reports, successful, failed) as the domain's summary counts them.
async fn counted(store: &Store, domain: &Domain) -> (i64, i64, i64) {
    let day = report_day();
    let t = store
        .report_totals(
            ReportScope::Domain(&domain.tenant_id, &domain.id),
            day,
            day,
            TotalsBy::All,
        )
        .await
        .unwrap();
    t.first().map_or((0, 0, 0), |t| {
        (t.reports, t.successful_sessions, t.failed_sessions)
    })
}

/// The reporter's mail server: PTR and A within reporter.example.
fn publish_reporter(w: &HttpsWorld) {
    w.dns.set_ptr(
        IpAddr::from(REPORTER_ADDR),
        &["out-1.mail.reporter.example"],
    );
    w.dns.set_a(
        "out-1.mail.reporter.example",
        &[Ipv4Addr::from(REPORTER_ADDR)],
    );
}

const REPORTER: (&str, &str) = ("Reporter Inc.", "tlsrpt@reporter.example");

/// The finding: anyone could POST a report claiming 999,999 failures for any label and turn
/// the domain's success rate to 0. Now the forgery is stored and shown, flagged, and left
/// out of every count, whichever organization it claims to be.
pub(crate) async fn a_forged_report_does_not_move_the_success_rate(db: TestDatabase) {
    let w = HttpsWorld::start(db, ReceiverLimits::default()).await;
    publish_reporter(&w);
    let label = w.domain.label.as_str().to_owned();
    let honest = report(
        REPORTER.0,
        REPORTER.1,
        "honest-1",
        "example.com",
        (1000, 0),
        0,
    );
    let a = w.post(REPORTER_LOOPBACK, &label, honest).await;
    assert_eq!(a.status, 201, "{a:?}");
    assert_eq!(counted(&w.store, &w.domain).await, (1, 1000, 0));

    for (organization, contact, id) in [
        ("Google Inc.", "smtp-tls-reporting@google.com", "forged-1"),
        (REPORTER.0, REPORTER.1, "forged-2"),
    ] {
        let forged = report(organization, contact, id, "example.com", (0, 999_999), 0);
        let a = w.post("127.0.0.2", &label, forged).await;
        // Stored (reports are never refused for being unverified), not counted.
        assert_eq!(a.status, 201, "{a:?}");
    }
    assert_eq!(
        counted(&w.store, &w.domain).await,
        (1, 1000, 0),
        "the success rate stays 100%"
    );
    let day = report_day();
    assert_eq!(
        w.store
            .reports_left_out(
                ReportScope::Domain(&w.domain.tenant_id, &w.domain.id),
                day,
                day
            )
            .await
            .unwrap(),
        LeftOut {
            unverified_https: 2,
            ..LeftOut::default()
        }
    );
    let stored = w.stored(&w.domain).await;
    assert_eq!(stored.len(), 3);
    for r in &stored {
        let forged = r.report_id.starts_with("forged");
        assert_eq!(r.counted, !forged, "{r:?}");
        assert_eq!(
            r.origin,
            if forged {
                ReportOrigin::UnverifiedHttps
            } else {
                ReportOrigin::VerifiedHttps
            }
        );
    }
    w.finish().await;
}

/// One source over its request rate gets 429 with `Retry-After` and nothing is stored, while
/// another source's report is accepted; the same for a source over its daily volume.
pub(crate) async fn a_flood_from_one_source_is_refused_while_others_pass(db: TestDatabase) {
    let w = HttpsWorld::start(
        db,
        ReceiverLimits {
            source_requests_per_minute: 5,
            source_bytes_per_day: 64 * 1024,
            ..ReceiverLimits::default()
        },
    )
    .await;
    let label = w.domain.label.as_str().to_owned();
    let flood = |i: usize| {
        report(
            "Flood",
            "a@flood.example",
            &format!("f-{i}"),
            "example.com",
            (0, 1),
            0,
        )
    };
    for i in 0..5 {
        let a = w.post("127.0.0.2", &label, flood(i)).await;
        assert_eq!(a.status, 201, "request {i}: {a:?}");
    }
    let a = w.post("127.0.0.2", &label, flood(5)).await;
    assert_eq!(a.status, 429, "{a:?}");
    assert_eq!(a.body["error"]["code"], "rate_limited");
    // Five a minute: the next one within 12 seconds.
    let retry = a.retry_after.expect("Retry-After");
    assert!((1..=12).contains(&retry), "{retry}");
    assert_eq!(
        w.stored(&w.domain).await.len(),
        5,
        "nothing stored for the 429"
    );

    let a = w
        .post(
            "127.0.0.4",
            &label,
            report("Other", "a@other.example", "o-1", "example.com", (3, 0), 0),
        )
        .await;
    assert_eq!(a.status, 201, "another source goes on: {a:?}");

    // Volume: 64 KiB a day from one source.
    let big = |i: usize| {
        report(
            "Big",
            "a@big.example",
            &format!("b-{i}"),
            "example.com",
            (1, 0),
            40_000,
        )
    };
    assert_eq!(w.post("127.0.0.5", &label, big(1)).await.status, 201);
    let a = w.post("127.0.0.5", &label, big(2)).await;
    assert_eq!(a.status, 429, "{a:?}");
    assert!(a.retry_after.is_some_and(|s| s > 60), "{a:?}");
    assert_eq!(w.stored(&w.domain).await.len(), 7);
    w.finish().await;
}

/// A label over its hourly requests or daily volume refuses every source, and other labels
/// are unaffected.
pub(crate) async fn label_quotas_hold_across_sources(db: TestDatabase) {
    let w = HttpsWorld::start(
        db,
        ReceiverLimits {
            label_requests_per_hour: 3,
            label_bytes_per_day: 100 * 1024,
            ..ReceiverLimits::default()
        },
    )
    .await;
    let (com, org) = (
        w.domain.label.as_str().to_owned(),
        w.other.label.as_str().to_owned(),
    );
    let small = |id: &str, domain: &str| report("R", "a@r.example", id, domain, (1, 0), 0);
    for (i, source) in ["127.0.0.2", "127.0.0.4", "127.0.0.5"].iter().enumerate() {
        let a = w
            .post(source, &com, small(&format!("c-{i}"), "example.com"))
            .await;
        assert_eq!(a.status, 201, "{a:?}");
    }
    let a = w.post("127.0.0.6", &com, small("c-3", "example.com")).await;
    assert_eq!(a.status, 429, "a fresh source, the label is full: {a:?}");
    // Three an hour: the next in at most 20 minutes.
    assert!(
        a.retry_after.is_some_and(|s| (1..=1200).contains(&s)),
        "{a:?}"
    );
    assert_eq!(w.stored(&w.domain).await.len(), 3);

    // Another label takes reports from that source, up to its own volume: 100 KiB a day.
    let big = |id: &str| report("R", "a@r.example", id, "example.org", (1, 0), 60_000);
    assert_eq!(w.post("127.0.0.6", &org, big("o-1")).await.status, 201);
    let a = w.post("127.0.0.7", &org, big("o-2")).await;
    assert_eq!(a.status, 429, "the label's volume, whoever sends: {a:?}");
    assert_eq!(w.stored(&w.other).await.len(), 1);
    w.finish().await;
}

/// A client whose PTR names a host within the report's domain, and whose host name resolves
/// back to it, is verified and counted; the same client naming another organization is not;
/// and a verified copy replaces an unverified one sent first.
pub(crate) async fn a_forward_confirmed_reporter_is_verified(db: TestDatabase) {
    let w = HttpsWorld::start(db, ReceiverLimits::default()).await;
    publish_reporter(&w);
    let label = w.domain.label.as_str().to_owned();
    // Sent first by someone else (or by the reporter over another path): unverified.
    let body = report(REPORTER.0, REPORTER.1, "r-1", "example.com", (40, 2), 0);
    assert_eq!(w.post("127.0.0.2", &label, body.clone()).await.status, 201);
    assert_eq!(counted(&w.store, &w.domain).await, (0, 0, 0));
    let a = w.post(REPORTER_LOOPBACK, &label, body).await;
    assert_eq!(
        (a.status, &a.body["duplicate"]),
        (200, &serde_json::json!(true)),
        "{a:?}"
    );
    let stored = w.stored(&w.domain).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].origin, ReportOrigin::VerifiedHttps);
    assert!(stored[0].counted);
    assert_eq!(counted(&w.store, &w.domain).await, (1, 40, 2));

    // The same server, naming an organization it does not belong to.
    let other = report(
        "Someone",
        "tlsrpt@someone.example",
        "s-1",
        "example.com",
        (1, 1),
        0,
    );
    assert_eq!(w.post(REPORTER_LOOPBACK, &label, other).await.status, 201);
    let stored = w.stored(&w.domain).await;
    let s = stored.iter().find(|r| r.report_id == "s-1").unwrap();
    assert_eq!(s.origin, ReportOrigin::UnverifiedHttps);
    assert!(!s.counted);
    w.finish().await;
}
