//! Sealing secrets at rest: AES-256-GCM under the operator's master key.
//!
//! Private keys and ACME credentials are stored sealed. A sealed value carries the id of the
//! master key that sealed it (also bound as associated data), so that after a rotation the
//! store can tell which values still need re-sealing.

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
    /// The value was sealed under another master key.
    #[error("sealed under master key {found}, but the configured key is {expected}")]
    WrongKey {
        /// The configured key's id.
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

/// The operator's master key. Never printed: `Debug` shows only its id.
pub struct MasterKey {
    id: String,
    bytes: [u8; 32],
    key: LessSafeKey,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
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
        }
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

    /// Decrypts a value sealed by [`MasterKey::seal`] under this key.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
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
}
