//! DNS messages on the wire (RFC 1035 §4, EDNS0 from RFC 6891): reading a query and writing
//! the answer, without building a message object in between.
//!
//! Every record the zone serves is owned by the question's name or by the zone apex, which is a
//! suffix of the question's name whenever the zone answers with records. So an answer is the
//! request's header and question followed by records whose owners (and the names inside SOA,
//! NS and MX data) are two-byte pointers into that question. Nothing is looked up or
//! allocated per query beyond the answer itself.

use super::apex::WireName;
use super::tsig::TSIG;
use super::zone::{Answer, Data, Owner, Rcode, Rr, ZoneConfig};

/// Length of the DNS header.
pub(super) const HEADER: usize = 12;
/// Longest name on the wire (RFC 1035 §3.1), length octets and the root included.
const MAX_NAME: usize = 255;
/// Longest character-string inside a TXT record (RFC 1035 §3.3).
const TXT_CHUNK: usize = 255;
/// The OPT pseudo-record's type (RFC 6891 §6.1.1).
const OPT: u16 = 41;
/// Class IN.
const CLASS_IN: u16 = 1;
/// A full zone transfer (RFC 5936).
pub(super) const AXFR: u16 = 252;
/// An incremental zone transfer (RFC 1995).
pub(super) const IXFR: u16 = 251;
/// Class ANY, accepted in questions like IN.
const CLASS_ANY: u16 = 255;
/// The UDP payload size stsd offers and answers within (the DNS Flag Day 2020 value).
pub(super) const UDP_PAYLOAD: u16 = 1232;
/// Without EDNS a UDP answer must fit in 512 octets (RFC 1035 §4.2.1).
const UDP_PLAIN: usize = 512;

/// Response codes beyond what the zone decides: the protocol's own refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// FORMERR: the query is malformed.
    FormErr,
    /// NOTIMP: an opcode other than QUERY.
    NotImp,
    /// BADVERS: an EDNS version above 0 (RFC 6891 §6.1.3).
    BadVers,
    /// REFUSED: a class other than IN, a transfer to someone who may not have it.
    Refused,
    /// NOTAUTH: a TSIG that does not verify (RFC 8945 §5.2), a transfer of another zone.
    NotAuth,
}

impl Refusal {
    fn code(self) -> u16 {
        match self {
            Refusal::FormErr => 1,
            Refusal::NotImp => 4,
            Refusal::Refused => 5,
            Refusal::NotAuth => 9,
            Refusal::BadVers => 16,
        }
    }
}

/// The EDNS part of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Edns {
    /// The requester's UDP payload size.
    pub(super) payload: u16,
}

/// A query read from the wire, borrowing the message.
#[derive(Debug)]
pub(super) struct Query<'a> {
    id: [u8; 2],
    /// Opcode, RD and CD, as the response repeats them.
    opcode: u8,
    rd: bool,
    cd: bool,
    /// The question as received: name (case kept), type and class.
    question: Option<&'a [u8]>,
    /// Length of the question's name on the wire.
    name_len: usize,
    /// The question's type.
    pub(super) qtype: u16,
    edns: Option<Edns>,
    /// The message ends with a TSIG record (RFC 8945): it is answered on the signed path.
    pub(super) signed: bool,
    /// Set when the query gets an error instead of an answer from the zone.
    pub(super) refusal: Option<Refusal>,
}

/// What to do with a received message.
#[derive(Debug)]
pub(super) enum Parsed<'a> {
    /// Send nothing: shorter than a header, or a response (answering responses would let two
    /// servers reflect each other forever).
    Drop,
    /// Answer it.
    Query(Query<'a>),
}

fn u16_at(msg: &[u8], at: usize) -> Option<u16> {
    let b = msg.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Reads the uncompressed name at `at` into `name` as lower-case dotted text. Returns the
/// offset after it. Bytes that cannot appear in a host name (`.` inside a label, non-ASCII)
/// are kept as characters no zone name contains, so such a name simply does not exist.
fn read_question_name(msg: &[u8], mut at: usize, name: &mut String) -> Option<usize> {
    let start = at;
    name.clear();
    loop {
        let len = usize::from(*msg.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        // A pointer (or the reserved 0x40/0x80 forms) cannot appear in the first name of a
        // message: there is nothing before it to point to.
        if len > 63 {
            return None;
        }
        let label = msg.get(at..at + len)?;
        at += len;
        if at - start > MAX_NAME {
            return None;
        }
        if !name.is_empty() {
            name.push('.');
        }
        name.extend(label.iter().map(|&b| match b {
            b'.' => '\u{0}',
            b => char::from(b.to_ascii_lowercase()),
        }));
    }
    (at - start <= MAX_NAME).then_some(at)
}

/// Skips a possibly compressed name; returns the offset after it.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            1..=63 => at += 1 + usize::from(len),
            // A pointer ends the name.
            0xC0..=0xFF => return msg.get(at + 1).map(|_| at + 2),
            _ => return None,
        }
    }
}

