//! Short-lived access tokens (JWT, HS256 pinned).
//!
//! The signing key is derived from the operator's master key with HKDF, so every node signs
//! and verifies with the same key and no extra secret has to be distributed. The `kid`
//! header names the key (a hash of it, never the key), so that tokens signed before a
//! master-key rotation can be told apart.

use std::time::Duration;

use aws_lc_rs::hkdf;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use stsd_store::UserId;

use crate::error::ApiError;

const ISSUER: &str = "stsd";
const AUDIENCE: &str = "stsd-api";
/// How far in the future an `iat` may lie: clocks of the nodes drift a little, but a token
/// "issued" later than that was not issued by a node of ours and would outlive its `exp`
/// bookkeeping (jsonwebtoken checks `exp` and `nbf`, not `iat`).
const IAT_LEEWAY_SECS: i64 = 60;

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    iat: i64,
    exp: i64,
    /// The session (refresh-token family) the token was issued for: logging out, or reusing
    /// a refresh token, revokes the family, and its access tokens stop working with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
}

/// Signs and verifies access tokens.
pub struct JwtKeys {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Keys derived from the previous master keys of a rotation, by `kid`: tokens signed by
    /// a node still sealing with another key stay valid. Verify only, never sign.
    previous: Vec<(String, DecodingKey)>,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl JwtKeys {
    /// Derives the signing key from the 32-byte master key.
    pub fn from_master_key(master: &[u8; 32]) -> JwtKeys {
        let (kid, key) = derive(master);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        JwtKeys {
            kid,
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            previous: Vec::new(),
            validation,
        }
    }

    /// Also accepts tokens signed under keys derived from `previous` master keys (during a
    /// master-key rotation nodes sign with different keys for a while).
    pub fn with_previous(mut self, previous: &[&[u8; 32]]) -> JwtKeys {
        for master in previous {
            let (kid, key) = derive(master);
            if kid != self.kid {
                self.previous.push((kid, DecodingKey::from_secret(&key)));
            }
        }
        self
    }

    /// A token for `user`, valid for `ttl`, tied to no session.
    pub fn issue(&self, user: &UserId, ttl: Duration) -> Result<String, ApiError> {
        self.sign(user, None, ttl)
    }

    /// A token for `user` in session `sid` (a refresh-token family), valid for `ttl` or until
    /// the session is revoked, whichever comes first.
    pub fn issue_for_session(
        &self,
        user: &UserId,
        sid: &str,
        ttl: Duration,
    ) -> Result<String, ApiError> {
        self.sign(user, Some(sid.to_owned()), ttl)
    }

    fn sign(&self, user: &UserId, sid: Option<String>, ttl: Duration) -> Result<String, ApiError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: user.as_str().to_owned(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
            sid,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| ApiError::internal(&e))
    }

    /// The user a token was issued to, if it is valid: HS256 with our key and `kid`, not
    /// expired, not issued in the future (beyond a minute of clock skew), right issuer and
    /// audience. Anything else (`alg: none`, another algorithm, a
    /// changed byte) is refused.
    pub fn verify(&self, token: &str) -> Option<UserId> {
        self.verify_session(token).map(|(user, _)| user)
    }

    /// Like [`JwtKeys::verify`], with the session the token was issued for (`None` for
    /// tokens tied to none).
    pub fn verify_session(&self, token: &str) -> Option<(UserId, Option<String>)> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::HS256 {
            return None;
        }
        let kid = header.kid.as_deref()?;
        let key = if kid == self.kid {
            &self.decoding
        } else {
            &self.previous.iter().find(|(k, _)| k == kid)?.1
        };
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation).ok()?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if data.claims.iat > now.saturating_add(IAT_LEEWAY_SECS) {
            return None;
        }
        Some((UserId::from_raw(data.claims.sub), data.claims.sid))
    }
}

/// The HS256 key derived from a master key, and its `kid` (a hash of the key, never the key).
fn derive(master: &[u8; 32]) -> (String, [u8; 32]) {
    let mut key = [0u8; 32];
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"stsd").extract(master);
    // Expanding 32 bytes from SHA-256 cannot fail (the limit is 255 * 32).
    if let Ok(okm) = prk.expand(&[b"stsd access-token hs256 v1"], Len(32)) {
        let _ = okm.fill(&mut key);
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &key);
    let kid = format!(
        "hs1-{}",
        digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    (kid, key)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::from_master_key(&[42; 32])
    }

    #[test]
    fn issues_and_verifies() {
        let k = keys();
        let t = k
            .issue(&UserId::from_raw("u1"), Duration::from_secs(60))
            .unwrap();
        assert_eq!(k.verify(&t), Some(UserId::from_raw("u1")));
        // Another master key, another signing key.
        assert_eq!(JwtKeys::from_master_key(&[1; 32]).verify(&t), None);
    }

    #[test]
    fn previous_master_keys_verify_during_a_rotation() {
        let old = keys();
        let t = old
            .issue(&UserId::from_raw("u1"), Duration::from_secs(60))
            .unwrap();
        let rotated = JwtKeys::from_master_key(&[1; 32]).with_previous(&[&[42; 32]]);
        assert_eq!(rotated.verify(&t), Some(UserId::from_raw("u1")));
        // New tokens are signed with the new key only.
        let fresh = rotated
            .issue(&UserId::from_raw("u2"), Duration::from_secs(60))
            .unwrap();
        assert_eq!(old.verify(&fresh), None);
        assert_eq!(
            JwtKeys::from_master_key(&[1; 32]).verify(&fresh),
            Some(UserId::from_raw("u2"))
        );
    }

    #[test]
    fn refuses_forgeries() {
        let k = keys();
        let t = k
            .issue(&UserId::from_raw("u1"), Duration::from_secs(60))
            .unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        // alg: none with the signature stripped.
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        assert_eq!(k.verify(&format!("{none}.{}.", parts[1])), None);
        // A tampered payload.
        let claims = URL_SAFE_NO_PAD
            .encode(br#"{"sub":"admin","iss":"stsd","aud":"stsd-api","iat":1,"exp":99999999999}"#);
        assert_eq!(
            k.verify(&format!("{}.{claims}.{}", parts[0], parts[2])),
            None
        );
        // Expired.
        let old = Claims {
            sub: "u1".into(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: 1,
            exp: 2,
            sid: None,
        };
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(k.kid.clone());
        let expired = jsonwebtoken::encode(&h, &old, &k.encoding).unwrap();
        assert_eq!(k.verify(&expired), None);
        // Right key, wrong audience.
        let other = Claims {
            aud: "someone-else".into(),
            exp: i64::MAX / 2,
            ..old
        };
        let wrong_aud = jsonwebtoken::encode(&h, &other, &k.encoding).unwrap();
        assert_eq!(k.verify(&wrong_aud), None);
        // Issued in the future: a minute of skew passes, an hour does not.
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let at = |iat: i64| Claims {
            sub: "u1".into(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat,
            exp: now + 7200,
            sid: Some("s1".into()),
        };
        let skewed = jsonwebtoken::encode(&h, &at(now + 30), &k.encoding).unwrap();
        assert_eq!(k.verify(&skewed), Some(UserId::from_raw("u1")));
        assert_eq!(
            k.verify_session(&skewed),
            Some((UserId::from_raw("u1"), Some("s1".to_owned())))
        );
        let future = jsonwebtoken::encode(&h, &at(now + 3600), &k.encoding).unwrap();
        assert_eq!(k.verify(&future), None);
        assert_eq!(k.verify("garbage"), None);
    }
}
