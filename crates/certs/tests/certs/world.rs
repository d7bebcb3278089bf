//! A store with a tenant and a master key, a running edge over it (as `stsd serve` runs
//! one), and a TLS client that trusts a given root.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use stsd_core::{DomainName, MaxAge, Mode, MxPattern, Policy};
use stsd_serving::edge::{EdgeLimits, serve_http, serve_https};
use stsd_serving::{NodeInfo, SnapshotHandle};
use stsd_store::{Domain, DomainState, MasterKey, Ownership, Store, TenantId};
use stsd_testkit::TestDatabase;
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

pub(crate) struct World {
    pub(crate) store: Store,
    pub(crate) master: Arc<MasterKey>,
    pub(crate) https: SocketAddr,
    pub(crate) http: SocketAddr,
    tenant: TenantId,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    db: Option<TestDatabase>,
}

impl World {
    /// A migrated store with one tenant, and an edge following it.
    pub(crate) async fn start(db: TestDatabase) -> World {
        let store = Store::connect(db.url()).await.unwrap();
        store.migrate().await.unwrap();
        let master = Arc::new(MasterKey::from_bytes([7; 32]));
        let tenant = store.create_tenant("T").await.unwrap().id;
        let snapshots = SnapshotHandle::load(&store, master.clone()).await.unwrap();
        let node = NodeInfo {
            id: "test-node".into(),
            roles: "edge".into(),
            version: "test".into(),
            started_at: OffsetDateTime::now_utc(),
        };
        let mut tasks = vec![snapshots.spawn_follower(
            store.clone(),
            node,
            Duration::from_millis(200),
            Duration::from_millis(500),
        )];
        let https = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (https_addr, http_addr) = (https.local_addr().unwrap(), http.local_addr().unwrap());
        tasks.push(tokio::spawn(serve_https(
            https,
            snapshots.clone(),
            EdgeLimits::default(),
        )));
        tasks.push(tokio::spawn(serve_http(
            http,
            snapshots.clone(),
            EdgeLimits::default(),
        )));
        World {
            store,
            master,
            https: https_addr,
            http: http_addr,
            tenant,
            tasks,
            db: Some(db),
        }
    }

    /// Registers `name` with a live policy and marks its ownership verified, as the API and
    /// the verifier would. (The edge serves a host only with a live policy.)
    pub(crate) async fn verified_domain(&self, name: &str) -> Domain {
        let d = self
            .store
            .create_domain(
                &self.tenant,
                &DomainName::from_str(name).unwrap(),
                Ownership::Cname,
            )
            .await
            .unwrap();
        let policy = Policy::new(
            Mode::Testing,
            vec![MxPattern::from_str(&format!("mx.{name}")).unwrap()],
            MaxAge::new(86400).unwrap(),
        )
        .unwrap();
        let v = self
            .store
            .create_policy_version(&self.tenant, &d.id, &policy, "test")
            .await
            .unwrap()
            .version;
        self.store
            .all_tenants()
            .set_live_version(&d.id, &v.id)
            .await
            .unwrap();
        self.store
            .all_tenants()
            .transition_domain(&d.id, DomainState::Pending, DomainState::Verified, "test")
            .await
            .unwrap()
    }

    /// The chain the edge presents for `sni`, verified against `root_pem`; waits up to
    /// `timeout` for the edge to pick the certificate up from the change feed.
    pub(crate) async fn served_chain(
        &self,
        sni: &str,
        root_pem: &str,
        timeout: Duration,
    ) -> Vec<CertificateDer<'static>> {
        let start = std::time::Instant::now();
        loop {
            match self.handshake(sni, root_pem).await {
                Ok(chain) => return chain,
                Err(e) if start.elapsed() > timeout => {
                    panic!("the edge does not present a valid certificate for {sni}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// One TLS handshake with `sni`, trusting only `root_pem`.
    pub(crate) async fn handshake(
        &self,
        sni: &str,
        root_pem: &str,
    ) -> std::io::Result<Vec<CertificateDer<'static>>> {
        let tcp = TcpStream::connect(self.https).await?;
        let name = ServerName::try_from(sni.to_owned()).unwrap();
        let tls = connector(root_pem).connect(name, tcp).await?;
        Ok(tls
            .get_ref()
            .1
            .peer_certificates()
            .unwrap_or_default()
            .to_vec())
    }

    pub(crate) async fn finish(mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.store.close().await;
        if let Some(db) = self.db.take() {
            db.drop_database().await;
        }
    }
}

/// A TLS connector that trusts exactly the certificates in `root_pem`.
pub(crate) fn connector(root_pem: &str) -> TlsConnector {
    stsd_testkit::tls_connector(root_pem).unwrap()
}

/// The DER certificates of a PEM chain.
pub(crate) fn chain_der(chain_pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .map(Result::unwrap)
        .collect()
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
