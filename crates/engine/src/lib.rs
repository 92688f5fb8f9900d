//! Tailor's domain logic over a [`Store`]: the ingestion pipeline, the identity graph,
//! unified profiles with their behavioral features, and the catalog.
//!
//! The engine knows nothing of HTTP. It is cheap to clone and shared by every handler.

pub mod catalog;
pub mod error;
mod ingest;
pub mod keys;
pub mod profile;
mod registry;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock};
use tailor_core::{Clock, ContentItem, Message, Product};
use tailor_store::{Seq, Store, StoredEvent};
use tokio::sync::{mpsc, oneshot};

pub use catalog::{Catalog, CategoryNode};
pub use error::EngineError;
pub use ingest::Receipt;
pub use keys::{GeneratedKeys, Keys, Scope};
pub use profile::{Profile, ProfileView};
pub use registry::Registry;

/// Jobs the writer queue holds before senders wait.
const QUEUE_DEPTH: usize = 1_024;
/// Events replayed per read when catching up with the log on start.
const REPLAY_CHUNK: usize = 10_000;

/// State shared by the handlers and the writer thread.
pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub registry: RwLock<Registry>,
    pub catalog: RwLock<Catalog>,
    pub queued: AtomicUsize,
}

/// How to start an engine.
pub struct Options {
    pub write_key: Option<String>,
    pub admin_key: Option<String>,
}

#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
    jobs: mpsc::Sender<ingest::Job>,
    keys: Arc<Keys>,
    writer: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

/// Counts for operations.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub profiles: usize,
    pub products: usize,
    pub queued_jobs: usize,
}

