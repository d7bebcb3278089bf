//! The DNS resolver of report ingestion: DKIM keys for mail, reverse and forward names for
//! the origin of HTTPS reports. One configuration for both, so that what an operator sets
//! for one (`STSD_RESOLVERS`) holds for the other.

use std::net::SocketAddr;

use mail_auth::hickory_resolver::TokioResolver;
use mail_auth::hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig,
};
use mail_auth::hickory_resolver::net::runtime::TokioRuntimeProvider;

/// The resolver could not be built (the system configuration did not read).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the DNS resolver: {0}")]
pub struct ResolverError(String);

/// A resolver asking `resolvers` (UDP, TCP on truncation), or the system's resolvers when
/// empty. The hosts file is never read: a report's origin and a DKIM key are public facts,
/// not local ones.
pub fn report_resolver(resolvers: &[SocketAddr]) -> Result<TokioResolver, ResolverError> {
    let mut builder = if resolvers.is_empty() {
        TokioResolver::builder_tokio().map_err(|e| ResolverError(e.to_string()))?
    } else {
        let servers = resolvers
            .iter()
            .map(|s| {
                let mut udp = ConnectionConfig::udp();
                udp.port = s.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = s.port();
                NameServerConfig::new(s.ip(), true, vec![udp, tcp])
            })
            .collect();
        TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
    };
    builder.options_mut().use_hosts_file = ResolveHosts::Never;
    builder.build().map_err(|e| ResolverError(e.to_string()))
}
