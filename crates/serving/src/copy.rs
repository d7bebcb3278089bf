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

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::digest;
use stsd_store::MasterKey;

use crate::build::Rows;
use crate::error::{CopyProblem, ServingError};
use crate::snapshot::Snapshot;
use rows::BodyIn;

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
    let body = rows::body(snapshot, master, written_at);
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

/// Where the follower keeps the copy, and how often it may write it.
#[derive(Debug, Clone)]
pub(crate) struct CopyTarget {
    pub(crate) path: PathBuf,
    pub(crate) min_interval: std::time::Duration,
}

mod rows;
#[cfg(test)]
mod tests;
