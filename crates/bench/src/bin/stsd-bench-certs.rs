//! `stsd-bench-certs`: certificates for N customer domains from a real ACME server (Pebble),
//! through the released `stsd serve`, end to end (issue 6, "Done when": time and the worker's
//! peak memory for 200 domains).
//!
//! On loopback only, it starts:
//! - a fake customer DNS ([`stsd_testkit::FakeDns`]) that is also the only resolver of stsd
//!   and of Pebble's validation authority;
//! - Pebble (`pebble -config …`, `PEBBLE_VA_NOSLEEP=1`, `-dnsserver` = the fake DNS), its
//!   HTTP-01 port = stsd's edge HTTP port, its listener certificate from a throwaway CA this
//!   tool generates (the Debian package ships no test certificates);
//! - `stsd serve` on SQLite or PostgreSQL, `STSD_ACME_DIRECTORY` = Pebble's directory,
//!   `STSD_ACME_CA_ROOTS` = that throwaway CA.
//!
//! Then, as a customer would: signs up, registers `d{i}.bench.test` (its MX is in the fake
//! DNS), publishes the three CNAMEs stsd asks for (plus the A record of
//! `<label>.edge.<zone>`, which stsd's own DNS would answer in production), runs the checks,
//! and polls the domain list until every domain is `active`. Finally it checks that the edge
//! serves every domain a chain that verifies against Pebble's root (management `/roots/0`).
//!
//! Measured: wall time from the first registration to the last `active`, the issuance rate,
//! stsd's peak RSS (`VmHWM` of the process) and RSS sampled over the run (also written to
//! `memory.csv`), stsd's and Pebble's CPU time, and per-certificate times from stsd's log.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool that reports to the bench script"
)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::{Parser, ValueEnum};
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use stsd_testkit::{FakeDns, PebbleOptions, PebbleServer, TestDatabase, tls_connector};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The service zone stsd runs under in the benchmark.
const ZONE: &str = "sts.bench.test";
/// The parent of every customer domain: `d{i}.bench.test`.
const CUSTOMER_PARENT: &str = "bench.test";
/// A fixed master key (test data only, not a secret).
const MASTER_KEY_B64: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
const PASSWORD: &str = "violet quarry lantern 42 drift";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Database {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the server `STSD_TEST_POSTGRES_URL` names (default
    /// `postgres://postgres@127.0.0.1:5432/postgres`), dropped at the end.
    Postgres,
}

/// Issues certificates for N domains through `stsd serve` and Pebble, and reports time and
/// memory.
#[derive(Debug, Parser)]
struct Args {
    /// The `stsd` binary (a release build).
    #[arg(long)]
    stsd: PathBuf,
    /// The `pebble` binary.
    #[arg(long, default_value = "pebble")]
    pebble: PathBuf,
    /// Number of customer domains.
    #[arg(long, default_value_t = 200)]
    domains: usize,
    /// The store stsd runs on.
    #[arg(long, value_enum, default_value_t = Database::Sqlite)]
    database: Database,
    /// Directory for configuration, logs and results (created; old files replaced).
    #[arg(long, default_value = "/tmp/stsd-bench-certs")]
    workdir: PathBuf,
    /// Give up waiting for every domain to become active after this many seconds (counted
    /// from the first registration).
    #[arg(long, default_value_t = 900)]
    timeout: u64,
    /// `POST …/checks` requests in flight at once.
    #[arg(long, default_value_t = 8)]
    check_concurrency: usize,
    /// ACME orders the certificate worker runs at once (`STSD_ACME_ORDERS_IN_FLIGHT`).
    #[arg(long, default_value_t = 16)]
    orders_in_flight: u32,
    /// Interval of the memory and CPU samples, in milliseconds.
    #[arg(long, default_value_t = 500)]
    sample_ms: u64,
    /// Interval of the domain-list polls (each lists every domain), in milliseconds.
    #[arg(long, default_value_t = 2000)]
    poll_ms: u64,
    /// Clock ticks per second of /proc times (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
}

/// A child process, killed (and reaped) when dropped: every exit path cleans up.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process has exited, pointing at its log.
    fn check_alive(&mut self, log: &Path) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited ({status}); see {}", self.name, log.display());
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn mib(kib: u64) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "a printed figure")]
    let v = kib as f64 / 1024.0;
    v
}