/// Reads a query. `name` receives the question's name, lower case, without a trailing dot.
pub(super) fn parse<'a>(msg: &'a [u8], name: &mut String) -> Parsed<'a> {
    let Some(header) = msg.get(..HEADER) else {
        return Parsed::Drop;
    };
    if header[2] & 0x80 != 0 {
        return Parsed::Drop;
    }
    let mut query = Query {
        id: [header[0], header[1]],
        opcode: (header[2] >> 3) & 0x0F,
        rd: header[2] & 0x01 != 0,
        cd: header[3] & 0x10 != 0,
        question: None,
        name_len: 0,
        qtype: 0,
        edns: None,
        signed: false,
        refusal: None,
    };
    match read_sections(msg, name, &mut query) {
        Some(()) => {}
        None => query.refusal = Some(Refusal::FormErr),
    }
    Parsed::Query(query)
}

/// Reads the question and the EDNS record into `query`; `None` means malformed.
fn read_sections<'a>(msg: &'a [u8], name: &mut String, query: &mut Query<'a>) -> Option<()> {
    let count = |at| u16_at(msg, at);
    let (qd, an, ns, ar) = (count(4)?, count(6)?, count(8)?, count(10)?);
    let mut at = HEADER;
    if qd == 1 {
        let end = read_question_name(msg, at, name)?;
        let qtype = u16_at(msg, end)?;
        let qclass = u16_at(msg, end + 2)?;
        query.question = Some(msg.get(at..end + 4)?);
        query.name_len = end - at;
        query.qtype = qtype;
        if qclass != CLASS_IN && qclass != CLASS_ANY {
            query.refusal = Some(Refusal::Refused);
        }
        at = end + 4;
    } else if qd > 1 {
        // RFC 9619: exactly one question.
        return None;
    }
    let mut edns = None;
    for i in 0..u32::from(an) + u32::from(ns) + u32::from(ar) {
        let name_start = at;
        at = skip_name(msg, at)?;
        let rtype = u16_at(msg, at)?;
        let class = u16_at(msg, at + 2)?;
        let ttl = msg.get(at + 4..at + 8)?;
        let rdlen = usize::from(u16_at(msg, at + 8)?);
        let rdata_end = at + 10 + rdlen;
        msg.get(at + 10..rdata_end)?;
        if rtype == TSIG {
            // Only as the very last record (RFC 8945 §5.1).
            if i + 1 != u32::from(an) + u32::from(ns) + u32::from(ar) || ar == 0 {
                return None;
            }
            query.signed = true;
        }
        if rtype == OPT {
            let additional = i >= u32::from(an) + u32::from(ns);
            // One OPT, in the additional section, owned by the root (RFC 6891 §6.1.1).
            if !additional || edns.is_some() || msg.get(name_start) != Some(&0) {
                return None;
            }
            edns = Some((Edns { payload: class }, ttl[1]));
        }
        at = rdata_end;
    }
    if qd == 0 {
        return None;
    }
    if let Some((e, version)) = edns {
        query.edns = Some(e);
        if version > 0 {
            query.refusal = Some(Refusal::BadVers);
        }
    }
    if query.opcode != 0 {
        query.refusal = Some(Refusal::NotImp);
    }
    Some(())
}

impl Query<'_> {
    /// Whether this is a zone transfer request (AXFR or IXFR) that the zone may answer.
    pub(super) fn is_transfer(&self) -> bool {
        self.refusal.is_none() && matches!(self.qtype, AXFR | IXFR)
    }

    /// The largest answer the requester takes over UDP.
    pub(super) fn udp_limit(&self) -> usize {
        match self.edns {
            Some(e) => usize::from(e.payload.clamp(512, UDP_PAYLOAD)),
            None => UDP_PLAIN,
        }
    }
}

/// The answer of a refused query: no records (the response code comes from the refusal).
pub(super) fn empty_answer() -> Answer {
    Answer {
        rcode: Rcode::NoError,
        authoritative: false,
        answers: Vec::new(),
        authority: Vec::new(),
    }
}

/// The response code and the AA flag of the response to `query`.
fn rcode_and_aa(query: &Query<'_>, answer: &Answer) -> (u16, bool) {
    let rcode = match (query.refusal, answer.rcode) {
        (Some(r), _) => r.code(),
        (None, Rcode::NoError) => 0,
        (None, Rcode::NxDomain) => 3,
        (None, Rcode::Refused) => 5,
    };
    (rcode, query.refusal.is_none() && answer.authoritative)
}

