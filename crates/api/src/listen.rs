//! The API's own HTTP listener: connection caps per listener and per client, HTTP/1.1 and
//! HTTP/2 connections bounded in idle time and lifetime (`axum::serve` bounds neither, so an
//! idle HTTP/2 connection was held forever), and a graceful stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use http::Request;
use hyper::body::Incoming;
use stsd_net::{ConnectionGate, GateLimits, HttpSizes, HttpTimeouts, Shutdown};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Limits of the API listener.
#[derive(Debug, Clone, Copy)]
pub struct ListenLimits {
    /// Connections at once, in all and per client.
    pub gate: GateLimits,
    /// Header, idle and lifetime bounds of each connection.
    pub timeouts: HttpTimeouts,
    /// Request head size and HTTP/2 streams.
    pub sizes: HttpSizes,
    /// Time given to open connections to finish once the listener stops.
    pub drain: Duration,
}

impl Default for ListenLimits {
    fn default() -> ListenLimits {
        ListenLimits {
            gate: GateLimits {
                max_connections: 10_000,
                // An office behind one NAT address shares it; browsers open six per origin.
                max_per_client: 256,
            },
            timeouts: HttpTimeouts {
                header: Duration::from_secs(30),
                idle: Duration::from_secs(60),
                lifetime: Duration::from_secs(3600),
                grace: Duration::from_secs(10),
            },
            sizes: HttpSizes {
                max_header_bytes: 64 * 1024,
                max_streams: 100,
            },
            drain: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `stop` fires, then lets open connections finish their
/// requests for up to `limits.drain`.
pub async fn serve(listener: TcpListener, app: Router, limits: ListenLimits, mut stop: Shutdown) {
    let gate = ConnectionGate::new(limits.gate);
    let builder = Arc::new(stsd_net::http::builder(&limits.timeouts, &limits.sizes));
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = stsd_net::accept(&listener, "api") => accepted,
            () = stop.wait() => break,
        };
        let Ok(admission) = gate.admit(peer.ip()) else {
            continue; // over a limit: dropping closes the connection
        };
        let _ = tcp.set_nodelay(true);
        let (app, builder, stop) = (app.clone(), builder.clone(), stop.clone());
        tokio::spawn(async move {
            let _admission = admission;
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                app.clone().oneshot(req)
            });
            stsd_net::serve_connection(builder, tcp, service, limits.timeouts, stop).await;
        });
    }
    drop(listener);
    let deadline = tokio::time::Instant::now() + limits.drain;
    while gate.open() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
