//! A real ACME server for tests: Debian's `pebble`, started on free loopback ports with a
//! listener certificate from a throwaway CA, resolving names through a given DNS server
//! (the customer's fake zone, or a recursive resolver) and validating HTTP-01 and
//! TLS-ALPN-01 on the ports a test names.
//!
//! Two Pebbles: bookworm's 2.4 (`/usr/bin/pebble`, the default) and trixie's 2.6, the first
//! Debian Pebble with renewal information (ARI, RFC 9773) and `replaces` on orders, which
//! `scripts/pebble-trixie.sh` installs into a private prefix ([`pebble_ari_program`],
//! [`PebbleOptions::ari`]).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The External Account Binding key id Pebble accepts when [`PebbleOptions::require_eab`].
pub const PEBBLE_EAB_KID: &str = "kid-1";
/// Its HMAC key (base64url), as in Pebble's own test configuration.
pub const PEBBLE_EAB_HMAC_KEY: &str =
    "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";

/// The environment variable naming trixie's Pebble 2.6 binary.
pub const PEBBLE_ARI_ENV: &str = "STSD_PEBBLE_ARI";

/// Trixie's Pebble 2.6 (with ARI): `$STSD_PEBBLE_ARI`, else where `scripts/pebble-trixie.sh`
/// installs it: `$STSD_PEBBLE_ARI_PREFIX/usr/bin/pebble`, by default under
/// `$HOME/.cache/stsd-tools/pebble-2.6`.
pub fn pebble_ari_program() -> PathBuf {
    if let Some(path) = std::env::var_os(PEBBLE_ARI_ENV) {
        return PathBuf::from(path);
    }
    let prefix = std::env::var_os("STSD_PEBBLE_ARI_PREFIX").map_or_else(
        || {
            std::env::var_os("HOME")
                .map_or_else(|| PathBuf::from("/root"), PathBuf::from)
                .join(".cache/stsd-tools/pebble-2.6")
        },
        PathBuf::from,
    );
    prefix.join("usr/bin/pebble")
}

/// How long Pebble may take to open its listeners.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How to run Pebble.
#[derive(Debug, Clone)]
pub struct PebbleOptions {
    /// The DNS server Pebble resolves validation targets with.
    pub dns: SocketAddr,
    /// Where HTTP-01 validations connect, on whatever address `dns` gives.
    pub http_port: u16,
    /// Where TLS-ALPN-01 validations connect (a free, unused port when `None`).
    pub tls_port: Option<u16>,
    /// Refuse accounts without an External Account Binding ([`PEBBLE_EAB_KID`]).
    pub require_eab: bool,
    /// The Pebble binary (`pebble` from `PATH` by default).
    pub program: PathBuf,
    /// Where its configuration, certificates and log go; a temporary directory, removed
    /// with the server, when `None`. A directory given is kept (a benchmark's results).
    pub dir: Option<PathBuf>,
    /// The lifetime of the certificates it issues (`certificateValidityPeriod`, whole
    /// seconds); Pebble's own default (five years) when `None`.
    pub certificate_validity: Option<Duration>,
    /// The percentage of authorizations Pebble reuses from earlier orders
    /// (`PEBBLE_AUTHZREUSE`); Pebble's default (50) when `None`.
    pub authz_reuse: Option<u8>,
}

impl PebbleOptions {
    /// Validations of HTTP-01 on `http_port`, names resolved by `dns`, no EAB.
    pub fn new(dns: SocketAddr, http_port: u16) -> PebbleOptions {
        PebbleOptions {
            dns,
            http_port,
            tls_port: None,
            require_eab: false,
            program: PathBuf::from("pebble"),
            dir: None,
            certificate_validity: None,
            authz_reuse: None,
        }
    }

    /// [`PebbleOptions::new`] with trixie's Pebble 2.6 ([`pebble_ari_program`]), which has
    /// renewal information, and no authorization reuse: every order is validated afresh.
    pub fn ari(dns: SocketAddr, http_port: u16) -> PebbleOptions {
        PebbleOptions {
            program: pebble_ari_program(),
            authz_reuse: Some(0),
            ..PebbleOptions::new(dns, http_port)
        }
    }
}

