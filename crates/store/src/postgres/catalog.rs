//! [`CatalogStore`] on PostgreSQL: `products` and `content`, each row an id and the item as
//! JSON. Ids sort bytewise (`COLLATE "C"`), as SQLite sorts them, whatever the database's
//! locale.

use tailor_core::{ContentItem, Product};

use super::PgStore;
use crate::{CatalogStore, Result, StoreError};

pub(super) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE products (id TEXT COLLATE \"C\" PRIMARY KEY, body TEXT NOT NULL);
     CREATE TABLE content (id TEXT COLLATE \"C\" PRIMARY KEY, body TEXT NOT NULL);",
];

impl CatalogStore for PgStore {
    fn put_products(&self, products: &[Product]) -> Result<()> {
        put_json(
            self,
            "products",
            products
                .iter()
                .map(|p| (p.id.clone(), serde_json::to_string(p))),
        )
    }

    fn delete_product(&self, id: &str) -> Result<bool> {
        delete(self, "products", id)
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
                .map(|c| (c.id.clone(), serde_json::to_string(c))),
        )
    }

    fn delete_content(&self, id: &str) -> Result<bool> {
        delete(self, "content", id)
    }

    fn content(&self) -> Result<Vec<ContentItem>> {
        all_json(self, "content")
    }
}

/// Upserts `(id, JSON)` rows; a later row with the same id replaces an earlier one.
fn put_json(
    store: &PgStore,
    table: &'static str,
    rows: impl Iterator<Item = (String, serde_json::Result<String>)>,
) -> Result<()> {
    let mut by_id = std::collections::BTreeMap::new();
    for (id, body) in rows {
        by_id.insert(id, body.map_err(|e| StoreError::Backend(e.to_string()))?);
    }
    let (ids, bodies): (Vec<String>, Vec<String>) = by_id.into_iter().unzip();
    store.run(|pool| async move {
        let client = pool.get().await?;
        client
            .execute(
                &format!(
                    "INSERT INTO {table} (id, body) SELECT * FROM unnest($1::text[], $2::text[])
                     ON CONFLICT (id) DO UPDATE SET body = excluded.body"
                ),
                &[&ids, &bodies],
            )
            .await?;
        Ok(())
    })
}

fn delete(store: &PgStore, table: &'static str, id: &str) -> Result<bool> {
    let id = id.to_string();
    store.run(|pool| async move {
        let client = pool.get().await?;
        Ok(client
            .execute(&format!("DELETE FROM {table} WHERE id = $1"), &[&id])
            .await?
            > 0)
    })
}

fn all_json<T: serde::de::DeserializeOwned>(
    store: &PgStore,
    table: &'static str,
) -> Result<Vec<T>> {
    let bodies: Vec<String> = store.run(|pool| async move {
        let client = pool.get().await?;
        Ok(client
            .query(&format!("SELECT body FROM {table} ORDER BY id"), &[])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    })?;
    bodies
        .iter()
        .map(|b| Ok(serde_json::from_str(b)?))
        .collect()
}
