//! Migration 0010 on reports stored before it: each report gets the origin it had, the
//! counted HTTPS reports still kept move to the unverified rollups (and so stop counting by
//! default), and everything else counts as before.

#![allow(clippy::unwrap_used, reason = "tests")]

use stsd_testkit::TestDatabase;

use crate::db::Store;
use crate::report_origin::ReportOrigin;
use crate::reports::{FailuresBy, LeftOut, ReportFilter, ReportScope, TotalsBy};

const DAY: i64 = 20_000;

/// A report as the schema of migration 0009 stored it.
async fn old_report(
    store: &Store,
    domain: &str,
    (id, organization, transport, dkim, counted): (&str, &str, &str, Option<&str>, i64),
    (ok, failed): (i64, i64),
) {
    sqlx::query(
        "INSERT INTO tlsrpt_reports (id, domain_id, organization, report_id, policy_domain,
             contact, start_ms, end_ms, day, transport, media_type, media_type_flagged,
             domain_mismatch, counted, successful_sessions, failed_sessions, raw_gzip,
             received_ms, dkim, flags)
         VALUES ($1, $2, $3, $1, 'example.com', NULL, $4, $4, $5, $6,
             'application/tlsrpt+json', 0, 0, $7, $8, $9, $10, $4, $11, '')",
    )
    .bind(id)
    .bind(domain)
    .bind(organization)
    .bind(DAY * 86_400_000)
    .bind(DAY)
    .bind(transport)
    .bind(counted)
    .bind(ok)
    .bind(failed)
    .bind(Vec::<u8>::new())
    .bind(dkim)
    .execute(&store.pool)
    .await
    .unwrap();
}

async fn old_failure(store: &Store, report: &str, policy: i64, result: &str, n: i64) {
    sqlx::query(
        "INSERT INTO tlsrpt_failures (report_id, policy_idx, idx, result_type,
             receiving_mx_hostname, failed_sessions)
         VALUES ($1, $2, $3, $4, 'mx1.example.com', $5)",
    )
    .bind(report)
    .bind(policy)
    .bind(policy * 10 + n)
    .bind(result)
    .bind(n)
    .execute(&store.pool)
    .await
    .unwrap();
}

async fn old_rollup(store: &Store, domain: &str, organization: &str, r: (i64, i64, i64)) {
    sqlx::query(
        "INSERT INTO tlsrpt_daily (domain_id, day, organization, reports,
             successful_sessions, failed_sessions) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(domain)
    .bind(DAY)
    .bind(organization)
    .bind(r.0)
    .bind(r.1)
    .bind(r.2)
    .execute(&store.pool)
    .await
    .unwrap();
}

async fn old_failure_rollup(store: &Store, domain: &str, result: &str, n: i64) {
    sqlx::query(
        "INSERT INTO tlsrpt_daily_failures (domain_id, day, organization, result_type,
             receiving_mx, failed_sessions) VALUES ($1, $2, 'Org', $3, 'mx1.example.com', $4)",
    )
    .bind(domain)
    .bind(DAY)
    .bind(result)
    .bind(n)
    .execute(&store.pool)
    .await
    .unwrap();
}

