//! `stsd-bench-load`: a cheap HTTPS load generator for the edge benchmark.
//!
//! `C` workers on one thread fetch `GET /.well-known/mta-sts.txt` over HTTP/1.1 for names from
//! a list (SNI = `Host`), either on a new TCP + TLS connection per request (`new-conn`, session
//! resumption off so every handshake is full) or on one connection per worker
//! (`keep-alive`). TLS 1.3 only, X25519, AES-128-GCM, ALPN `http/1.1`.
//!
//! To stay cheaper than the server, the client does not verify the certificate chain or the
//! handshake signature unless `--ca` is given (the server still signs every handshake).
//!
//! After a warm-up it measures a window: requests completed in it, errors, latency
//! percentiles, and the CPU time the server processes (`--server-pids`) and this process
//! used in it, read from `/proc/<pid>/stat`. The last line is `RESULT key=value …`.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool that reports to the bench script"
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// A new TCP + TLS connection per request (`Connection: close`).
    NewConn,
    /// One connection per worker, requests one after another.
    KeepAlive,
}

/// Load generator for the HTTPS edge benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// Server address.
    #[arg(long)]
    target: SocketAddr,
    /// File with the host names to fetch (SNI and Host), one per line.
    #[arg(long)]
    names: PathBuf,
    /// Connection mode.
    #[arg(long, value_enum)]
    mode: Mode,
    /// Concurrent workers (connections in flight).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured seconds before the window.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Server processes whose CPU time is measured (comma-separated pids).
    #[arg(long, value_delimiter = ',')]
    server_pids: Vec<u32>,
    /// Clock ticks per second of /proc times (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
    /// Verify the server certificates against this CA (costs client CPU).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Tokio worker threads; 1 runs everything on the current thread.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// A label echoed in the RESULT line.
    #[arg(long, default_value = "run")]
    label: String,
}

/// Accepts any certificate and signature: the benchmark measures the server, and a client
/// that verifies nothing is the cheapest client.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn connector(ca: Option<&PathBuf>) -> anyhow::Result<TlsConnector> {
    let mut provider = aws_lc_rs::default_provider();
    provider.kx_groups = vec![aws_lc_rs::kx_group::X25519];
    provider.cipher_suites = vec![aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256];
    let provider = Arc::new(provider);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let mut config = match ca {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path)
                .with_context(|| format!("reading {}", path.display()))?
            {
                roots.add(cert.with_context(|| format!("parsing {}", path.display()))?)?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth(),
    };
    config.resumption = Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// One host: its TLS name and the request bytes.
struct Target {
    name: ServerName<'static>,
    close: Vec<u8>,
    keep: Vec<u8>,
}

/// Reads one HTTP/1.1 response with a `Content-Length` body; fails unless it is a 200 with
/// a non-empty body. Leaves `buf` empty for the next response.
async fn read_response<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    buf.clear();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed before the response head");
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if buf.len() > 16 * 1024 {
            bail!("response head too large");
        }
    };
    let head = std::str::from_utf8(buf.get(..head_end).unwrap_or_default())?;
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if status.split(' ').nth(1) != Some("200") {
        bail!("status line {status:?}");
    }
    let length: usize = lines
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .context("no content-length")?;
    if length == 0 {
        bail!("empty body");
    }
    while buf.len() < head_end + length {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed in the body");
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
    if buf.len() != head_end + length {
        bail!("unexpected bytes after the response");
    }
    buf.clear();
    Ok(())
}

/// What one worker saw in the measured window.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn record(&mut self, started: Instant, result: anyhow::Result<()>, window: (Instant, Instant)) {
        let done = Instant::now();
        if done < window.0 || done > window.1 {
            return;
        }
        match result {
            Ok(()) => {
                let us = done.duration_since(started).as_micros();
                self.latencies_us
                    .push(u32::try_from(us).unwrap_or(u32::MAX));
            }
            Err(e) => {
                self.errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(format!("{e:#}"));
                }
            }
        }
    }
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

async fn timed<F: Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::time::timeout(REQUEST_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")))
}

async fn connect(
    connector: &TlsConnector,
    addr: SocketAddr,
    t: &Target,
) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    Ok(connector.connect(t.name.clone(), tcp).await?)
}

async fn new_conn_request(
    connector: &TlsConnector,
    addr: SocketAddr,
    t: &Target,
    buf: &mut Vec<u8>,
) -> anyhow::Result<()> {
    let mut tls = connect(connector, addr, t).await?;
    tls.write_all(&t.close).await?;
    tls.flush().await?;
    read_response(&mut tls, buf).await
}

