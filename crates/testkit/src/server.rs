//! The socket loops of the fake DNS server: UDP datagrams and length-prefixed TCP streams.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;

use crate::zone::{Transport, Zone};

/// Largest DNS message over either transport.
const MAX_MESSAGE: usize = 65_535;
/// How long an idle TCP connection is kept open.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Pause after a socket error, so a persistent error cannot spin a core.
const ERROR_PAUSE: Duration = Duration::from_millis(5);

/// What the socket loops share with the [`crate::FakeDns`] handle.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The zone; the lock is only held while computing one answer, never across an await.
    pub(crate) zone: RwLock<Zone>,
    /// Responses sent so far.
    pub(crate) queries: AtomicUsize,
}

impl Shared {
    /// Answers one raw message and counts it if a response goes out.
    fn respond(&self, request: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let response = self
            .zone
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .respond(request, transport)?;
        self.queries.fetch_add(1, Ordering::Relaxed);
        Some(response)
    }
}

/// Answers UDP queries until the task is aborted.
pub(crate) async fn serve_udp(socket: UdpSocket, shared: Arc<Shared>) {
    let mut buf = vec![0_u8; MAX_MESSAGE];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            tokio::time::sleep(ERROR_PAUSE).await;
            continue;
        };
        let Some(request) = buf.get(..len) else {
            continue;
        };
        if let Some(response) = shared.respond(request, Transport::Udp) {
            // A lost datagram is the client's problem to retry, as on a real network.
            let _ = socket.send_to(&response, peer).await;
        }
    }
}

/// Accepts TCP connections until the task is aborted; aborting it also ends every connection.
pub(crate) async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                Err(_) => tokio::time::sleep(ERROR_PAUSE).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Answers the queries of one TCP connection (RFC 1035 §4.2.2: two-octet length prefix) until
/// the client closes it, goes idle, or sends something unanswerable.
async fn serve_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buf = vec![0_u8; MAX_MESSAGE];
    loop {
        let mut prefix = [0_u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut prefix)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => return,
        }
        let len = usize::from(u16::from_be_bytes(prefix));
        let Some(request) = buf.get_mut(..len) else {
            return;
        };
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(request)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => return,
        }
        let Some(response) = shared.respond(request, Transport::Tcp) else {
            return;
        };
        let Ok(response_len) = u16::try_from(response.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(response.len() + 2);
        framed.extend_from_slice(&response_len.to_be_bytes());
        framed.extend_from_slice(&response);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}
