//! The catalog in memory: products and content items, kept in step with the store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use tailor_core::{ContentItem, Product};

#[derive(Debug, Default)]
pub struct Catalog {
    products: HashMap<String, Arc<Product>, foldhash::fast::RandomState>,
    content: BTreeMap<String, Arc<ContentItem>>,
    /// Placements with content whose targeting reads predictions: only their decisions
    /// compute the visitor's predictions.
    predictive_placements: HashSet<String>,
    /// Derived from `products` on every change (catalog writes are rare, reads are per request).
    index: Index,
}

#[derive(Debug, Default)]
struct Index {
    /// Every category path prefix (`Shoes`, `Shoes/Running`) → its products, sorted by id.
    by_category: HashMap<String, Vec<Arc<Product>>>,
    all: Vec<Arc<Product>>,
    leaves: Vec<String>,
    tree: Vec<CategoryNode>,
}

/// Piecemeal read access to the live catalog, for long jobs (training) that see product
/// changes as they go but hold its lock only briefly, and no other lock with it.
pub trait CatalogReader: Send + Sync {
    fn read_catalog(&self) -> parking_lot::RwLockReadGuard<'_, Catalog>;
}

/// A category with its product count and subcategories.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CategoryNode {
    pub name: String,
    pub path: String,
    pub products: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<CategoryNode>,
}

impl Catalog {
    pub fn new(products: Vec<Product>, content: Vec<ContentItem>) -> Self {
        let mut c = Catalog::default();
        c.put_products(products);
        c.put_content(content);
        c
    }

    pub fn product(&self, id: &str) -> Option<&Product> {
        self.products.get(id).map(Arc::as_ref)
    }

    pub fn product_arc(&self, id: &str) -> Option<Arc<Product>> {
        self.products.get(id).cloned()
    }

    pub fn product_count(&self) -> usize {
        self.products.len()
    }

    /// Products sorted by id, optionally only those under a category path prefix.
    pub fn products(&self, category: Option<&str>) -> Vec<Arc<Product>> {
        match category {
            None => self.index.all.clone(),
            Some(c) => self.products_in(c).to_vec(),
        }
    }

    /// Products under a category path prefix (`Shoes` or `Shoes/Running`), sorted by id.
    pub fn products_in(&self, category: &str) -> &[Arc<Product>] {
        let path = tailor_core::catalog::split_category(category).join("/");
        self.index.by_category.get(&path).map_or(&[], Vec::as_slice)
    }

    pub fn put_products(&mut self, products: Vec<Product>) {
        for p in products {
            self.products.insert(p.id.clone(), Arc::new(p));
        }
        self.reindex();
    }

    pub fn delete_product(&mut self, id: &str) -> bool {
        let found = self.products.remove(id).is_some();
        self.reindex();
        found
    }

    fn reindex(&mut self) {
        let mut all: Vec<Arc<Product>> = self.products.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        let mut by_category: HashMap<String, Vec<Arc<Product>>> = HashMap::new();
        for p in &all {
            for depth in 1..=p.category.len() {
                by_category
                    .entry(p.category[..depth].join("/"))
                    .or_default()
                    .push(p.clone());
            }
        }
        let mut leaves: Vec<String> = all.iter().map(|p| p.category_path()).collect();
        leaves.sort();
        leaves.dedup();
        self.index = Index {
            by_category,
            all,
            leaves,
            tree: Vec::new(),
        };
        self.index.tree = self.build_tree();
    }

    pub fn content_item(&self, id: &str) -> Option<Arc<ContentItem>> {
        self.content.get(id).cloned()
    }

    /// Content items sorted by id, optionally only those for one placement.
    pub fn content(&self, placement: Option<&str>) -> Vec<Arc<ContentItem>> {
        self.content
            .values()
            .filter(|c| placement.is_none_or(|pl| c.placements.iter().any(|x| x == pl)))
            .cloned()
            .collect()
    }

    pub fn put_content(&mut self, items: Vec<ContentItem>) {
        for c in items {
            self.content.insert(c.id.clone(), Arc::new(c));
        }
        self.find_predictive_placements();
    }

    pub fn delete_content(&mut self, id: &str) -> bool {
        let removed = self.content.remove(id).is_some();
        self.find_predictive_placements();
        removed
    }

    /// Whether content of `placement` targets on predictions.
    pub fn reads_predictions(&self, placement: &str) -> bool {
        self.predictive_placements.contains(placement)
    }

    fn find_predictive_placements(&mut self) {
        self.predictive_placements = self
            .content
            .values()
            .filter(|c| {
                c.targeting
                    .condition
                    .as_ref()
                    .is_some_and(tailor_core::condition::reads_predictions)
            })
            .flat_map(|c| c.placements.iter().cloned())
            .collect();
    }

    /// Every leaf category path, sorted.
    pub fn leaf_categories(&self) -> &[String] {
        &self.index.leaves
    }

    /// The category tree with product counts, sorted by name.
    pub fn category_tree(&self) -> &[CategoryNode] {
        &self.index.tree
    }

    fn build_tree(&self) -> Vec<CategoryNode> {
        let mut root: Vec<CategoryNode> = Vec::new();
        for p in self.products.values() {
            let mut level = &mut root;
            for (depth, name) in p.category.iter().enumerate() {
                let pos = match level.iter().position(|n| &n.name == name) {
                    Some(i) => i,
                    None => {
                        let path = p.category[..=depth].join("/");
                        level.push(CategoryNode {
                            name: name.clone(),
                            path,
                            products: 0,
                            children: Vec::new(),
                        });
                        level.len() - 1
                    }
                };
                level[pos].products += 1;
                level = &mut level[pos].children;
            }
        }
        fn sort(nodes: &mut [CategoryNode]) {
            nodes.sort_by(|a, b| a.name.cmp(&b.name));
            for n in nodes {
                sort(&mut n.children);
            }
        }
        sort(&mut root);
        root
    }
}