impl Engine {
    /// Loads the catalog and the last profile checkpoint, replays the log after it, and
    /// starts the writer thread. Returns the keys generated on this start, if any.
    pub fn open(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        options: Options,
    ) -> Result<(Engine, GeneratedKeys), EngineError> {
        let (keys, generated) = Keys::load_or_create(
            store.as_ref(),
            options.write_key.as_deref(),
            options.admin_key.as_deref(),
        )?;
        let catalog = Catalog::new(store.products()?, store.content()?);
        let started = std::time::Instant::now();
        let snapshot = store.snapshot()?;
        let next_id = store
            .get_meta("next_profile_id")?
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        let mut applied: Seq = snapshot.seq;
        let mut registry = Registry::restore(snapshot, next_id)?;
        let mut replayed = 0usize;
        loop {
            let events = store.events_after(applied, REPLAY_CHUNK)?;
            let Some(last) = events.last() else { break };
            applied = last.seq;
            replayed += events.len();
            for e in &events {
                registry.apply(&e.message, &catalog);
            }
        }
        tracing::info!(
            profiles = registry.len(),
            replayed,
            ms = started.elapsed().as_millis() as u64,
            "profiles loaded"
        );
        let shared = Arc::new(Shared {
            store,
            clock,
            registry: RwLock::new(registry),
            catalog: RwLock::new(catalog),
            queued: AtomicUsize::new(0),
        });
        if replayed > 0 {
            let changes = shared.registry.write().take_changes();
            ingest::save(&shared, changes, applied).map_err(|(e, _)| e)?;
        }
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let writer = ingest::spawn(shared.clone(), rx, applied);
        let engine = Engine {
            shared,
            jobs: tx,
            keys: Arc::new(keys),
            writer: Arc::new(Mutex::new(Some(writer))),
        };
        Ok((engine, generated))
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn now(&self) -> tailor_core::Millis {
        self.shared.clock.now()
    }

    /// Stores messages durably and folds them into profiles. Returns once both are done.
    pub async fn ingest(&self, messages: Vec<Message>) -> Result<Receipt, EngineError> {
        if messages.is_empty() {
            return Ok(Receipt::default());
        }
        let (done, wait) = oneshot::channel();
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        if self
            .jobs
            .send(ingest::Job::Append { messages, done })
            .await
            .is_err()
        {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(EngineError::ShuttingDown);
        }
        wait.await.map_err(|_| EngineError::ShuttingDown)?
    }

    /// Finishes queued work, writes a final checkpoint and stops the writer.
    pub async fn shutdown(&self) -> Result<(), EngineError> {
        let (done, wait) = oneshot::channel();
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        if self
            .jobs
            .send(ingest::Job::Shutdown { done })
            .await
            .is_err()
        {
            return Ok(());
        }
        let result = wait.await.map_err(|_| EngineError::ShuttingDown)?;
        let handle = self.writer.lock().take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        result
    }

    /// A profile by internal id (`p_12`), userId or anonymousId, as seen now.
    pub fn profile(&self, id: &str) -> Option<ProfileView> {
        let now = self.now();
        self.shared.registry.read().find(id).map(|p| p.view(now))
    }

    /// Runs `f` on a profile without copying it.
    pub fn with_profile<T>(&self, id: &str, f: impl FnOnce(&Profile) -> T) -> Option<T> {
        self.shared.registry.read().find(id).map(|p| f(p))
    }

    /// The newest events of the person `id` names, newest first.
    pub fn events_of(
        &self,
        id: &str,
        limit: usize,
    ) -> Result<Option<Vec<StoredEvent>>, EngineError> {
        let Some(ids) = self.with_profile(id, |p| {
            p.user_ids
                .iter()
                .chain(&p.anonymous_ids)
                .cloned()
                .collect::<Vec<_>>()
        }) else {
            return Ok(None);
        };
        Ok(Some(self.shared.store.events_of(&ids, limit)?))
    }

    pub fn stats(&self) -> Stats {
        Stats {
            profiles: self.shared.registry.read().len(),
            products: self.shared.catalog.read().product_count(),
            queued_jobs: self.shared.queued.load(Ordering::Relaxed),
        }
    }

    pub fn event_count(&self) -> Result<u64, EngineError> {
        Ok(self.shared.store.event_count()?)
    }

    // Catalog. Writes go to the store first, then to memory, so memory never shows
    // what the store does not hold. They block on disk: call them off the async executor.

    pub fn put_products(&self, products: Vec<Product>) -> Result<usize, EngineError> {
        self.shared.store.put_products(&products)?;
        let n = products.len();
        self.shared.catalog.write().put_products(products);
        Ok(n)
    }

    pub fn delete_product(&self, id: &str) -> Result<(), EngineError> {
        if !self.shared.store.delete_product(id)? {
            return Err(EngineError::NotFound(format!("product {id:?}")));
        }
        self.shared.catalog.write().delete_product(id);
        Ok(())
    }

    pub fn product(&self, id: &str) -> Option<Arc<Product>> {
        self.shared.catalog.read().product_arc(id)
    }

    pub fn products(&self, category: Option<&str>) -> Vec<Arc<Product>> {
        self.shared.catalog.read().products(category)
    }

    pub fn category_tree(&self) -> Vec<CategoryNode> {
        self.shared.catalog.read().category_tree()
    }

    pub fn put_content(&self, items: Vec<ContentItem>) -> Result<usize, EngineError> {
        self.shared.store.put_content(&items)?;
        let n = items.len();
        self.shared.catalog.write().put_content(items);
        Ok(n)
    }

    pub fn delete_content(&self, id: &str) -> Result<(), EngineError> {
        if !self.shared.store.delete_content(id)? {
            return Err(EngineError::NotFound(format!("content item {id:?}")));
        }
        self.shared.catalog.write().delete_content(id);
        Ok(())
    }

    pub fn content_item(&self, id: &str) -> Option<Arc<ContentItem>> {
        self.shared.catalog.read().content_item(id)
    }

    pub fn content(&self, placement: Option<&str>) -> Vec<Arc<ContentItem>> {
        self.shared.catalog.read().content(placement)
    }
}
