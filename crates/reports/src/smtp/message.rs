//! From a received message to its report: the MIME part that holds it (by media type, then
//! by file name, then any part that decodes — real reporters mislabel), zip archives opened
//! under the decompressed-size limit, header/body disagreements, and the DKIM verdict.

use std::io::{Cursor, Read};

use mail_auth::dkim::DkimError;
use mail_auth::zip::ZipArchive;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator};
use mail_parser::{MessageParser, MimeHeaders};
use stsd_core::tlsrpt::{self, Report, ReportError, contact_host};

/// The report found in a message, with what the message says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailReport {
    /// The report bytes: gzip or JSON (a zip archive's first file).
    pub body: Vec<u8>,
    /// The MIME type of the part it came in.
    pub media_type: Option<String>,
    /// The domain of the `From` address: who must have signed the message.
    pub from_domain: Option<String>,
    /// Where the headers and the report disagree (the report wins).
    pub flags: Vec<String>,
}

/// Why a message holds no usable report.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// Not a MIME message at all.
    #[error("the message cannot be read as MIME")]
    NotMime,
    /// No part is a TLS report; the reason is the best candidate's.
    #[error("the message holds no TLS report: {0}")]
    NoReport(String),
    /// The report is larger than the limit once decompressed.
    #[error(transparent)]
    TooLarge(ReportError),
}

/// The outcome of DKIM verification for a report message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DkimVerdict {
    /// A valid signature of the reporting domain (the `From` domain or a parent of it).
    Pass,
    /// Signed, but no signature of the reporting domain verifies.
    Fail,
    /// Not signed.
    None,
    /// Signed with `l=` (covering part of the body) and nothing better: RFC 8460 says
    /// ignore the report.
    LengthLimited,
    /// A key lookup failed temporarily: the sender should retry.
    TempError,
}

impl DkimVerdict {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DkimVerdict::Pass => "pass",
            DkimVerdict::Fail => "fail",
            DkimVerdict::None => "none",
            DkimVerdict::LengthLimited => "length_limited",
            DkimVerdict::TempError => "temperror",
        }
    }
}

const TLSRPT_TYPES: [&str; 2] = ["application/tlsrpt+gzip", "application/tlsrpt+json"];
const LIKELY_TYPES: [&str; 7] = [
    "application/gzip",
    "application/x-gzip",
    "application/json",
    "application/zip",
    "application/x-zip-compressed",
    "application/octet-stream",
    "text/json",
];
const LIKELY_SUFFIXES: [&str; 3] = [".gz", ".json", ".zip"];

/// Finds the report in `raw`, the whole message as received.
pub fn extract_report(raw: &[u8], max_decompressed: usize) -> Result<MailReport, ExtractError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(ExtractError::NotMime)?;
    let mut candidates: Vec<(u8, usize)> = Vec::new();
    for (i, part) in message.parts.iter().enumerate() {
        if part.is_multipart() || part.is_message() {
            continue;
        }
        let media_type = part_type(part);
        let name = part
            .attachment_name()
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let rank = if media_type
            .as_deref()
            .is_some_and(|t| TLSRPT_TYPES.contains(&t))
        {
            0
        } else if media_type
            .as_deref()
            .is_some_and(|t| LIKELY_TYPES.contains(&t))
            || LIKELY_SUFFIXES.iter().any(|s| name.ends_with(s))
        {
            1
        } else if !part.is_text() {
            2
        } else {
            3
        };
        candidates.push((rank, i));
    }
    candidates.sort_by_key(|&(rank, i)| (rank, i));
    let mut first_problem: Option<ReportError> = None;
    for (_, i) in candidates {
        let Some(part) = message.parts.get(i) else {
            continue;
        };
        let contents = part.contents();
        let payload = if contents.starts_with(b"PK\x03\x04") {
            match unzip_first(contents, max_decompressed) {
                Ok(p) => p,
                Err(e) => {
                    first_problem.get_or_insert(e);
                    continue;
                }
            }
        } else {
            contents.to_vec()
        };
        let parsed = tlsrpt::decode(&payload, max_decompressed)
            .and_then(|decoded| tlsrpt::parse_json(&decoded.json));
        match parsed {
            Ok(report) => {
                let from_domain = message
                    .from()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .and_then(|a| a.rsplit_once('@'))
                    .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase());
                let flags = disagreements(
                    &report,
                    message.header_raw("TLS-Report-Submitter"),
                    message.header_raw("TLS-Report-Domain"),
                    message.subject(),
                );
                return Ok(MailReport {
                    body: payload,
                    media_type: part_type(part),
                    from_domain,
                    flags,
                });
            }
            Err(e) => {
                first_problem.get_or_insert(e);
            }
        }
    }
    match first_problem {
        Some(e @ ReportError::TooLarge { .. }) => Err(ExtractError::TooLarge(e)),
        Some(e) => Err(ExtractError::NoReport(e.to_string())),
        None => Err(ExtractError::NoReport(
            "the message has no parts".to_owned(),
        )),
    }
}