fn ticks_s(ticks: u64, per_second: u64) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "a printed figure")]
    let v = ticks as f64 / per_second.max(1) as f64;
    v
}

/// A `kB` line (`VmRSS`, `VmHWM`) of `/proc/<pid>/status`, in KiB.
fn proc_status_kib(pid: u32, key: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.lines()
        .find_map(|line| {
            let (k, v) = line.split_once(':')?;
            (k == key).then(|| v.trim().trim_end_matches("kB").trim().parse().ok())?
        })
        .ok_or_else(|| anyhow!("no {key} in {path}"))
}

/// One sample of the processes under test.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// When it was taken.
    at: Instant,
    rss_kib: u64,
    hwm_kib: u64,
    stsd_ticks: u64,
    pebble_ticks: u64,
}

/// Samples stsd's memory and both processes' CPU time until aborted.
fn spawn_sampler(
    stsd: u32,
    pebble: u32,
    every: Duration,
    out: Arc<Mutex<Vec<Sample>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let (Ok(rss_kib), Ok(hwm_kib), Ok(stsd_ticks)) = (
                proc_status_kib(stsd, "VmRSS"),
                proc_status_kib(stsd, "VmHWM"),
                stsd_bench::cpu_ticks(&stsd.to_string()),
            ) else {
                continue;
            };
            let pebble_ticks = stsd_bench::cpu_ticks(&pebble.to_string()).unwrap_or(0);
            out.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Sample {
                    at: Instant::now(),
                    rss_kib,
                    hwm_kib,
                    stsd_ticks,
                    pebble_ticks,
                });
        }
    })
}

/// The running `stsd serve` and its addresses.
struct Stsd {
    proc: Proc,
    api: String,
    https: SocketAddr,
    log: PathBuf,
}

/// Starts `stsd serve` with its edge's HTTP port at `edge_http`: the port Pebble validates
/// HTTP-01 on.
async fn start_stsd(
    args: &Args,
    db_url: &str,
    dns: SocketAddr,
    pebble: &PebbleServer,
    edge_http: u16,
) -> anyhow::Result<Stsd> {
    let dir = &args.workdir;
    let (api, https, dns_port, smtp, mx) = (
        free_port()?,
        free_port()?,
        free_port()?,
        free_port()?,
        free_port()?,
    );
    let log = dir.join("stsd.log");
    let out = fs::File::create(&log)?;
    let mut cmd = Command::new(&args.stsd);
    for (k, _) in std::env::vars() {
        if k.starts_with("STSD_") {
            cmd.env_remove(k);
        }
    }
    let data = dir.join("stsd-data");
    fs::create_dir_all(&data)?;
    let child = cmd
        .arg("serve")
        .current_dir(dir)
        .env("STSD_DATABASE_URL", db_url)
        .env("STSD_DATA_DIR", &data)
        .env("STSD_MASTER_KEY", MASTER_KEY_B64)
        .env("STSD_SERVICE_ZONE", ZONE)
        .env("STSD_RESOLVERS", dns.to_string())
        .env("STSD_ACME_DIRECTORY", pebble.directory())
        .env("STSD_ACME_CA_ROOTS", pebble.listener_root_path())
        .env("STSD_ACME_CONTACT", "ops@bench.test")
        // Pebble has no order limit; the default limiter (Let's Encrypt's) would make this
        // a benchmark of the limiter.
        .env("STSD_ACME_ORDERS_PER_HOUR", "100000")
        .env(
            "STSD_ACME_ORDERS_IN_FLIGHT",
            args.orders_in_flight.to_string(),
        )
        .env(
            "STSD_DOMAIN_QUOTA",
            (args.domains + 10).max(1000).to_string(),
        )
        .env("STSD_API_LISTEN", format!("127.0.0.1:{api}"))
        .env("STSD_EDGE_HTTPS_LISTEN", format!("127.0.0.1:{https}"))
        .env("STSD_EDGE_HTTP_LISTEN", format!("127.0.0.1:{edge_http}"))
        .env("STSD_DNS_LISTEN", format!("127.0.0.1:{dns_port}"))
        .env("STSD_SMTP_LISTEN", format!("127.0.0.1:{smtp}"))
        .env("STSD_METRICS_LISTEN", format!("127.0.0.1:{}", free_port()?))
        // Nothing listens there: the MX STARTTLS probe fails at once instead of trying the
        // real port 25 (the MX hosts do not resolve anyway).
        .env("STSD_MX_SMTP_PORT", mx.to_string())
        // JSON lines: the per-certificate times are read back from the log.
        .env("STSD_LOG_FORMAT", "json")
        .env("RUST_LOG", "info,sqlx=warn")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("cannot start {}", args.stsd.display()))?;
    Ok(Stsd {
        proc: Proc {
            name: "stsd serve",
            child,
        },
        api: format!("http://127.0.0.1:{api}"),
        https: SocketAddr::from((Ipv4Addr::LOCALHOST, https)),
        log,
    })
}

