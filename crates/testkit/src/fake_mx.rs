//! A customer's MX host on loopback: a small SMTP server that greets, answers `EHLO`,
//! optionally offers `STARTTLS` with a given certificate, and accepts nothing else of
//! substance. Enough for a sender's (or stsd's verifier's) STARTTLS probe.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// A fake MX host; stops when dropped.
pub struct FakeMx {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for FakeMx {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeMx {
    /// Listens on a free loopback port. With `tls`, `STARTTLS` is offered and upgrades to
    /// it; without, `STARTTLS` is neither offered nor accepted.
    pub async fn start(tls: Option<Arc<rustls::ServerConfig>>) -> io::Result<FakeMx> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let tls = tls.clone();
                tokio::spawn(async move {
                    let mut io = BufReader::new(tcp);
                    if io
                        .get_mut()
                        .write_all(b"220 mx.test ESMTP fake\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    if !dialogue(&mut io, tls.is_some()).await {
                        return;
                    }
                    let Some(config) = tls else { return };
                    let Ok(stream) = TlsAcceptor::from(config).accept(io.into_inner()).await else {
                        return;
                    };
                    let mut io = BufReader::new(stream);
                    let _ = dialogue(&mut io, false).await;
                });
            }
        });
        Ok(FakeMx { addr, task })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Answers commands until `QUIT` or EOF (false), or until `STARTTLS` was accepted (true).
async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    offer_starttls: bool,
) -> bool {
    let mut line = String::new();
    loop {
        line.clear();
        match io.read_line(&mut line).await {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        let verb = line.trim().to_ascii_uppercase();
        let reply: &[u8] = if verb.starts_with("EHLO") {
            if offer_starttls {
                b"250-mx.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
            } else {
                b"250-mx.test\r\n250 8BITMIME\r\n"
            }
        } else if verb == "STARTTLS" && offer_starttls {
            if io.get_mut().write_all(b"220 go ahead\r\n").await.is_err() {
                return false;
            }
            return true;
        } else if verb == "QUIT" {
            let _ = io.get_mut().write_all(b"221 bye\r\n").await;
            return false;
        } else {
            b"502 not here\r\n"
        };
        if io.get_mut().write_all(reply).await.is_err() {
            return false;
        }
    }
}
