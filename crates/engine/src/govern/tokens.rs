//! Proof that a browser's caller is the shopper they claim to be, made by the store's
//! backend, which knows its logged-in customer. Two forms, as Intercom's identity
//! verification and Segment's server-side identify use them:
//!
//! - a **profile token**: the backend asks Tailor for one with a server or admin key
//!   (`POST /v1/tokens`) and hands it to that customer's browser;
//! - a **user hash**: `hex(HMAC-SHA256(identity secret, userId))`, computed by the backend
//!   itself with the identity secret it shares with Tailor (`TAILOR_IDENTITY_SECRET`, or
//!   the one generated on first start); it never expires, like the userId it signs.
//!
//! The visitor endpoints (`/v1/me…`) take a token; browser messages and decisions that
//! name a userId take either (see `ingest::trust`). A token is
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
const IDENTITY_META: &str = "identity_secret";
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
    identity: Vec<u8>,
}

impl ProfileTokens {
    /// Loads the signing secrets, creating them on first use; `identity` replaces the
    /// stored identity secret. Answers whether the identity secret was generated now (so
    /// it can be shown once).
    pub fn load(
        store: &dyn Store,
        identity: Option<&str>,
    ) -> Result<(Self, Option<String>), EngineError> {
        let secret = crate::govern::keys::stored_secret(store, SECRET_META)?;
        let (identity, generated) = match identity.filter(|s| !s.is_empty()) {
            Some(s) => {
                store.set_meta(IDENTITY_META, s)?;
                (s.to_string(), None)
            }
            None => match store.get_meta(IDENTITY_META)? {
                Some(s) => (s, None),
                None => {
                    let s = crate::govern::keys::stored_secret(store, IDENTITY_META)?;
                    (s.clone(), Some(s))
                }
            },
        };
        Ok((
            Self {
                secret: secret.into_bytes(),
                identity: identity.into_bytes(),
            },
            generated,
        ))
    }

    /// The user hash the backend sends for `user_id`.
    pub fn user_hash(&self, user_id: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.identity).expect("HMAC takes keys of any length");
        mac.update(user_id.as_bytes());
        crate::govern::keys::hex(&mac.finalize().into_bytes())
    }

    /// Whether `hash` is the user hash of `user_id` (constant time).
    pub fn verify_user_hash(&self, user_id: &str, hash: &str) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.user_hash(user_id);
        hash.len() == expected.len() && bool::from(expected.as_bytes().ct_eq(hash.as_bytes()))
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
        let (tokens, _) = ProfileTokens::load(&store, None).unwrap();
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
            ProfileTokens::load(&store, None)
                .unwrap()
                .0
                .verify(&token, 2_000)
                .unwrap(),
            "ann"
        );
        let other_dir = tempfile::tempdir().unwrap();
        let (other, _) =
            ProfileTokens::load(&SqliteStore::open(other_dir.path()).unwrap(), None).unwrap();
        assert_eq!(other.verify(&token, 2_000), Err(TokenError::BadSignature));
        // Lifetimes are clamped.
        let (_, exp) = tokens.issue("ann", 0, 365 * 24 * HOUR);
        assert_eq!(exp, MAX_TTL);
    }

    #[test]
    fn user_hashes_sign_one_user_id_with_the_identity_secret() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let (tokens, generated) = ProfileTokens::load(&store, None).unwrap();
        assert!(generated.is_some(), "made on first use, to be shown once");
        let hash = tokens.user_hash("ann");
        assert!(tokens.verify_user_hash("ann", &hash));
        assert!(!tokens.verify_user_hash("bob", &hash));
        assert!(!tokens.verify_user_hash("ann", &hash[1..]));
        // A configured secret: the backend computes the same hash on its own.
        let (shared, none) = ProfileTokens::load(&store, Some("shared-secret")).unwrap();
        assert!(none.is_none());
        let mut mac = Hmac::<Sha256>::new_from_slice(b"shared-secret").unwrap();
        mac.update(b"ann");
        let backend = crate::govern::keys::hex(&mac.finalize().into_bytes());
        assert!(shared.verify_user_hash("ann", &backend));
        assert!(!shared.verify_user_hash("ann", &hash));
    }
}
