//! The figures behind the operator's alerts (`AllTenants::operations`), the per-process report
//! counts, and the wake-up of workers when a job is scheduled.

use std::str::FromStr;
use std::time::Duration as StdDuration;

use stsd_core::DomainName;
use stsd_store::{CERT_JOB_KIND, Ownership, ReportOutcome, Silence, VERIFY_JOB_KIND};
use time::{Duration, OffsetDateTime};

use crate::harness::TestDb;

async fn job_backlog_webhooks_and_silences(db: &TestDb) {
    let s = &db.store;
    let now = OffsetDateTime::now_utc();
    // Nothing yet: the known kinds have a zero series, nothing else is counted.
    let empty = s.all_tenants().operations(now).await.unwrap();
    let kinds: Vec<(&str, i64)> = empty
        .jobs
        .iter()
        .map(|j| (j.kind.as_str(), j.due))
        .collect();
    assert_eq!(kinds, vec![(CERT_JOB_KIND, 0), (VERIFY_JOB_KIND, 0)]);
    assert!(empty.jobs.iter().all(|j| j.oldest_due_at.is_none()));
    assert_eq!(empty.webhook_deliveries_retrying, 0);
    assert_eq!(empty.webhook_deliveries_abandoned_24h, 0);
    assert_eq!(empty.domains_with_silent_reporters, 0);

    // Three verify jobs due (one leased by a worker, so not in the backlog), one in the
    // future; one cert job due ten minutes ago.
    for (subject, at) in [
        ("d1", now - Duration::minutes(3)),
        ("d2", now - Duration::minutes(1)),
        ("d3", now - Duration::minutes(20)),
        ("d4", now + Duration::hours(1)),
    ] {
        s.schedule_job(VERIFY_JOB_KIND, subject, at).await.unwrap();
    }
    s.schedule_job(CERT_JOB_KIND, "d1", now - Duration::minutes(10))
        .await
        .unwrap();
    let leased = s
        .lease_job(VERIFY_JOB_KIND, "w1", StdDuration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(leased.subject, "d3", "the most overdue is leased first");
    let ops = s.all_tenants().operations(now).await.unwrap();
    let verify = ops.jobs.iter().find(|j| j.kind == VERIFY_JOB_KIND).unwrap();
    assert_eq!(verify.due, 2);
    let ms = |t: OffsetDateTime| t.unix_timestamp_nanos() / 1_000_000;
    assert_eq!(
        verify.oldest_due_at.map(ms),
        Some(ms(now - Duration::minutes(3)))
    );
    let cert = ops.jobs.iter().find(|j| j.kind == CERT_JOB_KIND).unwrap();
    assert_eq!(cert.due, 1);

    // Webhook deliveries: one delivered, one retrying after a failure, one given up.
    let t = s.create_tenant("Ops").await.unwrap().id;
    let domain = s
        .create_domain(
            &t,
            &DomainName::from_str("ops.example").unwrap(),
            Ownership::Cname,
        )
        .await
        .unwrap();
    s.create_webhook(
        &t,
        "https://hooks.ops.example/",
        &["*".to_owned()],
        b"s",
        "k",
    )
    .await
    .unwrap();
    for _ in 0..3 {
        s.enqueue_event(&t, "domain.state_changed", "{}")
            .await
            .unwrap();
    }
    let due = s
        .all_tenants()
        .claim_due_deliveries(10, StdDuration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(due.len(), 3);
    let later = OffsetDateTime::now_utc() + Duration::minutes(5);
    s.all_tenants()
        .record_delivery(&due[0].id, true, Some(200), None, None)
        .await
        .unwrap();
    s.all_tenants()
        .record_delivery(&due[1].id, false, Some(500), Some("HTTP 500"), Some(later))
        .await
        .unwrap();
    s.all_tenants()
        .record_delivery(&due[2].id, false, Some(500), Some("HTTP 500"), None)
        .await
        .unwrap();

    // A silence announced on the domain.
    s.set_reporter_silences(
        &t,
        &domain.id,
        &[Silence {
            organization: "Google Inc.".to_owned(),
            last_received: now - Duration::days(5),
        }],
    )
    .await
    .unwrap();
    let ops = s
        .all_tenants()
        .operations(OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(ops.webhook_deliveries_retrying, 1);
    assert_eq!(ops.webhook_deliveries_abandoned_24h, 1);
    assert_eq!(ops.domains_with_silent_reporters, 1);
    // A day later the abandoned delivery no longer counts.
    let tomorrow = OffsetDateTime::now_utc() + Duration::hours(25);
    let ops = s.all_tenants().operations(tomorrow).await.unwrap();
    assert_eq!(ops.webhook_deliveries_abandoned_24h, 0);
}

async fn scheduling_a_job_wakes_workers_of_this_process(db: &TestDb) {
    let s = &db.store;
    let mut woken = s.scheduled_jobs();
    woken.mark_unchanged();
    assert!(!woken.has_changed().unwrap());
    s.schedule_job(VERIFY_JOB_KIND, "d1", OffsetDateTime::now_utc())
        .await
        .unwrap();
    tokio::time::timeout(StdDuration::from_secs(1), woken.changed())
        .await
        .expect("woken within a second")
        .unwrap();
}

async fn report_counts_start_empty_and_count_rejections(db: &TestDb) {
    assert!(db.store.report_counts().is_empty());
    db.store.count_rejected_report(stsd_store::Transport::Https);
    let counts = db.store.report_counts();
    assert_eq!(counts.len(), 1);
    assert_eq!(counts[0].transport, "https");
    assert_eq!(counts[0].outcome, ReportOutcome::Rejected);
    assert_eq!(counts[0].count, 1);
}

crate::both_backends!(
    job_backlog_webhooks_and_silences,
    scheduling_a_job_wakes_workers_of_this_process,
    report_counts_start_empty_and_count_rejections
);
