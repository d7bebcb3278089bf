//! Configuration: one TOML file plus `STSD_*` environment overrides, validated once at start.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use stsd_certs::AcmeChallenge;
use stsd_core::DomainName;

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
        /// The key as the operator wrote it (`STSD_API_LISTEN` or `api_listen in stsd.toml`).
        key: String,
        /// What is wrong.
        problem: String,
    },
}

/// The file's shape. Every key is optional; unknown keys are an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    api_listen: Option<String>,
    edge_https_listen: Option<String>,
    edge_http_listen: Option<String>,
    dns_listen: Option<String>,
    smtp_listen: Option<String>,
    data_dir: Option<String>,
    service_zone: Option<String>,
    edge_addresses: Option<Vec<String>>,
    acme_directory: Option<String>,
    resolvers: Option<Vec<String>>,
    master_key: Option<String>,
    master_key_previous: Option<Vec<String>>,
    log_format: Option<String>,
    domain_quota: Option<i64>,
    acme_ca_roots: Option<String>,
    mx_ca_roots: Option<String>,
    mx_smtp_port: Option<u16>,
    webhooks_allow_private: Option<bool>,
    acme_caa_identities: Option<Vec<String>>,
    acme_orders_per_hour: Option<u32>,
    acme_contact: Option<String>,
    acme_eab_kid: Option<String>,
    acme_eab_hmac_key: Option<String>,
    acme_challenge: Option<String>,
    dashboard_dir: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    roles: Option<Vec<String>>,
    metrics_listen: Option<String>,
    database_listen_url: Option<String>,
    worker_lease_seconds: Option<u64>,
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

