//! What the service zone contains, derived from the snapshot (DESIGN.md, "The three records").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use std::net::SocketAddr;

use stsd_core::{DomainName, PolicyId, RuaUri, StsRecord, TlsRptRecord};

use super::apex::{Nameservers, Soa};
use super::tsig::TsigKey;
use crate::snapshot::{Acknowledged, LabelRecords, Snapshot};

/// Milliseconds since the epoch, now.
fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

/// A secondary name server that may transfer the zone and is told of changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secondary {
    /// Where NOTIFY goes; transfers are allowed from its IP address (any port).
    pub address: SocketAddr,
    /// The name of the TSIG key it signs with.
    pub key: String,
}

/// Settings of the zone.
#[derive(Debug, Clone)]
pub struct ZoneConfig {
    zone: DomainName,
    /// The zone's name on the wire.
    zone_wire_len: usize,
    edge_addresses: Vec<IpAddr>,
    nameservers: Nameservers,
    soa: Soa,
    /// Who may transfer the zone, with which key.
    secondaries: Vec<Secondary>,
    /// The TSIG keys secondaries sign with.
    keys: Vec<TsigKey>,
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
    /// One of the apex's name servers (its index in the configuration).
    Ns(u8),
    /// `reports.<zone>` is its own mail exchanger, at this preference.
    MxSelf(u16),
    /// The apex SOA with this serial; its other fields are the configuration's.
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
            Data::Ns(_) => rtype::NS,
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

/// A zone setting that cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// A secondary names a key that is not configured.
    #[error("secondary {address} names the key `{key}`, which is not configured")]
    UnknownKey {
        /// The secondary.
        address: SocketAddr,
        /// The key it names.
        key: String,
    },
}

impl ZoneConfig {
    /// A zone `zone` whose edge names resolve to `edge_addresses`, served by `ns1.<zone>` on
    /// the same addresses, with the default SOA timers and no secondaries.
    pub fn new(zone: DomainName, edge_addresses: Vec<IpAddr>) -> ZoneConfig {
        let nameservers = Nameservers::single(&zone, edge_addresses.clone());
        let soa = Soa::defaults(&zone, &nameservers);
        ZoneConfig {
            zone_wire_len: super::wire::wire_len(zone.as_str()),
            zone,
            edge_addresses,
            nameservers,
            soa,
            secondaries: Vec::new(),
            keys: Vec::new(),
            txt_ttl: 300,
            ttl: 300,
            settle: std::time::Duration::from_secs(30),
        }
    }

    /// The zone served by `nameservers` with `soa` (see [`Nameservers::parse`], [`Soa::new`]).
    pub fn with_nameservers(mut self, nameservers: Nameservers, soa: Soa) -> ZoneConfig {
        self.nameservers = nameservers;
        self.soa = soa;
        self
    }

    /// Allows `secondaries` to transfer the zone, each signing with one of `keys`, and tells
    /// them of every change (NOTIFY).
    pub fn with_secondaries(
        mut self,
        secondaries: Vec<Secondary>,
        keys: Vec<TsigKey>,
    ) -> Result<ZoneConfig, ZoneError> {
        for s in &secondaries {
            if !keys.iter().any(|k| k.name() == s.key.trim_end_matches('.')) {
                return Err(ZoneError::UnknownKey {
                    address: s.address,
                    key: s.key.clone(),
                });
            }
        }
        self.secondaries = secondaries;
        self.keys = keys;
        Ok(self)
    }

    /// The zone's name (lower case, no trailing dot).
    pub fn zone(&self) -> &str {
        self.zone.as_str()
    }

    /// The wire length of the zone's name.
    pub(crate) fn zone_wire_len(&self) -> usize {
        self.zone_wire_len
    }

    /// The apex's name servers.
    pub fn nameservers(&self) -> &Nameservers {
        &self.nameservers
    }

    /// The SOA's fields.
    pub fn soa_fields(&self) -> &Soa {
        &self.soa
    }

    /// The secondaries.
    pub fn secondaries(&self) -> &[Secondary] {
        &self.secondaries
    }

    /// The TSIG keys.
    pub(crate) fn keys(&self) -> &[TsigKey] {
        &self.keys
    }

    /// The key a secondary at `ip` signs with, if `ip` is a secondary's.
    pub(crate) fn secondary_key(&self, ip: IpAddr) -> Option<&TsigKey> {
        let secondary = self.secondaries.iter().find(|s| s.address.ip() == ip)?;
        self.keys
            .iter()
            .find(|k| k.name() == secondary.key.trim_end_matches('.'))
    }

    /// The SOA serial of the zone as `snapshot` and `acked` make it.
    ///
    /// The zone's contents are a function of the snapshot's position `S` and of how far every
    /// edge has applied the feed (`A`, at most `S`: which policy ids DNS may announce). Both
    /// only move forward, so `S + A` moves forward with every change of the contents, and
    /// every `stsd dns` node that serves the same snapshot with the same acknowledgement
    /// answers the same serial, across restarts too (both come from the store's change
    /// feed). It wraps as RFC 1982 serial arithmetic allows. Before the edges' positions are
    /// known (the first seconds of a process) `A` counts as 0.
    pub fn serial(snapshot: &Snapshot, acked: Acknowledged) -> u32 {
        let s = snapshot.seq();
        let a = match acked {
            Acknowledged::Seq(a) => a.min(s),
            Acknowledged::Unknown => 0,
        };
        let sum = i128::from(s) + i128::from(a);
        u32::try_from(sum.rem_euclid(1i128 << 32)).unwrap_or(0)
    }

