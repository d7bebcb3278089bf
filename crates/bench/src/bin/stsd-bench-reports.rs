//! `stsd-bench-reports`: the TLS report ingestion benchmark's tool (`bench/reports.sh`).
//!
//! - `corpus`: writes a generated corpus of gzip TLS reports (see `stsd_bench::corpus`) and
//!   a `manifest.json` saying its range and the domain that has a report every day.
//! - `post`: delivers every file over HTTPS to `POST /v1/tlsrpt/{label}` on the edge, as a
//!   reporter does (RFC 8460 §3): `C` workers, each with one HTTP/1.1 keep-alive connection,
//!   rustls trusting only the given root, SNI and `Host` = `reports.<zone>`. Prints reports/s,
//!   the acknowledge latency (request sent → response read) percentiles and the statuses.
//! - `parse`: times stsd's own parser (`stsd_core::tlsrpt::decode` + `parse_json`) over the
//!   files held in memory, after a warm-up, on one thread.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool that reports to the bench script"
)]

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use http::header::{CONTENT_TYPE, HOST};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use stsd_bench::corpus::{self, DAYS, Spec};
use stsd_core::tlsrpt;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Tool of the TLS report ingestion benchmark.
#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes a corpus of generated gzip reports.
    Corpus {
        /// Directory to create (must be absent or empty).
        #[arg(long)]
        out: PathBuf,
        /// Number of reports.
        #[arg(long, default_value_t = 100_000)]
        count: usize,
        /// Number of domains (`d0.bench.example` …).
        #[arg(long, default_value_t = 100)]
        domains: usize,
        /// Seed of the generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Last day of the year covered (`YYYY-MM-DD`, UTC); default yesterday.
        #[arg(long)]
        last_day: Option<String>,
    },
    /// Delivers every file of a corpus over HTTPS.
    Post {
        /// The edge's HTTPS address.
        #[arg(long)]
        edge: SocketAddr,
        /// SNI and `Host`: `reports.<zone>`.
        #[arg(long)]
        host: String,
        /// PEM file with the only root to trust (`stsd admin local-ca-root`).
        #[arg(long)]
        root: PathBuf,
        /// File of `<domain> <label>` lines.
        #[arg(long)]
        labels: PathBuf,
        /// The corpus directory.
        #[arg(long)]
        dir: PathBuf,
        /// Concurrent workers, one keep-alive connection each.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Tokio worker threads; 1 runs everything on the current thread.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Statuses that are expected besides 2xx (comma-separated); others are errors.
        #[arg(long, value_delimiter = ',')]
        allow_status: Vec<u16>,
    },
    /// Times stsd's report parser over the files in memory.
    Parse {
        /// The corpus directory.
        #[arg(long)]
        dir: PathBuf,
        /// Timed passes over all files; the median is reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
}

/// The corpus files of `dir` (`*.json.gz`), sorted by name, with their contents.
fn read_corpus(dir: &Path) -> anyhow::Result<Vec<(String, Bytes)>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".json.gz") || (name.ends_with(".json") && name != "manifest.json") {
            names.push(name.to_owned());
        }
    }
    names.sort_unstable();
    if names.is_empty() {
        bail!("no report files in {}", dir.display());
    }
    names
        .into_iter()
        .map(|n| {
            let body = std::fs::read(dir.join(&n))
                .with_context(|| format!("reading {}/{n}", dir.display()))?;
            Ok((n, Bytes::from(body)))
        })
        .collect()
}

