//! Report ingest across sources, which origins count (and the tenant's choice for
//! unverified HTTPS reports), a better copy replacing a forged one, retention, and
//! service-host certificates.

use stsd_store::{
    Domain, FailuresBy, LeftOut, Ownership, ReportFilter, ReportOrigin, ReportScope,
    ServiceCertificate, Store, Submission, TotalsBy, Transport,
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
    let sub = |signed: bool, dkim: &'static str| Submission {
        domain: &d,
        body: &body,
        declared_media_type: Some("application/tlsrpt+json"),
        transport: Transport::Smtp,
        origin: if signed {
            ReportOrigin::Dkim
        } else {
            ReportOrigin::UnauthenticatedMail
        },
        dkim: Some(dkim),
        flags: &[],
        max_decompressed: 1 << 20,
    };
    let first = s
        .all_tenants()
        .ingest_submission(&sub(false, "none"))
        .await
        .unwrap();
    assert!(!first.duplicate && !first.counted);
    let totals = |s: &stsd_store::Store| {
        let s = s.clone();
        let (tenant, id) = (d.tenant_id.clone(), d.id.clone());
        async move {
            s.report_totals(
                ReportScope::Domain(&tenant, &id),
                day(now),
                day(now),
                TotalsBy::All,
            )
            .await
            .unwrap()
        }
    };
    assert!(totals(s).await.is_empty(), "nothing counted yet");
    let second = s
        .all_tenants()
        .ingest_submission(&sub(true, "pass"))
        .await
        .unwrap();
    assert!(second.duplicate);
    assert_eq!(second.id, first.id);
    let t = totals(s).await;
    assert_eq!((t[0].reports, t[0].successful_sessions), (1, 7));
    // A third copy changes nothing.
    s.all_tenants()
        .ingest_submission(&sub(true, "pass"))
        .await
        .unwrap();
    assert_eq!(totals(s).await[0].reports, 1);
    let listed = s
        .reports(&d.tenant_id, &d.id, &ReportFilter::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].counted);
    assert_eq!(listed[0].dkim.as_deref(), Some("pass"));
    assert_eq!(listed[0].origin, ReportOrigin::Dkim);
}

/// A report with these session counts, `organization`'s report `id`, for example.com.
fn claim(organization: &str, id: &str, start: OffsetDateTime, ok: u64, failed: u64) -> Vec<u8> {
    let day = start.date();
    let details: Vec<serde_json::Value> = (failed > 0)
        .then(|| {
            serde_json::json!({"result-type": "certificate-expired",
                               "receiving-mx-hostname": "mx1.example.com",
                               "failed-session-count": failed})
        })
        .into_iter()
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "organization-name": organization,
        "contact-info": "tlsrpt@reporter.example",
        "date-range": {"start-datetime": format!("{day}T00:00:00Z"),
                       "end-datetime": format!("{day}T23:59:59Z")},
        "report-id": id,
        "policies": [{
            "policy": {"policy-type": "sts", "policy-domain": "example.com"},
            "summary": {"total-successful-session-count": ok,
                        "total-failure-session-count": failed},
            "failure-details": details
        }]
    }))
    .unwrap()
}

async fn ingest(s: &Store, d: &Domain, body: &[u8], transport: Transport, origin: ReportOrigin) {
    s.all_tenants()
        .ingest_submission(&Submission {
            domain: d,
            body,
            declared_media_type: Some("application/tlsrpt+json"),
            transport,
            origin,
            dkim: (transport == Transport::Smtp).then_some("pass"),
            flags: &[],
            max_decompressed: 1 << 20,
        })
        .await
        .unwrap();
}

