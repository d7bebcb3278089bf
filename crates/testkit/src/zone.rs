//! The fake zone's data and the answer logic: bytes in, bytes out, no I/O.

use std::collections::{HashMap, HashSet};

use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{CNAME, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// TTL of every record the fake server hands out.
pub(crate) const TTL: u32 = 60;
/// The UDP payload size the server advertises in its own OPT record.
const SERVER_UDP_PAYLOAD: u16 = 1232;
/// Largest UDP response for a query without EDNS (RFC 1035 §4.2.1).
const CLASSIC_UDP_LIMIT: usize = 512;
/// Longest CNAME chain followed inside the zone before giving up.
const MAX_CHAIN: usize = 8;

/// The transport a query came in on; decides whether a response may need truncating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// UDP: responses are limited to 512 octets, or the query's EDNS payload size.
    Udp,
    /// TCP: responses go out whole (up to 65,535 octets).
    Tcp,
}

/// The records of the fake zone, keyed by normalized owner name.
#[derive(Debug, Default)]
pub(crate) struct Zone {
    records: HashMap<String, Vec<RData>>,
    servfail: HashSet<String>,
}

/// The lookup key of a name: lower case, surrounding whitespace and one trailing dot removed.
pub(crate) fn key_of(name: &str) -> String {
    let name = name.trim();
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// Parses a target name (MX exchange, CNAME target) as a fully qualified wire name.
///
/// Returns `None` for text that is not a DNS name at all (for example a label over 63 octets).
pub(crate) fn wire_name(name: &str) -> Option<Name> {
    let key = key_of(name);
    if key.is_empty() {
        return Some(Name::root());
    }
    Name::from_ascii(format!("{key}.")).ok()
}

impl Zone {
    /// Replaces the records of `rtype` at `key` with `rdatas` (an empty list removes them).
    ///
    /// A CNAME cannot share its name with other data (RFC 1034 §3.6.2): setting a CNAME drops
    /// everything else at the name, and setting any other type drops a CNAME there.
    pub(crate) fn replace(&mut self, key: String, rtype: RecordType, rdatas: Vec<RData>) {
        let entry = self.records.entry(key).or_default();
        entry.retain(|rdata| {
            let existing = rdata.record_type();
            existing != rtype && rtype != RecordType::CNAME && existing != RecordType::CNAME
        });
        entry.extend(rdatas);
        self.records.retain(|_, rdatas| !rdatas.is_empty());
    }

    /// Removes every record at `key`.
    pub(crate) fn remove(&mut self, key: &str) {
        self.records.remove(key);
    }

    /// Makes queries for `key` answer SERVFAIL (or stop doing so).
    pub(crate) fn set_servfail(&mut self, key: String, on: bool) {
        if on {
            self.servfail.insert(key);
        } else {
            self.servfail.remove(&key);
        }
    }

    /// Whether `key` owns records or has names below it that do (an empty non-terminal).
    fn exists(&self, key: &str) -> bool {
        if self.records.contains_key(key) {
            return true;
        }
        if key.is_empty() {
            return !self.records.is_empty();
        }
        let suffix = format!(".{key}");
        self.records.keys().any(|owner| owner.ends_with(&suffix))
    }

    /// Answers one raw DNS message; `None` means "send nothing" (the input was a response, or
    /// too short to even carry an id).
    pub(crate) fn respond(&self, request: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let Ok(request) = Message::from_vec(request) else {
            return format_error(request);
        };
        if request.metadata.message_type != MessageType::Query {
            return None;
        }
        let response = self.answer(&request);
        let limit = match transport {
            Transport::Udp => request.edns.as_ref().map_or(CLASSIC_UDP_LIMIT, |edns| {
                usize::from(edns.max_payload()).max(CLASSIC_UDP_LIMIT)
            }),
            Transport::Tcp => usize::from(u16::MAX),
        };
        let Ok(encoded) = response.to_vec() else {
            return server_failure(&request);
        };
        if encoded.len() <= limit {
            return Some(encoded);
        }
        response.truncate().to_vec().ok()
    }

    /// Builds the response message for a decoded query.
    fn answer(&self, request: &Message) -> Message {
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata = Metadata::response_from_request(&request.metadata);
        if request.edns.is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(SERVER_UDP_PAYLOAD);
            response.set_edns(edns);
        }
        response.add_queries(request.queries.iter().cloned());

        if request.metadata.op_code != OpCode::Query {
            response.metadata.response_code = ResponseCode::NotImp;
            return response;
        }
        let [query] = request.queries.as_slice() else {
            response.metadata.response_code = ResponseCode::FormErr;
            return response;
        };
        if query.query_class() != DNSClass::IN {
            response.metadata.response_code = ResponseCode::Refused;
            return response;
        }
        let key = key_of(&query.name().to_ascii());
        if self.servfail.contains(&key) {
            response.metadata.response_code = ResponseCode::ServFail;
            return response;
        }

        response.metadata.authoritative = true;
        if !self.exists(&key) {
            response.metadata.response_code = ResponseCode::NXDomain;
        } else {
            response.add_answers(self.chase(query));
        }
        if response.answers.is_empty() {
            response.add_authority(soa_for(&key));
        }
        response
    }

    /// The answer records for `query`, following CNAMEs that stay inside the zone.
    fn chase(&self, query: &Query) -> Vec<Record> {
        let qtype = query.query_type();
        let mut answers = Vec::new();
        let mut owner = query.name().clone();
        let mut seen = HashSet::new();
        for _ in 0..MAX_CHAIN {
            let key = key_of(&owner.to_ascii());
            if !seen.insert(key.clone()) {
                break;
            }
            let Some(rdatas) = self.records.get(&key) else {
                break;
            };
            answers.extend(
                rdatas
                    .iter()
                    .filter(|rdata| qtype == RecordType::ANY || rdata.record_type() == qtype)
                    .map(|rdata| Record::from_rdata(owner.clone(), TTL, rdata.clone())),
            );
            if qtype == RecordType::CNAME || qtype == RecordType::ANY {
                break;
            }
            let Some(RData::CNAME(CNAME(target))) = rdatas
                .iter()
                .find(|rdata| rdata.record_type() == RecordType::CNAME)
            else {
                break;
            };
            answers.push(Record::from_rdata(
                owner.clone(),
                TTL,
                RData::CNAME(CNAME(target.clone())),
            ));
            owner = target.clone();
        }
        answers
    }
}

