//! Transaction signatures (TSIG, RFC 8945) with HMAC-SHA256: the shared-key signatures that
//! let a secondary prove who asks for a zone transfer, and stsd prove that the transfer, the
//! answers to signed queries and its NOTIFY messages come from the primary.
//!
//! Only HMAC-SHA256 is offered (the algorithm RFC 8945 §6 says to implement; HMAC-MD5 is
//! not). MACs are compared in constant time by aws-lc's `hmac::verify`, and a truncated MAC is
//! refused rather than negotiated (RFC 8945 §5.2.2.1 allows refusing it).

use std::fmt;

use aws_lc_rs::hmac;
use base64::Engine as _;

/// The TSIG record type (RFC 8945 §4.2).
pub(crate) const TSIG: u16 = 250;
/// Class ANY, which TSIG records carry.
const CLASS_ANY: u16 = 255;
/// Length of an HMAC-SHA256 MAC.
const MAC_LEN: usize = 32;
/// The algorithm's name on the wire: `hmac-sha256.`.
const ALGORITHM: &[u8] = b"\x0bhmac-sha256\x00";
/// Seconds of clock difference a signature may have (RFC 8945 §10 recommends 300).
pub(crate) const FUDGE: u16 = 300;

/// TSIG error codes (RFC 8945 §3), in the TSIG record of a NOTAUTH answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // the names RFC 8945 gives them
pub(crate) enum TsigError {
    /// BADSIG: the MAC does not verify.
    BadSig,
    /// BADKEY: no such key, or another algorithm.
    BadKey,
    /// BADTIME: signed outside the allowed clock difference.
    BadTime,
}

impl TsigError {
    fn code(self) -> u16 {
        match self {
            TsigError::BadSig => 16,
            TsigError::BadKey => 17,
            TsigError::BadTime => 18,
        }
    }
}

impl fmt::Display for TsigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TsigError::BadSig => "BADSIG",
            TsigError::BadKey => "BADKEY",
            TsigError::BadTime => "BADTIME",
        })
    }
}

/// A key written in the configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsigKeyError {
    /// Not `hmac-sha256:name:secret`.
    #[error("a key is written `hmac-sha256:<name>:<base64 secret>`")]
    Form,
    /// Another algorithm.
    #[error("only hmac-sha256 is offered, not `{0}`")]
    Algorithm(String),
    /// The key's name is not a domain name.
    #[error("the key name `{0}` is not a domain name")]
    Name(String),
    /// The secret is not base64 or too short.
    #[error("the secret of key `{0}` must be base64 of at least 16 bytes")]
    Secret(String),
}

/// A shared TSIG key.
#[derive(Clone)]
pub struct TsigKey {
    name: String,
    /// The name in canonical wire form (lower case, uncompressed).
    name_wire: Vec<u8>,
    key: hmac::Key,
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TsigKey {
    /// Reads `hmac-sha256:<name>:<base64 secret>` (the form `dig -y` and `knotc` take).
    pub fn parse(spec: &str) -> Result<TsigKey, TsigKeyError> {
        let mut parts = spec.trim().splitn(3, ':');
        let (Some(algorithm), Some(name), Some(secret)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(TsigKeyError::Form);
        };
        if !algorithm.eq_ignore_ascii_case("hmac-sha256") {
            return Err(TsigKeyError::Algorithm(algorithm.to_owned()));
        }
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret.trim())
            .ok()
            .filter(|s| s.len() >= 16)
            .ok_or_else(|| TsigKeyError::Secret(name.to_owned()))?;
        TsigKey::new(name, &secret)
    }

    /// A key named `name` with this secret.
    pub fn new(name: &str, secret: &[u8]) -> Result<TsigKey, TsigKeyError> {
        let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
        let bad = || TsigKeyError::Name(name.clone());
        if name.is_empty() || name.len() > 253 {
            return Err(bad());
        }
        let mut name_wire = Vec::with_capacity(name.len() + 2);
        for label in name.split('.') {
            if label.is_empty()
                || label.len() > 63
                || !label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(bad());
            }
            name_wire.push(u8::try_from(label.len()).map_err(|_| bad())?);
            name_wire.extend_from_slice(label.as_bytes());
        }
        name_wire.push(0);
        Ok(TsigKey {
            name,
            name_wire,
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        })
    }

    /// The key's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The TSIG record of a received message.
