//! TLS reports over HTTPS at `reports.<zone>` on the real binary: the certificate comes from
//! the certs worker (local CA), every delivery is stored once — across transports too —, the
//! same report id from two organizations counts twice, wrong bodies and addresses are refused
//! with the right status, and the summary counts what was stored.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use stsd_testkit::{FakeDns, TestDatabase};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{Server, ZONE, free_port, signup, stsd, wait_until};

fn report(organization: &str, report_id: &str, ok: u64, failed: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "organization-name": organization,
        "date-range": {
            "start-datetime": "2026-11-20T00:00:00Z",
            "end-datetime": "2026-11-20T23:59:59Z"
        },
        "contact-info": "tlsrpt@reporter.example",
        "report-id": report_id,
        "policies": [{
            "policy": {
                "policy-type": "sts",
                "policy-string": ["version: STSv1", "mode: testing", "mx: mx1.example.com", "max_age: 604800"],
                "policy-domain": "example.com",
                "mx-host": ["mx1.example.com"]
            },
            "summary": {
                "total-successful-session-count": ok,
                "total-failure-session-count": failed
            },
            "failure-details": [{
                "result-type": "certificate-expired",
                "sending-mta-ip": "192.0.2.1",
                "receiving-mx-hostname": "mx1.example.com",
                "failed-session-count": failed
            }]
        }]
    }))
    .unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// One request to the edge with SNI and Host `host`, trusting only `root_pem`. `None` when
