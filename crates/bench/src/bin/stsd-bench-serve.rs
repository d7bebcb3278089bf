//! `stsd-bench-serve`: loads the serving snapshot from a SQLite store (as `stsd edge` does at
//! start) and runs only the HTTPS edge and/or the DNS, for benchmarks. No API, no change-feed
//! follower, no heartbeat: nothing runs but what answers requests.
//!
//! It prints the snapshot load time and the resident memory after the load, then `ready`
//! once listening.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool that reports to the bench script"
)]

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use stsd_core::DomainName;
use stsd_serving::SnapshotHandle;
use stsd_serving::dns::{ZoneConfig, serve_dns};
use stsd_serving::edge::{EdgeLimits, serve_https};
use stsd_store::{MasterKey, Store};
use tokio::net::{TcpListener, UdpSocket};

/// Serves a seeded store's snapshot on the edge and DNS only.
#[derive(Debug, Parser)]
struct Args {
    /// SQLite file written by stsd-bench-seed.
    #[arg(long)]
    db: PathBuf,
    /// HTTPS listen address.
    #[arg(long)]
    https: Option<SocketAddr>,
    /// DNS listen address (UDP and TCP).
    #[arg(long)]
    dns: Option<SocketAddr>,
    /// The service zone DNS is authoritative for.
    #[arg(long, default_value = "bench.stsd.example")]
    zone: String,
    /// The master key the store was seeded with (64 hex digits).
    #[arg(
        long,
        default_value = "0909090909090909090909090909090909090909090909090909090909090909"
    )]
    master_key: String,
    /// Tokio worker threads (default: the CPUs this process may run on).
    #[arg(long)]
    workers: Option<usize>,
    /// Clock ticks per second of /proc times (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
    /// Exit after loading and reporting (load-time and memory measurement only).
    #[arg(long)]
    exit_after_load: bool,
}

fn master_key(hex: &str) -> anyhow::Result<MasterKey> {
    if hex.len() != 64 || !hex.is_ascii() {
        bail!("the master key must be 64 hex digits");
    }
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        let pair = hex.get(2 * i..2 * i + 2).context("master key")?;
        *b = u8::from_str_radix(pair, 16).context("master key is not hex")?;
    }
    Ok(MasterKey::from_bytes(bytes))
}

fn mib(kib: u64) -> f64 {
    // Exact for any realistic size; only printed.
    #[allow(clippy::cast_precision_loss, reason = "a printed figure")]
    let v = kib as f64 / 1024.0;
    v
}

fn ticks_s(ticks: u64, per_second: u64) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "a printed figure")]
    let v = ticks as f64 / per_second.max(1) as f64;
    v
}

async fn run(args: Args) -> anyhow::Result<()> {
    let master = Arc::new(master_key(&args.master_key)?);
    let db = args
        .db
        .to_str()
        .context("the database path must be UTF-8")?;
    if !args.db.exists() {
        bail!("{db} does not exist: run stsd-bench-seed first");
    }
    let rss_before = stsd_bench::status_kib("VmRSS")?;
    let cpu_before = stsd_bench::cpu_ticks("self")?;
    let started = Instant::now();
    let store = Store::connect(&format!("sqlite://{db}")).await?;
    let snapshots = SnapshotHandle::load(&store, master).await?;
    let load = started.elapsed();
    let cpu = stsd_bench::cpu_ticks("self")?.saturating_sub(cpu_before);
    store.close().await;
    let hosts = snapshots.current().host_count();
    let rss = stsd_bench::status_kib("VmRSS")?;
    let hwm = stsd_bench::status_kib("VmHWM")?;
    println!(
        "LOAD hosts={hosts} load_s={:.3} load_cpu_s={:.2} rss_mib={:.1} peak_rss_mib={:.1} rss_before_mib={:.1}",
        load.as_secs_f64(),
        ticks_s(cpu, args.clk_tck),
        mib(rss),
        mib(hwm),
        mib(rss_before),
    );
    if args.exit_after_load {
        return Ok(());
    }

    let mut tasks = tokio::task::JoinSet::new();
    if let Some(addr) = args.https {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding HTTPS on {addr}"))?;
        tasks.spawn(serve_https(
            listener,
            snapshots.clone(),
            EdgeLimits::default(),
        ));
    }
    if let Some(addr) = args.dns {
        let udp = UdpSocket::bind(addr)
            .await
            .with_context(|| format!("binding DNS/UDP on {addr}"))?;
        let tcp = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding DNS/TCP on {addr}"))?;
        let mut zone = ZoneConfig::new(
            DomainName::parse_host(&args.zone).context("zone")?,
            vec!["192.0.2.10".parse()?],
        );
        // No follower, so no heartbeats: announce the newest live id at once instead of
        // waiting for the settle delay (the store was seeded seconds ago).
        zone.settle = std::time::Duration::ZERO;
        tasks.spawn(serve_dns(udp, tcp, snapshots.clone(), zone));
    }
    if tasks.is_empty() {
        bail!("nothing to serve: give --https and/or --dns");
    }
    println!("ready");
    std::io::stdout().flush()?;
    tokio::select! {
        _ = tasks.join_next() => bail!("a server stopped"),
        r = tokio::signal::ctrl_c() => r.context("waiting for a signal")?,
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a crypto provider is already installed"))?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = args.workers {
        rt.worker_threads(n.max(1));
    }
    rt.build()?.block_on(run(args))
}