fn part_type(part: &mail_parser::MessagePart<'_>) -> Option<String> {
    part.content_type().map(|ct| {
        format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or_default()).to_ascii_lowercase()
    })
}

/// The first file of a zip archive, read no further than the limit.
fn unzip_first(bytes: &[u8], max: usize) -> Result<Vec<u8>, ReportError> {
    let mut archive =
        ZipArchive::new(Cursor::new(bytes)).map_err(|e| ReportError::Gzip(format!("zip: {e}")))?;
    let file = archive
        .by_index(0)
        .map_err(|e| ReportError::Gzip(format!("zip: {e}")))?;
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    file.take(limit)
        .read_to_end(&mut out)
        .map_err(|e| ReportError::Gzip(format!("zip: {e}")))?;
    if out.len() > max {
        return Err(ReportError::TooLarge { limit: max });
    }
    Ok(out)
}

/// Whether two names are the same or one is below the other.
fn related(a: &str, b: &str) -> bool {
    a == b || a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}"))
}

/// Where the RFC 8460 §5.3 headers and subject disagree with the report.
fn disagreements(
    report: &Report,
    submitter: Option<&str>,
    report_domain: Option<&str>,
    subject: Option<&str>,
) -> Vec<String> {
    let mut flags = Vec::new();
    if let (Some(sub), Some(host)) = (submitter, report.contact.as_deref().and_then(contact_host)) {
        let sub = sub.trim().trim_end_matches('.').to_ascii_lowercase();
        if !related(&sub, &host) {
            flags.push("submitter_mismatch".to_owned());
        }
    }
    if let (Some(d), Some(policy)) = (report_domain, report.policy_domain())
        && !d.trim().trim_end_matches('.').eq_ignore_ascii_case(policy)
    {
        flags.push("report_domain_mismatch".to_owned());
    }
    // Only the subject's report domain is compared: big reporters (Google) put a
    // message-id-like token after `Report-ID:` that is not the report's `report-id`.
    if let Some(subject) = subject {
        let domain = subject
            .split_once("Report Domain:")
            .and_then(|(_, rest)| rest.split_whitespace().next());
        if domain
            .zip(report.policy_domain())
            .is_some_and(|(d, p)| !d.trim_end_matches('.').eq_ignore_ascii_case(p))
        {
            flags.push("subject_mismatch".to_owned());
        }
    }
    flags
}

