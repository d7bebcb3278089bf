//! The edge: HTTPS for `mta-sts.<domain>` and plain HTTP for ACME HTTP-01.
//!
//! Connections are bounded (a semaphore), handshakes and request headers time out (no
//! slowloris), request bodies are never read, HTTP/2 streams and header lists are capped.

mod respond;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

pub use tls::server_config;

use crate::follower::SnapshotHandle;

/// Limits of the edge listeners.
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    /// Connections served at once per listener; more are closed at accept.
    pub max_connections: usize,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time allowed for a request's headers to arrive (also bounds idle keep-alive).
    pub header_timeout: Duration,
    /// Longest a connection may live, however busy.
    pub connection_lifetime: Duration,
    /// Concurrent HTTP/2 streams per connection.
    pub max_streams: u32,
    /// Largest request head (HTTP/1 buffer, HTTP/2 header list), bytes.
    pub max_header_bytes: usize,
}

impl Default for EdgeLimits {
    fn default() -> EdgeLimits {
        EdgeLimits {
            max_connections: 20_000,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(300),
            max_streams: 32,
            max_header_bytes: 16 * 1024,
        }
    }
}

fn builder(limits: &EdgeLimits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(None);
    b
}

/// Serves HTTPS on `listener` until the task is aborted.
pub async fn serve_https(listener: TcpListener, snapshots: SnapshotHandle, limits: EdgeLimits) {
    let acceptor = TlsAcceptor::from(server_config(snapshots.clone()));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let builder = Arc::new(builder(&limits));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue; // over the limit: dropping closes the connection
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let snapshots = snapshots.clone();
        let builder = builder.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let tls =
                match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
            let sni: Option<Arc<str>> = tls.get_ref().1.server_name().map(Arc::from);
            let service = service_fn(move |req| {
                let snapshots = snapshots.clone();
                let sni = sni.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(respond::https(
                        &req,
                        sni.as_deref(),
                        &snapshots,
                        peer,
                    ))
                }
            });
            let conn = builder.serve_connection(TokioIo::new(tls), service);
            let _ = tokio::time::timeout(limits.connection_lifetime, conn).await;
        });
    }
}

/// Serves plain HTTP (ACME HTTP-01, redirects to HTTPS) on `listener` until aborted.
pub async fn serve_http(listener: TcpListener, snapshots: SnapshotHandle, limits: EdgeLimits) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let builder = Arc::new(builder(&limits));
    loop {
        let (tcp, _peer): (_, SocketAddr) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let snapshots = snapshots.clone();
        let builder = builder.clone();
        let lifetime = limits.connection_lifetime;
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req| {
                let snapshots = snapshots.clone();
                async move { Ok::<_, std::convert::Infallible>(respond::http(&req, &snapshots)) }
            });
            let conn = builder.serve_connection(TokioIo::new(tcp), service);
            let _ = tokio::time::timeout(lifetime, conn).await;
        });
    }
}
