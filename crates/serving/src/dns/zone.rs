//! What the service zone contains, derived from the snapshot (DESIGN.md, "The three records").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use stsd_core::{DomainName, PolicyId, RuaUri, StsRecord, TlsRptRecord};

use crate::snapshot::{Acknowledged, Snapshot};

/// Settings of the zone.
#[derive(Debug, Clone)]
pub struct ZoneConfig {
    zone: DomainName,
    edge_addresses: Vec<IpAddr>,
    /// TTL of the policy and report TXT records: senders see a new id only after it expires.
    pub txt_ttl: u32,
    /// TTL of everything else.
    pub ttl: u32,
    /// With no heartbeat data, how long a version must have been live before DNS announces it.
    pub settle: std::time::Duration,
}

/// Record types the zone holds, and `ANY` (RFC 1035 §3.2.2, §3.2.3).
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Name server.
    pub const NS: u16 = 2;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// Mail exchanger.
    pub const MX: u16 = 15;
    /// Text.
    pub const TXT: u16 = 16;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// Every type (a query type only), answered with one RRset of the name (RFC 8482 §4.1).
    pub const ANY: u16 = 255;
}

/// Response codes the zone gives (RFC 1035 §4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    /// The name exists (possibly with no record of the asked type: NODATA).
    NoError,
    /// The name does not exist.
    NxDomain,
    /// The name is outside the zone.
    Refused,
}

/// Whose name a record is: the question's, or the zone apex.
///
/// Every record of the zone is owned by one of the two, which is what lets the wire encoder
/// write each owner as a two-byte pointer into the question (RFC 1035 §4.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The name asked for.
    Question,
    /// The zone apex.
    Apex,
}

/// The data of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// An edge address.
    A(Ipv4Addr),
    /// An edge address.
    Aaaa(Ipv6Addr),
    /// A TXT record's value, split into 255-byte strings on the wire.
    Txt(String),
    /// The apex's name server, `ns1.<zone>`.
    Ns,
    /// `reports.<zone>` is its own mail exchanger, at this preference.
    MxSelf(u16),
    /// The apex SOA: `ns1.<zone>`, `hostmaster.<zone>`, this serial.
    Soa(u32),
}

/// One record of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rr {
    /// Its owner name.
    pub owner: Owner,
    /// Its TTL in seconds.
    pub ttl: u32,
    /// Its type and data.
    pub data: Data,
}

impl Rr {
    /// The record's type code.
    pub fn rtype(&self) -> u16 {
        match self.data {
            Data::A(_) => rtype::A,
            Data::Aaaa(_) => rtype::AAAA,
            Data::Txt(_) => rtype::TXT,
            Data::Ns => rtype::NS,
            Data::MxSelf(_) => rtype::MX,
            Data::Soa(_) => rtype::SOA,
        }
    }
}

/// The outcome of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// NOERROR, NXDOMAIN or REFUSED.
    pub rcode: Rcode,
    /// Whether the answer is authoritative (false only for REFUSED).
    pub authoritative: bool,
    /// The answer section.
    pub answers: Vec<Rr>,
    /// The authority section: the SOA for negative answers.
    pub authority: Vec<Rr>,
}

impl ZoneConfig {
    /// A zone `zone` whose edge names resolve to `edge_addresses`, served by `ns1.<zone>`.
    pub fn new(zone: DomainName, edge_addresses: Vec<IpAddr>) -> ZoneConfig {
        ZoneConfig {
            zone,
            edge_addresses,
            txt_ttl: 300,
            ttl: 300,
            settle: std::time::Duration::from_secs(30),
        }
    }

    /// The zone's name (lower case, no trailing dot).
    pub fn zone(&self) -> &str {
        self.zone.as_str()
    }

    fn soa(&self, serial: i64) -> Rr {
        // The serial follows the change feed, wrapping as RFC 1982 allows.
        let serial = u32::try_from(serial.rem_euclid(i64::from(u32::MAX))).unwrap_or(0);
        Rr {
            owner: Owner::Apex,
            ttl: self.ttl,
            data: Data::Soa(serial),
        }
    }

    fn addresses(&self, qtype: u16, out: &mut Vec<Rr>) {
        for ip in &self.edge_addresses {
            let data = match (ip, qtype) {
                (IpAddr::V4(v4), rtype::A | rtype::ANY) => Data::A(*v4),
                (IpAddr::V6(v6), rtype::AAAA | rtype::ANY) => Data::Aaaa(*v6),
                _ => continue,
            };
            out.push(Rr {
                owner: Owner::Question,
                ttl: self.ttl,
                data,
            });
        }
    }

    /// The `_mta-sts` TXT value for a policy id.
    pub fn sts_txt(id: &PolicyId) -> String {
        StsRecord { id: id.clone() }.render()
    }

