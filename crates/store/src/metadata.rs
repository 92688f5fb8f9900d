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

    /// What the store's files take on disk and the space left (nothing for a store
    /// without files).
    fn disk_usage(&self) -> Result<DiskUsage> {
        Ok(DiskUsage::default())
    }
}

/// Disk use of a store's files.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiskUsage {
    /// Each file's size in bytes, by name.
    pub files: Vec<(String, u64)>,
    /// Bytes free on the file system holding them.
    pub free: Option<u64>,
    /// Below this many free bytes, new work is refused.
    pub min_free: u64,
}
