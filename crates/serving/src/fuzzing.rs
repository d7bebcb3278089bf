//! Entry points for the fuzz targets in `fuzz/` at the top of the repository. Not part of the
//! API (hidden from the docs, free to change): each runs the real code path that bytes from the
//! network take, over a small fixed snapshot built once, without sockets.
//!
//! - [`Fixture::dns`]: a DNS message through `dns::respond` (the wire reader, the zone and
//!   the response writer), as over UDP or TCP.
//! - [`Fixture::https`], [`Fixture::http`]: a request through the edge's responders.
//! - [`client_hello`]: the first TLS record through the edge's ClientHello screen.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use stsd_core::{DomainName, PolicyId};
use stsd_store::{DomainId, LiveId, MasterKey};

use crate::dns::{RrlConfig, ZoneConfig};
use crate::edge::hello;
use crate::follower::SnapshotHandle;
use crate::snapshot::{Acknowledged, EdgeHost, LabelRecords, Snapshot};

/// The zone the fixture serves.
pub const ZONE: &str = "sts.example.net";
/// The edge host the fixture serves a policy for.
pub const EDGE_HOST: &str = "mta-sts.example.com";
/// The ACME HTTP-01 token the fixture has a challenge for.
pub const CHALLENGE_TOKEN: &str = "token-abc";
/// The registration label with records in the zone.
pub const LABEL: &str = "abc123";

/// A snapshot with one registration, one edge host and one challenge, and the zone around it.
#[derive(Debug)]
pub struct Fixture {
    zone: ZoneConfig,
    snapshots: SnapshotHandle,
}

impl Fixture {
    /// Builds the fixture. Panics only if its own constants are wrong.
    #[allow(clippy::expect_used)] // fixed inputs, checked by the unit test below
    pub fn new() -> Fixture {
        let zone_name = DomainName::parse_host(ZONE).expect("the fixture's zone is a host name");
        let addresses = vec![
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        ];
        let zone = ZoneConfig::new(zone_name, addresses);
        let id: PolicyId = "20261126T120000"
            .parse()
            .expect("the fixture's policy id is valid");
        let mut snapshot = Snapshot {
            seq: 77,
            ..Snapshot::default()
        };
        snapshot.labels.insert(
            LABEL.to_owned(),
            LabelRecords {
                edge: true,
                policy_ids: vec![LiveId {
                    id,
                    seq: 70,
                    live_at_ms: 0,
                }],
                report: true,
                extra_rua: Vec::new(),
            },
        );
        snapshot.labels.insert(
            "pending".to_owned(),
            LabelRecords {
                edge: false,
                policy_ids: Vec::new(),
                report: false,
                extra_rua: Vec::new(),
            },
        );
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        snapshot.hosts.insert(
            EDGE_HOST.to_owned(),
            Arc::new(EdgeHost::without_certificate(
                DomainId::from_raw("d1"),
                Bytes::from_static(
                    b"version: STSv1\r\nmode: enforce\r\nmx: mx.example.com\r\nmax_age: 604800\r\n",
                ),
                provider.key_provider,
            )),
        );
        snapshot.challenges.insert(
            CHALLENGE_TOKEN.to_owned(),
            Bytes::from_static(b"token-abc.thumbprint"),
        );
        let snapshots = SnapshotHandle::new(
            snapshot,
            Arc::new(MasterKey::from_bytes([7; 32])),
            provider,
            0,
            None,
        );
        Fixture { zone, snapshots }
    }

    /// The response to the DNS message `msg` as the server sends it over UDP (`udp`, response
    /// rate limiting off) or TCP; `None` when nothing is sent.
    pub fn dns(&self, msg: &[u8], udp: bool) -> Option<Vec<u8>> {
        let mut rrl = crate::dns::Limiter::new(&RrlConfig {
            enabled: false,
            ..RrlConfig::default()
        });
        let via = if udp {
            crate::dns::Via::Udp {
                client: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53)),
                now: Instant::now(),
                rrl: &mut rrl,
            }
        } else {
            crate::dns::Via::Tcp
        };
        let mut name = String::new();
        let mut out = Vec::new();
        let sent = crate::dns::respond(
            &self.zone,
            &self.snapshots.guard(),
            Acknowledged::Seq(77),
            crate::dns::Transport { msg, via },
            &mut name,
            &mut out,
        );
        sent.then_some(out)
    }

    /// The edge's answer to an HTTPS request on a connection whose SNI was `sni`.
    pub fn https<B>(&self, req: &Request<B>, sni: Option<&str>) -> Response<Full<Bytes>> {
        let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 25)), 40000);
        crate::edge::respond::https(req, sni, &self.snapshots, peer)
    }

    /// The edge's answer to a plain-HTTP request.
    pub fn http<B>(&self, req: &Request<B>) -> Response<Full<Bytes>> {
        crate::edge::respond::http(req, &self.snapshots)
    }
}

impl Default for Fixture {
    fn default() -> Fixture {
        Fixture::new()
    }
}

/// What the edge's ClientHello screen decides about a connection's first TLS record (header
/// included): `None` to hand it to rustls, else the fatal alert it is refused with.
pub fn client_hello(record: &[u8]) -> Option<u8> {
    match hello::judge(record) {
        hello::Verdict::Proceed => None,
        hello::Verdict::Refuse(refusal) => Some(refusal.alert()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_answers() {
        let f = Fixture::new();
        // A query for the zone's SOA: id 0xBEEF, RD, one question.
        let mut q = vec![0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in ZONE.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 6, 0, 1]);
        let udp = f.dns(&q, true).unwrap();
        assert_eq!(udp[..2], [0xBE, 0xEF]);
        assert_eq!(udp[7], 1, "one answer");
        assert_eq!(f.dns(&q, false), Some(udp));

        let req = Request::get("/.well-known/mta-sts.txt")
            .header(http::header::HOST, EDGE_HOST)
            .body(())
            .unwrap();
        assert_eq!(f.https(&req, Some(EDGE_HOST)).status(), 200);
        let req = Request::get(format!("/.well-known/acme-challenge/{CHALLENGE_TOKEN}"))
            .body(())
            .unwrap();
        assert_eq!(f.http(&req).status(), 200);
        assert_eq!(client_hello(&[22, 3, 1, 0, 4, 2, 0, 0, 0]), Some(10));
    }
}
