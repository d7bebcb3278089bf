//! The MX STARTTLS check against fake MX hosts on loopback: a certificate valid for the MX
//! name passes; no STARTTLS, a name only in the CN, a certificate for the CNAME target, an
//! untrusted CA and an MX without address fail; an unreachable MX concludes nothing. Without
//! `allow_private` (the default), MX hosts on non-public addresses fail without being
//! connected to.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use stsd_store::Ownership;
use stsd_testkit::{FakeMx, TestCa};
use stsd_verifier::{CheckName, MxProbe, Outcome, check_now};

use crate::world::World;

/// Runs the checks of a fresh `domain` whose single MX is `mx`, probing `port` on loopback.
async fn mx_result(w: &World, domain: &str, port: u16, roots: &str) -> (Outcome, String) {
    let mut probe = MxProbe::new("verifier.test", Some(roots)).unwrap();
    // The fake MX hosts listen on 127.0.0.1.
    probe.allow_private = true;
    mx_result_with(w, domain, port, probe).await
}

/// Runs the checks of a fresh `domain` with `probe` on `port`.
async fn mx_result_with(
    w: &World,
    domain: &str,
    port: u16,
    mut probe: MxProbe,
) -> (Outcome, String) {
    let d = w.domain(domain, Ownership::Cname).await;
    probe.port = port;
    probe.timeout = Duration::from_secs(3);
    let cfg = w.cfg.clone().with_mx_probe(probe);
    let checks = check_now(&w.store, &cfg, &d.id).await.unwrap();
    let c = checks
        .iter()
        .find(|c| c.name == CheckName::MxStarttls)
        .expect("the MX STARTTLS check runs");
    assert_eq!(c.record, domain);
    (c.result, c.explanation.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_starttls() {
    let world = World::sqlite().await;
    let w = &world;
    let ca = TestCa::new("test MX CA");
    let other_ca = TestCa::new("another CA");
    let lo = [Ipv4Addr::LOCALHOST];

    let good = FakeMx::start(Some(ca.server_with_cn(&["mx.good.test"], "mx.good.test")))
        .await
        .unwrap();
    w.dns.set_mx("good.test", &[(10, "mx.good.test")]);
    w.dns.set_a("mx.good.test", &lo);
    let (r, why) = mx_result(w, "good.test", good.addr().port(), ca.pem()).await;
    assert_eq!(r, Outcome::Pass, "{why}");
    assert!(why.contains("mx.good.test (TLS 1."), "{why}");

    // Wildcard SAN covering exactly the MX name's first label.
    let wild = FakeMx::start(Some(ca.server_with_cn(&["*.wild.test"], "x")))
        .await
        .unwrap();
    w.dns.set_mx("wild.test", &[(10, "mx.wild.test")]);
    w.dns.set_a("mx.wild.test", &lo);
    let (r, why) = mx_result(w, "wild.test", wild.addr().port(), ca.pem()).await;
    assert_eq!(r, Outcome::Pass, "{why}");

    let plain = FakeMx::start(None).await.unwrap();
    w.dns.set_mx("plain.test", &[(10, "mx.plain.test")]);
    w.dns.set_a("mx.plain.test", &lo);
    let (r, why) = mx_result(w, "plain.test", plain.addr().port(), ca.pem()).await;
    assert_eq!(r, Outcome::Fail, "{why}");
    assert!(why.contains("does not offer STARTTLS"), "{why}");

    // The MX name only in the CN: senders match SAN DNS names only.
    let cn_only = FakeMx::start(Some(ca.server_with_cn(&["other.cn.test"], "mx.cn.test")))
        .await
        .unwrap();
    w.dns.set_mx("cn.test", &[(10, "mx.cn.test")]);
    w.dns.set_a("mx.cn.test", &lo);
    let (r, why) = mx_result(w, "cn.test", cn_only.addr().port(), ca.pem()).await;
    assert_eq!(r, Outcome::Fail, "{why}");

    // The MX name is a CNAME; the certificate names only its target.
    let alias = FakeMx::start(Some(
        ca.server_with_cn(&["real.alias.test"], "real.alias.test"),
    ))
    .await
    .unwrap();
    w.dns.set_mx("alias.test", &[(10, "mx.alias.test")]);
    w.dns.set_cname("mx.alias.test", "real.alias.test");
    w.dns.set_a("real.alias.test", &lo);
    let (r, why) = mx_result(w, "alias.test", alias.addr().port(), ca.pem()).await;
    assert_eq!(r, Outcome::Fail, "{why}");

    // A certificate from a CA the sender does not trust.
    let untrusted = FakeMx::start(Some(other_ca.server_with_cn(&["mx.untrusted.test"], "x")))
        .await
        .unwrap();
    w.dns.set_mx("untrusted.test", &[(10, "mx.untrusted.test")]);
    w.dns.set_a("mx.untrusted.test", &lo);
    let (r, why) = mx_result(w, "untrusted.test", untrusted.addr().port(), ca.pem()).await;
    assert_eq!(r, Outcome::Fail, "{why}");
    assert!(why.contains("TLS fails"), "{why}");

    // No address at all.
    w.dns.set_mx("noaddr.test", &[(10, "mx.noaddr.test")]);
    let (r, why) = mx_result(w, "noaddr.test", good.addr().port(), ca.pem()).await;
    assert_eq!(r, Outcome::Fail, "{why}");
    assert!(why.contains("has no IP address"), "{why}");

    // Nothing listening: unknown, not a failure.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    w.dns.set_mx("down.test", &[(10, "mx.down.test")]);
    w.dns.set_a("mx.down.test", &lo);
    let (r, why) = mx_result(w, "down.test", closed_port, ca.pem()).await;
    assert_eq!(r, Outcome::Error, "{why}");
    world.close().await;
}

/// The finding: the probe connected to whatever the tenant's MX records named, and told
/// "connection refused", "no STARTTLS" and TLS errors apart — a port-25 scanner of the
/// operator's network. Now a non-public address fails at once, naming the host, and no
/// connection is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_mx_addresses_are_not_probed() {
    let world = World::sqlite().await;
    let w = &world;
    let probe = MxProbe::new("verifier.test", None).unwrap();
    assert!(
        !probe.allow_private,
        "private addresses are refused by default"
    );

    // A listener on loopback that records every connection made to it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let accepting = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(tcp);
        }
    });

    w.dns.set_mx("inside.test", &[(10, "mx.inside.test")]);
    w.dns.set_a("mx.inside.test", &[Ipv4Addr::LOCALHOST]);
    let started = std::time::Instant::now();
    let (r, why) = mx_result_with(w, "inside.test", port, probe.clone()).await;
    assert_eq!(r, Outcome::Fail, "{why}");
    assert!(
        why.contains("mx.inside.test (127.0.0.1): its address is not public"),
        "{why}"
    );
    // Not one of the answers that told a scanner something about the port.
    for telling in [
        "cannot connect",
        "STARTTLS answered",
        "does not offer",
        "TLS fails",
    ] {
        assert!(!why.contains(telling), "{why}");
    }

    // Every other kind of non-public address, on the same port: none is connected to (most
    // would time out if they were), and a host with a public and a private address fails too.
    let cases: [(&str, &[Ipv4Addr], &[Ipv6Addr]); 8] = [
        ("rfc1918.test", &[Ipv4Addr::new(10, 0, 0, 25)], &[]),
        ("cgnat.test", &[Ipv4Addr::new(100, 64, 0, 25)], &[]),
        ("linklocal.test", &[Ipv4Addr::new(169, 254, 169, 254)], &[]),
        ("unspecified.test", &[Ipv4Addr::UNSPECIFIED], &[]),
        ("documentation.test", &[Ipv4Addr::new(192, 0, 2, 25)], &[]),
        ("ula.test", &[], &["fd00::25".parse().unwrap()]),
        ("v6loopback.test", &[], &[Ipv6Addr::LOCALHOST]),
        (
            "mixed.test",
            &[Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(192, 168, 0, 25)],
            &[],
        ),
    ];
    for (domain, v4, v6) in cases {
        let host = format!("mx.{domain}");
        w.dns.set_mx(domain, &[(10, &host)]);
        if !v4.is_empty() {
            w.dns.set_a(&host, v4);
        }
        if !v6.is_empty() {
            w.dns.set_aaaa(&host, v6);
        }
        let (r, why) = mx_result_with(w, domain, port, probe.clone()).await;
        assert_eq!(r, Outcome::Fail, "{domain}: {why}");
        assert!(why.contains(&host), "{domain}: {why}");
        assert!(why.contains("not public"), "{domain}: {why}");
    }
    // Refusals do not wait for any timeout.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the probe connected to a private address"
    );
    accepting.abort();
    world.close().await;
}