    pub(crate) fn soa(&self, serial: u32) -> Rr {
        Rr {
            owner: Owner::Apex,
            ttl: self.ttl,
            data: Data::Soa(serial),
        }
    }

    /// The apex's NS records, owned by the question (the apex itself).
    fn ns_records(&self, owner: Owner, out: &mut Vec<Rr>) {
        for i in 0..self.nameservers.len() {
            out.push(Rr {
                owner,
                ttl: self.ttl,
                data: Data::Ns(u8::try_from(i).unwrap_or(u8::MAX)),
            });
        }
    }

    fn address_records(&self, addresses: &[IpAddr], qtype: u16, out: &mut Vec<Rr>) {
        for ip in addresses {
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

    fn addresses(&self, qtype: u16, out: &mut Vec<Rr>) {
        self.address_records(&self.edge_addresses, qtype, out);
    }

    /// The `_mta-sts` TXT value for a policy id.
    pub fn sts_txt(id: &PolicyId) -> String {
        StsRecord { id: id.clone() }.render()
    }

    /// The `_smtp._tls` TXT value for a label: both report transports, then the customer's
    /// own destinations (`extra`, validated when they were set; any that no longer parse are
    /// left out rather than break the record).
    pub fn tlsrpt_txt(&self, label: &str, extra: &[String]) -> String {
        let zone = self.zone.as_str();
        let own = [
            format!("mailto:{label}@reports.{zone}"),
            format!("https://reports.{zone}/v1/tlsrpt/{label}"),
        ];
        let rua = own
            .iter()
            .chain(extra)
            .filter_map(|u| RuaUri::from_str(u).ok())
            .collect();
        TlsRptRecord { rua }.render()
    }

    /// The `_mta-sts` TXT a label's `policy` name has: the id DNS may announce.
    fn policy_txt(&self, records: &LabelRecords, acked: Acknowledged, now_ms: i64) -> Option<Rr> {
        let settle_ms = i64::try_from(self.settle.as_millis()).unwrap_or(i64::MAX);
        let live = records.announced(acked, now_ms, settle_ms)?;
        Some(Rr {
            owner: Owner::Question,
            ttl: self.txt_ttl,
            data: Data::Txt(Self::sts_txt(&live.id)),
        })
    }

    /// The `_smtp._tls` TXT of a label's `report` name.
    fn report_txt(&self, label: &str, records: &LabelRecords) -> Rr {
        Rr {
            owner: Owner::Question,
            ttl: self.txt_ttl,
            data: Data::Txt(self.tlsrpt_txt(label, &records.extra_rua)),
        }
    }

    /// Calls `each` with every record of the zone, owner first (its labels above the apex,
    /// the root-most last), in transfer order: the SOA, the apex's NS, the name servers'
    /// addresses, `reports`, then every label's records. What a transfer sends, with the
    /// same announcement rule as queries (a secondary is one more place an id appears).
    pub(crate) fn each_record(
        &self,
        snapshot: &Snapshot,
        acked: Acknowledged,
        mut each: impl FnMut(&[&str], Rr),
    ) {
        let now = now_ms();
        each(&[], self.soa(ZoneConfig::serial(snapshot, acked)));
        let mut rrs = Vec::new();
        self.ns_records(Owner::Apex, &mut rrs);
        for rr in rrs.drain(..) {
            each(&[], rr);
        }
        for ns in self.nameservers.iter() {
            if let Some(relative) = ns.relative() {
                self.address_records(ns.addresses(), rtype::ANY, &mut rrs);
                for rr in rrs.drain(..) {
                    each(&[relative], rr);
                }
            }
        }
        self.addresses(rtype::ANY, &mut rrs);
        rrs.push(Rr {
            owner: Owner::Question,
            ttl: self.ttl,
            data: Data::MxSelf(10),
        });
        for rr in rrs.drain(..) {
            each(&["reports"], rr);
        }
        for (label, records) in snapshot.labels.iter() {
            if records.edge {
                self.addresses(rtype::ANY, &mut rrs);
                for rr in rrs.drain(..) {
                    each(&[label, "edge"], rr);
                }
            }
            if let Some(rr) = self.policy_txt(records, acked, now) {
                each(&[label, "policy"], rr);
            }
            if records.report {
                each(&[label, "report"], self.report_txt(label, records));
            }
        }
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
        let serial = ZoneConfig::serial(snapshot, acked);
        let mut exists = true;
        let mut answers = Vec::new();
        let wants = |t: u16| qtype == t || qtype == rtype::ANY;
        match relative.rsplit_once('.') {
            None if relative.is_empty() => {
                if wants(rtype::SOA) {
                    answers.push(self.soa(serial));
                }
                if wants(rtype::NS) {
                    self.ns_records(Owner::Question, &mut answers);
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
                // Empty non-terminals above the labels.
                "edge" | "policy" | "report" => {}
                other => match self.nameservers.by_relative(other) {
                    Some(ns) => self.address_records(ns.addresses(), qtype, &mut answers),
                    None => exists = false,
                },
            },
            Some((label, kind)) => match (snapshot.label(label), kind) {
                (Some(records), "edge") if records.edge => {
                    self.addresses(qtype, &mut answers);
                }
                (Some(records), "policy") => {
                    if wants(rtype::TXT)
                        && let Some(rr) = self.policy_txt(records, acked, now_ms())
                    {
                        answers.push(rr);
                    }
                }
                (Some(records), "report") if records.report => {
                    if wants(rtype::TXT) {
                        answers.push(self.report_txt(label, records));
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
