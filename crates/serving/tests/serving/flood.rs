//! Floods that once held a listener, over real sockets: each shows the flood bounded and
//! another client served throughout.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use http::StatusCode;
use stsd_net::GateLimits;
use stsd_serving::dns::DnsLimits;
use stsd_serving::edge::EdgeLimits;
use stsd_testkit::TestDatabase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

#[tokio::test]
async fn idle_http2_connections_are_bounded_and_closed_sqlite() {
    idle_http2_connections_are_bounded_and_closed(TestDatabase::sqlite().await).await;
}

#[tokio::test]
async fn one_source_cannot_hold_dns_over_tcp_sqlite() {
    one_source_cannot_hold_dns_over_tcp(TestDatabase::sqlite().await).await;
}
