//! Admission of new connections: a cap per listener and a cap per client.
//!
//! A listener that takes every connection offered lets one client hold all of its slots (and,
//! past the process's file limit, every other listener's too). Each listener therefore admits
//! at most `max_connections` at once, and at most `max_per_client` from one client, where a
//! client is an IPv4 address or an IPv6 /64 (one customer's network gets a /64, so counting
//! single IPv6 addresses would let one host hold a listener from many). What is refused is
//! closed at once, so it costs a descriptor only for a moment.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many connections a listener admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateLimits {
    /// Connections open at once on the listener.
    pub max_connections: usize,
    /// Connections open at once from one client (an IPv4 address or an IPv6 /64).
    pub max_per_client: usize,
}

impl GateLimits {
    /// These limits with `max_connections` lowered to `cap` (a share of the file limit), and
    /// the per-client cap never above it.
    #[must_use]
    pub fn within(self, cap: usize) -> GateLimits {
        let max_connections = self.max_connections.min(cap).max(1);
        GateLimits {
            max_connections,
            max_per_client: self.max_per_client.min(max_connections).max(1),
        }
    }
}

/// The unit a per-client cap counts: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of `ip`; IPv4-mapped IPv6 addresses count as the IPv4 address.
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(v4) => ClientKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    ClientKey(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The listener is at `max_connections`.
    #[error("the listener is at its connection limit")]
    Full,
    /// This client is at `max_per_client`.
    #[error("this client is at its connection limit")]
    ClientFull,
}

/// Counts a listener's open connections; cloned into each accept loop.
#[derive(Debug, Clone)]
pub struct ConnectionGate {
    slots: Arc<Semaphore>,
    clients: Arc<Mutex<HashMap<ClientKey, usize>>>,
    limits: GateLimits,
}

impl ConnectionGate {
    /// A gate admitting up to `limits`.
    pub fn new(limits: GateLimits) -> ConnectionGate {
        let limits = limits.within(usize::MAX);
        ConnectionGate {
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            clients: Arc::new(Mutex::new(HashMap::new())),
            limits,
        }
    }

    /// The limits this gate enforces.
    pub fn limits(&self) -> GateLimits {
        self.limits
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.limits.max_connections - self.slots.available_permits()
    }

    /// Admits a connection from `peer`, or says why not. The connection counts until the
    /// returned [`Admission`] is dropped.
    pub fn admit(&self, peer: IpAddr) -> Result<Admission, Refusal> {
        let key = ClientKey::of(peer);
        let permit = Arc::clone(&self.slots)
            .try_acquire_owned()
            .map_err(|_| Refusal::Full)?;
        {
            let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
            let count = clients.entry(key).or_insert(0);
            if *count >= self.limits.max_per_client {
                return Err(Refusal::ClientFull);
            }
            *count += 1;
        }
        Ok(Admission {
            key,
            clients: Arc::clone(&self.clients),
            _permit: permit,
        })
    }
}

/// A connection admitted by a [`ConnectionGate`]; dropping it frees its place.
#[derive(Debug)]
pub struct Admission {
    key: ClientKey,
    clients: Arc<Mutex<HashMap<ClientKey, usize>>>,
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    /// Whom it was counted against.
    pub fn client(&self) -> ClientKey {
        self.key
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = clients.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                clients.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn clients_are_v4_addresses_and_v6_slash_64s() {
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2:aaaa::1")),
            ClientKey::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            ClientKey::of(ip("2001:db8:1:2::1")),
            ClientKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            ClientKey::of(ip("::ffff:192.0.2.7")),
            ClientKey::of(ip("192.0.2.7"))
        );
        assert_ne!(
            ClientKey::of(ip("192.0.2.7")),
            ClientKey::of(ip("192.0.2.8"))
        );
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2:aaaa::1")).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn one_client_cannot_take_every_slot() {
        let gate = ConnectionGate::new(GateLimits {
            max_connections: 5,
            max_per_client: 2,
        });
        let a1 = gate.admit(ip("10.0.0.1")).unwrap();
        let _a2 = gate.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(gate.admit(ip("10.0.0.1")).unwrap_err(), Refusal::ClientFull);
        let _b1 = gate.admit(ip("10.0.0.2")).unwrap();
        let _b2 = gate.admit(ip("10.0.0.2")).unwrap();
        let _c1 = gate.admit(ip("10.0.0.3")).unwrap();
        assert_eq!(gate.open(), 5);
        assert_eq!(gate.admit(ip("10.0.0.4")).unwrap_err(), Refusal::Full);
        // A refusal holds nothing; a closed connection frees its client's place.
        drop(a1);
        assert_eq!(gate.open(), 4);
        let _a3 = gate.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(gate.admit(ip("10.0.0.1")).unwrap_err(), Refusal::Full);
    }

    #[test]
    fn limits_shrink_to_a_share_of_the_file_limit() {
        let limits = GateLimits {
            max_connections: 20_000,
            max_per_client: 256,
        };
        assert_eq!(
            limits.within(100),
            GateLimits {
                max_connections: 100,
                max_per_client: 100
            }
        );
        assert_eq!(limits.within(50_000), limits);
        assert_eq!(limits.within(0).max_connections, 1);
    }
}
