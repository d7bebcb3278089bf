//! The snapshot's local copy: a file holding what the snapshot is built from, so that a
//! serving role (edge, DNS, SMTP) can start and serve while the store is unreachable.
//!
//! The snapshot lives in memory only. Without a copy, a node that restarts during a database
//! outage (a crash, a deploy, a host reboot) has nothing to serve until the database returns,
//! although every other node keeps serving. With one, it starts from the copy, reports that it
//! is stale and how old the data is, and catches up from the copy's feed position when the
//! store returns.
//!
//! # Format (version 1)
//!
//! Three lines, each ending in `\n`:
//!
//! ```text
//! stsd-snapshot-copy 1
//! {"seq":…,"written_at":…,"master_key_id":"…","domains":[…],"challenges":[…],…}
//! sha256 <64 hex digits> <byte length of the two lines above, line ends included>
//! ```
//!
//! The JSON line holds the change-feed position, when the file was written (unix seconds),
//! the id of the master key the private keys are sealed under, and the rows: registrations
//! (name, label, state, live policy, live ids, certificate chain PEM and sealed key), live
//! HTTP-01 and TLS-ALPN-01 challenges, and service certificates. Private keys are never
//! written in the clear: each is the AES-256-GCM value of [`MasterKey::seal`], in base64.
//! The last line lets a reader refuse a truncated or corrupt file instead of serving part of
//! it. Files are written whole to a temporary file, synced and renamed over the old copy, so
//! a crash leaves either the old copy or the new one.

use std::borrow::Cow;
use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls::pki_types::CertificateDer;
use serde::ser::{Error as _, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use stsd_core::{DomainName, Label, PolicyId};
use stsd_store::{Certificate, DomainId, LiveId, MasterKey, ServedDomain, ServiceCertificate};
use time::OffsetDateTime;

use crate::build::Rows;
use crate::error::{CopyProblem, ServingError};
use crate::snapshot::{EdgeHost, HOST_PREFIX, Snapshot};

/// First line of a copy, before the version.
const MAGIC: &str = "stsd-snapshot-copy";
/// The format version written and read.
const VERSION: u32 = 1;

/// A copy read back: the rows to build a snapshot from, and when the copy was written.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) rows: Rows,
    /// Unix seconds.
    pub(crate) written_at: i64,
}

/// Writes `snapshot` to `path` atomically, mode 0600, its private keys sealed again under
/// `master`. Blocks on the disk: call it from a blocking task.
///
/// The snapshot holds opened keys; sealing them again here costs one AES-GCM operation per
/// host per write, where keeping the stored rows beside the snapshot would hold every chain
/// twice in memory for the whole life of the process.
pub(crate) fn write(
    path: &Path,
    snapshot: &Snapshot,
    master: &MasterKey,
    written_at: i64,
) -> Result<(), ServingError> {
    let fail = |problem| ServingError::Copy {
        path: path.to_owned(),
        problem,
    };
    let name = path
        .file_name()
        .ok_or_else(|| fail(CopyProblem::NotAFile))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // In the same directory, so that the rename is atomic; unique, so that two writers never
    // share one.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let temp = dir.join(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_file(&temp, snapshot, master, written_at)
        .and_then(|()| std::fs::rename(&temp, path).map_err(CopyProblem::from))
        // The rename is durable only once the directory is synced.
        .and_then(|()| File::open(dir)?.sync_all().map_err(CopyProblem::from));
    if result.is_err() {
        // Nothing to clean when the temporary file was never made or already renamed.
        let _ = std::fs::remove_file(&temp);
    }
    result.map_err(fail)
}

/// Writes the whole copy to a new file at `temp` and syncs it.
fn write_file(
    temp: &Path,
    snapshot: &Snapshot,
    master: &MasterKey,
    written_at: i64,
) -> Result<(), CopyProblem> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)?;
    // The digest sees the buffered chunks, not every small write of the serializer.
    let mut out = BufWriter::with_capacity(1 << 16, Digesting::new(file));
    writeln!(out, "{MAGIC} {VERSION}")?;
    let body = BodyOut {
        seq: snapshot.seq,
        written_at,
        master_key_id: master.id(),
        domains: Stream::new(domain_rows(snapshot, master)),
        challenges: Stream::new(snapshot.challenges.iter().map(|(token, auth)| {
            Ok(ChallengeRow {
                token: token.into(),
                key_authorization: String::from_utf8_lossy(auth),
            })
        })),
        tls_alpn_challenges: Stream::new(snapshot.tls_alpn.iter().map(|(host, c)| {
            Ok(AlpnRow {
                host: host.into(),
                digest: c.digest.as_str().into(),
            })
        })),
        service_certificates: Stream::new(snapshot.service_rows.iter().map(|c| {
            Ok(ServiceRow {
                host: c.host.as_str().into(),
                chain_pem: c.chain_pem.as_str().into(),
                key_sealed: BASE64.encode(&c.key_ciphertext).into(),
                not_before_ms: to_ms(c.not_before),
                not_after_ms: to_ms(c.not_after),
            })
        })),
    };
    serde_json::to_writer(&mut out, &body).map_err(|e| {
        if e.is_io() {
            CopyProblem::Io(e.into())
        } else {
            // The only error of our own: a key that could not be sealed.
            CopyProblem::Seal(e.to_string())
        }
    })?;
    out.write_all(b"\n")?;
    let Digesting { inner, digest, len } = out.into_inner().map_err(|e| e.into_error())?;
    let mut file = inner;
    writeln!(file, "sha256 {} {len}", hex(digest.finish().as_ref()))?;
    file.sync_all()?;
    Ok(())
}

