//! `stsd`: hosted MTA-STS and TLS-RPT in one binary.

mod config;
mod master_key;
mod ops;
mod roles;
mod run;

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use stsd_core::DomainName;
use stsd_store::Store;
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};
use crate::master_key::Origin;
use crate::roles::{Role, Roles};

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
    /// Run every role in one process, or the roles `--roles` or `STSD_ROLES` name
    /// (e.g. `edge,dns`). Applies migrations first when the API or the worker is among them.
    Serve {
        /// Comma-separated roles: api, worker, edge, dns, smtp (default: all).
        #[arg(long, value_delimiter = ',')]
        roles: Option<Vec<String>>,
    },
    /// The REST API and the dashboard (`STSD_API_LISTEN`).
    Api,
    /// The background work: verifier and publisher, certificates, webhooks, housekeeping,
    /// report retention. Run two or more: they share jobs through leases.
    Worker,
    /// The HTTPS edge for `mta-sts.<domain>` and `reports.<zone>`, and HTTP-01 on plain HTTP.
    /// (The DNS is its own role since the fleet release: `stsd dns`, or `--roles edge,dns`.)
    Edge,
    /// The authoritative DNS of the service zone (`STSD_DNS_LISTEN`, UDP and TCP).
    Dns,
    /// The SMTP receiver for TLS reports (`STSD_SMTP_LISTEN`).
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
        /// Create it even if the owner already has a tenant of that name.
        #[arg(long)]
        allow_duplicate: bool,
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
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,rustls=error"));
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
        Command::Serve { roles } => {
            let roles = match roles {
                Some(list) => {
                    Roles::parse_list(&list).map_err(|e| anyhow::anyhow!("--roles {e}"))?
                }
                None => config.roles.unwrap_or_else(Roles::all),
            };
            run::run_roles(config, roles).await
        }
        Command::Api => run::run_roles(config, Roles::one(Role::Api)).await,
        Command::Worker => run::run_roles(config, Roles::one(Role::Worker)).await,
        Command::Edge => run::run_roles(config, Roles::one(Role::Edge)).await,
        Command::Dns => run::run_roles(config, Roles::one(Role::Dns)).await,
        Command::Smtp => run::run_roles(config, Roles::one(Role::Smtp)).await,
        Command::Admin(admin) => {
            let store = open_store(&config).await?;
            let result = run_admin(&config, &store, admin).await;
            store.close().await;
            result
        }
    }
}

pub(crate) async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let masked = stsd_store::mask_url(&config.database.url);
    let store = Store::connect_with(&config.database.url, &connect_options(config, false))
        .await
        .with_context(|| format!("cannot open the database {masked}"))?;
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database {masked}"))?;
    Ok(store)
}

/// The pool settings of the configuration.
pub(crate) fn connect_options(config: &Config, lazy: bool) -> stsd_store::ConnectOptions {
    stsd_store::ConnectOptions {
        max_connections: config.database.max_connections,
        lazy,
    }
}

/// The master key with the previous keys of a rotation (`STSD_MASTER_KEY_PREVIOUS`).
pub(crate) fn load_master_key(config: &Config) -> anyhow::Result<stsd_store::MasterKey> {
    let previous: Vec<String> = config
        .master_key_previous
        .iter()
        .map(|k| k.expose().to_owned())
        .collect();
    let previous = master_key::decode_previous(&previous)?;
    let (key, origin) = master_key::load_or_generate(
        config.master_key.as_ref().map(config::Secret::expose),
        &config.data_dir,
    )?;
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

/// Raises the file limit to the hard limit, logs it, and returns each of `listeners` TCP
/// listeners' connection cap: an equal share after a reserve, so that no flooded listener can
/// take the descriptors the others (and the database pool) need.
pub(crate) fn file_share(listeners: usize) -> usize {
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

/// This process's name in heartbeats: the host name and a random suffix, so that two
/// processes on one host stay apart.
pub(crate) fn node_id() -> String {
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

pub(crate) async fn shutdown_signal() {
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
        Admin::CreateTenant {
            name,
            owner,
            allow_duplicate,
        } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 {
                bail!("tenant name must be 1 to 200 characters");
            }
            let Some(user) = store.user_by_email(&owner).await? else {
                bail!(
                    "no user with e-mail `{owner}`; create it first with `stsd admin create-user`"
                );
            };
            // Running the bootstrap twice must not leave the owner with two look-alike tenants.
            if !allow_duplicate
                && let Some(same) = store
                    .memberships(&user.id)
                    .await?
                    .into_iter()
                    .find(|m| m.tenant.name.trim().eq_ignore_ascii_case(name))
            {
                bail!(
                    "`{owner}` already has a tenant named `{}` (id {}); nothing created (--allow-duplicate creates another)",
                    same.tenant.name,
                    same.tenant.id
                );
            }
            let tenant = store.create_tenant_with_owner(name, &user.id).await?;
            tracing::info!(tenant = %tenant.id, owner = %user.email, role = %stsd_store::Role::Owner, "tenant created");
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
        .all_tenants()
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
