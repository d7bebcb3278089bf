//! Policy fetches, counted in memory on the request path and written to the store in batches
//! by the follower: per registration and UTC day, the number of fetches and the distinct
//! sending networks.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;

use stsd_store::{DomainId, MAX_NETWORKS_PER_DAY, Store};

/// Most (registration, day) entries held between flushes; beyond it new entries are dropped
/// (and counted in the log) rather than growing without bound while the store is away.
const MAX_ENTRIES: usize = 200_000;

#[derive(Debug, Default)]
struct Entry {
    fetches: i64,
    networks: BTreeSet<String>,
}

/// The in-memory aggregate.
#[derive(Debug, Default)]
pub(crate) struct FetchLog {
    entries: Mutex<HashMap<(DomainId, i64), Entry>>,
}

/// The sending network of an address: IPv4 /24 or IPv6 /48.
pub(crate) fn network(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network(IpAddr::V4(v4)),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
            }
        },
    }
}

impl FetchLog {
    /// Counts one fetch. The lock is held for a map update only.
    pub(crate) fn record(&self, domain: &DomainId, ip: IpAddr) {
        let day = time::OffsetDateTime::now_utc()
            .unix_timestamp()
            .div_euclid(86_400);
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let key = (domain.clone(), day);
        if !entries.contains_key(&key) && entries.len() >= MAX_ENTRIES {
            return;
        }
        let entry = entries.entry(key).or_default();
        entry.fetches += 1;
        if entry.networks.len() < MAX_NETWORKS_PER_DAY {
            entry.networks.insert(network(ip));
        }
    }

    /// Writes what was counted since the last flush. Entries that could not be written are
    /// kept for the next flush.
    pub(crate) async fn flush(&self, store: &Store) {
        let taken = match self.entries.lock() {
            Ok(mut entries) => std::mem::take(&mut *entries),
            Err(_) => return,
        };
        let mut failed = Vec::new();
        for ((domain, day), entry) in taken {
            if let Err(e) = store
                .all_tenants()
                .add_policy_fetches(&domain, day, entry.fetches, &entry.networks)
                .await
            {
                tracing::debug!(error = %e, "cannot write policy fetches; keeping them");
                failed.push(((domain, day), entry));
            }
        }
        if failed.is_empty() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            for (key, entry) in failed {
                if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
                    continue;
                }
                let slot = entries.entry(key).or_default();
                slot.fetches += entry.fetches;
                for n in entry.networks {
                    if slot.networks.len() >= MAX_NETWORKS_PER_DAY {
                        break;
                    }
                    slot.networks.insert(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        assert_eq!(network("192.0.2.77".parse().unwrap()), "192.0.2.0/24");
        assert_eq!(
            network("2001:db8:aa:bb::1".parse().unwrap()),
            "2001:db8:aa::/48"
        );
        assert_eq!(
            network("::ffff:198.51.100.9".parse().unwrap()),
            "198.51.100.0/24"
        );
    }
}
