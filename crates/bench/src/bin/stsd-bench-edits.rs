//! `stsd-bench-edits`: edit-to-edge latency on a fleet's store. Two edge followers (each
//! with its own connection pool, as two `stsd edge` processes have) follow the change feed of
//! one database; an edit is saved and published the way the API does it
//! (`create_policy_version`, then `publish_latest`), and the time until both followers serve
//! the new bytes is measured. Prints p50/p99/max over N edits on an idle fleet, then again
//! while the verify worker (and the publisher) check M pending domains whose DNS answers from
//! a loopback fake — the situation where edits used to queue behind a round of checks.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool that reports to the bench script"
)]

use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use stsd_core::{DomainName, MaxAge, Mode, MxPattern, Policy};
use stsd_serving::{NodeInfo, SnapshotHandle};
use stsd_store::{DomainState, MasterKey, NewCertificate, Ownership, Store};
use stsd_testkit::FakeDns;
use stsd_verifier::{VerifierConfig, run_publisher, run_worker, schedule_all};

/// Edit-to-edge latency, idle and with the verifier busy.
#[derive(Debug, Parser)]
struct Args {
    /// Edits measured per phase.
    #[arg(long, default_value_t = 50)]
    edits: usize,
    /// Pending domains the verifier checks during the busy phase (0: idle phase only).
    #[arg(long, default_value_t = 10_000)]
    busy_domains: usize,
    /// Database URL (PostgreSQL for a fleet); default a fresh SQLite file.
    #[arg(long)]
    database_url: Option<String>,
}

const ZONE: &str = "sts.bench.example";
const HOST: &str = "mta-sts.edit.example";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    // Indices of at most a few thousand samples: exact in f64.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a short sorted list"
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len().saturating_sub(1))]
}

fn policy(n: usize) -> anyhow::Result<Policy> {
    Ok(Policy::new(
        Mode::Testing,
        vec![MxPattern::from_str(&format!("mx{n}.edit.example"))?],
        MaxAge::new(86_400)?,
    )?)
}

/// Makes `edit.example` served: a live policy, a certificate from a throwaway CA, `active`.
async fn serve_one(store: &Store, master: &MasterKey) -> anyhow::Result<stsd_store::Domain> {
    let tenant = store.create_tenant("edits").await?;
    let d = store
        .create_domain(
            &tenant.id,
            &DomainName::from_str("edit.example")?,
            Ownership::Cname,
        )
        .await?;
    let v = store
        .create_policy_version(&tenant.id, &d.id, &policy(0)?, "bench")
        .await?;
    store
        .all_tenants()
        .set_live_version(&d.id, &v.version.id)
        .await?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec![HOST.to_owned()])?.signed_by(&key, &ca)?;
    let now = time::OffsetDateTime::now_utc();
    store
        .all_tenants()
        .put_certificate(&NewCertificate {
            domain_id: d.id.clone(),
            chain_pem: format!("{}{}", cert.pem(), ca.pem()),
            key_ciphertext: master.seal(&key.serialize_der())?,
            key_id: master.id().to_owned(),
            not_before: now - time::Duration::hours(1),
            not_after: now + time::Duration::days(60),
        })
        .await?;
    store
        .all_tenants()
        .transition_domain(&d.id, DomainState::Pending, DomainState::Verified, "bench")
        .await?;
    store
        .all_tenants()
        .transition_domain(&d.id, DomainState::Verified, DomainState::Active, "bench")
        .await?;
    Ok(d)
}

/// One edge node: its own pool and follower.
async fn edge(url: &str, master: Arc<MasterKey>, id: &str) -> anyhow::Result<SnapshotHandle> {
    let store = Store::connect(url).await?;
    let handle = SnapshotHandle::load(&store, master).await?;
    let node = NodeInfo {
        id: id.to_owned(),
        roles: "edge".to_owned(),
        version: "bench".to_owned(),
        started_at: time::OffsetDateTime::now_utc(),
    };
    // As `stsd edge` follows: woken by notifications, polling every 5 s.
    handle.spawn_follower(store, node, Duration::from_secs(5), Duration::from_secs(10));
    Ok(handle)
}

async fn measure(
    store: &Store,
    domain: &stsd_store::Domain,
    edges: &[SnapshotHandle],
    edits: usize,
    first: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut took = Vec::with_capacity(edits);
    for n in first..first + edits {
        let p = policy(n)?;
        let body = p.render();
        let start = Instant::now();
        store
            .create_policy_version(&domain.tenant_id, &domain.id, &p, "bench")
            .await?;
        store.publish_latest(&domain.tenant_id, &domain.id).await?;
        loop {
            let served = edges.iter().all(|e| {
                e.current()
                    .host(HOST)
                    .is_some_and(|h| h.body.as_ref() == body.as_bytes())
            });
            if served {
                break;
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!("edit {n} not on both edges after 30 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        took.push(start.elapsed());
        // Edits a user makes are seconds apart, not back to back.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    took.sort();
    Ok(took)
}

fn report(phase: &str, took: &[Duration]) {
    println!(
        "{phase}: {} edits, on both edges after p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        took.len(),
        percentile(took, 0.5).as_secs_f64() * 1e3,
        percentile(took, 0.99).as_secs_f64() * 1e3,
        took.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir().context("temporary directory")?;
    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()));
    let store = Store::connect(&url).await.context("open the store")?;
    store.migrate().await.context("migrate")?;
    let master = Arc::new(MasterKey::from_bytes([5; 32]));
    let domain = serve_one(&store, &master).await?;
    let edges = [
        edge(&url, master.clone(), "edge-a").await?,
        edge(&url, master.clone(), "edge-b").await?,
    ];
    let publisher = tokio::spawn(run_publisher(store.clone(), Duration::from_secs(1)));

    let idle = measure(&store, &domain, &edges, args.edits, 1).await?;
    report("idle fleet", &idle);
    if args.busy_domains == 0 {
        publisher.abort();
        return Ok(());
    }

    let dns = FakeDns::start().await.context("start the fake DNS")?;
    let tenant = store.create_tenant("busy").await?;
    for i in 0..args.busy_domains {
        let name = format!("b{i}.verify.example");
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
    let mut cfg = VerifierConfig::new(
        ZONE.parse()?,
        vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))],
        &[dns.addr()],
        Duration::from_secs(5),
    )?;
    cfg.poll_interval = Duration::from_millis(20);
    schedule_all(&store).await?;
    let worker = tokio::spawn(run_worker(store.clone(), cfg));
    // Let the worker get into its stride.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let busy_from = Instant::now();
    let busy = measure(&store, &domain, &edges, args.edits, 1 + args.edits).await?;
    // Still checking when the last edit was measured: the edits did not wait for a quiet
    // worker.
    let still_pending = !store
        .list_domains(
            &tenant.id,
            &stsd_store::DomainFilter {
                state: Some(DomainState::Pending),
                ..stsd_store::DomainFilter::default()
            },
            1,
        )
        .await?
        .is_empty();
    report(
        &format!(
            "verifier busy ({} domains; after {:.1} s {})",
            args.busy_domains,
            busy_from.elapsed().as_secs_f64(),
            if still_pending {
                "still checking"
            } else {
                "all checked"
            }
        ),
        &busy,
    );
    worker.abort();
    publisher.abort();
    Ok(())
}
