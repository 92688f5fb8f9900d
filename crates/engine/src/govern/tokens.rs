//! Profile tokens: proof that the caller is the shopper whose profile they ask about.
//!
//! The store's backend, which knows its logged-in customer, asks Tailor for a token with the
//! admin key (`POST /v1/tokens`) and hands it to that customer's browser; the visitor
//! endpoints (`/v1/me…`) accept nothing else. A token is
//! `tpt_<base64url(payload)>.<base64url(HMAC-SHA256(secret, payload))>` with the payload
//! `{"sub": userId, "exp": unix ms}`; the secret is random per data directory (meta
//! `token_secret`), so guessing an id reads nothing and a token cannot be forged or
//! extended. Tokens are short-lived (an hour by default, a day at most) because they
//! cannot be revoked one by one; rotating the secret revokes them all.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tailor_core::Millis;
use tailor_core::time::{HOUR, MINUTE};
use tailor_store::Store;

use crate::error::EngineError;

const SECRET_META: &str = "token_secret";
const PREFIX: &str = "tpt_";
/// Lifetime when the caller does not ask for one.
pub const DEFAULT_TTL: Millis = HOUR;
/// The longest lifetime a token may have.
pub const MAX_TTL: Millis = 24 * HOUR;

#[derive(Serialize, Deserialize)]
struct Payload {
    sub: String,
    exp: Millis,
}

/// Why a token was refused. Deliberately vague towards the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the profile token is malformed")]
    Malformed,
    #[error("the profile token's signature does not match")]
    BadSignature,
    #[error("the profile token has expired")]
    Expired,
}

pub struct ProfileTokens {
    secret: Vec<u8>,
}

impl ProfileTokens {
    /// Loads the signing secret, creating it on first use.
    pub fn load(store: &dyn Store) -> Result<Self, EngineError> {
        let secret = crate::govern::keys::stored_secret(store, SECRET_META)?;
        Ok(Self {
            secret: secret.into_bytes(),
        })
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length")
    }

    /// A token for `user_id` valid until `now + ttl` (clamped to a minute … [`MAX_TTL`]).
    pub fn issue(&self, user_id: &str, now: Millis, ttl: Millis) -> (String, Millis) {
        let exp = now + ttl.clamp(MINUTE, MAX_TTL);
        let payload = serde_json::to_vec(&Payload {
            sub: user_id.to_string(),
            exp,
        })
        .unwrap_or_default();
        let mut mac = self.mac();
        mac.update(&payload);
        let signature = mac.finalize().into_bytes();
        (
            format!("{PREFIX}{}.{}", B64.encode(&payload), B64.encode(signature)),
            exp,
        )
    }

    /// The userId a token was issued for, if it is genuine and unexpired at `now`.
    pub fn verify(&self, token: &str, now: Millis) -> Result<String, TokenError> {
        let (payload, signature) = token
            .strip_prefix(PREFIX)
            .and_then(|t| t.split_once('.'))
            .ok_or(TokenError::Malformed)?;
        let payload = B64.decode(payload).map_err(|_| TokenError::Malformed)?;
        let signature = B64.decode(signature).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(&payload);
        // Constant-time comparison.
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let payload: Payload =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if payload.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(payload.sub)
    }
}

#[cfg(test)]
mod tests {
    use tailor_store::SqliteStore;

    use super::*;

    #[test]
    fn tokens_prove_who_and_until_when() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let tokens = ProfileTokens::load(&store).unwrap();
        let (token, exp) = tokens.issue("ann", 1_000, HOUR);
        assert_eq!(exp, 1_000 + HOUR);
        assert_eq!(tokens.verify(&token, 2_000).unwrap(), "ann");
        assert_eq!(tokens.verify(&token, exp), Err(TokenError::Expired));
        // Changing the subject breaks the signature.
        let (_, sig) = token.split_once('.').unwrap();
        let forged = format!(
            "{PREFIX}{}.{sig}",
            B64.encode(br#"{"sub":"bob","exp":99999999999999}"#)
        );
        assert_eq!(tokens.verify(&forged, 2_000), Err(TokenError::BadSignature));
        assert_eq!(tokens.verify("nonsense", 2_000), Err(TokenError::Malformed));
        // The same secret after a restart; another data directory's tokens are refused.
        assert_eq!(
            ProfileTokens::load(&store)
                .unwrap()
                .verify(&token, 2_000)
                .unwrap(),
            "ann"
        );
        let other_dir = tempfile::tempdir().unwrap();
        let other = ProfileTokens::load(&SqliteStore::open(other_dir.path()).unwrap()).unwrap();
        assert_eq!(other.verify(&token, 2_000), Err(TokenError::BadSignature));
        // Lifetimes are clamped.
        let (_, exp) = tokens.issue("ann", 0, 365 * 24 * HOUR);
        assert_eq!(exp, MAX_TTL);
    }
}
