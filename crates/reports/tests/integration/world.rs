//! A store with one registration, a loopback DNS holding the reporter's DKIM key, and the
//! SMTP receiver on a free port with a test certificate for STARTTLS.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use stsd_reports::{SmtpConfig, dkim_verifier, serve_smtp};
use stsd_store::{Domain, Ownership, Store, StoredReport};
use stsd_testkit::{FakeDns, TestDatabase};
use tokio::task::JoinHandle;

pub(crate) const HOST: &str = "reports.sts.test";

pub(crate) struct World {
    pub(crate) store: Store,
    pub(crate) domain: Domain,
    pub(crate) addr: SocketAddr,
    pub(crate) ca_pem: String,
    pub(crate) dns: FakeDns,
    signing_pkcs8: Vec<u8>,
    db: TestDatabase,
    task: JoinHandle<()>,
}

impl World {
    pub(crate) async fn start(db: TestDatabase, configure: impl FnOnce(&mut SmtpConfig)) -> World {
        rustls::crypto::aws_lc_rs::default_provider()
            .install_default()
            .ok();
        let store = Store::connect(db.url()).await.unwrap();
        store.migrate().await.unwrap();
        let tenant = store.create_tenant("Example").await.unwrap();
        let domain = store
            .create_domain(
                &tenant.id,
                &"example.com".parse().unwrap(),
                Ownership::Cname,
            )
            .await
            .unwrap();
        let cert =
            rcgen::generate_simple_self_signed(vec![HOST.to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        let tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der())),
            )
            .unwrap();
        let dns = FakeDns::start().await.unwrap();
        let signing_pkcs8 = Ed25519Key::generate_pkcs8().unwrap();
        let public = Ed25519Key::from_pkcs8_der(&signing_pkcs8)
            .unwrap()
            .public_key();
        let record = format!(
            "v=DKIM1; k=ed25519; p={}",
            base64::engine::general_purpose::STANDARD.encode(public)
        );
        dns.set_txt("sel._domainkey.reporter.example", &[&record]);
        let mut config = SmtpConfig::new(HOST);
        config.tls = Some(Arc::new(tls));
        configure(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let dkim = dkim_verifier(&[dns.addr()]).unwrap();
        let task = tokio::spawn(serve_smtp(listener, store.clone(), config, dkim));
        World {
            store,
            domain,
            addr,
            ca_pem: cert.cert.pem(),
            dns,
            signing_pkcs8,
            db,
            task,
        }
    }

    /// The DKIM key record as published for `domain`'s selector `sel`.
    pub(crate) fn dns_record_of(&self, _domain: &str) -> String {
        let public = Ed25519Key::from_pkcs8_der(&self.signing_pkcs8)
            .unwrap()
            .public_key();
        format!(
            "v=DKIM1; k=ed25519; p={}",
            base64::engine::general_purpose::STANDARD.encode(public)
        )
    }

    pub(crate) fn rcpt(&self) -> String {
        format!("{}@{HOST}", self.domain.label)
    }

    /// `message` with a DKIM signature of `domain` (selector `sel`), over the whole body or,
    /// with `length_limited`, with an `l=` tag.
    pub(crate) fn sign(&self, message: &str, domain: &str, length_limited: bool) -> String {
        let key = Ed25519Key::from_pkcs8_der(&self.signing_pkcs8).unwrap();
        let signature = DkimSigner::from_key(key)
            .domain(domain)
            .selector("sel")
            .headers(["From", "To", "Subject", "Date"])
            .body_length(length_limited)
            .sign(message.as_bytes())
            .unwrap();
        format!("{}{message}", signature.to_header())
    }

    pub(crate) async fn stored(&self) -> Vec<StoredReport> {
        self.store
            .reports(
                &self.domain.tenant_id,
                &self.domain.id,
                &stsd_store::ReportFilter::default(),
                100,
                0,
            )
            .await
            .unwrap()
    }

    pub(crate) async fn finish(self) {
        self.task.abort();
        self.store.close().await;
        self.db.drop_database().await;
    }
}

/// A TLS report for example.com.
pub(crate) fn report(organization: &str, report_id: &str, contact: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "organization-name": organization,
        "date-range": {"start-datetime": "2026-11-20T00:00:00Z", "end-datetime": "2026-11-20T23:59:59Z"},
        "contact-info": contact,
        "report-id": report_id,
        "policies": [{
            "policy": {"policy-type": "sts", "policy-domain": "example.com", "mx-host": "mx1.example.com"},
            "summary": {"total-successful-session-count": 10, "total-failure-session-count": 1},
            "failure-details": [{"result-type": "starttls-not-supported", "failed-session-count": 1,
                                 "receiving-mx-hostname": "mx1.example.com"}]
        }]
    }))
    .unwrap()
}

/// An RFC 8460 §5.3 report message from reports@reporter.example to `rcpt` with the report
/// gzipped and base64-encoded.
pub(crate) fn message(rcpt: &str, report_id: &str, report: &[u8]) -> String {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(report).unwrap();
    let gz = e.finish().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(gz);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: TLS Reports <reports@reporter.example>\r\n\
         To: {rcpt}\r\n\
         Subject: Report Domain: example.com Submitter: reporter.example Report-ID: <{report_id}>\r\n\
         Date: Fri, 20 Nov 2026 12:00:00 +0000\r\n\
         Message-ID: <{report_id}@reporter.example>\r\n\
         TLS-Report-Domain: example.com\r\n\
         TLS-Report-Submitter: reporter.example\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"----=_b\"\r\n\
         \r\n\
         ------=_b\r\n\
         Content-Type: text/plain; charset=\"us-ascii\"\r\n\
         \r\n\
         This is an aggregate TLS report from reporter.example\r\n\
         \r\n\
         ------=_b\r\n\
         Content-Type: application/tlsrpt+gzip\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"reporter.example!example.com!1763596800!1763683199.json.gz\"\r\n\
         \r\n\
         {}\r\n\
         ------=_b--\r\n",
        lines.join("\r\n")
    )
}
