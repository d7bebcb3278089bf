//! The edge: HTTPS for `mta-sts.<domain>` (and ACME TLS-ALPN-01 handshakes) and plain HTTP
//! for ACME HTTP-01.
//!
//! Connections are bounded per listener and per client (`stsd_net::gate`), handshakes and
//! request headers time out (no slowloris), a connection of either HTTP version with no
//! request in flight is closed after the idle timeout and every connection after its lifetime
//! (`stsd_net::http`), HTTP/2 streams and header lists are capped. Request bodies are never read,
//! except by the handler of a service host ([`ServiceHosts`], e.g. `reports.<zone>`), which
//! brings its own body limits.

pub(crate) mod hello;
mod log_limit;
pub(crate) mod respond;
mod tls;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use stsd_net::{ConnectionGate, GateLimits, HttpSizes, HttpTimeouts, Shutdown};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use tls::{server_config, service_host_config};

use crate::follower::SnapshotHandle;

/// Limits of the edge listeners.
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    /// Connections served at once per listener; more are closed at accept. The binary lowers
    /// it to the listener's share of the file limit.
    pub max_connections: usize,
    /// Connections served at once from one client (an IPv4 address or an IPv6 /64).
    pub max_per_client: usize,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time allowed for a request's headers to arrive (HTTP/1.1).
    pub header_timeout: Duration,
    /// Longest time a connection (HTTP/1.1 or HTTP/2) may have no request in flight.
    pub idle_timeout: Duration,
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
            // Senders fetch a policy now and then; even a large provider's egress host holds
            // few connections at once.
            max_per_client: 256,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(300),
            max_streams: 32,
            max_header_bytes: 16 * 1024,
        }
    }
}

impl EdgeLimits {
    /// The admission limits of one listener.
    pub fn gate(&self) -> GateLimits {
        GateLimits {
            max_connections: self.max_connections,
            max_per_client: self.max_per_client,
        }
    }

    fn timeouts(&self) -> HttpTimeouts {
        HttpTimeouts {
            header: self.header_timeout,
            idle: self.idle_timeout,
            lifetime: self.connection_lifetime,
            grace: Duration::from_secs(5),
        }
    }

    fn sizes(&self) -> HttpSizes {
        HttpSizes {
            max_header_bytes: self.max_header_bytes,
            max_streams: self.max_streams,
        }
    }
}

/// What a [`HostHandler`] returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>;

/// Answers every HTTPS request for one of stsd's own hosts, body included. The binary builds
/// it from another role crate (the reports receiver), so the edge routes to it by SNI and
/// `Host` without depending on that crate.
pub type HostHandler = Arc<dyn Fn(Request<Incoming>, SocketAddr) -> HandlerFuture + Send + Sync>;

/// stsd's own HTTPS hosts on the edge (`reports.<zone>`), each with its handler. Their
/// certificates come from the snapshot like customers'.
#[derive(Clone, Default)]
pub struct ServiceHosts {
    handlers: HashMap<String, HostHandler>,
}

impl std::fmt::Debug for ServiceHosts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.handlers.keys()).finish()
    }
}

impl ServiceHosts {
    /// No service hosts: the edge serves only customers' `mta-sts` hosts.
    pub fn new() -> ServiceHosts {
        ServiceHosts::default()
    }

    /// Routes HTTPS requests for `host` (lower case, no trailing dot) to `handler`.
    pub fn with(mut self, host: impl Into<String>, handler: HostHandler) -> ServiceHosts {
        self.handlers.insert(host.into(), handler);
        self
    }

    fn get(&self, host: &str) -> Option<&HostHandler> {
        self.handlers.get(host)
    }
}

/// Serves HTTPS for customers' `mta-sts` hosts on `listener` until the task is aborted.
pub async fn serve_https(listener: TcpListener, snapshots: SnapshotHandle, limits: EdgeLimits) {
    serve_https_with(listener, snapshots, limits, ServiceHosts::new()).await;
}

/// Serves HTTPS on `listener` until the task is aborted: customers' `mta-sts` hosts from the
/// snapshot, and stsd's own `services` by their handlers.
pub async fn serve_https_with(
    listener: TcpListener,
    snapshots: SnapshotHandle,
    limits: EdgeLimits,
    services: ServiceHosts,
) {
    serve_https_until(listener, snapshots, limits, services, Shutdown::never()).await;
}

