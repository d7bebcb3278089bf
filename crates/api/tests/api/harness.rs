//! A running API server per test, and an HTTP client that keeps the session cookie.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use stsd_api::auth::JwtKeys;
use stsd_api::discovery::Resolvers;
use stsd_api::{ApiConfig, AppState};
use stsd_core::DomainName;
use stsd_sender::SenderView;
use stsd_store::Store;
use stsd_testkit::{FakeDns, TestDatabase};

/// The master key the test servers derive their JWT key from.
pub(crate) const MASTER_KEY: [u8; 32] = [7; 32];
/// A password zxcvbn rates strong.
pub(crate) const PASSWORD: &str = "violet quarry lantern 42 drift";

pub(crate) struct TestServer {
    pub(crate) base: String,
    pub(crate) dns: FakeDns,
    pub(crate) store: Store,
    /// The API's state, for what the binary reads beside the HTTP port (metrics).
    pub(crate) state: AppState,
    db: Option<TestDatabase>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub(crate) async fn start(db: TestDatabase) -> TestServer {
        TestServer::start_with(db, |_| {}).await
    }

    /// Starts a server whose configuration `configure` adjusts after the test defaults.
    pub(crate) async fn start_with(
        db: TestDatabase,
        configure: impl FnOnce(&mut ApiConfig),
    ) -> TestServer {
        TestServer::start_with_sender(db, configure, default_sender).await
    }

    /// Starts a server whose configuration `configure` adjusts and whose view of customers'
    /// own MTA-STS `sender` builds from the fake DNS's address.
    pub(crate) async fn start_with_sender(
        db: TestDatabase,
        configure: impl FnOnce(&mut ApiConfig),
        sender: impl FnOnce(SocketAddr) -> SenderView,
    ) -> TestServer {
        let store = Store::connect(db.url()).await.unwrap();
        store.migrate().await.unwrap();
        let dns = FakeDns::start().await.unwrap();
        let mut config = test_config();
        configure(&mut config);
        let (addr, task, state) = serve(store.clone(), &dns, config, sender(dns.addr())).await;
        TestServer {
            base: format!("http://{addr}"),
            dns,
            store,
            state,
            db: Some(db),
            task,
        }
    }

    pub(crate) fn client(&self) -> Client {
        Client::new(self.base.clone())
    }

    /// Starts another API node on the same database (its own connection pool, limiters and
    /// caches), as behind a load balancer; returns a client of it. It stops with the test.
    pub(crate) async fn second_node(&self) -> Client {
        let url = self.db.as_ref().map(|d| d.url().to_owned()).unwrap();
        let store = Store::connect(&url).await.unwrap();
        let sender = default_sender(self.dns.addr());
        let (addr, _task, _) = serve(store, &self.dns, test_config(), sender).await;
        Client::new(format!("http://{addr}"))
    }