#[derive(Debug)]
pub(crate) struct Signature<'a> {
    /// Where the TSIG record starts: the message before it is what was signed.
    start: usize,
    /// The key's name in canonical wire form.
    key_name: Vec<u8>,
    algorithm: Vec<u8>,
    time_signed: u64,
    fudge: u16,
    mac: &'a [u8],
    original_id: [u8; 2],
    error: u16,
    other: &'a [u8],
}

fn u16_at(msg: &[u8], at: usize) -> Option<u16> {
    let b = msg.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// Reads a possibly compressed name at `at` into canonical wire form (lower case); returns it
/// and the offset after the name as it sits in the message.
pub(crate) fn read_name(msg: &[u8], mut at: usize) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut end = None;
    // Each pointer must go backwards, so a loop is impossible; the bound is belt and braces.
    for _ in 0..128 {
        let len = *msg.get(at)?;
        match len {
            0 => {
                out.push(0);
                return (out.len() <= 255).then_some((out, end.unwrap_or(at + 1)));
            }
            1..=63 => {
                let label = msg.get(at + 1..at + 1 + usize::from(len))?;
                out.push(len);
                out.extend(label.iter().map(u8::to_ascii_lowercase));
                if out.len() > 255 {
                    return None;
                }
                at += 1 + usize::from(len);
            }
            0xC0..=0xFF => {
                let target = usize::from(u16_at(msg, at)? & 0x3FFF);
                if target >= at {
                    return None;
                }
                end.get_or_insert(at + 2);
                at = target;
            }
            _ => return None,
        }
    }
    None
}

/// Skips the name at `at`; returns the offset after it.
fn skip_name(msg: &[u8], at: usize) -> Option<usize> {
    read_name(msg, at).map(|(_, end)| end)
}

/// Finds the TSIG record, which must be the last record of the message (RFC 8945 §5.1).
/// `Ok(None)` when the message is unsigned; `Err` when it is malformed or has a TSIG record
/// elsewhere.
pub(crate) fn find(msg: &[u8]) -> Result<Option<Signature<'_>>, ()> {
    let count = |at| u16_at(msg, at).ok_or(());
    let (qd, an, ns, ar) = (count(4)?, count(6)?, count(8)?, count(10)?);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(msg, at).ok_or(())? + 4;
    }
    let total = u32::from(an) + u32::from(ns) + u32::from(ar);
    let mut found = None;
    for i in 0..total {
        let start = at;
        let name_end = skip_name(msg, at).ok_or(())?;
        let rtype = u16_at(msg, name_end).ok_or(())?;
        let rdlen = usize::from(u16_at(msg, name_end + 8).ok_or(())?);
        let rdata = name_end + 10;
        at = rdata + rdlen;
        if at > msg.len() {
            return Err(());
        }
        if rtype == TSIG {
            if i + 1 != total || ar == 0 {
                return Err(());
            }
            found = Some((start, rdata, at));
        }
    }
    let Some((start, rdata, end)) = found else {
        return Ok(None);
    };
    let (key_name, _) = read_name(msg, start).ok_or(())?;
    let (algorithm, mut p) = read_name(msg, rdata).ok_or(())?;
    let time = msg.get(p..p + 6).ok_or(())?;
    let time_signed = time.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    p += 6;
    let fudge = u16_at(msg, p).ok_or(())?;
    let mac_len = usize::from(u16_at(msg, p + 2).ok_or(())?);
    let mac = msg.get(p + 4..p + 4 + mac_len).ok_or(())?;
    p += 4 + mac_len;
    let id = msg.get(p..p + 2).ok_or(())?;
    let error = u16_at(msg, p + 2).ok_or(())?;
    let other_len = usize::from(u16_at(msg, p + 4).ok_or(())?);
    let other = msg.get(p + 6..p + 6 + other_len).ok_or(())?;
    if p + 6 + other_len != end {
        return Err(());
    }
    Ok(Some(Signature {
        start,
        key_name,
        algorithm,
        time_signed,
        fudge,
        mac,
        original_id: [id[0], id[1]],
        error,
        other,
    }))
}

