//! Catalog writes: products and placement content go to the store first, then to the live
//! catalog, so memory never shows what the store does not hold. They block on disk: call
//! them off the async executor.

use std::sync::Arc;

use tailor_core::{ContentItem, Product};
use tailor_store::Store;

use crate::error::EngineError;
use crate::live::Live;

pub(crate) struct CatalogAdmin {
    pub store: Arc<dyn Store>,
    pub live: Arc<Live>,
}

impl CatalogAdmin {
    pub fn put_products(&self, products: Vec<Product>) -> Result<usize, EngineError> {
        self.store.put_products(&products)?;
        let n = products.len();
        self.live.with_catalog_mut(|c| c.put_products(products));
        Ok(n)
    }

    pub fn delete_product(&self, id: &str) -> Result<(), EngineError> {
        if !self.store.delete_product(id)? {
            return Err(EngineError::NotFound(format!("product {id:?}")));
        }
        self.live.with_catalog_mut(|c| c.delete_product(id));
        Ok(())
    }

    pub fn put_content(&self, items: Vec<ContentItem>) -> Result<usize, EngineError> {
        self.store.put_content(&items)?;
        let n = items.len();
        self.live.with_catalog_mut(|c| c.put_content(items));
        Ok(n)
    }

    pub fn delete_content(&self, id: &str) -> Result<(), EngineError> {
        if !self.store.delete_content(id)? {
            return Err(EngineError::NotFound(format!("content item {id:?}")));
        }
        self.live.with_catalog_mut(|c| c.delete_content(id));
        Ok(())
    }
}