    /// Signs up a new account with its own tenant; returns the logged-in client and tenant id.
    pub(crate) async fn signup(&self, email: &str, tenant: &str) -> (Client, String) {
        let mut c = self.client();
        let (status, body) = c
            .post(
                "/api/v1/auth/signup",
                serde_json::json!({ "email": email, "password": PASSWORD, "tenant_name": tenant }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        c.token = Some(body["access_token"].as_str().unwrap().to_owned());
        (c, body["tenant"]["id"].as_str().unwrap().to_owned())
    }

    pub(crate) async fn finish(mut self) {
        self.task.abort();
        self.store.close().await;
        if let Some(db) = self.db.take() {
            db.drop_database().await;
        }
    }
}

/// The test servers' configuration before a test's own changes.
fn test_config() -> ApiConfig {
    let mut config = ApiConfig::new(DomainName::parse_host("sts.test.example").unwrap());
    config.secure_cookies = false;
    config.domain_quota = 5;
    // No verifier worker runs unless a test starts one (gate.rs): an enforce switch is then
    // refused when this runs out, so keep it short.
    config.enforce_gate_wait = Duration::from_secs(3);
    config
}

/// Reads customers' own MTA-STS from the fake DNS, fetching policies from loopback on 443.
pub(crate) fn default_sender(dns: SocketAddr) -> SenderView {
    let mut sender = SenderView::new(&[dns], Duration::from_secs(2), None).unwrap();
    sender.allow_private = true;
    sender.fetch_timeout = Duration::from_secs(3);
    sender
}

/// Serves the API on a free loopback port, through the API's own listener.
async fn serve(
    store: Store,
    dns: &FakeDns,
    config: ApiConfig,
    sender: SenderView,
) -> (SocketAddr, tokio::task::JoinHandle<()>, AppState) {
    let resolvers = Resolvers::new(&[dns.addr()], Duration::from_secs(2)).unwrap();
    let state = AppState::new(
        store,
        config,
        JwtKeys::from_master_key(&MASTER_KEY),
        resolvers,
        sender,
    );
    state.set_master_key(std::sync::Arc::new(stsd_store::MasterKey::from_bytes(
        MASTER_KEY,
    )));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = stsd_api::router(state.clone());
    let task = tokio::spawn(stsd_api::listen::serve(
        listener,
        app,
        stsd_api::listen::ListenLimits::default(),
        stsd_net::Shutdown::never(),
    ));
    (addr, task, state)
}

/// Rate limits no test reaches: for tests that sign up many accounts or time logins.
pub(crate) fn generous_limits(config: &mut ApiConfig) {
    config.auth_limits = stsd_api::auth::AuthLimits {
        login_account_burst: 10_000,
        login_account_per_minute: 10_000,
        login_address_burst: 10_000,
        login_address_per_minute: 10_000,
        signup_address_burst: 10_000,
        signup_address_per_minute: 10_000,
    };
}

/// The SHA-256 hex under which the server stores a token (API, refresh, invitation).
pub(crate) fn token_hash(token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The JSON body of `(status, body)`, after checking the status.
#[track_caller]
pub(crate) fn expect(got: (StatusCode, Value), status: StatusCode) -> Value {
    assert_eq!(got.0, status, "{}", got.1);
    got.1
}

pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    pub(crate) token: Option<String>,
    /// The refresh cookie, as the browser would keep it.
    pub(crate) cookie: Option<String>,
}

impl Client {
    /// A client of the server at `base`, logged out.
    fn new(base: String) -> Client {
        Client {
            http: reqwest::Client::new(),
            base,
            token: None,
            cookie: None,
        }
    }

    pub(crate) async fn raw(
        &mut self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        extra: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(c) = &self.cookie {
            req = req.header("cookie", format!("stsd_refresh={c}"));
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        for v in headers.get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            if let Some(rest) = v.strip_prefix("stsd_refresh=") {
                let value = rest.split(';').next().unwrap_or_default();
                self.cookie = (!value.is_empty()).then(|| value.to_owned());
            }
        }
        let bytes = resp.bytes().await.unwrap();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, headers, json)
    }

    pub(crate) async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let body = body.map(|b| ("application/json", serde_json::to_vec(&b).unwrap()));
        let (s, _, v) = self.raw(method, path, body, &[]).await;
        (s, v)
    }

    pub(crate) async fn get(&mut self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }
    pub(crate) async fn post(&mut self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body)).await
    }
    pub(crate) async fn put(&mut self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PUT, path, Some(body)).await
    }
    pub(crate) async fn patch(&mut self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::PATCH, path, Some(body)).await
    }
    pub(crate) async fn delete(&mut self, path: &str) -> (StatusCode, Value) {
        self.send(Method::DELETE, path, None).await
    }
}

/// `both_backends!(a, b)` turns `async fn a(server: &TestServer)` into tests `sqlite::a` and
/// `postgres::a`. `both_backends!(configure = f; a, b)` starts their servers with
/// `f(&mut ApiConfig)` applied.
#[macro_export]
macro_rules! both_backends {
    (configure = $configure:path; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = stsd_testkit::TestDatabase::sqlite().await;
                    let server = $crate::harness::TestServer::start_with(db, $configure).await;
                    super::$name(&server).await;
                    server.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = stsd_testkit::TestDatabase::postgres().await;
                    let server = $crate::harness::TestServer::start_with(db, $configure).await;
                    super::$name(&server).await;
                    server.finish().await;
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = stsd_testkit::TestDatabase::sqlite().await;
                    let server = $crate::harness::TestServer::start(db).await;
                    super::$name(&server).await;
                    server.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = stsd_testkit::TestDatabase::postgres().await;
                    let server = $crate::harness::TestServer::start(db).await;
                    super::$name(&server).await;
                    server.finish().await;
                }
            )*
        }
    };
}
