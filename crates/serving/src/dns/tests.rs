//! The wire path checked against an independent DNS implementation: queries are built and
//! answers read with hickory-proto, so a mistake in the hand-written encoder shows up as a
//! parse error or a wrong field, not as the encoder agreeing with itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::time::Instant;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use proptest::prelude::*;
use stsd_core::{DomainName, PolicyId};
use stsd_store::LiveId;

use super::{RrlConfig, Transport, Via, ZoneConfig, respond, rrl};
use crate::snapshot::{Acknowledged, LabelRecords, Snapshot};

const ZONE: &str = "sts.example.net";

fn zone() -> ZoneConfig {
    let addrs: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
    ZoneConfig::new(DomainName::parse_host(ZONE).unwrap(), addrs)
}

fn snapshot() -> Snapshot {
    let mut s = Snapshot {
        seq: 77,
        ..Snapshot::default()
    };
    s.labels.insert(
        "abc123".to_owned(),
        LabelRecords {
            edge: true,
            policy_ids: vec![LiveId {
                id: "20261126T120000".parse::<PolicyId>().unwrap(),
                seq: 70,
                live_at_ms: 0,
            }],
            report: true,
            extra_rua: Vec::new(),
        },
    );
    s.labels.insert(
        "pending".to_owned(),
        LabelRecords {
            edge: false,
            policy_ids: Vec::new(),
            report: false,
            extra_rua: Vec::new(),
        },
    );
    s.labels.insert(
        "kept".to_owned(),
        LabelRecords {
            edge: true,
            policy_ids: Vec::new(),
            report: true,
            extra_rua: vec![
                "mailto:tls@self.example".to_owned(),
                "https://reports.self.example/tlsrpt".to_owned(),
            ],
        },
    );
    s
}

/// Answers `msg` the way the servers do, without rate limiting; `None` when nothing is sent.
fn answer_raw(zone: &ZoneConfig, msg: &[u8], udp: bool) -> Option<Vec<u8>> {
    let mut off = rrl::Limiter::new(&RrlConfig {
        enabled: false,
        ..RrlConfig::default()
    });
    let via = if udp {
        Via::Udp {
            client: "192.0.2.53".parse().unwrap(),
            now: Instant::now(),
            rrl: &mut off,
        }
    } else {
        Via::Tcp
    };
    answer_via(zone, msg, via)
}

/// Answers `msg` as it came `via`; `None` when nothing is sent.
fn answer_via(zone: &ZoneConfig, msg: &[u8], via: Via<'_>) -> Option<Vec<u8>> {
    let mut name = String::new();
    let mut out = Vec::new();
    let sent = respond(
        zone,
        &snapshot(),
        Acknowledged::Seq(77),
        Transport { msg, via },
        &mut name,
        &mut out,
    );
    sent.then_some(out)
}

fn query_message(name: &str, qtype: RecordType, edns: Option<u16>) -> Message {
    let mut m = Message::query();
    m.metadata.id = 0xBEEF;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(payload) = edns {
        let mut e = Edns::new();
        e.set_max_payload(payload);
        m.edns = Some(e);
    }
    m
}

fn ask(name: &str, qtype: RecordType) -> Message {
    let bytes = query_message(name, qtype, Some(1232)).to_vec().unwrap();
    Message::from_vec(&answer_raw(&zone(), &bytes, true).unwrap()).unwrap()
}

