//! A customer's own `mta-sts.<domain>` host on loopback: HTTPS with a given certificate,
//! answering every request with one response the test sets (status, media type, body and
//! any extra headers), so that a reader's handling of good and bad hosts can be shown.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// The response every request gets.
#[derive(Debug, Clone)]
pub struct PolicyResponse {
    /// Status line after `HTTP/1.1 `, e.g. `200 OK`.
    pub status: String,
    /// The `Content-Type`; none when `None`.
    pub content_type: Option<String>,
    /// Extra header lines, e.g. `Location: https://elsewhere/`.
    pub headers: Vec<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl PolicyResponse {
    /// `200 OK`, `text/plain`, `body`.
    pub fn policy(body: &str) -> PolicyResponse {
        PolicyResponse {
            status: "200 OK".to_owned(),
            content_type: Some("text/plain".to_owned()),
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }
}

/// A fake policy host; stops when dropped.
pub struct FakePolicyHost {
    addr: SocketAddr,
    response: Arc<Mutex<PolicyResponse>>,
    task: JoinHandle<()>,
}

impl Drop for FakePolicyHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakePolicyHost {
    /// Listens on `addr` (a loopback address; port 0 for a free one) with `tls`, answering
    /// `response`.
    pub async fn start(
        addr: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
        response: PolicyResponse,
    ) -> io::Result<FakePolicyHost> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let response = Arc::new(Mutex::new(response));
        let shared = response.clone();
        let acceptor = TlsAcceptor::from(tls);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let Ok(mut stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    // The request head; its content does not matter.
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16_384 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let response = match shared.lock() {
                        Ok(r) => r.clone(),
                        Err(_) => return,
                    };
                    let mut out = format!("HTTP/1.1 {}\r\n", response.status);
                    if let Some(ct) = &response.content_type {
                        out.push_str(&format!("Content-Type: {ct}\r\n"));
                    }
                    for header in &response.headers {
                        out.push_str(header);
                        out.push_str("\r\n");
                    }
                    out.push_str(&format!(
                        "Content-Length: {}\r\nConnection: close\r\n\r\n",
                        response.body.len()
                    ));
                    let mut bytes = out.into_bytes();
                    bytes.extend_from_slice(&response.body);
                    let _ = stream.write_all(&bytes).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Ok(FakePolicyHost {
            addr,
            response,
            task,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers `response` from now on.
    pub fn set_response(&self, response: PolicyResponse) {
        if let Ok(mut current) = self.response.lock() {
            *current = response;
        }
    }
}
