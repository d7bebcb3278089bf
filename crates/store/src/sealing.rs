//! Sealing secrets at rest: AES-256-GCM under the operator's master key.
//!
//! Private keys and ACME credentials are stored sealed. A sealed value carries the id of the
//! master key that sealed it (also bound as associated data), so that after a rotation the
//! store can tell which values still need re-sealing.
//!
//! A rotation runs on a live cluster, so for a while some values are sealed under the old key
//! and some under the new one, and some nodes may still seal with the old key. A
//! [`MasterKey`] therefore carries, besides the key it seals with, the *previous* keys it
//! still opens with ([`MasterKey::with_previous`]); `stsd admin rotate-master-key` re-seals
//! everything under the current key, after which the previous keys can be dropped.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest;

/// Format marker of a sealed value: version 1.
const MAGIC: &[u8; 2] = b"S1";

/// Why a value could not be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The value is not in the sealed format.
    #[error("not a sealed value")]
    Malformed,
    /// The value was sealed under a master key that is neither the current nor a previous one.
    #[error("sealed under master key {found}, but the configured keys are {expected}")]
    WrongKey {
        /// The configured keys' ids (current first), comma-separated.
        expected: String,
        /// The id the value carries.
        found: String,
    },
    /// Authentication failed: the value was altered or the key is wrong.
    #[error("sealed value failed authentication")]
    Tampered,
    /// The random number generator or cipher failed.
    #[error("sealing failed")]
    Crypto,
}

/// The operator's master key, plus the previous keys it still opens values with during a
/// rotation. Never printed: `Debug` shows only the ids.
pub struct MasterKey {
    id: String,
    bytes: [u8; 32],
    key: LessSafeKey,
    /// Keys accepted for opening only, newest first; never used to seal.
    previous: Vec<MasterKey>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field(
                "previous",
                &self
                    .previous
                    .iter()
                    .map(|k| k.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// Wraps 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        let d = digest::digest(&digest::SHA256, &bytes);
        let id = d.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect();
        // AES-256 takes exactly 32 bytes, so this cannot fail; the fallback only keeps the
        // constructor infallible.
        let key = UnboundKey::new(&AES_256_GCM, &bytes).unwrap_or_else(|_| unreachable_key());
        MasterKey {
            id,
            bytes,
            key: LessSafeKey::new(key),
            previous: Vec::new(),
        }
    }

    /// Also opens values sealed under `previous` (the keys of earlier or upcoming rotations);
    /// sealing still uses only this key. A previous key equal to this one is ignored, and so
    /// are the previous keys' own previous keys.
    pub fn with_previous(mut self, previous: impl IntoIterator<Item = MasterKey>) -> MasterKey {
        for mut key in previous {
            if key.id != self.id && !self.previous.iter().any(|k| k.id == key.id) {
                key.previous.clear();
                self.previous.push(key);
            }
        }
        self
    }

    /// The ids of the previous keys, for reports (never the keys).
    pub fn previous_ids(&self) -> Vec<&str> {
        self.previous.iter().map(|k| k.id.as_str()).collect()
    }

    /// The raw bytes of the previous keys, e.g. to keep verifying access tokens signed under
    /// them during a rotation. Never store or log them.
    pub fn previous_bytes(&self) -> Vec<&[u8; 32]> {
        self.previous.iter().map(|k| &k.bytes).collect()
    }

    /// A short public identifier of the key (a hash prefix), stored next to sealed values.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The raw bytes, for deriving other keys (HKDF). Never store or log them.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Encrypts `plaintext`.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SealError::Crypto)?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.id.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SealError::Crypto)?;
        let mut out = Vec::with_capacity(2 + 1 + self.id.len() + NONCE_LEN + buf.len());
        out.extend_from_slice(MAGIC);
        out.push(u8::try_from(self.id.len()).map_err(|_| SealError::Crypto)?);
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// The id of the key a sealed value names, without opening it.
    pub fn sealed_key_id(sealed: &[u8]) -> Result<String, SealError> {
        let rest = sealed.strip_prefix(MAGIC).ok_or(SealError::Malformed)?;
        let (&id_len, rest) = rest.split_first().ok_or(SealError::Malformed)?;
        let id = rest
            .get(..usize::from(id_len))
            .ok_or(SealError::Malformed)?;
        Ok(String::from_utf8_lossy(id).into_owned())
    }

    /// Decrypts a value sealed by [`MasterKey::seal`] under this key or one of the previous
    /// keys.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let found = MasterKey::sealed_key_id(sealed)?;
        match std::iter::once(self)
            .chain(&self.previous)
            .find(|k| k.id == found)
        {
            Some(key) => key.open_own(sealed),
            None => Err(SealError::WrongKey {
                expected: std::iter::once(self.id.as_str())
                    .chain(self.previous.iter().map(|k| k.id.as_str()))
                    .collect::<Vec<_>>()
                    .join(","),
                found,
            }),
        }
    }

