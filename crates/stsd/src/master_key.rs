//! The operator's master key, which encrypts private keys and ACME credentials at rest.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub(crate) use stsd_store::MasterKey;

/// Why the master key could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MasterKeyError {
    /// The value is not base64 of exactly 32 bytes.
    #[error("{origin}: must be base64 of exactly 32 bytes ({problem})")]
    Malformed {
        /// `STSD_MASTER_KEY` or the file path.
        origin: String,
        /// What is wrong, without echoing the value.
        problem: String,
    },
    /// Reading or writing the key file failed.
    #[error("master key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The system random number generator failed.
    #[error("cannot generate a master key: {0}")]
    Random(String),
}

/// Where the key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// `STSD_MASTER_KEY` (or the file's `master_key`).
    Configured,
    /// `<data_dir>/master.key`, written earlier.
    File,
    /// Generated just now into `<data_dir>/master.key`.
    Generated,
}

/// Decodes base64 of exactly 32 bytes, naming `origin` (never the value) in errors.
fn decode(text: &str, origin: &str) -> Result<MasterKey, MasterKeyError> {
    let raw = STANDARD
        .decode(text.trim())
        .map_err(|e| MasterKeyError::Malformed {
            origin: origin.to_owned(),
            problem: format!("not base64: {e}"),
        })?;
    let bytes: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| MasterKeyError::Malformed {
            origin: origin.to_owned(),
            problem: format!("decodes to {} bytes", raw.len()),
        })?;
    Ok(MasterKey::from_bytes(bytes))
}

/// The previous keys (`STSD_MASTER_KEY_PREVIOUS`), each base64 of 32 bytes; an error names
/// the position, never the value.
pub(crate) fn decode_previous(texts: &[String]) -> Result<Vec<MasterKey>, MasterKeyError> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| decode(text, &format!("STSD_MASTER_KEY_PREVIOUS (key {})", i + 1)))
        .collect()
}

/// The configured key; else the one in `<data_dir>/master.key`; else a new random key,
/// written there with mode 0600.
pub(crate) fn load_or_generate(
    configured: Option<&str>,
    data_dir: &Path,
) -> Result<(MasterKey, Origin), MasterKeyError> {
    if let Some(text) = configured {
        return Ok((decode(text, "STSD_MASTER_KEY")?, Origin::Configured));
    }
    let path = data_dir.join("master.key");
    let io = |source| MasterKeyError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            return Ok((decode(&text, &path.display().to_string())?, Origin::File));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| MasterKeyError::Random(e.to_string()))?;
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(io)?;
    file.write_all(STANDARD.encode(bytes).as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    Ok((MasterKey::from_bytes(bytes), Origin::Generated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_then_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (a, origin) = load_or_generate(None, dir.path()).unwrap();
        assert_eq!(origin, Origin::Generated);
        let (b, origin) = load_or_generate(None, dir.path()).unwrap();
        assert_eq!(origin, Origin::File);
        assert_eq!(a.bytes(), b.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("master.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{a:?}").contains(&format!("{:?}", a.bytes())));
    }

    #[test]
    fn configured_key_must_be_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let good = STANDARD.encode([7u8; 32]);
        let (k, origin) = load_or_generate(Some(&good), dir.path()).unwrap();
        assert_eq!(origin, Origin::Configured);
        assert_eq!(k.bytes(), &[7u8; 32]);
        let e = load_or_generate(Some(&STANDARD.encode([1u8; 16])), dir.path()).unwrap_err();
        assert!(e.to_string().contains("16 bytes"), "{e}");
        let e = load_or_generate(Some("%%%"), dir.path()).unwrap_err();
        assert!(e.to_string().starts_with("STSD_MASTER_KEY"), "{e}");
        assert!(!dir.path().join("master.key").exists());
    }

    #[test]
    fn previous_keys_decode_and_errors_name_the_position() {
        let keys =
            decode_previous(&[STANDARD.encode([1u8; 32]), STANDARD.encode([2u8; 32])]).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].bytes(), &[2u8; 32]);
        let secret = STANDARD.encode([3u8; 20]);
        let e = decode_previous(&[STANDARD.encode([1u8; 32]), secret.clone()]).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("(key 2)") && e.contains("20 bytes"), "{e}");
        assert!(!e.contains(&secret), "{e}");
    }
}
