//! `stsd`: hosted MTA-STS and TLS-RPT in one binary.

mod config;
mod master_key;

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use stsd_core::DomainName;
use stsd_store::{Role, Store};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};
use crate::master_key::Origin;

/// Hosted MTA-STS (RFC 8461) and TLS-RPT (RFC 8460) for many domains.
#[derive(Debug, Parser)]
#[command(name = "stsd", version, about)]
struct Cli {
    /// Configuration file (TOML). Default: ./stsd.toml if it exists. `STSD_*` variables
    /// override its values.
    #[arg(long, global = true, env = "STSD_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every role in one process (applies migrations first).
    Serve,
    /// Run only the serving roles: the HTTPS edge, the HTTP-01 listener and the DNS.
    Edge,
    /// Run only the SMTP receiver for TLS reports (`STSD_SMTP_LISTEN`).
    Smtp,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the effective configuration, secrets masked.
    Config,
    /// Administrative tasks.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Debug, Subcommand)]
enum Admin {
    /// Create a user. The password is read from standard input (one line), never from
    /// the command line, where other users of the machine could see it.
    CreateUser {
        /// Login e-mail.
        #[arg(long)]
        email: String,
    },
    /// Print the local development CA's root certificate (PEM), creating the CA if needed:
    /// trust it to see the whole flow on a laptop (`STSD_ACME_DIRECTORY=local`).
    LocalCaRoot,
    /// Re-seal every encrypted value (ACME account credentials, private keys, the local CA
    /// key, webhook secrets) under the current master key (`STSD_MASTER_KEY`), opening them
    /// with it or with a key in `STSD_MASTER_KEY_PREVIOUS`. Safe on a live cluster, one
    /// transaction per batch; idempotent, so it can be run again after an interruption.
    /// Prints counts per table; fails if some value could not be read.
    RotateMasterKey {
        /// Rows re-sealed per transaction.
        #[arg(long, default_value_t = 200)]
        batch_size: usize,
    },
    /// Create a tenant owned by an existing user.
    CreateTenant {
        /// Display name.
        #[arg(long)]
        name: String,
        /// E-mail of the user who becomes its owner.
        #[arg(long)]
        owner: String,
    },
}

fn main() -> anyhow::Result<()> {
    // One crypto provider for every TLS user in the process (sqlx, later the edge and ACME).
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        bail!("a rustls crypto provider was already installed");
    }
    let cli = Cli::parse();
    let file = match &cli.config {
        Some(path) => Some(path.clone()),
        None => Some(PathBuf::from("stsd.toml")).filter(|p| p.is_file()),
    };
    let config = Config::load(file.as_deref(), &config::stsd_env())?;
    init_logging(config.log_format);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(cli.command, config))
}

fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // Colours only for a terminal: escape codes in a log file or journal are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Config => {
            #[allow(
                clippy::print_stdout,
                reason = "printing the configuration is the command's output"
            )]
            {
                print!("{}", config.to_masked_toml());
            }
            Ok(())
        }
        Command::Migrate => {
            let store = open_store(&config).await?;
            tracing::info!("migrations applied");
            store.close().await;
            Ok(())
        }
        Command::Serve => serve(config).await,
        Command::Edge => edge_only(config).await,
        Command::Smtp => smtp_only(config).await,
        Command::Admin(admin) => {
            let store = open_store(&config).await?;
            let result = run_admin(&config, &store, admin).await;
            store.close().await;
            result
        }
    }
}

async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let masked = stsd_store::mask_url(&config.database_url);
    let store = Store::connect(&config.database_url)
        .await
        .with_context(|| format!("cannot open the database {masked}"))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database {masked}"))?;
    Ok(store)
}

