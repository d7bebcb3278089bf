//! The MX STARTTLS check against fake MX hosts on loopback: a certificate valid for the MX
//! name passes; no STARTTLS, a name only in the CN, a certificate for the CNAME target, an
//! untrusted CA and an MX without address fail; an unreachable MX concludes nothing.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use stsd_store::Ownership;
use stsd_testkit::FakeMx;
use stsd_verifier::{CheckName, MxProbe, Outcome, check_now};

use crate::world::World;

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "test MX CA");
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A TLS server config with a leaf from `ca` for `sans` (DNS names) and common name `cn`.
fn server(ca: &Ca, sans: &[&str], cn: &str) -> Arc<rustls::ServerConfig> {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = sans
        .iter()
        .map(|s| SanType::DnsName((*s).try_into().unwrap()))
        .collect();
    params.distinguished_name.push(DnType::CommonName, cn);
    let leaf = params.signed_by(&key, &ca.issuer).unwrap();
    Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap(),
    )
}

/// Runs the checks of a fresh `domain` whose single MX is `mx`, probing `port`.
async fn mx_result(w: &World, domain: &str, port: u16, roots: &str) -> (Outcome, String) {
    let d = w.domain(domain, Ownership::Cname).await;
    let mut probe = MxProbe::new("verifier.test", Some(roots)).unwrap();
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
    let ca = ca();
    let other_ca = self::ca();
    let lo = [Ipv4Addr::LOCALHOST];

    let good = FakeMx::start(Some(server(&ca, &["mx.good.test"], "mx.good.test")))
        .await
        .unwrap();
    w.dns.set_mx("good.test", &[(10, "mx.good.test")]);
    w.dns.set_a("mx.good.test", &lo);
    let (r, why) = mx_result(w, "good.test", good.addr().port(), &ca.pem).await;
    assert_eq!(r, Outcome::Pass, "{why}");
    assert!(why.contains("mx.good.test (TLS 1."), "{why}");

    // Wildcard SAN covering exactly the MX name's first label.
    let wild = FakeMx::start(Some(server(&ca, &["*.wild.test"], "x")))
        .await
        .unwrap();
    w.dns.set_mx("wild.test", &[(10, "mx.wild.test")]);
    w.dns.set_a("mx.wild.test", &lo);
    let (r, why) = mx_result(w, "wild.test", wild.addr().port(), &ca.pem).await;
    assert_eq!(r, Outcome::Pass, "{why}");

    let plain = FakeMx::start(None).await.unwrap();
    w.dns.set_mx("plain.test", &[(10, "mx.plain.test")]);
    w.dns.set_a("mx.plain.test", &lo);
    let (r, why) = mx_result(w, "plain.test", plain.addr().port(), &ca.pem).await;
    assert_eq!(r, Outcome::Fail, "{why}");
    assert!(why.contains("does not offer STARTTLS"), "{why}");

    // The MX name only in the CN: senders match SAN DNS names only.
    let cn_only = FakeMx::start(Some(server(&ca, &["other.cn.test"], "mx.cn.test")))
        .await
        .unwrap();
    w.dns.set_mx("cn.test", &[(10, "mx.cn.test")]);
    w.dns.set_a("mx.cn.test", &lo);
    let (r, why) = mx_result(w, "cn.test", cn_only.addr().port(), &ca.pem).await;
    assert_eq!(r, Outcome::Fail, "{why}");

    // The MX name is a CNAME; the certificate names only its target.
    let alias = FakeMx::start(Some(server(&ca, &["real.alias.test"], "real.alias.test")))
        .await
        .unwrap();
    w.dns.set_mx("alias.test", &[(10, "mx.alias.test")]);
    w.dns.set_cname("mx.alias.test", "real.alias.test");
    w.dns.set_a("real.alias.test", &lo);
    let (r, why) = mx_result(w, "alias.test", alias.addr().port(), &ca.pem).await;
    assert_eq!(r, Outcome::Fail, "{why}");

    // A certificate from a CA the sender does not trust.
    let untrusted = FakeMx::start(Some(server(&other_ca, &["mx.untrusted.test"], "x")))
        .await
        .unwrap();
    w.dns.set_mx("untrusted.test", &[(10, "mx.untrusted.test")]);
    w.dns.set_a("mx.untrusted.test", &lo);
    let (r, why) = mx_result(w, "untrusted.test", untrusted.addr().port(), &ca.pem).await;
    assert_eq!(r, Outcome::Fail, "{why}");
    assert!(why.contains("TLS fails"), "{why}");

    // No address at all.
    w.dns.set_mx("noaddr.test", &[(10, "mx.noaddr.test")]);
    let (r, why) = mx_result(w, "noaddr.test", good.addr().port(), &ca.pem).await;
    assert_eq!(r, Outcome::Fail, "{why}");
    assert!(why.contains("has no IP address"), "{why}");

    // Nothing listening: unknown, not a failure.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    w.dns.set_mx("down.test", &[(10, "mx.down.test")]);
    w.dns.set_a("mx.down.test", &lo);
    let (r, why) = mx_result(w, "down.test", closed_port, &ca.pem).await;
    assert_eq!(r, Outcome::Error, "{why}");
    world.close().await;
}
