//! The first TLS record of a connection, read before rustls sees it, to refuse ClientHellos
//! that can never get a certificate here and that rustls would log at WARN each time: an
//! IP address as SNI (RFC 6066 §3 forbids it), a server name that is no host name, a first
//! handshake message that is not a ClientHello. Refused here, they cost one rate-limited
//! line ([`HelloLog`]) instead of one line per handshake.
//!
//! Anything this reader cannot conclude on — another record type, a ClientHello spread over
//! several records, a malformed message — goes to rustls untouched, which decides as before.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::log_limit::LogLimit;

/// TLS record content type `handshake`.
const HANDSHAKE: u8 = 22;
/// Handshake message type `client_hello`.
const CLIENT_HELLO: u8 = 1;
/// Extension type `server_name` (RFC 6066).
const SERVER_NAME: u16 = 0;
/// Largest plaintext record fragment (RFC 8446 §5.1).
const MAX_FRAGMENT: usize = 1 << 14;
/// How often each kind of refusal is logged at most.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Why a first flight is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The ClientHello names an IP address as its server name.
    IpAddressSni,
    /// The ClientHello's server name is not a host name (or is given twice).
    InvalidSni,
    /// The first handshake message is not a ClientHello.
    NotClientHello,
}

impl Refusal {
    /// A short name for logs.
    fn kind(self) -> &'static str {
        match self {
            Refusal::IpAddressSni => "ip_address_sni",
            Refusal::InvalidSni => "invalid_sni",
            Refusal::NotClientHello => "not_client_hello",
        }
    }

    /// The fatal alert the client is sent (RFC 8446 §6.2): `unrecognized_name` for an
    /// address (no host of that name here), `illegal_parameter` for a malformed name,
    /// `unexpected_message` for a message out of order.
    pub(crate) fn alert(self) -> u8 {
        match self {
            Refusal::IpAddressSni => 112,
            Refusal::InvalidSni => 47,
            Refusal::NotClientHello => 10,
        }
    }
}

/// What the first record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Hand the connection to rustls.
    Proceed,
    /// Refuse it here.
    Refuse(Refusal),
}

/// Judges the first record `record` (header included) of a connection.
pub(crate) fn judge(record: &[u8]) -> Verdict {
    let Some((&HANDSHAKE, rest)) = record.split_first() else {
        return Verdict::Proceed;
    };
    // Record header: version (2), length (2); then the first handshake message's header:
    // type (1), length (3).
    let Some(fragment) = rest.get(4..) else {
        return Verdict::Proceed;
    };
    let Some((&msg_type, rest)) = fragment.split_first() else {
        return Verdict::Proceed;
    };
    if msg_type != CLIENT_HELLO {
        return Verdict::Refuse(Refusal::NotClientHello);
    }
    let mut r = Reader(rest);
    let Some(len) = r.u24() else {
        return Verdict::Proceed;
    };
    // A ClientHello longer than this record continues in the next one: rustls decides.
    let Some(body) = r.take(len) else {
        return Verdict::Proceed;
    };
    match server_name(body) {
        Some(Name::Ip) => Verdict::Refuse(Refusal::IpAddressSni),
        Some(Name::Invalid) => Verdict::Refuse(Refusal::InvalidSni),
        Some(Name::Host) | None => Verdict::Proceed,
    }
}

/// The kind of name a ClientHello's `server_name` extension holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Host,
    Ip,
    Invalid,
}

/// The server name in a ClientHello body; `None` when there is none or the body is
/// malformed (rustls then refuses it with its own alert).
fn server_name(body: &[u8]) -> Option<Name> {
    let mut r = Reader(body);
    r.take(2 + 32)?; // legacy_version, random
    let session_id = r.u8()?;
    r.take(session_id)?;
    let suites = r.u16()?;
    r.take(suites)?;
    let compression = r.u8()?;
    r.take(compression)?;
    let extensions = r.u16()?;
    let mut extensions = Reader(r.take(extensions)?);
    while !extensions.0.is_empty() {
        let typ = extensions.u16()?;
        let len = extensions.u16()?;
        let data = extensions.take(len)?;
        if typ == SERVER_NAME as usize {
            return name_list(data);
        }
    }
    None
}

