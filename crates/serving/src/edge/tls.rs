//! TLS: the certificate for each handshake comes from the snapshot by SNI.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::alpn::ACME_TLS_ALPN;
use crate::follower::SnapshotHandle;

/// Picks the certificate by SNI. Unknown or missing SNI gets none, so the handshake fails
/// with an alert: a wrong certificate is never presented. A ClientHello offering only
/// `acme-tls/1` is an ACME CA validating TLS-ALPN-01 (RFC 8737): it gets the host's
/// challenge certificate, or none when no validation is pending.
#[derive(Debug)]
struct SniResolver {
    snapshots: SnapshotHandle,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // rustls hands over the SNI already lower-cased and without a trailing dot.
        let name = hello.server_name()?;
        let snapshot = self.snapshots.guard();
        if is_acme_validation(&hello) {
            return snapshot.tls_alpn_challenge(name).cloned();
        }
        match snapshot.host(name) {
            Some(h) => h.key(),
            None => snapshot.service_host(name).cloned(),
        }
    }
}

/// RFC 8737 §3: the validating CA offers `acme-tls/1` and nothing else.
fn is_acme_validation(hello: &ClientHello<'_>) -> bool {
    hello.alpn().is_some_and(|mut offered| {
        offered.next() == Some(ACME_TLS_ALPN) && offered.next().is_none()
    })
}

/// Whether a finished handshake negotiated `acme-tls/1`: the connection carries no requests
/// and is closed at once.
pub(crate) fn negotiated_acme_validation(alpn: Option<&[u8]>) -> bool {
    alpn == Some(ACME_TLS_ALPN)
}

/// The edge's TLS configuration: TLS 1.2 and 1.3 with rustls' modern suites, ALPN h2 and
/// http/1.1 (and `acme-tls/1` last, which only a client offering nothing else gets),
/// certificates from the snapshot.
pub fn server_config(snapshots: SnapshotHandle) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { snapshots }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec(), ACME_TLS_ALPN.to_vec()];
    Arc::new(config)
}

/// Presents the certificate of one of stsd's own hosts whatever the client asks for: for
/// SMTP STARTTLS on `reports.<zone>`, where senders often send no SNI or the MX name.
#[derive(Debug)]
struct ServiceHostResolver {
    snapshots: SnapshotHandle,
    host: String,
}

impl ResolvesServerCert for ServiceHostResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.snapshots.guard().service_host(&self.host).cloned()
    }
}

/// TLS for a service host (`reports.<zone>`) with its certificate from the snapshot, for
/// protocols other than HTTPS (no ALPN). Until the certificate is issued, handshakes fail.
pub fn service_host_config(snapshots: SnapshotHandle, host: String) -> Arc<ServerConfig> {
    Arc::new(
        ServerConfig::builder()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(ServiceHostResolver { snapshots, host })),
    )
}
