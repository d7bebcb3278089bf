//! The silent-reporter alert on a controllable clock: an organization that reported on six
//! days and then not for four is announced once (webhook delivery queued with its name), not
//! again on the next run, and again after it resumed and fell silent anew; a reporter seen on
//! two days only is no habit, and a domain not served is not watched.

use std::time::Duration;

use stsd_store::{DomainState, MasterKey, Ownership, ReportOrigin, Submission, Transport};
use stsd_verifier::check_reporters;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::world::World;

fn report(org: &str, id: &str, day: OffsetDateTime, domain: &str) -> Vec<u8> {
    let start = day.replace_time(time::Time::MIDNIGHT);
    let end = start + time::Duration::hours(24) - time::Duration::seconds(1);
    serde_json::to_vec(&serde_json::json!({
        "organization-name": org,
        "report-id": id,
        "date-range": {
            "start-datetime": start.format(&Rfc3339).unwrap(),
            "end-datetime": end.format(&Rfc3339).unwrap(),
        },
        "contact-info": "tlsrpt@reporter.example",
        "policies": [{
            "policy": { "policy-type": "sts", "policy-domain": domain },
            "summary": { "total-successful-session-count": 10, "total-failure-session-count": 0 }
        }]
    }))
    .unwrap()
}

async fn ingest(w: &World, d: &stsd_store::Domain, body: &[u8]) {
    w.store
        .all_tenants()
        .ingest_submission(&Submission {
            domain: d,
            body,
            declared_media_type: Some("application/tlsrpt+json"),
            transport: Transport::Https,
            origin: ReportOrigin::VerifiedHttps,
            dkim: None,
            flags: &[],
            max_decompressed: 1 << 20,
        })
        .await
        .unwrap();
}

async fn silent_reporters_are_announced_once_per_silence(w: World) {
    let master = MasterKey::from_bytes([7; 32]);
    let hook = w
        .store
        .create_webhook(
            &w.tenant,
            "https://hooks.example/stsd",
            &["domain.reporters_silent".to_owned()],
            &master.seal(b"whsec_test").unwrap(),
            master.id(),
        )
        .await
        .unwrap();
    let d = w.domain("quiet.example", Ownership::Cname).await;
    let d = w
        .force_state(&d, &[DomainState::Verified, DomainState::Active])
        .await;
    let now = OffsetDateTime::now_utc();
    for back in 1..=6 {
        let day = now - time::Duration::days(back);
        ingest(
            &w,
            &d,
            &report("Google Inc.", &format!("g{back}"), day, "quiet.example"),
        )
        .await;
    }
    for back in 1..=2 {
        let day = now - time::Duration::days(back);
        ingest(
            &w,
            &d,
            &report("Small Reporter", &format!("s{back}"), day, "quiet.example"),
        )
        .await;
    }
    let deliveries = || async {
        w.store
            .webhook_deliveries(&hook.tenant_id, &hook.id, 10)
            .await
            .unwrap()
    };

    // Reports just arrived: nobody is silent.
    assert!(check_reporters(&w.store, &d, now).await.unwrap().is_empty());
    // Four days later: Google, a usual reporter, is; the reporter of two days is no habit.
    let later = now + Duration::from_secs(4 * 86_400);
    assert_eq!(
        check_reporters(&w.store, &d, later).await.unwrap(),
        ["Google Inc."]
    );
    let sent = deliveries().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].event, "domain.reporters_silent");
    let body: serde_json::Value = serde_json::from_str(&sent[0].body).unwrap();
    assert_eq!(body["domain"], "quiet.example");
    assert_eq!(body["reporters"][0]["organization"], "Google Inc.");
    assert_eq!(body["reporters"][0]["days_reported"], 6);
    assert_eq!(body["reporters"].as_array().unwrap().len(), 1, "{body}");
    // The next run announces nothing new.
    assert!(
        check_reporters(&w.store, &d, later)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(deliveries().await.len(), 1);

    // Google resumes (a report arrives now); falling silent again is a new silence.
    ingest(&w, &d, &report("Google Inc.", "g0", now, "quiet.example")).await;
    assert!(check_reporters(&w.store, &d, now).await.unwrap().is_empty());
    assert_eq!(
        check_reporters(&w.store, &d, later).await.unwrap(),
        ["Google Inc."]
    );
    assert_eq!(deliveries().await.len(), 2);

    // A registration not served (pending) is not watched.
    let pending = w.domain("notyet.example", Ownership::Cname).await;
    for back in 1..=6 {
        let day = now - time::Duration::days(back);
        ingest(
            &w,
            &pending,
            &report("Google Inc.", &format!("p{back}"), day, "notyet.example"),
        )
        .await;
    }
    assert!(
        check_reporters(&w.store, &pending, later)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(deliveries().await.len(), 2);

    // The worker looks once an hour per registration, not on every check run; the claim is
    // the tenant's only.
    let hour = Duration::from_secs(3_600);
    let claim = |at: OffsetDateTime| w.store.claim_reporter_check(&w.tenant, &d.id, at, hour);
    assert!(claim(now).await.unwrap());
    assert!(!claim(now + time::Duration::minutes(5)).await.unwrap());
    assert!(!claim(now + time::Duration::minutes(59)).await.unwrap());
    assert!(claim(now + time::Duration::minutes(60)).await.unwrap());
    let other = w.store.create_tenant("other").await.unwrap().id;
    let foreign = w.store.claim_reporter_check(&other, &d.id, later, hour);
    assert!(!foreign.await.unwrap());
    w.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_reporters_on_sqlite() {
    silent_reporters_are_announced_once_per_silence(World::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_reporters_on_postgres() {
    silent_reporters_are_announced_once_per_silence(World::postgres().await).await;
}
