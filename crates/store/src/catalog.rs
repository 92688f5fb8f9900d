//! The catalog: products and the content shown in placements (banners, promotions,
//! messages), upserted by id.

use tailor_core::{ContentItem, Product};

use crate::Result;

/// Products and content, each keyed by its id.
pub trait CatalogStore {
    /// Inserts or replaces by id.
    fn put_products(&self, products: &[Product]) -> Result<()>;
    /// Whether it existed.
    fn delete_product(&self, id: &str) -> Result<bool>;
    /// Every product, by id.
    fn products(&self) -> Result<Vec<Product>>;
    /// Inserts or replaces by id.
    fn put_content(&self, items: &[ContentItem]) -> Result<()>;
    /// Whether it existed.
    fn delete_content(&self, id: &str) -> Result<bool>;
    /// Every content item, by id.
    fn content(&self) -> Result<Vec<ContentItem>>;
}