/// (reports, successful, failed) of a domain's day, as its summary counts them.
async fn counted(s: &Store, d: &Domain, day: i64) -> (i64, i64, i64) {
    let t = s
        .report_totals(
            ReportScope::Domain(&d.tenant_id, &d.id),
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

/// A forged report POSTed by anyone changes nothing a tenant sees counted unless the tenant
/// chose to count unverified HTTPS reports; the choice applies to the past at once, in
/// totals, failures, the domain list and each report's `counted`.
async fn unverified_https_counts_only_when_the_tenant_chooses(db: &TestDb) {
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
    let today = day(now);
    assert!(!s.count_unverified_https(&tenant.id).await.unwrap());
    let real = claim("Reporter", "real", now, 1000, 0);
    ingest(s, &d, &real, Transport::Smtp, ReportOrigin::Dkim).await;
    let verified = claim("Other", "v", now, 500, 0);
    ingest(
        s,
        &d,
        &verified,
        Transport::Https,
        ReportOrigin::VerifiedHttps,
    )
    .await;
    let forged = claim("Attacker", "forged", now, 0, 999_999);
    ingest(
        s,
        &d,
        &forged,
        Transport::Https,
        ReportOrigin::UnverifiedHttps,
    )
    .await;

    assert_eq!(counted(s, &d, today).await, (2, 1500, 0));
    let failures = s
        .report_failures(
            ReportScope::Domain(&d.tenant_id, &d.id),
            today,
            today,
            FailuresBy::Result,
        )
        .await
        .unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    let overview = s
        .domain_overviews(&d.tenant_id, std::slice::from_ref(&d.id), today)
        .await
        .unwrap();
    assert_eq!(overview[d.id.as_str()].failed_sessions, 0);
    let left = s
        .reports_left_out(ReportScope::Tenant(&tenant.id), today, today)
        .await
        .unwrap();
    assert_eq!(
        left,
        LeftOut {
            unverified_https: 1,
            ..LeftOut::default()
        }
    );
    let listed = s
        .reports(&d.tenant_id, &d.id, &ReportFilter::default(), 10, 0)
        .await
        .unwrap();
    let forged_row = listed.iter().find(|r| r.report_id == "forged").unwrap();
    assert_eq!(forged_row.origin, ReportOrigin::UnverifiedHttps);
    assert!(!forged_row.counted);

    // The tenant opts in: the same rollups, now with the unverified report.
    s.set_count_unverified_https(&tenant.id, true)
        .await
        .unwrap();
    assert_eq!(counted(s, &d, today).await, (3, 1500, 999_999));
    let failures = s
        .report_failures(
            ReportScope::Domain(&d.tenant_id, &d.id),
            today,
            today,
            FailuresBy::Mx,
        )
        .await
        .unwrap();
    assert_eq!(failures, [("mx1.example.com".to_owned(), 999_999)]);
    assert_eq!(
        s.reports_left_out(ReportScope::Domain(&d.tenant_id, &d.id), today, today)
            .await
            .unwrap()
            .total(),
        0
    );
    let listed = s
        .reports(&d.tenant_id, &d.id, &ReportFilter::default(), 10, 0)
        .await
        .unwrap();
    assert!(listed.iter().all(|r| r.counted));

    // Another tenant's choice is its own.
    let other = s.create_tenant("U").await.unwrap();
    let od = s
        .create_domain(&other.id, &"example.com".parse().unwrap(), Ownership::Cname)
        .await
        .unwrap();
    ingest(
        s,
        &od,
        &forged,
        Transport::Https,
        ReportOrigin::UnverifiedHttps,
    )
    .await;
    assert_eq!(counted(s, &od, today).await, (0, 0, 0));

    s.set_count_unverified_https(&tenant.id, false)
        .await
        .unwrap();
    assert_eq!(counted(s, &d, today).await, (2, 1500, 0));
}

/// An attacker who guesses a reporter's report id and POSTs a forgery first does not keep
/// the real report out: the signed (or verified) copy replaces the forged one — content,
/// origin and counts — under the same id. A weaker copy never replaces a stronger one.
async fn a_better_copy_replaces_a_forged_one(db: &TestDb) {
    let s = &db.store;
    let tenant = s.create_tenant("T").await.unwrap();
    s.set_count_unverified_https(&tenant.id, true)
        .await
        .unwrap();
    let d = s
        .create_domain(
            &tenant.id,
            &"example.com".parse().unwrap(),
            Ownership::Cname,
        )
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let today = day(now);
    let yesterday = now - Duration::days(1);
    // The forgery claims another day, too: the real copy's day is the one that counts.
    let forged = claim("Google Inc.", "guessable", yesterday, 0, 999_999);
    ingest(
        s,
        &d,
        &forged,
        Transport::Https,
        ReportOrigin::UnverifiedHttps,
    )
    .await;
    assert_eq!(counted(s, &d, today - 1).await, (1, 0, 999_999));
    let first = s
        .reports(&d.tenant_id, &d.id, &ReportFilter::default(), 10, 0)
        .await
        .unwrap()[0]
        .id
        .clone();

    let real = claim("Google Inc.", "guessable", now, 1200, 3);
    ingest(s, &d, &real, Transport::Smtp, ReportOrigin::Dkim).await;
    assert_eq!(counted(s, &d, today - 1).await, (0, 0, 0));
    assert_eq!(counted(s, &d, today).await, (1, 1200, 3));
    let failures = s
        .report_failures(
            ReportScope::Domain(&d.tenant_id, &d.id),
            today - 1,
            today,
            FailuresBy::Result,
        )
        .await
        .unwrap();
    assert_eq!(failures, [("certificate-expired".to_owned(), 3)]);
    let detail = s
        .report_detail(&d.tenant_id, &d.id, &first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.report.origin, ReportOrigin::Dkim);
    assert_eq!(detail.report.transport, "smtp");
    assert_eq!(detail.report.failed_sessions, 3);
    assert_eq!(detail.policies[0].failures[0].failed_sessions, 3);

    // Now the forgery again, and over HTTPS verified: neither proves more than DKIM.
    ingest(
        s,
        &d,
        &forged,
        Transport::Https,
        ReportOrigin::UnverifiedHttps,
    )
    .await;
    ingest(
        s,
        &d,
        &forged,
        Transport::Https,
        ReportOrigin::VerifiedHttps,
    )
    .await;
    assert_eq!(counted(s, &d, today).await, (1, 1200, 3));
    assert_eq!(counted(s, &d, today - 1).await, (0, 0, 0));
    let listed = s
        .reports(&d.tenant_id, &d.id, &ReportFilter::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].failed_sessions, 3);
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
        s.all_tenants()
            .ingest_submission(&Submission {
                domain: &d,
                body: &body,
                declared_media_type: None,
                transport: Transport::Upload,
                origin: ReportOrigin::Upload,
                dkim: None,
                flags: &[],
                max_decompressed: 1 << 20,
            })
            .await
            .unwrap();
    }
    assert_eq!(s.all_tenants().purge_expired_reports(now).await.unwrap(), 1);
    assert_eq!(s.all_tenants().purge_expired_reports(now).await.unwrap(), 0);
    let left = s
        .reports(&d.tenant_id, &d.id, &ReportFilter::default(), 10, 0)
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
    unverified_https_counts_only_when_the_tenant_chooses,
    a_better_copy_replaces_a_forged_one,
    retention_deletes_old_reports_and_keeps_rollups,
    service_certificates_newest_valid_per_host,
);