/// the TLS handshake fails.
async fn send(
    https: SocketAddr,
    host: &str,
    root_pem: &str,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Option<(u16, Value)> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(c.ok()?).ok()?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .ok()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(https).await.ok()?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(host.to_owned()).ok()?, tcp)
        .await
        .ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .ok()?;
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).ok()?)
        .await
        .ok()?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.ok()?.to_bytes();
    Some((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// Delivers `message` to `rcpt` with Python's `smtplib` over STARTTLS, checking the server's
/// certificate for `host` against `root_pem`; the final reply code.
async fn smtp_deliver(
    addr: SocketAddr,
    root_pem: &str,
    host: &str,
    rcpt: &str,
    message: &str,
) -> String {
    const CLIENT: &str = r#"
import smtplib, ssl, sys
port, cafile, host, rcpt, path = sys.argv[1:]
msg = open(path, 'rb').read()
s = smtplib.SMTP('127.0.0.1', int(port), local_hostname='mta.reporter.example', timeout=30)
s._host = host  # the name STARTTLS verifies the certificate for
s.starttls(context=ssl.create_default_context(cafile=cafile))
try:
    s.sendmail('noreply@reporter.example', [rcpt], msg)
    print('250')
except smtplib.SMTPRecipientsRefused as e:
    print(list(e.recipients.values())[0][0])
except smtplib.SMTPResponseException as e:
    print(e.smtp_code)
s.quit()
"#;
    let dir = tempfile::tempdir().unwrap();
    let (ca, msg) = (dir.path().join("ca.pem"), dir.path().join("msg.eml"));
    std::fs::write(&ca, root_pem).unwrap();
    std::fs::write(&msg, message).unwrap();
    let args = [
        "-c".to_owned(),
        CLIENT.to_owned(),
        addr.port().to_string(),
        ca.display().to_string(),
        host.to_owned(),
        rcpt.to_owned(),
        msg.display().to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || Command::new("python3").args(args).output())
        .await
        .unwrap()
        .expect("python3 is installed");
    assert!(
        out.status.success(),
        "smtplib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn reports_over_https(db: TestDatabase) {
    rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .ok();
    let customer = FakeDns::start().await.unwrap();
    customer.set_mx("example.com", &[(10, "mx1.example.com")]);
    let dir = tempfile::tempdir().unwrap();
    let (api, https, smtp_port, ops) = (free_port(), free_port(), free_port(), free_port());
    let child = stsd(dir.path(), db.url(), customer.addr())
        .arg("serve")
        .env("STSD_API_LISTEN", format!("127.0.0.1:{api}"))
        .env("STSD_EDGE_HTTPS_LISTEN", format!("127.0.0.1:{https}"))
        .env(
            "STSD_EDGE_HTTP_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .env("STSD_DNS_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("STSD_SMTP_LISTEN", format!("127.0.0.1:{smtp_port}"))
        .env("STSD_METRICS_LISTEN", format!("127.0.0.1:{ops}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Server(child);
    let smtp: SocketAddr = format!("127.0.0.1:{smtp_port}").parse().unwrap();
    let base = format!("http://127.0.0.1:{api}/api/v1");
    let client = reqwest::Client::new();
    wait_until("the API", Duration::from_secs(30), || {
        let c = client.clone();
        let url = format!("http://127.0.0.1:{api}/readyz");
        async move { c.get(url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    let (token, tenant) = signup(&client, &base).await;
    let domains = format!("{base}/tenants/{tenant}/domains");
    let added: Value = client
        .post(&domains)
        .bearer_auth(&token)
        .json(&json!({ "name": "example.com" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let label = added["label"].as_str().unwrap().to_owned();
    let root = Command::new(env!("CARGO_BIN_EXE_stsd"))
        .current_dir(dir.path())
        .env("STSD_DATABASE_URL", db.url())
        .env(
            "STSD_MASTER_KEY",
            "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
        )
        .args(["admin", "local-ca-root"])
        .output()
        .unwrap();
    let root_pem = String::from_utf8(root.stdout).unwrap();
    let edge: SocketAddr = format!("127.0.0.1:{https}").parse().unwrap();
    let host = format!("reports.{ZONE}");
    let path = format!("/v1/tlsrpt/{label}");
    let post = |ct: Option<&'static str>, body: Vec<u8>| {
        let (root_pem, host, path) = (root_pem.clone(), host.clone(), path.clone());
        async move {
            send(edge, &host, &root_pem, "POST", &path, ct, body)
                .await
                .expect("TLS to reports.<zone>")
        }
    };
    wait_until(
        "a certificate on reports.<zone>",
        Duration::from_secs(30),
        || {
            let (root_pem, host) = (root_pem.clone(), host.clone());
            async move {
                send(edge, &host, &root_pem, "GET", "/", None, Vec::new())
                    .await
                    .is_some()
            }
        },
    )
    .await;

    let a1 = report("Reporter A", "r-1", 100, 4);
    let (status, body) = post(Some("application/tlsrpt+gzip"), gzip(&a1)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["duplicate"], false);
    assert_eq!(body["media_type_flagged"], false);
    // The same report again, now as JSON: acknowledged, not stored twice.
    let (status, body) = post(Some("application/tlsrpt+json"), a1.clone()).await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(true)), "{body}");
    // The same report id from another organization is another report; a wrong media type
    // is accepted and flagged.
    let (status, body) = post(Some("text/plain"), report("Reporter B", "r-1", 50, 0)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["media_type_flagged"], true);
    // And the dashboard upload of the first report is a duplicate across transports.
    let upload = client
        .post(format!("{domains}/example.com/reports"))
        .bearer_auth(&token)
        .header("content-type", "application/tlsrpt+json")
        .body(a1.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 200);
    let upload: Value = upload.json().await.unwrap();
    assert_eq!(upload["duplicate"], true, "{upload}");

    // Refusals, each with its own status.
    let (status, body) = post(Some("application/tlsrpt+gzip"), b"not a report".to_vec()).await;
    assert_eq!(status, 415, "{body}");
    let (status, body) = post(Some("application/tlsrpt+json"), b"{\"a\": 1}".to_vec()).await;
    assert_eq!(status, 400, "{body}");
    let mut bomb = Vec::with_capacity(30 << 20);
    bomb.push(b'{');
    bomb.resize(30 << 20, b' ');
    bomb.push(b'}');
    let (status, body) = post(Some("application/tlsrpt+gzip"), gzip(&bomb)).await;
    assert_eq!(status, 413, "{body}");
    let unknown = send(
        edge,
        &host,
        &root_pem,
        "POST",
        "/v1/tlsrpt/zzzzzzzzzz",
        Some("application/tlsrpt+json"),
        a1.clone(),
    )
    .await
    .unwrap();
    assert_eq!(unknown.0, 404, "{:?}", unknown.1);
    let get = send(edge, &host, &root_pem, "GET", &path, None, Vec::new())
        .await
        .unwrap();
    assert_eq!(get.0, 405);

    // What was stored is what the summary counts: two reports, not three or four. Reports
    // POSTed over HTTPS from an address that is not forward-confirmed under the reporter's
    // domain are unverified and left out by default; the dashboard's upload of `a1` replaced
    // its HTTPS copy (an upload proves more), so `a1` counts and Reporter B's `r-1` does not.
    let summary_of = || {
        let (client, url, token) = (
            client.clone(),
            format!("{domains}/example.com/reports/summary?from=2026-11-20&to=2026-11-20"),
            token.clone(),
        );
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let summary = summary_of().await;
    assert_eq!(summary["totals"]["reports"], 1, "{summary}");
    assert_eq!(summary["totals"]["successful_sessions"], 100, "{summary}");
    assert_eq!(summary["totals"]["failed_sessions"], 4, "{summary}");
    assert_eq!(summary["left_out"]["unverified_https"], 1, "{summary}");
    let list: Value = client
        .get(format!("{domains}/example.com/reports"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut transports: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["transport"].as_str().unwrap())
        .collect();
    transports.sort_unstable();
    assert_eq!(transports, ["https", "upload"], "{list}");
    // A tenant that counts unverified HTTPS reports sees both.
    let settings = client
        .put(format!("{base}/tenants/{tenant}/reports/settings"))
        .bearer_auth(&token)
        .json(&json!({ "retention_days": 400, "count_unverified_https": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(settings.status(), 200);
    let summary = summary_of().await;
    assert_eq!(summary["totals"]["reports"], 2, "{summary}");
    assert_eq!(summary["totals"]["successful_sessions"], 150, "{summary}");
    assert_eq!(summary["totals"]["failed_sessions"], 4, "{summary}");

    // Real reports (parsedmarc's samples) over HTTPS: each lands once.
    let samples = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/tests/tlsrpt/data/parsedmarc"
    );
    for file in [
        "mail.ru.json",
        "smtp_tls.json",
        "empty_failure_detail_fields.json",
    ] {
        let body = std::fs::read(format!("{samples}/{file}")).unwrap();
        let (status, v) = post(Some("application/tlsrpt+json"), body.clone()).await;
        assert_eq!(status, 201, "{file}: {v}");
        assert_eq!(v["domain_mismatch"], false, "{file}: {v}");
        let (status, v) = post(Some("application/tlsrpt+gzip"), gzip(&body)).await;
        assert_eq!(
            (status, &v["duplicate"]),
            (200, &json!(true)),
            "{file}: {v}"
        );
    }

    // By mail to the binary, over STARTTLS with the reports.<zone> certificate: Google's
    // real report mail, re-addressed. Its DKIM key cannot be fetched here, so it is stored
    // and shown but not counted; it is for another domain, so it is flagged as well.
    let eml = std::fs::read_to_string(format!("{samples}/google.com_smtp_tls_report.eml")).unwrap();
    let rcpt = format!("{label}@{host}");
    assert_eq!(
        smtp_deliver(smtp, &root_pem, &host, &rcpt, &eml).await,
        "250"
    );
    assert_eq!(
        smtp_deliver(smtp, &root_pem, &host, &format!("zzzzzzzzzz@{host}"), &eml).await,
        "550"
    );
    let list: Value = client
        .get(format!("{domains}/example.com/reports?limit=200"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let google = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["transport"] == "smtp")
        .unwrap_or_else(|| panic!("the mailed report is stored: {list}"));
    assert_eq!(google["organization"], "Google Inc.");
    assert_eq!(google["dkim"], "fail", "{google}");
    assert_eq!(google["counted"], false);
    assert_eq!(google["domain_mismatch"], true);

    // The operations listener counts what came in, by transport and outcome: over HTTPS five
    // stored, four duplicates, three rejected (not gzip, not a report, over the decompressed
    // limit); the unknown label is not a report received. By mail one stored (the unknown
    // recipient was refused before any report). The upload is a member's, not counted here.
    let metrics = client
        .get(format!("http://127.0.0.1:{ops}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (transport, outcome, n) in [
        ("https", "stored", 5),
        ("https", "duplicate", 4),
        ("https", "rejected", 3),
        ("https", "failed", 0),
        ("smtp", "stored", 1),
        ("smtp", "rejected", 0),
    ] {
        let line = format!(
            "stsd_reports_received_total{{transport=\"{transport}\",outcome=\"{outcome}\"}} {n}\n"
        );
        assert!(
            metrics.contains(&line),
            "no `{}` in:\n{metrics}",
            line.trim()
        );
    }
    drop(_server);
    db.drop_database().await;
}

/// How the crash test's reporter delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// `POST https://reports.<zone>/v1/tlsrpt/<label>`.
    Https,
    /// Mail to `<label>@reports.<zone>` over SMTP (plaintext: STARTTLS is offered, never
    /// required).
    Smtp,
}

/// One report mailed over a raw SMTP session: `Some(true)` when `250` came after the data,
/// `None` when the sender should retry (no connection, a 4xx, a dropped session).
async fn smtp_once(addr: SocketAddr, rcpt: &str, message: &str) -> Option<bool> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let mut io = BufReader::new(tcp);
    async fn reply(io: &mut BufReader<tokio::net::TcpStream>) -> Option<u16> {
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), io.read_line(&mut line))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.get(..3)?.parse().ok();
            }
        }
    }
    let expect = |code: Option<u16>, want: u16| -> Option<()> {
        match code? {
            c if c == want => Some(()),
            c if c >= 500 => panic!("the receiver refused with {c}"),
            _ => None,
        }
    };
    expect(reply(&mut io).await, 220)?;
    for (cmd, want) in [
        ("EHLO mta.reporter.example".to_owned(), 250),
        ("MAIL FROM:<noreply@reporter.example>".to_owned(), 250),
        (format!("RCPT TO:<{rcpt}>"), 250),
        ("DATA".to_owned(), 354),
    ] {
        io.get_mut()
            .write_all(format!("{cmd}\r\n").as_bytes())
            .await
            .ok()?;
        expect(reply(&mut io).await, want)?;
    }
    io.get_mut()
        .write_all(format!("{}\r\n.\r\n", message.trim_end()).as_bytes())
        .await
        .ok()?;
    expect(reply(&mut io).await, 250)?;
    let _ = io.get_mut().write_all(b"QUIT\r\n").await;
    Some(true)
}

/// A report mail as reporters send it (RFC 8460 §5.3), the report gzipped in base64.
fn report_mail(rcpt: &str, report_id: &str, report: &[u8]) -> String {
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, gzip(report));
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "From: TLS Reports <noreply@reporter.example>\r\n\
         To: {rcpt}\r\n\
         Subject: Report Domain: example.com Submitter: reporter.example Report-ID: <{report_id}>\r\n\
         Date: Fri, 20 Nov 2026 12:00:00 +0000\r\n\
         Message-ID: <{report_id}@reporter.example>\r\n\
         TLS-Report-Domain: example.com\r\n\
         TLS-Report-Submitter: reporter.example\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b\"\r\n\
         \r\n\
         --b\r\n\
         Content-Type: text/plain\r\n\
         \r\n\
         A TLS report.\r\n\
         --b\r\n\
         Content-Type: application/tlsrpt+gzip\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"report.json.gz\"\r\n\
         \r\n\
         {}\r\n\
         --b--\r\n",
        lines.join("\r\n")
    )
}

/// Reports flow in while stsd is killed (SIGKILL) and started again: every report that was
/// acknowledged (HTTP 201/200, SMTP 250 after the data) is stored, and every one that was not
/// is retried by the sender and stored then — each exactly once.
async fn acknowledged_reports_survive_a_crash(db: TestDatabase, transport: Transport) {
    rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .ok();
    let customer = FakeDns::start().await.unwrap();
    customer.set_mx("example.com", &[(10, "mx1.example.com")]);
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let start = || {
        stsd(dir.path(), db.url(), customer.addr())
            .arg("serve")
            .env("STSD_API_LISTEN", format!("127.0.0.1:{}", ports[0]))
            .env("STSD_EDGE_HTTPS_LISTEN", format!("127.0.0.1:{}", ports[1]))
            .env("STSD_EDGE_HTTP_LISTEN", format!("127.0.0.1:{}", ports[2]))
            .env("STSD_DNS_LISTEN", format!("127.0.0.1:{}", ports[3]))
            .env("STSD_SMTP_LISTEN", format!("127.0.0.1:{}", ports[4]))
            .env("STSD_METRICS_LISTEN", format!("127.0.0.1:{}", free_port()))
            // 200 reports to one label from one address within a minute: far beyond the
            // default limits for one domain, which this test is not about.
            .env("STSD_REPORTS_LABEL_REQUESTS_PER_HOUR", "100000")
            .env("STSD_REPORTS_SOURCE_REQUESTS_PER_MINUTE", "100000")
            .stdout(Stdio::null())
            // Both runs' logs, to explain a failure.
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.path().join("stsd.log"))
                    .unwrap(),
            )
            .spawn()
            .unwrap()
    };
    let mut server = Server(start());
    let api = ports[0];
    let base = format!("http://127.0.0.1:{api}/api/v1");
    let client = reqwest::Client::new();
    let ready = || {
        let c = client.clone();
        let url = format!("http://127.0.0.1:{api}/readyz");
        async move { c.get(url).send().await.is_ok_and(|r| r.status() == 200) }
    };
    wait_until("the API", Duration::from_secs(30), ready).await;
    let (token, tenant) = signup(&client, &base).await;
    let domains = format!("{base}/tenants/{tenant}/domains");
    let added: Value = client
        .post(&domains)
        .bearer_auth(&token)
        .json(&json!({ "name": "example.com" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let label = added["label"].as_str().unwrap().to_owned();
    let root = Command::new(env!("CARGO_BIN_EXE_stsd"))
        .current_dir(dir.path())
        .env("STSD_DATABASE_URL", db.url())
        .env(
            "STSD_MASTER_KEY",
            "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
        )
        .args(["admin", "local-ca-root"])
        .output()
        .unwrap();
    let root_pem = String::from_utf8(root.stdout).unwrap();
    let edge: SocketAddr = format!("127.0.0.1:{}", ports[1]).parse().unwrap();
    let smtp: SocketAddr = format!("127.0.0.1:{}", ports[4]).parse().unwrap();
    let rcpt = format!("{label}@reports.{ZONE}");
    let host = format!("reports.{ZONE}");
    let path = format!("/v1/tlsrpt/{label}");
    wait_until(
        "a certificate on reports.<zone>",
        Duration::from_secs(30),
        || {
            let (root_pem, host) = (root_pem.clone(), host.clone());
            async move {
                send(edge, &host, &root_pem, "GET", "/", None, Vec::new())
                    .await
                    .is_some()
            }
        },
    )
    .await;

    // The sender: every report until acknowledged, retrying what was not.
    const TOTAL: usize = 200;
    let acked = Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
    let sender = {
        let (acked, root_pem, host, path, rcpt) = (
            acked.clone(),
            root_pem.clone(),
            host.clone(),
            path.clone(),
            rcpt.clone(),
        );
        tokio::spawn(async move {
            let mut pending: Vec<usize> = (0..TOTAL).collect();
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while !pending.is_empty() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{} left",
                    pending.len()
                );
                let mut retry = Vec::new();
                for i in pending {
                    let json = report(&format!("Org {}", i % 7), &format!("c-{i}"), 10, 0);
                    if transport == Transport::Smtp {
                        let mail = report_mail(&rcpt, &format!("c-{i}"), &json);
                        match smtp_once(smtp, &rcpt, &mail).await {
                            Some(true) => acked.lock().unwrap().push(i),
                            _ => retry.push(i),
                        }
                        continue;
                    }
                    let body = gzip(&json);
                    match send(
                        edge,
                        &host,
                        &root_pem,
                        "POST",
                        &path,
                        Some("application/tlsrpt+gzip"),
                        body,
                    )
                    .await
                    {
                        Some((200 | 201, _)) => acked.lock().unwrap().push(i),
                        Some((status, body)) if status < 500 => panic!("refused: {status} {body}"),
                        // Down, or 5xx: a reporter retries later.
                        _ => retry.push(i),
                    }
                }
                if !retry.is_empty() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                pending = retry;
            }
        })
    };
    wait_until("some acknowledged reports", Duration::from_secs(60), || {
        let n = acked.lock().unwrap().len();
        async move { n >= TOTAL / 3 }
    })
    .await;
    drop(server); // SIGKILL: no shutdown, no flush
    let acked_before: Vec<usize> = acked.lock().unwrap().clone();
    assert!(
        acked_before.len() < TOTAL,
        "the crash came too late to test anything"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    server = Server(start());
    let restarted = std::time::Instant::now();
    while !ready().await {
        assert!(
            restarted.elapsed() < Duration::from_secs(30),
            "the API did not come back after the restart; stsd's log:\n{}",
            std::fs::read_to_string(dir.path().join("stsd.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sender.await.unwrap();

    let mut stored = Vec::new();
    let mut offset = 0;
    loop {
        let page: Value = client
            .get(format!(
                "{domains}/example.com/reports?limit=200&offset={offset}"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for r in page["items"].as_array().unwrap() {
            stored.push(r["report_id"].as_str().unwrap().to_owned());
        }
        match page["next_offset"].as_i64() {
            Some(next) => offset = next,
            None => break,
        }
    }
    stored.sort();
    let mut want: Vec<String> = (0..TOTAL).map(|i| format!("c-{i}")).collect();
    want.sort();
    assert_eq!(stored, want, "every report stored exactly once");
    for i in acked_before {
        assert!(stored.contains(&format!("c-{i}")));
    }
    drop(server);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_reports_survive_a_crash_on_sqlite() {
    acknowledged_reports_survive_a_crash(TestDatabase::sqlite().await, Transport::Https).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_reports_survive_a_crash_on_postgres() {
    acknowledged_reports_survive_a_crash(TestDatabase::postgres().await, Transport::Https).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_mailed_reports_survive_a_crash_on_sqlite() {
    acknowledged_reports_survive_a_crash(TestDatabase::sqlite().await, Transport::Smtp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_mailed_reports_survive_a_crash_on_postgres() {
    acknowledged_reports_survive_a_crash(TestDatabase::postgres().await, Transport::Smtp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_over_https_on_sqlite() {
    reports_over_https(TestDatabase::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_over_https_on_postgres() {
    reports_over_https(TestDatabase::postgres().await).await;
}
