//! [`Metadata`] on PostgreSQL: the `meta` table.

use super::PgStore;
use crate::{Metadata, Result};

pub(super) const MIGRATIONS: &[&str] =
    &["CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"];

impl Metadata for PgStore {
    fn get_meta(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_string();
        self.run(|pool| async move {
            let client = pool.get().await?;
            let stmt = client
                .prepare_cached("SELECT value FROM meta WHERE key = $1")
                .await?;
            Ok(client.query_opt(&stmt, &[&key]).await?.map(|r| r.get(0)))
        })
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        let (key, value) = (key.to_string(), value.to_string());
        self.run(|pool| async move {
            let client = pool.get().await?;
            client
                .execute(
                    "INSERT INTO meta (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &[&key, &value],
                )
                .await?;
            Ok(())
        })
    }

    fn ping(&self) -> Result<()> {
        self.ping_server()
    }
}
