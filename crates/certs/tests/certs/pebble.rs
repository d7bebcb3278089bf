//! Against a real ACME server: Pebble (Debian package `pebble`), started per test on free
//! loopback ports, resolving through a fake DNS zone, validating HTTP-01 against the edge.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls::pki_types::ServerName;
use stsd_certs::{
    Acme, AcmeChallenge, AcmeConfig, EabKey, FallbackIssuer, Issuer, Outcome, WorkerConfig,
    run_next, schedule_due,
};
use stsd_store::{CERT_JOB_KIND, DomainState};
use stsd_testkit::{
    FakeDns, PEBBLE_EAB_HMAC_KEY, PEBBLE_EAB_KID, PebbleOptions, PebbleServer, TestDatabase,
};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::world::{World, chain_der};

/// Pebble (from `stsd-testkit`) with what these tests ask of it.
struct Pebble {
    server: PebbleServer,
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
        Pebble::start_with(PebbleOptions::new(dns, http_port)).await
    }

    /// [`Pebble::start`] with `options`.
    async fn start_with(options: PebbleOptions) -> Pebble {
        Pebble {
            server: PebbleServer::start(options).await.unwrap(),
        }
    }

    /// The ACME directory URL.
    fn directory(&self) -> &str {
        self.server.directory()
    }

    /// Pebble's issuing root, from its management interface.
    async fn root_pem(&self) -> String {
        self.server.issuing_root().await.unwrap()
    }

    fn acme_config(&self) -> AcmeConfig {
        AcmeConfig {
            extra_roots_pem: Some(self.server.listener_root_pem().to_owned()),
            contact_email: Some("ops@example.com".to_owned()),
            propagation_delay: Duration::from_millis(800),
            order_timeout: Duration::from_secs(30),
            ..AcmeConfig::new(self.directory().to_owned())
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
        .acme_account(pebble.directory())
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
        async move {
            store
                .all_tenants()
                .domain_by_id(&id)
                .await
                .unwrap()
                .unwrap()
                .state
        }
    };
    assert_eq!(state(d.id.clone()).await, DomainState::Active);
    assert_eq!(state(broken.id.clone()).await, DomainState::Verified);
    let job = w
        .store
        .all_tenants()
        .job_status(CERT_JOB_KIND, broken.id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.attempts, 1);
    assert!(job.last_error.is_some());
    // Every challenge was cleaned up, the failed one too.
    assert!(w.store.live_challenges().await.unwrap().is_empty());

    let root = pebble.root_pem().await;
    let stored = w
        .store
        .all_tenants()
        .current_certificate(&d.id)
        .await
        .unwrap()
        .unwrap();
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
        .acme_account(pebble.directory())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.credentials_ciphertext, account.credentials_ciphertext);
    drop(again);
    drop(pebble);
    w.finish().await;
}

/// With External Account Binding required, creating the account without a binding (or
/// with a wrong key) fails with the CA's problem; with the configured binding it succeeds
/// and a certificate is issued.
async fn pebble_requires_external_account_binding(db: TestDatabase) {
    let w = World::start(db).await;
    let dns = FakeDns::start().await.unwrap();
    dns.set_a("mta-sts.example.com", &[Ipv4Addr::LOCALHOST]);
    let pebble = Pebble::start_with(PebbleOptions {
        require_eab: true,
        ..PebbleOptions::new(dns.addr(), w.http.port())
    })
    .await;

    let refused = Acme::connect(w.store.clone(), w.master.clone(), pebble.acme_config())
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("externalAccountRequired"), "{refused}");
    let wrong = AcmeConfig {
        eab: Some(EabKey {
            kid: PEBBLE_EAB_KID.to_owned(),
            hmac_key: vec![1; 48],
        }),
        ..pebble.acme_config()
    };
    let refused = Acme::connect(w.store.clone(), w.master.clone(), wrong)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("ACME"), "{refused}");
    assert!(
        w.store
            .acme_account(pebble.directory())
            .await
            .unwrap()
            .is_none(),
        "no account is stored after a refusal"
    );

    let bound = AcmeConfig {
        eab: Some(EabKey {
            kid: PEBBLE_EAB_KID.to_owned(),
            hmac_key: URL_SAFE_NO_PAD.decode(PEBBLE_EAB_HMAC_KEY).unwrap(),
        }),
        ..pebble.acme_config()
    };
    let acme = Acme::connect(w.store.clone(), w.master.clone(), bound)
        .await
        .unwrap();
    let d = w.verified_domain("example.com").await;
    assert_eq!(schedule_due(&w.store).await.unwrap(), 1);
    let outcome = run_next(&w.store, &w.master, &acme, &WorkerConfig::new("worker-a"))
        .await
        .unwrap();
    assert!(
        matches!(&outcome, Some(Outcome::Issued { domain, .. }) if domain == &d.id),
        "{outcome:?}"
    );
    let root = pebble.root_pem().await;
    w.served_chain("mta-sts.example.com", &root, Duration::from_secs(5))
        .await;
    drop(pebble);
    w.finish().await;
}

