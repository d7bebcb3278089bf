//! The authoritative DNS of the service zone, answered from the snapshot.
//!
//! [`zone::ZoneConfig::answer`] decides what exists, purely from the snapshot; [`wire`] reads
//! queries and writes answers straight from and into packet buffers. UDP is one loop per
//! socket that drains every ready datagram before it waits again (no task, channel or message
//! object per query: this is the path a storm of resolvers takes); TCP (RFC 7766) gets a task
//! per connection, with a connection cap and idle timeouts.
//!
//! Abuse: UDP answers go through response rate limiting ([`RrlConfig`], `rrl.rs`), so that a
//! forged flood cannot turn the server into a reflector, and ANY gets one RRset (RFC 8482), not
//! every record of the name. TCP, whose peers cannot forge their address, is never rate limited.

mod apex;
mod notify;
mod rrl;
mod tsig;
mod wire;
mod xfr;
mod zone;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stsd_net::{ConnectionGate, GateLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

pub use apex::{ApexError, Nameserver, Nameservers, Soa, SoaSettings};
pub use notify::notify_secondaries;
pub(crate) use rrl::Limiter;
pub use rrl::RrlConfig;
pub use tsig::{TsigKey, TsigKeyError};
pub use zone::{Answer, Data, Owner, Rcode, Rr, Secondary, ZoneConfig, ZoneError, rtype};

use crate::follower::SnapshotHandle;
use crate::snapshot::{Acknowledged, Snapshot};

/// Limits of DNS over TCP, and the rate limiting of UDP answers.
#[derive(Debug, Clone, Copy)]
pub struct DnsLimits {
    /// TCP connections served at once, in all and per client; more are closed at once.
    pub tcp: GateLimits,
    /// A TCP connection with nothing to read for this long is closed (no slowloris).
    pub tcp_idle: Duration,
    /// Longest a TCP connection may live, however busy: one that queries every few seconds
    /// must not hold its slot for good.
    pub tcp_lifetime: Duration,
    /// Response rate limiting of UDP answers.
    pub rrl: RrlConfig,
}

impl Default for DnsLimits {
    fn default() -> DnsLimits {
        DnsLimits {
            tcp: GateLimits {
                max_connections: 4096,
                // A resolver keeps one or a few connections open (RFC 7766 §6.2.2).
                max_per_client: 32,
            },
            tcp_idle: Duration::from_secs(10),
            tcp_lifetime: Duration::from_secs(120),
            rrl: RrlConfig::default(),
        }
    }
}

/// Datagrams answered before the UDP loop lets other tasks run.
const UDP_BATCH: usize = 64;
/// Largest DNS message over TCP.
const TCP_MAX: usize = 65_535;

/// Answers queries from one snapshot handle.
struct Responder {
    snapshots: SnapshotHandle,
    zone: ZoneConfig,
}

impl Responder {
    fn new(snapshots: SnapshotHandle, zone: ZoneConfig) -> Responder {
        Responder { snapshots, zone }
    }

    /// Writes the response to `msg` into `out`; false when nothing is to be sent.
    fn respond(&self, msg: &[u8], via: Via<'_>, name: &mut String, out: &mut Vec<u8>) -> bool {
        respond(
            &self.zone,
            &self.snapshots.guard(),
            self.snapshots.acknowledged(),
            Transport { msg, via },
            name,
            out,
        )
    }
}

/// One received message and how it came.
pub(crate) struct Transport<'a> {
    pub(crate) msg: &'a [u8],
    pub(crate) via: Via<'a>,
}

/// How a message came.
pub(crate) enum Via<'a> {
    /// Over TCP: answers up to 64 KiB, never rate limited.
    Tcp,
    /// Over UDP from `client` at `now`: answers fit the requester's payload size, and `rrl`
    /// may truncate or drop them.
    Udp {
        client: IpAddr,
        now: Instant,
        rrl: &'a mut rrl::Limiter,
    },
}

/// Writes the response to a received message into `out`; false when nothing is to be sent.
/// `name` is a scratch buffer for the question's name.
pub(crate) fn respond(
    zone: &ZoneConfig,
    snapshot: &Snapshot,
    acked: Acknowledged,
    received: Transport<'_>,
    name: &mut String,
    out: &mut Vec<u8>,
) -> bool {
    let mut query = match wire::parse(received.msg, name) {
        wire::Parsed::Drop => return false,
        wire::Parsed::Query(q) => q,
    };
    // Transfers go over TCP to secondaries (`xfr::transfer`); one that reaches here came
    // over UDP or from a connection that is not allowed it.
    if query.is_transfer() {
        query.refusal = Some(wire::Refusal::Refused);
    }
    let answer = if query.refusal.is_some() {
        wire::empty_answer()
    } else {
        zone.answer(snapshot, acked, name, query.qtype)
    };
    let limit = match &received.via {
        Via::Tcp => TCP_MAX,
        Via::Udp { .. } => query.udp_limit(),
    };
    if query.signed && query.refusal.is_none() {
        // A secondary's signed query (its SOA check): signed in return, not rate limited
        // (it proved it holds a key).
        xfr::respond_signed(
            zone,
            received.msg,
            &query,
            limit,
            |limit, out| wire::write_response(&query, &answer, zone, limit, out),
            out,
        );
        return true;
    }
    let verdict = match received.via {
        Via::Tcp => rrl::Verdict::Send,
        Via::Udp { client, now, rrl } => {
            let kind = rrl::Kind::of(&answer, query.refusal.is_some(), name, query.qtype);
            rrl.check(client, kind, now)
        }
    };
    match verdict {
        rrl::Verdict::Send => wire::write_response(&query, &answer, zone, limit, out),
        rrl::Verdict::Slip => wire::write_truncated(&query, &answer, out),
        rrl::Verdict::Drop => return false,
    }
    true
}

