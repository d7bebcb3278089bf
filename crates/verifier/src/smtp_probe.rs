//! Probing one MX host the way an MTA-STS sender does (RFC 8461 §4.2): connect to port 25,
//! `EHLO`, `STARTTLS`, and a TLS handshake that validates the certificate for the MX host
//! name itself — subject alternative names only (rustls/webpki never falls back to the CN),
//! never a CNAME target or PTR name — under the Web PKI roots plus configured extra roots.
//!
//! The hosts are the tenant's choice, so only public addresses are probed (unless
//! [`MxProbe::allow_private`]): otherwise a tenant could name hosts inside the operator's
//! network and read from the answers whether port 25 is open there.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::error::VerifyError;

/// How MX hosts are probed.
#[derive(Clone)]
pub struct MxProbe {
    /// The SMTP port (25; tests use another).
    pub port: u16,
    /// Bound on one host's whole probe.
    pub timeout: Duration,
    /// The name stsd introduces itself with in `EHLO`.
    pub helo: String,
    /// Probe MX hosts on loopback, private, link-local and other non-public addresses
    /// ([`stsd_core::is_public_address`]); off by default, on for tests and on-premises
    /// installations whose MX hosts are on a private network.
    pub allow_private: bool,
    tls: Arc<ClientConfig>,
}

impl std::fmt::Debug for MxProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MxProbe")
            .field("port", &self.port)
            .field("timeout", &self.timeout)
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl MxProbe {
    /// Probes port 25 of public addresses only with a 15 s bound, trusting the Web PKI roots plus `extra_roots_pem`
    /// (a PEM bundle, e.g. a test CA; `STSD_MX_CA_ROOTS`).
    pub fn new(
        helo: impl Into<String>,
        extra_roots_pem: Option<&str>,
    ) -> Result<MxProbe, VerifyError> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(pem) = extra_roots_pem {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| VerifyError::Config(format!("MX CA roots: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| VerifyError::Config(format!("MX CA roots: {e}")))?;
                added += 1;
            }
            if added == 0 {
                return Err(VerifyError::Config(
                    "the MX CA roots bundle holds no certificate".to_owned(),
                ));
            }
        }
        let tls = ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| VerifyError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(MxProbe {
            port: 25,
            timeout: Duration::from_secs(15),
            helo: helo.into(),
            allow_private: false,
            tls: Arc::new(tls),
        })
    }
}

/// What probing one address of an MX host found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostOutcome {
    /// STARTTLS with a certificate valid for the host name; the TLS version.
    Secure(String),
    /// The server does not offer STARTTLS.
    NoStarttls,
    /// STARTTLS was offered but the handshake or the certificate failed.
    TlsFailed(String),
    /// No SMTP conversation was possible (refused, timed out, not SMTP).
    Unreachable(String),
    /// The address is not public and private addresses are not allowed: not connected to.
    NotPublic,
}

impl MxProbe {
    /// Whether `ip` may be connected to.
    pub(crate) fn may_probe(&self, ip: IpAddr) -> bool {
        self.allow_private || stsd_core::is_public_address(ip)
    }
}

/// Probes `host` at `ip`.
pub(crate) async fn probe(probe: &MxProbe, host: &str, ip: IpAddr) -> HostOutcome {
    // The last line of defence: callers check first to explain, but nothing connects here.
    if !probe.may_probe(ip) {
        return HostOutcome::NotPublic;
    }
    let addr = SocketAddr::new(ip, probe.port);
    match tokio::time::timeout(probe.timeout, conversation(probe, host, addr)).await {
        Ok(outcome) => outcome,
        Err(_) => HostOutcome::Unreachable(format!(
            "no complete answer from {addr} within {} s",
            probe.timeout.as_secs()
        )),
    }
}

async fn conversation(probe: &MxProbe, host: &str, addr: SocketAddr) -> HostOutcome {
    let tcp = match TcpStream::connect(addr).await {
        Ok(t) => t,
        Err(e) => return HostOutcome::Unreachable(format!("cannot connect to {addr}: {e}")),
    };
    let mut io = BufReader::new(tcp);
    match reply(&mut io).await {
        Some((220, _)) => {}
        Some((code, text)) => {
            return HostOutcome::Unreachable(format!(
                "{addr} greeted with {code} {}",
                text.join(" ")
            ));
        }
        None => return HostOutcome::Unreachable(format!("{addr} sent no SMTP greeting")),
    }
    if send(&mut io, &format!("EHLO {}\r\n", probe.helo))
        .await
        .is_err()
    {
        return HostOutcome::Unreachable(format!("{addr} closed the connection"));
    }
    let Some((250, lines)) = reply(&mut io).await else {
        return HostOutcome::Unreachable(format!("{addr} refused EHLO"));
    };
    let offers_starttls = lines
        .iter()
        .any(|l| l.trim().eq_ignore_ascii_case("STARTTLS"));
    if !offers_starttls {
        let _ = send(&mut io, "QUIT\r\n").await;
        return HostOutcome::NoStarttls;
    }
    if send(&mut io, "STARTTLS\r\n").await.is_err() {
        return HostOutcome::Unreachable(format!("{addr} closed the connection"));
    }
    match reply(&mut io).await {
        Some((220, _)) => {}
        Some((code, text)) => {
            return HostOutcome::TlsFailed(format!("STARTTLS answered {code} {}", text.join(" ")));
        }
        None => return HostOutcome::TlsFailed("no answer to STARTTLS".to_owned()),
    }
    let Ok(name) = ServerName::try_from(host.to_owned()) else {
        return HostOutcome::TlsFailed(format!("{host} is not a valid server name"));
    };
    let tcp = io.into_inner();
    match TlsConnector::from(probe.tls.clone())
        .connect(name, tcp)
        .await
    {
        Ok(mut tls) => {
            let version = tls
                .get_ref()
                .1
                .protocol_version()
                .and_then(|v| v.as_str())
                .unwrap_or("TLS")
                .replace('_', ".")
                .replace("TLSv1.", "TLS 1.");
            let _ = tls.write_all(b"QUIT\r\n").await;
            let _ = tls.shutdown().await;
            HostOutcome::Secure(version)
        }
        Err(e) => HostOutcome::TlsFailed(e.to_string()),
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    line: &str,
) -> std::io::Result<()> {
    io.get_mut().write_all(line.as_bytes()).await?;
    io.get_mut().flush().await
}

/// One SMTP reply: its code and the text of each line. `None` on EOF, garbage or a reply
/// longer than any server sends.
async fn reply<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
) -> Option<(u16, Vec<String>)> {
    let mut lines = Vec::new();
    for _ in 0..64 {
        let mut line = String::new();
        let mut limited = (&mut *io).take(4096);
        if limited.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let code: u16 = line.get(..3)?.parse().ok()?;
        let more = line.as_bytes().get(3) == Some(&b'-');
        lines.push(line.get(4..).unwrap_or_default().trim_end().to_owned());
        if !more {
            return Some((code, lines));
        }
    }
    None
}