/// TLS-ALPN-01: Pebble validates by a handshake on the edge's HTTPS port offering only
/// `acme-tls/1`; the edge answers with the challenge certificate built from the store's
/// digest, no HTTP-01 token is published, and the certificate is issued and served. Once the
/// challenge is gone, an `acme-tls/1` handshake gets no certificate at all.
async fn pebble_validates_tls_alpn_01_on_the_edge(db: TestDatabase) {
    let w = World::start(db).await;
    let dns = FakeDns::start().await.unwrap();
    dns.set_a("mta-sts.example.com", &[Ipv4Addr::LOCALHOST]);
    // HTTP-01 validations would go to a closed port: only TLS-ALPN-01 can succeed.
    let pebble = Pebble::start_with(PebbleOptions {
        tls_port: Some(w.https.port()),
        ..PebbleOptions::new(dns.addr(), free_port())
    })
    .await;
    let config = AcmeConfig {
        challenge: AcmeChallenge::TlsAlpn01,
        ..pebble.acme_config()
    };
    let acme = Acme::connect(w.store.clone(), w.master.clone(), config)
        .await
        .unwrap();
    let d = w.verified_domain("example.com").await;
    assert_eq!(schedule_due(&w.store).await.unwrap(), 1);
    let outcome = run_next(&w.store, &w.master, &acme, &WorkerConfig::new("worker-a"))
        .await
        .unwrap();
    assert!(
        matches!(&outcome, Some(Outcome::Issued { domain, .. }) if domain == &d.id),
        "{outcome:?}"
    );
    assert!(w.store.live_tls_alpn_challenges().await.unwrap().is_empty());
    let root = pebble.root_pem().await;
    let stored = w
        .store
        .all_tenants()
        .current_certificate(&d.id)
        .await
        .unwrap()
        .unwrap();
    let served = w
        .served_chain("mta-sts.example.com", &root, Duration::from_secs(5))
        .await;
    assert_eq!(served, chain_der(&stored.chain_pem));

    // No validation pending: a client offering only acme-tls/1 gets no certificate.
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AcceptAnything))
    .with_no_client_auth();
    config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
    let tcp = TcpStream::connect(w.https).await.unwrap();
    let name = ServerName::try_from("mta-sts.example.com").unwrap();
    let refused = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await;
    assert!(refused.is_err(), "no challenge pending, no handshake");
    drop(pebble);
    w.finish().await;
}

/// Accepts any server certificate: for checking that the edge presents none at all.
#[derive(Debug)]
struct AcceptAnything;

impl rustls::client::danger::ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Two CAs, two Pebbles: the first one's validations can never reach the edge (its orders
/// fail), the second's can. The first attempt goes to the first CA and fails; the next goes to
/// the second, and the edge serves its certificate.
async fn a_second_ca_issues_when_the_first_fails(db: TestDatabase) {
    let w = World::start(db).await;
    let dns = FakeDns::start().await.unwrap();
    dns.set_a("mta-sts.example.com", &[Ipv4Addr::LOCALHOST]);
    // Nothing listens there: the first CA's HTTP-01 validation fails.
    let failing = Pebble::start(free_port(), dns.addr()).await;
    let working = Pebble::start(w.http.port(), dns.addr()).await;
    let first = Acme::connect(w.store.clone(), w.master.clone(), failing.acme_config())
        .await
        .unwrap();
    let second = Acme::connect(w.store.clone(), w.master.clone(), working.acme_config())
        .await
        .unwrap();
    let chain = FallbackIssuer::new(vec![Arc::new(first), Arc::new(second)], 1);
    assert_eq!(
        chain.name(),
        format!("{}, then {}", failing.directory(), working.directory())
    );

    let d = w.verified_domain("example.com").await;
    assert_eq!(schedule_due(&w.store).await.unwrap(), 1);
    let config = WorkerConfig {
        backoff_base: Duration::from_millis(100),
        ..WorkerConfig::new("worker-a")
    };
    let outcome = run_next(&w.store, &w.master, &chain, &config)
        .await
        .unwrap()
        .unwrap();
    let Outcome::Failed { error, .. } = outcome else {
        panic!("the first CA cannot validate: {outcome:?}");
    };
    assert!(error.contains("mta-sts.example.com"), "{error}");
    let start = std::time::Instant::now();
    let issued = loop {
        tokio::time::sleep(Duration::from_millis(150)).await;
        if let Some(outcome) = run_next(&w.store, &w.master, &chain, &config)
            .await
            .unwrap()
        {
            break outcome;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no second attempt"
        );
    };
    assert!(matches!(issued, Outcome::Issued { .. }), "{issued:?}");

    // The second CA's certificate is served: it verifies against that CA's root.
    let stored = w
        .store
        .all_tenants()
        .current_certificate(&d.id)
        .await
        .unwrap()
        .unwrap();
    let served = w
        .served_chain(
            "mta-sts.example.com",
            &working.root_pem().await,
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(served, chain_der(&stored.chain_pem));
    drop((failing, working));
    w.finish().await;
}

both_backends!(
    pebble_issues_through_the_edge,
    pebble_requires_external_account_binding,
    pebble_validates_tls_alpn_01_on_the_edge,
    a_second_ca_issues_when_the_first_fails
);
