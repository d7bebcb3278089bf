//! The client's address, for rate limits and the audit log.
//!
//! Behind a load balancer every connection comes from the balancer, so all clients would
//! share one rate-limit bucket. `X-Forwarded-For` names the real client, but anyone can send
//! that header: it is believed only when the connection comes from a configured trusted
//! proxy, and then only up to the first hop that is not itself trusted (reading from the
//! right, because each proxy appends the address it saw; entries further left were written
//! by the client and may be forged).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::AppState;
use crate::error::ApiError;

/// One trusted proxy: an address, or a network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why a trusted-proxy entry does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IP address or CIDR network (e.g. 10.0.0.0/8, 2001:db8::/32, 192.0.2.7)")]
pub struct ProxyNetError(String);

impl FromStr for ProxyNet {
    type Err = ProxyNetError;

    fn from_str(s: &str) -> Result<ProxyNet, ProxyNetError> {
        let bad = || ProxyNetError(s.to_owned());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => {
                let addr = IpAddr::from_str(addr).map_err(|_| bad())?;
                // Only plain decimal digits: `u8::from_str` would accept a leading `+`.
                if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                (addr, prefix.parse::<u8>().map_err(|_| bad())?)
            }
            None => {
                let addr = IpAddr::from_str(s.trim()).map_err(|_| bad())?;
                (addr, max_prefix(addr))
            }
        };
        if prefix > max_prefix(addr) {
            return Err(bad());
        }
        Ok(ProxyNet { addr, prefix })
    }
}

fn max_prefix(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as a dual-stack listener reports IPv4
/// peers) as the IPv4 address it is, so that `10.0.0.0/8` matches it.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl ProxyNet {
    /// Whether `ip` is inside this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (canonical(self.addr), canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for ProxyNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The proxies whose `X-Forwarded-For` is believed (`STSD_TRUSTED_PROXIES`); empty by
/// default, so the header is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ProxyNet>);

impl TrustedProxies {
    /// Trusts these networks.
    pub fn new(nets: Vec<ProxyNet>) -> TrustedProxies {
        TrustedProxies(nets)
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client address of a request from `peer` with `headers`: the peer itself unless it
    /// is a trusted proxy; then the rightmost `X-Forwarded-For` hop that is not trusted. If
    /// every hop is trusted, the leftmost one; if the header is missing or any hop does not
    /// parse, the peer (a proxy that writes garbage is not to be half-believed).
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let mut hops = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(value) = value.to_str() else {
                return peer;
            };
            for hop in value.split(',') {
                match parse_hop(hop) {
                    Some(ip) => hops.push(canonical(ip)),
                    None => return peer,
                }
            }
        }
        let mut client = peer;
        for hop in hops.iter().rev() {
            client = *hop;
            if !self.contains(*hop) {
                break;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`), as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    IpAddr::from_str(hop)
        .ok()
        .or_else(|| SocketAddr::from_str(hop).ok().map(|s| s.ip()))
}

/// The client's address as [`TrustedProxies::client_address`] decides it. Needs the router
/// served with `into_make_service_with_connect_info::<SocketAddr>()`.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Err(ApiError::internal(
                &"the router is served without connection info",
            ));
        };
        Ok(ClientIp(
            state
                .inner
                .config
                .trusted_proxies
                .client_address(peer.ip(), &parts.headers),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|s| s.parse().unwrap()).collect())
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_addresses_and_networks() {
        assert_eq!(
            "10.0.0.0/8".parse::<ProxyNet>().unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            "192.0.2.7".parse::<ProxyNet>().unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(
            "2001:db8::/32".parse::<ProxyNet>().unwrap().to_string(),
            "2001:db8::/32"
        );
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "nope",
            "1.2.3/8",
        ] {
            assert!(bad.parse::<ProxyNet>().is_err(), "{bad}");
        }
        let net: ProxyNet = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(
            net.contains(ip("::ffff:10.1.0.9")),
            "IPv4-mapped peers match"
        );
        assert!(
            "0.0.0.0/0"
                .parse::<ProxyNet>()
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        assert!(
            !"0.0.0.0/0"
                .parse::<ProxyNet>()
                .unwrap()
                .contains(ip("2001:db8::1"))
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let t = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            t.client_address(ip("203.0.113.9"), &xff(&["198.51.100.1"])),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default().client_address(ip("10.0.0.1"), &xff(&["198.51.100.1"])),
            ip("10.0.0.1"),
            "no trusted proxies: the header is ignored"
        );
    }

    #[test]
    fn a_trusted_peer_names_the_rightmost_untrusted_hop() {
        let t = proxies(&["10.0.0.0/8", "2001:db8::1"]);
        // The client forged the leftmost entry; the proxy appended what it saw.
        assert_eq!(
            t.client_address(ip("10.0.0.2"), &xff(&["1.1.1.1, 198.51.100.7"])),
            ip("198.51.100.7")
        );
        // Two proxies in a row, over two header lines, one with a port.
        assert_eq!(
            t.client_address(
                ip("10.0.0.2"),
                &xff(&["1.1.1.1", "198.51.100.7:4711, 10.9.9.9"])
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            t.client_address(ip("2001:db8::1"), &xff(&["[2001:db8::77]:443"])),
            ip("2001:db8::77")
        );
        // Every hop trusted: the leftmost.
        assert_eq!(
            t.client_address(ip("10.0.0.2"), &xff(&["10.0.0.5, 10.0.0.6"])),
            ip("10.0.0.5")
        );
        // No header, or garbage: the peer.
        assert_eq!(t.client_address(ip("10.0.0.2"), &xff(&[])), ip("10.0.0.2"));
        assert_eq!(
            t.client_address(ip("10.0.0.2"), &xff(&["198.51.100.7, unknown"])),
            ip("10.0.0.2")
        );
        // A dual-stack listener reports IPv4 peers as mapped IPv6.
        assert_eq!(
            t.client_address(ip("::ffff:10.0.0.2"), &xff(&["198.51.100.7"])),
            ip("198.51.100.7")
        );
    }
}
