//! Address rules: which IP addresses are on the public internet.
//!
//! One classification for every place stsd connects to an address a customer chose (webhook
//! receivers, the MX STARTTLS probe): anything else would let a tenant reach into the
//! operator's network (server-side request forgery, port scanning).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether an address is on the public internet: not loopback, private (RFC 1918, ULA),
/// link-local, shared (CGNAT 100.64/10), unspecified, multicast, broadcast, documentation,
/// benchmarking, reserved or another special-purpose block (RFC 6890 registries), and for
/// addresses that embed an IPv4 address (IPv4-mapped, NAT64), not one of those either.
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let o = v4.octets();
    !(v4.is_loopback()
        || v4.is_private()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_multicast()
        || v4.is_broadcast()
        || v4.is_documentation()
        // 0.0.0.0/8: "this network".
        || o[0] == 0
        // 100.64.0.0/10: shared address space (carrier-grade NAT).
        || (o[0] == 100 && (64..128).contains(&o[1]))
        // 192.0.0.0/24: IETF protocol assignments.
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        // 198.18.0.0/15: benchmarking.
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        // 240.0.0.0/4: reserved.
        || o[0] >= 240)
}

fn is_public_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    // Addresses that carry an IPv4 address are as public as that address: IPv4-mapped
    // (::ffff:0:0/96) and the NAT64 well-known prefix (64:ff9b::/96, RFC 6052), which a
    // translator would turn into a connection to the embedded address.
    if let Some(v4) = v6.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., a, b, c, d] = v6.octets();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        // ::/96: IPv4-compatible (deprecated).
        || s[..6] == [0; 6]
        // 64:ff9b:1::/48: local-use IPv4/IPv6 translation.
        || s[..3] == [0x64, 0xff9b, 1]
        // 100::/64: discard-only.
        || s[..4] == [0x100, 0, 0, 0]
        // 2001::/23: IETF protocol assignments (Teredo and others).
        || (s[0] == 0x2001 && s[1] < 0x200)
        // 2001:db8::/32 and 3fff::/20: documentation.
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] & 0xfff0) == 0x3ff0
        // 2002::/16: 6to4 (deprecated; reaches whatever IPv4 address it embeds).
        || s[0] == 0x2002
        // fc00::/7: unique local.
        || (s[0] & 0xfe00) == 0xfc00
        // fe80::/10: link-local; fec0::/10: site-local (deprecated).
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "198.18.0.1",
            "198.19.255.255",
            "::",
            "::1",
            "::10.0.0.1",
            "fe80::1",
            "fec0::1",
            "fd00::1",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "3fff::1",
            "2002:a00:1::1",
        ] {
            assert!(!is_public_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "198.20.0.1",
            "223.255.255.254",
            "2606:4700::1111",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public_address(ip.parse().unwrap()), "{ip}");
        }
    }
}