/// `stsd edge`: serving only, for edge nodes in front of a shared PostgreSQL.
async fn edge_only(config: Config) -> anyhow::Result<()> {
    let key = Arc::new(load_master_key(&config)?);
    let store = open_store(&config).await?;
    let share = file_share(3);
    let (_snapshots, tasks) = start_edge(&config, &store, key, "edge,dns", share).await?;
    shutdown_signal().await;
    for task in tasks {
        task.abort();
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// `stsd smtp`: the SMTP receiver alone. It follows the snapshot for the `reports.<zone>`
/// certificate that STARTTLS presents.
async fn smtp_only(config: Config) -> anyhow::Result<()> {
    let key = Arc::new(load_master_key(&config)?);
    let store = open_store(&config).await?;
    let snapshots = stsd_serving::SnapshotHandle::load(&store, key)
        .await
        .context("cannot load the serving snapshot")?;
    let node = stsd_serving::NodeInfo {
        id: node_id(),
        roles: "smtp".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: time::OffsetDateTime::now_utc(),
    };
    let mut tasks = vec![snapshots.spawn_follower(
        store.clone(),
        node,
        Duration::from_secs(5),
        Duration::from_secs(10),
    )];
    tasks.push(start_smtp(&config, &store, &snapshots, file_share(1)).await?);
    shutdown_signal().await;
    for task in tasks {
        task.abort();
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Starts the SMTP receiver for `<label>@reports.<zone>`, with STARTTLS on the
/// `reports.<zone>` certificate.
async fn start_smtp(
    config: &Config,
    store: &Store,
    snapshots: &stsd_serving::SnapshotHandle,
    share: usize,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(config.smtp_listen)
        .await
        .with_context(|| format!("cannot listen on {} (STSD_SMTP_LISTEN)", config.smtp_listen))?;
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

/// The master key with the previous keys of a rotation (`STSD_MASTER_KEY_PREVIOUS`).
fn load_master_key(config: &Config) -> anyhow::Result<stsd_store::MasterKey> {
    let previous = master_key::decode_previous(&config.master_key_previous)?;
    let (key, origin) =
        master_key::load_or_generate(config.master_key.as_deref(), &config.data_dir)?;
    let key = key.with_previous(previous);
    if !key.previous_ids().is_empty() {
        // Ids are hash prefixes, safe to log; they tell which keys a node accepts.
        tracing::info!(current = key.id(), previous = ?key.previous_ids(),
            "previous master keys accepted for reading during a rotation");
    }
    match origin {
        Origin::Generated => tracing::warn!(
            path = %config.data_dir.join("master.key").display(),
            "no STSD_MASTER_KEY configured: generated a new master key; back it up, \
             encrypted keys cannot be read without it"
        ),
        Origin::File => tracing::info!("master key read from the data directory"),
        Origin::Configured => tracing::info!("master key taken from the configuration"),
    }
    Ok(key)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let key = load_master_key(&config)?;
    let store = open_store(&config).await?;
    tracing::info!(
        database = %stsd_store::mask_url(&config.database_url),
        zone = %config.service_zone,
        "store ready"
    );

    let key = Arc::new(key);
    // Edge HTTPS and HTTP, DNS over TCP, SMTP and the API share the file limit.
    let share = file_share(5);
    let (snapshots, mut tasks) =
        start_edge(&config, &store, key.clone(), "api,edge,dns,worker", share).await?;
    let verifier = stsd_verifier::VerifierConfig::new(
        config.service_zone.clone(),
        config.edge_addresses.clone(),
        &config.resolvers,
        stsd_verifier::DEFAULT_DNS_TIMEOUT,
    )
    .context("cannot set up the verifier's DNS resolvers (STSD_RESOLVERS)")?;
    let mx_roots = match &config.mx_ca_roots {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {} (STSD_MX_CA_ROOTS)", path.display()))?,
        ),
        None => None,
    };
    let mut probe = stsd_verifier::MxProbe::new(
        format!("verifier.{}", config.service_zone.as_str()),
        mx_roots.as_deref(),
    )
    .context("cannot set up the MX STARTTLS check (STSD_MX_CA_ROOTS)")?;
    probe.port = config.mx_smtp_port;
    let mut verifier = verifier.with_mx_probe(probe);
    verifier.ca_identities = config.acme_caa_identities.clone();
    tasks.push(tokio::spawn(stsd_verifier::run_worker(
        store.clone(),
        verifier,
    )));
    tasks.push(start_smtp(&config, &store, &snapshots, share).await?);
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
    let extra_roots = match &config.acme_ca_roots {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {} (STSD_ACME_CA_ROOTS)", path.display()))?,
        ),
        None => None,
    };
    let issuer = stsd_certs::issuer_for_directory(
        &store,
        key.clone(),
        &config.acme_directory,
        config.acme_contact.clone(),
        extra_roots,
        config.acme_eab.clone(),
        config.acme_challenge,
    )
    .await
    .context("cannot set up the certificate issuer (STSD_ACME_DIRECTORY)")?;
    tracing::info!(issuer = issuer.name(), "certificate worker starting");
    tasks.push(tokio::spawn(stsd_certs::run_worker(
        store.clone(),
        key.clone(),
        issuer,
        stsd_certs::WorkerConfig {
            service_hosts: vec![reports_host(&config)],
            orders_per_hour: config.acme_orders_per_hour,
            ..stsd_certs::WorkerConfig::new(node_id())
        },
    )));

    let listener = tokio::net::TcpListener::bind(config.api_listen)
        .await
        .with_context(|| format!("cannot listen on {} (STSD_API_LISTEN)", config.api_listen))?;
    tracing::info!("API listening on http://{}", config.api_listen);
    let resolvers = stsd_api::discovery::Resolvers::new(&config.resolvers, Duration::from_secs(5))
        .context("cannot set up DNS resolvers (STSD_RESOLVERS)")?;
    let mut api_config = stsd_api::ApiConfig::new(config.service_zone.clone());
    api_config.webhooks_allow_private = config.webhooks_allow_private;
    api_config.domain_quota = config.domain_quota;
    api_config.dashboard_dir = config.dashboard_dir.clone().or(api_config.dashboard_dir);
    api_config.trusted_proxies =
        stsd_api::auth::TrustedProxies::new(config.trusted_proxies.clone());
    let state = stsd_api::AppState::new(
        store.clone(),
        api_config,
        stsd_api::auth::JwtKeys::from_master_key(key.bytes()).with_previous(&key.previous_bytes()),
        resolvers,
    );
    state.set_master_key(key.clone());
    state.set_snapshot_probe(Arc::new(move || {
        let status = snapshots.status();
        stsd_api::SnapshotReport {
            seq: status.seq,
            stale: status.stale,
        }
    }));
    let app = stsd_api::router(state);
    let mut limits = stsd_api::listen::ListenLimits::default();
    limits.gate = limits.gate.within(share);
    let (stop, stopped) = stsd_net::shutdown();
    let server = tokio::spawn(stsd_api::listen::serve(listener, app, limits, stopped));
    shutdown_signal().await;
    stop.trigger();
    if let Err(e) = server.await {
        tracing::error!(error = %e, "the API listener failed");
    }
    for task in tasks {
        task.abort();
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Loads the serving snapshot, follows the change feed and starts the HTTPS and HTTP edge
/// listeners. Returns the tasks, to stop them at shutdown.
async fn start_edge(
    config: &Config,
    store: &Store,
    key: Arc<stsd_store::MasterKey>,
    roles: &str,
    share: usize,
) -> anyhow::Result<(
    stsd_serving::SnapshotHandle,
    Vec<tokio::task::JoinHandle<()>>,
)> {
    let snapshots = stsd_serving::SnapshotHandle::load(store, key)
        .await
        .context("cannot load the serving snapshot")?;
    let node = stsd_serving::NodeInfo {
        id: node_id(),
        roles: roles.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: time::OffsetDateTime::now_utc(),
    };
    let mut tasks = vec![snapshots.spawn_follower(
        store.clone(),
        node,
        Duration::from_secs(5),
        Duration::from_secs(10),
    )];
    let https = tokio::net::TcpListener::bind(config.edge_https_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (STSD_EDGE_HTTPS_LISTEN)",
                config.edge_https_listen
            )
        })?;
    let http = tokio::net::TcpListener::bind(config.edge_http_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (STSD_EDGE_HTTP_LISTEN)",
                config.edge_http_listen
            )
        })?;
    tracing::info!(
        https = %config.edge_https_listen,
        http = %config.edge_http_listen,
        hosts = snapshots.current().host_count(),
        "edge listening"
    );
    let mut limits = stsd_serving::edge::EdgeLimits::default();
    let gate = limits.gate().within(share);
    limits.max_connections = gate.max_connections;
    limits.max_per_client = gate.max_per_client;
    tasks.push(tokio::spawn(stsd_serving::edge::serve_https_with(
        https,
        snapshots.clone(),
        limits.clone(),
        service_hosts(config, store),
    )));
    tasks.push(tokio::spawn(stsd_serving::edge::serve_http(
        http,
        snapshots.clone(),
        limits,
    )));
    let udp = tokio::net::UdpSocket::bind(config.dns_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on udp {} (STSD_DNS_LISTEN)",
                config.dns_listen
            )
        })?;
    let tcp = tokio::net::TcpListener::bind(config.dns_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on tcp {} (STSD_DNS_LISTEN)",
                config.dns_listen
            )
        })?;
    let zone = stsd_serving::dns::ZoneConfig::new(
        config.service_zone.clone(),
        config.edge_addresses.clone(),
    );
    tracing::info!(listen = %config.dns_listen, zone = %config.service_zone, "DNS listening");
    let mut dns_limits = stsd_serving::dns::DnsLimits::default();
    dns_limits.tcp = dns_limits.tcp.within(share);
    tasks.push(tokio::spawn(stsd_serving::dns::serve_dns_with(
        udp,
        tcp,
        snapshots.clone(),
        zone,
        dns_limits,
    )));
    Ok((snapshots, tasks))
}

