//! `stsd-bench-verify`: the verifier against N registered domains whose customer DNS (a
//! loopback authoritative fake, the real protocol) holds the three CNAMEs and an MX each.
//! Runs the real verify worker (leased jobs, its concurrency) until every domain is verified,
//! and reports the time, the rate and the peak number of open sockets of the process.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool that reports to the bench script"
)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use stsd_store::{DomainFilter, DomainState, Ownership, Store};
use stsd_testkit::FakeDns;
use stsd_verifier::{VerifierConfig, run_worker, schedule_all};

/// Verifies N domains against a loopback DNS.
#[derive(Debug, Parser)]
struct Args {
    /// How many domains.
    #[arg(long, default_value_t = 10_000)]
    domains: usize,
    /// Database URL; default a fresh SQLite file in a temporary directory.
    #[arg(long)]
    database_url: Option<String>,
    /// Domains checked at once by the worker.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
}

const ZONE: &str = "sts.bench.example";

/// Open sockets of this process, from /proc/self/fd.
fn open_sockets() -> usize {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.domains == 0 {
        bail!("--domains must be at least 1");
    }
    let dir = tempfile::tempdir().context("temporary directory")?;
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()));
    let store = Store::connect(&url).await.context("open the store")?;
    store.migrate().await.context("migrate")?;
    let dns = FakeDns::start().await.context("start the fake DNS")?;
    let tenant = store.create_tenant("bench").await?;

    let started = Instant::now();
    for i in 0..args.domains {
        let name = format!("d{i}.verify.example");
        let d = store
            .create_domain(&tenant.id, &name.parse()?, Ownership::Cname)
            .await?;
        let label = d.label.as_str();
        dns.set_mx(&name, &[(10, &format!("mx.{name}"))]);
        dns.set_cname(
            &format!("_mta-sts.{name}"),
            &format!("{label}.policy.{ZONE}"),
        );
        dns.set_cname(&format!("mta-sts.{name}"), &format!("{label}.edge.{ZONE}"));
        dns.set_cname(
            &format!("_smtp._tls.{name}"),
            &format!("{label}.report.{ZONE}"),
        );
    }
    println!(
        "registered {} domains in {:.1} s",
        args.domains,
        started.elapsed().as_secs_f64()
    );

    let mut cfg = VerifierConfig::new(
        ZONE.parse()?,
        vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))],
        &[dns.addr()],
        Duration::from_secs(5),
    )?;
    cfg.concurrency = args.concurrency;
    cfg.poll_interval = Duration::from_millis(20);
    let baseline = open_sockets();
    let peak = Arc::new(AtomicUsize::new(baseline));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(open_sockets(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let queries_before = dns.queries();
    let start = Instant::now();
    schedule_all(&store).await?;
    let worker = tokio::spawn(run_worker(store.clone(), cfg));
    let pending = DomainFilter {
        state: Some(DomainState::Pending),
        ..DomainFilter::default()
    };
    loop {
        if store
            .list_domains(&tenant.id, &pending, 1)
            .await?
            .is_empty()
        {
            break;
        }
        if start.elapsed() > Duration::from_secs(args.timeout) {
            worker.abort();
            bail!("not all domains verified after {} s", args.timeout);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    worker.abort();
    sampler.abort();
    let queries = dns.queries().saturating_sub(queries_before);
    println!("verified {} domains in {elapsed:.2} s", args.domains);
    // Domain counts stay far below 2^53; the rates are for display.
    println!(
        "rate: {:.0} domains/s, {:.0} DNS queries/s ({queries} queries)",
        args.domains as f64 / elapsed,
        queries as f64 / elapsed
    );
    println!(
        "open sockets: baseline {baseline}, peak {} (worker concurrency {})",
        peak.load(Ordering::Relaxed),
        args.concurrency
    );
    store.close().await;
    Ok(())
}