/// RFC 6066 §3 `ServerNameList`, classified the way rustls does: one `host_name` entry,
/// read as a server name; entries of other types end the list.
fn name_list(data: &[u8]) -> Option<Name> {
    let mut r = Reader(data);
    let len = r.u16()?;
    let mut list = Reader(r.take(len)?);
    let mut found = None;
    while !list.0.is_empty() {
        if list.u8()? != 0 {
            break;
        }
        let len = list.u16()?;
        let raw = list.take(len)?;
        if found.is_some() {
            return Some(Name::Invalid);
        }
        found = Some(match ServerName::try_from(raw) {
            Ok(ServerName::DnsName(_)) => Name::Host,
            Ok(ServerName::IpAddress(_)) => Name::Ip,
            Ok(_) | Err(_) => Name::Invalid,
        });
    }
    found
}

/// Reads big-endian lengths and slices off a message, `None` past its end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }

    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }
}

/// Reads the connection's first record: its 5-byte header, and the fragment if it is a
/// handshake record of a legal size. Whatever is read is handed to rustls afterwards.
async fn first_record<S: AsyncRead + Unpin>(io: &mut S) -> io::Result<Vec<u8>> {
    let mut record = vec![0; 5];
    io.read_exact(&mut record).await?;
    let len = usize::from(u16::from_be_bytes([record[3], record[4]]));
    if record[0] == HANDSHAKE && len <= MAX_FRAGMENT {
        record.resize(5 + len, 0);
        io.read_exact(&mut record[5..]).await?;
    }
    Ok(record)
}

/// A connection after its first record was read: that record, then the rest.
pub(crate) type Screened = tokio::io::Join<
    tokio::io::Chain<io::Cursor<Vec<u8>>, tokio::net::tcp::OwnedReadHalf>,
    tokio::net::tcp::OwnedWriteHalf,
>;

/// Reads the first record of `tcp` and either hands back a stream that replays it for
/// rustls, or refuses the connection with a fatal alert (`None`), noting it in `log`.
/// `None` too when the client closes or fails before a record header arrives.
pub(crate) async fn screen(
    mut tcp: TcpStream,
    peer: SocketAddr,
    log: &HelloLog,
) -> Option<Screened> {
    let record = match first_record(&mut tcp).await {
        Ok(record) => record,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "no complete TLS record");
            return None;
        }
    };
    match judge(&record) {
        Verdict::Proceed => {
            let (read, write) = tcp.into_split();
            Some(tokio::io::join(io::Cursor::new(record).chain(read), write))
        }
        Verdict::Refuse(refusal) => {
            log.note(refusal, peer);
            let _ = send_alert(&mut tcp, refusal.alert()).await;
            None
        }
    }
}

/// Sends a fatal alert in a plaintext record.
async fn send_alert<S: AsyncWrite + Unpin>(io: &mut S, description: u8) -> io::Result<()> {
    io.write_all(&[21, 3, 3, 0, 2, 2, description]).await?;
    io.shutdown().await
}

/// The log of refused first flights: every refusal at debug level, and at most one line per
/// kind and 10 s at info level, counting those left out since the last (a client can send
/// thousands a second; one line per handshake would flood the log).
#[derive(Debug)]
pub(crate) struct HelloLog {
    ip_address_sni: LogLimit,
    invalid_sni: LogLimit,
    not_client_hello: LogLimit,
}

impl HelloLog {
    pub(crate) fn new() -> HelloLog {
        HelloLog {
            ip_address_sni: LogLimit::new(LOG_EVERY),
            invalid_sni: LogLimit::new(LOG_EVERY),
            not_client_hello: LogLimit::new(LOG_EVERY),
        }
    }