/// The SOA that goes in the authority section of a negative answer.
///
/// The fake zone has no real apex, so the last two labels of the name stand in for one.
fn soa_for(key: &str) -> Record {
    let labels: Vec<&str> = key.split('.').filter(|label| !label.is_empty()).collect();
    let apex = labels
        .get(labels.len().saturating_sub(2)..)
        .map(|apex| apex.join("."))
        .unwrap_or_default();
    let owner = wire_name(&apex).unwrap_or_else(Name::root);
    let mname = wire_name("ns.fake-dns.test").unwrap_or_else(Name::root);
    let rname = wire_name("hostmaster.fake-dns.test").unwrap_or_else(Name::root);
    let soa = SOA::new(mname, rname, 1, 3600, 600, 86_400, TTL);
    Record::from_rdata(owner, TTL, RData::SOA(soa))
}

/// FORMERR for a message that did not decode, when it is long enough to carry a header.
fn format_error(request: &[u8]) -> Option<Vec<u8>> {
    let [id_high, id_low, flags, ..] = *request else {
        return None;
    };
    if request.len() < 12 || flags & 0x80 != 0 {
        // Too short for a header, or a response: stay silent.
        return None;
    }
    let id = u16::from_be_bytes([id_high, id_low]);
    Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
        .to_vec()
        .ok()
}

/// SERVFAIL for a query whose answer could not be encoded.
fn server_failure(request: &Message) -> Option<Vec<u8>> {
    let mut response = Message::error_msg(
        request.metadata.id,
        request.metadata.op_code,
        ResponseCode::ServFail,
    );
    response.add_queries(request.queries.iter().cloned());
    response.to_vec().ok()
}