    /// Decrypts a value sealed under exactly this key (not the previous ones).
    fn open_own(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        let rest = sealed.strip_prefix(MAGIC).ok_or(SealError::Malformed)?;
        let (&id_len, rest) = rest.split_first().ok_or(SealError::Malformed)?;
        let id_len = usize::from(id_len);
        if rest.len() < id_len + NONCE_LEN {
            return Err(SealError::Malformed);
        }
        let (id, rest) = rest.split_at(id_len);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        if id != self.id.as_bytes() {
            return Err(SealError::WrongKey {
                expected: self.id.clone(),
                found: String::from_utf8_lossy(id).into_owned(),
            });
        }
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Malformed)?;
        let mut buf = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(id), &mut buf)
            .map_err(|_| SealError::Tampered)?;
        Ok(plain.to_vec())
    }
}

#[allow(
    clippy::panic,
    reason = "AES-256 with a 32-byte key is always accepted"
)]
fn unreachable_key() -> UnboundKey {
    panic!("AES-256-GCM rejected a 32-byte key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let k = MasterKey::from_bytes([3; 32]);
        let sealed = k.seal(b"private key").unwrap();
        assert_eq!(k.open(&sealed).unwrap(), b"private key");
        assert_ne!(
            k.seal(b"private key").unwrap(),
            sealed,
            "fresh nonce each time"
        );
        assert!(!format!("{k:?}").contains("3, 3"));

        let other = MasterKey::from_bytes([4; 32]);
        assert!(matches!(
            other.open(&sealed),
            Err(SealError::WrongKey { .. })
        ));
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(k.open(&tampered), Err(SealError::Tampered));
        assert_eq!(k.open(b"S1"), Err(SealError::Malformed));
        assert_eq!(k.open(b""), Err(SealError::Malformed));
        assert_eq!(k.open(&sealed[..10]), Err(SealError::Malformed));
    }

    #[test]
    fn previous_keys_open_but_never_seal() {
        let old = MasterKey::from_bytes([1; 32]);
        let sealed_old = old.seal(b"account").unwrap();
        let new = MasterKey::from_bytes([2; 32]);
        assert!(matches!(
            new.open(&sealed_old),
            Err(SealError::WrongKey { .. })
        ));

        let ring = MasterKey::from_bytes([2; 32]).with_previous([MasterKey::from_bytes([1; 32])]);
        assert_eq!(ring.open(&sealed_old).unwrap(), b"account");
        let sealed_new = ring.seal(b"account").unwrap();
        assert_eq!(
            MasterKey::sealed_key_id(&sealed_new).unwrap(),
            new.id(),
            "seals with the current key"
        );
        assert_eq!(new.open(&sealed_new).unwrap(), b"account");
        assert!(
            old.open(&sealed_new).is_err(),
            "the old key alone cannot read it"
        );
        assert_eq!(ring.previous_ids(), [old.id()]);

        // A tampered value under a previous key is still refused.
        let mut tampered = sealed_old.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert_eq!(ring.open(&tampered), Err(SealError::Tampered));
        // The current key listed again as previous changes nothing.
        let same = MasterKey::from_bytes([2; 32]).with_previous([MasterKey::from_bytes([2; 32])]);
        assert!(same.previous_ids().is_empty());
        let shown = format!("{ring:?}");
        assert!(
            shown.contains(old.id()) && !shown.contains("1, 1"),
            "{shown}"
        );
    }
}