/// Raises the file limit to the hard limit, logs it, and returns each of `listeners` TCP
/// listeners' connection cap: an equal share after a reserve, so that no flooded listener can
/// take the descriptors the others (and the database pool) need.
fn file_share(listeners: usize) -> usize {
    let limit = stsd_net::raise_file_limit();
    let share = limit.share(listeners);
    tracing::info!(
        before = ?limit.before,
        soft = ?limit.soft,
        hard = ?limit.hard,
        listeners,
        per_listener = share,
        "file limit"
    );
    share
}

/// The name reporters POST TLS reports to: `reports.<zone>`.
fn reports_host(config: &Config) -> String {
    format!("reports.{}", config.service_zone.as_str())
}

/// stsd's own HTTPS hosts on the edge: the TLS-RPT receiver on `reports.<zone>`.
fn service_hosts(config: &Config, store: &Store) -> stsd_serving::edge::ServiceHosts {
    let receiver = Arc::new(stsd_reports::HttpsReceiver::new(
        store.clone(),
        stsd_reports::ReceiverLimits::default(),
    ));
    let handler: stsd_serving::edge::HostHandler = Arc::new(move |req, _peer| {
        let receiver = receiver.clone();
        Box::pin(async move { receiver.handle(req).await })
    });
    stsd_serving::edge::ServiceHosts::new().with(reports_host(config), handler)
}