/// Verifies the DKIM signatures of `raw` and judges them against the reporting domain.
pub async fn verify_dkim(
    auth: &MessageAuthenticator,
    raw: &[u8],
    from_domain: Option<&str>,
) -> DkimVerdict {
    let Some(message) = AuthenticatedMessage::parse(raw) else {
        return DkimVerdict::None;
    };
    let outputs = auth.verify_dkim(&message).await;
    if outputs.is_empty() {
        return DkimVerdict::None;
    }
    let mut length_limited = false;
    let mut temporary = false;
    for output in &outputs {
        match output.result() {
            DkimResult::Pass => {
                let Some(signature) = output.signature() else {
                    continue;
                };
                let d = signature.d.trim_end_matches('.').to_ascii_lowercase();
                let aligned = from_domain.is_some_and(|f| f == d || f.ends_with(&format!(".{d}")));
                if !aligned {
                    continue;
                }
                if signature.l > 0 {
                    length_limited = true;
                } else {
                    return DkimVerdict::Pass;
                }
            }
            // mail-auth refuses to evaluate `l=` signatures at all.
            DkimResult::Neutral(mail_auth::Error::Dkim(DkimError::SignatureLength)) => {
                length_limited = true;
            }
            DkimResult::TempError(_) => temporary = true,
            _ => {}
        }
    }
    if length_limited {
        DkimVerdict::LengthLimited
    } else if temporary {
        DkimVerdict::TempError
    } else {
        DkimVerdict::Fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = r#"{"organization-name":"Org","date-range":{"start-datetime":"2026-11-20T00:00:00Z","end-datetime":"2026-11-20T23:59:59Z"},"contact-info":"smtp-tls-reporting@reporter.example","report-id":"r-9","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}"#;

    fn mail(headers: &str, part_type: &str, encoding: &str, body: &str) -> Vec<u8> {
        format!(
            "From: reports@reporter.example\r\n{headers}MIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nThis is a report.\r\n\
             --b\r\nContent-Type: {part_type}\r\nContent-Transfer-Encoding: {encoding}\r\n\
             Content-Disposition: attachment; filename=\"r.json\"\r\n\r\n{body}\r\n--b--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn finds_the_report_part_by_type_and_when_mislabelled() {
        let m = mail("", "application/tlsrpt+json", "7bit", REPORT);
        let r = extract_report(&m, 1 << 20).unwrap();
        assert_eq!(r.body, REPORT.as_bytes());
        assert_eq!(r.media_type.as_deref(), Some("application/tlsrpt+json"));
        assert_eq!(r.from_domain.as_deref(), Some("reporter.example"));
        assert!(r.flags.is_empty());
        let m = mail("", "text/plain", "7bit", REPORT);
        let r = extract_report(&m, 1 << 20).unwrap();
        assert_eq!(r.media_type.as_deref(), Some("text/plain"));
    }

    #[test]
    fn no_report_is_an_error_not_a_panic() {
        let m = mail("", "application/tlsrpt+json", "7bit", "{\"x\": 1}");
        assert!(matches!(
            extract_report(&m, 1 << 20),
            Err(ExtractError::NoReport(_))
        ));
        assert!(extract_report(b"", 1 << 20).is_err());
        assert!(extract_report(b"\xff\xfe garbage", 1 << 20).is_err());
    }

    #[test]
    fn flags_headers_that_disagree_with_the_report() {
        let headers = "TLS-Report-Submitter: other.example\r\nTLS-Report-Domain: example.org\r\n\
                       Subject: Report Domain: example.org Submitter: other.example Report-ID: <r-1>\r\n";
        let m = mail(headers, "application/tlsrpt+json", "7bit", REPORT);
        let r = extract_report(&m, 1 << 20).unwrap();
        assert_eq!(
            r.flags,
            [
                "submitter_mismatch",
                "report_domain_mismatch",
                "subject_mismatch"
            ]
        );
        let headers = "TLS-Report-Submitter: reporter.example\r\nTLS-Report-Domain: example.com\r\n\
                       Subject: Report Domain: example.com Submitter: reporter.example Report-ID: <r-9>\r\n";
        let m = mail(headers, "application/tlsrpt+json", "7bit", REPORT);
        assert!(extract_report(&m, 1 << 20).unwrap().flags.is_empty());
    }

    /// A real report mail from Google (parsedmarc's sample): found, attributed to google.com,
    /// and nothing flagged although its subject's Report-ID is not the report's id.
    #[test]
    fn google_report_mail() {
        let raw = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../core/tests/tlsrpt/data/parsedmarc/google.com_smtp_tls_report.eml"
        ))
        .unwrap();
        let r = extract_report(&raw, 1 << 20).unwrap();
        assert_eq!(r.media_type.as_deref(), Some("application/tlsrpt+gzip"));
        assert_eq!(r.from_domain.as_deref(), Some("google.com"));
        assert!(r.flags.is_empty(), "{:?}", r.flags);
        let report = tlsrpt::parse(&r.body).unwrap();
        assert_eq!(report.organization, "Google Inc.");
        assert_eq!(report.policy_domain(), Some("cardinalhealth.ca"));
    }

    /// Some reporters zip the report; the first file of the archive is the report.
    #[test]
    fn zipped_report_part() {
        use std::io::Write as _;
        let mut zip = mail_auth::zip::ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file(
            "report.json",
            mail_auth::zip::write::SimpleFileOptions::default()
                .compression_method(mail_auth::zip::CompressionMethod::Deflated),
        )
        .unwrap();
        zip.write_all(REPORT.as_bytes()).unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let encoded = base64_lines(&bytes);
        let m = mail("", "application/zip", "base64", &encoded);
        let r = extract_report(&m, 1 << 20).unwrap();
        assert_eq!(r.body, REPORT.as_bytes());
        // A zip bomb stops at the limit.
        let big = mail("", "application/zip", "base64", &encoded);
        assert!(matches!(
            extract_report(&big, 16),
            Err(ExtractError::TooLarge(_))
        ));
    }

    fn base64_lines(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    #[test]
    fn contact_hosts() {
        assert_eq!(
            contact_host("mailto:a@Mail.Example."),
            Some("mail.example".into())
        );
        assert_eq!(
            contact_host("https://r.example/x"),
            Some("r.example".into())
        );
        assert_eq!(contact_host("nobody"), None);
    }
}
