//! ACME TLS-ALPN-01 (RFC 8737): the self-signed challenge certificates the edge presents to a
//! CA that connects for a host offering only the ALPN protocol `acme-tls/1`.
//!
//! The certs worker stores, per host, the SHA-256 of the key authorization; each edge builds
//! the certificate itself (a fresh key, the host as its only name, the digest in the critical
//! `id-pe-acmeIdentifier` extension). A certificate is rebuilt only when its digest changes.

use std::collections::HashMap;
use std::sync::Arc;

use rcgen::{CertificateParams, CustomExtension, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

/// The ALPN protocol of TLS-ALPN-01 validation.
pub(crate) const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// A host's pending TLS-ALPN-01 challenge, ready for rustls.
#[derive(Debug, Clone)]
pub(crate) struct AlpnChallenge {
    /// The hex digest it was built from, to reuse it while unchanged.
    pub(crate) digest: String,
    /// The self-signed challenge certificate and its key.
    pub(crate) key: Arc<CertifiedKey>,
}

/// The challenge certificates for `rows` (host, hex SHA-256 of the key authorization),
/// reusing those of `previous` whose digest is unchanged. A malformed row is logged and
/// left out: that host's validation fails, nothing else does.
pub(crate) fn challenge_keys(
    rows: Vec<(String, String)>,
    previous: &HashMap<String, AlpnChallenge>,
    provider: &CryptoProvider,
) -> HashMap<String, AlpnChallenge> {
    let mut out = HashMap::with_capacity(rows.len());
    // Rows come oldest first: a newer challenge for the same host replaces an older one.
    for (host, digest) in rows {
        if let Some(known) = previous.get(&host).filter(|c| c.digest == digest) {
            out.insert(host, known.clone());
            continue;
        }
        match challenge_key(&host, &digest, provider) {
            Ok(key) => {
                out.insert(
                    host,
                    AlpnChallenge {
                        digest,
                        key: Arc::new(key),
                    },
                );
            }
            Err(problem) => {
                tracing::error!(%host, %problem, "unusable tls-alpn-01 challenge");
            }
        }
    }
    out
}

/// The self-signed certificate answering a TLS-ALPN-01 challenge for `host`.
fn challenge_key(
    host: &str,
    digest_hex: &str,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let digest = decode_digest(digest_hex).ok_or("the digest is not 64 hex digits")?;
    let mut params =
        CertificateParams::new(vec![host.to_owned()]).map_err(|e| format!("host name: {e}"))?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(&digest)];
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| e.to_string())?;
    Ok(CertifiedKey::new(vec![cert.der().clone()], signing))
}

/// Exactly 32 bytes from 64 hex digits (rcgen panics on another length).
fn decode_digest(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_reuses_and_refuses() {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let digest = "0f".repeat(32);
        let rows = vec![("mta-sts.a.example".to_owned(), digest.clone())];
        let first = challenge_keys(rows.clone(), &HashMap::new(), &provider);
        let built = &first["mta-sts.a.example"];
        // The extension carries the digest: OCTET STRING (0x04, 32 bytes) of 0x0f bytes.
        let der = built.key.end_entity_cert().unwrap().to_vec();
        let mut needle = vec![0x04, 0x20];
        needle.extend([0x0f; 32]);
        assert!(der.windows(needle.len()).any(|w| w == needle));
        // Unchanged: the same certificate, not a new key.
        let again = challenge_keys(rows, &first, &provider);
        assert!(Arc::ptr_eq(&again["mta-sts.a.example"].key, &built.key));
        // A new digest: a new certificate.
        let changed = challenge_keys(
            vec![("mta-sts.a.example".to_owned(), "10".repeat(32))],
            &first,
            &provider,
        );
        assert!(!Arc::ptr_eq(&changed["mta-sts.a.example"].key, &built.key));
        // Malformed digests are left out instead of panicking.
        let bad = challenge_keys(
            vec![
                ("mta-sts.b.example".to_owned(), "0f".repeat(31)),
                ("mta-sts.c.example".to_owned(), "zz".repeat(32)),
                ("mta-sts.d.example".to_owned(), "é".repeat(32)),
            ],
            &HashMap::new(),
            &provider,
        );
        assert!(bad.is_empty());
    }
}
