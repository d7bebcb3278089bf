//! A store with active domains and certificates from a test CA, a running edge, and a client.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::ServerName;
use stsd_core::{DomainName, MaxAge, Mode, MxPattern, Policy};
use stsd_serving::dns::{DnsLimits, RrlConfig, ZoneConfig, serve_dns_with};
use stsd_serving::edge::{EdgeLimits, serve_http, serve_https};
use stsd_serving::{NodeInfo, SnapshotHandle};
use stsd_store::{Domain, DomainState, MasterKey, NewCertificate, Ownership, Store};
use stsd_testkit::TestDatabase;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;

/// The store side: a tenant, the master key and the test CA.
pub(crate) struct Fixture {
    pub(crate) store: Store,
    pub(crate) master: Arc<MasterKey>,
    ca: CertifiedIssuer<'static, KeyPair>,
    pub(crate) tenant: stsd_store::TenantId,
}

/// A fixture plus a running edge.
pub(crate) struct World {
    pub(crate) fx: Fixture,
    pub(crate) https: SocketAddr,
    pub(crate) http: SocketAddr,
    /// UDP and TCP on the same port.
    pub(crate) dns: SocketAddr,
    pub(crate) snapshots: SnapshotHandle,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    db: Option<TestDatabase>,
}

pub(crate) fn policy(mode: Mode, mx: &[&str]) -> Policy {
    Policy::new(
        mode,
        mx.iter().map(|m| MxPattern::from_str(m).unwrap()).collect(),
        MaxAge::new(86400).unwrap(),
    )
    .unwrap()
}

impl World {
    /// A store with `domains` active (each with a policy and a certificate), and an edge.
    pub(crate) async fn start(db: TestDatabase, domains: &[&str]) -> World {
        let url = db.url().to_owned();
        World::start_at(&url, Some(db), domains).await
    }

    /// Like [`World::start`] on a database the caller manages.
    ///
    /// Without response rate limiting: these tests poll one name from one address many times
    /// a second, as no caching resolver does. The flood tests run it with its defaults.
    pub(crate) async fn start_at(url: &str, db: Option<TestDatabase>, domains: &[&str]) -> World {
        let dns = DnsLimits {
            rrl: RrlConfig {
                enabled: false,
                ..RrlConfig::default()
            },
            ..DnsLimits::default()
        };
        World::start_limited(url, db, domains, EdgeLimits::default(), dns).await
    }

