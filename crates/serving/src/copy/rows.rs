//! The copy's JSON line: private mirrors of the store's types (which stay free of serde),
//! written straight from a snapshot and read back into the rows a snapshot is built from.

use std::borrow::Cow;
use std::cell::Cell;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls::pki_types::CertificateDer;
use serde::ser::{Error as _, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use stsd_core::{DomainName, Label, PolicyId};
use stsd_store::{Certificate, DomainId, LiveId, MasterKey, ServedDomain, ServiceCertificate};
use time::OffsetDateTime;

use crate::build::Rows;
use crate::snapshot::{EdgeHost, HOST_PREFIX, Snapshot};

/// The JSON line of `snapshot`, its keys sealed under `master` as it is written.
pub(super) fn body<'a>(
    snapshot: &'a Snapshot,
    master: &'a MasterKey,
    written_at: i64,
) -> BodyOut<'a> {
    BodyOut {
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
pub(super) struct BodyOut<'a> {
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
pub(super) struct BodyIn {
    seq: i64,
    pub(super) written_at: i64,
    pub(super) master_key_id: String,
    domains: Vec<DomainRow<'static>>,
    challenges: Vec<ChallengeRow<'static>>,
    tls_alpn_challenges: Vec<AlpnRow<'static>>,
    service_certificates: Vec<ServiceRow<'static>>,
}

// The rows mirror the store's types field by field: borrowed when written, owned when read.

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
    /// Absent in copies written before it existed.
    #[serde(default)]
    extra_rua: Vec<Cow<'a, str>>,
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
        let records = snapshot.labels.get(&reg.label);
        let live_ids = records
            .map(|records| records.policy_ids.as_slice())
            .unwrap_or_default();
        let extra_rua = records
            .map(|records| records.extra_rua.as_slice())
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
            extra_rua: extra_rua.iter().map(|u| u.as_str().into()).collect(),
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
pub(super) fn pem_chain(chain: &[CertificateDer<'_>]) -> String {
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
    pub(super) fn into_rows(self) -> Result<Rows, String> {
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
            extra_rua: self
                .extra_rua
                .iter()
                .map(|u| u.clone().into_owned())
                .collect(),
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

pub(super) fn from_ms(ms: i64) -> Result<OffsetDateTime, String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| format!("timestamp {ms}: {e}"))
}
