//! Route handlers, one module per URL family.

pub mod catalog;
pub mod consent;
pub mod decide;
pub mod experiments;
pub mod ingest;
pub mod journeys;
pub mod me;
pub mod models;
pub mod ops;
pub mod preferences;
pub mod profiles;
pub mod retention;
