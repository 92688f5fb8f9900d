//! Settings and small state kept as JSON in the store's metadata (placements, experiments,
//! quizzes, policies, model versions): one way to read and write them, one error for a
//! value that no longer parses.

use tailor_store::Store;

use crate::error::EngineError;

/// The value under `key`; `None` when never saved. `what` names it in errors.
pub(crate) fn load<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    key: &str,
    what: &str,
) -> Result<Option<T>, EngineError> {
    store
        .get_meta(key)?
        .map(|json| {
            serde_json::from_str(&json).map_err(|e| EngineError::Corrupt(format!("{what}: {e}")))
        })
        .transpose()
}

pub(crate) fn save<T: serde::Serialize>(
    store: &dyn Store,
    key: &str,
    value: &T,
) -> Result<(), EngineError> {
    let json = serde_json::to_string(value).map_err(|e| EngineError::Internal(e.to_string()))?;
    Ok(store.set_meta(key, &json)?)
}
