//! Configuration: one TOML file in sections (`[api]`, `[edge]`, `[dns]`, `[acme]` …) plus
//! `STSD_*` environment overrides, validated once at start.
//!
//! Every key is declared once, where [`Config::load`] reads it: its [`Key`] gives both the
//! file spelling (`[api] listen`) and the variable (`STSD_API_LISTEN`), and the same call
//! records the effective value for `stsd config`, masked when it is a [`Secret`] or a
//! database URL. Files written before the sections (`api_listen = …` at the top) still load.

mod dns;
mod source;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use stsd_certs::AcmeChallenge;
use stsd_core::DomainName;

pub(crate) use self::dns::Dns;
use self::source::{Key, Shown, Source, key, top};
use crate::roles::Roles;

/// A configuration problem, naming the key (and where it came from) and what is wrong.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message.
        message: String,
    },
    /// A value is invalid.
    #[error("{key}: {problem}")]
    Invalid {
        /// The key as the operator wrote it (`STSD_API_LISTEN` or `[api] listen in stsd.toml`).
        key: String,
        /// What is wrong.
        problem: String,
    },
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// A secret value (a key): never printed, in `Debug` either.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    /// The value, for the one place that uses it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// `[database]`.
#[derive(Debug, Clone)]
pub(crate) struct Database {
    /// `STSD_DATABASE_URL`: `sqlite://path` or `postgres://…`.
    pub(crate) url: String,
    /// `STSD_DATABASE_LISTEN_URL`: where the change feed's `LISTEN` connects, when queries go
    /// through PgBouncer in transaction mode (which cannot hold a `LISTEN`).
    pub(crate) listen_url: Option<String>,
    /// `STSD_DATABASE_MAX_CONNECTIONS`: this process's PostgreSQL pool size.
    pub(crate) max_connections: u32,
}

/// `[edge]`.
#[derive(Debug, Clone)]
pub(crate) struct Edge {
    /// `STSD_EDGE_HTTPS_LISTEN`.
    pub(crate) https_listen: SocketAddr,
    /// `STSD_EDGE_HTTP_LISTEN`.
    pub(crate) http_listen: SocketAddr,
    /// `STSD_EDGE_ADDRESSES`: what DNS answers for edge names.
    pub(crate) addresses: Vec<IpAddr>,
}

/// `[acme]`.
#[derive(Debug, Clone)]
pub(crate) struct Acme {
    /// `STSD_ACME_DIRECTORY` (`local` when unset: the built-in development CA).
    pub(crate) directory: String,
    /// `STSD_ACME_CA_ROOTS`: a PEM bundle of extra roots for talking to the ACME directory.
    pub(crate) ca_roots: Option<PathBuf>,
    /// `STSD_ACME_CONTACT`: the e-mail address given to the CA.
    pub(crate) contact: Option<String>,
    /// `STSD_ACME_EAB_KID` and `STSD_ACME_EAB_HMAC_KEY` (decoded from base64url).
    pub(crate) eab: Option<stsd_certs::EabKey>,
    /// `STSD_ACME_FALLBACK_DIRECTORY`: a second CA for domains whose orders keep failing at
    /// the first.
    pub(crate) fallback_directory: Option<String>,
    /// `STSD_ACME_FALLBACK_EAB_KID` and `STSD_ACME_FALLBACK_EAB_HMAC_KEY`: its binding.
    pub(crate) fallback_eab: Option<stsd_certs::EabKey>,
    /// `STSD_ACME_FALLBACK_AFTER`: failed attempts at one CA before the other's turn (3).
    pub(crate) fallback_after: u32,
    /// `STSD_ACME_CHALLENGE`: `http-01` (default) or `tls-alpn-01`.
    pub(crate) challenge: AcmeChallenge,
    /// `STSD_ACME_ORDERS_PER_HOUR`: new orders per hour across the account.
    pub(crate) orders_per_hour: u32,
    /// `STSD_ACME_ORDERS_IN_FLIGHT`: orders one worker runs at once (16).
    pub(crate) orders_in_flight: u16,
    /// `STSD_ACME_CAA_IDENTITIES`: the CA's CAA issuer domains (derived for Let's Encrypt).
    pub(crate) caa_identities: Vec<String>,
}

/// `[mx]`: how the verifier probes customers' MX hosts.
#[derive(Debug, Clone)]
pub(crate) struct Mx {
    /// `STSD_MX_CA_ROOTS`: extra trust roots (PEM) for the STARTTLS check.
    pub(crate) ca_roots: Option<PathBuf>,
    /// `STSD_MX_SMTP_PORT`: the port MX hosts are probed on (25).
    pub(crate) smtp_port: u16,
    /// `STSD_MX_PROBE_ALLOW_PRIVATE`: probe MX hosts on loopback and private addresses
    /// (tests, on-premises); off, a tenant cannot scan the operator's network.
    pub(crate) probe_allow_private: bool,
    /// `STSD_MX_GATE_WAIT_SECONDS`: how long switching to enforce waits for the checks it
    /// runs; unfinished checks block the switch.
    pub(crate) gate_wait: Duration,
}

