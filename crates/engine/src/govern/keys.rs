//! API keys and the sources they belong to.
//!
//! A **source** is where events and decision requests come from, with its own key, as
//! Segment gives each source its own write key. A *public* source's key ships in every
//! shopper's browser, so whatever it alone allows, anyone can do: its userId claims count
//! only with proof (see `ingest::trust`). A *server* source's key is secret (the store's
//! backend, Segment's server libraries): its ids are taken as given. Besides sources, the
//! admin key does everything and the optional analyst key reads aggregates and reports,
//! never personal data. Only SHA-256 digests are stored; a key is shown in clear once,
//! when made.

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tailor_store::Store;

use crate::error::EngineError;

/// The digest of the first public write key, before sources had names.
const WRITE_META: &str = "write_key_sha256";
const ADMIN_META: &str = "admin_key_sha256";
const ANALYST_META: &str = "analyst_key_sha256";
/// The named sources (JSON, digests only).
const SOURCES_META: &str = "sources";
/// The public source made on first start, and its server counterpart.
pub const WEB_SOURCE: &str = "web";
pub const SERVER_SOURCE: &str = "server";

/// What a presented key is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A public source's key (it ships in browsers): send events, ask for decisions for the
    /// caller's own visitor; userIds count only with proof.
    Public,
    /// A server source's key (secret: the store's backend): events and decisions with ids
    /// taken as given, profile tokens for its customers.
    Server,
    /// Read aggregates and reports (experiment results, what learning placements learned,
    /// the decision log without ids, the audit log); no personal data, no changes.
    Analyst,
    /// Everything.
    Admin,
}

impl Scope {
    /// Whether a key with this scope may do what `needed` guards: the admin key anything,
    /// a server key whatever a public key may.
    pub fn grants(self, needed: Scope) -> bool {
        self == needed || self == Scope::Admin || (self == Scope::Server && needed == Scope::Public)
    }

    /// Whether the ids this caller sends are taken as given (a secret key).
    pub fn trusted(self) -> bool {
        matches!(self, Scope::Server | Scope::Admin)
    }
}

/// Public (browser) or server (secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Public,
    Server,
}

impl SourceKind {
    fn scope(self) -> Scope {
        match self {
            SourceKind::Public => Scope::Public,
            SourceKind::Server => Scope::Server,
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            SourceKind::Public => "tw_",
            SourceKind::Server => "ts_",
        }
    }
}

/// A source as stored: its name, kind and key digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSource {
    name: String,
    kind: SourceKind,
    sha256: String,
}

/// A source as the admin sees it (never its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SourceInfo {
    pub name: String,
    pub kind: SourceKind,
}

/// Who a presented key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    pub scope: Scope,
    /// The source's name; `None` for the admin and analyst keys.
    pub source: Option<String>,
}

/// Every key this data directory knows, by digest. Sources can be added and removed while
/// serving.
#[derive(Debug)]
pub struct Keys {
    admin: [u8; 32],
    analyst: Option<[u8; 32]>,
    sources: RwLock<Vec<(StoredSource, [u8; 32])>>,
}

/// Keys configured for this start (`TAILOR_*_KEY`); unset ones are kept or generated.
#[derive(Debug, Clone, Default)]
pub struct ConfiguredKeys {
    /// The public key of the `web` source.
    pub write: Option<String>,
    /// The secret key of the `server` source.
    pub server: Option<String>,
    pub admin: Option<String>,
    pub analyst: Option<String>,
}

/// Keys generated on this start, to be shown once.
#[derive(Debug, Clone, Default)]
pub struct GeneratedKeys {
    pub write: Option<String>,
    pub server: Option<String>,
    pub admin: Option<String>,
    /// The secret user hashes are made with (see `tokens`).
    pub identity_secret: Option<String>,
}