impl Signature<'_> {
    /// The key's name, in canonical wire form.
    pub(crate) fn key_name(&self) -> &[u8] {
        &self.key_name
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The time fields as TSIG writes them: 48-bit seconds, then the fudge.
fn timers(time: u64, fudge: u16) -> [u8; 8] {
    let t = time.to_be_bytes();
    let f = fudge.to_be_bytes();
    [t[2], t[3], t[4], t[5], t[6], t[7], f[0], f[1]]
}

/// Checks a request's signature against `keys`. On success returns the key and the request's
/// MAC, which the response's MAC covers (RFC 8945 §5.3).
pub(crate) fn verify<'k>(
    keys: &'k [TsigKey],
    msg: &[u8],
    sig: &Signature<'_>,
) -> Result<(&'k TsigKey, Vec<u8>), TsigError> {
    let key = keys
        .iter()
        .find(|k| k.name_wire == sig.key_name)
        .filter(|_| sig.algorithm == ALGORITHM)
        .ok_or(TsigError::BadKey)?;
    if sig.mac.len() != MAC_LEN {
        return Err(TsigError::BadSig);
    }
    let mut signed = Vec::with_capacity(sig.start + 64);
    signed.extend_from_slice(msg.get(..sig.start).ok_or(TsigError::BadSig)?);
    // The message as it was before the TSIG record was added: its original id, one
    // additional record fewer.
    signed[..2].copy_from_slice(&sig.original_id);
    let ar = u16_at(&signed, 10).unwrap_or(1).saturating_sub(1);
    signed[10..12].copy_from_slice(&ar.to_be_bytes());
    push_variables(
        &mut signed,
        &key.name_wire,
        sig.time_signed,
        sig.fudge,
        sig.error,
        sig.other,
    );
    hmac::verify(&key.key, &signed, sig.mac).map_err(|_| TsigError::BadSig)?;
    if now_secs().abs_diff(sig.time_signed) > u64::from(sig.fudge) {
        return Err(TsigError::BadTime);
    }
    Ok((key, sig.mac.to_vec()))
}