/// The effective, validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// `STSD_DATA_DIR`.
    pub(crate) data_dir: PathBuf,
    /// `STSD_SERVICE_ZONE`.
    pub(crate) service_zone: DomainName,
    /// `STSD_RESOLVERS`; empty means the system's resolvers.
    pub(crate) resolvers: Vec<SocketAddr>,
    /// `STSD_MASTER_KEY` as given (base64), if given; see [`crate::master_key`].
    pub(crate) master_key: Option<Secret>,
    /// `STSD_MASTER_KEY_PREVIOUS`: keys still accepted for opening sealed values during a
    /// master-key rotation, never used to seal.
    pub(crate) master_key_previous: Vec<Secret>,
    /// `STSD_LOG_FORMAT`.
    pub(crate) log_format: LogFormat,
    /// `STSD_DOMAIN_QUOTA`: most live domains per tenant.
    pub(crate) domain_quota: i64,
    /// `STSD_DASHBOARD_DIR`: the built dashboard (`frontend/dist`) served at `/`.
    pub(crate) dashboard_dir: Option<PathBuf>,
    /// `STSD_TRUSTED_PROXIES`: reverse proxies whose `X-Forwarded-For` names the client.
    pub(crate) trusted_proxies: Vec<stsd_api::auth::ProxyNet>,
    /// `STSD_ROLES`: the roles `stsd serve` runs (all when unset).
    pub(crate) roles: Option<Roles>,
    /// `[database]`.
    pub(crate) database: Database,
    /// `STSD_API_LISTEN`: the REST API and the dashboard.
    pub(crate) api_listen: SocketAddr,
    /// `[edge]`.
    pub(crate) edge: Edge,
    /// `[dns]`.
    pub(crate) dns: Dns,
    /// `STSD_SMTP_LISTEN`: inbound SMTP for TLS reports.
    pub(crate) smtp_listen: SocketAddr,
    /// `STSD_METRICS_LISTEN`: `/healthz`, `/readyz` and `/metrics` of every role.
    pub(crate) metrics_listen: SocketAddr,
    /// `[acme]`.
    pub(crate) acme: Acme,
    /// `[mx]`.
    pub(crate) mx: Mx,
    /// `STSD_WEBHOOKS_ALLOW_PRIVATE`: accept http:// webhooks and private receivers.
    pub(crate) webhooks_allow_private: bool,
    /// `STSD_WORKER_LEASE_SECONDS`: how long a worker holds a job before another may take it.
    pub(crate) worker_lease: Duration,
    /// `[reports]`: limits of the HTTPS TLS-RPT receiver on the edge.
    pub(crate) reports: stsd_reports::ReceiverLimits,
    /// The effective values, secrets masked, for `stsd config`.
    shown: ShownValues,
}

/// The values `stsd config` prints; left out of `Debug` (the fields say it all).
#[derive(Clone, Default)]
struct ShownValues(Vec<Shown>);

impl std::fmt::Debug for ShownValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} values", self.0.len())
    }
}

fn invalid(at: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: at.to_owned(),
        problem: problem.into(),
    }
}

