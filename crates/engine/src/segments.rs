//! Saved segments: named targeting conditions (the language placements, experiments and
//! journeys use), kept in the store's metadata. A segment is a condition the console can
//! count, sample and copy into a placement's targeting or a journey's trigger; the condition
//! language itself has no reference to a segment by name, so a saved segment changed later
//! does not change the placements that copied it.

use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tailor_core::{Millis, ValidationError};
use tailor_store::Store;

use crate::error::EngineError;
use crate::meta;

const SEGMENTS_META: &str = "segments";
/// At most this many saved segments.
pub const MAX_SEGMENTS: usize = 500;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedSegment {
    pub id: String,
    pub name: String,
    pub condition: Value,
    #[serde(default)]
    pub updated_at: Millis,
}

impl SavedSegment {
    /// Every problem at once, each starting with the field it is about.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut problems = Vec::new();
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if !id_ok {
            problems.push("id: 1 to 64 lowercase letters, digits, `-`, `_` or `.`".to_string());
        }
        if self.name.trim().is_empty() || self.name.len() > 100 {
            problems.push("name: 1 to 100 characters".to_string());
        }
        if !self.condition.is_object() {
            problems.push("condition: a JSON object, e.g. {\"orders\": {\"$gte\": 1}}".into());
        } else if let Err(e) = tailor_core::condition::validate_condition(&self.condition) {
            problems.extend(e.problems.into_iter().map(|p| format!("condition: {p}")));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ValidationError { problems })
        }
    }
}

pub(crate) struct Segments {
    store: Arc<dyn Store>,
    list: RwLock<Vec<SavedSegment>>,
}

impl Segments {
    pub fn load(store: Arc<dyn Store>) -> Result<Segments, EngineError> {
        let list = meta::load(store.as_ref(), SEGMENTS_META, "segments")?.unwrap_or_default();
        Ok(Segments {
            store,
            list: RwLock::new(list),
        })
    }

    pub fn list(&self) -> Vec<SavedSegment> {
        self.list.read().clone()
    }

    /// Adds or replaces a segment by id, validated. Blocks on disk.
    pub fn put(&self, segment: SavedSegment) -> Result<(), EngineError> {
        segment.validate()?;
        let mut list = self.list.write();
        let mut next = list.clone();
        let full = next.len() >= MAX_SEGMENTS;
        match next.iter_mut().find(|s| s.id == segment.id) {
            Some(slot) => *slot = segment,
            None if full => {
                return Err(ValidationError::one(format!(
                    "id: at most {MAX_SEGMENTS} segments; delete one first"
                ))
                .into());
            }
            None => next.push(segment),
        }
        next.sort_by(|a, b| a.id.cmp(&b.id));
        meta::save(self.store.as_ref(), SEGMENTS_META, &next)?;
        *list = next;
        Ok(())
    }

    pub fn delete(&self, id: &str) -> Result<(), EngineError> {
        let mut list = self.list.write();
        let mut next = list.clone();
        next.retain(|s| s.id != id);
        if next.len() == list.len() {
            return Err(EngineError::NotFound(format!("segment {id:?}")));
        }
        meta::save(self.store.as_ref(), SEGMENTS_META, &next)?;
        *list = next;
        Ok(())
    }
}