impl GeneratedKeys {
    pub fn is_empty(&self) -> bool {
        self.write.is_none()
            && self.server.is_none()
            && self.admin.is_none()
            && self.identity_secret.is_none()
    }
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
    /// generates new keys and returns them in clear to be shown once.
    pub fn load_or_create(
        store: &dyn Store,
        configured: &ConfiguredKeys,
    ) -> Result<(Keys, GeneratedKeys), EngineError> {
        let mut generated = GeneratedKeys::default();
        let admin = match configured.admin.as_deref().filter(|k| !k.is_empty()) {
            Some(k) => {
                let d = digest(k);
                store.set_meta(ADMIN_META, &hex(&d))?;
                d
            }
            None => match store.get_meta(ADMIN_META)?.as_deref().and_then(unhex) {
                Some(d) => d,
                None => {
                    let k = random_key("ta_", 24)?;
                    let d = digest(&k);
                    store.set_meta(ADMIN_META, &hex(&d))?;
                    generated.admin = Some(k);
                    d
                }
            },
        };
        // The analyst key exists only when configured (never generated).
        let analyst = match configured.analyst.as_deref().filter(|k| !k.is_empty()) {
            Some(k) => {
                let d = digest(k);
                store.set_meta(ANALYST_META, &hex(&d))?;
                Some(d)
            }
            None => store.get_meta(ANALYST_META)?.as_deref().and_then(unhex),
        };
        let mut sources: Vec<StoredSource> = match store.get_meta(SOURCES_META)? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| EngineError::Corrupt(format!("sources: {e}")))?,
            // Before named sources: the one write key becomes the public `web` source.
            None => store
                .get_meta(WRITE_META)?
                .map(|sha256| StoredSource {
                    name: WEB_SOURCE.into(),
                    kind: SourceKind::Public,
                    sha256,
                })
                .into_iter()
                .collect(),
        };
        for (name, kind, configured, slot) in [
            (
                WEB_SOURCE,
                SourceKind::Public,
                &configured.write,
                &mut generated.write,
            ),
            (
                SERVER_SOURCE,
                SourceKind::Server,
                &configured.server,
                &mut generated.server,
            ),
        ] {
            let existing = sources.iter().position(|s| s.name == name);
            let key = match configured.as_deref().filter(|k| !k.is_empty()) {
                Some(k) => k.to_string(),
                None if existing.is_some() => continue,
                None => {
                    let k = random_key(kind.prefix(), 24)?;
                    *slot = Some(k.clone());
                    k
                }
            };
            let source = StoredSource {
                name: name.into(),
                kind,
                sha256: hex(&digest(&key)),
            };
            match existing {
                Some(i) => sources[i] = source,
                None => sources.push(source),
            }
        }
        let keys = Keys {
            admin,
            analyst,
            sources: RwLock::new(Vec::new()),
        };
        keys.replace_sources(store, sources)?;
        Ok((keys, generated))
    }

    /// Checks that no two keys are the same, then stores and uses `sources`.
    fn replace_sources(
        &self,
        store: &dyn Store,
        sources: Vec<StoredSource>,
    ) -> Result<(), EngineError> {
        let mut digests: Vec<[u8; 32]> = vec![self.admin];
        digests.extend(self.analyst);
        let mut resolved = Vec::with_capacity(sources.len());
        for s in sources {
            let d = unhex(&s.sha256).ok_or_else(|| {
                EngineError::Corrupt(format!("source {:?}: a bad key digest", s.name))
            })?;
            if digests.contains(&d) {
                return Err(EngineError::Invalid(tailor_core::ValidationError::one(
                    format!(
                        "source {:?}: every key (admin, analyst, each source's) must differ",
                        s.name
                    ),
                )));
            }
            digests.push(d);
            resolved.push((s, d));
        }
        let stored: Vec<&StoredSource> = resolved.iter().map(|(s, _)| s).collect();
        let json =
            serde_json::to_string(&stored).map_err(|e| EngineError::Internal(e.to_string()))?;
        store.set_meta(SOURCES_META, &json)?;
        *self.sources.write() = resolved;
        Ok(())
    }

    /// Who a presented key is, if anyone. Compares against every key in constant time.
    pub fn owner(&self, key: &str) -> Option<KeyOwner> {
        let d = digest(key);
        let mut found = None;
        if bool::from(d.ct_eq(&self.admin)) {
            found = Some(KeyOwner {
                scope: Scope::Admin,
                source: None,
            });
        }
        if self.analyst.is_some_and(|a| bool::from(d.ct_eq(&a))) {
            found = Some(KeyOwner {
                scope: Scope::Analyst,
                source: None,
            });
        }
        for (s, digest) in self.sources.read().iter() {
            if bool::from(d.ct_eq(digest)) {
                found = Some(KeyOwner {
                    scope: s.kind.scope(),
                    source: Some(s.name.clone()),
                });
            }
        }
        found
    }

    /// The scope a presented key grants, if any.
    pub fn scope_of(&self, key: &str) -> Option<Scope> {
        self.owner(key).map(|o| o.scope)
    }

    pub fn sources(&self) -> Vec<SourceInfo> {
        self.sources
            .read()
            .iter()
            .map(|(s, _)| SourceInfo {
                name: s.name.clone(),
                kind: s.kind,
            })
            .collect()
    }

    /// Adds a source (or gives an existing one a new key) and returns its key, shown once.
    pub fn put_source(
        &self,
        store: &dyn Store,
        name: &str,
        kind: SourceKind,
    ) -> Result<String, EngineError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(EngineError::Invalid(tailor_core::ValidationError::one(
                "a source name is 1 to 64 letters, digits, `-` or `_`",
            )));
        }
        let key = random_key(kind.prefix(), 24)?;
        let mut sources: Vec<StoredSource> =
            self.sources.read().iter().map(|(s, _)| s.clone()).collect();
        sources.retain(|s| s.name != name);
        sources.push(StoredSource {
            name: name.into(),
            kind,
            sha256: hex(&digest(&key)),
        });
        self.replace_sources(store, sources)?;
        Ok(key)
    }

    /// Removes a source: its key stops working at once.
    pub fn delete_source(&self, store: &dyn Store, name: &str) -> Result<(), EngineError> {
        let mut sources: Vec<StoredSource> =
            self.sources.read().iter().map(|(s, _)| s.clone()).collect();
        let before = sources.len();
        sources.retain(|s| s.name != name);
        if sources.len() == before {
            return Err(EngineError::NotFound(format!("source {name:?}")));
        }
        self.replace_sources(store, sources)
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
        let none = ConfiguredKeys::default();
        let (keys, new) = Keys::load_or_create(&store, &none).unwrap();
        let (w, s, a) = (new.write.unwrap(), new.server.unwrap(), new.admin.unwrap());
        assert_eq!(keys.scope_of(&w), Some(Scope::Public));
        assert_eq!(keys.owner(&w).unwrap().source.as_deref(), Some(WEB_SOURCE));
        assert_eq!(keys.scope_of(&s), Some(Scope::Server));
        assert_eq!(keys.scope_of(&a), Some(Scope::Admin));
        assert_eq!(keys.scope_of("nope"), None);
        let (again, none_new) = Keys::load_or_create(&store, &none).unwrap();
        assert!(none_new.write.is_none() && none_new.admin.is_none() && none_new.server.is_none());
        assert_eq!(again.scope_of(&w), Some(Scope::Public));
        assert_eq!(again.scope_of(&s), Some(Scope::Server));
        // Nothing stored is the key itself.
        assert!(!store.get_meta(SOURCES_META).unwrap().unwrap().contains(&w));
        let mine = ConfiguredKeys {
            write: Some("mine".into()),
            ..Default::default()
        };
        let (configured, _) = Keys::load_or_create(&store, &mine).unwrap();
        assert_eq!(configured.scope_of("mine"), Some(Scope::Public));
        assert_eq!(configured.scope_of(&w), None);
        let reports = ConfiguredKeys {
            analyst: Some("reports".into()),
            ..Default::default()
        };
        let (with_analyst, _) = Keys::load_or_create(&store, &reports).unwrap();
        assert_eq!(with_analyst.scope_of("reports"), Some(Scope::Analyst));
        assert!(Scope::Admin.grants(Scope::Analyst) && !Scope::Analyst.grants(Scope::Public));
        assert!(!Scope::Public.grants(Scope::Analyst) && !Scope::Analyst.grants(Scope::Admin));
        assert!(Scope::Server.grants(Scope::Public) && !Scope::Public.grants(Scope::Server));
    }

    #[test]
    fn the_old_write_key_becomes_the_web_source() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        store
            .set_meta(WRITE_META, &hex(&digest("old-key")))
            .unwrap();
        let (keys, new) = Keys::load_or_create(&store, &ConfiguredKeys::default()).unwrap();
        assert!(new.write.is_none(), "the stored key is kept");
        assert_eq!(
            keys.owner("old-key").unwrap().source.as_deref(),
            Some(WEB_SOURCE)
        );
    }

    #[test]
    fn sources_are_added_and_removed_while_serving() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let (keys, _) = Keys::load_or_create(&store, &ConfiguredKeys::default()).unwrap();
        let app = keys
            .put_source(&store, "ios-app", SourceKind::Public)
            .unwrap();
        assert_eq!(
            keys.owner(&app).unwrap(),
            KeyOwner {
                scope: Scope::Public,
                source: Some("ios-app".into())
            }
        );
        assert!(
            keys.put_source(&store, "bad name!", SourceKind::Public)
                .is_err()
        );
        let (reloaded, _) = Keys::load_or_create(&store, &ConfiguredKeys::default()).unwrap();
        assert_eq!(reloaded.scope_of(&app), Some(Scope::Public));
        keys.delete_source(&store, "ios-app").unwrap();
        assert_eq!(keys.scope_of(&app), None);
        assert!(keys.delete_source(&store, "ios-app").is_err());
    }
}