/// Typed readers: each takes the key, reads it (variable, file), parses it with a message
/// naming where it came from, applies the default and records the effective value.
impl Source<'_> {
    fn text(&self, k: Key) -> Result<Option<(String, String)>, ConfigError> {
        Ok(self
            .raw(k)?
            .map(|(raw, at)| (raw.one().trim().to_owned(), at)))
    }

    fn list(&self, k: Key) -> Result<Option<(Vec<String>, String)>, ConfigError> {
        Ok(self.raw(k)?.map(|(raw, at)| (raw.list(), at)))
    }

    fn socket(&self, k: Key, default: SocketAddr) -> Result<SocketAddr, ConfigError> {
        let value = match self.text(k)? {
            Some((v, at)) => SocketAddr::from_str(&v).map_err(|_| {
                invalid(
                    &at,
                    format!(
                        "`{v}` is not a listen address (expected ip:port, e.g. 127.0.0.1:8080 or [::]:443)"
                    ),
                )
            })?,
            None => default,
        };
        self.show(k, value.to_string());
        Ok(value)
    }

    fn flag(&self, k: Key, default: bool) -> Result<bool, ConfigError> {
        let value = match self.text(k)? {
            Some((v, at)) => match v.as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => return Err(invalid(&at, format!("`{v}` is not true or false"))),
            },
            None => default,
        };
        self.show(k, value);
        Ok(value)
    }

    fn number<T>(
        &self,
        k: Key,
        range: std::ops::RangeInclusive<T>,
        default: T,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Copy + std::fmt::Display + Into<i64>,
    {
        let value = match self.text(k)? {
            Some((v, at)) => match v.parse::<T>() {
                Ok(n) if range.contains(&n) => n,
                _ => {
                    return Err(invalid(
                        &at,
                        format!(
                            "`{v}` is not a number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    ));
                }
            },
            None => default,
        };
        self.show(k, Into::<i64>::into(value));
        Ok(value)
    }

    fn file_path(&self, k: Key) -> Result<Option<PathBuf>, ConfigError> {
        let value = match self.text(k)? {
            Some((v, at)) if !Path::new(&v).is_file() => {
                return Err(invalid(&at, format!("`{v}` is not a readable file")));
            }
            Some((v, _)) => Some(PathBuf::from(v)),
            None => None,
        };
        self.show_opt(k, value.as_ref().map(|p| p.display().to_string()));
        Ok(value)
    }

    fn show_opt(&self, k: Key, value: Option<String>) {
        self.show(k, value.unwrap_or_else(|| "(not set)".to_owned()));
    }
}

impl Config {
    /// Loads `file` (if any) and applies `env` (the `STSD_*` variables) on top.
    pub(crate) fn load(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Parse {
                        path: path.to_owned(),
                        message: e.to_string(),
                    })?
            }
            None => toml::Table::new(),
        };
        let src = Source::new(file, table, env);
        let mut config = Config::read(&src)?;
        let unknown = src.unknown_keys();
        if let (Some(path), false) = (file, unknown.is_empty()) {
            return Err(ConfigError::Parse {
                path: path.to_owned(),
                message: format!(
                    "unknown key{} {} (see the configuration reference in the README)",
                    if unknown.len() == 1 { "" } else { "s" },
                    unknown.join(", ")
                ),
            });
        }
        config.shown = ShownValues(src.into_shown());
        Ok(config)
    }

    #[allow(
        clippy::too_many_lines,
        reason = "one key after the other, each declared once here"
    )]
    fn read(src: &Source<'_>) -> Result<Config, ConfigError> {
        let k = top("data_dir");
        let data_dir = match src.text(k)? {
            Some((v, at)) if v.is_empty() => return Err(invalid(&at, "must not be empty")),
            Some((v, _)) => PathBuf::from(v),
            None => PathBuf::from("./data"),
        };
        src.show(k, data_dir.display().to_string());

        let k = key("database", "url");
        let url = match src.text(k)? {
            Some((v, at)) => {
                stsd_store::Backend::from_url(&v).map_err(|e| invalid(&at, e.to_string()))?;
                v
            }
            None => format!("sqlite://{}/stsd.db", data_dir.display()),
        };
        src.show(k, stsd_store::mask_url(&url));
        let k = key("database", "listen_url");
        let listen_url = match src.text(k)? {
            Some((v, at)) => {
                if stsd_store::Backend::from_url(&v).map_err(|e| invalid(&at, e.to_string()))?
                    != stsd_store::Backend::Postgres
                {
                    return Err(invalid(&at, "must be a postgres:// URL"));
                }
                Some(v)
            }
            None => None,
        };
        src.show_opt(k, listen_url.as_deref().map(stsd_store::mask_url));
        let max_connections = src.number(key("database", "max_connections"), 1..=1000u32, 16)?;

        let k = top("service_zone");
        let service_zone = match src.text(k)? {
            Some((v, at)) => {
                DomainName::parse_host(&v).map_err(|e| invalid(&at, format!("`{v}`: {e}")))?
            }
            None => DomainName::parse_host("sts.localhost")
                .map_err(|e| invalid(&k.env(), e.to_string()))?,
        };
        src.show(k, service_zone.as_str());

        let k = top("resolvers");
        let resolvers = match src.list(k)? {
            Some((items, at)) => items
                .iter()
                .map(|s| {
                    SocketAddr::from_str(s)
                        .or_else(|_| IpAddr::from_str(s).map(|ip| SocketAddr::new(ip, 53)))
                        .map_err(|_| {
                            invalid(
                                &at,
                                format!("`{s}` is not a resolver address (ip or ip:port)"),
                            )
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        src.show(
            k,
            resolvers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        );

        let k = top("master_key");
        let master_key = src.text(k)?.map(|(v, _)| Secret(v));
        src.show(
            k,
            if master_key.is_some() {
                "*** (set)"
            } else {
                "(not set: generated into the data directory as master.key)"
            },
        );
        let k = top("master_key_previous");
        let master_key_previous: Vec<Secret> = src
            .list(k)?
            .map(|(v, _)| v.into_iter().map(Secret).collect())
            .unwrap_or_default();
        src.show(
            k,
            match master_key_previous.len() {
                0 => "(none)".to_owned(),
                n => format!("*** ({n} set)"),
            },
        );

        let k = top("log_format");
        let log_format = match src.text(k)? {
            Some((v, at)) => match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(invalid(
                        &at,
                        format!("`{v}` is not a log format (text, json)"),
                    ));
                }
            },
            None => LogFormat::Text,
        };
        src.show(
            k,
            match log_format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            },
        );

        let domain_quota = src.number(top("domain_quota"), 1..=1_000_000i64, 1000)?;

        let k = top("dashboard_dir");
        let dashboard_dir = match src.text(k)? {
            Some((v, at)) if !Path::new(&v).join("index.html").is_file() => {
                return Err(invalid(
                    &at,
                    format!("`{v}` has no index.html (build it with `npm run build` in frontend/)"),
                ));
            }
            Some((v, _)) => Some(PathBuf::from(v)),
            None => None,
        };
        src.show_opt(k, dashboard_dir.as_ref().map(|p| p.display().to_string()));

        let k = top("trusted_proxies");
        let trusted_proxies: Vec<stsd_api::auth::ProxyNet> = match src.list(k)? {
            Some((items, at)) => items
                .iter()
                .map(|s| {
                    s.parse()
                        .map_err(|e: stsd_api::auth::ProxyNetError| invalid(&at, e.to_string()))
                })
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        src.show(
            k,
            trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        );

        let k = top("roles");
        let roles = match src.list(k)? {
            Some((items, at)) => Some(Roles::parse_list(&items).map_err(|e| invalid(&at, e))?),
            None => None,
        };
        src.show(
            k,
            roles.map_or_else(|| "(all, for stsd serve)".to_owned(), |r| r.to_string()),
        );

        let api_listen = src.socket(key("api", "listen"), ([127, 0, 0, 1], 8080).into())?;

        let edge = Edge {
            https_listen: src.socket(key("edge", "https_listen"), ([127, 0, 0, 1], 8443).into())?,
            http_listen: src.socket(key("edge", "http_listen"), ([127, 0, 0, 1], 8081).into())?,
            addresses: {
                let k = key("edge", "addresses");
                let addresses = match src.list(k)? {
                    Some((items, at)) => {
                        if items.is_empty() {
                            return Err(invalid(&at, "needs at least one IPv4 or IPv6 address"));
                        }
                        items
                            .iter()
                            .map(|s| {
                                IpAddr::from_str(s).map_err(|_| {
                                    invalid(&at, format!("`{s}` is not an IP address"))
                                })
                            })
                            .collect::<Result<Vec<_>, _>>()?
                    }
                    None => vec![IpAddr::from([127, 0, 0, 1])],
                };
                src.show(
                    k,
                    addresses
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>(),
                );
                addresses
            },
        };

        let dns = Dns::read(src, &service_zone, &edge.addresses)?;

        let smtp_listen = src.socket(key("smtp", "listen"), ([127, 0, 0, 1], 2525).into())?;
        let metrics_listen = src.socket(key("metrics", "listen"), ([127, 0, 0, 1], 9180).into())?;

        let acme = Config::read_acme(src)?;

        let mx = Mx {
            ca_roots: src.file_path(key("mx", "ca_roots"))?,
            smtp_port: src.number(key("mx", "smtp_port"), 1..=u16::MAX, 25)?,
            probe_allow_private: src.flag(key("mx", "probe_allow_private"), false)?,
            // Under the 15 s many HTTP clients give up after, so that a slow MX host shows
            // up as a blocked check rather than as a timed-out request.
            gate_wait: Duration::from_secs(
                src.number(key("mx", "gate_wait_seconds"), 1..=120u32, 10)?
                    .into(),
            ),
        };
        let webhooks_allow_private = src.flag(key("webhooks", "allow_private"), false)?;
        let worker_lease = Duration::from_secs(
            src.number(key("worker", "lease_seconds"), 5..=86_400u32, 600)?
                .into(),
        );

        let defaults = stsd_reports::ReceiverLimits::default();
        const MB: u64 = 1000 * 1000;
        let reports = stsd_reports::ReceiverLimits {
            source_requests_per_minute: src.number(
                key("reports", "source_requests_per_minute"),
                1..=10_000_000u32,
                defaults.source_requests_per_minute,
            )?,
            source_bytes_per_day: u64::from(src.number(
                key("reports", "source_megabytes_per_day"),
                1..=10_000_000u32,
                u32::try_from(defaults.source_bytes_per_day / MB).unwrap_or(u32::MAX),
            )?) * MB,
            label_requests_per_hour: src.number(
                key("reports", "label_requests_per_hour"),
                1..=10_000_000u32,
                defaults.label_requests_per_hour,
            )?,
            label_bytes_per_day: u64::from(src.number(
                key("reports", "label_megabytes_per_day"),
                1..=10_000_000u32,
                u32::try_from(defaults.label_bytes_per_day / MB).unwrap_or(u32::MAX),
            )?) * MB,
            ..defaults
        };

        Ok(Config {
            reports,
            data_dir,
            service_zone,
            resolvers,
            master_key,
            master_key_previous,
            log_format,
            domain_quota,
            dashboard_dir,
            trusted_proxies,
            roles,
            database: Database {
                url,
                listen_url,
                max_connections,
            },
            api_listen,
            edge,
            dns,
            smtp_listen,
            metrics_listen,
            acme,
            mx,
            webhooks_allow_private,
            worker_lease,
            shown: ShownValues::default(),
        })
    }

    /// An External Account Binding from `kid_key` and `hmac_key`, set together or not at all.
    fn read_eab(
        src: &Source<'_>,
        kid_key: Key,
        hmac_key: Key,
    ) -> Result<Option<stsd_certs::EabKey>, ConfigError> {
        let eab = match (src.text(kid_key)?, src.text(hmac_key)?) {
            (None, None) => None,
            (Some((_, at)), None) => {
                return Err(invalid(
                    &at,
                    format!("set together with {}", hmac_key.env()),
                ));
            }
            (None, Some((_, at))) => {
                return Err(invalid(&at, format!("set together with {}", kid_key.env())));
            }
            (Some((kid, kid_at)), Some((key, key_at))) => {
                if kid.is_empty() {
                    return Err(invalid(&kid_at, "must not be empty"));
                }
                // CAs hand the key out as base64url, some with padding; never echo it.
                let hmac = base64::Engine::decode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    key.trim_end_matches('='),
                )
                .ok()
                .filter(|k| !k.is_empty())
                .ok_or_else(|| invalid(&key_at, "is not base64url (the value is not shown)"))?;
                Some(stsd_certs::EabKey {
                    kid,
                    hmac_key: hmac,
                })
            }
        };
        src.show_opt(kid_key, eab.as_ref().map(|e| e.kid.clone()));
        src.show_opt(hmac_key, eab.as_ref().map(|_| "*** (set)".to_owned()));
        Ok(eab)
    }

    fn read_acme(src: &Source<'_>) -> Result<Acme, ConfigError> {
        let k = key("acme", "directory");
        let directory = match src.text(k)? {
            Some((v, at)) => {
                let known = ["local", "letsencrypt", "letsencrypt-staging"];
                if !known.contains(&v.as_str()) && !v.starts_with("https://") {
                    return Err(invalid(
                        &at,
                        format!(
                            "`{v}` is neither an https:// URL nor one of {}",
                            known.join(", ")
                        ),
                    ));
                }
                v
            }
            None => "local".to_owned(),
        };
        src.show(k, directory.as_str());
        let ca_roots = src.file_path(key("acme", "ca_roots"))?;

        let k = key("acme", "contact");
        let contact = match src.text(k)? {
            Some((v, at)) => {
                if !v.contains('@') || v.contains(char::is_whitespace) {
                    return Err(invalid(&at, format!("`{v}` is not an e-mail address")));
                }
                Some(v)
            }
            None => None,
        };
        src.show_opt(k, contact.clone());

        let eab = Config::read_eab(src, key("acme", "eab_kid"), key("acme", "eab_hmac_key"))?;

        let k = key("acme", "fallback_directory");
        let fallback_directory = match src.text(k)? {
            Some((v, at)) => {
                let known = ["letsencrypt", "letsencrypt-staging"];
                if !known.contains(&v.as_str()) && !v.starts_with("https://") {
                    return Err(invalid(
                        &at,
                        format!(
                            "`{v}` is neither an https:// URL nor one of {}",
                            known.join(", ")
                        ),
                    ));
                }
                if v == directory {
                    return Err(invalid(&at, "is the same CA as the directory"));
                }
                Some(v)
            }
            None => None,
        };
        src.show_opt(k, fallback_directory.clone());
        let fallback_eab = Config::read_eab(
            src,
            key("acme", "fallback_eab_kid"),
            key("acme", "fallback_eab_hmac_key"),
        )?;
        let fallback_after = src.number(key("acme", "fallback_after"), 1..=100, 3)?;

        let k = key("acme", "challenge");
        let challenge = match src.text(k)? {
            Some((v, at)) => match v.as_str() {
                "http-01" => AcmeChallenge::Http01,
                "tls-alpn-01" => AcmeChallenge::TlsAlpn01,
                other => {
                    return Err(invalid(
                        &at,
                        format!("`{other}` is not a challenge type (http-01, tls-alpn-01)"),
                    ));
                }
            },
            None => AcmeChallenge::Http01,
        };
        src.show(
            k,
            match challenge {
                AcmeChallenge::Http01 => "http-01",
                AcmeChallenge::TlsAlpn01 => "tls-alpn-01",
            },
        );
        let orders_per_hour = src.number(key("acme", "orders_per_hour"), 1..=u32::MAX, 100)?;
        let orders_in_flight = src.number(key("acme", "orders_in_flight"), 1..=256u16, 16)?;

        let k = key("acme", "caa_identities");
        let caa_identities: Vec<String> = match src.list(k)? {
            Some((items, at)) => {
                for i in &items {
                    if DomainName::parse_host(i).is_err() {
                        return Err(invalid(&at, format!("`{i}` is not a domain name")));
                    }
                }
                items.iter().map(|i| i.to_ascii_lowercase()).collect()
            }
            None if directory.contains("letsencrypt") => vec!["letsencrypt.org".to_owned()],
            None => Vec::new(),
        };
        src.show(k, caa_identities.clone());
        Ok(Acme {
            directory,
            ca_roots,
            contact,
            eab,
            fallback_directory,
            fallback_eab,
            fallback_after,
            challenge,
            orders_per_hour,
            orders_in_flight,
            caa_identities,
        })
    }

    /// The effective configuration as TOML in its sections, secrets masked, for `stsd config`.
    pub(crate) fn to_masked_toml(&self) -> String {
        let mut root = toml::Table::new();
        let mut sections: BTreeMap<&str, toml::Table> = BTreeMap::new();
        for shown in &self.shown.0 {
            match shown.key.section {
                None => {
                    root.insert(shown.key.name.to_owned(), shown.value.clone());
                }
                Some(s) => {
                    sections
                        .entry(s)
                        .or_default()
                        .insert(shown.key.name.to_owned(), shown.value.clone());
                }
            }
        }
        for (name, table) in sections {
            root.insert(name.to_owned(), toml::Value::Table(table));
        }
        toml::to_string(&root).unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
    }
}

/// The `STSD_*` variables of the process environment.
pub(crate) fn stsd_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("STSD_"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_work_with_nothing_configured() {
        let c = Config::load(None, &BTreeMap::new()).unwrap();
        assert_eq!(c.database.url, "sqlite://./data/stsd.db");
        assert_eq!(c.api_listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.edge.https_listen.to_string(), "127.0.0.1:8443");
        assert_eq!(c.edge.http_listen.to_string(), "127.0.0.1:8081");
        assert_eq!(c.dns.listen.to_string(), "127.0.0.1:5353");
        assert_eq!(c.smtp_listen.to_string(), "127.0.0.1:2525");
        assert_eq!(c.service_zone.as_str(), "sts.localhost");
        assert_eq!(c.edge.addresses, vec![IpAddr::from([127, 0, 0, 1])]);
        assert_eq!(c.acme.directory, "local");
        assert!(c.resolvers.is_empty());
        assert!(c.master_key.is_none());
    }

    #[test]
    fn env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stsd.toml");
        std::fs::write(&path, "api_listen = \"127.0.0.1:9000\"\nservice_zone = \"sts.example.net\"\ndata_dir = \"/var/lib/stsd\"\n").unwrap();
        let c = Config::load(
            Some(&path),
            &env(&[
                ("STSD_API_LISTEN", "[::1]:9100"),
                ("STSD_EDGE_ADDRESSES", "192.0.2.1, 2001:db8::1"),
            ]),
        )
        .unwrap();
        assert_eq!(c.api_listen.to_string(), "[::1]:9100");
        assert_eq!(c.service_zone.as_str(), "sts.example.net");
        assert_eq!(c.database.url, "sqlite:///var/lib/stsd/stsd.db");
        assert_eq!(c.edge.addresses.len(), 2);
    }

    #[test]
    fn values_can_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("master-key");
        let b64 = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
        std::fs::write(&key, format!("{b64}\n")).unwrap();
        let url = dir.path().join("database-url");
        std::fs::write(&url, "postgres://stsd:pw@db:5432/stsd").unwrap();
        let c = Config::load(
            None,
            &env(&[
                ("STSD_MASTER_KEY_FILE", key.to_str().unwrap()),
                ("STSD_DATABASE_URL_FILE", url.to_str().unwrap()),
            ]),
        )
        .unwrap();
        assert_eq!(c.master_key.as_ref().map(|k| k.0.as_str()), Some(b64));
        assert_eq!(c.database.url, "postgres://stsd:pw@db:5432/stsd");
        // Both spellings at once is ambiguous; a missing or oversized file is named.
        let both = Config::load(
            None,
            &env(&[
                ("STSD_MASTER_KEY", b64),
                ("STSD_MASTER_KEY_FILE", key.to_str().unwrap()),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(both.contains("not both"), "{both}");
        let missing = Config::load(None, &env(&[("STSD_MASTER_KEY_FILE", "/nonexistent/key")]))
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with("STSD_MASTER_KEY_FILE") && missing.contains("/nonexistent/key"),
            "{missing}"
        );
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 70_000]).unwrap();
        let e = Config::load(
            None,
            &env(&[("STSD_MASTER_KEY_FILE", big.to_str().unwrap())]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("larger than"), "{e}");
        // The file's value is a secret like the variable's: masked in `stsd config`.
        let shown = Config::load(
            None,
            &env(&[("STSD_MASTER_KEY_FILE", key.to_str().unwrap())]),
        )
        .unwrap()
        .to_masked_toml();
        assert!(!shown.contains(b64), "{shown}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = Config::load(None, &env(&[("STSD_API_LISTEN", "localhost")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("STSD_API_LISTEN:"), "{e}");
        let e = Config::load(None, &env(&[("STSD_EDGE_ADDRESSES", "1.2.3.4,nope")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("STSD_EDGE_ADDRESSES") && e.contains("nope"),
            "{e}"
        );
        let e = Config::load(None, &env(&[("STSD_DATABASE_URL", "mysql://x")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("STSD_DATABASE_URL:"), "{e}");
        let e = Config::load(None, &env(&[("STSD_SERVICE_ZONE", "not a zone")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("STSD_SERVICE_ZONE:"), "{e}");
        let e = Config::load(None, &env(&[("STSD_ACME_DIRECTORY", "http://insecure")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("STSD_ACME_DIRECTORY:"), "{e}");
        let e = Config::load(None, &env(&[("STSD_RESOLVERS", "8.8.8.8,[::1]:5300,x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`x`"), "{e}");
        let e = Config::load(None, &env(&[("STSD_ROLES", "edge,web")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("STSD_ROLES:") && e.contains("`web`"), "{e}");
        let e = Config::load(None, &env(&[("STSD_DATABASE_LISTEN_URL", "sqlite://x.db")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("STSD_DATABASE_LISTEN_URL:"), "{e}");
        let e = Config::load(None, &env(&[("STSD_METRICS_LISTEN", "9180")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("STSD_METRICS_LISTEN:"), "{e}");
        let e = Config::load(None, &env(&[("STSD_DATABASE_MAX_CONNECTIONS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("STSD_DATABASE_MAX_CONNECTIONS:"), "{e}");
        let c = Config::load(
            None,
            &env(&[
                ("STSD_ROLES", "dns, edge"),
                ("STSD_DATABASE_LISTEN_URL", "postgres://stsd:pw@db/stsd"),
            ]),
        )
        .unwrap();
        assert_eq!(c.roles.unwrap().to_string(), "edge,dns");
        assert!(c.to_masked_toml().contains("postgres://stsd:***@db/stsd"));
        let e = Config::load(
            None,
            &env(&[("STSD_TRUSTED_PROXIES", "10.0.0.0/8, 10.0.0.0/40")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("STSD_TRUSTED_PROXIES:") && e.contains("10.0.0.0/40"),
            "{e}"
        );
    }

    #[test]
    fn trusted_proxies_take_addresses_and_networks() {
        assert!(
            Config::load(None, &BTreeMap::new())
                .unwrap()
                .trusted_proxies
                .is_empty()
        );
        let c = Config::load(
            None,
            &env(&[(
                "STSD_TRUSTED_PROXIES",
                "10.0.0.0/8, 192.0.2.7, 2001:db8::/32",
            )]),
        )
        .unwrap();
        let shown: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]);
    }

    #[test]
    fn example_configuration_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../infra/stsd.example.toml");
        let c = Config::load(Some(&path), &BTreeMap::new()).unwrap();
        assert_eq!(c.service_zone.as_str(), "sts.operator.example");
        assert_eq!(c.edge.https_listen.port(), 443);
        assert_eq!(c.edge.addresses.len(), 2);
        assert_eq!(c.acme.directory, "letsencrypt");
        assert_eq!(c.acme.caa_identities, ["letsencrypt.org"]);
        assert!(c.database.url.starts_with("postgres://"));
        assert_eq!(c.resolvers.len(), 2);
        assert_eq!(c.resolvers[0].port(), 53);
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stsd.toml");
        std::fs::write(&path, "api_lisen = \"127.0.0.1:9000\"\n").unwrap();
        let e = Config::load(Some(&path), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("api_lisen"), "{e}");
        std::fs::write(&path, "[api]\nlisen = \"127.0.0.1:9000\"\n").unwrap();
        let e = Config::load(Some(&path), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("[api] lisen"), "{e}");
    }

    #[test]
    fn sections_and_the_older_flat_keys_both_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stsd.toml");
        std::fs::write(
            &path,
            "service_zone = \"sts.example.net\"\n\
             edge_http_listen = \"127.0.0.1:8000\"\n\
             [api]\nlisten = \"127.0.0.1:9000\"\n\
             [dns]\nlisten = \"127.0.0.1:5300\"\nrrl_rate = 50\nrrl_enabled = false\n\
             [worker]\nlease_seconds = 30\n",
        )
        .unwrap();
        let c = Config::load(Some(&path), &env(&[("STSD_DNS_RRL_SLIP", "1")])).unwrap();
        assert_eq!(c.api_listen.port(), 9000);
        assert_eq!(c.edge.http_listen.port(), 8000);
        assert_eq!(c.dns.listen.port(), 5300);
        assert_eq!(
            (c.dns.rrl.rate, c.dns.rrl.enabled, c.dns.rrl.slip),
            (50, false, 1)
        );
        assert_eq!(c.worker_lease, Duration::from_secs(30));
        // A bad value in a section names it where it was written.
        std::fs::write(&path, "[worker]\nlease_seconds = 1\n").unwrap();
        let e = Config::load(Some(&path), &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("[worker] lease_seconds in "), "{e}");
        // `stsd config` shows every key in its section, defaults included.
        let shown = Config::load(None, &BTreeMap::new())
            .unwrap()
            .to_masked_toml();
        for line in [
            "[api]",
            "[edge]",
            "[dns]",
            "[acme]",
            "[mx]",
            "[metrics]",
            "[worker]",
            "rrl_rate = 20",
        ] {
            assert!(shown.contains(line), "{line}: {shown}");
        }
        let parsed: toml::Table = shown.parse().unwrap();
        assert_eq!(parsed["api"]["listen"].as_str(), Some("127.0.0.1:8080"));
    }

    #[test]
    fn masked_output_hides_secrets() {
        let c = Config::load(
            None,
            &env(&[
                (
                    "STSD_DATABASE_URL",
                    "postgres://stsd:hunter2hunter2@db/stsd",
                ),
                (
                    "STSD_MASTER_KEY",
                    "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
                ),
                (
                    "STSD_MASTER_KEY_PREVIOUS",
                    "b2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xkMTI=, b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcm90aGVyMTI=",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(c.master_key_previous.len(), 2);
        let shown = c.to_masked_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        assert!(
            !shown.contains("b2xkb2xk") && !shown.contains("b3RoZXJ"),
            "{shown}"
        );
        assert!(shown.contains("*** (2 set)"), "{shown}");
        assert!(shown.contains("postgres://stsd:***@db/stsd"), "{shown}");
    }

    #[test]
    fn external_account_binding_is_decoded_and_masked() {
        let c = Config::load(
            None,
            &env(&[
                ("STSD_ACME_EAB_KID", "kid-1"),
                (
                    "STSD_ACME_EAB_HMAC_KEY",
                    "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W",
                ),
                ("STSD_ACME_CHALLENGE", "tls-alpn-01"),
            ]),
        )
        .unwrap();
        let eab = c.acme.eab.clone().unwrap();
        assert_eq!(eab.kid, "kid-1");
        assert_eq!(eab.hmac_key.len(), 48);
        assert_eq!(c.acme.challenge, AcmeChallenge::TlsAlpn01);
        let shown = c.to_masked_toml();
        assert!(!shown.contains("zWNDZM6e"), "{shown}");
        assert!(shown.contains("[acme]"), "{shown}");
        assert!(shown.contains("eab_kid = \"kid-1\""), "{shown}");
        assert!(shown.contains("challenge = \"tls-alpn-01\""), "{shown}");
        let debug = format!("{c:?}");
        assert!(
            debug.contains("kid-1") && !debug.contains("hmac_key"),
            "{debug}"
        );

        let e = Config::load(None, &env(&[("STSD_ACME_EAB_KID", "kid-1")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("STSD_ACME_EAB_KID:"), "{e}");
        let e = Config::load(
            None,
            &env(&[
                ("STSD_ACME_EAB_KID", "kid-1"),
                ("STSD_ACME_EAB_HMAC_KEY", "not base64url!!secret"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("STSD_ACME_EAB_HMAC_KEY:") && !e.contains("secret"),
            "{e}"
        );
        let e = Config::load(None, &env(&[("STSD_ACME_CHALLENGE", "dns-01")]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("STSD_ACME_CHALLENGE:"), "{e}");
    }

    #[test]
    fn a_fallback_ca_is_read_with_its_own_binding() {
        let c = Config::load(
            None,
            &env(&[
                ("STSD_ACME_DIRECTORY", "letsencrypt"),
                (
                    "STSD_ACME_FALLBACK_DIRECTORY",
                    "https://acme.zerossl.com/v2/DV90",
                ),
                ("STSD_ACME_FALLBACK_EAB_KID", "zero-kid"),
                (
                    "STSD_ACME_FALLBACK_EAB_HMAC_KEY",
                    "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W",
                ),
                ("STSD_ACME_FALLBACK_AFTER", "2"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.acme.fallback_directory.as_deref(),
            Some("https://acme.zerossl.com/v2/DV90")
        );
        assert_eq!(c.acme.fallback_eab.as_ref().unwrap().kid, "zero-kid");
        assert!(c.acme.eab.is_none());
        assert_eq!(c.acme.fallback_after, 2);
        let shown = c.to_masked_toml();
        assert!(shown.contains("fallback_eab_kid = \"zero-kid\""), "{shown}");
        assert!(!shown.contains("zWNDZM6e"), "{shown}");

        let defaults = Config::load(None, &env(&[])).unwrap();
        assert!(defaults.acme.fallback_directory.is_none());
        assert_eq!(defaults.acme.fallback_after, 3);
        for (vars, key) in [
            (
                vec![("STSD_ACME_FALLBACK_DIRECTORY", "http://ca.example/dir")],
                "STSD_ACME_FALLBACK_DIRECTORY:",
            ),
            (
                vec![
                    ("STSD_ACME_DIRECTORY", "letsencrypt"),
                    ("STSD_ACME_FALLBACK_DIRECTORY", "letsencrypt"),
                ],
                "STSD_ACME_FALLBACK_DIRECTORY:",
            ),
            (
                vec![("STSD_ACME_FALLBACK_EAB_KID", "zero-kid")],
                "STSD_ACME_FALLBACK_EAB_KID:",
            ),
            (
                vec![("STSD_ACME_FALLBACK_AFTER", "0")],
                "STSD_ACME_FALLBACK_AFTER",
            ),
        ] {
            let e = Config::load(None, &env(&vars)).unwrap_err().to_string();
            assert!(e.starts_with(key), "{vars:?}: {e}");
        }
    }
}