    fn note(&self, refusal: Refusal, peer: SocketAddr) {
        let kind = refusal.kind();
        tracing::debug!(%peer, kind, "TLS first flight refused");
        let limit = match refusal {
            Refusal::IpAddressSni => &self.ip_address_sni,
            Refusal::InvalidSni => &self.invalid_sni,
            Refusal::NotClientHello => &self.not_client_hello,
        };
        if let Some(suppressed) = limit.admit() {
            let what = match refusal {
                Refusal::IpAddressSni => "a ClientHello naming an IP address as SNI",
                Refusal::InvalidSni => "a ClientHello whose SNI is not a host name",
                Refusal::NotClientHello => "a handshake that did not start with a ClientHello",
            };
            tracing::info!(%peer, kind, suppressed,
                "TLS handshake refused: {what} (at most one line per kind every {} s; \
                 `suppressed` counts the others since the last line)",
                LOG_EVERY.as_secs());
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A ClientHello record with the server name entries `names` (`None`: no extension).
    fn hello(names: Option<&[&[u8]]>) -> Vec<u8> {
        stsd_testkit::client_hello(names.unwrap_or_default())
    }

    #[test]
    fn names_are_classified_like_rustls() {
        let cases: [(&[&[u8]], Verdict); 7] = [
            (&[b"mta-sts.example.com"], Verdict::Proceed),
            (&[b"127.0.0.1"], Verdict::Refuse(Refusal::IpAddressSni)),
            (&[b"203.0.113.7"], Verdict::Refuse(Refusal::IpAddressSni)),
            (&[b"::1"], Verdict::Refuse(Refusal::IpAddressSni)),
            (&[b"bad name!"], Verdict::Refuse(Refusal::InvalidSni)),
            (&[b"\xff\xfe"], Verdict::Refuse(Refusal::InvalidSni)),
            (
                &[b"a.example", b"b.example"],
                Verdict::Refuse(Refusal::InvalidSni),
            ),
        ];
        for (names, verdict) in cases {
            assert_eq!(judge(&hello(Some(names))), verdict, "{names:?}");
        }
        assert_eq!(judge(&hello(None)), Verdict::Proceed);
    }

    #[test]
    fn anything_unclear_goes_to_rustls() {
        let full = hello(Some(&[b"127.0.0.1"]));
        // Cut short: the ClientHello continues in another record.
        for cut in 0..full.len() {
            assert_eq!(judge(&full[..cut]), Verdict::Proceed, "cut at {cut}");
        }
        // Not a handshake record: plain HTTP on the TLS port.
        assert_eq!(judge(b"GET / HTTP/1.1\r\n"), Verdict::Proceed);
        // A handshake message other than ClientHello first.
        let mut server_hello = full.clone();
        server_hello[5] = 2;
        assert_eq!(
            judge(&server_hello),
            Verdict::Refuse(Refusal::NotClientHello)
        );
    }

    #[test]
    fn a_real_client_hello_proceeds() {
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let name = ServerName::try_from("mta-sts.example.com").unwrap();
        let mut client = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
        let mut wire = Vec::new();
        client.write_tls(&mut wire).unwrap();
        assert_eq!(judge(&wire), Verdict::Proceed);
    }

    #[tokio::test]
    async fn the_first_record_is_read_whole_and_no_further() {
        let full = hello(Some(&[b"mta-sts.example.com"]));
        let mut wire = full.clone();
        wire.extend_from_slice(b"next record");
        let mut io = &wire[..];
        assert_eq!(first_record(&mut io).await.unwrap(), full);
        assert_eq!(io, b"next record");
        // Not a handshake: only the header.
        let mut io = &b"GET / HTTP/1.1\r\n"[..];
        assert_eq!(first_record(&mut io).await.unwrap(), b"GET /");
    }

    proptest! {
        #[test]
        fn judging_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = judge(&bytes);
            let mut record = vec![HANDSHAKE, 3, 3, 0, 0, CLIENT_HELLO];
            record.extend_from_slice(&bytes);
            let _ = judge(&record);
        }

        #[test]
        fn host_names_proceed(name in "[a-z]([a-z0-9-]{0,18}[a-z0-9])?(\\.[a-z]([a-z0-9-]{0,18}[a-z0-9])?){1,3}") {
            prop_assert_eq!(judge(&hello(Some(&[name.as_bytes()]))), Verdict::Proceed);
        }

        #[test]
        fn addresses_are_refused(ip in any::<std::net::IpAddr>()) {
            let text = ip.to_string();
            prop_assert_eq!(
                judge(&hello(Some(&[text.as_bytes()]))),
                Verdict::Refuse(Refusal::IpAddressSni)
            );
        }
    }
}
