//! The verifier's runtime settings.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use stsd_core::DomainName;

use crate::dns::Dns;
use crate::error::VerifyError;
use crate::smtp_probe::MxProbe;
use crate::state::DEFAULT_GRACE_PERIOD;

/// Default bound on one DNS lookup, retries included.
pub const DEFAULT_DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of the checks, the worker and the publisher. Cheap to clone: clones share one
/// resolver.
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    /// The service zone `Z` the customers' CNAMEs point into (`<label>.policy.Z` …).
    pub service_zone: DomainName,
    /// The addresses `<label>.edge.Z` resolves to; `mta-sts.<d>` pointing at them directly
    /// is accepted with a warning.
    pub edge_addresses: Vec<IpAddr>,
    /// How long a degraded domain is served before it is detached (72 hours by default).
    pub grace_period: Duration,
    /// How long the worker sleeps when no job is due (2 s by default).
    pub poll_interval: Duration,
    /// How often the worker gives a job to domains that have none (5 min by default).
    pub schedule_interval: Duration,
    /// How long a leased job is the worker's (2 min by default); checks take seconds.
    pub lease: Duration,
    /// How many domains the worker checks at once (8 by default): one domain whose DNS
    /// times out must not hold up the others.
    pub concurrency: usize,
    /// The lease owner name; unique per worker (process id and start time by default).
    pub worker_id: String,
    /// How MX hosts are probed for STARTTLS; `None` skips that check (the default until
    /// [`VerifierConfig::with_mx_probe`]).
    pub mx_probe: Option<MxProbe>,
    /// The CAA issuer domains of the CA stsd orders from (`letsencrypt.org`); empty skips
    /// the CAA check (the local development CA has none).
    pub ca_identities: Vec<String>,
    dns: Dns,
}

impl VerifierConfig {
    /// Settings with the defaults above. `resolvers` empty means the system's resolvers
    /// (`/etc/resolv.conf`); `dns_timeout` bounds one lookup, retries included.
    ///
    /// Fails with [`VerifyError::Config`] for a zero timeout or an unreadable system
    /// resolver configuration.
    pub fn new(
        service_zone: DomainName,
        edge_addresses: Vec<IpAddr>,
        resolvers: &[SocketAddr],
        dns_timeout: Duration,
    ) -> Result<VerifierConfig, VerifyError> {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        Ok(VerifierConfig {
            service_zone,
            edge_addresses,
            grace_period: DEFAULT_GRACE_PERIOD,
            poll_interval: Duration::from_secs(2),
            schedule_interval: Duration::from_secs(300),
            lease: Duration::from_secs(120),
            concurrency: 8,
            worker_id: format!("verifier-{}-{started:x}", std::process::id()),
            mx_probe: None,
            ca_identities: Vec::new(),
            dns: Dns::new(resolvers, dns_timeout)
                .map_err(|e| VerifyError::Config(e.to_string()))?,
        })
    }

    /// Probes MX hosts for STARTTLS with `probe` on every check run.
    pub fn with_mx_probe(mut self, probe: MxProbe) -> VerifierConfig {
        self.mx_probe = Some(probe);
        self
    }

    pub(crate) fn dns(&self) -> &Dns {
        &self.dns
    }
}
