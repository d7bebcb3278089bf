//! The sender's view against a fake customer world: a real DNS server on loopback for the zone
//! and a real HTTPS host for `mta-sts.<domain>` with a test CA's certificate.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a panic is a failed test with its location"
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use stsd_core::{DomainName, Mode, Policy};
use stsd_sender::{Lookup, Reading, SenderView};
use stsd_testkit::{FakeDns, FakePolicyHost, PolicyResponse, TestCa};

const POLICY: &str = "version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.backup.example.com\nmax_age: 604800\n";
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct World {
    dns: FakeDns,
    ca: TestCa,
    host: FakePolicyHost,
    view: SenderView,
}

/// example.com with `_mta-sts`, `_smtp._tls` and an `mta-sts` host serving `POLICY` with a
/// valid certificate.
async fn world() -> World {
    let dns = FakeDns::start().await.unwrap();
    let ca = TestCa::new("sender test CA");
    let host = FakePolicyHost::start(
        SocketAddr::new(LOOPBACK, 0),
        ca.server(&["mta-sts.example.com"]),
        PolicyResponse::policy(POLICY),
    )
    .await
    .unwrap();
    dns.set_txt("_mta-sts.example.com", &["v=STSv1; id=20240101T000000;"]);
    dns.set_txt(
        "_smtp._tls.example.com",
        &["v=TLSRPTv1; rua=mailto:tls@example.com,https://reports.example.net/tlsrpt"],
    );
    dns.set_a("mta-sts.example.com", &[Ipv4Addr::LOCALHOST]);
    let mut view = SenderView::new(&[dns.addr()], Duration::from_secs(2), Some(ca.pem())).unwrap();
    view.allow_private = true;
    view.port = host.addr().port();
    view.fetch_timeout = Duration::from_secs(3);
    World {
        dns,
        ca,
        host,
        view,
    }
}

fn domain() -> DomainName {
    DomainName::parse_host("example.com").unwrap()
}

async fn read(w: &World) -> Reading {
    w.view.read(&domain()).await
}