/// Writes the response to `query` into `out` (cleared first). Answers larger than `limit`
/// are truncated (TC set, no records) so that the requester retries over TCP.
pub(super) fn write_response(
    query: &Query<'_>,
    answer: &Answer,
    zone: &ZoneConfig,
    limit: usize,
    out: &mut Vec<u8>,
) {
    out.clear();
    let (rcode, aa) = rcode_and_aa(query, answer);
    let records = query.refusal.is_none();
    write_header(query, aa, false, rcode, out);
    let Some(question) = query.question else {
        set_counts(out, 0, 0, 0);
        write_opt(query, rcode, out);
        return;
    };
    out.extend_from_slice(question);
    // The apex is the question name's suffix whenever the zone answers with records (it
    // answers only for names in the zone), so every owner can point into the question.
    let apex = (HEADER + query.name_len)
        .checked_sub(zone.zone_wire_len())
        .filter(|&a| a >= HEADER);
    let (mut an, mut ns) = (0u16, 0u16);
    if records && let Some(apex) = apex {
        for rr in &answer.answers {
            write_rr(rr, apex, zone, out);
            an += 1;
        }
        for rr in &answer.authority {
            write_rr(rr, apex, zone, out);
            ns += 1;
        }
    }
    set_counts(out, 1, an, ns);
    write_opt(query, rcode, out);
    if out.len() > limit {
        write_truncated(query, answer, out);
    }
}

/// Writes a response to `query` with response code `refusal` and no records.
pub(super) fn write_refusal(query: &Query<'_>, refusal: Refusal, out: &mut Vec<u8>) {
    out.clear();
    let rcode = refusal.code();
    write_header(query, false, false, rcode, out);
    let qd = match query.question {
        Some(question) => {
            out.extend_from_slice(question);
            1
        }
        None => 0,
    };
    set_counts(out, qd, 0, 0);
    write_opt(query, rcode, out);
}

/// Starts a message of a zone transfer's answer in `out` (cleared first): the header (AA,
/// NOERROR) and the question, whose name is the apex the records point to.
pub(super) fn begin_transfer_message(query: &Query<'_>, out: &mut Vec<u8>) {
    out.clear();
    write_header(query, true, false, 0, out);
    let qd = match query.question {
        Some(question) => {
            out.extend_from_slice(question);
            1
        }
        None => 0,
    };
    set_counts(out, qd, 0, 0);
}

/// Sets the answer count of a message written by [`begin_transfer_message`].
pub(super) fn set_answer_count(out: &mut [u8], count: u16) {
    if let Some(an) = out.get_mut(6..8) {
        an.copy_from_slice(&count.to_be_bytes());
    }
}

/// The serial of the SOA in an IXFR request's authority section: the version the secondary
/// has (RFC 1995 §3).
pub(super) fn ixfr_serial(msg: &[u8]) -> Option<u32> {
    let (qd, an, ns) = (u16_at(msg, 4)?, u16_at(msg, 6)?, u16_at(msg, 8)?);
    if qd != 1 || an != 0 || ns == 0 {
        return None;
    }
    let at = skip_name(msg, HEADER)? + 4;
    let name_end = skip_name(msg, at)?;
    if u16_at(msg, name_end)? != super::zone::rtype::SOA {
        return None;
    }
    let rdata = name_end + 10;
    let (_, after_mname) = super::tsig::read_name(msg, rdata)?;
    let (_, after_rname) = super::tsig::read_name(msg, after_mname)?;
    let serial = msg.get(after_rname..after_rname + 4)?;
    Some(u32::from_be_bytes([
        serial[0], serial[1], serial[2], serial[3],
    ]))
}

/// Writes the truncated response to `query` into `out` (cleared first): its header with TC
/// set, the question and no records, so that the requester asks again over TCP. Sent for
/// answers too large for UDP and, by rate limiting, instead of a full answer.
pub(super) fn write_truncated(query: &Query<'_>, answer: &Answer, out: &mut Vec<u8>) {
    out.clear();
    let (rcode, aa) = rcode_and_aa(query, answer);
    write_header(query, aa, true, rcode, out);
    let qd = match query.question {
        Some(question) => {
            out.extend_from_slice(question);
            1
        }
        None => 0,
    };
    set_counts(out, qd, 0, 0);
    write_opt(query, rcode, out);
}

fn write_header(query: &Query<'_>, aa: bool, tc: bool, rcode: u16, out: &mut Vec<u8>) {
    out.extend_from_slice(&query.id);
    let flags1 =
        0x80 | (query.opcode << 3) | (u8::from(aa) << 2) | (u8::from(tc) << 1) | u8::from(query.rd);
    // The low four bits of the response code; EDNS carries the rest.
    let flags2 = (u8::from(query.cd) << 4) | (rcode & 0x0F) as u8;
    out.extend_from_slice(&[flags1, flags2]);
    out.extend_from_slice(&[0; 8]);
}

