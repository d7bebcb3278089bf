use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Empty;
use stsd_core::Mode;
use stsd_store::Challenge;
use stsd_testkit::TestDatabase;

use crate::world::{World, policy, policy_request};

const A: &str = "mta-sts.alpha.example";
const B: &str = "mta-sts.beta.example";

async fn policies_by_sni_over_h1_and_h2(db: TestDatabase) {
    let w = World::start(db, &["alpha.example", "beta.example", "gamma.example"]).await;
    for h2 in [false, true] {
        for (host, domain) in [(A, "alpha.example"), (B, "beta.example")] {
            let (status, headers, body) = w
                .fetch(host, h2, policy_request("GET", host, h2))
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK, "{host} h2={h2}");
            let expected = policy(Mode::Testing, &[&format!("mx.{domain}")]).render();
            assert_eq!(body, Bytes::from(expected.clone()));
            assert_eq!(headers["content-type"], "text/plain");
            assert_eq!(headers["cache-control"], "no-cache");
            for banned in [
                "etag",
                "last-modified",
                "server",
                "location",
                "content-range",
            ] {
                assert!(!headers.contains_key(banned), "{banned} sent");
            }

            // Range and validators are ignored: always the whole body with 200.
            let mut req = policy_request("GET", host, h2);
            req.headers_mut()
                .insert("range", "bytes=0-3".parse().unwrap());
            req.headers_mut()
                .insert("if-none-match", "*".parse().unwrap());
            req.headers_mut().insert(
                "if-modified-since",
                "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
            );
            let (status, _, full) = w.fetch(host, h2, req).await.unwrap();
            assert_eq!(status, StatusCode::OK);
            assert_eq!(full, Bytes::from(expected.clone()));

            let (status, headers, body) = w
                .fetch(host, h2, policy_request("HEAD", host, h2))
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK);
            assert!(body.is_empty());
            assert_eq!(
                headers["content-length"],
                expected.len().to_string().as_str()
            );
        }
    }
    w.finish().await;
}

async fn wrong_names_paths_and_methods(db: TestDatabase) {
    let w = World::start(db, &["alpha.example", "beta.example"]).await;
    // Unknown SNI: no certificate, the handshake fails.
    assert!(
        w.tls("mta-sts.unknown.example", &[b"http/1.1"])
            .await
            .is_err()
    );
    assert!(w.tls("alpha.example", &[b"http/1.1"]).await.is_err());
    // Host and SNI disagree.
    for h2 in [false, true] {
        let (status, _, _) = w.fetch(A, h2, policy_request("GET", B, h2)).await.unwrap();
        assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "h2={h2}");
        let (status, _, body) = w.fetch(A, h2, policy_request("POST", A, h2)).await.unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.len() < 64);
        let req = http::Request::get("/")
            .header("host", A)
            .body(Empty::new())
            .unwrap();
        let req = if h2 {
            http::Request::get(format!("https://{A}/"))
                .body(Empty::new())
                .unwrap()
        } else {
            req
        };
        let (status, headers, _) = w.fetch(A, h2, req).await.unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND, "never a redirect");
        assert!(!headers.contains_key("location"));
    }
    // The Host may carry a port and a different case.
    let req = http::Request::get("/.well-known/mta-sts.txt")
        .header("host", "MTA-STS.Alpha.Example:443")
        .body(Empty::new())
        .unwrap();
    assert_eq!(w.fetch(A, false, req).await.unwrap().0, StatusCode::OK);
    w.finish().await;
}

