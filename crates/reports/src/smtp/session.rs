//! One SMTP connection: the command dialogue (RFC 5321), STARTTLS (RFC 3207), and `DATA`
//! with dot-unstuffing under size and time limits.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stsd_core::Label;
use stsd_store::{Domain, DomainState, IngestError, ReportOrigin, Submission, Transport};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::Shared;
use super::command::{self, Command, MailFrom, MailSyntax, RcptSyntax, RcptTo};
use super::message::{DkimVerdict, ExtractError, extract_report, verify_dkim};

/// Longest command line. RFC 5321 allows 512 octets; extensions (SIZE=, BODY=, long
/// addresses) stay far below this.
const MAX_COMMAND_LINE: usize = 4096;
/// Longest text line in `DATA`. RFC 5321 says 1000; some senders send longer base64 lines.
const MAX_DATA_LINE: usize = 64 * 1024;

enum ReadError {
    Eof,
    TooLong,
    Timeout,
    Io,
}

/// Reads one line (up to and including `\n`) into `out`, refusing lines over `max`.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    out: &mut Vec<u8>,
    max: usize,
    deadline: Instant,
) -> Result<(), ReadError> {
    out.clear();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let buf = match tokio::time::timeout(left, r.fill_buf()).await {
            Err(_) => return Err(ReadError::Timeout),
            Ok(Err(_)) => return Err(ReadError::Io),
            Ok(Ok(buf)) => buf,
        };
        if buf.is_empty() {
            return Err(ReadError::Eof);
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if out.len() + take > max {
            return Err(ReadError::TooLong);
        }
        out.extend_from_slice(&buf[..take]);
        r.consume(take);
        if done {
            return Ok(());
        }
    }
}

/// What ends a dialogue.
enum Next {
    /// The connection is over.
    Close,
    /// The client asked for STARTTLS and was told to go ahead.
    StartTls,
}

/// Answers a connection over the limit.
pub(super) async fn refuse_busy(mut tcp: TcpStream, refusal: stsd_net::Refusal) {
    let line: &[u8] = match refusal {
        stsd_net::Refusal::Full => b"421 4.3.2 Too many connections, try again later\r\n",
        stsd_net::Refusal::ClientFull => {
            b"421 4.7.0 Too many connections from your address, try again later\r\n"
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.write_all(line)).await;
}

/// Serves one connection to its end.
pub(super) async fn run(tcp: TcpStream, peer: SocketAddr, shared: &Shared) {
    let mut reader = BufReader::new(tcp);
    let greeting = format!(
        "220 {} ESMTP stsd TLS-RPT receiver\r\n",
        shared.config.hostname
    );
    if write(&mut reader, greeting.as_bytes()).await.is_err() {
        return;
    }
    let Next::StartTls = Dialogue::new(shared, peer, false).run(&mut reader).await else {
        return;
    };
    // Anything the client sent after STARTTLS before the handshake would be injected into
    // the TLS session (CVE-2011-0411): such a client is dropped.
    if !reader.buffer().is_empty() {
        return;
    }
    let Some(tls) = shared.config.tls.clone() else {
        return;
    };
    let tcp = reader.into_inner();
    let accepted = tokio::time::timeout(
        shared.config.command_timeout,
        TlsAcceptor::from(tls).accept(tcp),
    )
    .await;
    let Ok(Ok(stream)) = accepted else {
        tracing::debug!(%peer, "SMTP STARTTLS handshake failed");
        return;
    };
    let mut reader = BufReader::new(stream);
    // A second STARTTLS is refused inside, so this returns only `Close`.
    let _ = Dialogue::new(shared, peer, true).run(&mut reader).await;
}

async fn write<S: AsyncRead + AsyncWrite + Unpin>(
    reader: &mut BufReader<S>,
    bytes: &[u8],
) -> std::io::Result<()> {
    let stream = reader.get_mut();
    stream.write_all(bytes).await?;
    stream.flush().await
}

struct Dialogue<'a> {
    shared: &'a Shared,
    peer: SocketAddr,
    tls: bool,
    helo: Option<String>,
    /// Whether the client greeted with `EHLO`: extensions such as STARTTLS exist only then
    /// (RFC 3207 §4, RFC 5321 §4.1.1.1).
    extended: bool,
    mail_from: Option<String>,
    recipients: Vec<Domain>,
}

/// A reply: the code with its enhanced status and text.
type Reply = String;

