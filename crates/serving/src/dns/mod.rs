//! The authoritative DNS of the service zone, answered from the snapshot.
//!
//! hickory-server does the protocol work (UDP and TCP, EDNS0, truncation for UDP, TCP
//! timeouts); [`zone::ZoneConfig::answer`] decides what exists, purely from the snapshot.

mod handler;
mod zone;

use std::time::Duration;

use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};

pub use zone::{Answer, ZoneConfig};

use crate::follower::SnapshotHandle;

/// Serves DNS on `udp` and `tcp` until the task is aborted.
pub async fn serve_dns(
    udp: UdpSocket,
    tcp: TcpListener,
    snapshots: SnapshotHandle,
    zone: ZoneConfig,
) {
    let mut server = Server::new(handler::Handler::new(snapshots, zone));
    server.register_socket(udp);
    // Idle TCP connections are closed after this long (no slowloris).
    server.register_listener(tcp, Duration::from_secs(10), 4096);
    if let Err(e) = server.block_until_done().await {
        tracing::error!(error = %e, "DNS server stopped");
    }
}
