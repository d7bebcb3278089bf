//! The control endpoint drives the fake zone and the MX certificate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use stsd_testkit::{FakeDns, FakeMx};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tower::ServiceExt;

use crate::control::{World, router};
use crate::mx_cert::MxCertificate;

fn resolver(addr: SocketAddr) -> TokioResolver {
    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let server = NameServerConfig::new(addr.ip(), true, vec![udp]);
    let mut builder = TokioResolver::builder_with_config(
        ResolverConfig::from_name_servers(vec![server]),
        TokioRuntimeProvider::default(),
    );
    let options = builder.options_mut();
    options.cache_size = 0;
    options.timeout = Duration::from_secs(2);
    options.use_hosts_file = ResolveHosts::Never;
    builder.build().unwrap()
}

async fn put(world: &World, path: &str, body: &str) -> StatusCode {
    let req = Request::put(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap();
    router(world.clone()).oneshot(req).await.unwrap().status()
}

/// The MX greets, offers STARTTLS, and hands over the certificate; the handshake's verdict
/// for `host` under the test CA.
async fn starttls(smtp: SocketAddr, root_pem: &str, host: &str) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut io = BufReader::new(tokio::net::TcpStream::connect(smtp).await.unwrap());
    let mut line = String::new();
    io.read_line(&mut line).await.unwrap();
    io.get_mut().write_all(b"EHLO test\r\n").await.unwrap();
    loop {
        line.clear();
        io.read_line(&mut line).await.unwrap();
        if line.starts_with("250 ") {
            break;
        }
    }
    io.get_mut().write_all(b"STARTTLS\r\n").await.unwrap();
    line.clear();
    io.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("220"), "{line}");
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            ServerName::try_from(host.to_owned()).unwrap(),
            io.into_inner(),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn records_and_certificate_follow_the_control_calls() {
    let dns = Arc::new(FakeDns::start().await.unwrap());
    let mx = Arc::new(MxCertificate::new().unwrap());
    let smtp = FakeMx::start(Some(mx.server_config().unwrap()))
        .await
        .unwrap();
    let world = World {
        dns: dns.clone(),
        mx: mx.clone(),
        smtp: smtp.addr(),
        policy: None,
    };
    let r = resolver(dns.addr());

    let st = put(
        &world,
        "/records/_mta-sts.example.com/CNAME",
        r#"{"values":["abc.policy.sts.example.net."]}"#,
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let cname = r
        .lookup("_mta-sts.example.com.", RecordType::CNAME)
        .await
        .unwrap();
    assert!(
        matches!(&cname.answers()[0].data, RData::CNAME(t) if t.0.to_ascii() == "abc.policy.sts.example.net.")
    );

    let st = put(
        &world,
        "/records/example.com/mx",
        r#"{"values":["10 mx1.example.com","20 mx2.example.com"]}"#,
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        r.lookup("example.com.", RecordType::MX)
            .await
            .unwrap()
            .answers()
            .len(),
        2
    );

    for (path, body) in [
        (
            "/records/example.com/MX",
            r#"{"values":["mx1.example.com"]}"#,
        ),
        ("/records/example.com/A", r#"{"values":["not an address"]}"#),
        ("/records/example.com/SRV", r#"{"values":[]}"#),
        ("/mx-certificate", r#"{"hosts":[]}"#),
    ] {
        assert_eq!(
            put(&world, path, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}"
        );
    }

    // The MX's certificate: valid for the names it was issued for, and only those.
    let root = mx.root_pem();
    assert!(
        starttls(smtp.addr(), &root, "mx1.example.com")
            .await
            .is_err()
    );
    let st = put(
        &world,
        "/mx-certificate",
        r#"{"hosts":["mx1.example.com","mx2.example.com"]}"#,
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    starttls(smtp.addr(), &root, "mx1.example.com")
        .await
        .unwrap();
    starttls(smtp.addr(), &root, "mx2.example.com")
        .await
        .unwrap();
    assert!(
        starttls(smtp.addr(), &root, "mx3.example.com")
            .await
            .is_err()
    );
}