/// The effective, validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// `STSD_DATABASE_URL`.
    pub(crate) database_url: String,
    /// `STSD_API_LISTEN`.
    pub(crate) api_listen: SocketAddr,
    /// `STSD_EDGE_HTTPS_LISTEN`.
    pub(crate) edge_https_listen: SocketAddr,
    /// `STSD_EDGE_HTTP_LISTEN`.
    pub(crate) edge_http_listen: SocketAddr,
    /// `STSD_DNS_LISTEN`.
    pub(crate) dns_listen: SocketAddr,
    /// `STSD_SMTP_LISTEN`.
    pub(crate) smtp_listen: SocketAddr,
    /// `STSD_DATA_DIR`.
    pub(crate) data_dir: PathBuf,
    /// `STSD_SERVICE_ZONE`.
    pub(crate) service_zone: DomainName,
    /// `STSD_EDGE_ADDRESSES`.
    pub(crate) edge_addresses: Vec<IpAddr>,
    /// `STSD_ACME_DIRECTORY` (`local` when unset: the built-in development CA).
    pub(crate) acme_directory: String,
    /// `STSD_RESOLVERS`; empty means the system's resolvers.
    pub(crate) resolvers: Vec<SocketAddr>,
    /// `STSD_MASTER_KEY` as given (base64), if given; see [`crate::master_key`].
    pub(crate) master_key: Option<String>,
    /// `STSD_MASTER_KEY_PREVIOUS` (comma-separated base64 keys): keys still accepted for
    /// opening sealed values during a master-key rotation, never used to seal.
    pub(crate) master_key_previous: Vec<String>,
    /// `STSD_LOG_FORMAT`.
    pub(crate) log_format: LogFormat,
    /// `STSD_DOMAIN_QUOTA`: most live domains per tenant.
    pub(crate) domain_quota: i64,
    /// `STSD_ACME_CA_ROOTS`: a PEM bundle of extra roots for talking to the ACME directory.
    pub(crate) acme_ca_roots: Option<PathBuf>,
    /// `STSD_MX_CA_ROOTS`: extra trust roots (PEM) for the MX STARTTLS check.
    pub(crate) mx_ca_roots: Option<PathBuf>,
    /// `STSD_MX_SMTP_PORT`: the port MX hosts are probed on (25).
    pub(crate) mx_smtp_port: u16,
    /// `STSD_WEBHOOKS_ALLOW_PRIVATE`: accept http:// webhooks and private receivers (false).
    pub(crate) webhooks_allow_private: bool,
    /// `STSD_ACME_CAA_IDENTITIES`: the CAA issuer domains of the ACME CA (derived for Let's
    /// Encrypt; empty skips the CAA check).
    pub(crate) acme_caa_identities: Vec<String>,
    /// `STSD_ACME_ORDERS_PER_HOUR`: new orders per hour across the account (100, with a
    /// burst of three hours' worth: Let's Encrypt's 300 per 3 hours).
    pub(crate) acme_orders_per_hour: u32,
    /// `STSD_ACME_CONTACT`: the e-mail address given to the CA.
    pub(crate) acme_contact: Option<String>,
    /// `STSD_ACME_EAB_KID` and `STSD_ACME_EAB_HMAC_KEY` (decoded from base64url): the External
    /// Account Binding some CAs require to create the account. The key is a secret.
    pub(crate) acme_eab: Option<stsd_certs::EabKey>,
    /// `STSD_ACME_CHALLENGE`: `http-01` (default) or `tls-alpn-01`.
    pub(crate) acme_challenge: AcmeChallenge,
    /// `STSD_DASHBOARD_DIR`: the built dashboard (`frontend/dist`) served at `/`.
    pub(crate) dashboard_dir: Option<PathBuf>,
    /// `STSD_TRUSTED_PROXIES`: addresses or CIDR networks of reverse proxies whose
    /// `X-Forwarded-For` names the client (none: the header is ignored).
    pub(crate) trusted_proxies: Vec<stsd_api::auth::ProxyNet>,
    /// `STSD_ROLES`: the roles `stsd serve` runs (all when unset); a role command runs its
    /// own role whatever this says.
    pub(crate) roles: Option<Roles>,
    /// `STSD_METRICS_LISTEN`: `/healthz`, `/readyz` and `/metrics` of every role, on a
    /// listener of their own (loopback by default, never the public ports).
    pub(crate) metrics_listen: SocketAddr,
    /// `STSD_DATABASE_LISTEN_URL`: where the change feed's `LISTEN` connects, when queries go
    /// through PgBouncer in transaction mode (which cannot hold a `LISTEN`).
    pub(crate) database_listen_url: Option<String>,
    /// `STSD_WORKER_LEASE_SECONDS`: how long a worker holds a job (a verification, a
    /// certificate order) before another worker may take it over, should the first die.
    pub(crate) worker_lease: std::time::Duration,
}

/// Where each value came from, by key; for error messages.
struct Source<'a> {
    file: Option<&'a Path>,
    env: &'a BTreeMap<String, String>,
}

impl Source<'_> {
    fn pick(&self, key: &str, file_value: Option<String>) -> Option<(String, String)> {
        let env_key = format!("STSD_{}", key.to_uppercase());
        if let Some(v) = self.env.get(&env_key) {
            return Some((v.clone(), env_key));
        }
        let where_ = match self.file {
            Some(p) => format!("{key} in {}", p.display()),
            None => key.to_owned(),
        };
        file_value.map(|v| (v, where_))
    }

    fn pick_list(
        &self,
        key: &str,
        file_value: Option<Vec<String>>,
    ) -> Option<(Vec<String>, String)> {
        let env_key = format!("STSD_{}", key.to_uppercase());
        if let Some(v) = self.env.get(&env_key) {
            let items = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            return Some((items, env_key));
        }
        let where_ = match self.file {
            Some(p) => format!("{key} in {}", p.display()),
            None => key.to_owned(),
        };
        file_value.map(|v| (v, where_))
    }
}

fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

