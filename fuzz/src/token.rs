//! The profile-token verifier and user hashes. Whatever string arrives, `verify` answers
//! without panicking; only a token this store issued verifies, and only for its subject
//! and until its expiry: a token with any byte changed is refused (no malleability through
//! base64's slack bits or JSON's lenience).
//!
//! Input: byte 0 picks the mode: a raw candidate token (the rest as text), or a token
//! issued for the rest's subject with one byte changed at a position and to a value the
//! input chooses.

use std::sync::OnceLock;

use tailor_engine::tokens::{ProfileTokens, TokenError};
use tailor_store::MemoryStore;

const NOW: i64 = 1_767_225_600_000;
const HOUR: i64 = 3_600_000;

fn tokens() -> &'static ProfileTokens {
    static TOKENS: OnceLock<ProfileTokens> = OnceLock::new();
    TOKENS.get_or_init(|| {
        ProfileTokens::load(&MemoryStore::new(), Some("fuzz-identity"))
            .expect("tokens")
            .0
    })
}

pub fn run(input: &[u8]) {
    let [mode, rest @ ..] = input else {
        return;
    };
    let tokens = tokens();
    match mode % 3 {
        0 => {
            let candidate = String::from_utf8_lossy(rest);
            let verdict = tokens.verify(&candidate, NOW);
            assert!(
                verdict.is_err(),
                "a token the store never issued verified: {candidate:?} -> {verdict:?}"
            );
            let _ = tokens.verify_user_hash(&candidate, &candidate);
        }
        1 => {
            let [at, byte, subject @ ..] = rest else {
                return;
            };
            let subject = String::from_utf8_lossy(subject);
            let (token, exp) = tokens.issue(&subject, NOW, HOUR);
            assert_eq!(tokens.verify(&token, NOW).as_deref(), Ok(subject.as_ref()));
            assert_eq!(tokens.verify(&token, exp), Err(TokenError::Expired));
            let mut bytes = token.clone().into_bytes();
            let i = *at as usize % bytes.len();
            if bytes[i] == *byte {
                return;
            }
            bytes[i] = *byte;
            let changed = String::from_utf8_lossy(&bytes);
            let verdict = tokens.verify(&changed, NOW);
            assert!(
                verdict.is_err(),
                "a changed token verified: {token} -> {changed} -> {verdict:?}"
            );
        }
        _ => {
            let subject = String::from_utf8_lossy(rest);
            let hash = tokens.user_hash(&subject);
            assert!(tokens.verify_user_hash(&subject, &hash));
            assert!(!tokens.verify_user_hash(&format!("{subject}x"), &hash));
        }
    }
}
