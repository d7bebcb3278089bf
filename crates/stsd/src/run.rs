//! Running a set of roles in one process: what each role starts, and the orderly stop.
//!
//! Every role gets the operations listener (`/healthz`, `/readyz`, `/metrics`). Roles that
//! serve from the snapshot (edge, DNS, SMTP) follow the change feed; when every role of the
//! process is one of those, the process does not need the store to start. SIGTERM (or Ctrl-C)
//! makes `/readyz` answer `stopping`, stops the listeners accepting, lets open connections
//! finish (bounded), gives back the worker's job leases and exits 0.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use stsd_net::ShutdownTrigger;
use stsd_serving::{NodeInfo, SnapshotHandle};
use stsd_store::{MasterKey, Store, StoreHealth};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::ops::{self, Ops};
use crate::roles::{Role, Roles};

/// How long listeners get to finish open connections after a stop.
const DRAIN: Duration = Duration::from_secs(15);

/// Runs `roles` until SIGTERM or Ctrl-C.
pub(crate) async fn run_roles(config: Config, roles: Roles) -> anyhow::Result<()> {
    let key = Arc::new(crate::load_master_key(&config)?);
    let store = if roles.can_start_without_store() {
        // Serving roles answer from their snapshot; they neither need the store at start
        // nor migrate it (that is for `stsd migrate`, the API and the worker).
        let masked = stsd_store::mask_url(&config.database.url);
        Store::connect_with(&config.database.url, &crate::connect_options(&config, true))
            .await
            .with_context(|| format!("cannot open the database {masked}"))?
    } else {
        crate::open_store(&config).await?
    };
    let store = match &config.database.listen_url {
        Some(url) => store.with_listen_url(url),
        None => store,
    };
    tracing::info!(
        %roles,
        database = %stsd_store::mask_url(&config.database.url),
        zone = %config.service_zone,
        "starting"
    );
    // Bound first: a port conflict fails the start at once, and probes that arrive while the
    // roles start wait in the backlog instead of being refused.
    let ops_listener = bind(config.metrics_listen, "STSD_METRICS_LISTEN").await?;
    let share = crate::file_share(roles.tcp_listeners());
    let (health, health_task) = store
        .monitor_health(Duration::from_secs(2), Duration::from_secs(1))
        .await;
    let node = NodeInfo {
        id: crate::node_id(),
        roles: roles.to_string(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: time::OffsetDateTime::now_utc(),
    };
    let (stop, _) = stsd_net::shutdown();
    let mut running = Running {
        tasks: vec![health_task],
        servers: Vec::new(),
    };

    let snapshots = if roles.serves_snapshot() {
        let snapshots = load_snapshot(&config, &store, key.clone()).await?;
        running.tasks.push(snapshots.spawn_follower(
            store.clone(),
            node.clone(),
            Duration::from_secs(5),
            Duration::from_secs(10),
        ));
        Some(snapshots)
    } else {
        None
    };
    if let Some(snapshots) = &snapshots {
        if roles.has(Role::Edge) {
            start_edge(&config, &store, snapshots, share, &stop, &mut running).await?;
        }
        if roles.has(Role::Dns) {
            running
                .tasks
                .push(start_dns(&config, snapshots, share).await?);
        }
        if roles.has(Role::Smtp) {
            running
                .tasks
                .push(start_smtp(&config, &store, snapshots, share).await?);
        }
    }
    if roles.has(Role::Worker) {
        start_worker(&config, &store, key.clone(), &node.id, &mut running).await?;
    }
    let api = if roles.has(Role::Api) {
        let state = api_state(&config, &store, key.clone(), snapshots.clone(), &health)?;
        let listener = bind(config.api_listen, "STSD_API_LISTEN").await?;
        let app = stsd_api::router(state.clone());
        let mut limits = stsd_api::listen::ListenLimits::default();
        limits.gate = limits.gate.within(share);
        running.servers.push(tokio::spawn(stsd_api::listen::serve(
            listener,
            app,
            limits,
            stop.subscribe(),
        )));
        tracing::info!("API listening on http://{}", config.api_listen);
        match state.dashboard_dir() {
            Some(dir) => tracing::info!(
                dir = %dir.display(),
                "dashboard at http://{}/",
                config.api_listen
            ),
            None => tracing::warn!(
                "no dashboard: frontend/dist is not here and STSD_DASHBOARD_DIR is not set; \
                 build it with (cd frontend && npm ci && npm run build) and start stsd from the \
                 repository's top directory (the API works without it)"
            ),
        }
        Some(state)
    } else {
        None
    };
    let ops = Ops::new(roles, store.clone(), health, snapshots.clone(), api);
    tracing::info!(listen = %config.metrics_listen, "metrics listening (/healthz, /readyz, /metrics)");
    running.tasks.push(tokio::spawn(ops::serve(
        ops_listener,
        ops.clone(),
        stop.subscribe(),
    )));
    if roles.has(Role::Worker) {
        running.tasks.push(tokio::spawn(
            ops.clone().watch_store(Duration::from_secs(15)),
        ));
    }

    crate::shutdown_signal().await;
    ops.stopping();
    running.stop(stop).await;
    // Each last write is bounded: with the database gone (a stop during an outage) the pool
    // would wait its acquire timeout for every one of them.
    let last_writes = async {
        if let Some(snapshots) = &snapshots {
            snapshots.flush_fetches(&store).await;
        }
        if roles.has(Role::Worker) {
            match store.release_leases(&node.id).await {
                Ok(n) => tracing::info!(released = n, "job leases given back"),
                Err(e) => tracing::warn!(error = %e, "cannot give back job leases; they expire"),
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(3), last_writes)
        .await
        .is_err()
    {
        tracing::warn!(
            "the database did not answer the last writes; job leases expire by themselves"
        );
    }
    if tokio::time::timeout(Duration::from_secs(2), store.close())
        .await
        .is_err()
    {
        tracing::warn!("closing the database connections timed out");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Where a serving role keeps its local copy of the snapshot.
fn copy_path(config: &Config) -> std::path::PathBuf {
    config.data_dir.join("snapshot.copy")
}

/// The serving snapshot: from the store when it answers, else from the local copy in the data
/// directory (stale, caught up when the store is back). The copy is kept current from then on.
async fn load_snapshot(
    config: &Config,
    store: &Store,
    key: Arc<MasterKey>,
) -> anyhow::Result<SnapshotHandle> {
    let path = copy_path(config);
    // A short ping decides: a full load of a large store takes seconds, an unreachable one
    // would make every start wait for the pool's timeouts.
    let reachable = matches!(
        tokio::time::timeout(Duration::from_secs(2), store.ping()).await,
        Ok(Ok(()))
    );
    let loaded = if reachable {
        SnapshotHandle::load(store, key.clone())
            .await
            .map_err(anyhow::Error::from)
    } else {
        Err(anyhow::anyhow!("the database does not answer"))
    };
    let snapshots = match loaded {
        Ok(s) => s,
        Err(store_error) if path.is_file() => {
            let from = path.clone();
            let copy = tokio::task::spawn_blocking(move || SnapshotHandle::from_copy(&from, key))
                .await
                .context("loading the local snapshot copy failed")?
                .with_context(|| {
                    format!("cannot load the serving snapshot ({store_error:#}) nor its local copy")
                })?;
            let status = copy.status();
            tracing::warn!(
                error = %format!("{store_error:#}"),
                path = %path.display(),
                seq = status.seq,
                written_at = ?status.copy_written_at,
                "cannot load the snapshot from the store: serving the local copy until it answers"
            );
            copy
        }
        Err(store_error) => {
            return Err(store_error.context(format!(
                "cannot load the serving snapshot, and there is no local copy at {} yet \
                 (a serving role writes it once it has reached the store)",
                path.display()
            )));
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    }
    Ok(snapshots.with_copy(path))
}

/// What a process runs: tasks that are aborted at the stop, and servers that stop by
/// themselves when told, after finishing their connections.
struct Running {
    tasks: Vec<JoinHandle<()>>,
    servers: Vec<JoinHandle<()>>,
}

impl Running {
    async fn stop(self, stop: ShutdownTrigger) {
        stop.trigger();
        for server in self.servers {
            if tokio::time::timeout(DRAIN, server).await.is_err() {
                tracing::warn!("a listener did not finish its connections in time");
            }
        }
        for task in self.tasks {
            task.abort();
        }
    }
}

async fn bind(addr: std::net::SocketAddr, key: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} ({key})"))
}

/// The HTTPS and plain-HTTP listeners of the edge.
async fn start_edge(
    config: &Config,
    store: &Store,
    snapshots: &SnapshotHandle,
    share: usize,
    stop: &ShutdownTrigger,
    running: &mut Running,
) -> anyhow::Result<()> {
    let https = bind(config.edge.https_listen, "STSD_EDGE_HTTPS_LISTEN").await?;
    let http = bind(config.edge.http_listen, "STSD_EDGE_HTTP_LISTEN").await?;
    tracing::info!(
        https = %config.edge.https_listen,
        http = %config.edge.http_listen,
        hosts = snapshots.current().host_count(),
        "edge listening"
    );
    let mut limits = stsd_serving::edge::EdgeLimits::default();
    let gate = limits.gate().within(share);
    limits.max_connections = gate.max_connections;
    limits.max_per_client = gate.max_per_client;
    running
        .servers
        .push(tokio::spawn(stsd_serving::edge::serve_https_until(
            https,
            snapshots.clone(),
            limits.clone(),
            service_hosts(config, store)?,
            stop.subscribe(),
        )));
    running
        .servers
        .push(tokio::spawn(stsd_serving::edge::serve_http_until(
            http,
            snapshots.clone(),
            limits,
            stop.subscribe(),
        )));
    Ok(())
}

/// The authoritative DNS of the service zone, over UDP and TCP.
async fn start_dns(
    config: &Config,
    snapshots: &SnapshotHandle,
    share: usize,
) -> anyhow::Result<JoinHandle<()>> {
    let udp = tokio::net::UdpSocket::bind(config.dns.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on udp {} (STSD_DNS_LISTEN)",
                config.dns.listen
            )
        })?;
    let tcp = tokio::net::TcpListener::bind(config.dns.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on tcp {} (STSD_DNS_LISTEN)",
                config.dns.listen
            )
        })?;
    let zone = config.dns.zone.clone();
    let nameservers: Vec<String> = zone
        .nameservers()
        .iter()
        .map(|ns| ns.name().to_string())
        .collect();
    tracing::info!(
        listen = %config.dns.listen,
        zone = %config.service_zone,
        nameservers = %nameservers.join(" "),
        secondaries = zone.secondaries().len(),
        "DNS listening"
    );
    let mut limits = stsd_serving::dns::DnsLimits {
        rrl: config.dns.rrl,
        ..stsd_serving::dns::DnsLimits::default()
    };
    limits.tcp = limits.tcp.within(share);
    Ok(tokio::spawn(stsd_serving::dns::serve_dns_with(
        udp,
        tcp,
        snapshots.clone(),
        zone,
        limits,
    )))
}

/// The SMTP receiver for `<label>@reports.<zone>`, with STARTTLS on the `reports.<zone>`
/// certificate.
async fn start_smtp(
    config: &Config,
    store: &Store,
    snapshots: &SnapshotHandle,
    share: usize,
) -> anyhow::Result<JoinHandle<()>> {
    let listener = bind(config.smtp_listen, "STSD_SMTP_LISTEN").await?;
    let host = reports_host(config);
    let mut smtp = stsd_reports::SmtpConfig::new(host.clone());
    smtp.max_connections = smtp.max_connections.min(share);
    smtp.max_per_client = smtp.max_per_client.min(smtp.max_connections);
    smtp.tls = Some(stsd_serving::edge::service_host_config(
        snapshots.clone(),
        host,
    ));
    let dkim = stsd_reports::dkim_verifier(&config.resolvers)
        .context("cannot set up DNS for DKIM (STSD_RESOLVERS)")?;
    tracing::info!(listen = %config.smtp_listen, "SMTP listening");
    Ok(tokio::spawn(stsd_reports::serve_smtp(
        listener,
        store.clone(),
        smtp,
        dkim,
    )))
}

/// The worker's loops: verifier and publisher, certificates, webhooks, housekeeping and
/// report retention. `owner` names this process's job leases.
async fn start_worker(
    config: &Config,
    store: &Store,
    key: Arc<MasterKey>,
    owner: &str,
    running: &mut Running,
) -> anyhow::Result<()> {
    let verifier = stsd_verifier::VerifierConfig::new(
        config.service_zone.clone(),
        config.edge.addresses.clone(),
        &config.resolvers,
        stsd_verifier::DEFAULT_DNS_TIMEOUT,
    )
    .context("cannot set up the verifier's DNS resolvers (STSD_RESOLVERS)")?;
    let mx_roots = read_optional(config.mx.ca_roots.as_deref(), "STSD_MX_CA_ROOTS")?;
    let mut probe = stsd_verifier::MxProbe::new(
        format!("verifier.{}", config.service_zone.as_str()),
        mx_roots.as_deref(),
    )
    .context("cannot set up the MX STARTTLS check (STSD_MX_CA_ROOTS)")?;
    probe.port = config.mx.smtp_port;
    probe.allow_private = config.mx.probe_allow_private;
    let mut verifier = verifier.with_mx_probe(probe);
    verifier.ca_identities = config.acme.caa_identities.clone();
    verifier.worker_id = owner.to_owned();
    verifier.lease = config.worker_lease;
    let tasks = &mut running.tasks;
    tasks.push(tokio::spawn(stsd_verifier::run_worker(
        store.clone(),
        verifier,
    )));
    tasks.push(tokio::spawn(stsd_verifier::run_publisher(
        store.clone(),
        Duration::from_secs(1),
    )));
    tasks.push(tokio::spawn(stsd_verifier::run_alerts(
        store.clone(),
        key.clone(),
        stsd_verifier::AlertConfig {
            allow_private: config.webhooks_allow_private,
            ..stsd_verifier::AlertConfig::default()
        },
    )));
    tasks.push(tokio::spawn(stsd_reports::run_retention(
        store.clone(),
        Duration::from_secs(3600),
    )));
    tasks.push(tokio::spawn(stsd_api::run_housekeeping(
        store.clone(),
        Duration::from_secs(600),
    )));
    let extra_roots = read_optional(config.acme.ca_roots.as_deref(), "STSD_ACME_CA_ROOTS")?;
    let issuer = stsd_certs::issuer_for_directory(
        store,
        key.clone(),
        &config.acme.directory,
        config.acme.contact.clone(),
        extra_roots.clone(),
        config.acme.eab.clone(),
        config.acme.challenge,
    )
    .await
    .context("cannot set up the certificate issuer (STSD_ACME_DIRECTORY)")?;
    let issuer = match &config.acme.fallback_directory {
        None => issuer,
        Some(fallback) => {
            let second = stsd_certs::issuer_for_directory(
                store,
                key.clone(),
                fallback,
                config.acme.contact.clone(),
                extra_roots,
                config.acme.fallback_eab.clone(),
                config.acme.challenge,
            )
            .await
            .context("cannot set up the fallback issuer (STSD_ACME_FALLBACK_DIRECTORY)")?;
            Arc::new(stsd_certs::FallbackIssuer::new(
                vec![issuer, second],
                config.acme.fallback_after,
            ))
        }
    };
    tracing::info!(issuer = issuer.name(), "certificate worker starting");
    tasks.push(tokio::spawn(stsd_certs::run_worker(
        store.clone(),
        key,
        issuer,
        stsd_certs::WorkerConfig {
            service_hosts: vec![reports_host(config)],
            orders_per_hour: config.acme.orders_per_hour,
            concurrency: usize::from(config.acme.orders_in_flight),
            lease: config.worker_lease,
            ..stsd_certs::WorkerConfig::new(owner)
        },
    )));
    Ok(())
}

fn read_optional(path: Option<&std::path::Path>, key: &str) -> anyhow::Result<Option<String>> {
    path.map(|p| {
        std::fs::read_to_string(p).with_context(|| format!("cannot read {} ({key})", p.display()))
    })
    .transpose()
}

/// The API's state: store, configuration, JWT keys, resolvers, master key, the store's health
/// and (in a process that also serves) the snapshot's state for `/readyz`.
fn api_state(
    config: &Config,
    store: &Store,
    key: Arc<MasterKey>,
    snapshots: Option<SnapshotHandle>,
    health: &StoreHealth,
) -> anyhow::Result<stsd_api::AppState> {
    let resolvers = stsd_api::discovery::Resolvers::new(&config.resolvers, Duration::from_secs(5))
        .context("cannot set up DNS resolvers (STSD_RESOLVERS)")?;
    // Policies a customer already hosts are fetched as senders fetch them, trusting what the
    // MX STARTTLS check trusts.
    let roots = read_optional(config.mx.ca_roots.as_deref(), "STSD_MX_CA_ROOTS")?;
    let mut sender =
        stsd_sender::SenderView::new(&config.resolvers, Duration::from_secs(5), roots.as_deref())
            .context("cannot set up policy imports (STSD_RESOLVERS, STSD_MX_CA_ROOTS)")?;
    sender.allow_private = config.mx.probe_allow_private;
    let mut api_config = stsd_api::ApiConfig::new(config.service_zone.clone());
    api_config.webhooks_allow_private = config.webhooks_allow_private;
    api_config.domain_quota = config.domain_quota;
    api_config.enforce_gate_wait = config.mx.gate_wait;
    api_config.dashboard_dir = config.dashboard_dir.clone().or(api_config.dashboard_dir);
    api_config.trusted_proxies =
        stsd_api::auth::TrustedProxies::new(config.trusted_proxies.clone());
    let state = stsd_api::AppState::new(
        store.clone(),
        api_config,
        stsd_api::auth::JwtKeys::from_master_key(key.bytes()).with_previous(&key.previous_bytes()),
        resolvers,
        sender,
    );
    state.set_master_key(key);
    state.set_store_health(health.clone());
    if let Some(snapshots) = snapshots {
        state.set_snapshot_probe(Arc::new(move || {
            let status = snapshots.status();
            stsd_api::SnapshotReport {
                seq: status.seq,
                stale: status.stale,
            }
        }));
    }
    Ok(state)
}

/// The name reporters POST TLS reports to: `reports.<zone>`.
pub(crate) fn reports_host(config: &Config) -> String {
    format!("reports.{}", config.service_zone.as_str())
}

/// stsd's own HTTPS hosts on the edge: the TLS-RPT receiver on `reports.<zone>`.
fn service_hosts(
    config: &Config,
    store: &Store,
) -> anyhow::Result<stsd_serving::edge::ServiceHosts> {
    let resolver = stsd_reports::report_resolver(&config.resolvers)
        .context("cannot set up DNS for report origins (STSD_RESOLVERS)")?;
    let receiver = Arc::new(stsd_reports::HttpsReceiver::new(
        store.clone(),
        config.reports.clone(),
        stsd_reports::OriginVerifier::new(resolver),
    ));
    let handler: stsd_serving::edge::HostHandler = Arc::new(move |req, peer| {
        let receiver = receiver.clone();
        Box::pin(async move { receiver.handle(req, peer).await })
    });
    Ok(stsd_serving::edge::ServiceHosts::new().with(reports_host(config), handler))
}
