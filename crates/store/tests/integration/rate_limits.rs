//! Shared rate limits (GCRA) on both backends: burst, refusal with the right wait, recovery,
//! atomicity under concurrent hits, two nodes sharing one limit, and the sweep.

use std::time::Duration as StdDuration;

use stsd_store::{RateDecision, RateQuota, Store};
use time::{Duration, OffsetDateTime};

use crate::harness::TestDb;

const QUOTA: RateQuota = RateQuota {
    interval: StdDuration::from_secs(30),
    burst: 3,
};

async fn burst_then_refusal_then_recovery(db: &TestDb) {
    let s = &db.store;
    let t0 = OffsetDateTime::now_utc();
    for i in 0..3 {
        assert_eq!(
            s.rate_limit_hit_at("k", QUOTA, t0).await.unwrap(),
            RateDecision::Allowed,
            "event {i} of the burst"
        );
    }
    let refused = s.rate_limit_hit_at("k", QUOTA, t0).await.unwrap();
    assert_eq!(
        refused,
        RateDecision::Refused {
            retry_after: StdDuration::from_secs(30)
        }
    );
    // Refusals are not counted: a storm of them does not push the recovery further out.
    for _ in 0..20 {
        s.rate_limit_hit_at("k", QUOTA, t0).await.unwrap();
    }
    let later = t0 + Duration::seconds(10);
    assert_eq!(
        s.rate_limit_hit_at("k", QUOTA, later).await.unwrap(),
        RateDecision::Refused {
            retry_after: StdDuration::from_secs(20)
        }
    );
    // One interval later exactly one more event fits.
    let t30 = t0 + Duration::seconds(30);
    assert_eq!(
        s.rate_limit_hit_at("k", QUOTA, t30).await.unwrap(),
        RateDecision::Allowed
    );
    assert!(matches!(
        s.rate_limit_hit_at("k", QUOTA, t30).await.unwrap(),
        RateDecision::Refused { .. }
    ));
    // Other keys are independent.
    assert_eq!(
        s.rate_limit_hit_at("other", QUOTA, t0).await.unwrap(),
        RateDecision::Allowed
    );
    // After the whole burst's time has passed, the full burst is back.
    let idle = t30 + Duration::seconds(120);
    for _ in 0..3 {
        assert_eq!(
            s.rate_limit_hit_at("k", QUOTA, idle).await.unwrap(),
            RateDecision::Allowed
        );
    }
}

async fn concurrent_hits_count_exactly(db: &TestDb) {
    let quota = RateQuota {
        interval: StdDuration::from_secs(3600),
        burst: 10,
    };
    // A second "node": its own connection pool on the same database.
    let other = Store::connect(&db.url).await.unwrap();
    let at = OffsetDateTime::now_utc();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let s = if i % 2 == 0 {
            db.store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            s.rate_limit_hit_at("shared", quota, at).await.unwrap()
        }));
    }
    let mut allowed = 0;
    for t in tasks {
        if t.await.unwrap() == RateDecision::Allowed {
            allowed += 1;
        }
    }
    assert_eq!(
        allowed, 10,
        "exactly the burst is allowed across both nodes"
    );
    other.close().await;
}

async fn sweep_removes_only_spent_limits(db: &TestDb) {
    let s = &db.store;
    let t0 = OffsetDateTime::now_utc();
    s.rate_limit_hit_at("old", QUOTA, t0 - Duration::hours(1))
        .await
        .unwrap();
    s.rate_limit_hit_at("fresh", QUOTA, t0).await.unwrap();
    assert_eq!(s.purge_rate_limits(t0).await.unwrap(), 1);
    assert_eq!(s.purge_rate_limits(t0).await.unwrap(), 0);
    // The fresh limit still counts its event.
    for _ in 0..2 {
        assert_eq!(
            s.rate_limit_hit_at("fresh", QUOTA, t0).await.unwrap(),
            RateDecision::Allowed
        );
    }
    assert!(matches!(
        s.rate_limit_hit_at("fresh", QUOTA, t0).await.unwrap(),
        RateDecision::Refused { .. }
    ));
}

async fn expired_refresh_tokens_are_purged(db: &TestDb) {
    let s = &db.store;
    let user = s.create_user("a@example.com", "x").await.unwrap();
    let now = OffsetDateTime::now_utc();
    s.create_refresh_token(&user.id, "gone", now - Duration::minutes(1))
        .await
        .unwrap();
    s.create_refresh_token(&user.id, "kept", now + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(s.purge_expired_refresh_tokens(now).await.unwrap(), 1);
    assert_eq!(s.purge_expired_refresh_tokens(now).await.unwrap(), 0);
    assert!(matches!(
        s.rotate_refresh_token("kept", "next", now + Duration::days(1))
            .await
            .unwrap(),
        stsd_store::RefreshOutcome::Rotated { .. }
    ));
}

crate::both_backends!(
    burst_then_refusal_then_recovery,
    concurrent_hits_count_exactly,
    sweep_removes_only_spent_limits,
    expired_refresh_tokens_are_purged,
);