/// Reads the copy at `path`, refusing it unless it is whole, of this format version, and
/// sealed under `master` (or one of its previous keys).
pub(crate) fn read(path: &Path, master: &MasterKey) -> Result<Loaded, ServingError> {
    let fail = |problem| ServingError::Copy {
        path: path.to_owned(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(e.into()))?;
    let body = parse(&bytes).map_err(fail)?;
    let known = std::iter::once(master.id())
        .chain(master.previous_ids())
        .any(|id| id == body.master_key_id);
    if !known {
        return Err(fail(CopyProblem::WrongMasterKey {
            copy: body.master_key_id,
            configured: std::iter::once(master.id())
                .chain(master.previous_ids())
                .collect::<Vec<_>>()
                .join(","),
        }));
    }
    let written_at = body.written_at;
    let rows = body
        .into_rows()
        .map_err(|e| fail(CopyProblem::Corrupt(e)))?;
    Ok(Loaded { rows, written_at })
}

/// Checks the header, the trailer and the checksum, then decodes the JSON line.
fn parse(bytes: &[u8]) -> Result<BodyIn, CopyProblem> {
    let header_end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(CopyProblem::NotACopy)?;
    let header = String::from_utf8_lossy(&bytes[..header_end]);
    let version = header
        .strip_prefix(MAGIC)
        .and_then(|rest| rest.strip_prefix(' '))
        .ok_or(CopyProblem::NotACopy)?;
    if version != VERSION.to_string() {
        return Err(CopyProblem::Version {
            found: version.to_owned(),
            supported: VERSION,
        });
    }
    let content = bytes
        .strip_suffix(b"\n")
        .ok_or_else(|| CopyProblem::Truncated("the last line is incomplete".to_owned()))?;
    // The trailer is the last line; it must come after the header and the JSON line.
    let trailer_start = content
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    if trailer_start <= header_end + 1 {
        return Err(CopyProblem::Truncated("the content is missing".to_owned()));
    }
    let (expected_digest, expected_len) =
        parse_trailer(&content[trailer_start..]).ok_or_else(|| {
            CopyProblem::Truncated("the checksum line is missing or incomplete".to_owned())
        })?;
    if expected_len != trailer_start {
        let detail =
            format!("{trailer_start} bytes before the checksum line, which counts {expected_len}");
        return Err(if trailer_start < expected_len {
            CopyProblem::Truncated(detail)
        } else {
            CopyProblem::Corrupt(detail)
        });
    }
    let actual = hex(digest::digest(&digest::SHA256, &bytes[..trailer_start]).as_ref());
    if actual != expected_digest {
        return Err(CopyProblem::Corrupt(
            "the content does not match its SHA-256 checksum".to_owned(),
        ));
    }
    // Between the header and the trailer: the JSON line and its line end.
    serde_json::from_slice(&bytes[header_end + 1..trailer_start - 1])
        .map_err(|e| CopyProblem::Corrupt(format!("unreadable despite a good checksum: {e}")))
}

/// `sha256 <hex> <length>`: the digest in lower-case hex and the length.
fn parse_trailer(line: &[u8]) -> Option<(String, usize)> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    let (Some("sha256"), Some(digest), Some(len), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let hex_digits = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if digest.len() != 64 || !hex_digits(digest) {
        return None;
    }
    Some((digest.to_owned(), len.parse().ok()?))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A writer that hashes and counts what passes through it.
struct Digesting<W> {
    inner: W,
    digest: digest::Context,
    len: usize,
}

impl<W> Digesting<W> {
    fn new(inner: W) -> Digesting<W> {
        Digesting {
            inner,
            digest: digest::Context::new(&digest::SHA256),
            len: 0,
        }
    }
}

impl<W: Write> Write for Digesting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let written = buf.get(..n).unwrap_or(buf);
        self.digest.update(written);
        self.len += written.len();
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Rows serialized as a JSON array straight from an iterator, so that a copy of 100,000
/// registrations is never held in memory as one value.
struct Stream<'a, T>(Cell<Option<RowIter<'a, T>>>);

type RowIter<'a, T> = Box<dyn Iterator<Item = Result<T, String>> + 'a>;

impl<'a, T> Stream<'a, T> {
    fn new(rows: impl Iterator<Item = Result<T, String>> + 'a) -> Stream<'a, T> {
        Stream(Cell::new(Some(Box::new(rows))))
    }
}

impl<T: Serialize> Serialize for Stream<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let rows = self
            .0
            .take()
            .ok_or_else(|| S::Error::custom("rows serialized twice"))?;
        let mut seq = serializer.serialize_seq(None)?;
        for row in rows {
            seq.serialize_element(&row.map_err(S::Error::custom)?)?;
        }
        seq.end()
    }
}

