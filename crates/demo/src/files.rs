//! What a demo directory holds besides the store: the keys file and the completion file's
//! summary, shared by the command that writes them and the report that prints them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The keys file.
pub const KEYS_FILE: &str = "demo-keys.json";
/// The shoppers' hidden preferences, for scoring models (never read by one).
pub const TRUTH_FILE: &str = "demo-truth.json";

/// The demo's keys, kept in clear in `demo-keys.json` so the demo can be served again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoKeys {
    #[serde(default)]
    pub(crate) note: String,
    /// The public `web` source's key (the storefront's browser pages).
    pub write_key: String,
    /// The secret `server` source's key: the demo's simulated store backend sends the
    /// shoppers' history with it. Made when missing (demos built before sources).
    #[serde(default)]
    pub server_key: String,
    pub admin_key: String,
    /// The analyst key: the console and reports without personal data. Made when missing
    /// (demos built before the console).
    #[serde(default)]
    pub analyst_key: String,
}

/// What was built; also the content of the completion file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub seed: u64,
    pub days: u32,
    pub shoppers: u32,
    pub products: u64,
    pub categories: usize,
    pub content: u64,
    pub events: u64,
    pub duplicates: u64,
    pub profiles: usize,
    pub funnel: Value,
    /// What the journeys did (see `journeys::summary`); absent in demos built before them.
    #[serde(default)]
    pub journeys: Value,
    pub seconds: f64,
    pub completed_at: String,
}