/// Lines of stsd's JSON log with this message: `(timestamp, fields)`.
fn log_events(log: &Path, message: &str) -> Vec<(OffsetDateTime, Value)> {
    let Ok(text) = fs::read_to_string(log) else {
        return Vec::new();
    };
    text.lines()
        .filter(|line| line.contains(message))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["fields"]["message"] == message)
        .filter_map(|v| {
            let at = OffsetDateTime::parse(v["timestamp"].as_str()?, &Rfc3339).ok()?;
            Some((at, v["fields"].clone()))
        })
        .collect()
}

/// A customer's view of the API: one tenant, one token.
struct Customer {
    http: reqwest::Client,
    base: String,
    token: String,
    tenant: String,
}

impl Customer {
    async fn signup(http: reqwest::Client, api: &str) -> anyhow::Result<Customer> {
        let base = format!("{api}/api/v1");
        let resp = http
            .post(format!("{base}/auth/signup"))
            .json(
                &json!({ "email": "ops@bench.test", "password": PASSWORD, "tenant_name": "Bench" }),
            )
            .send()
            .await?;
        let status = resp.status();
        let v: Value = resp.json().await?;
        if !status.is_success() {
            bail!("signup: {status} {v}");
        }
        Ok(Customer {
            http,
            base,
            token: v["access_token"]
                .as_str()
                .context("signup: no access_token")?
                .to_owned(),
            tenant: v["tenant"]["id"]
                .as_str()
                .context("signup: no tenant id")?
                .to_owned(),
        })
    }

    fn domains_url(&self) -> String {
        format!("{}/tenants/{}/domains", self.base, self.tenant)
    }

    async fn add_domain(&self, name: &str) -> anyhow::Result<Value> {
        let resp = self
            .http
            .post(self.domains_url())
            .bearer_auth(&self.token)
            .json(&json!({ "name": name }))
            .send()
            .await?;
        let status = resp.status();
        let v: Value = resp.json().await?;
        if !status.is_success() {
            bail!("adding {name}: {status} {v}");
        }
        Ok(v)
    }

    /// `POST …/checks`; the HTTP status (200 fresh results, 202 still running).
    async fn run_checks(&self, name: &str) -> anyhow::Result<u16> {
        let resp = self
            .http
            .post(format!("{}/{name}/checks", self.domains_url()))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            bail!("checks of {name}: {status} {body}");
        }
        Ok(status.as_u16())
    }

    /// Every domain's state, through the paged list.
    async fn states(&self) -> anyhow::Result<HashMap<String, String>> {
        let mut states = HashMap::new();
        let mut cursor: Option<String> = None;
        loop {
            // The cursor is a domain name: nothing in it needs escaping in a query string.
            let url = match &cursor {
                Some(c) => format!("{}?limit=200&cursor={c}", self.domains_url()),
                None => format!("{}?limit=200", self.domains_url()),
            };
            let resp = self.http.get(url).bearer_auth(&self.token).send().await?;
            let status = resp.status();
            let v: Value = resp.json().await?;
            if !status.is_success() {
                bail!("listing domains: {status} {v}");
            }
            for item in v["items"].as_array().into_iter().flatten() {
                if let (Some(name), Some(state)) = (item["name"].as_str(), item["state"].as_str()) {
                    states.insert(name.to_owned(), state.to_owned());
                }
            }
            match v["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return Ok(states),
            }
        }
    }
}

