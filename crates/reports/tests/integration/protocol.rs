//! The dialogue's refusals, spoken line by line over a raw socket.

use std::time::Duration;

use stsd_testkit::TestDatabase;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::world::{HOST, World, message, report};

struct Client {
    io: BufReader<TcpStream>,
}

impl Client {
    async fn connect(world: &World) -> (Client, String) {
        let tcp = TcpStream::connect(world.addr).await.unwrap();
        let mut c = Client {
            io: BufReader::new(tcp),
        };
        let greeting = c.reply().await;
        (c, greeting)
    }

    /// One (possibly multi-line) reply, or "" when the server closed the connection.
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.io.read_line(&mut line))
                .await
                .expect("a reply in time")
                .unwrap_or(0);
            if n == 0 {
                return all;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    async fn send(&mut self, raw: &str) {
        self.io.get_mut().write_all(raw.as_bytes()).await.unwrap();
    }

    async fn cmd(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r\n")).await;
        self.reply().await
    }
}

fn code(reply: &str) -> &str {
    reply.get(..3).unwrap_or("")
}

pub(crate) async fn refusals(db: TestDatabase) {
    let w = World::start(db, |c| c.max_message = 64 * 1024).await;
    let rcpt = w.rcpt();
    let (mut c, greeting) = Client::connect(&w).await;
    assert!(greeting.starts_with(&format!("220 {HOST}")), "{greeting}");
    // STARTTLS is an extension: only after EHLO (RFC 3207 §4), not before, not after HELO;
    // the session goes on in the clear.
    let early = c.cmd("STARTTLS").await;
    assert!(early.starts_with("503 5.5.1 EHLO first"), "{early}");
    assert_eq!(code(&c.cmd("HELO client.example").await), "250");
    let after_helo = c.cmd("STARTTLS").await;
    assert!(
        after_helo.starts_with("503 5.5.1 EHLO first"),
        "{after_helo}"
    );
    assert_eq!(code(&c.cmd("RSET").await), "250");
    let (mut c, _) = Client::connect(&w).await;
    assert_eq!(code(&c.cmd("MAIL FROM:<a@b.example>").await), "503");
    let ehlo = c.cmd("EHLO client.example").await;
    assert!(ehlo.contains("250-STARTTLS"), "{ehlo}");
    assert!(ehlo.contains("SIZE 65536"), "{ehlo}");
    assert_eq!(code(&c.cmd("DATA").await), "503");
    assert_eq!(
        code(&c.cmd("MAIL FROM:<a@b.example> SIZE=999999").await),
        "552"
    );
    assert_eq!(code(&c.cmd("MAIL FROM:<a@b.example>").await), "250");
    assert_eq!(code(&c.cmd("MAIL FROM:<a@b.example>").await), "503");
    // Never a relay; unknown labels and malformed addresses refused.
    let relay = c.cmd("RCPT TO:<someone@gmail.com>").await;
    assert!(relay.starts_with("550 5.7.1"), "{relay}");
    assert_eq!(
        code(&c.cmd(&format!("RCPT TO:<zzzzzzzzzz@{HOST}>")).await),
        "550"
    );
    assert_eq!(
        code(&c.cmd(&format!("RCPT TO:<not-a-label@{HOST}>")).await),
        "550"
    );
    assert_eq!(code(&c.cmd("RCPT TO:missing-brackets").await), "501");
    assert_eq!(code(&c.cmd("DATA").await), "554");
    // Upper-case label and host are the same address.
    let upper = format!("RCPT TO:<{}>", rcpt.to_ascii_uppercase());
    assert_eq!(code(&c.cmd(&upper).await), "250");
    assert_eq!(code(&c.cmd("DATA").await), "354");
    c.send("Subject: no report here\r\n\r\nJust text.\r\n.\r\n")
        .await;
    let no_report = c.reply().await;
    assert!(no_report.starts_with("550 5.6.0"), "{no_report}");
    // Too big: the whole message is read, then refused; the session goes on.
    assert_eq!(code(&c.cmd("MAIL FROM:<>").await), "250");
    assert_eq!(code(&c.cmd(&format!("RCPT TO:<{rcpt}>")).await), "250");
    assert_eq!(code(&c.cmd("DATA").await), "354");
    let line = format!("{}\r\n", "x".repeat(900));
    for _ in 0..100 {
        c.send(&line).await;
    }
    c.send(".\r\n").await;
    assert_eq!(code(&c.reply().await), "552");
    // Dot-stuffed lines are unstuffed and the report still found.
    assert_eq!(code(&c.cmd("MAIL FROM:<>").await), "250");
    assert_eq!(code(&c.cmd(&format!("RCPT TO:<{rcpt}>")).await), "250");
    assert_eq!(code(&c.cmd("DATA").await), "354");
    let msg = message(
        &rcpt,
        "d-1",
        &report("Dotted", "d-1", "mailto:a@reporter.example"),
    );
    let stuffed = format!(
        "X-Dots: yes\r\n{}\r\n..leading dot in the epilogue\r\n.\r\n",
        msg.trim_end()
    );
    c.send(&stuffed).await;
    let stored = c.reply().await;
    assert!(stored.starts_with("250 2.0.0"), "{stored}");
    assert_eq!(code(&c.cmd("VRFY postmaster").await), "252");
    assert_eq!(code(&c.cmd("BDAT 10").await), "502");
    assert_eq!(code(&c.cmd("NOOP").await), "250");
    assert_eq!(code(&c.cmd("QUIT").await), "221");
    assert_eq!(w.stored().await.len(), 1);

    // STARTTLS with a command pipelined behind it: the connection is dropped, never
    // upgraded with the injected command inside.
    let (mut c, _) = Client::connect(&w).await;
    c.cmd("EHLO client.example").await;
    let ready = c.cmd("STARTTLS\r\nMAIL FROM:<evil@x.example>").await;
    assert!(
        ready.starts_with("220") || ready.is_empty(),
        "STARTTLS answered {ready}"
    );
    let after = c.reply().await;
    assert_eq!(after, "", "the server must close, not answer: {after}");

    // A line longer than any SMTP line: refused and closed.
    let (mut c, _) = Client::connect(&w).await;
    let long = c.cmd(&format!("EHLO {}", "a".repeat(10_000))).await;
    assert!(long.starts_with("500"), "{long}");
    assert_eq!(c.reply().await, "");
    w.finish().await;
}

