//! TLS: the certificate for each handshake comes from the snapshot by SNI.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::follower::SnapshotHandle;

/// Picks the certificate by SNI. Unknown or missing SNI gets none, so the handshake fails
/// with an alert: a wrong certificate is never presented.
#[derive(Debug)]
struct SniResolver {
    snapshots: SnapshotHandle,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // rustls hands over the SNI already lower-cased and without a trailing dot.
        let name = hello.server_name()?;
        self.snapshots.guard().host(name).map(|h| h.key.clone())
    }
}

/// The edge's TLS configuration: TLS 1.2 and 1.3 with rustls' modern suites, ALPN h2 and
/// http/1.1, certificates from the snapshot.
pub fn server_config(snapshots: SnapshotHandle) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { snapshots }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}
