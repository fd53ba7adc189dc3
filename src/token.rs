//! Signed invite tokens: who a connection is, in which event, with which role.
//!
//! Format: `base64url(json claims) + "." + base64url(HMAC-SHA256(secret, first part))`, no
//! padding. The server mints them (organizer API) and verifies them on `hello`; nothing is
//! stored, so a token works until it expires or the secret changes.
//!
//! `link.rs`: join links, the multi-use links residents open to get a token of their own
//! (their records and their codes, MACed with the same secret).

pub mod link;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::engine::member::{MemberId, Role};
use crate::time::Millis;

/// The current claims format.
pub const CLAIMS_VERSION: u32 = 1;
/// Longest token accepted, to bound the work of verifying garbage.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// What a token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub v: u32,
    pub event: String,
    pub member: MemberId,
    pub name: String,
    pub role: Role,
    pub community: Option<String>,
    pub exp: Millis,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
}

/// The HMAC key that signs and verifies tokens.
#[derive(Clone)]
pub struct TokenKey {
    secret: Vec<u8>,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    pub fn new(secret: &[u8]) -> TokenKey {
        TokenKey {
            secret: secret.to_vec(),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length.
        Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC accepts any key length")
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let json = serde_json::to_vec(claims).expect("claims always serialize");
        let body = URL_SAFE_NO_PAD.encode(json);
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{body}.{sig}")
    }

    /// Checks the signature (in constant time), then the claims and the expiry.
    pub fn verify(&self, token: &str, now: Millis) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let (body, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if claims.v != CLAIMS_VERSION {
            return Err(TokenError::Malformed);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Compares two secrets without an early exit, so timing does not leak a prefix.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            v: 1,
            event: "evt-1".into(),
            member: MemberId::new("m-1"),
            name: "Ana".into(),
            role: Role::Participant,
            community: Some("Dayton, OH".into()),
            exp: Millis(10_000),
        }
    }

    #[test]
    fn round_trips() {
        let key = TokenKey::new(b"0123456789abcdef0123");
        let t = key.sign(&claims());
        assert_eq!(key.verify(&t, Millis(5)), Ok(claims()));
    }

    #[test]
    fn tampering_with_any_byte_is_refused() {
        let key = TokenKey::new(b"0123456789abcdef0123");
        let t = key.sign(&claims());
        for i in 0..t.len() {
            let mut bytes = t.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let Ok(tampered) = String::from_utf8(bytes) else {
                continue;
            };
            if tampered == t {
                continue;
            }
            assert!(key.verify(&tampered, Millis(5)).is_err(), "byte {i}");
        }
    }

    #[test]
    fn expired_wrong_key_and_garbage() {
        let key = TokenKey::new(b"0123456789abcdef0123");
        let t = key.sign(&claims());
        assert_eq!(key.verify(&t, Millis(10_000)), Err(TokenError::Expired));
        let other = TokenKey::new(b"another secret of 20");
        assert_eq!(other.verify(&t, Millis(5)), Err(TokenError::BadSignature));
        assert_eq!(key.verify("garbage", Millis(5)), Err(TokenError::Malformed));
        assert_eq!(
            key.verify("a.AAAA", Millis(5)),
            Err(TokenError::BadSignature)
        );
        assert_eq!(key.verify("", Millis(5)), Err(TokenError::Malformed));
        assert_eq!(key.verify("a.!!", Millis(5)), Err(TokenError::Malformed));
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
