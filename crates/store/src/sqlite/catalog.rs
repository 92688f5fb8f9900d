//! [`CatalogStore`] on SQLite: `products` and `content` in `tailor.db`, each row an id and
//! the item as JSON.

use rusqlite::params;
use tailor_core::{ContentItem, Product};

use super::SqliteStore;
use crate::{CatalogStore, Result, StoreError};

impl CatalogStore for SqliteStore {
    fn put_products(&self, products: &[Product]) -> Result<()> {
        put_json(
            self,
            "products",
            products
                .iter()
                .map(|p| (p.id.as_str(), serde_json::to_string(p))),
        )
    }

    fn delete_product(&self, id: &str) -> Result<bool> {
        self.write(|conn| Ok(conn.execute("DELETE FROM products WHERE id = ?1", [id])? > 0))
    }

    fn products(&self) -> Result<Vec<Product>> {
        all_json(self, "products")
    }

    fn put_content(&self, items: &[ContentItem]) -> Result<()> {
        put_json(
            self,
            "content",
            items
                .iter()
                .map(|c| (c.id.as_str(), serde_json::to_string(c))),
        )
    }

    fn delete_content(&self, id: &str) -> Result<bool> {
        self.write(|conn| Ok(conn.execute("DELETE FROM content WHERE id = ?1", [id])? > 0))
    }

    fn content(&self) -> Result<Vec<ContentItem>> {
        all_json(self, "content")
    }
}

fn put_json<'a>(
    store: &SqliteStore,
    table: &str,
    rows: impl Iterator<Item = (&'a str, serde_json::Result<String>)>,
) -> Result<()> {
    store.write(|conn| {
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO {table} (id, body) VALUES (?1, ?2)"
            ))?;
            for (id, body) in rows {
                stmt.execute(params![
                    id,
                    body.map_err(|e| StoreError::Backend(e.to_string()))?
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    })
}

fn all_json<T: serde::de::DeserializeOwned>(store: &SqliteStore, table: &str) -> Result<Vec<T>> {
    store.read(|conn| {
        let mut stmt = conn.prepare(&format!("SELECT body FROM {table} ORDER BY id"))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| Ok(serde_json::from_str(&r?)?)).collect()
    })
}
