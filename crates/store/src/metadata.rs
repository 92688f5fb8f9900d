//! Small named settings the engine keeps: keys (hashed), journey, experiment and quiz
//! definitions, model registries. Values are the engine's (usually JSON).

use crate::Result;

/// A string-to-string map that survives restarts.
pub trait Metadata {
    fn get_meta(&self, key: &str) -> Result<Option<String>>;
    /// Inserts or replaces.
    fn set_meta(&self, key: &str, value: &str) -> Result<()>;
    /// Whether the store answers now (a cheap read): what readiness checks ask. A backend
    /// that can lose its server (PostgreSQL) overrides it with one round trip.
    fn ping(&self) -> Result<()> {
        self.get_meta("tailor.ping").map(|_| ())
    }
}
