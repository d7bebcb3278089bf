//! Tests of [`FakeDns`]: through hickory-resolver over UDP and TCP, and with raw messages where
//! header bits, truncation and malformed input matter.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::FakeDns;

#[derive(Debug, Clone, Copy)]
enum Proto {
    Udp,
    Tcp,
}

const BOTH: [Proto; 2] = [Proto::Udp, Proto::Tcp];

fn resolver(addr: SocketAddr, proto: Proto) -> TokioResolver {
    let mut connection = match proto {
        Proto::Udp => ConnectionConfig::udp(),
        Proto::Tcp => ConnectionConfig::tcp(),
    };
    connection.port = addr.port();
    let server = NameServerConfig::new(addr.ip(), true, vec![connection]);
    let config = ResolverConfig::from_name_servers(vec![server]);
    let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
    let options = builder.options_mut();
    options.cache_size = 0;
    options.attempts = 0;
    options.timeout = Duration::from_secs(2);
    options.use_hosts_file = ResolveHosts::Never;
    builder.build().unwrap()
}

fn mx_of(records: &[hickory_proto::rr::Record]) -> Vec<(u16, String)> {
    let mut mx: Vec<_> = records
        .iter()
        .filter_map(|record| match &record.data {
            RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
            _ => None,
        })
        .collect();
    mx.sort();
    mx
}

fn response_code(err: &NetError) -> Option<ResponseCode> {
    match err {
        NetError::Dns(DnsError::NoRecordsFound(no_records)) => Some(no_records.response_code),
        NetError::Dns(DnsError::ResponseCode(code)) => Some(*code),
        _ => None,
    }
}

fn raw_query(name: &str, rtype: RecordType, edns: Option<u16>) -> Message {
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    if let Some(size) = edns {
        let mut opt = Edns::new();
        opt.set_max_payload(size);
        message.set_edns(opt);
    }
    message
}

async fn udp_exchange(addr: SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    socket.send_to(request, addr).await.unwrap();
    let mut buf = vec![0_u8; 65_535];
    match tokio::time::timeout(Duration::from_millis(300), socket.recv(&mut buf)).await {
        Ok(received) => {
            let len = received.unwrap();
            Some(buf[..len].to_vec())
        }
        Err(_) => None,
    }
}

async fn udp_ask(addr: SocketAddr, query: &Message) -> Message {
    let response = udp_exchange(addr, &query.to_vec().unwrap()).await.unwrap();
    Message::from_vec(&response).unwrap()
}

async fn tcp_ask(stream: &mut TcpStream, query: &Message) -> Message {
    let bytes = query.to_vec().unwrap();
    let len = u16::try_from(bytes.len()).unwrap();
    stream.write_all(&len.to_be_bytes()).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    let mut prefix = [0_u8; 2];
    stream.read_exact(&mut prefix).await.unwrap();
    let mut response = vec![0_u8; usize::from(u16::from_be_bytes(prefix))];
    stream.read_exact(&mut response).await.unwrap();
    Message::from_vec(&response).unwrap()
}