    /// The `_smtp._tls` TXT value for a label: both report transports.
    pub fn tlsrpt_txt(&self, label: &str) -> String {
        let zone = self.zone.as_str();
        let rua = [
            format!("mailto:{label}@reports.{zone}"),
            format!("https://reports.{zone}/v1/tlsrpt/{label}"),
        ]
        .iter()
        .filter_map(|u| RuaUri::from_str(u).ok())
        .collect();
        TlsRptRecord { rua }.render()
    }

    /// Answers `qtype` for `qname` (lower case, any trailing dot ignored).
    pub fn answer(
        &self,
        snapshot: &Snapshot,
        acked: Acknowledged,
        qname: &str,
        qtype: u16,
    ) -> Answer {
        let qname = qname.trim_end_matches('.');
        let zone = self.zone.as_str();
        let relative = if qname == zone {
            Some("")
        } else {
            qname.strip_suffix(zone).and_then(|p| p.strip_suffix('.'))
        };
        let Some(relative) = relative else {
            return Answer {
                rcode: Rcode::Refused,
                authoritative: false,
                answers: Vec::new(),
                authority: Vec::new(),
            };
        };
        let serial = snapshot.seq();
        let mut exists = true;
        let mut answers = Vec::new();
        let wants = |t: u16| qtype == t || qtype == rtype::ANY;
        match relative.rsplit_once('.') {
            None if relative.is_empty() => {
                if wants(rtype::SOA) {
                    answers.push(self.soa(serial));
                }
                if wants(rtype::NS) {
                    answers.push(Rr {
                        owner: Owner::Question,
                        ttl: self.ttl,
                        data: Data::Ns,
                    });
                }
            }
            None => match relative {
                "reports" => {
                    self.addresses(qtype, &mut answers);
                    if wants(rtype::MX) {
                        answers.push(Rr {
                            owner: Owner::Question,
                            ttl: self.ttl,
                            data: Data::MxSelf(10),
                        });
                    }
                }
                "ns1" => self.addresses(qtype, &mut answers),
                // Empty non-terminals above the labels.
                "edge" | "policy" | "report" => {}
                _ => exists = false,
            },
            Some((label, kind)) => match (snapshot.label(label), kind) {
                (Some(records), "edge") if records.edge => {
                    self.addresses(qtype, &mut answers);
                }
                (Some(records), "policy") => {
                    let now_ms = i64::try_from(
                        time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000,
                    )
                    .unwrap_or(i64::MAX);
                    let settle_ms = i64::try_from(self.settle.as_millis()).unwrap_or(i64::MAX);
                    if let Some(live) = records.announced(acked, now_ms, settle_ms)
                        && wants(rtype::TXT)
                    {
                        answers.push(Rr {
                            owner: Owner::Question,
                            ttl: self.txt_ttl,
                            data: Data::Txt(Self::sts_txt(&live.id)),
                        });
                    }
                }
                (Some(records), "report") if records.report => {
                    if wants(rtype::TXT) {
                        answers.push(Rr {
                            owner: Owner::Question,
                            ttl: self.txt_ttl,
                            data: Data::Txt(self.tlsrpt_txt(label)),
                        });
                    }
                }
                (Some(_), "edge" | "report") => {}
                _ => exists = false,
            },
        }
        if qtype == rtype::ANY {
            keep_first_rrset(&mut answers);
        }
        let authority = if answers.is_empty() {
            vec![self.soa(serial)]
        } else {
            Vec::new()
        };
        Answer {
            rcode: if exists {
                Rcode::NoError
            } else {
                Rcode::NxDomain
            },
            authoritative: true,
            answers,
            authority,
        }
    }
}

/// Keeps only the first RRset of `answers`: the answer to ANY.
///
/// RFC 8482 §4 lets a responder answer ANY with less than every RRset of the name, and a
/// conventional ANY answer is what reflection attacks ask for: the most bytes per query. An
/// authoritative server that holds the records can return one RRset of them (§4.1); a
/// synthesized HINFO "RFC8482" (§4.2) suits responders for which finding a name's RRsets is
/// itself the cost, which is not the case here, and would be a record the name does not have.
/// The first RRset in the order the zone lists them is a real one the name has (the apex's
/// SOA, a host's addresses, a policy's or a report's TXT), and the same every time; none of
/// them is large (NSD learnt to avoid picking DNSKEY or RRSIG sets). The RFC would allow a
/// full answer over TCP, where no address is forged; stsd answers ANY the same way on both,
/// as nothing needs more.
fn keep_first_rrset(answers: &mut Vec<Rr>) {
    if let Some(first) = answers.first().map(Rr::rtype) {
        answers.retain(|rr| rr.rtype() == first);
    }
}
