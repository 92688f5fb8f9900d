//! API keys. The write key is public (browsers send it with events); the admin key is
//! secret; the optional analyst key reads aggregates and reports, never personal data.
//! Only SHA-256 digests are stored; a key is shown in clear once, when generated.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tailor_store::Store;

use crate::error::EngineError;

const WRITE_META: &str = "write_key_sha256";
const ADMIN_META: &str = "admin_key_sha256";
const ANALYST_META: &str = "analyst_key_sha256";

/// What a presented key is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Send events, ask for decisions, manage one's own consent and preferences.
    Write,
    /// Read aggregates and reports (experiment results, what learning placements learned,
    /// the decision log without ids, the audit log); no personal data, no changes.
    Analyst,
    /// Everything.
    Admin,
}

impl Scope {
    /// Whether a key with this scope may do what `needed` guards.
    pub fn grants(self, needed: Scope) -> bool {
        self == Scope::Admin || self == needed
    }
}

#[derive(Debug, Clone)]
pub struct Keys {
    write: [u8; 32],
    admin: [u8; 32],
    analyst: Option<[u8; 32]>,
}

/// Keys generated on this start, to be shown once.
#[derive(Debug, Clone, Default)]
pub struct GeneratedKeys {
    pub write: Option<String>,
    pub admin: Option<String>,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(out)
}

/// A random 32-byte secret (hex) kept in the store's metadata under `meta`, created on first
/// use: the suppression salt, the profile-token signing key.
pub(crate) fn stored_secret(store: &dyn Store, meta: &str) -> Result<String, EngineError> {
    if let Some(secret) = store.get_meta(meta)? {
        return Ok(secret);
    }
    let secret = random_key("", 32)?;
    store.set_meta(meta, &secret)?;
    Ok(secret)
}

/// A new random key with a readable prefix.
pub fn random_key(prefix: &str, bytes: usize) -> Result<String, EngineError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| EngineError::Internal(format!("no randomness: {e}")))?;
    Ok(format!("{prefix}{}", hex(&buf)))
}

impl Keys {
    /// Uses the configured keys (storing their digests), else the stored digests, else
    /// generates new keys and returns them in clear to be printed once.
    pub fn load_or_create(
        store: &dyn Store,
        write: Option<&str>,
        admin: Option<&str>,
        analyst: Option<&str>,
    ) -> Result<(Keys, GeneratedKeys), EngineError> {
        let mut generated = GeneratedKeys::default();
        let one =
            |meta: &str, configured: Option<&str>, prefix: &str, slot: &mut Option<String>| {
                if let Some(k) = configured.filter(|k| !k.is_empty()) {
                    let d = digest(k);
                    store.set_meta(meta, &hex(&d))?;
                    return Ok(d);
                }
                if let Some(d) = store.get_meta(meta)?.as_deref().and_then(unhex) {
                    return Ok(d);
                }
                let k = random_key(prefix, 24)?;
                let d = digest(&k);
                store.set_meta(meta, &hex(&d))?;
                *slot = Some(k);
                Ok::<_, EngineError>(d)
            };
        let write = one(WRITE_META, write, "tw_", &mut generated.write)?;
        let admin = one(ADMIN_META, admin, "ta_", &mut generated.admin)?;
        if write == admin {
            return Err(EngineError::Invalid(tailor_core::ValidationError::one(
                "the write key and the admin key must differ",
            )));
        }
        // The analyst key exists only when configured (never generated).
        let analyst = match analyst.filter(|k| !k.is_empty()) {
            Some(k) => {
                let d = digest(k);
                store.set_meta(ANALYST_META, &hex(&d))?;
                Some(d)
            }
            None => store.get_meta(ANALYST_META)?.as_deref().and_then(unhex),
        };
        if analyst.is_some_and(|a| a == write || a == admin) {
            return Err(EngineError::Invalid(tailor_core::ValidationError::one(
                "the analyst key must differ from the write and admin keys",
            )));
        }
        Ok((
            Keys {
                write,
                admin,
                analyst,
            },
            generated,
        ))
    }

    /// The scope a presented key grants, if any. Constant-time in the key.
    pub fn scope_of(&self, key: &str) -> Option<Scope> {
        let d = digest(key);
        if bool::from(d.ct_eq(&self.admin)) {
            Some(Scope::Admin)
        } else if bool::from(d.ct_eq(&self.write)) {
            Some(Scope::Write)
        } else if self.analyst.is_some_and(|a| bool::from(d.ct_eq(&a))) {
            Some(Scope::Analyst)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use tailor_store::SqliteStore;
    use tailor_store::prelude::*;

    use super::*;

    #[test]
    fn generates_once_then_remembers_digests() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let (keys, new) = Keys::load_or_create(&store, None, None, None).unwrap();
        let (w, a) = (new.write.unwrap(), new.admin.unwrap());
        assert_eq!(keys.scope_of(&w), Some(Scope::Write));
        assert_eq!(keys.scope_of(&a), Some(Scope::Admin));
        assert_eq!(keys.scope_of("nope"), None);
        let (again, none) = Keys::load_or_create(&store, None, None, None).unwrap();
        assert!(none.write.is_none() && none.admin.is_none());
        assert_eq!(again.scope_of(&w), Some(Scope::Write));
        // Nothing stored is the key itself.
        assert_ne!(store.get_meta(WRITE_META).unwrap().unwrap(), w);
        let (configured, _) = Keys::load_or_create(&store, Some("mine"), None, None).unwrap();
        assert_eq!(configured.scope_of("mine"), Some(Scope::Write));
        assert_eq!(configured.scope_of(&w), None);
        let (with_analyst, _) = Keys::load_or_create(&store, None, None, Some("reports")).unwrap();
        assert_eq!(with_analyst.scope_of("reports"), Some(Scope::Analyst));
        assert!(Scope::Admin.grants(Scope::Analyst) && !Scope::Analyst.grants(Scope::Write));
        assert!(!Scope::Write.grants(Scope::Analyst) && !Scope::Analyst.grants(Scope::Admin));
    }
}