/// Like [`serve_https_with`] until `stop` fires: then it accepts nothing more, lets open
/// connections finish their requests (at most `connection grace`, 5 s) and returns.
pub async fn serve_https_until(
    listener: TcpListener,
    snapshots: SnapshotHandle,
    limits: EdgeLimits,
    services: ServiceHosts,
    stop: Shutdown,
) {
    let services = Arc::new(services);
    let acceptor = TlsAcceptor::from(server_config(snapshots.clone()));
    let hello_log = Arc::new(hello::HelloLog::new());
    let gate = ConnectionGate::new(limits.gate());
    let builder = Arc::new(stsd_net::http::builder(&limits.timeouts(), &limits.sizes()));
    let timeouts = limits.timeouts();
    let mut stopping = stop.clone();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = stsd_net::accept(&listener, "edge https") => accepted,
            () = stopping.wait() => break,
        };
        let Ok(permit) = gate.admit(peer.ip()) else {
            continue; // over a limit: dropping closes the connection
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let snapshots = snapshots.clone();
        let builder = builder.clone();
        let limits = limits.clone();
        let services = services.clone();
        let stop = stop.clone();
        let hello_log = hello_log.clone();
        tokio::spawn(async move {
            let _permit = permit;
            // Clients cause handshake failures at will (unknown or no SNI, scanners): they
            // are logged at debug level only, or rate-limited (`hello`).
            let handshake = async {
                let io = hello::screen(tcp, peer, &hello_log).await?;
                acceptor
                    .accept(io)
                    .await
                    .map_err(|e| tracing::debug!(%peer, error = %e, "TLS handshake failed"))
                    .ok()
            };
            let Ok(Some(tls)) = tokio::time::timeout(limits.handshake_timeout, handshake).await
            else {
                return;
            };
            // A TLS-ALPN-01 validation is over once the handshake is: no request follows.
            if tls::negotiated_acme_validation(tls.get_ref().1.alpn_protocol()) {
                return;
            }
            let sni: Option<Arc<str>> = tls.get_ref().1.server_name().map(Arc::from);
            let handler = sni.as_deref().and_then(|s| services.get(s)).cloned();
            let service = service_fn(move |req: Request<Incoming>| {
                let snapshots = snapshots.clone();
                let sni = sni.clone();
                let handler = handler.clone();
                async move {
                    let response = match handler {
                        Some(handler) => match respond::misdirected(&req, sni.as_deref()) {
                            Some(refusal) => refusal,
                            None => handler(req, peer).await,
                        },
                        None => respond::https(&req, sni.as_deref(), &snapshots, peer),
                    };
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            stsd_net::serve_connection(builder, tls, service, timeouts, stop).await;
        });
    }
    drain(listener, &gate, timeouts.grace).await;
}

/// After a stop: closes the listener and waits until the gate's connections are gone, or
/// `grace` has passed.
async fn drain(listener: TcpListener, gate: &ConnectionGate, grace: Duration) {
    drop(listener);
    let deadline = tokio::time::Instant::now() + grace;
    while gate.open() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Serves plain HTTP (ACME HTTP-01, redirects to HTTPS) on `listener` until aborted.
pub async fn serve_http(listener: TcpListener, snapshots: SnapshotHandle, limits: EdgeLimits) {
    serve_http_until(listener, snapshots, limits, Shutdown::never()).await;
}

/// Like [`serve_http`] until `stop` fires, then drains like [`serve_https_until`].
pub async fn serve_http_until(
    listener: TcpListener,
    snapshots: SnapshotHandle,
    limits: EdgeLimits,
    stop: Shutdown,
) {
    let gate = ConnectionGate::new(limits.gate());
    let builder = Arc::new(stsd_net::http::builder(&limits.timeouts(), &limits.sizes()));
    let timeouts = limits.timeouts();
    let mut stopping = stop.clone();
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = stsd_net::accept(&listener, "edge http") => accepted,
            () = stopping.wait() => break,
        };
        let Ok(permit) = gate.admit(peer.ip()) else {
            continue;
        };
        let snapshots = snapshots.clone();
        let builder = builder.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req| {
                let snapshots = snapshots.clone();
                async move { Ok::<_, std::convert::Infallible>(respond::http(&req, &snapshots)) }
            });
            stsd_net::serve_connection(builder, tcp, service, timeouts, stop).await;
        });
    }
    drain(listener, &gate, timeouts.grace).await;
}
