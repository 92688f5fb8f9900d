//! The slow reports behind the console's pages (experiment results and journey reports
//! read every unit's events from the store: seconds on a large store), computed off the
//! request and kept for a minute. A page asks for a report and gets the newest one at
//! once, if any, and a refresh is started when it is older than [`FRESH`]; the first ask
//! answers "computing" and the page reloads itself. So every page answers in
//! milliseconds, and a report shown is never older than a minute plus its own computing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;

use crate::AppState;

/// How long a report is shown without starting a new one.
pub const FRESH: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Reports {
    /// Key → the newest report (or its error) and when it was made; and whether a
    /// computation is running.
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Default)]
struct Entry {
    done: Option<(Instant, Result<Arc<Value>, String>)>,
    running: bool,
}

/// What a page gets: the newest report, or that it is being computed.
pub enum Report {
    Ready(Arc<Value>),
    Failed(String),
    Computing,
}

impl Reports {
    /// The report `key` names, computing it with `compute` off the request when missing or
    /// older than [`FRESH`].
    pub fn get(
        &self,
        state: &AppState,
        key: &str,
        compute: impl FnOnce(&tailor_engine::Engine) -> Result<Value, String> + Send + 'static,
    ) -> Report {
        let mut entries = self.entries.lock();
        let entry = entries.entry(key.to_string()).or_default();
        let stale = entry
            .done
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() > FRESH);
        if stale && !entry.running {
            entry.running = true;
            let engine = state.engine.clone();
            let reports = state.reports.clone();
            let key = key.to_string();
            tokio::task::spawn_blocking(move || {
                let result = compute(&engine).map(Arc::new);
                let mut entries = reports.entries.lock();
                let entry = entries.entry(key).or_default();
                entry.done = Some((Instant::now(), result));
                entry.running = false;
            });
        }
        match &entry.done {
            Some((_, Ok(v))) => Report::Ready(v.clone()),
            Some((_, Err(e))) => Report::Failed(e.clone()),
            None => Report::Computing,
        }
    }

    /// Forgets `key` (its definition changed).
    pub fn forget(&self, key: &str) {
        if let Some(entry) = self.entries.lock().get_mut(key) {
            entry.done = None;
        }
    }
}