fn socket(
    src: &Source<'_>,
    key: &str,
    file: Option<String>,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    match src.pick(key, file) {
        Some((v, at)) => SocketAddr::from_str(v.trim())
            .map_err(|_| invalid(&at, format!("`{v}` is not a listen address (expected ip:port, e.g. 127.0.0.1:8080 or [::]:443)"))),
        None => SocketAddr::from_str(default).map_err(|e| invalid(key, e.to_string())),
    }
}

impl Config {
    /// Loads `file` (if any) and applies `env` (the `STSD_*` variables) on top.
    pub(crate) fn load(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let parsed = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_owned(),
                    message: e.to_string(),
                })?
            }
            None => FileConfig::default(),
        };
        let src = Source { file, env };

        let data_dir = match src.pick("data_dir", parsed.data_dir) {
            Some((v, at)) if v.trim().is_empty() => return Err(invalid(&at, "must not be empty")),
            Some((v, _)) => PathBuf::from(v),
            None => PathBuf::from("./data"),
        };
        let database_url = match src.pick("database_url", parsed.database_url) {
            Some((v, at)) => {
                let v = v.trim().to_owned();
                stsd_store::Backend::from_url(&v).map_err(|e| invalid(&at, e.to_string()))?;
                v
            }
            None => format!("sqlite://{}/stsd.db", data_dir.display()),
        };
        let service_zone = match src.pick("service_zone", parsed.service_zone) {
            Some((v, at)) => {
                DomainName::parse_host(&v).map_err(|e| invalid(&at, format!("`{v}`: {e}")))?
            }
            None => DomainName::parse_host("sts.localhost")
                .map_err(|e| invalid("service_zone", e.to_string()))?,
        };
        let edge_addresses = match src.pick_list("edge_addresses", parsed.edge_addresses) {
            Some((items, at)) => {
                if items.is_empty() {
                    return Err(invalid(&at, "needs at least one IPv4 or IPv6 address"));
                }
                items
                    .iter()
                    .map(|s| {
                        IpAddr::from_str(s)
                            .map_err(|_| invalid(&at, format!("`{s}` is not an IP address")))
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            None => vec![IpAddr::from([127, 0, 0, 1])],
        };
        let resolvers = match src.pick_list("resolvers", parsed.resolvers) {
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
        let acme_directory = match src.pick("acme_directory", parsed.acme_directory) {
            Some((v, at)) => {
                let v = v.trim().to_owned();
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
        let log_format = match src.pick("log_format", parsed.log_format) {
            Some((v, at)) => match v.trim() {
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
        let master_key = src.pick("master_key", parsed.master_key).map(|(v, _)| v);
        let master_key_previous = src
            .pick_list("master_key_previous", parsed.master_key_previous)
            .map(|(v, _)| v)
            .unwrap_or_default();
        let acme_ca_roots = match src.pick("acme_ca_roots", parsed.acme_ca_roots) {
            Some((v, at)) if !Path::new(v.trim()).is_file() => {
                return Err(invalid(&at, format!("`{v}` is not a readable file")));
            }
            Some((v, _)) => Some(PathBuf::from(v.trim())),
            None => None,
        };
        let mx_ca_roots = match src.pick("mx_ca_roots", parsed.mx_ca_roots) {
            Some((v, at)) if !Path::new(v.trim()).is_file() => {
                return Err(invalid(&at, format!("`{v}` is not a readable file")));
            }
            Some((v, _)) => Some(PathBuf::from(v.trim())),
            None => None,
        };
        let mx_smtp_port =
            match src.pick("mx_smtp_port", parsed.mx_smtp_port.map(|n| n.to_string())) {
                Some((v, at)) => match v.trim().parse::<u16>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(invalid(&at, format!("`{v}` is not a port number"))),
                },
                None => 25,
            };
        let webhooks_allow_private = match src.pick(
            "webhooks_allow_private",
            parsed.webhooks_allow_private.map(|b| b.to_string()),
        ) {
            Some((v, at)) => match v.trim() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => return Err(invalid(&at, format!("`{v}` is not true or false"))),
            },
            None => false,
        };
        let acme_caa_identities = match src
            .pick_list("acme_caa_identities", parsed.acme_caa_identities)
        {
            Some((items, at)) => {
                for i in &items {
                    if DomainName::parse_host(i).is_err() {
                        return Err(invalid(&at, format!("`{i}` is not a domain name")));
                    }
                }
                items
                    .iter()
                    .map(|i| i.trim().to_ascii_lowercase())
                    .collect()
            }
            None if acme_directory.contains("letsencrypt") => vec!["letsencrypt.org".to_owned()],
            None => Vec::new(),
        };
        let acme_orders_per_hour = match src.pick(
            "acme_orders_per_hour",
            parsed.acme_orders_per_hour.map(|n| n.to_string()),
        ) {
            Some((v, at)) => match v.trim().parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => return Err(invalid(&at, format!("`{v}` is not a positive number"))),
            },
            None => 100,
        };
        let dashboard_dir = match src.pick("dashboard_dir", parsed.dashboard_dir) {
            Some((v, at)) if !Path::new(v.trim()).join("index.html").is_file() => {
                return Err(invalid(
                    &at,
                    format!("`{v}` has no index.html (build it with `npm run build` in frontend/)"),
                ));
            }
            Some((v, _)) => Some(PathBuf::from(v.trim())),
            None => None,
        };
        let acme_contact = match src.pick("acme_contact", parsed.acme_contact) {
            Some((v, at)) => {
                let v = v.trim().to_owned();
                if !v.contains('@') || v.contains(char::is_whitespace) {
                    return Err(invalid(&at, format!("`{v}` is not an e-mail address")));
                }
                Some(v)
            }
            None => None,
        };
        let eab_kid = src.pick("acme_eab_kid", parsed.acme_eab_kid);
        let eab_key = src.pick("acme_eab_hmac_key", parsed.acme_eab_hmac_key);
        let acme_eab = match (eab_kid, eab_key) {
            (None, None) => None,
            (Some((_, at)), None) => {
                return Err(invalid(&at, "set together with STSD_ACME_EAB_HMAC_KEY"));
            }
            (None, Some((_, at))) => {
                return Err(invalid(&at, "set together with STSD_ACME_EAB_KID"));
            }
            (Some((kid, kid_at)), Some((key, key_at))) => {
                let kid = kid.trim().to_owned();
                if kid.is_empty() {
                    return Err(invalid(&kid_at, "must not be empty"));
                }
                // CAs hand the key out as base64url, some with padding; never echo it.
                let key = base64::Engine::decode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    key.trim().trim_end_matches('='),
                )
                .ok()
                .filter(|k| !k.is_empty())
                .ok_or_else(|| invalid(&key_at, "is not base64url (the value is not shown)"))?;
                Some(stsd_certs::EabKey { kid, hmac_key: key })
            }
        };
        let acme_challenge = match src.pick("acme_challenge", parsed.acme_challenge) {
            Some((v, at)) => match v.trim() {
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
        let domain_quota =
            match src.pick("domain_quota", parsed.domain_quota.map(|n| n.to_string())) {
                Some((v, at)) => match v.trim().parse::<i64>() {
                    Ok(n) if (1..=1_000_000).contains(&n) => n,
                    _ => {
                        return Err(invalid(
                            &at,
                            format!("`{v}` is not a number from 1 to 1000000"),
                        ));
                    }
                },
                None => 1000,
            };

        let trusted_proxies = match src.pick_list("trusted_proxies", parsed.trusted_proxies) {
            Some((items, at)) => items
                .iter()
                .map(|s| {
                    s.parse()
                        .map_err(|e: stsd_api::auth::ProxyNetError| invalid(&at, e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };

        let database_listen_url = match src.pick("database_listen_url", parsed.database_listen_url)
        {
            Some((v, at)) => {
                let v = v.trim().to_owned();
                if stsd_store::Backend::from_url(&v).map_err(|e| invalid(&at, e.to_string()))?
                    != stsd_store::Backend::Postgres
                {
                    return Err(invalid(&at, "must be a postgres:// URL"));
                }
                Some(v)
            }
            None => None,
        };
        let worker_lease = match src.pick(
            "worker_lease_seconds",
            parsed.worker_lease_seconds.map(|n| n.to_string()),
        ) {
            Some((v, at)) => match v.trim().parse::<u64>() {
                Ok(n) if (5..=86_400).contains(&n) => std::time::Duration::from_secs(n),
                _ => {
                    return Err(invalid(
                        &at,
                        format!("`{v}` is not a number of seconds from 5 to 86400"),
                    ));
                }
            },
            None => std::time::Duration::from_secs(600),
        };
        let roles = match src.pick_list("roles", parsed.roles) {
            Some((items, at)) => Some(Roles::parse_list(&items).map_err(|e| invalid(&at, e))?),
            None => None,
        };

        Ok(Config {
            worker_lease,
            database_listen_url,
            roles,
            metrics_listen: socket(
                &src,
                "metrics_listen",
                parsed.metrics_listen,
                "127.0.0.1:9180",
            )?,
            database_url,
            api_listen: socket(&src, "api_listen", parsed.api_listen, "127.0.0.1:8080")?,
            edge_https_listen: socket(
                &src,
                "edge_https_listen",
                parsed.edge_https_listen,
                "127.0.0.1:8443",
            )?,
            edge_http_listen: socket(
                &src,
                "edge_http_listen",
                parsed.edge_http_listen,
                "127.0.0.1:8081",
            )?,
            dns_listen: socket(&src, "dns_listen", parsed.dns_listen, "127.0.0.1:5353")?,
            smtp_listen: socket(&src, "smtp_listen", parsed.smtp_listen, "127.0.0.1:2525")?,
            data_dir,
            service_zone,
            edge_addresses,
            acme_directory,
            resolvers,
            master_key,
            master_key_previous,
            log_format,
            domain_quota,
            acme_ca_roots,
            mx_ca_roots,
            mx_smtp_port,
            webhooks_allow_private,
            acme_caa_identities,
            acme_orders_per_hour,
            acme_contact,
            acme_eab,
            acme_challenge,
            dashboard_dir,
            trusted_proxies,
        })
    }

    /// The configuration as TOML with secrets masked, for `stsd config`.
    pub(crate) fn to_masked_toml(&self) -> String {
        #[derive(Serialize)]
        struct Shown<'a> {
            database_url: String,
            api_listen: String,
            edge_https_listen: String,
            edge_http_listen: String,
            dns_listen: String,
            smtp_listen: String,
            data_dir: String,
            service_zone: &'a str,
            edge_addresses: Vec<String>,
            acme_directory: &'a str,
            resolvers: Vec<String>,
            master_key: &'a str,
            master_key_previous: String,
            log_format: LogFormat,
            domain_quota: i64,
            acme_ca_roots: Option<String>,
            mx_ca_roots: Option<String>,
            mx_smtp_port: u16,
            webhooks_allow_private: bool,
            acme_caa_identities: Vec<String>,
            acme_orders_per_hour: u32,
            acme_contact: Option<&'a str>,
            acme_eab_kid: Option<&'a str>,
            acme_eab_hmac_key: Option<&'a str>,
            acme_challenge: &'static str,
            dashboard_dir: Option<String>,
            trusted_proxies: Vec<String>,
            roles: String,
            metrics_listen: String,
            database_listen_url: Option<String>,
            worker_lease_seconds: u64,
        }
        let shown = Shown {
            database_url: stsd_store::mask_url(&self.database_url),
            api_listen: self.api_listen.to_string(),
            edge_https_listen: self.edge_https_listen.to_string(),
            edge_http_listen: self.edge_http_listen.to_string(),
            dns_listen: self.dns_listen.to_string(),
            smtp_listen: self.smtp_listen.to_string(),
            data_dir: self.data_dir.display().to_string(),
            service_zone: self.service_zone.as_str(),
            edge_addresses: self
                .edge_addresses
                .iter()
                .map(ToString::to_string)
                .collect(),
            acme_directory: &self.acme_directory,
            resolvers: self.resolvers.iter().map(ToString::to_string).collect(),
            master_key: if self.master_key.is_some() {
                "*** (set)"
            } else {
                "(not set: generated into the data directory as master.key)"
            },
            master_key_previous: match self.master_key_previous.len() {
                0 => "(none)".to_owned(),
                n => format!("*** ({n} set)"),
            },
            log_format: self.log_format,
            domain_quota: self.domain_quota,
            acme_ca_roots: self.acme_ca_roots.as_ref().map(|p| p.display().to_string()),
            mx_ca_roots: self.mx_ca_roots.as_ref().map(|p| p.display().to_string()),
            mx_smtp_port: self.mx_smtp_port,
            webhooks_allow_private: self.webhooks_allow_private,
            acme_caa_identities: self.acme_caa_identities.clone(),
            acme_orders_per_hour: self.acme_orders_per_hour,
            acme_contact: self.acme_contact.as_deref(),
            acme_eab_kid: self.acme_eab.as_ref().map(|k| k.kid.as_str()),
            acme_eab_hmac_key: self.acme_eab.as_ref().map(|_| "*** (set)"),
            acme_challenge: match self.acme_challenge {
                AcmeChallenge::Http01 => "http-01",
                AcmeChallenge::TlsAlpn01 => "tls-alpn-01",
            },
            dashboard_dir: self.dashboard_dir.as_ref().map(|p| p.display().to_string()),
            trusted_proxies: self
                .trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect(),
            roles: self
                .roles
                .map_or_else(|| "(all, for stsd serve)".to_owned(), |r| r.to_string()),
            metrics_listen: self.metrics_listen.to_string(),
            database_listen_url: self
                .database_listen_url
                .as_deref()
                .map(stsd_store::mask_url),
            worker_lease_seconds: self.worker_lease.as_secs(),
        };
        toml::to_string(&shown).unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
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
        assert_eq!(c.database_url, "sqlite://./data/stsd.db");
        assert_eq!(c.api_listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.edge_https_listen.to_string(), "127.0.0.1:8443");
        assert_eq!(c.edge_http_listen.to_string(), "127.0.0.1:8081");
        assert_eq!(c.dns_listen.to_string(), "127.0.0.1:5353");
        assert_eq!(c.smtp_listen.to_string(), "127.0.0.1:2525");
        assert_eq!(c.service_zone.as_str(), "sts.localhost");
        assert_eq!(c.edge_addresses, vec![IpAddr::from([127, 0, 0, 1])]);
        assert_eq!(c.acme_directory, "local");
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
        assert_eq!(c.database_url, "sqlite:///var/lib/stsd/stsd.db");
        assert_eq!(c.edge_addresses.len(), 2);
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
        assert_eq!(c.edge_https_listen.port(), 443);
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
        let eab = c.acme_eab.clone().unwrap();
        assert_eq!(eab.kid, "kid-1");
        assert_eq!(eab.hmac_key.len(), 48);
        assert_eq!(c.acme_challenge, AcmeChallenge::TlsAlpn01);
        let shown = c.to_masked_toml();
        assert!(!shown.contains("zWNDZM6e"), "{shown}");
        assert!(shown.contains("acme_eab_kid = \"kid-1\""), "{shown}");
        assert!(
            shown.contains("acme_challenge = \"tls-alpn-01\""),
            "{shown}"
        );
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
}
