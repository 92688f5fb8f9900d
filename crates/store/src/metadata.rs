//! Small named settings the engine keeps: keys (hashed), journey, experiment and quiz
//! definitions, model registries. Values are the engine's (usually JSON).

use crate::Result;

/// A string-to-string map that survives restarts.
pub trait Metadata {
    fn get_meta(&self, key: &str) -> Result<Option<String>>;
    /// Inserts or replaces.
    fn set_meta(&self, key: &str, value: &str) -> Result<()>;
}
