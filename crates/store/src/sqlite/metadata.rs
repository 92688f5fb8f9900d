//! [`Metadata`] on SQLite: the `meta` table of `tailor.db`, and the data directory's disk use.

use rusqlite::OptionalExtension;

use super::SqliteStore;
use crate::{DiskUsage, Metadata, Result};

impl Metadata for SqliteStore {
    fn get_meta(&self, key: &str) -> Result<Option<String>> {
        self.read(|conn| {
            Ok(conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?)
        })
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                [key, value],
            )?;
            Ok(())
        })
    }

    fn disk_usage(&self) -> Result<DiskUsage> {
        Ok(DiskUsage {
            files: super::FILES
                .iter()
                .map(|name| (name.to_string(), super::file_size(&self.dir, name)))
                .collect(),
            free: super::free_bytes(&self.dir),
            min_free: self
                .disk
                .min_free
                .load(std::sync::atomic::Ordering::Relaxed),
        })
    }
}
