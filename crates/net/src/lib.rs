//! Listener plumbing shared by every role that accepts connections (the edge, the API, DNS
//! over TCP, SMTP).
//!
//! - [`gate`]: how many connections a listener admits, in all and per client.
//! - [`http`]: HTTP/1.1 and HTTP/2 connections bounded in idle time and lifetime.
//! - [`files`]: the process's file limit and each listener's share of it.
//! - [`shutdown`]: the stop signal of a listener and its connections.
//! - [`accept`]: an accept that survives `EMFILE` without spinning or flooding the log.

pub mod files;
pub mod gate;
pub mod http;
pub mod shutdown;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

pub use files::{FileLimit, raise_file_limit};
pub use gate::{Admission, ClientKey, ConnectionGate, GateLimits, Refusal};
pub use http::{Ended, HttpSizes, HttpTimeouts, serve_connection};
pub use shutdown::{Shutdown, ShutdownTrigger, shutdown};

/// Accepts the next connection on `listener` (named `what` in logs). Errors such as `EMFILE`
/// are waited out (50 ms) instead of retried at once, and logged at most once a second.
pub async fn accept(listener: &TcpListener, what: &'static str) -> (TcpStream, SocketAddr) {
    static LAST_WARNING: AtomicU64 = AtomicU64::new(0);
    loop {
        match listener.accept().await {
            Ok(c) => return c,
            Err(e) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                if LAST_WARNING.swap(now, Ordering::Relaxed) != now {
                    tracing::warn!(listener = what, error = %e, "accept failed");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