async fn worker(
    id: usize,
    mode: Mode,
    connector: TlsConnector,
    addr: SocketAddr,
    targets: Arc<Vec<Target>>,
    concurrency: usize,
    window: (Instant, Instant),
) -> Tally {
    let mut tally = Tally::default();
    let mut buf = Vec::with_capacity(4096);
    let mut next = id;
    let mut conn = None;
    while Instant::now() < window.1 {
        let Some(t) = targets.get(next % targets.len()) else {
            break;
        };
        let started = Instant::now();
        match mode {
            Mode::NewConn => {
                // Every worker walks the whole list, offset so that workers differ.
                next += concurrency;
                let r = timed(new_conn_request(&connector, addr, t, &mut buf)).await;
                tally.record(started, r, window);
            }
            Mode::KeepAlive => {
                let r = timed(async {
                    let tls = match &mut conn {
                        Some(tls) => tls,
                        None => conn.insert(connect(&connector, addr, t).await?),
                    };
                    tls.write_all(&t.keep).await?;
                    tls.flush().await?;
                    read_response(tls, &mut buf).await
                })
                .await;
                if r.is_err() {
                    conn = None; // reconnect on the next round
                }
                tally.record(started, r, window);
            }
        }
    }
    tally
}

/// CPU ticks at one moment.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// The server processes.
    server: u64,
    /// This process.
    client: u64,
    /// Busy and total ticks of CPU 0 and CPU 1, whoever used them.
    cpus: [(u64, u64); 2],
}

fn sample(pids: &[u32]) -> anyhow::Result<Sample> {
    let mut server = 0;
    for pid in pids {
        server += stsd_bench::cpu_ticks(&pid.to_string())?;
    }
    Ok(Sample {
        server,
        client: stsd_bench::cpu_ticks("self")?,
        cpus: [
            stsd_bench::cpu_busy_ticks(0)?,
            stsd_bench::cpu_busy_ticks(1)?,
        ],
    })
}

/// Percentage of CPU `i` busy between two samples.
#[allow(clippy::cast_precision_loss, reason = "a printed figure")]
fn busy_pct(a: &Sample, b: &Sample, i: usize) -> f64 {
    let (Some(x), Some(y)) = (a.cpus.get(i), b.cpus.get(i)) else {
        return 0.0;
    };
    let total = y.1.saturating_sub(x.1);
    if total == 0 {
        return 0.0;
    }
    100.0 * y.0.saturating_sub(x.0) as f64 / total as f64
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a non-empty slice, clamped"
    )]
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted.get(i).copied().unwrap_or(0)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let names = std::fs::read_to_string(&args.names)
        .with_context(|| format!("reading {}", args.names.display()))?;
    let targets: Vec<Target> = names
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|host| {
            Ok(Target {
                name: ServerName::try_from(host.to_owned())?,
                close: format!(
                    "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                )
                .into_bytes(),
                keep: format!("GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\n\r\n")
                    .into_bytes(),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    if targets.is_empty() {
        bail!("no names in {}", args.names.display());
    }
    let targets = Arc::new(targets);
    let connector = connector(args.ca.as_ref())?;
    let start = Instant::now();
    let t0 = start + Duration::from_secs_f64(args.warmup);
    let t1 = t0 + Duration::from_secs_f64(args.duration);

    // The CPU samples are taken by a thread of their own, on time, whatever the workers do.
    let pids = args.server_pids.clone();
    let sampler = std::thread::spawn(move || -> anyhow::Result<_> {
        std::thread::sleep(t0.saturating_duration_since(Instant::now()));
        let a = sample(&pids)?;
        let at = Instant::now();
        std::thread::sleep(t1.saturating_duration_since(Instant::now()));
        let b = sample(&pids)?;
        Ok((a, b, at.elapsed()))
    });

    let mut set = tokio::task::JoinSet::new();
    for id in 0..args.concurrency.max(1) {
        set.spawn(worker(
            id,
            args.mode,
            connector.clone(),
            args.target,
            targets.clone(),
            args.concurrency.max(1),
            (t0, t1),
        ));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    while let Some(t) = set.join_next().await {
        let t = t?;
        latencies.extend(t.latencies_us);
        errors += t.errors;
        if first_error.is_none() {
            first_error = t.first_error;
        }
    }
    let (a, b, window) = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the sampler thread panicked"))??;
    latencies.sort_unstable();
    let requests = latencies.len();
    #[allow(clippy::cast_precision_loss, reason = "printed figures")]
    let (rps, server_us, server_pct, client_pct) = {
        let secs = window.as_secs_f64();
        let tick = 1.0 / args.clk_tck as f64;
        let server_s = b.server.saturating_sub(a.server) as f64 * tick;
        let client_s = b.client.saturating_sub(a.client) as f64 * tick;
        (
            requests as f64 / secs,
            if requests > 0 {
                server_s * 1e6 / requests as f64
            } else {
                0.0
            },
            100.0 * server_s / secs,
            100.0 * client_s / secs,
        )
    };
    if let Some(e) = &first_error {
        eprintln!("first error: {e}");
    }
    println!(
        "RESULT label={} mode={:?} requests={requests} errors={errors} rps={rps:.0} \
         server_cpu_us_per_req={server_us:.1} server_cpu_pct={server_pct:.0} \
         client_cpu_pct={client_pct:.0} cpu0_busy_pct={:.0} cpu1_busy_pct={:.0} \
         p50_us={} p99_us={}",
        args.label,
        args.mode,
        busy_pct(&a, &b, 0),
        busy_pct(&a, &b, 1),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    rt.block_on(run(args))
}