async fn migrates_reports_stored_before_origins(db: TestDatabase) {
    let store = Store::connect(db.url()).await.unwrap();
    store.migrate_to(9).await.unwrap();
    let tenant = store.create_tenant("T").await.unwrap();
    // Written as that schema had it: today's `create_domain` writes columns added later.
    sqlx::query(
        "INSERT INTO domains (id, tenant_id, name, label, ownership, state, created_at,
                              updated_at, state_changed_at)
         VALUES ('d-old', $1, 'example.com', 'abcdefghij', 'cname', 'active', 0, 0, 0)",
    )
    .bind(tenant.id.as_str())
    .execute(&store.pool)
    .await
    .unwrap();
    let d = "d-old";
    // Over HTTPS, counted; its two policies describe the same 5 failures.
    old_report(&store, d, ("r1", "Org", "https", None, 1), (10, 5)).await;
    old_failure(&store, "r1", 0, "certificate-expired", 5).await;
    old_failure(&store, "r1", 1, "certificate-expired", 3).await;
    // Signed mail.
    old_report(&store, d, ("r2", "Org", "smtp", Some("pass"), 1), (20, 1)).await;
    old_failure(&store, "r2", 0, "starttls-not-supported", 1).await;
    // Unsigned mail, not counted; and unsigned mail that counted because an HTTPS copy came.
    old_report(&store, d, ("r3", "Org", "smtp", Some("fail"), 0), (1, 1)).await;
    old_report(&store, d, ("r4", "Org", "smtp", None, 1), (7, 0)).await;
    old_report(&store, d, ("r5", "Up", "upload", None, 1), (100, 0)).await;
    // The rollups hold one more report of Org, purged since (2 sessions).
    old_rollup(&store, d, "Org", (4, 39, 6)).await;
    old_rollup(&store, d, "Up", (1, 100, 0)).await;
    old_failure_rollup(&store, d, "certificate-expired", 5).await;
    old_failure_rollup(&store, d, "starttls-not-supported", 1).await;

    store.migrate().await.unwrap();
    let domain = store
        .domain(&tenant.id, &"example.com".parse().unwrap())
        .await
        .unwrap()
        .unwrap();

    let mut origins: Vec<(String, ReportOrigin, bool)> = store
        .reports(
            &domain.tenant_id,
            &domain.id,
            &ReportFilter::default(),
            10,
            0,
        )
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.report_id, r.origin, r.counted))
        .collect();
    origins.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        origins,
        [
            ("r1".to_owned(), ReportOrigin::UnverifiedHttps, false),
            ("r2".to_owned(), ReportOrigin::Dkim, true),
            ("r3".to_owned(), ReportOrigin::UnauthenticatedMail, false),
            ("r4".to_owned(), ReportOrigin::UnverifiedHttps, false),
            ("r5".to_owned(), ReportOrigin::Upload, true),
        ]
    );
    let scope = ReportScope::Domain(&domain.tenant_id, &domain.id);
    let totals = |store: &Store| {
        let (store, tenant, id) = (store.clone(), domain.tenant_id.clone(), domain.id.clone());
        async move {
            let t = store
                .report_totals(ReportScope::Domain(&tenant, &id), DAY, DAY, TotalsBy::All)
                .await
                .unwrap();
            (t[0].reports, t[0].successful_sessions, t[0].failed_sessions)
        }
    };
    // r2, the purged one and r5.
    assert_eq!(totals(&store).await, (3, 122, 1));
    let failures = store
        .report_failures(scope, DAY, DAY, FailuresBy::Result)
        .await
        .unwrap();
    assert_eq!(failures, [("starttls-not-supported".to_owned(), 1)]);
    assert_eq!(
        store.reports_left_out(scope, DAY, DAY).await.unwrap(),
        LeftOut {
            unverified_https: 2,
            unauthenticated_mail: 1,
            domain_mismatch: 0,
        }
    );
    // Counting unverified reports brings back exactly what was there.
    store
        .set_count_unverified_https(&tenant.id, true)
        .await
        .unwrap();
    assert_eq!(totals(&store).await, (5, 139, 6));
    let mut failures = store
        .report_failures(scope, DAY, DAY, FailuresBy::Result)
        .await
        .unwrap();
    failures.sort();
    assert_eq!(
        failures,
        [
            ("certificate-expired".to_owned(), 5),
            ("starttls-not-supported".to_owned(), 1)
        ]
    );
    store.close().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrates_reports_stored_before_origins_on_sqlite() {
    migrates_reports_stored_before_origins(TestDatabase::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrates_reports_stored_before_origins_on_postgres() {
    migrates_reports_stored_before_origins(TestDatabase::postgres().await).await;
}
