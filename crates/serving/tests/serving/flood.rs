//! Floods that once held a listener or could use the server as a reflector, over real
//! sockets: each shows the flood bounded and another client served throughout.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use http::StatusCode;
use stsd_net::GateLimits;
use stsd_serving::dns::{DnsLimits, RrlConfig};
use stsd_serving::edge::EdgeLimits;
use stsd_testkit::TestDatabase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::world::{World, connect_from, policy_request};

const A: &str = "mta-sts.alpha.example";
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame.
const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Reads until the peer closes; true if it did within `within`.
async fn closes_within<S: AsyncReadExt + Unpin>(stream: &mut S, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// Found by probing: ~20,000 HTTP/2 connections that sent the preface and SETTINGS and then
/// nothing were held for minutes, until the process ran out of descriptors. Now one client
/// holds at most `max_per_client` connections, every other client is served meanwhile, and
/// the silent ones are closed after the idle timeout like idle HTTP/1.1 keep-alives.
async fn idle_http2_connections_are_bounded_and_closed(db: TestDatabase) {
    let edge = EdgeLimits {
        max_connections: 300,
        max_per_client: 40,
        idle_timeout: Duration::from_secs(2),
        ..EdgeLimits::default()
    };
    let url = db.url().to_owned();
    let w = World::start_limited(
        &url,
        Some(db),
        &["alpha.example"],
        edge,
        DnsLimits::default(),
    )
    .await;
    // 60 TLS + HTTP/2 connections from one address that then say nothing.
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..60 {
        match w.tls_from(ip("127.0.0.1"), A, &[b"h2"]).await {
            Ok(mut tls) => {
                if tls.write_all(PREFACE).await.is_err() || tls.write_all(SETTINGS).await.is_err() {
                    refused += 1;
                    continue;
                }
                held.push(tls);
            }
            Err(_) => refused += 1,
        }
    }
    // Refused ones may complete a handshake only if the server had not closed them yet; they
    // are closed at once either way.
    let mut open = Vec::new();
    for mut tls in held {
        let mut probe = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(300), tls.read(&mut probe)).await {
            Ok(Ok(0)) | Ok(Err(_)) => refused += 1,
            _ => open.push(tls),
        }
    }
    assert_eq!(open.len(), 40, "held connections (refused {refused})");
    // Another client is served over both versions while the flood holds its 40.
    for h2 in [true, false] {
        let (status, _, body) = fetch_from(&w, ip("127.0.0.2"), h2).await;
        assert_eq!(status, StatusCode::OK, "h2={h2}");
        assert!(body.starts_with(b"version: STSv1\r\n"));
    }
    // The silent connections are closed once idle (2 s here; GOAWAY first).
    let start = Instant::now();
    for tls in &mut open {
        assert!(closes_within(tls, Duration::from_secs(10)).await);
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1_000),
        "closed too early: {took:?}"
    );
    // Their places are free again.
    let (status, _, _) = fetch_from(&w, ip("127.0.0.1"), true).await;
    assert_eq!(status, StatusCode::OK);
    w.finish().await;
}

async fn fetch_from(
    w: &World,
    from: IpAddr,
    h2: bool,
) -> (StatusCode, http::HeaderMap, bytes::Bytes) {
    use http_body_util::BodyExt;
    use hyper_util::rt::TokioIo;
    let alpn: &[&[u8]] = if h2 { &[b"h2"] } else { &[b"http/1.1"] };
    let io = TokioIo::new(w.tls_from(from, A, alpn).await.unwrap());
    let request = policy_request("GET", A, h2);
    let response = if h2 {
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .unwrap();
        tokio::spawn(conn);
        sender.send_request(request).await.unwrap()
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        sender.send_request(request).await.unwrap()
    };
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.unwrap().to_bytes(),
    )
}

/// One DNS query over an open TCP connection; `None` when the server closed it.
async fn query_over(stream: &mut TcpStream, name: &str) -> Option<Message> {
    let mut msg = Message::query();
    msg.metadata.id = 7;
    msg.add_query(Query::query(
        Name::from_ascii(name).unwrap(),
        RecordType::SOA,
    ));
    let bytes = msg.to_vec().unwrap();
    let len = u16::try_from(bytes.len()).unwrap().to_be_bytes();
    stream.write_all(&len).await.ok()?;
    stream.write_all(&bytes).await.ok()?;
    let mut len = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut len))
        .await
        .ok()?
        .ok()?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).await.ok()?;
    Message::from_vec(&buf).ok()
}