/// The JSON line as written.
#[derive(Serialize)]
struct BodyOut<'a> {
    seq: i64,
    written_at: i64,
    master_key_id: &'a str,
    domains: Stream<'a, DomainRow<'a>>,
    challenges: Stream<'a, ChallengeRow<'a>>,
    tls_alpn_challenges: Stream<'a, AlpnRow<'a>>,
    service_certificates: Stream<'a, ServiceRow<'a>>,
}

/// The JSON line as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BodyIn {
    seq: i64,
    written_at: i64,
    master_key_id: String,
    domains: Vec<DomainRow<'static>>,
    challenges: Vec<ChallengeRow<'static>>,
    tls_alpn_challenges: Vec<AlpnRow<'static>>,
    service_certificates: Vec<ServiceRow<'static>>,
}

// The rows mirror the store's types (which stay free of serde) field by field. Borrowed when
// written, owned when read.

/// A registration ([`ServedDomain`]).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainRow<'a> {
    id: Cow<'a, str>,
    name: Cow<'a, str>,
    label: Cow<'a, str>,
    state: Cow<'a, str>,
    policy_body: Option<Cow<'a, str>>,
    live_ids: Vec<LiveRow<'a>>,
    certificate: Option<CertificateRow<'a>>,
}

/// A version that went live ([`LiveId`]).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LiveRow<'a> {
    id: Cow<'a, str>,
    seq: i64,
    live_at_ms: i64,
}

/// A registration's certificate ([`Certificate`]); the key sealed, in base64.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateRow<'a> {
    id: Cow<'a, str>,
    chain_pem: Cow<'a, str>,
    key_sealed: Cow<'a, str>,
    not_before_ms: i64,
    not_after_ms: i64,
    created_at_ms: i64,
}

/// A live HTTP-01 challenge.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeRow<'a> {
    token: Cow<'a, str>,
    key_authorization: Cow<'a, str>,
}

/// A live TLS-ALPN-01 challenge: the host and the hex SHA-256 of the key authorization.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlpnRow<'a> {
    host: Cow<'a, str>,
    digest: Cow<'a, str>,
}

/// A service certificate ([`ServiceCertificate`]); the key sealed, in base64.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceRow<'a> {
    host: Cow<'a, str>,
    chain_pem: Cow<'a, str>,
    key_sealed: Cow<'a, str>,
    not_before_ms: i64,
    not_after_ms: i64,
}

/// The registrations of `snapshot` as rows, as the snapshot serves them: one the edge does not
/// serve (no certificate yet, or an unusable one) is written without policy and certificate,
/// which a snapshot built from the copy would not serve either.
fn domain_rows<'a>(
    snapshot: &'a Snapshot,
    master: &'a MasterKey,
) -> impl Iterator<Item = Result<DomainRow<'a>, String>> + 'a {
    snapshot.by_domain.iter().map(move |(id, reg)| {
        let served = snapshot.hosts.get(&reg.host).filter(|h| h.domain_id == *id);
        let live_ids = snapshot
            .labels
            .get(&reg.label)
            .map(|records| records.policy_ids.as_slice())
            .unwrap_or_default();
        Ok(DomainRow {
            id: id.as_str().into(),
            name: reg
                .host
                .strip_prefix(HOST_PREFIX)
                .unwrap_or(&reg.host)
                .into(),
            label: reg.label.as_str().into(),
            state: reg.state.as_str().into(),
            policy_body: served.map(|h| String::from_utf8_lossy(&h.body)),
            live_ids: live_ids
                .iter()
                .map(|l| LiveRow {
                    id: l.id.as_str().into(),
                    seq: l.seq,
                    live_at_ms: l.live_at_ms,
                })
                .collect(),
            certificate: served.map(|h| certificate_row(h, master)).transpose()?,
        })
    })
}