/// Serves DNS on `udp` and `tcp` with the default limits until the task is aborted.
pub async fn serve_dns(
    udp: UdpSocket,
    tcp: TcpListener,
    snapshots: SnapshotHandle,
    zone: ZoneConfig,
) {
    serve_dns_with(udp, tcp, snapshots, zone, DnsLimits::default()).await;
}

/// Serves DNS on `udp` and `tcp` within `limits` until the task is aborted.
pub async fn serve_dns_with(
    udp: UdpSocket,
    tcp: TcpListener,
    snapshots: SnapshotHandle,
    zone: ZoneConfig,
    limits: DnsLimits,
) {
    let notify_task = (!zone.secondaries().is_empty())
        .then(|| tokio::spawn(notify_secondaries(zone.clone(), snapshots.clone())));
    let responder = Arc::new(Responder::new(snapshots, zone));
    let tcp_task = tokio::spawn(serve_tcp(tcp, Arc::clone(&responder), limits));
    if let Err(e) = serve_udp(&udp, &responder, &limits.rrl).await {
        tracing::error!(error = %e, "DNS over UDP stopped");
    }
    tcp_task.abort();
    if let Some(task) = notify_task {
        task.abort();
    }
}

async fn serve_udp(socket: &UdpSocket, responder: &Responder, rrl: &RrlConfig) -> io::Result<()> {
    let mut buf = vec![0u8; usize::from(wire::UDP_PAYLOAD).max(4096)];
    let mut out = Vec::with_capacity(usize::from(wire::UDP_PAYLOAD));
    let mut name = String::with_capacity(256);
    // Owned by this loop alone: no lock, and its table is allocated once, here.
    let mut rrl = rrl::Limiter::new(rrl);
    loop {
        socket.readable().await?;
        let mut answered = 0;
        while answered < UDP_BATCH {
            let (len, peer) = match socket.try_recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // ICMP errors from earlier sends surface here on some systems; they concern
                // that peer only.
                Err(e) => {
                    tracing::debug!(error = %e, "DNS UDP receive error");
                    continue;
                }
            };
            answered += 1;
            let Some(msg) = buf.get(..len) else { continue };
            let via = Via::Udp {
                client: peer.ip(),
                now: Instant::now(),
                rrl: &mut rrl,
            };
            if responder.respond(msg, via, &mut name, &mut out) {
                send(socket, &out, peer).await;
            }
        }
        if answered == UDP_BATCH {
            tokio::task::yield_now().await;
        }
    }
}

async fn send(socket: &UdpSocket, out: &[u8], peer: SocketAddr) {
    let result = match socket.try_send_to(out, peer) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => socket.send_to(out, peer).await,
        r => r,
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, %peer, "DNS UDP send error");
    }
}

async fn serve_tcp(listener: TcpListener, responder: Arc<Responder>, limits: DnsLimits) {
    let gate = ConnectionGate::new(limits.tcp);
    loop {
        let (stream, peer) = stsd_net::accept(&listener, "dns tcp").await;
        let permit = match gate.admit(peer.ip()) {
            Ok(p) => p,
            Err(refusal) => {
                tracing::debug!(%peer, %refusal, "DNS TCP connection refused");
                continue;
            }
        };
        let responder = Arc::clone(&responder);
        tokio::spawn(async move {
            let served = tokio::time::timeout(
                limits.tcp_lifetime,
                serve_connection(stream, peer.ip(), &responder, limits.tcp_idle),
            )
            .await;
            if let Ok(Err(e)) = served {
                tracing::debug!(error = %e, %peer, "DNS TCP connection ended");
            }
            drop(permit);
        });
    }
}

/// Answers length-prefixed queries (RFC 1035 §4.2.2) in order until the peer closes, goes
/// idle or sends something unreadable.
async fn serve_connection(
    mut stream: TcpStream,
    peer: IpAddr,
    responder: &Responder,
    idle: Duration,
) -> io::Result<()> {
    let mut msg = Vec::new();
    let mut out = Vec::new();
    let mut name = String::with_capacity(256);
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(idle, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
        msg.resize(usize::from(u16::from_be_bytes(len)), 0);
        match tokio::time::timeout(idle, stream.read_exact(&mut msg)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        if let wire::Parsed::Query(query) = wire::parse(&msg, &mut name)
            && query.is_transfer()
        {
            let sent = xfr::transfer(
                &responder.zone,
                &responder.snapshots,
                &msg,
                &query,
                &name,
                peer,
                &mut stream,
            )
            .await?;
            match sent {
                Ok(records) => {
                    tracing::info!(%peer, records, zone = responder.zone.zone(), "zone transferred");
                }
                Err(why) => {
                    tracing::info!(%peer, %why, zone = responder.zone.zone(), "zone transfer refused");
                }
            }
            continue;
        }
        if !responder.respond(&msg, Via::Tcp, &mut name, &mut out) {
            continue;
        }
        let Ok(out_len) = u16::try_from(out.len()) else {
            continue;
        };
        let mut framed = Vec::with_capacity(out.len() + 2);
        framed.extend_from_slice(&out_len.to_be_bytes());
        framed.extend_from_slice(&out);
        match tokio::time::timeout(idle, stream.write_all(&framed)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