/// Registers `name` with its MX in the customer DNS, then publishes the records stsd
/// returns, and the edge address its own DNS would answer for `<label>.edge.<zone>`.
async fn register(customer: &Customer, dns: &FakeDns, name: &str) -> anyhow::Result<()> {
    dns.set_mx(name, &[(10, &format!("mx.{name}"))]);
    let added = customer.add_domain(name).await?;
    for r in added["records"].as_array().context("no records")? {
        let (Some(owner), Some(kind), Some(value)) = (
            r["name"].as_str(),
            r["type"].as_str().or_else(|| r["kind"].as_str()),
            r["value"].as_str(),
        ) else {
            bail!("unexpected record {r}");
        };
        if kind != "CNAME" {
            bail!("{name}: stsd asks for a {kind} record; the benchmark publishes CNAMEs");
        }
        dns.set_cname(owner, value);
        if owner.starts_with("mta-sts.") {
            // Pebble's VA resolves mta-sts.<name> through this DNS only: the CNAME's target
            // must resolve here too (in production stsd's DNS answers it).
            dns.set_a(value, &[Ipv4Addr::LOCALHOST]);
        }
    }
    Ok(())
}

/// One TLS handshake with the edge for `sni`, verified against `root_pem`.
async fn edge_chain_ok(https: SocketAddr, sni: &str, tls: &TlsConnector) -> anyhow::Result<()> {
    let tcp = TcpStream::connect(https).await?;
    let stream = tls
        .connect(ServerName::try_from(sni.to_owned())?, tcp)
        .await?;
    let chain = stream.get_ref().1.peer_certificates().unwrap_or_default();
    if chain.len() < 2 {
        bail!("{sni}: the edge sent {} certificate(s)", chain.len());
    }
    Ok(())
}

/// `n` events in `t` seconds, per minute.
fn per_minute(n: usize, t: f64) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "a printed figure")]
    let n = n as f64;
    n / t.max(0.001) * 60.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a short list of measurements"
    )]
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

/// What the run measured, for the report.
#[derive(Default)]
struct Run {
    domains: usize,
    database: String,
    register_s: f64,
    checks_s: f64,
    checks_fresh: usize,
    /// The wall-clock time of the first registration (stsd's log times are compared to it).
    t0_wall: Option<OffsetDateTime>,
    all_active_s: Option<f64>,
    active: usize,
    states: HashMap<String, usize>,
    /// RSS before the first registration (after sign-up).
    idle_rss_kib: u64,
    /// VmHWM before the first registration: start-up and sign-up (Argon2).
    startup_hwm_kib: u64,
    /// Whether VmHWM was reset before the first registration (`/proc/<pid>/clear_refs`).
    hwm_reset: bool,
    served_ok: usize,
    served_errors: Vec<String>,
}

/// Starts Pebble, its files (configuration, listener CA, log) kept in the work directory.
async fn start_pebble(
    args: &Args,
    http_port: u16,
    dns: SocketAddr,
) -> anyhow::Result<PebbleServer> {
    let options = PebbleOptions {
        program: args.pebble.clone(),
        dir: Some(args.workdir.clone()),
        ..PebbleOptions::new(dns, http_port)
    };
    PebbleServer::start(options)
        .await
        .with_context(|| format!("cannot start {}", args.pebble.display()))
}