fn txt_of(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

#[test]
fn header_and_question_are_repeated() {
    let m = ask("ABC123.Policy.sts.EXAMPLE.net.", RecordType::TXT);
    assert_eq!(m.metadata.id, 0xBEEF);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    assert_eq!(m.metadata.op_code, OpCode::Query);
    assert!(m.metadata.authoritative);
    assert!(m.metadata.recursion_desired);
    assert!(!m.metadata.recursion_available);
    assert!(!m.metadata.truncation);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    // The question as asked, case included (resolvers check it: 0x20 randomisation).
    assert_eq!(
        m.queries[0].name().to_ascii(),
        "ABC123.Policy.sts.EXAMPLE.net."
    );
    assert_eq!(txt_of(&m), ["v=STSv1; id=20261126T120000;"]);
    assert_eq!(m.answers[0].ttl, 300);
    assert_eq!(
        m.answers[0].name.to_ascii(),
        "ABC123.Policy.sts.EXAMPLE.net."
    );
    assert_eq!(m.edns.as_ref().unwrap().max_payload(), 1232);
}

#[test]
fn every_record_kind() {
    let m = ask("abc123.report.sts.example.net.", RecordType::TXT);
    assert_eq!(
        txt_of(&m),
        [
            "v=TLSRPTv1; rua=mailto:abc123@reports.sts.example.net,https://reports.sts.example.net/v1/tlsrpt/abc123"
        ]
    );
    // A customer's own destinations follow stsd's.
    let m = ask("kept.report.sts.example.net.", RecordType::TXT);
    assert_eq!(
        txt_of(&m),
        [
            "v=TLSRPTv1; rua=mailto:kept@reports.sts.example.net,https://reports.sts.example.net/v1/tlsrpt/kept,mailto:tls@self.example,https://reports.self.example/tlsrpt"
        ]
    );
    let m = ask("abc123.edge.sts.example.net.", RecordType::A);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(
        m.answers[0].data,
        RData::A("192.0.2.1".parse::<std::net::Ipv4Addr>().unwrap().into())
    );
    let m = ask("abc123.edge.sts.example.net.", RecordType::AAAA);
    assert_eq!(
        m.answers[0].data,
        RData::AAAA("2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap().into())
    );

    let m = ask("reports.sts.example.net.", RecordType::MX);
    match &m.answers[0].data {
        RData::MX(mx) => {
            assert_eq!(mx.preference, 10);
            assert_eq!(mx.exchange.to_ascii(), "reports.sts.example.net.");
        }
        other => panic!("{other:?}"),
    }
    let m = ask("sts.example.net.", RecordType::NS);
    match &m.answers[0].data {
        RData::NS(ns) => assert_eq!(ns.0.to_ascii(), "ns1.sts.example.net."),
        other => panic!("{other:?}"),
    }
    let m = ask("sts.example.net.", RecordType::SOA);
    match &m.answers[0].data {
        RData::SOA(soa) => {
            assert_eq!(soa.mname.to_ascii(), "ns1.sts.example.net.");
            assert_eq!(soa.rname.to_ascii(), "hostmaster.sts.example.net.");
            // The snapshot's position plus the edges' acknowledgement (both 77).
            assert_eq!(soa.serial, 154);
            assert_eq!(soa.minimum, 300);
            assert_eq!(
                (soa.refresh, soa.retry, soa.expire),
                (14_400, 3_600, 1_209_600)
            );
        }
        other => panic!("{other:?}"),
    }
    let m = ask("ns1.sts.example.net.", RecordType::A);
    assert_eq!(m.answers.len(), 1);
}

#[test]
fn negative_answers_carry_the_soa() {
    // NODATA: the name exists without the type.
    for (name, qtype) in [
        ("abc123.edge.sts.example.net.", RecordType::TXT),
        ("pending.policy.sts.example.net.", RecordType::TXT),
        ("pending.edge.sts.example.net.", RecordType::A),
        ("policy.sts.example.net.", RecordType::TXT),
    ] {
        let m = ask(name, qtype);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
        assert!(m.answers.is_empty());
        assert_eq!(m.authorities.len(), 1);
        assert_eq!(m.authorities[0].name.to_ascii(), "sts.example.net.");
        assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
    }
    // NXDOMAIN, with the apex found inside a question in upper case.
    for name in [
        "nothing.sts.example.net.",
        "UNKNOWN.EDGE.STS.EXAMPLE.NET.",
        "a.b.abc123.policy.sts.example.net.",
    ] {
        let m = ask(name, RecordType::A);
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{name}");
        assert_eq!(
            m.authorities[0].name.to_ascii().to_lowercase(),
            "sts.example.net."
        );
    }
    let m = ask("example.com.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(!m.metadata.authoritative);
    assert!(m.answers.is_empty() && m.authorities.is_empty());
    // A name that only ends like the zone is outside it.
    let m = ask("xsts.example.net.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
}

#[test]
fn no_edns_in_no_edns_out() {
    let bytes = query_message("abc123.policy.sts.example.net.", RecordType::TXT, None)
        .to_vec()
        .unwrap();
    let m = Message::from_vec(&answer_raw(&zone(), &bytes, true).unwrap()).unwrap();
    assert!(m.edns.is_none());
    assert_eq!(txt_of(&m).len(), 1);
}

#[test]
fn protocol_refusals() {
    // EDNS version 1: BADVERS, an extended response code.
    let mut q = query_message(
        "abc123.policy.sts.example.net.",
        RecordType::TXT,
        Some(1232),
    );
    q.edns.as_mut().unwrap().set_version(1);
    let m = Message::from_vec(&answer_raw(&zone(), &q.to_vec().unwrap(), true).unwrap()).unwrap();
    // 16 is BADVERS for OPT (and BADSIG for TSIG, which hickory reads it as).
    assert_eq!(u16::from(m.metadata.response_code), 16);
    assert!(m.answers.is_empty());

    // Opcode other than QUERY.
    let mut q = query_message("abc123.policy.sts.example.net.", RecordType::TXT, None);
    q.metadata.op_code = OpCode::Status;
    let m = Message::from_vec(&answer_raw(&zone(), &q.to_vec().unwrap(), true).unwrap()).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);
    assert_eq!(m.metadata.op_code, OpCode::Status);

    // Two questions, and none.
    let mut q = query_message("abc123.policy.sts.example.net.", RecordType::TXT, None);
    q.add_query(Query::query(
        Name::from_ascii("sts.example.net.").unwrap(),
        RecordType::A,
    ));
    let m = Message::from_vec(&answer_raw(&zone(), &q.to_vec().unwrap(), true).unwrap()).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    let mut q = Message::query();
    q.metadata.id = 9;
    let m = Message::from_vec(&answer_raw(&zone(), &q.to_vec().unwrap(), true).unwrap()).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(m.metadata.id, 9);

    // Class CHAOS is not served.
    let mut q = query_message("sts.example.net.", RecordType::SOA, None);
    q.queries[0].query_class = DNSClass::CH;
    let m = Message::from_vec(&answer_raw(&zone(), &q.to_vec().unwrap(), true).unwrap()).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);

    // Responses and runts get nothing back.
    let mut r = query_message("sts.example.net.", RecordType::SOA, None);
    r.metadata.message_type = MessageType::Response;
    assert!(answer_raw(&zone(), &r.to_vec().unwrap(), true).is_none());
    assert!(answer_raw(&zone(), &[0u8; 11], true).is_none());
}

#[test]
fn large_answers_are_truncated_over_udp_only() {
    // A long zone name makes the TLS-RPT record (which names the zone twice) exceed 512
    // octets.
    let long_zone = format!(
        "{}.{}.{}.example",
        "a".repeat(60),
        "b".repeat(60),
        "c".repeat(60)
    );
    let zone = ZoneConfig::new(
        DomainName::parse_host(&long_zone).unwrap(),
        vec!["192.0.2.1".parse().unwrap()],
    );
    let name = format!("abc123.report.{long_zone}.");
    let plain = query_message(&name, RecordType::TXT, None)
        .to_vec()
        .unwrap();
    let m = Message::from_vec(&answer_raw(&zone, &plain, true).unwrap()).unwrap();
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
    assert_eq!(m.queries.len(), 1);
    let full = Message::from_vec(&answer_raw(&zone, &plain, false).unwrap()).unwrap();
    assert!(!full.metadata.truncation);
    let text = txt_of(&full);
    assert_eq!(text.len(), 1);
    assert!(text[0].len() > 255, "split over several strings");
    assert!(text[0].ends_with("/v1/tlsrpt/abc123"));
    // With EDNS the same answer fits.
    let edns = query_message(&name, RecordType::TXT, Some(1232))
        .to_vec()
        .unwrap();
    let m = Message::from_vec(&answer_raw(&zone, &edns, true).unwrap()).unwrap();
    assert!(!m.metadata.truncation);
    assert_eq!(txt_of(&m), text);
}

#[test]
fn odd_names_do_not_exist() {
    // A label holding a dot, and bytes outside ASCII, under the zone.
    let mut q = query_message("x.sts.example.net.", RecordType::TXT, None)
        .to_vec()
        .unwrap();
    // Turn "x" into "." (0x2E) and then into 0xFF.
    let at = q.iter().position(|&b| b == b'x').unwrap();
    for byte in [b'.', 0xFF] {
        q[at] = byte;
        let m = Message::from_vec(&answer_raw(&zone(), &q, true).unwrap()).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    }
}

proptest! {
    /// Nothing a peer sends panics the parser or the encoder, and whatever is sent back is a
    /// DNS message another implementation can read.
    #[test]
    fn any_bytes_are_answered_safely(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Some(out) = answer_raw(&zone(), &bytes, true) {
            prop_assert!(Message::from_vec(&out).is_ok());
        }
    }

    /// Every prefix of a real query, and every single-byte corruption of it, is answered
    /// safely too (these reach deeper than random bytes).
    #[test]
    fn corrupted_queries_are_answered_safely(cut in 0usize..80, at in 0usize..80, byte in any::<u8>()) {
        let q = query_message("abc123.policy.sts.example.net.", RecordType::TXT, Some(1232))
            .to_vec()
            .unwrap();
        let prefix = &q[..cut.min(q.len())];
        if let Some(out) = answer_raw(&zone(), prefix, true) {
            prop_assert!(Message::from_vec(&out).is_ok());
        }
        let mut changed = q.clone();
        let i = at % changed.len();
        changed[i] = byte;
        if let Some(out) = answer_raw(&zone(), &changed, true) {
            prop_assert!(Message::from_vec(&out).is_ok());
        }
    }
}

#[test]
fn any_gets_one_rrset() {
    // RFC 8482 §4.1: one RRset of the name, not every record it has.
    for (name, rtype) in [
        ("abc123.edge.sts.example.net.", RecordType::A),
        ("abc123.policy.sts.example.net.", RecordType::TXT),
        ("abc123.report.sts.example.net.", RecordType::TXT),
        ("reports.sts.example.net.", RecordType::A),
        ("ns1.sts.example.net.", RecordType::A),
        ("sts.example.net.", RecordType::SOA),
    ] {
        for udp in [true, false] {
            let q = query_message(name, RecordType::ANY, Some(1232));
            let out = answer_raw(&zone(), &q.to_vec().unwrap(), udp).unwrap();
            let m = Message::from_vec(&out).unwrap();
            assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{name}");
            assert!(m.metadata.authoritative);
            assert_eq!(m.queries[0].query_type(), RecordType::ANY);
            let types: Vec<RecordType> = m.answers.iter().map(|r| r.record_type()).collect();
            assert_eq!(types, [rtype], "{name} udp={udp}");
            assert!(m.authorities.is_empty());
        }
    }
    // The whole RRset, not one record of it: a zone with two IPv4 edge addresses.
    let two = ZoneConfig::new(
        DomainName::parse_host(ZONE).unwrap(),
        vec![
            "192.0.2.1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
        ],
    );
    let q = query_message("abc123.edge.sts.example.net.", RecordType::ANY, None);
    let m = Message::from_vec(&answer_raw(&two, &q.to_vec().unwrap(), true).unwrap()).unwrap();
    let types: Vec<RecordType> = m.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types, [RecordType::A, RecordType::A]);
    // Names without records and names that do not exist answer as for any other type.
    let m = ask("policy.sts.example.net.", RecordType::ANY);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty() && m.authorities.len() == 1);
    let m = ask("nothing.sts.example.net.", RecordType::ANY);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn rate_limited_answers_slip_or_drop_over_udp_only() {
    let mut limiter = rrl::Limiter::new(&RrlConfig {
        rate: 3,
        burst: 3,
        slip: 2,
        ..RrlConfig::default()
    });
    let now = Instant::now();
    let client: IpAddr = "198.51.100.7".parse().unwrap();
    let q = query_message(
        "abc123.policy.sts.example.net.",
        RecordType::TXT,
        Some(1232),
    );
    let bytes = q.to_vec().unwrap();
    let mut answers = Vec::new();
    for _ in 0..7 {
        let via = Via::Udp {
            client,
            now,
            rrl: &mut limiter,
        };
        answers.push(answer_via(&zone(), &bytes, via).map(|out| Message::from_vec(&out).unwrap()));
    }
    // The burst in full...
    for m in answers[..3].iter().map(|m| m.as_ref().unwrap()) {
        assert!(!m.metadata.truncation);
        assert_eq!(txt_of(m).len(), 1);
    }
    // ...then truncated and dropped in turn.
    let truncated = |m: &Option<Message>| {
        let m = m.as_ref().expect("a truncated answer");
        m.metadata.truncation
            && m.answers.is_empty()
            && m.authorities.is_empty()
            && m.metadata.id == 0xBEEF
            && m.metadata.response_code == ResponseCode::NoError
            && m.queries[0].name().to_ascii() == "abc123.policy.sts.example.net."
            && m.edns.is_some()
    };
    assert!(truncated(&answers[3]));
    assert!(answers[4].is_none());
    assert!(truncated(&answers[5]));
    assert!(answers[6].is_none());
    // TCP is never limited.
    let m = Message::from_vec(&answer_via(&zone(), &bytes, Via::Tcp).unwrap()).unwrap();
    assert_eq!(txt_of(&m).len(), 1);
}

/// The zone of [`zone`] with two name servers inside it (one with two addresses), one
/// outside, an operator's mailbox and timers.
fn delegated_zone() -> ZoneConfig {
    let z = DomainName::parse_host(ZONE).unwrap();
    let ns = super::Nameservers::parse(
        &z,
        &[
            "ns1.sts.example.net@192.0.2.53".to_owned(),
            "ns1.sts.example.net@2001:db8::53".to_owned(),
            "ns2.sts.example.net@198.51.100.53".to_owned(),
            "ns.provider.example".to_owned(),
        ],
    )
    .unwrap();
    let soa = super::Soa::new(
        &z,
        &ns,
        &super::SoaSettings {
            mailbox: Some("dns.admin@operator.example".to_owned()),
            refresh: Some(7_200),
            retry: Some(1_800),
            expire: Some(2_419_200),
            minimum: Some(600),
            mname: None,
        },
    )
    .unwrap();
    zone().with_nameservers(ns, soa)
}

#[test]
fn the_apex_lists_every_name_server_and_answers_glue() {
    let zone = delegated_zone();
    let m = ask_zone(&zone, "sts.example.net.", RecordType::NS);
    let names: Vec<String> = m
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::NS(ns) => ns.0.to_ascii(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [
            "ns1.sts.example.net.",
            "ns2.sts.example.net.",
            "ns.provider.example."
        ]
    );
    let m = ask_zone(&zone, "NS1.sts.example.net.", RecordType::A);
    assert_eq!(
        m.answers.iter().map(|r| r.data.clone()).collect::<Vec<_>>(),
        [RData::A(
            "192.0.2.53".parse::<std::net::Ipv4Addr>().unwrap().into()
        )]
    );
    let m = ask_zone(&zone, "ns1.sts.example.net.", RecordType::AAAA);
    assert_eq!(m.answers.len(), 1);
    let m = ask_zone(&zone, "ns2.sts.example.net.", RecordType::A);
    assert_eq!(
        m.answers[0].data,
        RData::A(
            "198.51.100.53"
                .parse::<std::net::Ipv4Addr>()
                .unwrap()
                .into()
        )
    );
    // The default name server is gone with the configuration that replaced it.
    let m = ask_zone(&zone, "ns3.sts.example.net.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);

    let m = ask_zone(&zone, "sts.example.net.", RecordType::SOA);
    match &m.answers[0].data {
        RData::SOA(soa) => {
            assert_eq!(soa.mname.to_ascii(), "ns1.sts.example.net.");
            // The local part keeps its dot, escaped in presentation form.
            assert_eq!(soa.rname.to_ascii(), "dns\\.admin.operator.example.");
            assert_eq!(
                (soa.refresh, soa.retry, soa.expire, soa.minimum),
                (7_200, 1_800, 2_419_200, 600)
            );
        }
        other => panic!("{other:?}"),
    }
}

fn ask_zone(zone: &ZoneConfig, name: &str, qtype: RecordType) -> Message {
    let q = query_message(name, qtype, Some(1232)).to_vec().unwrap();
    Message::from_vec(&answer_raw(zone, &q, true).unwrap()).unwrap()
}

#[test]
fn transfers_outside_the_transfer_path_are_refused() {
    // Over UDP, and over TCP when it reaches the query path (no secondary asked), AXFR and
    // IXFR are REFUSED, not an empty NOERROR.
    for qtype in [RecordType::AXFR, RecordType::IXFR] {
        for udp in [true, false] {
            let q = query_message("sts.example.net.", qtype, None)
                .to_vec()
                .unwrap();
            let m = Message::from_vec(&answer_raw(&zone(), &q, udp).unwrap()).unwrap();
            assert_eq!(
                m.metadata.response_code,
                ResponseCode::Refused,
                "{qtype} udp={udp}"
            );
            assert!(m.answers.is_empty());
        }
    }
}

#[test]
fn signed_queries_get_signed_answers_and_bad_signatures_notauth() {
    let key = super::TsigKey::parse("hmac-sha256:xfr:c2VjcmV0LXNlY3JldC1zZWNyZXQ=").unwrap();
    let zone = zone()
        .with_secondaries(
            vec![super::Secondary {
                address: "192.0.2.99:53".parse().unwrap(),
                key: "xfr".to_owned(),
            }],
            vec![key.clone()],
        )
        .unwrap();
    let mut q = query_message("sts.example.net.", RecordType::SOA, None)
        .to_vec()
        .unwrap();
    let mac = super::tsig::sign_request(&key, &mut q);
    let raw = answer_raw(&zone, &q, true).unwrap();
    assert!(super::tsig::verify_answer(&key, &raw, &mac));
    let m = Message::from_vec(&raw).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(matches!(m.answers[0].data, RData::SOA(_)));

    // Tampered after signing: NOTAUTH, and the TSIG record says BADSIG (16).
    let mut bad = q.clone();
    bad[13] ^= 0x20; // `Sts.example.net`: the same question to the zone, not to the MAC
    let raw = answer_raw(&zone, &bad, true).unwrap();
    assert_eq!(raw[3] & 0x0F, 9);
    assert!(!super::tsig::verify_answer(&key, &raw, &mac));
    let sig = super::tsig::find(&raw).unwrap().unwrap();
    assert!(format!("{sig:?}").contains("error: 16"), "{sig:?}");

    // A key the zone does not know: BADKEY (17).
    let other = super::TsigKey::parse("hmac-sha256:other:c2VjcmV0LXNlY3JldC1zZWNyZXQ=").unwrap();
    let mut q = query_message("sts.example.net.", RecordType::SOA, None)
        .to_vec()
        .unwrap();
    super::tsig::sign_request(&other, &mut q);
    let raw = answer_raw(&zone, &q, true).unwrap();
    assert_eq!(raw[3] & 0x0F, 9);
    let sig = super::tsig::find(&raw).unwrap().unwrap();
    assert!(format!("{sig:?}").contains("error: 17"), "{sig:?}");
}

#[test]
fn a_secondary_must_name_a_configured_key() {
    let e = zone()
        .with_secondaries(
            vec![super::Secondary {
                address: "192.0.2.99:53".parse().unwrap(),
                key: "missing".to_owned(),
            }],
            Vec::new(),
        )
        .unwrap_err();
    assert!(e.to_string().contains("`missing`"), "{e}");
}