    /// Like [`World::start_at`] with the edge's and the DNS's limits given.
    pub(crate) async fn start_limited(
        url: &str,
        db: Option<TestDatabase>,
        domains: &[&str],
        edge: EdgeLimits,
        dns_limits: DnsLimits,
    ) -> World {
        let store = Store::connect(url).await.unwrap();
        store.migrate().await.unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "stsd test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let tenant = store.create_tenant("T").await.unwrap().id;
        let fx = Fixture {
            store,
            master: Arc::new(MasterKey::from_bytes([9; 32])),
            ca,
            tenant,
        };
        for d in domains {
            fx.activate(d, &policy(Mode::Testing, &[&format!("mx.{d}")]))
                .await;
        }
        let snapshots = SnapshotHandle::load(&fx.store, fx.master.clone())
            .await
            .unwrap();
        let node = NodeInfo {
            id: "test-node".into(),
            roles: "edge".into(),
            version: "test".into(),
            started_at: OffsetDateTime::now_utc(),
        };
        let mut tasks = vec![snapshots.spawn_follower(
            fx.store.clone(),
            node,
            Duration::from_millis(500),
            Duration::from_millis(500),
        )];
        // DNS announces ids only once it knows what the edges acknowledged.
        let start = std::time::Instant::now();
        while snapshots.acknowledged() == stsd_serving::Acknowledged::Unknown {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "no heartbeat data"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let https = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (https_addr, http_addr) = (https.local_addr().unwrap(), http.local_addr().unwrap());
        tasks.push(tokio::spawn(serve_https(
            https,
            snapshots.clone(),
            edge.clone(),
        )));
        tasks.push(tokio::spawn(serve_http(http, snapshots.clone(), edge)));
        let (udp, tcp) = dns_sockets().await;
        let dns = udp.local_addr().unwrap();
        let zone = ZoneConfig::new(
            DomainName::parse_host(ZONE).unwrap(),
            vec![
                "192.0.2.10".parse().unwrap(),
                "2001:db8::10".parse().unwrap(),
            ],
        );
        tasks.push(tokio::spawn(serve_dns_with(
            udp,
            tcp,
            snapshots.clone(),
            zone,
            dns_limits,
        )));
        World {
            fx,
            https: https_addr,
            http: http_addr,
            dns,
            snapshots,
            tasks,
            db,
        }
    }

    fn connector(&self, alpn: &[&[u8]]) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.fx.ca.der().clone()).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }

    /// Opens a TLS connection with `sni`; `Err` when the handshake fails.
    pub(crate) async fn tls(
        &self,
        sni: &str,
        alpn: &[&[u8]],
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        self.tls_at(self.https, sni, alpn).await
    }

    /// Like [`World::tls`] to another edge listener at `https` (one trusting the same CA).
    pub(crate) async fn tls_at(
        &self,
        https: SocketAddr,
        sni: &str,
        alpn: &[&[u8]],
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(https).await?;
        let name = ServerName::try_from(sni.to_owned()).unwrap();
        self.connector(alpn).connect(name, tcp).await
    }

    /// Like [`World::tls`] from the local address `from` (any 127.0.0.0/8 address is this
    /// host), so that a test can be several clients.
    pub(crate) async fn tls_from(
        &self,
        from: std::net::IpAddr,
        sni: &str,
        alpn: &[&[u8]],
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = connect_from(from, self.https).await?;
        let name = ServerName::try_from(sni.to_owned()).unwrap();
        self.connector(alpn).connect(name, tcp).await
    }

    /// One request over a new TLS connection: HTTP/2 when `h2`, else HTTP/1.1.
    pub(crate) async fn fetch(
        &self,
        sni: &str,
        h2: bool,
        request: http::Request<Empty<Bytes>>,
    ) -> std::io::Result<(http::StatusCode, http::HeaderMap, Bytes)> {
        self.fetch_at(self.https, sni, h2, request).await
    }

    /// Like [`World::fetch`] from another edge listener at `https`.
    pub(crate) async fn fetch_at(
        &self,
        https: SocketAddr,
        sni: &str,
        h2: bool,
        request: http::Request<Empty<Bytes>>,
    ) -> std::io::Result<(http::StatusCode, http::HeaderMap, Bytes)> {
        let alpn: &[&[u8]] = if h2 { &[b"h2"] } else { &[b"http/1.1"] };
        let tls = self.tls_at(https, sni, alpn).await?;
        let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        assert_eq!(negotiated.as_deref(), Some(alpn[0]), "ALPN");
        let io = TokioIo::new(tls);
        let response = if h2 {
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                    .await
                    .map_err(std::io::Error::other)?;
            tokio::spawn(conn);
            sender
                .send_request(request)
                .await
                .map_err(std::io::Error::other)?
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(std::io::Error::other)?;
            tokio::spawn(conn);
            sender
                .send_request(request)
                .await
                .map_err(std::io::Error::other)?
        };
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    /// A plain-HTTP GET on the challenge listener.
    pub(crate) async fn http_get(
        &self,
        host: &str,
        path: &str,
    ) -> (http::StatusCode, http::HeaderMap, Bytes) {
        let tcp = TcpStream::connect(self.http).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        let req = http::Request::get(path)
            .header("host", host)
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(req).await.unwrap();
        let (parts, body) = response.into_parts();
        (
            parts.status,
            parts.headers,
            body.collect().await.unwrap().to_bytes(),
        )
    }

    pub(crate) async fn finish(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.fx.store.close().await;
        if let Some(db) = self.db.take() {
            db.drop_database().await;
        }
    }
}