#[tokio::test]
async fn answers_each_record_type_over_udp_and_tcp() {
    let dns = FakeDns::start().await.unwrap();
    dns.set_mx(
        "Example.COM.",
        &[(20, "mx2.example.net"), (10, "MX1.example.net.")],
    );
    dns.set_a("mx1.example.net", &[Ipv4Addr::new(192, 0, 2, 1)]);
    dns.set_aaaa("mx1.example.net", &[Ipv6Addr::LOCALHOST]);
    let long = "v=spf1 ".to_owned() + &"a".repeat(400);
    dns.set_txt("_mta-sts.example.com", &["v=STSv1; id=1;", &long]);

    for proto in BOTH {
        let resolver = resolver(dns.addr(), proto);
        let mx = resolver.mx_lookup("example.com.").await.unwrap();
        assert_eq!(
            mx_of(mx.answers()),
            vec![
                (10, "mx1.example.net.".to_owned()),
                (20, "mx2.example.net.".to_owned())
            ],
            "{proto:?}"
        );
        assert!(mx.answers().iter().all(|record| record.ttl == 60));

        let a = resolver.ipv4_lookup("MX1.Example.Net.").await.unwrap();
        assert!(
            a.answers()
                .iter()
                .any(|record| record.data == RData::A(Ipv4Addr::new(192, 0, 2, 1).into())),
            "{proto:?}"
        );
        let aaaa = resolver.ipv6_lookup("mx1.example.net.").await.unwrap();
        assert!(
            aaaa.answers()
                .iter()
                .any(|record| record.data == RData::AAAA(Ipv6Addr::LOCALHOST.into())),
            "{proto:?}"
        );

        let txt = resolver.txt_lookup("_mta-sts.example.com.").await.unwrap();
        let mut texts: Vec<String> = txt
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
                        .collect(),
                ),
                _ => None,
            })
            .collect();
        texts.sort();
        let mut expected = vec![long.clone(), "v=STSv1; id=1;".to_owned()];
        expected.sort();
        assert_eq!(texts, expected, "{proto:?}");
    }
    assert!(dns.queries() >= 8);
}

#[tokio::test]
async fn answers_ptr_for_ipv4_and_ipv6_addresses() {
    let dns = FakeDns::start().await.unwrap();
    let v4 = std::net::IpAddr::from([198, 51, 100, 7]);
    let v6: std::net::IpAddr = "2001:db8:1::25".parse().unwrap();
    dns.set_ptr(v4, &["Out-1.Mail.Example.NET."]);
    dns.set_ptr(v6, &["out-6.mail.example.net", "alias.example.org"]);
    let ptr_of = |records: &[hickory_proto::rr::Record]| {
        let mut names: Vec<String> = records
            .iter()
            .filter_map(|record| match &record.data {
                RData::PTR(ptr) => Some(ptr.0.to_ascii()),
                _ => None,
            })
            .collect();
        names.sort();
        names
    };
    for proto in BOTH {
        let resolver = resolver(dns.addr(), proto);
        let found = resolver.reverse_lookup(v4).await.unwrap();
        assert_eq!(
            ptr_of(found.answers()),
            ["out-1.mail.example.net."],
            "{proto:?}"
        );
        let found = resolver.reverse_lookup(v6).await.unwrap();
        assert_eq!(
            ptr_of(found.answers()),
            ["alias.example.org.", "out-6.mail.example.net."],
            "{proto:?}"
        );
    }
    dns.set_ptr(v4, &[]);
    let gone = resolver(dns.addr(), Proto::Udp).reverse_lookup(v4).await;
    assert_eq!(
        gone.err().as_ref().and_then(response_code),
        Some(ResponseCode::NXDomain)
    );
}

#[tokio::test]
async fn chases_cnames_inside_the_zone() {
    let dns = FakeDns::start().await.unwrap();
    dns.set_cname("example.com", "alias.example.net.");
    dns.set_mx("alias.example.net", &[(5, "mx.example.net")]);
    dns.set_cname("dangling.example.com", "elsewhere.example.org");

    for proto in BOTH {
        let resolver = resolver(dns.addr(), proto);
        let mx = resolver.mx_lookup("example.com.").await.unwrap();
        assert_eq!(
            mx_of(mx.answers()),
            vec![(5, "mx.example.net.".to_owned())],
            "{proto:?}"
        );
        assert!(
            mx.answers()
                .iter()
                .any(|record| record.record_type() == RecordType::CNAME),
            "{proto:?}"
        );
    }

    // Raw: CNAME plus the target's records; a target outside the zone leaves only the CNAME.
    let response = udp_ask(dns.addr(), &raw_query("example.com.", RecordType::MX, None)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    let types: Vec<_> = response.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types, vec![RecordType::CNAME, RecordType::MX]);
    let response = udp_ask(
        dns.addr(),
        &raw_query("dangling.example.com.", RecordType::MX, None),
    )
    .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    let types: Vec<_> = response.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types, vec![RecordType::CNAME]);

    // A CNAME loop ends instead of spinning.
    dns.set_cname("loop1.example.com", "loop2.example.com");
    dns.set_cname("loop2.example.com", "loop1.example.com");
    let response = udp_ask(
        dns.addr(),
        &raw_query("loop1.example.com.", RecordType::A, None),
    )
    .await;
    assert_eq!(response.answers.len(), 2);
}