fn corpus(
    out: &Path,
    count: usize,
    domains: usize,
    seed: u64,
    last_day: Option<&str>,
) -> anyhow::Result<()> {
    if domains == 0 {
        bail!("--domains must be at least 1");
    }
    let last_day = match last_day {
        Some(d) => time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
            .with_context(|| format!("--last-day {d}"))?,
        None => time::OffsetDateTime::now_utc()
            .date()
            .previous_day()
            .context("no yesterday")?,
    };
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        bail!("{} is not empty", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let spec = Spec {
        domains,
        seed,
        last_day,
    };
    let started = Instant::now();
    let (mut json_bytes, mut gzip_bytes, mut max_json) = (0usize, 0usize, 0usize);
    let mut per_domain = vec![0usize; domains];
    let mut year_days = vec![false; DAYS as usize];
    for i in 0..count {
        let g = spec.report(i)?;
        let gz = tlsrpt::gzip(&g.json);
        json_bytes += g.json.len();
        gzip_bytes += gz.len();
        max_json = max_json.max(g.json.len());
        if let Some(n) = per_domain.get_mut(g.domain) {
            *n += 1;
        }
        if g.domain == 0
            && let Some(d) = year_days.get_mut(g.day as usize)
        {
            *d = true;
        }
        let name = format!("{i:07}_{}.json.gz", corpus::domain_name(g.domain));
        std::fs::write(out.join(&name), gz).with_context(|| format!("writing {name}"))?;
    }
    let covered = year_days.iter().filter(|d| **d).count();
    let manifest = serde_json::json!({
        "count": count,
        "domains": domains,
        "seed": seed,
        "from": spec.first_day().to_string(),
        "to": last_day.to_string(),
        "year_domain": corpus::domain_name(0),
        "year_domain_days": covered,
        "year_domain_reports": per_domain.first().copied().unwrap_or(0),
        "json_bytes": json_bytes,
        "gzip_bytes": gzip_bytes,
    });
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    let n = count.max(1);
    println!(
        "CORPUS reports={count} domains={domains} from={} to={last_day} \
         year_domain_days={covered} avg_json_bytes={} max_json_bytes={max_json} \
         avg_gzip_bytes={} seconds={:.1}",
        spec.first_day(),
        json_bytes / n,
        gzip_bytes / n,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn parse(dir: &Path, rounds: usize) -> anyhow::Result<()> {
    let files = read_corpus(dir)?;
    let parse_one = |body: &[u8]| -> anyhow::Result<()> {
        let decoded = tlsrpt::decode(body, tlsrpt::DEFAULT_MAX_DECOMPRESSED)?;
        black_box(tlsrpt::parse_json(&decoded.json)?);
        Ok(())
    };
    // Warm-up: one pass over (up to) the first 2,000 files, which also checks they parse.
    for (name, body) in files.iter().take(2_000) {
        parse_one(body).with_context(|| format!("parsing {name}"))?;
    }
    // Wall-clock and CPU time of each pass: on a shared machine the CPU figure is the one
    // that does not depend on what else runs.
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..rounds.max(1) {
        let ticks = stsd_bench::cpu_ticks("self")?;
        let started = Instant::now();
        for (name, body) in &files {
            parse_one(body).with_context(|| format!("parsing {name}"))?;
        }
        let secs = started.elapsed().as_secs_f64();
        let cpu_secs = ticks_to_secs(stsd_bench::cpu_ticks("self")?.saturating_sub(ticks));
        #[allow(clippy::cast_precision_loss, reason = "printed rates")]
        let n = files.len() as f64;
        wall.push(n / secs);
        cpu.push(if cpu_secs > 0.0 { n / cpu_secs } else { 0.0 });
    }
    // One more pass with `decode` alone (gunzip, size limit, depth check): its share of the
    // time above.
    let ticks = stsd_bench::cpu_ticks("self")?;
    for (_, body) in &files {
        black_box(tlsrpt::decode(body, tlsrpt::DEFAULT_MAX_DECOMPRESSED)?);
    }
    let decode_secs = ticks_to_secs(stsd_bench::cpu_ticks("self")?.saturating_sub(ticks));
    let cpu_rps = median(&mut cpu);
    #[allow(clippy::cast_precision_loss, reason = "a printed share")]
    let decode_pct = if cpu_rps > 0.0 {
        100.0 * decode_secs / (files.len() as f64 / cpu_rps)
    } else {
        0.0
    };
    println!(
        "RESULT label=stsd-parse files={} rounds={} rps={:.0} cpu_rps={cpu_rps:.0} \
         decode_cpu_pct={decode_pct:.0} rounds_rps={}",
        files.len(),
        wall.len(),
        median(&mut wall),
        wall.iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Process CPU ticks to seconds: Linux reports process times in 1/100 s (`USER_HZ`) on every
/// common architecture.
#[allow(clippy::cast_precision_loss, reason = "a printed figure")]
fn ticks_to_secs(ticks: u64) -> f64 {
    ticks as f64 / 100.0
}

/// One delivery to make.
struct Job {
    name: String,
    path: String,
    content_type: &'static str,
    body: Bytes,
}

/// What one worker saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
    retries: u64,
    first_error: Option<String>,
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const ATTEMPTS: u32 = 3;

fn tls_connector(root: &Path) -> anyhow::Result<TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(root)
        .with_context(|| format!("reading {}", root.display()))?
    {
        roots.add(cert.with_context(|| format!("parsing {}", root.display()))?)?;
    }
    if roots.is_empty() {
        bail!("no certificate in {}", root.display());
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn connect(
    connector: &TlsConnector,
    edge: SocketAddr,
    host: &ServerName<'static>,
) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let tcp = TcpStream::connect(edge).await?;
    tcp.set_nodelay(true)?;
    let tls = connector.connect(host.clone(), tcp).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(async move {
        // The connection ends when the worker drops its sender or the server closes it;
        // errors show up on the next request.
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one report; the status and the response body.
async fn deliver(
    sender: &mut SendRequest<Full<Bytes>>,
    host: &str,
    job: &Job,
) -> anyhow::Result<(u16, Bytes)> {
    sender.ready().await?;
    let req = http::Request::post(&job.path)
        .header(HOST, host)
        .header(CONTENT_TYPE, job.content_type)
        .body(Full::new(job.body.clone()))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

struct PostCtx {
    connector: TlsConnector,
    edge: SocketAddr,
    host: String,
    server_name: ServerName<'static>,
    jobs: Vec<Job>,
    next: AtomicUsize,
    done: AtomicUsize,
    allowed: Vec<u16>,
}

async fn post_worker(ctx: Arc<PostCtx>) -> Tally {
    let mut tally = Tally::default();
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        let i = ctx.next.fetch_add(1, Ordering::Relaxed);
        let Some(job) = ctx.jobs.get(i) else { break };
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = tokio::time::timeout(REQUEST_TIMEOUT, async {
                let s = match &mut sender {
                    Some(s) => s,
                    None => {
                        sender.insert(connect(&ctx.connector, ctx.edge, &ctx.server_name).await?)
                    }
                };
                deliver(s, &ctx.host, job).await
            })
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")));
            match result {
                Ok((status, body)) => {
                    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    tally.latencies_us.push(us);
                    *tally.statuses.entry(status).or_default() += 1;
                    let ok = (200..300).contains(&status) || ctx.allowed.contains(&status);
                    if !ok && tally.first_error.is_none() {
                        tally.first_error = Some(format!(
                            "{}: status {status}: {}",
                            job.name,
                            String::from_utf8_lossy(&body)
                        ));
                    }
                    break;
                }
                Err(e) => {
                    // The connection is unusable; a reporter reconnects and retries (a
                    // repeated delivery is idempotent).
                    sender = None;
                    if attempt >= ATTEMPTS {
                        tally.transport_errors += 1;
                        if tally.first_error.is_none() {
                            tally.first_error = Some(format!("{}: {e:#}", job.name));
                        }
                        break;
                    }
                    tally.retries += 1;
                }
            }
        }
        ctx.done.fetch_add(1, Ordering::Relaxed);
    }
    tally
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
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

fn read_labels(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut labels = HashMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut parts = line.split_whitespace();
        let (Some(domain), Some(label), None) = (parts.next(), parts.next(), parts.next()) else {
            bail!("{}: expected `<domain> <label>`: {line:?}", path.display());
        };
        labels.insert(domain.to_owned(), label.to_owned());
    }
    Ok(labels)
}

#[allow(clippy::too_many_arguments, reason = "the subcommand's options")]
async fn post(
    edge: SocketAddr,
    host: String,
    root: &Path,
    labels: &Path,
    dir: &Path,
    concurrency: usize,
    allowed: Vec<u16>,
) -> anyhow::Result<()> {
    let labels = read_labels(labels)?;
    let mut jobs = Vec::new();
    for (name, body) in read_corpus(dir)? {
        // `<seq>_<domain>.json.gz`
        let domain = name
            .split_once('_')
            .map(|(_, rest)| rest.trim_end_matches(".gz").trim_end_matches(".json"))
            .with_context(|| format!("{name}: expected <seq>_<domain>.json.gz"))?;
        let label = labels
            .get(domain)
            .with_context(|| format!("{name}: no label for {domain}"))?;
        let content_type = if body.starts_with(&[0x1f, 0x8b]) {
            "application/tlsrpt+gzip"
        } else {
            "application/tlsrpt+json"
        };
        jobs.push(Job {
            path: format!("/v1/tlsrpt/{label}"),
            name,
            content_type,
            body,
        });
    }
    let total = jobs.len();
    let ctx = Arc::new(PostCtx {
        connector: tls_connector(root)?,
        edge,
        server_name: ServerName::try_from(host.clone())?,
        host,
        jobs,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        allowed,
    });
    let cpu_before = stsd_bench::cpu_ticks("self")?;
    let started = Instant::now();
    let progress = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(15)).await;
                let done = ctx.done.load(Ordering::Relaxed);
                eprintln!(
                    "  {done}/{total} reports after {:.0} s ({:.0}/s in the last 15 s)",
                    started.elapsed().as_secs_f64(),
                    (done - last) as f64 / 15.0
                );
                last = done;
            }
        })
    };
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        set.spawn(post_worker(ctx.clone()));
    }
    let mut all = Tally::default();
    while let Some(t) = set.join_next().await {
        let t = t?;
        all.latencies_us.extend(t.latencies_us);
        for (s, n) in t.statuses {
            *all.statuses.entry(s).or_default() += n;
        }
        all.transport_errors += t.transport_errors;
        all.retries += t.retries;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
    }
    progress.abort();
    let secs = started.elapsed().as_secs_f64();
    let client_cpu = stsd_bench::cpu_ticks("self")?.saturating_sub(cpu_before);
    all.latencies_us.sort_unstable();
    let unexpected: u64 = all
        .statuses
        .iter()
        .filter(|(s, _)| !(200..300).contains(*s) && !ctx.allowed.contains(s))
        .map(|(_, n)| n)
        .sum();
    let errors = unexpected + all.transport_errors;
    let statuses = all
        .statuses
        .iter()
        .map(|(s, n)| format!("status_{s}={n}"))
        .collect::<Vec<_>>()
        .join(" ");
    let ms = |us: u64| us as f64 / 1000.0;
    if let Some(e) = &all.first_error {
        eprintln!("first error: {e}");
    }
    #[allow(clippy::cast_precision_loss, reason = "printed figures")]
    let rps = total as f64 / secs;
    println!(
        "RESULT label=post reports={total} concurrency={} seconds={secs:.1} rps={rps:.0} \
         p50_ms={:.1} p99_ms={:.1} max_ms={:.1} {statuses} transport_errors={} retries={} \
         errors={errors} client_cpu_s={:.2}",
        concurrency.max(1),
        ms(percentile(&all.latencies_us, 0.50)),
        ms(percentile(&all.latencies_us, 0.99)),
        ms(all.latencies_us.last().copied().unwrap_or(0)),
        all.transport_errors,
        all.retries,
        ticks_to_secs(client_cpu),
    );
    if errors > 0 {
        bail!("{errors} deliveries failed");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match args.command {
        Command::Corpus {
            out,
            count,
            domains,
            seed,
            last_day,
        } => corpus(&out, count, domains, seed, last_day.as_deref()),
        Command::Parse { dir, rounds } => parse(&dir, rounds),
        Command::Post {
            edge,
            host,
            root,
            labels,
            dir,
            concurrency,
            threads,
            allow_status,
        } => {
            let rt = if threads <= 1 {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
            } else {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads)
                    .enable_all()
                    .build()?
            };
            rt.block_on(post(
                edge,
                host,
                &root,
                &labels,
                &dir,
                concurrency,
                allow_status,
            ))
        }
    }
}
