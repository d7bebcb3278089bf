//! Handshakes a client can fail at will write a bounded log. The finding: each ClientHello
//! naming an IP address as SNI wrote one WARN line (rustls's, through the `log` bridge the
//! binary installs), 5,000 lines in half a second from one client.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::StatusCode;
use stsd_testkit::{TestDatabase, client_hello};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::world::{World, policy_request};

const A: &str = "mta-sts.alpha.example";

/// Everything the subscriber writes, in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

/// Sends `hello` as the first flight and waits for the edge to close the connection.
/// Returns what the edge sent back.
async fn refused(w: &World, hello: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(w.https).await.unwrap();
    tcp.write_all(hello).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer))
        .await
        .expect("the edge closes the connection")
        .ok();
    answer
}

/// The lines a flood of bad handshakes may have written: anything about SNI, ClientHellos
/// or handshakes.
fn handshake_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("sni") || l.contains("hello") || l.contains("handshake")
        })
        .collect()
}

// One backend is enough: the store only provides the certificate. A current-thread runtime
// keeps the edge's tasks on this thread, under this test's subscriber.
#[tokio::test]
async fn bad_handshakes_write_a_bounded_log_sqlite() {
    // As in the binary: rustls logs through the `log` crate, bridged to tracing, at info.
    let _ = tracing_log::LogTracer::init();
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let w = World::start(TestDatabase::sqlite().await, &["alpha.example"]).await;

    let mut answers = Vec::new();
    for i in 0..500 {
        let sni: &[u8] = if i % 2 == 0 {
            b"127.0.0.1"
        } else {
            b"2001:db8::1"
        };
        answers.push(refused(&w, &client_hello(&[sni])).await);
    }
    for _ in 0..100 {
        refused(&w, &client_hello(&[b"not a name!"])).await;
    }
    // Unknown and missing SNI: rustls's own handshake failure, logged at debug only.
    for _ in 0..100 {
        assert!(w.tls("mta-sts.unknown.example", &[b"h2"]).await.is_err());
        refused(&w, &client_hello(&[])).await;
    }
    // Policies are still served.
    let (status, _, _) = w
        .fetch(A, false, policy_request("GET", A, false))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);

    let log = captured.text();
    let lines = handshake_lines(&log);
    // One line per kind within 10 s: an IP address as SNI, a name that is no host name.
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("INFO") && l.contains("kind=\"ip_address_sni\"")),
        "{log}"
    );
    assert!(lines.iter().any(|l| l.contains("invalid_sni")), "{log}");
    assert!(!log.contains("WARN"), "{log}");
    // Each got a fatal unrecognized_name alert, then the connection closed.
    for answer in answers {
        assert_eq!(answer, [21, 3, 3, 0, 2, 2, 112]);
    }
    w.finish().await;
}