/// Connects from `local` (any 127.0.0.0/8 address is this host on Linux), so a test can be
/// several clients.
async fn connect_from(world: &World, local: &str) -> (Client, String) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    let tcp = socket.connect(world.addr).await.unwrap();
    let mut c = Client {
        io: BufReader::new(tcp),
    };
    let greeting = c.reply().await;
    (c, greeting)
}

/// Found by probing: 500 silent connections from one address got every other sender `421`
/// for two minutes. One source now holds at most `max_per_client` sessions; the rest of the
/// listener stays open to others, and a session cannot outlive its lifetime.
pub(crate) async fn one_source_cannot_hold_the_listener(db: TestDatabase) {
    let w = World::start(db, |c| {
        c.max_connections = 30;
        c.max_per_client = 5;
        c.session_lifetime = Duration::from_secs(3);
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..5 {
        let (c, greeting) = connect_from(&w, "127.0.0.1").await;
        assert_eq!(code(&greeting), "220", "{greeting}");
        silent.push(c);
    }
    // The sixth from the same address is turned away, saying why.
    let (mut refused, greeting) = connect_from(&w, "127.0.0.1").await;
    assert!(greeting.starts_with("421 4.7.0"), "{greeting}");
    assert_eq!(refused.reply().await, "");
    // Another sender is served in full meanwhile.
    let (mut other, greeting) = connect_from(&w, "127.0.0.2").await;
    assert_eq!(code(&greeting), "220", "{greeting}");
    assert_eq!(code(&other.cmd("EHLO other.example").await), "250");
    let data = message(
        &w.rcpt(),
        "held-1",
        &report("Other", "held-1", "a@other.example"),
    );
    assert_eq!(code(&other.cmd("MAIL FROM:<a@other.example>").await), "250");
    assert_eq!(
        code(&other.cmd(&format!("RCPT TO:<{}>", w.rcpt())).await),
        "250"
    );
    assert_eq!(code(&other.cmd("DATA").await), "354");
    other.send(&format!("{}\r\n.\r\n", data.trim_end())).await;
    let stored = other.reply().await;
    assert!(stored.starts_with("250 2.0.0"), "{stored}");
    assert_eq!(w.stored().await.len(), 1);
    // The silent sessions end at their lifetime (3 s here), freeing their places.
    for c in &mut silent {
        let start = std::time::Instant::now();
        let mut rest = c.reply().await;
        while !rest.is_empty() {
            rest = c.reply().await;
        }
        assert!(start.elapsed() < Duration::from_secs(8));
    }
    let (_again, greeting) = connect_from(&w, "127.0.0.1").await;
    assert_eq!(code(&greeting), "220", "{greeting}");
    w.finish().await;
}