/// Found by probing: 4,096 DNS-over-TCP connections from one address, each sending a query
/// every 8 s, refused every other TCP client. Now one source holds at most `max_per_client`,
/// others are answered meanwhile, and a busy connection still ends at its lifetime.
async fn one_source_cannot_hold_dns_over_tcp(db: TestDatabase) {
    let dns = DnsLimits {
        tcp: GateLimits {
            max_connections: 100,
            max_per_client: 8,
        },
        tcp_idle: Duration::from_secs(10),
        tcp_lifetime: Duration::from_secs(3),
        ..DnsLimits::default()
    };
    let url = db.url().to_owned();
    let w = World::start_limited(
        &url,
        Some(db),
        &["alpha.example"],
        EdgeLimits::default(),
        dns,
    )
    .await;
    let zone = crate::world::ZONE;
    let mut held = Vec::new();
    let mut turned_away = 0;
    for _ in 0..12 {
        let mut s = connect_from(ip("127.0.0.1"), w.dns).await.unwrap();
        match query_over(&mut s, zone).await {
            Some(_) => held.push(s),
            None => turned_away += 1,
        }
    }
    assert_eq!((held.len(), turned_away), (8, 4));
    // Another source is answered over TCP while the first holds its share.
    let mut other = connect_from(ip("127.0.0.2"), w.dns).await.unwrap();
    let answer = query_over(&mut other, zone).await.expect("an answer");
    assert_eq!(answer.answers.len(), 1);
    // Queries keep the held connections busy, yet they end at their lifetime (3 s).
    let start = Instant::now();
    let mut ended = 0;
    while ended < held.len() && start.elapsed() < Duration::from_secs(10) {
        ended = 0;
        for s in &mut held {
            if query_over(s, zone).await.is_none() {
                ended += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(ended, held.len(), "every held connection ended");
    assert!(start.elapsed() >= Duration::from_secs(1));
    w.finish().await;
}

/// A TXT query for `name` with EDNS, as sent.
fn txt_query(name: &str, id: u16) -> Vec<u8> {
    let mut msg = Message::query();
    msg.metadata.id = id;
    msg.add_query(Query::query(
        Name::from_ascii(name).unwrap(),
        RecordType::TXT,
    ));
    let mut edns = hickory_proto::op::Edns::new();
    edns.set_max_payload(1232);
    msg.edns = Some(edns);
    msg.to_vec().unwrap()
}

/// What one UDP client got back.
#[derive(Debug, Default, Clone, Copy)]
struct Replies {
    /// Answers with the record.
    full: usize,
    /// Truncated answers: TC=1, the question, no records.
    truncated: usize,
    /// When the last reply came.
    last: Option<Instant>,
}

/// Counts the replies arriving on `socket` until it has been silent for a second.
async fn count_replies(socket: Arc<UdpSocket>, name: String) -> Replies {
    let mut got = Replies::default();
    let mut buf = vec![0u8; 4096];
    while let Ok(r) = tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf)).await {
        got.last = Some(Instant::now());
        let m = Message::from_vec(&buf[..r.unwrap()]).unwrap();
        assert_eq!(m.queries[0].name().to_ascii(), name);
        if m.metadata.truncation {
            assert!(m.answers.is_empty() && m.authorities.is_empty(), "{m:?}");
            got.truncated += 1;
        } else {
            assert_eq!(m.answers.len(), 1, "{m:?}");
            got.full += 1;
        }
    }
    got
}

/// A UDP socket on `from`, connected to the server.
async fn udp_from(from: &str, server: std::net::SocketAddr) -> Arc<UdpSocket> {
    let socket = UdpSocket::bind((ip(from), 0)).await.unwrap();
    socket.connect(server).await.unwrap();
    Arc::new(socket)
}

/// The reflection attack RRL is for: 2,000 identical queries "from" one network get at most
/// the burst and the rate in full answers, every other one of the rest truncated (so that a
/// real resolver there moves to TCP) and the others nothing; another network asking the same
/// meanwhile is answered in full, and so is the flooded one over TCP.
async fn udp_flood_is_rate_limited_per_network(db: TestDatabase) {
    const FLOOD: usize = 2_000;
    let url = db.url().to_owned();
    let rrl = RrlConfig::default();
    let w = World::start_limited(
        &url,
        Some(db),
        &["alpha.example"],
        EdgeLimits::default(),
        DnsLimits::default(),
    )
    .await;
    let label = w.fx.store.all_tenants().served_domains().await.unwrap()[0]
        .label
        .as_str()
        .to_owned();
    let name = format!("{label}.policy.{}.", crate::world::ZONE);
    // Two addresses of one /24 flood; one of another /24 asks the same name meanwhile. (Keys
    // of different networks share a bucket only if their hashes collide: 1 in 65,536.)
    let flooders = [
        udp_from("127.0.0.1", w.dns).await,
        udp_from("127.0.0.2", w.dns).await,
    ];
    let other = udp_from("127.0.1.1", w.dns).await;
    let counters: Vec<_> = flooders
        .iter()
        .chain([&other])
        .map(|s| tokio::spawn(count_replies(Arc::clone(s), name.clone())))
        .collect();
    let query = txt_query(&name, 7);
    let start = Instant::now();
    for i in 0..FLOOD {
        flooders[i % 2].send(&query).await.unwrap();
        if i % 50 == 49 {
            // Short pauses keep the loopback's socket buffers from overflowing, so that what
            // is missing was dropped by the server.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if i % 200 == 100 {
            other.send(&query).await.unwrap();
        }
    }
    let mut replies = Vec::new();
    for c in counters {
        replies.push(c.await.unwrap());
    }
    let (a, b, other_got) = (replies[0], replies[1], replies[2]);
    let full = a.full + b.full;
    let truncated = a.truncated + b.truncated;
    let dropped = FLOOD - full - truncated;
    // Every answer was decided between the first query and the last reply.
    let flood_secs = a
        .last
        .max(b.last)
        .unwrap()
        .duration_since(start)
        .as_secs_f64();
    eprintln!(
        "flood of {FLOOD} over {flood_secs:.3} s: {full} full, {truncated} truncated, \
         {dropped} dropped; other network: {} full, {} truncated",
        other_got.full, other_got.truncated
    );
    // The burst, then the rate for as long as the flood lasted.
    let most = f64::from(rrl.burst) + f64::from(rrl.rate) * flood_secs;
    assert!(full >= rrl.burst as usize, "{full} full answers");
    assert!(
        full as f64 <= most.floor(),
        "{full} full answers, at most {most:.1}"
    );
    // Both addresses counted in one budget.
    assert!(a.full > 0 && b.full > 0 && a.truncated > 0 && b.truncated > 0);
    // Slip 2: half of the limited ones truncated, the other half dropped (a few may be lost on
    // the loopback).
    let limited = FLOOD - full;
    assert!(
        truncated <= limited / 2 + 1,
        "{truncated} truncated of {limited}"
    );
    assert!(
        truncated + 25 >= limited / 2,
        "{truncated} truncated of {limited}"
    );
    // The other network got every answer, in full.
    assert_eq!((other_got.full, other_got.truncated), (FLOOD / 200, 0));

    // The flooded network over TCP (from 127.0.0.1, the source the kernel picks for this
    // destination): answered in full, as TCP is never limited.
    let m = crate::world::dns_query(w.dns, &name, RecordType::TXT, true).await;
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 1);
    // And over UDP again once its bucket has refilled.
    tokio::time::sleep(Duration::from_secs(1)).await;
    flooders[0].send(&txt_query(&name, 8)).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), flooders[0].recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!((m.metadata.id, m.answers.len()), (8, 1));
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_flood_is_rate_limited_per_network_sqlite() {
    udp_flood_is_rate_limited_per_network(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn idle_http2_connections_are_bounded_and_closed_sqlite() {
    idle_http2_connections_are_bounded_and_closed(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn one_source_cannot_hold_dns_over_tcp_sqlite() {
    one_source_cannot_hold_dns_over_tcp(TestDatabase::sqlite().await).await;
}
