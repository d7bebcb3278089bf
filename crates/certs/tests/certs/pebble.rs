//! Against a real ACME server: Pebble (Debian package `pebble`), started per test on free
//! loopback ports, resolving through a fake DNS zone, validating HTTP-01 against the edge.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use stsd_certs::{Acme, AcmeConfig, Outcome, WorkerConfig, run_next, schedule_due};
use stsd_store::{CERT_JOB_KIND, DomainState};
use stsd_testkit::{FakeDns, TestDatabase};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::world::{World, chain_der, connector};

/// A running Pebble, killed on drop.
struct Pebble {
    child: Child,
    /// The ACME directory URL.
    directory: String,
    management: SocketAddr,
    /// The root of Pebble's own HTTPS listeners (what `STSD_ACME_CA_ROOTS` would name).
    listener_root_pem: String,
    _dir: tempfile::TempDir,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Pebble {
    /// Starts Pebble with its HTTP-01 validations going to `http_port` on whatever `dns`
    /// resolves the name to.
    async fn start(http_port: u16, dns: SocketAddr) -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        // Pebble's listener certificate, from a throwaway CA of the test.
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "pebble listener test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        let (listen, management) = (free_port(), free_port());
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{listen}"),
                "managementListenAddress": format!("127.0.0.1:{management}"),
                "certificate": cert_path,
                "privateKey": key_path,
                "httpPort": http_port,
                "tlsPort": free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        let config_path = dir.path().join("pebble-config.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let log = std::fs::File::create(dir.path().join("pebble.log")).unwrap();
        let child = Command::new("pebble")
            .arg("-config")
            .arg(&config_path)
            .arg("-dnsserver")
            .arg(dns.to_string())
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_VA_ALWAYS_VALID", "0")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("pebble is not installed (apt-get install pebble)");
        let pebble = Pebble {
            child,
            directory: format!("https://127.0.0.1:{listen}/dir"),
            management: SocketAddr::from((Ipv4Addr::LOCALHOST, management)),
            listener_root_pem: ca.pem(),
            _dir: dir,
        };
        let start = std::time::Instant::now();
        for port in [listen, management] {
            while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "pebble did not start"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        pebble
    }

    /// Pebble's issuing root, from its management interface.
    async fn root_pem(&self) -> String {
        let tcp = TcpStream::connect(self.management).await.unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = connector(&self.listener_root_pem)
            .connect(name, tcp)
            .await
            .unwrap();
        // HTTP/1.0: no chunked encoding, the body ends with the connection.
        tls.write_all(b"GET /roots/0 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .unwrap();
        let mut response = Vec::new();
        let _ = tls.read_to_end(&mut response).await;
        let response = String::from_utf8(response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        assert!(body.contains("BEGIN CERTIFICATE"), "{body}");
        body.to_owned()
    }

    fn acme_config(&self) -> AcmeConfig {
        AcmeConfig {
            extra_roots_pem: Some(self.listener_root_pem.clone()),
            contact_email: Some("ops@example.com".to_owned()),
            propagation_delay: Duration::from_millis(800),
            order_timeout: Duration::from_secs(30),
            ..AcmeConfig::new(self.directory.clone())
        }
    }
}

/// A verified domain gets a certificate from Pebble over HTTP-01 answered by the edge; the
/// edge then serves it and the chain verifies against Pebble's root. A domain whose
/// challenge cannot be reached fails with the CA's error and backs off. The account is
/// stored sealed and reused.
async fn pebble_issues_through_the_edge(db: TestDatabase) {
    let w = World::start(db).await;
    let dns = FakeDns::start().await.unwrap();
    dns.set_a("mta-sts.example.com", &[Ipv4Addr::LOCALHOST]);
    let pebble = Pebble::start(w.http.port(), dns.addr()).await;

    let acme = Acme::connect(w.store.clone(), w.master.clone(), pebble.acme_config())
        .await
        .unwrap();
    let account = w
        .store
        .acme_account(&pebble.directory)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.key_id, w.master.id());
    assert!(w.master.open(&account.credentials_ciphertext).is_ok());
    assert!(
        stsd_store::MasterKey::from_bytes([1; 32])
            .open(&account.credentials_ciphertext)
            .is_err()
    );

    let d = w.verified_domain("example.com").await;
    let broken = w.verified_domain("example.net").await;
    assert_eq!(schedule_due(&w.store).await.unwrap(), 2);
    let config = WorkerConfig::new("worker-a");
    let mut outcomes = Vec::new();
    while let Some(outcome) = run_next(&w.store, &w.master, &acme, &config).await.unwrap() {
        outcomes.push(outcome);
    }
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    for outcome in &outcomes {
        match outcome {
            Outcome::Issued { domain, .. } => assert_eq!(domain, &d.id),
            Outcome::Failed { domain, error, .. } => {
                assert_eq!(domain, &broken.id);
                assert!(error.contains("mta-sts.example.net"), "{error}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    let state = |id| {
        let store = w.store.clone();
        async move { store.domain_by_id(&id).await.unwrap().unwrap().state }
    };
    assert_eq!(state(d.id.clone()).await, DomainState::Active);
    assert_eq!(state(broken.id.clone()).await, DomainState::Verified);
    let job = w
        .store
        .job_status(CERT_JOB_KIND, broken.id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.attempts, 1);
    assert!(job.last_error.is_some());
    // Every challenge was cleaned up, the failed one too.
    assert!(w.store.live_challenges().await.unwrap().is_empty());

    let root = pebble.root_pem().await;
    let stored = w.store.current_certificate(&d.id).await.unwrap().unwrap();
    let served = w
        .served_chain("mta-sts.example.com", &root, Duration::from_secs(5))
        .await;
    assert_eq!(served, chain_der(&stored.chain_pem));
    assert!(served.len() >= 2, "leaf and intermediate");

    // A second connect reuses the stored account instead of creating another.
    let again = Acme::connect(w.store.clone(), Arc::clone(&w.master), pebble.acme_config())
        .await
        .unwrap();
    let after = w
        .store
        .acme_account(&pebble.directory)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.credentials_ciphertext, account.credentials_ciphertext);
    drop(again);
    drop(pebble);
    w.finish().await;
}

both_backends!(pebble_issues_through_the_edge);