#[tokio::test]
async fn negative_answers_and_servfail() {
    let dns = FakeDns::start().await.unwrap();
    dns.set_a("a.b.example.com", &[Ipv4Addr::new(192, 0, 2, 7)]);
    dns.set_txt("example.com", &["hello"]);
    dns.set_mx("broken.example.com", &[(10, "mx.example.com")]);
    dns.set_servfail("BROKEN.example.com.", true);

    for proto in BOTH {
        let resolver = resolver(dns.addr(), proto);
        let err = resolver
            .mx_lookup("missing.example.com.")
            .await
            .unwrap_err();
        assert!(err.is_nx_domain(), "{proto:?}: {err:?}");
        let err = resolver.mx_lookup("example.com.").await.unwrap_err();
        assert_eq!(
            response_code(&err),
            Some(ResponseCode::NoError),
            "{proto:?}: {err:?}"
        );
        // An empty non-terminal exists: NODATA, not NXDOMAIN.
        let err = resolver.mx_lookup("b.example.com.").await.unwrap_err();
        assert_eq!(
            response_code(&err),
            Some(ResponseCode::NoError),
            "{proto:?}: {err:?}"
        );
        let err = resolver.mx_lookup("broken.example.com.").await.unwrap_err();
        assert_eq!(
            response_code(&err),
            Some(ResponseCode::ServFail),
            "{proto:?}: {err:?}"
        );
    }

    // Raw: AA set, SOA in authority for both negative kinds.
    let response = udp_ask(
        dns.addr(),
        &raw_query("missing.example.com.", RecordType::MX, None),
    )
    .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
    assert!(response.metadata.authoritative);
    assert_eq!(response.authorities[0].record_type(), RecordType::SOA);
    let response = udp_ask(dns.addr(), &raw_query("example.com.", RecordType::MX, None)).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NoError);
    assert!(response.metadata.authoritative);
    assert!(response.answers.is_empty());
    assert_eq!(response.authorities[0].record_type(), RecordType::SOA);

    // Switching SERVFAIL off and removing records take effect at once.
    dns.set_servfail("broken.example.com", false);
    let response = udp_ask(
        dns.addr(),
        &raw_query("broken.example.com.", RecordType::MX, None),
    )
    .await;
    assert_eq!(response.answers.len(), 1);
    dns.remove("broken.example.com.");
    let response = udp_ask(
        dns.addr(),
        &raw_query("broken.example.com.", RecordType::MX, None),
    )
    .await;
    assert_eq!(response.metadata.response_code, ResponseCode::NXDomain);
}

#[tokio::test]
async fn truncates_large_udp_answers_and_serves_them_over_tcp() {
    let dns = FakeDns::start().await.unwrap();
    let texts: Vec<String> = (0..8).map(|i| format!("{i}-{}", "x".repeat(100))).collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    dns.set_txt("big.example.com", &texts);

    let plain = udp_ask(
        dns.addr(),
        &raw_query("big.example.com.", RecordType::TXT, None),
    )
    .await;
    assert!(plain.metadata.truncation);
    assert!(plain.answers.is_empty());

    let small_edns = udp_ask(
        dns.addr(),
        &raw_query("big.example.com.", RecordType::TXT, Some(512)),
    )
    .await;
    assert!(small_edns.metadata.truncation);
    assert!(small_edns.edns.is_some());

    let big_edns = udp_ask(
        dns.addr(),
        &raw_query("big.example.com.", RecordType::TXT, Some(4096)),
    )
    .await;
    assert!(!big_edns.metadata.truncation);
    assert_eq!(big_edns.answers.len(), 8);

    // Two queries on one TCP connection, both answered whole.
    let mut stream = TcpStream::connect(dns.addr()).await.unwrap();
    for _ in 0..2 {
        let response = tcp_ask(
            &mut stream,
            &raw_query("big.example.com.", RecordType::TXT, None),
        )
        .await;
        assert!(!response.metadata.truncation);
        assert_eq!(response.answers.len(), 8);
    }

    // A resolver on UDP and TCP falls back to TCP on truncation.
    let mut udp = ConnectionConfig::udp();
    udp.port = dns.addr().port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = dns.addr().port();
    let config = ResolverConfig::from_name_servers(vec![NameServerConfig::new(
        dns.addr().ip(),
        true,
        vec![udp, tcp],
    )]);
    let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
    builder.options_mut().edns0 = false;
    let resolver = builder.build().unwrap();
    let txt = resolver.txt_lookup("big.example.com.").await.unwrap();
    assert_eq!(txt.answers().len(), 8);
}