impl<'a> Dialogue<'a> {
    fn new(shared: &'a Shared, peer: SocketAddr, tls: bool) -> Dialogue<'a> {
        Dialogue {
            shared,
            peer,
            tls,
            helo: None,
            extended: false,
            mail_from: None,
            recipients: Vec::new(),
        }
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.recipients.clear();
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin>(&mut self, reader: &mut BufReader<S>) -> Next {
        let config = &self.shared.config;
        let mut line = Vec::new();
        for _ in 0..config.max_commands {
            let deadline = Instant::now() + config.command_timeout;
            match read_line(reader, &mut line, MAX_COMMAND_LINE, deadline).await {
                Ok(()) => {}
                Err(ReadError::TooLong) => {
                    let _ = write(reader, b"500 5.5.2 Line too long\r\n").await;
                    return Next::Close;
                }
                Err(ReadError::Timeout) => {
                    let _ = write(reader, b"421 4.4.2 Timeout, closing connection\r\n").await;
                    return Next::Close;
                }
                Err(ReadError::Eof | ReadError::Io) => return Next::Close,
            }
            let text = command::text(&line);
            let reply: Reply = match Command::parse(&text) {
                Command::Hello { domain: "", .. } => {
                    "501 5.5.4 A domain or address literal is required".to_owned()
                }
                Command::Hello {
                    extended: true,
                    domain,
                } => {
                    self.reset();
                    self.helo = Some(domain.to_owned());
                    self.extended = true;
                    let mut r = format!(
                        "250-{} greets {domain}\r\n250-PIPELINING\r\n250-SIZE {}\r\n250-8BITMIME\r\n",
                        config.hostname, config.max_message
                    );
                    if !self.tls && config.tls.is_some() {
                        r.push_str("250-STARTTLS\r\n");
                    }
                    r.push_str("250 ENHANCEDSTATUSCODES");
                    r
                }
                Command::Hello {
                    extended: false,
                    domain,
                } => {
                    self.reset();
                    self.helo = Some(domain.to_owned());
                    self.extended = false;
                    format!("250 {}", config.hostname)
                }
                Command::StartTls { .. } if self.tls => {
                    "503 5.5.1 TLS is already active".to_owned()
                }
                Command::StartTls { .. } if config.tls.is_none() => {
                    "502 5.5.1 STARTTLS is not offered".to_owned()
                }
                Command::StartTls { argument: true } => {
                    "501 5.5.4 STARTTLS takes no argument".to_owned()
                }
                Command::StartTls { .. } if !self.extended => "503 5.5.1 EHLO first".to_owned(),
                Command::StartTls { argument: false } => {
                    if write(reader, b"220 2.0.0 Ready to start TLS\r\n")
                        .await
                        .is_err()
                    {
                        return Next::Close;
                    }
                    return Next::StartTls;
                }
                Command::Mail(arg) => self.mail(arg),
                Command::Rcpt(arg) => self.rcpt(arg).await,
                Command::Data { argument: true } => "501 5.5.4 DATA takes no argument".to_owned(),
                Command::Data { argument: false } => {
                    if self.mail_from.is_none() {
                        "503 5.5.1 MAIL first".to_owned()
                    } else if self.recipients.is_empty() {
                        "554 5.5.1 No valid recipients".to_owned()
                    } else {
                        if write(reader, b"354 End data with <CR><LF>.<CR><LF>\r\n")
                            .await
                            .is_err()
                        {
                            return Next::Close;
                        }
                        match self.data(reader).await {
                            Some(reply) => {
                                self.reset();
                                reply
                            }
                            None => return Next::Close,
                        }
                    }
                }
                Command::Rset => {
                    self.reset();
                    "250 2.0.0 OK".to_owned()
                }
                Command::Noop => "250 2.0.0 OK".to_owned(),
                Command::Vrfy => "252 2.5.0 Cannot verify, send mail to find out".to_owned(),
                Command::Help => "214 2.0.0 This server receives TLS reports (RFC 8460)".to_owned(),
                Command::Quit => {
                    let _ = write(reader, b"221 2.0.0 Bye\r\n").await;
                    return Next::Close;
                }
                Command::Unknown => "502 5.5.2 Command not recognized".to_owned(),
            };
            if write(reader, format!("{reply}\r\n").as_bytes())
                .await
                .is_err()
            {
                return Next::Close;
            }
        }
        let _ = write(
            reader,
            b"421 4.7.0 Too many commands, closing connection\r\n",
        )
        .await;
        Next::Close
    }

    fn mail(&mut self, arg: &str) -> Reply {
        if self.helo.is_none() {
            return "503 5.5.1 Send EHLO or HELO first".to_owned();
        }
        if self.mail_from.is_some() {
            return "503 5.5.1 Nested MAIL command".to_owned();
        }
        let mail = match MailFrom::parse(arg) {
            Ok(mail) => mail,
            Err(MailSyntax::NoFrom) => return "501 5.5.4 Syntax: MAIL FROM:<address>".to_owned(),
            Err(MailSyntax::BadPath) => return "501 5.1.7 Bad sender address syntax".to_owned(),
            Err(MailSyntax::BadSize) => return "501 5.5.4 Bad SIZE parameter".to_owned(),
        };
        let max = self.shared.config.max_message;
        if mail.size.is_some_and(|n| n > max as u64) {
            return format!("552 5.3.4 Message too big, the limit is {max} bytes");
        }
        self.mail_from = Some(mail.path.to_owned());
        "250 2.1.0 OK".to_owned()
    }

    async fn rcpt(&mut self, arg: &str) -> Reply {
        if self.mail_from.is_none() {
            return "503 5.5.1 MAIL first".to_owned();
        }
        let RcptTo { local, domain } = match RcptTo::parse(arg) {
            Ok(rcpt) => rcpt,
            Err(RcptSyntax::NoTo) => return "501 5.5.4 Syntax: RCPT TO:<address>".to_owned(),
            Err(RcptSyntax::BadPath) => {
                return "501 5.1.3 Bad recipient address syntax".to_owned();
            }
            Err(RcptSyntax::NoDomain) => return "550 5.1.1 No such report address".to_owned(),
        };
        if !domain.eq_ignore_ascii_case(&self.shared.config.hostname) {
            return "550 5.7.1 Relaying denied: this server only receives TLS reports".to_owned();
        }
        if self.recipients.len() >= self.shared.config.max_recipients {
            return "452 4.5.3 Too many recipients".to_owned();
        }
        let Ok(label) = local.parse::<Label>() else {
            return "550 5.1.1 No such report address".to_owned();
        };
        match self
            .shared
            .store
            .all_tenants()
            .domain_by_label(&label)
            .await
        {
            Ok(Some(d)) if d.state != DomainState::Removed => {
                if !self.recipients.iter().any(|r| r.id == d.id) {
                    self.recipients.push(d);
                }
                "250 2.1.5 OK".to_owned()
            }
            Ok(_) => "550 5.1.1 No such report address".to_owned(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up a report address");
                "451 4.3.0 Temporary failure, try again later".to_owned()
            }
        }
    }

    /// Reads the message and stores its report. `None` when the connection must close.
    async fn data<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        reader: &mut BufReader<S>,
    ) -> Option<Reply> {
        let config = &self.shared.config;
        let deadline = Instant::now() + config.data_timeout;
        let mut message = Vec::new();
        let mut too_big = false;
        let mut line = Vec::new();
        loop {
            match read_line(reader, &mut line, MAX_DATA_LINE, deadline).await {
                Ok(()) => {}
                Err(ReadError::TooLong) => {
                    let _ = write(reader, b"500 5.5.2 Line too long\r\n").await;
                    return None;
                }
                Err(ReadError::Timeout) => {
                    let _ = write(reader, b"421 4.4.2 Timeout, closing connection\r\n").await;
                    return None;
                }
                Err(ReadError::Eof | ReadError::Io) => return None,
            }
            if line == b".\r\n" || line == b".\n" {
                break;
            }
            let content = line.strip_prefix(b".").unwrap_or(&line);
            if message.len() + content.len() > config.max_message {
                too_big = true;
            }
            if !too_big {
                message.extend_from_slice(content);
            }
        }
        if too_big {
            return Some(format!(
                "552 5.3.4 Message too big, the limit is {} bytes",
                config.max_message
            ));
        }
        Some(self.deliver(&message).await)
    }

    async fn deliver(&self, raw: &[u8]) -> Reply {
        let config = &self.shared.config;
        let report = match extract_report(raw, config.max_decompressed) {
            Ok(r) => r,
            Err(ExtractError::TooLarge(e)) => return format!("552 5.3.4 {e}"),
            Err(e) => return format!("550 5.6.0 {e}"),
        };
        let dkim = tokio::time::timeout(
            config.dkim_timeout,
            verify_dkim(&self.shared.dkim, raw, report.from_domain.as_deref()),
        )
        .await
        .unwrap_or(DkimVerdict::TempError);
        if dkim == DkimVerdict::TempError {
            return "451 4.7.5 DKIM key lookup failed, try again later".to_owned();
        }
        let mut ids = Vec::new();
        for domain in &self.recipients {
            let submission = Submission {
                domain,
                body: &report.body,
                declared_media_type: report.media_type.as_deref(),
                transport: Transport::Smtp,
                origin: if dkim == DkimVerdict::Pass {
                    ReportOrigin::Dkim
                } else {
                    ReportOrigin::UnauthenticatedMail
                },
                dkim: Some(dkim.as_str()),
                flags: &report.flags,
                max_decompressed: config.max_decompressed,
            };
            match self
                .shared
                .store
                .all_tenants()
                .ingest_submission(&submission)
                .await
            {
                Ok(ingested) => {
                    tracing::info!(peer = %self.peer, domain = %domain.name,
                        organization = %ingested.organization, report_id = %ingested.report_id,
                        duplicate = ingested.duplicate, dkim = dkim.as_str(),
                        "TLS report received by mail");
                    ids.push(ingested.id);
                }
                Err(IngestError::Report(e)) => return format!("550 5.6.0 {e}"),
                Err(IngestError::Store(e)) => {
                    tracing::warn!(error = %e, "cannot store a TLS report now; the sender will retry");
                    return "451 4.3.0 Temporary failure, try again later".to_owned();
                }
            }
        }
        format!("250 2.0.0 Report stored as {}", ids.join(", "))
    }
}
