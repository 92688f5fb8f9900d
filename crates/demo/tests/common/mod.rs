//! What the storefront tests share: an engine on a fresh data directory.

#![allow(dead_code)]

pub mod browser;

use std::path::Path;
use std::sync::Arc;

use tailor_core::SystemClock;
use tailor_engine::{Engine, Options};
use tailor_store::SqliteStore;

/// What the tests' set-up can fail with.
pub type Failure = Box<dyn std::error::Error + Send + Sync>;

/// An engine on the embedded store in `dir`, with these keys, as `tailor demo` opens it.
pub fn open_engine(dir: &Path, keys: &tailor_demo::DemoKeys) -> Result<Engine, Failure> {
    let store = SqliteStore::open(dir)?;
    let options = Options {
        keys: tailor_engine::ConfiguredKeys {
            write: Some(keys.write_key.clone()),
            server: Some(keys.server_key.clone()),
            admin: Some(keys.admin_key.clone()),
            analyst: Some(keys.analyst_key.clone()).filter(|k| !k.is_empty()),
        },
        ..Options::default()
    };
    let (engine, _) = Engine::open(Arc::new(store), Arc::new(SystemClock), options)?;
    Ok(engine)
}