fn set_counts(out: &mut [u8], qd: u16, an: u16, ns: u16) {
    out[4..6].copy_from_slice(&qd.to_be_bytes());
    out[6..8].copy_from_slice(&an.to_be_bytes());
    out[8..10].copy_from_slice(&ns.to_be_bytes());
}

/// Appends the OPT record when the query had one (RFC 6891 §7: never otherwise).
fn write_opt(query: &Query<'_>, rcode: u16, out: &mut Vec<u8>) {
    if query.edns.is_none() {
        return;
    }
    out.push(0);
    out.extend_from_slice(&OPT.to_be_bytes());
    out.extend_from_slice(&UDP_PAYLOAD.to_be_bytes());
    // Extended RCODE (upper eight bits), version 0, no flags, no options.
    out.extend_from_slice(&[(rcode >> 4) as u8, 0, 0, 0, 0, 0]);
    out[10..12].copy_from_slice(&1u16.to_be_bytes());
}

/// A pointer to `offset` (RFC 1035 §4.1.4).
fn pointer(offset: usize) -> [u8; 2] {
    // Offsets here lie inside the question, far below the 14-bit limit.
    let o = (offset & 0x3FFF) as u16;
    (0xC000 | o).to_be_bytes()
}

/// Appends a name written under the apex or in full.
fn write_name(name: &WireName, apex: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&name.labels);
    if name.under_apex {
        out.extend_from_slice(&pointer(apex));
    } else {
        out.push(0);
    }
}

/// Appends one record; `apex` is where the zone's name starts inside the question.
fn write_rr(rr: &Rr, apex: usize, zone: &ZoneConfig, out: &mut Vec<u8>) {
    let owner = match rr.owner {
        Owner::Question => HEADER,
        Owner::Apex => apex,
    };
    out.extend_from_slice(&pointer(owner));
    write_rr_data(rr, owner, apex, zone, out);
}

/// Appends a record owned by `relative` (labels above the apex, nearest the root last) to a
/// message whose question is the zone apex: a zone transfer's.
pub(super) fn write_rr_under_apex(
    relative: &[&str],
    rr: &Rr,
    zone: &ZoneConfig,
    out: &mut Vec<u8>,
) {
    let owner = out.len();
    for label in relative {
        // Labels come from the snapshot, which holds only valid ones (≤ 63 octets).
        out.push(u8::try_from(label.len()).unwrap_or(63));
        out.extend_from_slice(label.as_bytes());
    }
    out.extend_from_slice(&pointer(HEADER));
    let owner = if relative.is_empty() { HEADER } else { owner };
    write_rr_data(rr, owner, HEADER, zone, out);
}

/// Appends a record's type, class, TTL and data; `owner` is where its owner name starts.
fn write_rr_data(rr: &Rr, owner: usize, apex: usize, zone: &ZoneConfig, out: &mut Vec<u8>) {
    out.extend_from_slice(&rr.rtype().to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&rr.ttl.to_be_bytes());
    let len_at = out.len();
    out.extend_from_slice(&[0, 0]);
    match &rr.data {
        Data::A(v4) => out.extend_from_slice(&v4.octets()),
        Data::Aaaa(v6) => out.extend_from_slice(&v6.octets()),
        Data::Txt(text) => {
            for chunk in text.as_bytes().chunks(TXT_CHUNK) {
                out.push(chunk.len() as u8);
                out.extend_from_slice(chunk);
            }
            if text.is_empty() {
                out.push(0);
            }
        }
        Data::Ns(index) => match zone.nameservers().get(usize::from(*index)) {
            Some(ns) => write_name(&ns.wire, apex, out),
            None => out.push(0),
        },
        // The exchange is the owner itself: `reports.<zone>`.
        Data::MxSelf(preference) => {
            out.extend_from_slice(&preference.to_be_bytes());
            out.extend_from_slice(&pointer(owner));
        }
        Data::Soa(serial) => {
            let soa = zone.soa_fields();
            write_name(&soa.mname, apex, out);
            write_name(&soa.rname, apex, out);
            out.extend_from_slice(&serial.to_be_bytes());
            for v in [soa.refresh, soa.retry, soa.expire, soa.minimum] {
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
    }
    let rdlen = (out.len() - len_at - 2) as u16;
    out[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
}

/// The wire length of a dotted name (without trailing dot): its text plus a length octet per
/// label and the root octet.
pub(crate) fn wire_len(dotted: &str) -> usize {
    if dotted.is_empty() {
        1
    } else {
        dotted.len() + 2
    }
}
