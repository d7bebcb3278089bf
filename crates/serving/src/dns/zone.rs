//! What the service zone contains, derived from the snapshot (DESIGN.md, "The three records").

use std::net::IpAddr;
use std::str::FromStr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, MX, NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use stsd_core::{DomainName, PolicyId, RuaUri, StsRecord, TlsRptRecord};

use crate::snapshot::{Acknowledged, Snapshot};

/// Settings of the zone.
#[derive(Debug, Clone)]
pub struct ZoneConfig {
    zone: DomainName,
    apex: Name,
    edge_addresses: Vec<IpAddr>,
    nameservers: Vec<Name>,
    /// TTL of the policy and report TXT records: senders see a new id only after it expires.
    pub txt_ttl: u32,
    /// TTL of everything else.
    pub ttl: u32,
    /// With no heartbeat data, how long a version must have been live before DNS announces it.
    pub settle: std::time::Duration,
}

/// The outcome of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// NOERROR, NXDOMAIN or REFUSED.
    pub rcode: ResponseCode,
    /// Whether the answer is authoritative (false only for REFUSED).
    pub authoritative: bool,
    /// The answer section.
    pub answers: Vec<Record>,
    /// The authority section: the SOA for negative answers, NS for the apex.
    pub authority: Vec<Record>,
}

/// Longest character-string in a TXT record (RFC 1035 §3.3).
const TXT_CHUNK: usize = 255;

fn txt(value: &str) -> TXT {
    // Split on byte boundaries that are char boundaries; the records are ASCII anyway.
    let mut parts = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let mut cut = rest.len().min(TXT_CHUNK);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        parts.push(head.to_owned());
        rest = tail;
    }
    TXT::new(parts)
}

impl ZoneConfig {
    /// A zone `zone` whose edge names resolve to `edge_addresses`, served by `ns1.<zone>`.
    pub fn new(zone: DomainName, edge_addresses: Vec<IpAddr>) -> ZoneConfig {
        let apex = Name::from_ascii(format!("{}.", zone.as_str())).unwrap_or_else(|_| Name::root());
        let ns =
            Name::from_ascii(format!("ns1.{}.", zone.as_str())).unwrap_or_else(|_| Name::root());
        ZoneConfig {
            zone,
            apex,
            edge_addresses,
            nameservers: vec![ns],
            txt_ttl: 300,
            ttl: 300,
            settle: std::time::Duration::from_secs(30),
        }
    }

    fn name(&self, relative: &str) -> Name {
        Name::from_ascii(format!("{relative}.{}.", self.zone.as_str()))
            .unwrap_or_else(|_| Name::root())
    }

    fn soa(&self, serial: i64) -> Record {
        let rname = self.name("hostmaster");
        let mname = self.nameservers.first().cloned().unwrap_or_else(Name::root);
        // The serial follows the change feed, wrapping as RFC 1982 allows.
        let serial = u32::try_from(serial.rem_euclid(i64::from(u32::MAX))).unwrap_or(0);
        let soa = SOA::new(mname, rname, serial, 3600, 600, 1_209_600, self.ttl);
        Record::from_rdata(self.apex.clone(), self.ttl, RData::SOA(soa))
    }

    fn addresses(&self, owner: &Name, qtype: RecordType) -> Vec<Record> {
        self.edge_addresses
            .iter()
            .filter_map(|ip| match (ip, qtype) {
                (IpAddr::V4(v4), RecordType::A | RecordType::ANY) => Some(Record::from_rdata(
                    owner.clone(),
                    self.ttl,
                    RData::A(A(*v4)),
                )),
                (IpAddr::V6(v6), RecordType::AAAA | RecordType::ANY) => Some(Record::from_rdata(
                    owner.clone(),
                    self.ttl,
                    RData::AAAA(AAAA(*v6)),
                )),
                _ => None,
            })
            .collect()
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
        qtype: RecordType,
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
                rcode: ResponseCode::Refused,
                authoritative: false,
                answers: Vec::new(),
                authority: Vec::new(),
            };
        };
        let owner = Name::from_ascii(format!("{qname}.")).unwrap_or_else(|_| Name::root());
        let serial = snapshot.seq();
        let mut exists = true;
        let mut answers = Vec::new();
        let wants = |t: RecordType| qtype == t || qtype == RecordType::ANY;
        match relative.rsplit_once('.') {
            None if relative.is_empty() => {
                if wants(RecordType::SOA) {
                    answers.push(self.soa(serial));
                }
                if wants(RecordType::NS) {
                    answers.extend(self.nameservers.iter().map(|ns| {
                        Record::from_rdata(owner.clone(), self.ttl, RData::NS(NS(ns.clone())))
                    }));
                }
            }
            None => match relative {
                "reports" => {
                    answers.extend(self.addresses(&owner, qtype));
                    if wants(RecordType::MX) {
                        answers.push(Record::from_rdata(
                            owner.clone(),
                            self.ttl,
                            RData::MX(MX::new(10, owner.clone())),
                        ));
                    }
                }
                "ns1" => answers.extend(self.addresses(&owner, qtype)),
                // Empty non-terminals above the labels.
                "edge" | "policy" | "report" => {}
                _ => exists = false,
            },
            Some((label, kind)) => match (snapshot.label(label), kind) {
                (Some(records), "edge") if records.edge => {
                    answers.extend(self.addresses(&owner, qtype));
                }
                (Some(records), "policy") => {
                    let now_ms = i64::try_from(
                        time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000,
                    )
                    .unwrap_or(i64::MAX);
                    let settle_ms = i64::try_from(self.settle.as_millis()).unwrap_or(i64::MAX);
                    if let Some(live) = records.announced(acked, now_ms, settle_ms)
                        && wants(RecordType::TXT)
                    {
                        let id = &live.id;
                        answers.push(Record::from_rdata(
                            owner.clone(),
                            self.txt_ttl,
                            RData::TXT(txt(&Self::sts_txt(id))),
                        ));
                    }
                }
                (Some(records), "report") if records.report => {
                    if wants(RecordType::TXT) {
                        answers.push(Record::from_rdata(
                            owner.clone(),
                            self.txt_ttl,
                            RData::TXT(txt(&self.tlsrpt_txt(label))),
                        ));
                    }
                }
                (Some(_), "edge" | "report") => {}
                _ => exists = false,
            },
        }
        let authority = if answers.is_empty() {
            vec![self.soa(serial)]
        } else {
            Vec::new()
        };
        Answer {
            rcode: if exists {
                ResponseCode::NoError
            } else {
                ResponseCode::NXDomain
            },
            authoritative: true,
            answers,
            authority,
        }
    }
}
