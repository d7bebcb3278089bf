//! A webhook receiver on loopback: keeps every request it gets and answers 200. The test
//! checks each alert's `Stsd-Signature` as a customer's receiver would.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::hmac;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request as received.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) event: Option<String>,
    pub(crate) signature: Option<String>,
    pub(crate) body: String,
}

impl Received {
    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// Whether `Stsd-Signature: t=<unix>,v1=<hex>` is a valid HMAC-SHA256 of `"<t>.<body>"`
    /// under `secret`, made within the last five minutes.
    pub(crate) fn signed_by(&self, secret: &str) -> bool {
        let Some(header) = &self.signature else {
            return false;
        };
        let mut t = None;
        let mut v1 = None;
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", value)) => t = value.parse::<i64>().ok(),
                Some(("v1", value)) => v1 = hex(value),
                _ => {}
            }
        }
        let (Some(t), Some(v1)) = (t, v1) else {
            return false;
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if (now - t).abs() > 300 {
            return false;
        }
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        hmac::verify(&key, format!("{t}.{}", self.body).as_bytes(), &v1).is_ok()
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The receiver; stops on drop.
pub(crate) struct Receiver {
    pub(crate) url: String,
    got: Arc<Mutex<Vec<Received>>>,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// Listens on a free loopback port; the URL is `http://127.0.0.1:<port>/hooks/stsd`.
    pub(crate) async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let sink = sink.clone();
                        async move {
                            let header = |name: &str| {
                                req.headers()
                                    .get(name)
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned)
                            };
                            let (event, signature) =
                                (header("stsd-event"), header("stsd-signature"));
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            sink.lock().unwrap().push(Received {
                                event,
                                signature,
                                body: String::from_utf8_lossy(&body).into_owned(),
                            });
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"ok"),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Receiver {
            url: format!("http://{addr}/hooks/stsd"),
            got,
            task,
        }
    }

    /// Waits up to `limit` for a request that `pred` accepts; returns it.
    pub(crate) async fn wait_for(
        &self,
        limit: Duration,
        pred: impl Fn(&Received) -> bool,
    ) -> Received {
        let start = std::time::Instant::now();
        loop {
            if let Some(r) = self.got.lock().unwrap().iter().find(|r| pred(r)) {
                return r.clone();
            }
            assert!(
                start.elapsed() < limit,
                "no such webhook within {limit:?}; received: {:?}",
                self.got.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
