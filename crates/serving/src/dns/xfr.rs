//! Zone transfers to configured secondaries (AXFR, RFC 5936; IXFR answered in full, as RFC
//! 1995 §4 allows), and the answers to TSIG-signed queries.
//!
//! A transfer is allowed only to a configured secondary's address and only when the request
//! is signed with that secondary's key; everyone else gets REFUSED (RFC 5936 §2.2.1 leaves the
//! policy to the operator, and the zone is no secret, but a transfer of a million labels is a
//! lot of work to give away). Every message of the answer is signed, each chained to the one
//! before (RFC 8945 §5.3.1).

use std::net::IpAddr;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::tsig::{self, AnswerSigner, TsigError};
use super::wire::{self, IXFR, Query, Refusal};
use super::zone::{Rr, ZoneConfig};
use crate::follower::SnapshotHandle;

/// Largest transfer message before its TSIG record. Below 16 KiB so that every name in it
/// can be a 14-bit compression pointer (RFC 1035 §4.1.4), well below TCP's 64 KiB.
const MESSAGE_TARGET: usize = 15_000;

/// Why a transfer was not made, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// The asking address is no secondary.
    NotSecondary,
    /// The request is not signed.
    Unsigned,
    /// The signature does not verify.
    Signature(TsigError),
    /// The question is not the zone's apex.
    NotZone,
    /// Malformed.
    Malformed,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::NotSecondary => f.write_str("not a configured secondary"),
            Refused::Unsigned => f.write_str("request not signed with the secondary's key"),
            Refused::Signature(e) => write!(f, "TSIG {e}"),
            Refused::NotZone => f.write_str("not the zone's apex"),
            Refused::Malformed => f.write_str("malformed request"),
        }
    }
}

/// Answers a zone transfer request read over TCP from `peer`, writing the framed messages
/// to `stream`. `name` is the question's name (lower case).
pub(super) async fn transfer<W: AsyncWrite + Unpin>(
    zone: &ZoneConfig,
    snapshots: &SnapshotHandle,
    msg: &[u8],
    query: &Query<'_>,
    name: &str,
    peer: IpAddr,
    stream: &mut W,
) -> std::io::Result<Result<usize, Refused>> {
    let mut out = Vec::new();
    let checked = check(zone, msg, query, name, peer);
    let (key, request_mac) = match checked {
        Ok(k) => k,
        Err((refused, sig)) => {
            let refusal = match refused {
                Refused::Signature(_) | Refused::NotZone => Refusal::NotAuth,
                Refused::Malformed => Refusal::FormErr,
                _ => Refusal::Refused,
            };
            wire::write_refusal(query, refusal, &mut out);
            if let (Refused::Signature(e), Some(sig)) = (refused, &sig) {
                tsig::append_error(&mut out, sig, e);
            }
            write_framed(stream, &out).await?;
            return Ok(Err(refused));
        }
    };
    let snapshot = snapshots.current();
    let acked = snapshots.acknowledged();
    let serial = ZoneConfig::serial(&snapshot, acked);
    let mut signer = AnswerSigner::new(key, request_mac);

    // IXFR from a secondary that already has this serial: one SOA says so (RFC 1995 §4).
    if query.qtype == IXFR && wire::ixfr_serial(msg) == Some(serial) {
        wire::begin_transfer_message(query, &mut out);
        wire::write_rr_under_apex(&[], &zone.soa(serial), zone, &mut out);
        wire::set_answer_count(&mut out, 1);
        signer.sign(&mut out);
        write_framed(stream, &out).await?;
        return Ok(Ok(1));
    }

    // The zone is laid out into messages first (a snapshot is immutable, so this is the
    // zone at one serial), then written; a few megabytes for a hundred thousand labels.
    let mut messages: Vec<Vec<u8>> = Vec::new();
    let mut count = 0u16;
    let mut records = 0usize;
    wire::begin_transfer_message(query, &mut out);
    let mut push = |relative: &[&str], rr: Rr, out: &mut Vec<u8>, count: &mut u16| {
        wire::write_rr_under_apex(relative, &rr, zone, out);
        *count += 1;
        records += 1;
        if out.len() >= MESSAGE_TARGET {
            wire::set_answer_count(out, *count);
            messages.push(std::mem::take(out));
            wire::begin_transfer_message(query, out);
            *count = 0;
        }
    };
    zone.each_record(&snapshot, acked, |relative, rr| {
        push(relative, rr, &mut out, &mut count);
    });
    // The closing SOA (RFC 5936 §2.2).
    push(&[], zone.soa(serial), &mut out, &mut count);
    if count > 0 {
        wire::set_answer_count(&mut out, count);
        messages.push(out);
    }
    for mut message in messages {
        signer.sign(&mut message);
        write_framed(stream, &message).await?;
    }
    Ok(Ok(records))
}

type Checked<'k> = Result<(&'k tsig::TsigKey, Vec<u8>), (Refused, Option<tsig::Signature<'k>>)>;

/// Who may transfer: a secondary's address, signed with its key, asking for the apex.
fn check<'a>(
    zone: &'a ZoneConfig,
    msg: &'a [u8],
    query: &Query<'_>,
    name: &str,
    peer: IpAddr,
) -> Checked<'a> {
    let Some(key) = zone.secondary_key(peer) else {
        return Err((Refused::NotSecondary, None));
    };
    if !query.signed {
        return Err((Refused::Unsigned, None));
    }
    let sig = match tsig::find(msg) {
        Ok(Some(sig)) => sig,
        Ok(None) => return Err((Refused::Unsigned, None)),
        Err(()) => return Err((Refused::Malformed, None)),
    };
    let (key, mac) = match tsig::verify(std::slice::from_ref(key), msg, &sig) {
        Ok(k) => k,
        Err(e) => return Err((Refused::Signature(e), Some(sig))),
    };
    if name.trim_end_matches('.') != zone.zone() {
        return Err((Refused::NotZone, None));
    }
    Ok((key, mac))
}

/// Answers a signed query that is not a transfer: the zone's answer, signed (RFC 8945 §5.3),
/// or NOTAUTH with the TSIG error (§5.2). `answer` writes the unsigned response within the
/// given size.
pub(super) fn respond_signed(
    zone: &ZoneConfig,
    msg: &[u8],
    query: &Query<'_>,
    limit: usize,
    answer: impl FnOnce(usize, &mut Vec<u8>),
    out: &mut Vec<u8>,
) {
    let Ok(Some(sig)) = tsig::find(msg) else {
        wire::write_refusal(query, Refusal::FormErr, out);
        return;
    };
    match tsig::verify(zone.keys(), msg, &sig) {
        Ok((key, mac)) => {
            // Room for the TSIG record: its key name, the algorithm, the MAC and the fields.
            let room = sig.key_name().len() + 70;
            answer(limit.saturating_sub(room), out);
            AnswerSigner::new(key, mac).sign(out);
        }
        Err(e) => {
            wire::write_refusal(query, Refusal::NotAuth, out);
            tsig::append_error(out, &sig, e);
        }
    }
}

async fn write_framed<W: AsyncWrite + Unpin>(stream: &mut W, msg: &[u8]) -> std::io::Result<()> {
    let Ok(len) = u16::try_from(msg.len()) else {
        return Err(std::io::Error::other("DNS message over 64 KiB"));
    };
    let mut framed = Vec::with_capacity(msg.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg);
    stream.write_all(&framed).await
}
