//! The CA of the world: Debian's `pebble` (a real ACME server, from `stsd-testkit`),
//! validating HTTP-01 on the port the edge's HTTP listener uses, at whatever address the
//! resolver gives for the name.

use std::net::SocketAddr;
use std::path::PathBuf;

use stsd_testkit::{PebbleOptions, PebbleServer};

/// A running Pebble; stopped on drop.
pub(crate) struct Pebble {
    /// The ACME directory URL (`STSD_ACME_DIRECTORY`).
    pub(crate) directory: String,
    /// The root of Pebble's own HTTPS listeners, as a file (`STSD_ACME_CA_ROOTS`).
    pub(crate) listener_root: PathBuf,
    server: PebbleServer,
}

impl Pebble {
    /// Starts Pebble resolving names through `dns` and validating HTTP-01 on `http_port`.
    pub(crate) async fn start(http_port: u16, dns: SocketAddr) -> Pebble {
        let server = PebbleServer::start(PebbleOptions::new(dns, http_port))
            .await
            .unwrap();
        Pebble {
            directory: server.directory().to_owned(),
            listener_root: server.listener_root_path().to_owned(),
            server,
        }
    }

    /// Pebble's issuing root (PEM), from its management interface.
    pub(crate) async fn issuing_root(&self) -> String {
        self.server.issuing_root().await.unwrap()
    }

    /// Fails the test if Pebble has exited.
    pub(crate) fn assert_running(&mut self) {
        if let Err(e) = self.server.check_running() {
            panic!("{e}");
        }
    }
}
