//! Route handlers, one module per URL family, and the small reply bodies they share.

pub mod analytics_js;
pub mod audiences;
pub mod catalog;
pub mod consent;
pub mod decide;
pub mod experiments;
pub mod inbound;
pub mod ingest;
pub mod journeys;
pub mod me;
pub mod models;
pub mod ops;
pub mod preferences;
pub mod profiles;
pub mod retention;
pub mod sdk;
pub mod sources;
pub mod templates;
pub mod unsubscribe;

use serde::Serialize;
use utoipa::ToSchema;

/// `{"success": true}`.
#[derive(Serialize, ToSchema)]
pub struct Success {
    success: bool,
}

impl Success {
    pub const YES: Success = Success { success: true };
}

/// What an upload stored.
#[derive(Serialize, ToSchema)]
pub struct Upserted {
    /// Items created or replaced.
    pub upserted: usize,
}

/// What a delete removed.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    /// The id.
    pub deleted: String,
}

/// `{"success": true, KEY: saved}`: a saved definition as stored.
#[derive(Serialize, ToSchema)]
pub struct Saved<T> {
    success: bool,
    #[serde(flatten)]
    saved: T,
}

impl<T> Saved<T> {
    pub fn new(saved: T) -> Self {
        Saved {
            success: true,
            saved,
        }
    }
}