fn certificate_row<'a>(
    host: &'a EdgeHost,
    master: &MasterKey,
) -> Result<CertificateRow<'a>, String> {
    let sealed = master
        .seal(host.secret_key_der())
        .map_err(|e| format!("{}: {e}", host.domain_id))?;
    let cert = host.certificate();
    Ok(CertificateRow {
        id: cert.id.as_str().into(),
        chain_pem: pem_chain(host.chain()).into(),
        key_sealed: BASE64.encode(sealed).into(),
        not_before_ms: to_ms(cert.not_before),
        not_after_ms: to_ms(cert.not_after),
        created_at_ms: to_ms(cert.created_at),
    })
}

/// A DER chain as PEM, the form the store holds.
fn pem_chain(chain: &[CertificateDer<'_>]) -> String {
    let mut out = String::new();
    for cert in chain {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = BASE64.encode(cert.as_ref());
        // Base64 is ASCII, so 64-byte chunks are whole characters.
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

impl BodyIn {
    /// The store's types again; any value they refuse makes the copy corrupt.
    fn into_rows(self) -> Result<Rows, String> {
        Ok(Rows {
            seq: self.seq,
            domains: self
                .domains
                .into_iter()
                .map(DomainRow::into_served)
                .collect::<Result<_, _>>()?,
            challenges: self
                .challenges
                .into_iter()
                .map(|c| (c.token.into_owned(), c.key_authorization.into_owned()))
                .collect(),
            tls_alpn: self
                .tls_alpn_challenges
                .into_iter()
                .map(|c| (c.host.into_owned(), c.digest.into_owned()))
                .collect(),
            service: self
                .service_certificates
                .into_iter()
                .map(|c| {
                    let key_ciphertext = unbase64(&c.key_sealed, &c.host)?;
                    Ok(ServiceCertificate {
                        key_id: sealed_key_id(&key_ciphertext, &c.host)?,
                        host: c.host.into_owned(),
                        chain_pem: c.chain_pem.into_owned(),
                        key_ciphertext,
                        not_before: from_ms(c.not_before_ms)?,
                        not_after: from_ms(c.not_after_ms)?,
                    })
                })
                .collect::<Result<_, String>>()?,
        })
    }
}

impl DomainRow<'_> {
    fn into_served(self) -> Result<ServedDomain, String> {
        let bad = |what: &str, e: &dyn std::fmt::Display| format!("{what} of {}: {e}", self.id);
        let domain_id = DomainId::from_raw(self.id.as_ref());
        let certificate = match &self.certificate {
            None => None,
            Some(c) => {
                let key_ciphertext = unbase64(&c.key_sealed, &self.id)?;
                Some(Certificate {
                    id: c.id.as_ref().to_owned(),
                    domain_id: domain_id.clone(),
                    chain_pem: c.chain_pem.as_ref().to_owned(),
                    key_id: sealed_key_id(&key_ciphertext, &self.id)?,
                    key_ciphertext,
                    not_before: from_ms(c.not_before_ms)?,
                    not_after: from_ms(c.not_after_ms)?,
                    created_at: from_ms(c.created_at_ms)?,
                })
            }
        };
        Ok(ServedDomain {
            name: DomainName::parse_host(&self.name).map_err(|e| bad("name", &e))?,
            label: Label::from_str(&self.label).map_err(|e| bad("label", &e))?,
            state: self.state.parse().map_err(|e: String| bad("state", &e))?,
            policy_body: self.policy_body.clone().map(Cow::into_owned),
            live_ids: self
                .live_ids
                .iter()
                .map(|l| {
                    Ok(LiveId {
                        id: PolicyId::from_str(&l.id).map_err(|e| bad("policy id", &e))?,
                        seq: l.seq,
                        live_at_ms: l.live_at_ms,
                    })
                })
                .collect::<Result<_, String>>()?,
            certificate,
            domain_id,
        })
    }
}

fn unbase64(text: &str, owner: &str) -> Result<Vec<u8>, String> {
    BASE64
        .decode(text)
        .map_err(|e| format!("sealed key of {owner}: {e}"))
}

fn sealed_key_id(sealed: &[u8], owner: &str) -> Result<String, String> {
    MasterKey::sealed_key_id(sealed).map_err(|e| format!("sealed key of {owner}: {e}"))
}

fn to_ms(t: OffsetDateTime) -> i64 {
    // Within `time`'s range the quotient always fits.
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_ms(ms: i64) -> Result<OffsetDateTime, String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| format!("timestamp {ms}: {e}"))
}

/// Where the follower keeps the copy, and how often it may write it.
#[derive(Debug, Clone)]
pub(crate) struct CopyTarget {
    pub(crate) path: PathBuf,
    pub(crate) min_interval: std::time::Duration,
}

#[cfg(test)]
mod tests;
