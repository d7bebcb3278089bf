//! Found by probing: a flood of idle connections on the edge took every file descriptor of the
//! process, and the API, DNS over TCP and SMTP stopped answering. Here `stsd serve` runs with
//! a file limit of 1,024 and its edge listeners are flooded from ten addresses with far more
//! connections than that; the other listeners keep answering, and the edge serves again once
//! the flood is gone.

use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use stsd_testkit::{FakeDns, TestDatabase};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

use crate::{Server, ZONE, free_port, stsd, wait_until};

async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// An SOA query over TCP; whether an answer came.
async fn dns_over_tcp(server: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect(server).await else {
        return false;
    };
    let mut msg = Message::query();
    msg.metadata.id = 9;
    msg.add_query(Query::query(
        Name::from_ascii(ZONE).unwrap(),
        RecordType::SOA,
    ));
    let bytes = msg.to_vec().unwrap();
    let mut framed = u16::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    if s.write_all(&framed).await.is_err() {
        return false;
    }
    let mut len = [0u8; 2];
    matches!(
        tokio::time::timeout(Duration::from_secs(3), s.read_exact(&mut len)).await,
        Ok(Ok(_))
    )
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The SMTP greeting's code, if one came.
async fn smtp_greeting(server: SocketAddr) -> Option<String> {
    let tcp = TcpStream::connect(server).await.ok()?;
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(3),
        BufReader::new(tcp).read_line(&mut line),
    )
    .await
    .ok()?
    .ok()?;
    line.get(..3).map(str::to_owned)
}

#[tokio::test]
async fn a_flooded_edge_does_not_starve_the_other_listeners() {
    let db = TestDatabase::sqlite().await;
    let customer = FakeDns::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (api, https, http, dns, smtp) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let log = dir.path().join("stsd.log");
    let base = stsd(dir.path(), db.url(), customer.addr());
    // The same command under a file limit of 1,024 (soft and hard), set by the shell.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"ulimit -n 1024 && exec "$0" serve 2>"$1""#)
        .arg(base.get_program())
        .arg(&log)
        .current_dir(dir.path());
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let child = cmd
        .env("STSD_API_LISTEN", format!("127.0.0.1:{api}"))
        .env("STSD_EDGE_HTTPS_LISTEN", format!("127.0.0.1:{https}"))
        .env("STSD_EDGE_HTTP_LISTEN", format!("127.0.0.1:{http}"))
        .env("STSD_DNS_LISTEN", format!("127.0.0.1:{dns}"))
        .env("STSD_SMTP_LISTEN", format!("127.0.0.1:{smtp}"))
        .env("STSD_METRICS_LISTEN", format!("127.0.0.1:{}", free_port()))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let _server = Server(child);
    let client = reqwest::Client::new();
    let healthz = format!("http://127.0.0.1:{api}/healthz");
    wait_until("the API", Duration::from_secs(30), || {
        let (c, url) = (client.clone(), healthz.clone());
        async move { c.get(url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    let started = std::fs::read_to_string(&log).unwrap();
    assert!(
        started.contains("file limit") && started.contains("per_listener=102"),
        "the file limit and each listener's share are logged: {started}"
    );

    let before = rss_kib(pid);
    // 2,400 connections that never send a byte (a TLS handshake that never starts is held
    // until the handshake timeout), from twenty addresses, on both edge listeners.
    let mut flood = Vec::new();
    for i in 1..=20u8 {
        let from = IpAddr::from([127, 0, 0, i]);
        for n in 0..120 {
            let to = if n % 2 == 0 {
                SocketAddr::from(([127, 0, 0, 1], https))
            } else {
                SocketAddr::from(([127, 0, 0, 1], http))
            };
            if let Ok(s) = connect_from(from, to).await {
                flood.push(s);
            }
        }
    }
    assert!(flood.len() > 1_024, "the flood exceeds the file limit");
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Every other listener answers in full during the flood, on new connections.
    for _ in 0..5 {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(3))
            .build()
            .unwrap();
        let r = client.get(&healthz).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = client
            .get(format!("http://127.0.0.1:{api}/api/v1/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(dns_over_tcp(SocketAddr::from(([127, 0, 0, 1], dns))).await);
        assert_eq!(
            smtp_greeting(SocketAddr::from(([127, 0, 0, 1], smtp)))
                .await
                .as_deref(),
            Some("220")
        );
    }
    // Only the edge's share was held: the rest were closed at once.
    let mut held = 0;
    for s in &mut flood {
        let mut b = [0u8; 1];
        if let Err(_) | Ok(Ok(1..)) =
            tokio::time::timeout(Duration::from_millis(2), s.read(&mut b)).await
        {
            held += 1;
        }
    }
    assert!(held <= 2 * 102, "held {held} of {}", flood.len());
    let during = rss_kib(pid);
    drop(flood);
    // Gone: the edge takes connections again.
    wait_until(
        "the edge after the flood",
        Duration::from_secs(15),
        || async move {
            let Ok(mut s) = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], http))).await
            else {
                return false;
            };
            if s.write_all(b"GET /.well-known/acme-challenge/x HTTP/1.1\r\nhost: a.example\r\n\r\n")
                .await
                .is_err()
            {
                return false;
            }
            let mut b = [0u8; 12];
            matches!(
                tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut b)).await,
                Ok(Ok(_))
            ) && b.starts_with(b"HTTP/1.1")
        },
    )
    .await;
    // Memory held for the flood is given back once it is gone (bounded buffers per
    // connection; the allocator returns what it freed).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid);
    eprintln!(
        "stsd's resident memory: {before} KiB before the flood, {during} KiB during, {after} KiB after"
    );
    assert!(before > 0 && after > 0);
    assert!(
        after <= before + 32 * 1024,
        "memory not given back: {before} KiB before, {after} KiB after"
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("panicked"), "{log}");
}