/// A running Pebble; killed and reaped on drop, its log's last lines printed when the test
/// is failing.
#[derive(Debug)]
pub struct PebbleServer {
    child: Child,
    directory: String,
    management: SocketAddr,
    listener_root_pem: String,
    listener_root_path: PathBuf,
    log: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl PebbleServer {
    /// Starts Pebble and waits until it listens. Fails when `pebble` is not installed
    /// (`apt-get install pebble`) or does not come up.
    pub async fn start(options: PebbleOptions) -> io::Result<PebbleServer> {
        let (temp, dir) = match &options.dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                (None, dir.clone())
            }
            None => {
                let temp = tempfile::tempdir()?;
                let dir = temp.path().to_owned();
                (Some(temp), dir)
            }
        };
        let (ca_pem, cert_pem, key_pem) = listener_certificate().map_err(io::Error::other)?;
        let cert_path = dir.join("pebble-cert.pem");
        let key_path = dir.join("pebble-key.pem");
        let listener_root_path = dir.join("pebble-listener-root.pem");
        std::fs::write(&cert_path, cert_pem)?;
        std::fs::write(&key_path, key_pem)?;
        std::fs::write(&listener_root_path, &ca_pem)?;
        let (listen, management) = (free_port()?, free_port()?);
        let tls_port = match options.tls_port {
            Some(port) => port,
            None => free_port()?,
        };
        let mut config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{listen}"),
                "managementListenAddress": format!("127.0.0.1:{management}"),
                "certificate": cert_path,
                "privateKey": key_path,
                "httpPort": options.http_port,
                "tlsPort": tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": options.require_eab,
                "externalAccountMACKeys": { (PEBBLE_EAB_KID): PEBBLE_EAB_HMAC_KEY }
            }
        });
        if let Some(validity) = options.certificate_validity {
            config["pebble"]["certificateValidityPeriod"] = validity.as_secs().max(1).into();
        }
        let config_path = dir.join("pebble-config.json");
        std::fs::write(&config_path, config.to_string())?;
        let log = dir.join("pebble.log");
        let file = std::fs::File::create(&log)?;
        let mut command = Command::new(&options.program);
        if let Some(percent) = options.authz_reuse {
            command.env("PEBBLE_AUTHZREUSE", percent.to_string());
        }
        let child = command
            .arg("-config")
            .arg(&config_path)
            .arg("-dnsserver")
            .arg(options.dns.to_string())
            // No random validation delays, no always-valid shortcut, no bad-nonce lottery:
            // every validation is real and every run the same.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_VA_ALWAYS_VALID", "0")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot start {} (bookworm's: apt-get install pebble; trixie's 2.6: \
                         scripts/pebble-trixie.sh, or {PEBBLE_ARI_ENV}): {e}",
                        options.program.display()
                    ),
                )
            })?;
        let mut pebble = PebbleServer {
            child,
            directory: format!("https://127.0.0.1:{listen}/dir"),
            management: SocketAddr::from((Ipv4Addr::LOCALHOST, management)),
            listener_root_pem: ca_pem,
            listener_root_path,
            log,
            _temp: temp,
        };
        let start = Instant::now();
        for port in [listen, management] {
            while TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                .await
                .is_err()
            {
                pebble.check_running()?;
                if start.elapsed() > START_TIMEOUT {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("pebble did not listen on {port}:\n{}", pebble.log_tail(40)),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(pebble)
    }

    /// The ACME directory URL (`STSD_ACME_DIRECTORY`).
    pub fn directory(&self) -> &str {
        &self.directory
    }

    /// The root of Pebble's own HTTPS listeners (PEM), to trust for the directory.
    pub fn listener_root_pem(&self) -> &str {
        &self.listener_root_pem
    }

    /// The same root as a file (`STSD_ACME_CA_ROOTS`).
    pub fn listener_root_path(&self) -> &Path {
        &self.listener_root_path
    }

    /// The process id (for CPU and memory figures).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Pebble's log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Pebble's issuing root (PEM), from its management interface: what issued
    /// certificates chain to.
    pub async fn issuing_root(&self) -> io::Result<String> {
        let body = self.get(self.management, "/roots/0").await?;
        if body.contains("BEGIN CERTIFICATE") {
            Ok(body)
        } else {
            Err(io::Error::other(format!(
                "pebble's management interface answered: {body}"
            )))
        }
    }

    /// The ACME directory document (JSON): which resources this Pebble offers
    /// (`renewalInfo` from 2.6 on).
    pub async fn directory_document(&self) -> io::Result<serde_json::Value> {
        let listen = self
            .directory
            .trim_start_matches("https://")
            .trim_end_matches("/dir")
            .parse::<SocketAddr>()
            .map_err(io::Error::other)?;
        let body = self.get(listen, "/dir").await?;
        serde_json::from_str(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// The body of a `200` answer to `GET path` on one of Pebble's HTTPS listeners.
    async fn get(&self, addr: SocketAddr, path: &str) -> io::Result<String> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::from(std::net::IpAddr::from(Ipv4Addr::LOCALHOST));
        let mut tls = tls_connector(&self.listener_root_pem)?
            .connect(name, tcp)
            .await?;
        // HTTP/1.0: no chunked encoding, the body ends with the connection.
        tls.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .await?;
        let mut response = Vec::new();
        // Pebble closes without a TLS close_notify; what arrived before is the answer.
        let _ = tls.read_to_end(&mut response).await;
        let response = String::from_utf8_lossy(&response);
        match response.split_once("\r\n\r\n") {
            Some((head, body))
                if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") =>
            {
                Ok(body.to_owned())
            }
            _ => Err(io::Error::other(format!(
                "pebble answered GET {path}: {response}"
            ))),
        }
    }

    /// An error with the log's last lines if Pebble has exited.
    pub fn check_running(&mut self) -> io::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(io::Error::other(format!(
                "pebble exited ({status}); its log:\n{}",
                self.log_tail(80)
            ))),
        }
    }

    fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for PebbleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "----- last lines of pebble's log -----\n{}",
                self.log_tail(60)
            );
        }
    }
}

/// A TLS connector trusting only the certificates in `root_pem` (aws-lc-rs, as stsd).
pub fn tls_connector(root_pem: &str) -> io::Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        let cert = cert.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(io::Error::other)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Pebble's listener certificate for 127.0.0.1 and localhost: (CA, certificate, key) as PEM.
fn listener_certificate() -> Result<(String, String, String), rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "pebble listener test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?
        .signed_by(&key, &ca)?;
    Ok((ca.pem(), cert.pem(), key.serialize_pem()))
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
