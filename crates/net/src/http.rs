//! HTTP/1.1 and HTTP/2 connections with an idle bound and a lifetime bound.
//!
//! hyper bounds an idle HTTP/1.1 keep-alive connection with its header-read timeout, but an
//! HTTP/2 connection that sent its preface and SETTINGS and then nothing is held forever (its
//! keep-alive pings only prove the peer is alive). [`serve_connection`] counts the requests in
//! flight on a connection, of either version: once none has been in flight for `idle`, or the
//! connection has lived for `lifetime`, it shuts down gracefully (HTTP/2 GOAWAY; HTTP/1.1
//! closes after the response being written), and a connection that does not finish within
//! `grace` is dropped.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::shutdown::Shutdown;

/// The time bounds of one HTTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// Time for a request's head to arrive (HTTP/1.1).
    pub header: Duration,
    /// Longest time with no request in flight before the connection is closed, for both
    /// versions.
    pub idle: Duration,
    /// Longest a connection may live, however busy.
    pub lifetime: Duration,
    /// Time given to a connection being shut down to finish what it is doing.
    pub grace: Duration,
}

/// Sizes of one HTTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSizes {
    /// Largest request head (the HTTP/1.1 buffer, the HTTP/2 header list), bytes.
    pub max_header_bytes: usize,
    /// Concurrent HTTP/2 streams per connection.
    pub max_streams: u32,
}

/// A hyper connection builder for both versions with `timeouts` and `sizes`.
pub fn builder(timeouts: &HttpTimeouts, sizes: &HttpSizes) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header)
        .max_buf_size(sizes.max_header_bytes.max(8192))
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(sizes.max_streams)
        .max_header_list_size(u32::try_from(sizes.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(None);
    b
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The peer closed it, or it failed.
    Closed,
    /// No request was in flight for the idle bound.
    Idle,
    /// It reached its lifetime.
    Lifetime,
    /// The server is stopping.
    Shutdown,
}

/// Requests in flight on one connection and when the last one finished.
#[derive(Debug)]
struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `start` when the last request finished (or the connection opened).
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        }
    }

    /// When the connection becomes idle if nothing happens until then.
    fn idle_deadline(&self, idle: Duration) -> Instant {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Instant::now() + idle;
        }
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Acquire)) + idle
    }

    fn finished(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Release);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Marks a request in flight until dropped (also when its future is cancelled).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished();
    }
}

/// `S` with its requests counted in an [`Activity`].
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

type BoxedResponse<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>;

impl<S, B> Service<Request<Incoming>> for Tracked<S>
where
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = BoxedResponse<B, S::Error>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let guard = InFlight::begin(&self.activity);
        let response = self.inner.call(req);
        Box::pin(async move {
            let response = response.await;
            drop(guard);
            response
        })
    }
}

/// Serves `service` on `io` (either HTTP version) until the peer closes, the connection has
/// had no request in flight for `timeouts.idle`, it reaches `timeouts.lifetime` or `stop`
/// fires; then it finishes what is in flight within `timeouts.grace`.
// A boxed `Send` future rather than an `async fn`: the compiler cannot prove an async fn's
// future `Send` for every lifetime hyper's bounds mention, so spawning it fails to compile.
pub fn serve_connection<I, S, B>(
    builder: Arc<auto::Builder<TokioExecutor>>,
    io: I,
    service: S,
    timeouts: HttpTimeouts,
    stop: Shutdown,
) -> Pin<Box<dyn Future<Output = Ended> + Send>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Box::pin(drive(builder, io, service, timeouts, stop))
}