/// This process's name in heartbeats: the host name and a random suffix, so that two
/// processes on one host stay apart.
fn node_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_owned());
    let mut suffix = [0u8; 4];
    let _ = getrandom::fill(&mut suffix);
    format!(
        "{host}-{}",
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}

async fn run_admin(config: &Config, store: &Store, admin: Admin) -> anyhow::Result<()> {
    match admin {
        Admin::LocalCaRoot => {
            let key = load_master_key(config)?;
            let ca = stsd_certs::LocalCa::load_or_create(store, &key)
                .await
                .context("cannot load the local CA")?;
            #[allow(clippy::print_stdout, reason = "the PEM is the command's output")]
            {
                print!("{}", ca.root_pem());
            }
            Ok(())
        }
        Admin::RotateMasterKey { batch_size } => rotate_master_key(config, store, batch_size).await,
        Admin::CreateUser { email } => {
            let email = email.trim().to_lowercase();
            if !valid_email(&email) {
                bail!("`{email}` is not an e-mail address");
            }
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let hash = stsd_api::password::hash(password)?;
            let user = store.create_user(&email, &hash).await?;
            tracing::info!(user = %user.id, email = %user.email, "user created");
            Ok(())
        }
        Admin::CreateTenant { name, owner } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 {
                bail!("tenant name must be 1 to 200 characters");
            }
            let Some(user) = store.user_by_email(&owner).await? else {
                bail!(
                    "no user with e-mail `{owner}`; create it first with `stsd admin create-user`"
                );
            };
            let tenant = store.create_tenant_with_owner(name, &user.id).await?;
            tracing::info!(tenant = %tenant.id, owner = %user.email, role = %Role::Owner, "tenant created");
            Ok(())
        }
    }
}

/// `stsd admin rotate-master-key`: re-seals everything under the current key.
async fn rotate_master_key(
    config: &Config,
    store: &Store,
    batch_size: usize,
) -> anyhow::Result<()> {
    // Generating a fresh key here would re-seal everything under a key that exists only on
    // this machine: the current key must be one the operator chose.
    if config.master_key.is_none() && !config.data_dir.join("master.key").is_file() {
        bail!(
            "no master key configured: set STSD_MASTER_KEY to the new key and \
             STSD_MASTER_KEY_PREVIOUS to the old one"
        );
    }
    let key = load_master_key(config)?;
    let counts = store
        .reseal_all(&key, batch_size)
        .await
        .context("master key rotation failed; what was committed stays, run it again")?;
    #[allow(clippy::print_stdout, reason = "the counts are the command's output")]
    {
        println!(
            "master key {} (previous: {})",
            key.id(),
            key.previous_ids().join(", ")
        );
        println!(
            "{:<22} {:>9} {:>9} {:>10} {:>8}",
            "table", "resealed", "current", "unreadable", "skipped"
        );
        for c in &counts {
            println!(
                "{:<22} {:>9} {:>9} {:>10} {:>8}",
                c.table, c.resealed, c.current, c.unreadable, c.skipped
            );
        }
    }
    let unreadable: u64 = counts.iter().map(|c| c.unreadable).sum();
    let skipped: u64 = counts.iter().map(|c| c.skipped).sum();
    if unreadable > 0 {
        bail!(
            "{unreadable} value(s) are sealed under a key that is neither STSD_MASTER_KEY nor in \
             STSD_MASTER_KEY_PREVIOUS: add that key to STSD_MASTER_KEY_PREVIOUS and run again"
        );
    }
    if skipped > 0 {
        bail!("{skipped} value(s) changed during the rotation: run it again");
    }
    Ok(())
}

/// A deliberately loose check: one `@`, a non-empty local part, a valid domain.
fn valid_email(email: &str) -> bool {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && local.len() <= 64 && DomainName::parse_host(domain).is_ok()
        }
        None => false,
    }
}
