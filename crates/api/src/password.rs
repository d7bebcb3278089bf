//! Password hashing (argon2id) and the minimum rules a password must meet.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 12;
/// Longest password accepted; bounds the hashing work an attacker can ask for.
pub const MAX_LENGTH: usize = 256;

/// Why a password was refused or could not be hashed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    /// Shorter than [`MIN_LENGTH`] characters.
    #[error("password must be at least {MIN_LENGTH} characters long")]
    TooShort,
    /// Longer than [`MAX_LENGTH`] bytes.
    #[error("password must be at most {MAX_LENGTH} bytes long")]
    TooLong,
    /// The hasher failed (random salt unavailable); not the caller's fault.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Checks the length rules and returns the argon2id PHC string of `password`.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if password.len() > MAX_LENGTH {
        return Err(PasswordError::TooLong);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string. A malformed hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    password.len() <= MAX_LENGTH
        && Argon2::default()
            .verify_password(password.as_bytes(), phc)
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_verifies() {
        let h = hash("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse battery staple", &h));
        assert!(!verify("correct horse battery stapl", &h));
        assert!(!verify("anything", "not a phc string"));
    }

    #[test]
    fn length_rules() {
        assert_eq!(hash("short"), Err(PasswordError::TooShort));
        assert_eq!(hash(&"x".repeat(300)), Err(PasswordError::TooLong));
    }
}
