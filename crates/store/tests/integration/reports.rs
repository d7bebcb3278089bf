//! Report ingest across sources, retention, and service-host certificates.

use stsd_store::{
    Ownership, ReportFilter, ReportScope, ServiceCertificate, Submission, TotalsBy, Transport,
};
use time::{Duration, OffsetDateTime};

use crate::both_backends;
use crate::harness::TestDb;

fn report(id: &str, start: OffsetDateTime) -> Vec<u8> {
    let day = start.date();
    serde_json::to_vec(&serde_json::json!({
        "organization-name": "Reporter",
        "date-range": {"start-datetime": format!("{day}T00:00:00Z"),
                       "end-datetime": format!("{day}T23:59:59Z")},
        "report-id": id,
        "policies": [{
            "policy": {"policy-type": "sts", "policy-domain": "example.com"},
            "summary": {"total-successful-session-count": 7, "total-failure-session-count": 1},
            "failure-details": [{"result-type": "certificate-expired", "failed-session-count": 1}]
        }]
    }))
    .unwrap()
}

fn day(t: OffsetDateTime) -> i64 {
    t.unix_timestamp().div_euclid(86_400)
}

/// An unsigned copy first (stored, not counted), the signed copy later: one report, counted
/// once, with the better verdict.
async fn a_counted_copy_upgrades_an_uncounted_one(db: &TestDb) {
    let s = &db.store;
    let tenant = s.create_tenant("T").await.unwrap();
    let d = s
        .create_domain(
            &tenant.id,
            &"example.com".parse().unwrap(),
            Ownership::Cname,
        )
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let body = report("r-1", now);
    let sub = |authenticated: bool, dkim: &'static str| Submission {
        domain: &d,
        body: &body,
        declared_media_type: Some("application/tlsrpt+json"),
        transport: Transport::Smtp,
        authenticated,
        dkim: Some(dkim),
        flags: &[],
        max_decompressed: 1 << 20,
    };
    let first = s.ingest_submission(&sub(false, "none")).await.unwrap();
    assert!(!first.duplicate && !first.counted);
    let totals = |s: &stsd_store::Store| {
        let s = s.clone();
        let id = d.id.clone();
        async move {
            s.report_totals(ReportScope::Domain(&id), day(now), day(now), TotalsBy::All)
                .await
                .unwrap()
        }
    };
    assert!(totals(s).await.is_empty(), "nothing counted yet");
    let second = s.ingest_submission(&sub(true, "pass")).await.unwrap();
    assert!(second.duplicate);
    assert_eq!(second.id, first.id);
    let t = totals(s).await;
    assert_eq!((t[0].reports, t[0].successful_sessions), (1, 7));
    // A third copy changes nothing.
    s.ingest_submission(&sub(true, "pass")).await.unwrap();
    assert_eq!(totals(s).await[0].reports, 1);
    let listed = s
        .reports(&d.id, &ReportFilter::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].counted);
    assert_eq!(listed[0].dkim.as_deref(), Some("pass"));
}

async fn retention_deletes_old_reports_and_keeps_rollups(db: &TestDb) {
    let s = &db.store;
    let tenant = s.create_tenant("T").await.unwrap();
    let d = s
        .create_domain(
            &tenant.id,
            &"example.com".parse().unwrap(),
            Ownership::Cname,
        )
        .await
        .unwrap();
    assert_eq!(s.report_retention_days(&tenant.id).await.unwrap(), 400);
    s.set_report_retention_days(&tenant.id, 7).await.unwrap();
    let now = OffsetDateTime::now_utc();
    for (id, start) in [
        ("old", now - Duration::days(30)),
        ("new", now - Duration::days(1)),
    ] {
        let body = report(id, start);
        s.ingest_submission(&Submission {
            domain: &d,
            body: &body,
            declared_media_type: None,
            transport: Transport::Upload,
            authenticated: true,
            dkim: None,
            flags: &[],
            max_decompressed: 1 << 20,
        })
        .await
        .unwrap();
    }
    assert_eq!(s.purge_expired_reports(now).await.unwrap(), 1);
    assert_eq!(s.purge_expired_reports(now).await.unwrap(), 0);
    let left = s
        .reports(&d.id, &ReportFilter::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].report_id, "new");
    let t = s
        .report_totals(
            ReportScope::Tenant(&tenant.id),
            day(now) - 40,
            day(now),
            TotalsBy::All,
        )
        .await
        .unwrap();
    assert_eq!(t[0].reports, 2, "the summaries keep their history");
}

async fn service_certificates_newest_valid_per_host(db: &TestDb) {
    let s = &db.store;
    let now = OffsetDateTime::now_utc();
    let cert = |host: &str, days_left: i64, pem: &str| ServiceCertificate {
        host: host.to_owned(),
        chain_pem: pem.to_owned(),
        key_ciphertext: vec![1, 2, 3],
        key_id: "k".to_owned(),
        not_before: now - Duration::days(10),
        not_after: now + Duration::days(days_left),
    };
    assert!(s.service_certificates().await.unwrap().is_empty());
    let seq = s.latest_change_seq().await.unwrap();
    s.put_service_certificate(&cert("reports.a.test", 30, "short"))
        .await
        .unwrap();
    s.put_service_certificate(&cert("reports.a.test", 80, "long"))
        .await
        .unwrap();
    s.put_service_certificate(&cert("reports.b.test", -1, "expired"))
        .await
        .unwrap();
    let got = s.service_certificates().await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].chain_pem, "long");
    // Each one told the edges through the feed, without a registration.
    let changes = s.changes_since(seq, 10).await.unwrap();
    assert_eq!(changes.len(), 3);
    assert!(changes.iter().all(|c| c.domain_id.is_none()));
}

both_backends!(
    a_counted_copy_upgrades_an_uncounted_one,
    retention_deletes_old_reports_and_keeps_rollups,
    service_certificates_newest_valid_per_host,
);
