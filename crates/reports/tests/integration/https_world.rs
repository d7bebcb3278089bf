//! A store with two registrations, a loopback DNS, and the HTTPS receiver behind a TLS
//! listener on a free port, as the edge serves it; clients connect from any 127.0.0.0/8
//! address, each a source of its own.
//!
//! hickory answers the PTR of a loopback address itself (`localhost.`, RFC 6761) and never
//! asks the DNS, so no loopback client can be verified. To test a reporter on a public
//! address, the listener presents connections from [`REPORTER_LOOPBACK`] as coming from
//! [`REPORTER_ADDR`], as a load balancer passing on client addresses would; everything
//! else — TLS, HTTP, the DNS lookups — happens over real sockets.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::{Value, json};
use stsd_net::{HttpSizes, HttpTimeouts, Shutdown};
use stsd_reports::{HttpsReceiver, OriginVerifier, ReceiverLimits, report_resolver};
use stsd_store::{Domain, Ownership, ReportFilter, Store, StoredReport};
use stsd_testkit::{FakeDns, TestDatabase};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub(crate) const HOST: &str = "reports.sts.test";
/// Connections from here are presented to the receiver as from [`REPORTER_ADDR`].
pub(crate) const REPORTER_LOOPBACK: &str = "127.0.0.3";
/// A public address (TEST-NET-2) standing for a reporter's mail server.
pub(crate) const REPORTER_ADDR: [u8; 4] = [198, 51, 100, 7];

pub(crate) struct HttpsWorld {
    pub(crate) store: Store,
    pub(crate) domain: Domain,
    /// A second registration (example.org), for "another label".
    pub(crate) other: Domain,
    pub(crate) dns: FakeDns,
    addr: SocketAddr,
    ca: CertificateDer<'static>,
    db: TestDatabase,
    task: JoinHandle<()>,
}

/// What the receiver answered.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<u64>,
    pub(crate) body: Value,
}

impl HttpsWorld {
    pub(crate) async fn start(db: TestDatabase, limits: ReceiverLimits) -> HttpsWorld {
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
        let other = store
            .create_domain(
                &tenant.id,
                &"example.org".parse().unwrap(),
                Ownership::Cname,
            )
            .await
            .unwrap();
        let dns = FakeDns::start().await.unwrap();
        let cert = rcgen::generate_simple_self_signed(vec![HOST.to_owned()]).unwrap();
        let tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der())),
            )
            .unwrap();
        let receiver = Arc::new(HttpsReceiver::new(
            store.clone(),
            limits,
            OriginVerifier::new(report_resolver(&[dns.addr()]).unwrap()),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(serve(listener, TlsAcceptor::from(Arc::new(tls)), receiver));
        HttpsWorld {
            store,
            domain,
            other,
            dns,
            addr,
            ca: cert.cert.der().clone(),
            db,
            task,
        }
    }

    /// POSTs `body` as `application/tlsrpt+json` to `label`'s address from `local`.
    pub(crate) async fn post(&self, local: &str, label: &str, body: Vec<u8>) -> Answer {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
        let tcp = socket.connect(self.addr).await.unwrap();
        let tls = TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from(HOST).unwrap(), tcp)
            .await
            .unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = http::Request::builder()
            .method("POST")
            .uri(format!("/v1/tlsrpt/{label}"))
            .header("host", HOST)
            .header("content-type", "application/tlsrpt+json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse().unwrap());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            retry_after,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    pub(crate) async fn stored(&self, domain: &Domain) -> Vec<StoredReport> {
        self.store
            .reports(
                &domain.tenant_id,
                &domain.id,
                &ReportFilter::default(),
                200,
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

/// Accepts TLS connections and hands each request to the receiver with the client's
/// address (see the module's note on [`REPORTER_LOOPBACK`]).
async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    receiver: Arc<HttpsReceiver>,
) {
    let timeouts = HttpTimeouts {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(10),
        lifetime: Duration::from_secs(60),
        grace: Duration::from_secs(1),
    };
    let sizes = HttpSizes {
        max_header_bytes: 16 * 1024,
        max_streams: 10,
    };
    let builder = Arc::new(stsd_net::http::builder(&timeouts, &sizes));
    loop {
        let Ok((tcp, mut peer)) = listener.accept().await else {
            continue;
        };
        if peer.ip() == REPORTER_LOOPBACK.parse::<IpAddr>().unwrap() {
            peer.set_ip(IpAddr::from(REPORTER_ADDR));
        }
        let (acceptor, receiver, builder) = (acceptor.clone(), receiver.clone(), builder.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                let receiver = receiver.clone();
                async move { Ok::<_, std::convert::Infallible>(receiver.handle(req, peer).await) }
            });
            stsd_net::serve_connection(builder, tls, service, timeouts, Shutdown::never()).await;
        });
    }
}

/// A TLS report for `domain` from `organization` (contact `contact`) with these sessions;
/// `padding` bytes of additional information make it as large as a test needs.
pub(crate) fn report(
    organization: &str,
    contact: &str,
    report_id: &str,
    domain: &str,
    (ok, failed): (u64, u64),
    padding: usize,
) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "organization-name": organization,
        "date-range": {"start-datetime": "2026-11-20T00:00:00Z",
                       "end-datetime": "2026-11-20T23:59:59Z"},
        "contact-info": contact,
        "report-id": report_id,
        "policies": [{
            "policy": {"policy-type": "sts", "policy-domain": domain,
                       "mx-host": format!("mx1.{domain}")},
            "summary": {"total-successful-session-count": ok,
                        "total-failure-session-count": failed},
            "failure-details": [{"result-type": "certificate-expired",
                                 "receiving-mx-hostname": format!("mx1.{domain}"),
                                 "failed-session-count": failed,
                                 "additional-information": "x".repeat(padding)}]
        }]
    }))
    .unwrap()
}
