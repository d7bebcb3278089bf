use std::collections::HashSet;
use std::time::Duration;

use stsd_store::StoreError;
use time::OffsetDateTime;

use crate::harness::TestDb;

async fn lease_finish_and_fail(db: &TestDb) {
    let s = &db.store;
    let now = OffsetDateTime::now_utc();
    assert!(
        s.lease_job("check", "w1", Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );
    s.schedule_job("check", "d1", now - time::Duration::seconds(5))
        .await
        .unwrap();
    s.schedule_job("check", "d2", now + time::Duration::hours(1))
        .await
        .unwrap();
    // Scheduling again pulls a job forward, never back.
    s.schedule_job("check", "d2", now - time::Duration::seconds(1))
        .await
        .unwrap();
    s.schedule_job("check", "d1", now + time::Duration::hours(5))
        .await
        .unwrap();

    let j1 = s
        .lease_job("check", "w1", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(j1.subject, "d1", "the most overdue job comes first");
    assert_eq!(j1.attempts, 1);
    let j2 = s
        .lease_job("check", "w2", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(j2.subject, "d2");
    assert!(
        s.lease_job("check", "w3", Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.lease_job("renew", "w3", Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );

    s.fail_job(&j1, "dns timeout", now - time::Duration::seconds(1))
        .await
        .unwrap();
    let retry = s
        .lease_job("check", "w3", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(retry.subject, "d1");
    assert_eq!(retry.attempts, 2);
    assert_eq!(retry.last_error.as_deref(), Some("dns timeout"));
    // w1 lost the lease: it may not finish the job any more.
    let lost = s.finish_job(&j1, None).await.unwrap_err();
    assert!(matches!(lost, StoreError::StateMismatch { .. }), "{lost:?}");

    s.finish_job(&retry, Some(now + time::Duration::hours(1)))
        .await
        .unwrap();
    s.finish_job(&j2, None).await.unwrap();
    assert!(
        s.lease_job("check", "w1", Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );
}

async fn expired_lease_is_taken_over(db: &TestDb) {
    let s = &db.store;
    s.schedule_job("renew", "d1", OffsetDateTime::now_utc())
        .await
        .unwrap();
    let dead = s
        .lease_job("renew", "dead-worker", Duration::from_millis(1))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let taken = s
        .lease_job("renew", "w2", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.id, dead.id);
    assert_eq!(taken.attempts, 2);
    assert!(s.finish_job(&dead, None).await.is_err());
    s.finish_job(&taken, None).await.unwrap();
}

async fn concurrent_workers_never_share_a_job(db: &TestDb) {
    let s = &db.store;
    let now = OffsetDateTime::now_utc();
    for i in 0..40 {
        s.schedule_job("check", &format!("d{i}"), now)
            .await
            .unwrap();
    }
    let mut workers = Vec::new();
    for w in 0..4 {
        let s = s.clone();
        workers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(job) = s
                .lease_job("check", &format!("w{w}"), Duration::from_secs(60))
                .await
                .unwrap()
            {
                got.push(job.subject.clone());
                s.finish_job(
                    &job,
                    Some(OffsetDateTime::now_utc() + time::Duration::hours(1)),
                )
                .await
                .unwrap();
            }
            got
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 40, "every job leased exactly once");
    assert_eq!(unique.len(), 40);
}

/// A run asked for while the job is leased (an API request for fresh checks while a worker
/// is mid-run on what it read before) is not lost when the running one finishes; one asked
/// for before the lease is not repeated.
async fn a_run_asked_during_a_lease_is_kept(db: &TestDb) {
    let s = &db.store;
    let now = OffsetDateTime::now_utc();
    s.schedule_job("verify", "d1", now - time::Duration::seconds(5))
        .await
        .unwrap();
    let job = s
        .lease_job("verify", "w1", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    // Asked for now, while leased: later than the leased run's due time.
    let asked = OffsetDateTime::now_utc();
    s.schedule_job("verify", "d1", asked).await.unwrap();
    s.finish_job(&job, Some(now + time::Duration::hours(1)))
        .await
        .unwrap();
    let again = s
        .lease_job("verify", "w2", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("the run asked for during the lease is due");
    assert_eq!(again.subject, "d1");
    // Nothing asked during this lease: the next run is the regular one, an hour away.
    s.finish_job(&again, Some(now + time::Duration::hours(1)))
        .await
        .unwrap();
    assert!(
        s.lease_job("verify", "w3", Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );

    // A job finished for good (no next run) is kept when a run was asked for meanwhile.
    s.schedule_job("renew", "d2", now - time::Duration::seconds(5))
        .await
        .unwrap();
    let job = s
        .lease_job("renew", "w1", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    s.schedule_job("renew", "d2", OffsetDateTime::now_utc())
        .await
        .unwrap();
    s.finish_job(&job, None).await.unwrap();
    assert!(
        s.lease_job("renew", "w2", Duration::from_secs(60))
            .await
            .unwrap()
            .is_some()
    );
}

crate::both_backends!(
    lease_finish_and_fail,
    a_run_asked_during_a_lease_is_kept,
    expired_lease_is_taken_over,
    concurrent_workers_never_share_a_job
);
