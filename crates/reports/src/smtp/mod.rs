//! The inbound SMTP receiver for `rua=mailto:<label>@reports.<zone>` (RFC 8460 §3, RFC 5321).
//!
//! Inbound only: it accepts mail for the report address of an existing registration and
//! refuses every other recipient at `RCPT` (it never relays). STARTTLS (RFC 3207) is offered
//! when a certificate is configured and never required. A message is acknowledged with `250`
//! only once its report is stored; a store failure answers `451` so the sender retries.
//! DKIM is checked with `mail-auth`: a report without a valid signature of the reporting
//! domain, or signed with `l=`, is stored and shown but not counted (RFC 8460 §4.3).

pub(crate) mod command;
mod message;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mail_auth::MessageAuthenticator;
use stsd_core::tlsrpt::DEFAULT_MAX_DECOMPRESSED;
use stsd_net::{ConnectionGate, GateLimits};
use stsd_store::Store;
use tokio::net::TcpListener;

pub use message::{DkimVerdict, ExtractError, MailReport, extract_report, verify_dkim};

/// Why the SMTP receiver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SmtpSetupError {
    /// The DNS resolver for DKIM lookups could not be built.
    #[error("cannot set up the DNS resolver for DKIM: {0}")]
    Resolver(String),
}

/// Settings and limits of the SMTP receiver.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The receiver's own name: the greeting, and the domain of the report addresses
    /// (`reports.<zone>`).
    pub hostname: String,
    /// TLS for STARTTLS; `None` leaves STARTTLS unadvertised.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Largest message accepted (advertised with `SIZE`). 16 MiB holds a 10 MiB report in
    /// base64 with room for the headers.
    pub max_message: usize,
    /// Largest report once decompressed.
    pub max_decompressed: usize,
    /// Time allowed for each command line.
    pub command_timeout: Duration,
    /// Time allowed for a whole `DATA` transfer.
    pub data_timeout: Duration,
    /// Time allowed for the DKIM lookups of one message.
    pub dkim_timeout: Duration,
    /// Connections served at once; more are refused with `421`.
    pub max_connections: usize,
    /// Connections served at once from one client (an IPv4 address or an IPv6 /64); more
    /// are refused with `421`, so one source cannot hold the listener.
    pub max_per_client: usize,
    /// Longest a session may last, however busy.
    pub session_lifetime: Duration,
    /// Recipients per transaction.
    pub max_recipients: usize,
    /// Commands per connection before it is closed (bounds abusive sessions).
    pub max_commands: usize,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("hostname", &self.hostname)
            .field("starttls", &self.tls.is_some())
            .field("max_message", &self.max_message)
            .finish_non_exhaustive()
    }
}

impl SmtpConfig {
    /// Defaults for `hostname`: 16 MiB messages, 20 MiB decompressed reports, 2 min per
    /// command, 10 min per `DATA`, 500 connections (20 per client), 30 min per session,
    /// 50 recipients.
    pub fn new(hostname: impl Into<String>) -> SmtpConfig {
        SmtpConfig {
            hostname: hostname.into().to_ascii_lowercase(),
            tls: None,
            max_message: 16 * 1024 * 1024,
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
            command_timeout: Duration::from_secs(120),
            data_timeout: Duration::from_secs(600),
            dkim_timeout: Duration::from_secs(20),
            max_connections: 500,
            // Postfix opens at most 20 connections to one destination by default.
            max_per_client: 20,
            session_lifetime: Duration::from_secs(30 * 60),
            max_recipients: 50,
            max_commands: 200,
        }
    }
}

/// A DKIM verifier asking `resolvers` (the system's when empty); the same resolver
/// configuration as [`crate::report_resolver`].
pub fn dkim_verifier(resolvers: &[SocketAddr]) -> Result<MessageAuthenticator, SmtpSetupError> {
    let resolver =
        crate::report_resolver(resolvers).map_err(|e| SmtpSetupError::Resolver(e.to_string()))?;
    Ok(MessageAuthenticator(resolver))
}

/// Everything a connection needs, shared.
struct Shared {
    store: Store,
    config: SmtpConfig,
    dkim: MessageAuthenticator,
}

/// Serves SMTP on `listener` until the task is aborted.
pub async fn serve_smtp(
    listener: TcpListener,
    store: Store,
    config: SmtpConfig,
    dkim: MessageAuthenticator,
) {
    let gate = ConnectionGate::new(GateLimits {
        max_connections: config.max_connections,
        max_per_client: config.max_per_client,
    });
    let shared = Arc::new(Shared {
        store,
        config,
        dkim,
    });
    loop {
        let (tcp, peer) = stsd_net::accept(&listener, "smtp").await;
        let shared = shared.clone();
        match gate.admit(peer.ip()) {
            Ok(permit) => {
                tokio::spawn(async move {
                    let _permit = permit;
                    let lifetime = shared.config.session_lifetime;
                    let _ = tokio::time::timeout(lifetime, session::run(tcp, peer, &shared)).await;
                });
            }
            Err(refusal) => {
                tracing::debug!(%peer, %refusal, "SMTP connection refused");
                tokio::spawn(session::refuse_busy(tcp, refusal));
            }
        }
    }
}