async fn run(args: &Args, db: &TestDatabase) -> anyhow::Result<bool> {
    let dns = FakeDns::start().await?;
    // stsd's own report host gets a certificate too (the worker does it first).
    dns.set_a(&format!("reports.{ZONE}"), &[Ipv4Addr::LOCALHOST]);
    let edge_http = free_port()?;
    let mut pebble = start_pebble(args, edge_http, dns.addr()).await?;
    println!(
        "pebble: {} (log {})",
        pebble.directory(),
        pebble.log_path().display()
    );

    let mut stsd = start_stsd(args, db.url(), dns.addr(), &pebble, edge_http).await?;
    println!(
        "stsd serve: pid {} api {} ({:?}, log {})",
        stsd.proc.pid(),
        stsd.api,
        args.database,
        stsd.log.display()
    );
    // Sampled from the start (negative times until the first registration): the peak may
    // come before the customer work, at start-up.
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = spawn_sampler(
        stsd.proc.pid(),
        pebble.pid(),
        Duration::from_millis(args.sample_ms.max(50)),
        Arc::clone(&samples),
    );
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let ready = Instant::now();
    loop {
        stsd.proc.check_alive(&stsd.log)?;
        pebble.check_running()?;
        let ok = http
            .get(format!("{}/readyz", stsd.api))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            break;
        }
        if ready.elapsed() > Duration::from_secs(60) {
            bail!("stsd is not ready after 60 s; see {}", stsd.log.display());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The service certificate (reports.<zone>) is issued first; wait for it so that the
    // clock measures customer certificates only.
    let service_wait = Instant::now();
    while log_events(&stsd.log, "service certificate issued").is_empty() {
        if service_wait.elapsed() > Duration::from_secs(60) {
            println!("note: no service certificate after 60 s (see the log); going on");
            break;
        }
        stsd.proc.check_alive(&stsd.log)?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let customer = Arc::new(Customer::signup(http.clone(), &stsd.api).await?);
    // Start-up and the sign-up's password hash (Argon2) set a peak of their own; reset the
    // peak (writing 5 to clear_refs resets VmHWM to the current RSS) so that the VmHWM read
    // at the end is the peak of the customer work: registrations, checks, issuance.
    let pid = stsd.proc.pid();
    let startup_hwm_kib = proc_status_kib(pid, "VmHWM")?;
    let hwm_reset = fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    if !hwm_reset {
        println!("note: cannot reset VmHWM; the peak includes start-up and sign-up");
    }
    let mut result = Run {
        domains: args.domains,
        database: format!("{:?}", args.database).to_lowercase(),
        idle_rss_kib: proc_status_kib(pid, "VmRSS")?,
        startup_hwm_kib,
        hwm_reset,
        ..Run::default()
    };
    let names: Vec<String> = (0..args.domains)
        .map(|i| format!("d{i}.{CUSTOMER_PARENT}"))
        .collect();

    // --- the clock starts at the first registration -------------------------------------
    let t0 = Instant::now();
    result.t0_wall = Some(OffsetDateTime::now_utc());
    let deadline = t0 + Duration::from_secs(args.timeout);
    for name in &names {
        register(&customer, &dns, name).await?;
    }
    result.register_s = secs(t0.elapsed());
    println!(
        "registered {} domains and published their records in {:.1} s",
        names.len(),
        result.register_s
    );

    let mut checks = tokio::task::JoinSet::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(args.check_concurrency.max(1)));
    for name in names.clone() {
        let (customer, permits) = (Arc::clone(&customer), Arc::clone(&permits));
        checks.spawn(async move {
            let _permit = permits.acquire_owned().await?;
            customer.run_checks(&name).await
        });
    }
    while let Some(done) = checks.join_next().await {
        if done?? == 200 {
            result.checks_fresh += 1;
        }
    }
    result.checks_s = secs(t0.elapsed());
    println!(
        "checks requested for every domain at {:.1} s ({} answered with fresh results)",
        result.checks_s, result.checks_fresh
    );

    let mut last_print = Instant::now();
    loop {
        stsd.proc.check_alive(&stsd.log)?;
        pebble.check_running()?;
        let states = customer.states().await?;
        let mut counts: HashMap<String, usize> = HashMap::new();
        for s in states.values() {
            *counts.entry(s.clone()).or_default() += 1;
        }
        let active = counts.get("active").copied().unwrap_or(0);
        result.active = active;
        result.states = counts;
        if active == names.len() {
            result.all_active_s = Some(secs(t0.elapsed()));
            break;
        }
        if last_print.elapsed() >= Duration::from_secs(30) {
            let line = format!(
                "  t={:>5.0} s  active {active}/{}  rss {:.1} MiB",
                secs(t0.elapsed()),
                names.len(),
                mib(proc_status_kib(stsd.proc.pid(), "VmRSS").unwrap_or(0))
            );
            println!("{line}");
            let _ = std::io::stdout().flush();
            last_print = Instant::now();
        }
        if Instant::now() >= deadline {
            println!(
                "timed out after {} s with {active}/{} active",
                args.timeout,
                names.len()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(args.poll_ms.max(100))).await;
    }
    let end_hwm = proc_status_kib(stsd.proc.pid(), "VmHWM")?;
    let end_rss = proc_status_kib(stsd.proc.pid(), "VmRSS")?;
    // One last sample at the end, then stop sampling.
    tokio::time::sleep(Duration::from_millis(args.sample_ms.max(50))).await;
    sampler.abort();

    // The edge serves every active domain a chain that verifies against Pebble's root.
    let root = pebble.issuing_root().await?;
    fs::write(args.workdir.join("pebble-root.pem"), &root)?;
    let tls = tls_connector(&root)?;
    // The edge follows the change feed: the last certificates may reach it a moment after
    // their domains turned active.
    let edge_deadline = Instant::now() + Duration::from_secs(30);
    for name in &names {
        let sni = format!("mta-sts.{name}");
        loop {
            match edge_chain_ok(stsd.https, &sni, &tls).await {
                Ok(()) => result.served_ok += 1,
                Err(_) if Instant::now() < edge_deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                Err(e) => result.served_errors.push(format!("{sni}: {e}")),
            }
            break;
        }
    }

    let samples = samples
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    write_samples(&args.workdir.join("memory.csv"), &samples, t0)?;
    report(args, &result, &samples, t0, end_rss, end_hwm, &stsd.log);
    drop(stsd);
    drop(pebble);
    Ok(result.all_active_s.is_some() && result.served_errors.is_empty())
}

/// Seconds from `t0` to `at`, negative before `t0`.
fn since(t0: Instant, at: Instant) -> f64 {
    if at >= t0 {
        secs(at - t0)
    } else {
        -secs(t0 - at)
    }
}

/// One line per sample; `t_s` counts from the first registration (negative before it).
fn write_samples(path: &Path, samples: &[Sample], t0: Instant) -> anyhow::Result<()> {
    let mut csv = String::from("t_s,rss_kib,hwm_kib,stsd_cpu_ticks,pebble_cpu_ticks\n");
    for s in samples {
        let _ = writeln!(
            csv,
            "{:.2},{},{},{},{}",
            since(t0, s.at),
            s.rss_kib,
            s.hwm_kib,
            s.stsd_ticks,
            s.pebble_ticks
        );
    }
    fs::write(path, csv).with_context(|| format!("writing {}", path.display()))
}

fn report(
    args: &Args,
    r: &Run,
    samples: &[Sample],
    t0: Instant,
    end_rss: u64,
    end_hwm: u64,
    log: &Path,
) {
    let during: Vec<&Sample> = samples.iter().filter(|s| s.at >= t0).collect();
    let startup_rss = samples
        .iter()
        .filter(|s| s.at < t0)
        .map(|s| s.rss_kib)
        .max()
        .unwrap_or(0);
    let rss_max = during.iter().map(|s| s.rss_kib).max().unwrap_or(0);
    let rss_mean = if during.is_empty() {
        0
    } else {
        during.iter().map(|s| s.rss_kib).sum::<u64>() / during.len() as u64
    };
    let cpu = |f: fn(&Sample) -> u64| match (during.first(), during.last()) {
        (Some(a), Some(b)) => ticks_s(f(b).saturating_sub(f(a)), args.clk_tck),
        _ => 0.0,
    };
    let stsd_cpu = cpu(|s| s.stsd_ticks);
    let pebble_cpu = cpu(|s| s.pebble_ticks);

    // Per-certificate times from the worker's log: the gaps between consecutive issuances.
    let issued = log_events(log, "certificate issued");
    let failed = log_events(log, "certificate issuance failed");
    let mut gaps: Vec<f64> = issued
        .windows(2)
        .filter_map(|w| match w {
            [a, b] => Some((b.0 - a.0).as_seconds_f64()),
            _ => None,
        })
        .collect();
    gaps.sort_by(f64::total_cmp);
    // The first and the last certificate, in seconds from the first registration.
    let offset = |at: OffsetDateTime| {
        r.t0_wall
            .map_or(0.0, |t0_wall| (at - t0_wall).as_seconds_f64())
    };
    let first_issued = issued.first().map_or(-1.0, |e| offset(e.0));
    let last_issued = issued.last().map_or(-1.0, |e| offset(e.0));

    let all = r.all_active_s;
    println!();
    println!(
        "stsd certificate benchmark — {} — {} CPUs, stsd serve on {} — Pebble",
        OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default(),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        r.database
    );
    println!(
        "domains: {}   register + publish: {:.1} s   checks requested by: {:.1} s",
        r.domains, r.register_s, r.checks_s
    );
    match all {
        Some(t) => {
            let rate = per_minute(r.domains, t);
            println!(
                "all {} active after {:.1} s (first certificate after {:.1} s, last after {:.1} s): {:.1} certificates/min, {:.2} s per certificate",
                r.domains,
                t,
                first_issued,
                last_issued,
                rate,
                60.0 / rate.max(0.001)
            );
        }
        None => println!(
            "NOT all active: {}/{} after {} s; states {:?}",
            r.active, r.domains, args.timeout, r.states
        ),
    }
    if !gaps.is_empty() {
        println!(
            "worker: {} certificates issued, {} failed attempts; time between issuances p50 {:.2} s, p90 {:.2} s, max {:.2} s",
            issued.len(),
            failed.len(),
            percentile(&gaps, 0.5),
            percentile(&gaps, 0.9),
            percentile(&gaps, 1.0)
        );
    }
    println!(
        "stsd memory: peak RSS (VmHWM) from the first registration to the last active {:.1} MiB{}; before that (start-up, sign-up) peak {:.1} MiB, max sampled {:.1} MiB; RSS at the first registration {:.1} MiB; during the run mean {:.1} MiB, max sampled {:.1} MiB, at the end {:.1} MiB ({} samples, memory.csv)",
        mib(end_hwm),
        if r.hwm_reset {
            ""
        } else {
            " (not reset: includes start-up)"
        },
        mib(r.startup_hwm_kib),
        mib(startup_rss),
        mib(r.idle_rss_kib),
        mib(rss_mean),
        mib(rss_max),
        mib(end_rss),
        during.len()
    );
    println!("CPU time over the run: stsd {stsd_cpu:.1} s, pebble {pebble_cpu:.1} s");
    println!(
        "edge check: {}/{} hosts serve a chain that verifies against Pebble's root",
        r.served_ok, r.domains
    );
    for e in r.served_errors.iter().take(5) {
        println!("  {e}");
    }
    println!(
        "RESULT domains={} database={} register_s={:.1} checks_s={:.1} first_cert_s={:.1} last_cert_s={:.1} all_active_s={} certs_per_min={} issue_gap_p50_s={:.2} failed_attempts={} peak_rss_mib={:.1} startup_peak_rss_mib={:.1} idle_rss_mib={:.1} mean_rss_mib={:.1} stsd_cpu_s={:.1} pebble_cpu_s={:.1} served_ok={}",
        r.domains,
        r.database,
        r.register_s,
        r.checks_s,
        first_issued,
        last_issued,
        all.map_or_else(|| "timeout".to_owned(), |t| format!("{t:.1}")),
        all.map_or_else(
            || "n/a".to_owned(),
            |t| format!("{:.1}", per_minute(r.domains, t))
        ),
        percentile(&gaps, 0.5),
        failed.len(),
        mib(end_hwm),
        mib(r.startup_hwm_kib),
        mib(r.idle_rss_kib),
        mib(rss_mean),
        stsd_cpu,
        pebble_cpu,
        r.served_ok
    );
}

fn main() -> anyhow::Result<()> {
    rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .map_err(|_| anyhow!("a crypto provider is already installed"))?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    fs::create_dir_all(&args.workdir)
        .with_context(|| format!("creating {}", args.workdir.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let ok = rt.block_on(async {
        let db = match args.database {
            Database::Sqlite => TestDatabase::sqlite().await,
            Database::Postgres => TestDatabase::postgres().await,
        };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        // Interrupted or done, the run's future is dropped here, and with it every process
        // it started; then the database goes.
        let outcome = tokio::select! {
            r = run(&args, &db) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
            _ = term.recv() => Err(anyhow!("terminated")),
        };
        db.drop_database().await;
        outcome
    })?;
    if !ok {
        bail!("not every domain got a served certificate");
    }
    Ok(())
}