#[tokio::test]
async fn survives_malformed_queries() {
    let dns = FakeDns::start().await.unwrap();
    dns.set_a("ok.example.com", &[Ipv4Addr::new(192, 0, 2, 9)]);

    // Too short for a header: silence.
    assert_eq!(udp_exchange(dns.addr(), &[0x12]).await, None);
    assert_eq!(udp_exchange(dns.addr(), &[]).await, None);
    // A header claiming a question that is not there: FORMERR with the same id.
    let garbage = [
        0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
    ];
    let response = udp_exchange(dns.addr(), &garbage).await.unwrap();
    let response = Message::from_vec(&response).unwrap();
    assert_eq!(response.metadata.id, 0xabcd);
    assert_eq!(response.metadata.response_code, ResponseCode::FormErr);
    // A response is never answered (no reflection loops).
    let mut reply = raw_query("ok.example.com.", RecordType::A, None);
    reply.metadata.message_type = MessageType::Response;
    assert_eq!(
        udp_exchange(dns.addr(), &reply.to_vec().unwrap()).await,
        None
    );
    // No question, or a non-query opcode.
    let empty = Message::query();
    let response = udp_ask(dns.addr(), &empty).await;
    assert_eq!(response.metadata.response_code, ResponseCode::FormErr);
    let mut notify = raw_query("ok.example.com.", RecordType::SOA, None);
    notify.metadata.op_code = OpCode::Notify;
    let response = udp_ask(dns.addr(), &notify).await;
    assert_eq!(response.metadata.response_code, ResponseCode::NotImp);
    // Random junk of many lengths.
    let mut seed = 0x2545_f491_u32;
    for len in 0..200 {
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed.to_le_bytes()[0]
            })
            .collect();
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        socket.send_to(&junk, dns.addr()).await.unwrap();
    }
    // TCP: a zero length and a truncated frame just close the connection.
    let mut stream = TcpStream::connect(dns.addr()).await.unwrap();
    stream.write_all(&[0, 0]).await.unwrap();
    let mut buf = [0_u8; 1];
    assert_eq!(stream.read(&mut buf).await.unwrap(), 0);
    let mut stream = TcpStream::connect(dns.addr()).await.unwrap();
    stream.write_all(&[0, 40, 1, 2, 3]).await.unwrap();
    drop(stream);

    // Still answering, over both transports.
    let response = udp_ask(
        dns.addr(),
        &raw_query("ok.example.com.", RecordType::A, None),
    )
    .await;
    assert_eq!(response.answers.len(), 1);
    let mut stream = TcpStream::connect(dns.addr()).await.unwrap();
    let response = tcp_ask(
        &mut stream,
        &raw_query("ok.example.com.", RecordType::A, None),
    )
    .await;
    assert_eq!(response.answers.len(), 1);
}

#[tokio::test]
async fn stops_when_dropped() {
    let dns = FakeDns::start().await.unwrap();
    let addr = dns.addr();
    drop(dns);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(TcpStream::connect(addr).await.is_err());
    let query = raw_query("example.com.", RecordType::A, None);
    assert_eq!(udp_exchange(addr, &query.to_vec().unwrap()).await, None);
}