/// The TSIG variables (RFC 8945 §4.3.3).
fn push_variables(
    out: &mut Vec<u8>,
    key_name: &[u8],
    time: u64,
    fudge: u16,
    error: u16,
    other: &[u8],
) {
    out.extend_from_slice(key_name);
    out.extend_from_slice(&CLASS_ANY.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(ALGORITHM);
    out.extend_from_slice(&timers(time, fudge));
    out.extend_from_slice(&error.to_be_bytes());
    let other_len = u16::try_from(other.len()).unwrap_or(0);
    out.extend_from_slice(&other_len.to_be_bytes());
    out.extend_from_slice(other);
}

/// Appends a TSIG record to `msg` and counts it in ARCOUNT.
fn append_record(
    msg: &mut Vec<u8>,
    key_name: &[u8],
    time: u64,
    mac: &[u8],
    original_id: [u8; 2],
    error: u16,
) {
    msg.extend_from_slice(key_name);
    msg.extend_from_slice(&TSIG.to_be_bytes());
    msg.extend_from_slice(&CLASS_ANY.to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    let rdlen = ALGORITHM.len() + 8 + 2 + mac.len() + 2 + 2 + 2;
    msg.extend_from_slice(&u16::try_from(rdlen).unwrap_or(0).to_be_bytes());
    msg.extend_from_slice(ALGORITHM);
    msg.extend_from_slice(&timers(time, FUDGE));
    msg.extend_from_slice(&u16::try_from(mac.len()).unwrap_or(0).to_be_bytes());
    msg.extend_from_slice(mac);
    msg.extend_from_slice(&original_id);
    msg.extend_from_slice(&error.to_be_bytes());
    msg.extend_from_slice(&0u16.to_be_bytes());
    if let Some(ar) = msg.get(10..12).and_then(|b| <[u8; 2]>::try_from(b).ok()) {
        let ar = u16::from_be_bytes(ar).saturating_add(1);
        msg[10..12].copy_from_slice(&ar.to_be_bytes());
    }
}

/// Signs a request stsd sends (a NOTIFY); returns the MAC, which the answer's MAC covers.
pub(crate) fn sign_request(key: &TsigKey, msg: &mut Vec<u8>) -> Vec<u8> {
    let time = now_secs();
    let mut signed = msg.clone();
    push_variables(&mut signed, &key.name_wire, time, FUDGE, 0, &[]);
    let mac = hmac::sign(&key.key, &signed);
    let id = [
        msg.first().copied().unwrap_or(0),
        msg.get(1).copied().unwrap_or(0),
    ];
    append_record(msg, &key.name_wire, time, mac.as_ref(), id, 0);
    mac.as_ref().to_vec()
}

/// Checks the signature of an answer to a request signed with `key` whose MAC was
/// `request_mac`.
pub(crate) fn verify_answer(key: &TsigKey, msg: &[u8], request_mac: &[u8]) -> bool {
    let Ok(Some(sig)) = find(msg) else {
        return false;
    };
    if sig.key_name != key.name_wire || sig.algorithm != ALGORITHM || sig.mac.len() != MAC_LEN {
        return false;
    }
    let mut signed = Vec::with_capacity(msg.len() + 64);
    signed.extend_from_slice(&u16::try_from(request_mac.len()).unwrap_or(0).to_be_bytes());
    signed.extend_from_slice(request_mac);
    let body_at = signed.len();
    signed.extend_from_slice(&msg[..sig.start]);
    signed[body_at..body_at + 2].copy_from_slice(&sig.original_id);
    let ar = u16_at(&signed, body_at + 10).unwrap_or(1).saturating_sub(1);
    signed[body_at + 10..body_at + 12].copy_from_slice(&ar.to_be_bytes());
    push_variables(
        &mut signed,
        &key.name_wire,
        sig.time_signed,
        sig.fudge,
        sig.error,
        sig.other,
    );
    hmac::verify(&key.key, &signed, sig.mac).is_ok()
}

/// Signs the messages of one answer: the first as a response to the request whose MAC it
/// holds, each later one (a zone transfer's) chained to the one before (RFC 8945 §5.3.1).
pub(crate) struct AnswerSigner<'k> {
    key: &'k TsigKey,
    prior_mac: Vec<u8>,
    first: bool,
}

impl<'k> AnswerSigner<'k> {
    /// A signer for the answer to a request signed with `key` whose MAC was `request_mac`.
    pub(crate) fn new(key: &'k TsigKey, request_mac: Vec<u8>) -> AnswerSigner<'k> {
        AnswerSigner {
            key,
            prior_mac: request_mac,
            first: true,
        }
    }

    /// Appends the TSIG record to the next message of the answer.
    pub(crate) fn sign(&mut self, msg: &mut Vec<u8>) {
        let time = now_secs();
        let mut signed = Vec::with_capacity(msg.len() + 96);
        signed.extend_from_slice(
            &u16::try_from(self.prior_mac.len())
                .unwrap_or(0)
                .to_be_bytes(),
        );
        signed.extend_from_slice(&self.prior_mac);
        signed.extend_from_slice(msg);
        if self.first {
            push_variables(&mut signed, &self.key.name_wire, time, FUDGE, 0, &[]);
        } else {
            signed.extend_from_slice(&timers(time, FUDGE));
        }
        let mac = hmac::sign(&self.key.key, &signed);
        let id = [
            msg.first().copied().unwrap_or(0),
            msg.get(1).copied().unwrap_or(0),
        ];
        append_record(msg, &self.key.name_wire, time, mac.as_ref(), id, 0);
        self.prior_mac = mac.as_ref().to_vec();
        self.first = false;
    }
}

/// Appends the unsigned TSIG record of an error answer (RFC 8945 §5.2.2): the key's name as
/// the request gave it, no MAC, the error.
pub(crate) fn append_error(msg: &mut Vec<u8>, sig: &Signature<'_>, error: TsigError) {
    append_record(
        msg,
        &sig.key_name,
        sig.time_signed,
        &[],
        sig.original_id,
        error.code(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TsigKey {
        TsigKey::parse("hmac-sha256:xfr.example:c2VjcmV0LXNlY3JldC1zZWNyZXQ=").unwrap()
    }

    /// A query for `example. SOA`, id 0x1234.
    fn query() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(b"\x07example\x00\x00\x06\x00\x01");
        m
    }

    #[test]
    fn keys_are_read_and_refused_with_reasons() {
        assert_eq!(key().name(), "xfr.example");
        assert!(!format!("{:?}", key()).contains("c2Vj"));
        for (spec, want) in [
            ("xfr:abc", TsigKeyError::Form),
            (
                "hmac-md5:xfr:c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
                TsigKeyError::Algorithm("hmac-md5".to_owned()),
            ),
            (
                "hmac-sha256:xfr:c2hvcnQ=",
                TsigKeyError::Secret("xfr".to_owned()),
            ),
            (
                "hmac-sha256:bad name:c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
                TsigKeyError::Name("bad name".to_owned()),
            ),
        ] {
            assert_eq!(TsigKey::parse(spec).unwrap_err(), want, "{spec}");
        }
    }

    #[test]
    fn a_signed_request_verifies_and_a_changed_one_does_not() {
        let keys = [key()];
        let mut msg = query();
        let mac = sign_request(&keys[0], &mut msg);
        let sig = find(&msg).unwrap().unwrap();
        let (k, got) = verify(&keys, &msg, &sig).unwrap();
        assert_eq!(k.name(), "xfr.example");
        assert_eq!(got, mac);

        let mut changed = msg.clone();
        changed[13] ^= 0x20; // `Example`: a different message
        let sig = find(&changed).unwrap().unwrap();
        assert_eq!(
            verify(&keys, &changed, &sig).unwrap_err(),
            TsigError::BadSig
        );

        let other = [TsigKey::parse("hmac-sha256:other:c2VjcmV0LXNlY3JldC1zZWNyZXQ=").unwrap()];
        let sig = find(&msg).unwrap().unwrap();
        assert_eq!(verify(&other, &msg, &sig).unwrap_err(), TsigError::BadKey);
    }

    #[test]
    fn an_answer_chain_verifies_message_by_message() {
        let k = key();
        let mut request = query();
        let request_mac = sign_request(&k, &mut request);
        let mut signer = AnswerSigner::new(&k, request_mac.clone());
        let mut first = query();
        first[2] = 0x84;
        signer.sign(&mut first);
        assert!(verify_answer(&k, &first, &request_mac));
        let first_mac = find(&first).unwrap().unwrap().mac.to_vec();
        let mut second = query();
        second[2] = 0x84;
        signer.sign(&mut second);
        // A later message is signed over the prior MAC, the message and the timers only.
        let sig = find(&second).unwrap().unwrap();
        let mut chained = vec![0, 32];
        chained.extend_from_slice(&first_mac);
        chained.extend_from_slice(&second[..sig.start]);
        chained[2 + 32 + 11] -= 1; // ARCOUNT before the TSIG record
        chained.extend_from_slice(&timers(sig.time_signed, sig.fudge));
        assert!(hmac::verify(&k.key, &chained, sig.mac).is_ok());
        // …so it does not verify as a first message, nor the first under another request.
        assert!(!verify_answer(&k, &second, &first_mac));
        assert!(!verify_answer(&k, &first, &[0u8; 32]));
    }

    #[test]
    fn a_tsig_record_anywhere_but_last_is_malformed() {
        let mut msg = query();
        sign_request(&key(), &mut msg);
        // Claim one more additional record than there is: the TSIG is no longer last.
        msg[11] = 2;
        assert!(find(&msg).is_err());
        assert!(find(&query()).unwrap().is_none());
        assert!(find(&msg[..20]).is_err());
    }
}