async fn drive<I, S, B>(
    builder: Arc<auto::Builder<TokioExecutor>>,
    io: I,
    service: S,
    timeouts: HttpTimeouts,
    mut stop: Shutdown,
) -> Ended
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let activity = Arc::new(Activity::new());
    let tracked = Tracked {
        inner: service,
        activity: Arc::clone(&activity),
    };
    let conn = builder.serve_connection(TokioIo::new(io), tracked);
    tokio::pin!(conn);
    let end_of_life = activity.start + timeouts.lifetime;
    let ended = loop {
        let deadline = activity.idle_deadline(timeouts.idle).min(end_of_life);
        tokio::select! {
            _ = conn.as_mut() => return Ended::Closed,
            () = stop.wait() => break Ended::Shutdown,
            () = tokio::time::sleep_until(deadline) => {
                let now = Instant::now();
                if now >= end_of_life {
                    break Ended::Lifetime;
                }
                if activity.idle_deadline(timeouts.idle) <= now {
                    break Ended::Idle;
                }
            }
        }
    };
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(timeouts.grace, conn).await;
    ended
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Full;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    /// An empty SETTINGS frame.
    const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

    fn timeouts(idle_ms: u64, lifetime_ms: u64) -> HttpTimeouts {
        HttpTimeouts {
            header: Duration::from_millis(idle_ms),
            idle: Duration::from_millis(idle_ms),
            lifetime: Duration::from_millis(lifetime_ms),
            grace: Duration::from_millis(200),
        }
    }

    /// A server on loopback whose connections report how they ended.
    async fn server(
        t: HttpTimeouts,
    ) -> (
        std::net::SocketAddr,
        tokio::sync::mpsc::UnboundedReceiver<Ended>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let sizes = HttpSizes {
            max_header_bytes: 16 * 1024,
            max_streams: 8,
        };
        let b = Arc::new(builder(&t, &sizes));
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let (b, tx) = (b.clone(), tx.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                            Bytes::from_static(b"ok"),
                        )))
                    });
                    let _ = tx.send(serve_connection(b, tcp, service, t, Shutdown::never()).await);
                });
            }
        });
        (addr, rx)
    }

    /// Reads until the peer closes; true if it did within `within`.
    async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
        let mut buf = [0u8; 4096];
        tokio::time::timeout(within, async {
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }

    #[tokio::test]
    async fn a_silent_http2_connection_is_closed_when_idle() {
        let (addr, mut ended) = server(timeouts(300, 60_000)).await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        silent.write_all(PREFACE).await.unwrap();
        silent.write_all(SETTINGS).await.unwrap();
        assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
        assert_eq!(ended.recv().await, Some(Ended::Idle));
    }

    #[tokio::test]
    async fn a_connection_that_sends_nothing_is_closed_when_idle() {
        let (addr, mut ended) = server(timeouts(300, 60_000)).await;
        let mut silent = TcpStream::connect(addr).await.unwrap();
        assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
        assert_eq!(ended.recv().await, Some(Ended::Idle));
    }

    #[tokio::test]
    async fn requests_keep_a_connection_open_until_its_lifetime() {
        let (addr, mut ended) = server(timeouts(400, 1_500)).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .unwrap();
        let driver = tokio::spawn(conn);
        // A request every 100 ms keeps it from being idle ...
        let start = std::time::Instant::now();
        let mut served = 0;
        while start.elapsed() < Duration::from_millis(1_400) {
            let req = Request::get("http://x/")
                .body(http_body_util::Empty::<Bytes>::new())
                .unwrap();
            let response = sender.send_request(req).await.unwrap();
            assert_eq!(response.status(), 200);
            served += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(served >= 5, "{served}");
        // ... until the lifetime ends it.
        assert_eq!(ended.recv().await, Some(Ended::Lifetime));
        let _ = tokio::time::timeout(Duration::from_secs(2), driver).await;
    }

    #[tokio::test]
    async fn an_idle_http1_keep_alive_connection_is_closed() {
        let (addr, mut ended) = server(timeouts(300, 60_000)).await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        assert!(closed_within(&mut tcp, Duration::from_secs(3)).await);
        let how = ended.recv().await.unwrap();
        assert!(matches!(how, Ended::Idle | Ended::Closed), "{how:?}");
    }
}
