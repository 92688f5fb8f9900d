//! The live state: the catalog, the profiles (the identity graph) and what the store learned
//! about its products. Decisions read it; the writer thread folds committed events into it.
//!
//! **The lock order** is taken here and nowhere else: catalog → registry → recs. Code that
//! needs more than one of them asks for [`Live::read`] or [`Live::fold`], which take them in
//! that order; the `with_*` accessors hold one lock for the length of a closure and must not
//! be nested. Other locks in the engine (settings, the decision log, policies, the on-site
//! inbox) are leaves: taken after these, never held while asking for these.
//!
//! The order matters because parking_lot's `RwLock` is task-fair: a queued writer blocks new
//! readers, so a reader holding registry and waiting for catalog, behind a queued catalog
//! writer, behind a writer holding catalog and waiting for registry, would wait forever.

use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use tailor_core::Message;

use crate::learn::recs::Recs;
use crate::learn::session_model::SessionModel;
use crate::profile::catalog::Catalog;
use crate::profile::registry::Registry;
use crate::profile::{Profile, ProfileId};

pub(crate) struct Live {
    catalog: RwLock<Catalog>,
    registry: RwLock<Registry>,
    recs: RwLock<Recs>,
}

/// All three, for reading, in lock order.
pub(crate) struct LiveRead<'a> {
    pub catalog: RwLockReadGuard<'a, Catalog>,
    pub registry: RwLockReadGuard<'a, Registry>,
    pub recs: RwLockReadGuard<'a, Recs>,
}

/// What the writer holds while it folds events: the catalog to read, the rest to change.
pub(crate) struct LiveWrite<'a> {
    pub catalog: RwLockReadGuard<'a, Catalog>,
    pub registry: RwLockWriteGuard<'a, Registry>,
    pub recs: RwLockWriteGuard<'a, Recs>,
}

impl LiveWrite<'_> {
    /// Folds one committed event into the derived state: its person's profile, then what
    /// the store learns about its products. Returns the person's profile.
    pub fn fold(&mut self, m: &Message) -> ProfileId {
        let id = self.registry.apply(m, &self.catalog);
        if let Some(profile) = self.registry.get(id) {
            self.recs.observe(m, profile);
        }
        id
    }
}

impl Live {
    pub fn new(catalog: Catalog, registry: Registry, recs: Recs) -> Self {
        Live {
            catalog: RwLock::new(catalog),
            registry: RwLock::new(registry),
            recs: RwLock::new(recs),
        }
    }

    pub fn read(&self) -> LiveRead<'_> {
        let catalog = self.catalog.read();
        let registry = self.registry.read();
        let recs = self.recs.read();
        LiveRead {
            catalog,
            registry,
            recs,
        }
    }

    pub fn fold(&self) -> LiveWrite<'_> {
        let catalog = self.catalog.read();
        let registry = self.registry.write();
        let recs = self.recs.write();
        LiveWrite {
            catalog,
            registry,
            recs,
        }
    }

    /// The registry alone, for a read that spans other work; take no other lock of these
    /// while holding it.
    pub fn registry(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read()
    }

    pub fn with_catalog<T>(&self, f: impl FnOnce(&Catalog) -> T) -> T {
        f(&self.catalog.read())
    }

    pub fn with_catalog_mut<T>(&self, f: impl FnOnce(&mut Catalog) -> T) -> T {
        f(&mut self.catalog.write())
    }

    pub fn with_registry<T>(&self, f: impl FnOnce(&Registry) -> T) -> T {
        f(&self.registry.read())
    }

    pub fn with_registry_mut<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        f(&mut self.registry.write())
    }

    pub fn with_recs<T>(&self, f: impl FnOnce(&Recs) -> T) -> T {
        f(&self.recs.read())
    }

    pub fn with_recs_mut<T>(&self, f: impl FnOnce(&mut Recs) -> T) -> T {
        f(&mut self.recs.write())
    }

    /// Runs `f` on the profile `id` names (userId, anonymousId or internal `p_N`).
    pub fn with_profile<T>(&self, id: &str, f: impl FnOnce(&Profile) -> T) -> Option<T> {
        self.registry.read().find(id).map(|p| f(p))
    }

    /// Every raw id of the person `id` names (just `id` if nobody is known by it).
    pub fn ids_of(&self, id: &str) -> Vec<String> {
        self.with_profile(id, Profile::id_list)
            .unwrap_or_else(|| vec![id.to_string()])
    }

    /// Puts a newly trained session model in service.
    pub fn set_session_model(&self, model: Option<Arc<SessionModel>>) {
        self.recs.write().session_model = model;
    }
}

impl crate::profile::catalog::CatalogReader for Live {
    fn read_catalog(&self) -> RwLockReadGuard<'_, Catalog> {
        self.catalog.read()
    }
}