fn invalid<T: std::fmt::Debug>(lookup: &Lookup<T>) -> &str {
    match lookup {
        Lookup::Invalid(why) => why,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn a_self_hosted_policy_is_read_as_senders_read_it() {
    let w = world().await;
    let reading = read(&w).await;
    assert_eq!(
        reading.sts_record,
        Lookup::Found("20240101T000000".parse().unwrap())
    );
    let Lookup::Found(fetched) = &reading.policy else {
        panic!("{:?}", reading.policy)
    };
    assert_eq!(fetched.policy, Policy::parse(POLICY).unwrap().policy);
    assert_eq!(fetched.policy.mode(), Mode::Enforce);
    assert!(fetched.warnings.is_empty());
    let Lookup::Found(rua) = &reading.tlsrpt else {
        panic!("{:?}", reading.tlsrpt)
    };
    let rua: Vec<&str> = rua.iter().map(|u| u.as_str()).collect();
    assert_eq!(
        rua,
        [
            "mailto:tls@example.com",
            "https://reports.example.net/tlsrpt"
        ]
    );
}

#[tokio::test]
async fn no_record_means_no_fetch() {
    let w = world().await;
    w.dns.remove("_mta-sts.example.com");
    w.dns.remove("_smtp._tls.example.com");
    let reading = read(&w).await;
    assert_eq!(reading.sts_record, Lookup::Absent);
    assert_eq!(reading.policy, Lookup::Absent);
    assert_eq!(reading.tlsrpt, Lookup::Absent);
}

#[tokio::test]
async fn two_sts_records_are_no_policy_and_others_are_ignored() {
    let w = world().await;
    w.dns.set_txt(
        "_mta-sts.example.com",
        &[
            "v=STSv1; id=a1;",
            "v=STSv1; id=b2;",
            "google-site-verification=x",
        ],
    );
    let reading = read(&w).await;
    assert!(invalid(&reading.sts_record).contains("2 records"));
    assert_eq!(reading.policy, Lookup::Absent);

    w.dns.set_txt(
        "_mta-sts.example.com",
        &["google-site-verification=x", "v=STSv1; id=c3;"],
    );
    assert_eq!(
        read(&w).await.sts_record,
        Lookup::Found("c3".parse().unwrap())
    );
}

#[tokio::test]
async fn a_certificate_for_another_name_is_not_trusted() {
    let w = world().await;
    let other = FakePolicyHost::start(
        SocketAddr::new(LOOPBACK, 0),
        w.ca.server(&["mta-sts.example.org"]),
        PolicyResponse::policy(POLICY),
    )
    .await
    .unwrap();
    let mut view = w.view.clone();
    view.port = other.addr().port();
    let reading = view.read(&domain()).await;
    let why = invalid(&reading.policy);
    assert!(why.contains("TLS handshake"), "{why}");
}

#[tokio::test]
async fn an_untrusted_root_is_not_trusted() {
    let w = world().await;
    let mut view = SenderView::new(&[w.dns.addr()], Duration::from_secs(2), None).unwrap();
    view.allow_private = true;
    view.port = w.host.addr().port();
    let reading = view.read(&domain()).await;
    assert!(invalid(&reading.policy).contains("TLS handshake"));
}

#[tokio::test]
async fn redirects_wrong_media_types_bad_bodies_and_errors_are_reported() {
    let w = world().await;
    let cases = [
        (
            PolicyResponse {
                status: "301 Moved Permanently".to_owned(),
                content_type: Some("text/plain".to_owned()),
                headers: vec!["Location: https://elsewhere.example/".to_owned()],
                body: Vec::new(),
            },
            "redirect",
        ),
        (
            PolicyResponse {
                content_type: Some("text/html; charset=utf-8".to_owned()),
                ..PolicyResponse::policy(POLICY)
            },
            "text/html",
        ),
        (
            PolicyResponse {
                status: "404 Not Found".to_owned(),
                ..PolicyResponse::policy("no")
            },
            "404",
        ),
        (
            PolicyResponse::policy("version: STSv1\nmode: enforce\nmax_age: 86400\n"),
            "not valid",
        ),
        (PolicyResponse::policy(&"x".repeat(70_000)), "larger than"),
    ];
    for (response, expected) in cases {
        w.host.set_response(response);
        let reading = read(&w).await;
        let why = invalid(&reading.policy);
        assert!(why.contains(expected), "{expected}: {why}");
    }
    // A charset parameter is fine.
    w.host.set_response(PolicyResponse {
        content_type: Some("text/plain; charset=utf-8".to_owned()),
        ..PolicyResponse::policy(POLICY)
    });
    assert!(matches!(read(&w).await.policy, Lookup::Found(_)));
}

#[tokio::test]
async fn private_addresses_are_not_fetched_from_unless_allowed() {
    let w = world().await;
    let mut view = w.view.clone();
    view.allow_private = false;
    let reading = view.read(&domain()).await;
    assert!(invalid(&reading.policy).contains("not on the public Internet"));
}

#[tokio::test]
async fn dns_failures_are_failures_not_absence() {
    let w = world().await;
    w.dns.set_servfail("_mta-sts.example.com", true);
    w.dns.set_servfail("_smtp._tls.example.com", true);
    let reading = read(&w).await;
    assert!(
        matches!(reading.sts_record, Lookup::Failed(_)),
        "{reading:?}"
    );
    assert!(matches!(reading.tlsrpt, Lookup::Failed(_)), "{reading:?}");
}

#[tokio::test]
async fn a_host_that_never_answers_is_bounded_by_the_fetch_timeout() {
    let w = world().await;
    // Accepts TCP, never speaks TLS.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut view = w.view.clone();
    view.port = silent.local_addr().unwrap().port();
    view.fetch_timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let reading = view.read(&domain()).await;
    assert!(matches!(reading.policy, Lookup::Failed(_)), "{reading:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}