impl Fixture {
    /// Registers `name`, publishes `policy` as live, stores a certificate for
    /// `mta-sts.<name>` from the test CA and makes the registration active.
    pub(crate) async fn activate(&self, name: &str, policy: &Policy) -> Domain {
        let s = &self.store;
        let d = s
            .create_domain(
                &self.tenant,
                &DomainName::from_str(name).unwrap(),
                Ownership::Cname,
            )
            .await
            .unwrap();
        let v = s
            .create_policy_version(&self.tenant, &d.id, policy, "test")
            .await
            .unwrap()
            .version;
        s.all_tenants()
            .set_live_version(&d.id, &v.id)
            .await
            .unwrap();
        s.all_tenants().set_dns_version(&d.id, &v.id).await.unwrap();
        self.certify(&d, &format!("mta-sts.{name}")).await;
        s.all_tenants()
            .transition_domain(&d.id, DomainState::Pending, DomainState::Verified, "test")
            .await
            .unwrap();
        s.all_tenants()
            .transition_domain(&d.id, DomainState::Verified, DomainState::Active, "test")
            .await
            .unwrap()
    }

    /// Issues and stores a certificate for `host` (sealed key, like the certs worker will).
    pub(crate) async fn certify(&self, d: &Domain, host: &str) {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![host.to_owned()])
            .unwrap()
            .signed_by(&key, &self.ca)
            .unwrap();
        let now = OffsetDateTime::now_utc();
        self.store
            .all_tenants()
            .put_certificate(&NewCertificate {
                domain_id: d.id.clone(),
                chain_pem: format!("{}{}", cert.pem(), self.ca.pem()),
                key_ciphertext: self.master.seal(&key.serialize_der()).unwrap(),
                key_id: self.master.id().to_owned(),
                not_before: now - time::Duration::hours(1),
                not_after: now + time::Duration::days(90),
            })
            .await
            .unwrap();
    }
}

/// A TCP connection to `to` from the local address `from`.
pub(crate) async fn connect_from(
    from: std::net::IpAddr,
    to: SocketAddr,
) -> std::io::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// The service zone of the tests.
pub(crate) const ZONE: &str = "sts.test.example";

/// A UDP socket and a TCP listener on the same free loopback port.
async fn dns_sockets() -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
            return (udp, tcp);
        }
    }
    panic!("no free port for UDP and TCP");
}

/// Sends one query over UDP (or TCP) and returns the response.
pub(crate) async fn dns_query(
    server: SocketAddr,
    name: &str,
    qtype: RecordType,
    tcp: bool,
) -> Message {
    let mut msg = Message::query();
    msg.metadata.id = 4242;
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let mut edns = hickory_proto::op::Edns::new();
    edns.set_max_payload(1232);
    msg.edns = Some(edns);
    let bytes = msg.to_vec().unwrap();
    let reply = if tcp {
        let mut s = TcpStream::connect(server).await.unwrap();
        let len = u16::try_from(bytes.len()).unwrap().to_be_bytes();
        s.write_all(&len).await.unwrap();
        s.write_all(&bytes).await.unwrap();
        let mut len = [0u8; 2];
        s.read_exact(&mut len).await.unwrap();
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut buf).await.unwrap();
        buf
    } else {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.send_to(&bytes, server).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let (n, _) = tokio::time::timeout(Duration::from_secs(5), s.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        buf.truncate(n);
        buf
    };
    let m = Message::from_vec(&reply).unwrap();
    assert_eq!(m.metadata.id, 4242);
    m
}

/// A GET (or other method) for the policy on `host`.
pub(crate) fn policy_request(method: &str, host: &str, h2: bool) -> http::Request<Empty<Bytes>> {
    let b = http::Request::builder().method(method);
    let b = if h2 {
        b.uri(format!("https://{host}/.well-known/mta-sts.txt"))
    } else {
        b.uri("/.well-known/mta-sts.txt").header("host", host)
    };
    b.body(Empty::new()).unwrap()
}

/// `both_backends!(a)` turns `async fn a(db: TestDatabase)` into `sqlite::a` and `postgres::a`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(stsd_testkit::TestDatabase::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(stsd_testkit::TestDatabase::postgres().await).await;
                }
            )*
        }
    };
}