async fn acme_challenges_over_http(db: TestDatabase) {
    let w = World::start(db, &["alpha.example"]).await;
    let d =
        w.fx.store
            .all_tenants()
            .domain_by_label(&w.fx.store.all_tenants().served_domains().await.unwrap()[0].label)
            .await
            .unwrap()
            .unwrap();
    w.fx.store
        .put_challenge(&Challenge {
            token: "tok_123-abc".into(),
            domain_id: Some(d.id.clone()),
            key_authorization: "tok_123-abc.thumbprint".into(),
            expires_at: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
            kind: stsd_store::ChallengeKind::Http01,
        })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let (status, _, body) = w
            .http_get(A, "/.well-known/acme-challenge/tok_123-abc")
            .await;
        if status == StatusCode::OK {
            assert_eq!(body, Bytes::from_static(b"tok_123-abc.thumbprint"));
            break;
        }
        assert!(Instant::now() < deadline, "challenge not served within 1 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        w.http_get(A, "/.well-known/acme-challenge/other").await.0,
        StatusCode::NOT_FOUND
    );
    let (status, headers, _) = w.http_get(A, "/.well-known/mta-sts.txt").await;
    assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(
        headers["location"],
        "https://mta-sts.alpha.example/.well-known/mta-sts.txt"
    );
    let (status, _, _) = w.http_get("evil.example@attacker.example", "/").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    w.fx.store.delete_challenge("tok_123-abc").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    while w
        .http_get(A, "/.well-known/acme-challenge/tok_123-abc")
        .await
        .0
        == StatusCode::OK
    {
        assert!(
            Instant::now() < deadline,
            "challenge still served after deletion"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    w.finish().await;
}

async fn edits_and_new_domains_go_live_within_a_second(db: TestDatabase) {
    let w = World::start(db, &["alpha.example"]).await;
    let served = w.fx.store.all_tenants().served_domains().await.unwrap();
    let id = served[0].domain_id.clone();
    let enforce = policy(Mode::Enforce, &["mx.alpha.example", "*.backup.example"]);
    let v =
        w.fx.store
            .create_policy_version(&w.fx.tenant, &id, &enforce, "t")
            .await
            .unwrap()
            .version;
    let start = Instant::now();
    w.fx.store
        .all_tenants()
        .set_live_version(&id, &v.id)
        .await
        .unwrap();
    loop {
        let (_, _, body) = w
            .fetch(A, false, policy_request("GET", A, false))
            .await
            .unwrap();
        if body == enforce.render() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "edit not live within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A domain activated after start is picked up without a restart.
    w.fx.activate(
        "delta.example",
        &policy(Mode::Testing, &["mx.delta.example"]),
    )
    .await;
    let start = Instant::now();
    while w
        .tls("mta-sts.delta.example", &[b"http/1.1"])
        .await
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "new domain not live within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A domain that stops being served loses its certificate on the edge.
    w.fx.store
        .all_tenants()
        .transition_domain(
            &id,
            stsd_store::DomainState::Active,
            stsd_store::DomainState::Detached,
            "test",
        )
        .await
        .unwrap();
    let start = Instant::now();
    while w.tls(A, &[b"http/1.1"]).await.is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "detached domain still served"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The heartbeat reports the served position.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let nodes =
        w.fx.store
            .live_nodes(time::OffsetDateTime::now_utc() - time::Duration::seconds(10))
            .await
            .unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].snapshot_seq, w.snapshots.status().seq);
    assert_eq!(
        w.snapshots.status().seq,
        w.fx.store.latest_change_seq().await.unwrap()
    );
    w.finish().await;
}

async fn fetches_are_counted_per_day_and_network(db: TestDatabase) {
    let w = World::start(db, &["alpha.example"]).await;
    for h2 in [false, true, false] {
        assert_eq!(
            w.fetch(A, h2, policy_request("GET", A, h2))
                .await
                .unwrap()
                .0,
            StatusCode::OK
        );
    }
    // HEAD and errors are not fetches.
    w.fetch(A, false, policy_request("HEAD", A, false))
        .await
        .unwrap();
    w.fetch(A, false, policy_request("POST", A, false))
        .await
        .unwrap();
    w.snapshots.flush_fetches(&w.fx.store).await;
    w.fetch(A, false, policy_request("GET", A, false))
        .await
        .unwrap();
    w.snapshots.flush_fetches(&w.fx.store).await;
    let id = w.fx.store.all_tenants().served_domains().await.unwrap()[0]
        .domain_id
        .clone();
    let days =
        w.fx.store
            .policy_fetches(&w.fx.tenant, &id, 0)
            .await
            .unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].fetches, 4, "two flushes add up");
    assert_eq!(days[0].networks, ["127.0.0.0/24"]);
    let today = time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .div_euclid(86_400);
    assert_eq!(days[0].day, today);
    w.finish().await;
}

crate::both_backends!(
    fetches_are_counted_per_day_and_network,
    policies_by_sni_over_h1_and_h2,
    wrong_names_paths_and_methods,
    acme_challenges_over_http,
    edits_and_new_domains_go_live_within_a_second,
);
