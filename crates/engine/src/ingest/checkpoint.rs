//! Checkpoints: the derived state (profiles and identities that changed, product statistics,
//! the session model's views, the learning policies) written back with the log position it
//! covers, and read again on start, where the log after it is replayed.

use std::sync::Arc;
use std::time::Instant;

use tailor_store::{Checkpoint, ProfileRow, Seq, Snapshot, Store};

use crate::error::EngineError;
use crate::learn::policies::Policies;
use crate::learn::recs::Recs;
use crate::learn::session_model::SessionClicks;
use crate::live::Live;
use crate::profile::codec;
use crate::profile::registry::{Changes, Registry};

/// The checkpoint entry holding the next internal profile number.
const NEXT_PROFILE_ID_META: &str = "next_profile_id";
/// The checkpoint entry holding the recommendation state.
const RECS_META: &str = "recs";
/// The checkpoint entry holding the learning policies' state.
const POLICIES_META: &str = "policies";
/// The checkpoint entry holding the session model's views (base64 postcard).
const SESSION_CLICKS_META: &str = "session_clicks";

/// A checkpoint being written in the background.
pub(super) type Saving = std::thread::JoinHandle<Result<(), (EngineError, Changes)>>;

/// Collects a finished background checkpoint; a failed one's changes go back to the registry.
pub(super) fn finish(live: &Live, running: Saving) -> Result<(), EngineError> {
    match running.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err((e, changes))) => {
            live.with_registry_mut(|r| r.requeue(changes));
            Err(e)
        }
        Err(_) => Err(EngineError::Internal(
            "the checkpoint thread panicked".into(),
        )),
    }
}

/// The product statistics and session views as a checkpoint writes them, serialized under
/// the read lock: cloning them first copied the whole view window (up to a million views)
/// on every checkpoint, for about the time the encoding takes.
pub(super) struct SavedRecs {
    json: Result<String, String>,
    clicks: Result<Vec<u8>, String>,
}

fn saved_recs(live: &Live) -> SavedRecs {
    live.with_recs(|recs: &Recs| SavedRecs {
        json: serde_json::to_string(recs).map_err(|e| e.to_string()),
        clicks: recs.clicks.encode().map_err(|e| e.to_string()),
    })
}

/// What changed since the last checkpoint, with the product statistics to save beside it;
/// `None` when no profile changed.
pub(super) fn take_changes(live: &Live) -> Option<(Changes, SavedRecs)> {
    let changes = live.with_registry_mut(|r| r.has_changes().then(|| r.take_changes()))?;
    Some((changes, saved_recs(live)))
}

/// Writes everything that changed now, on this thread; on failure the changes go back to
/// the registry for the next attempt.
pub(crate) fn save_now(
    store: &Arc<dyn Store>,
    live: &Live,
    policies: &Policies,
    applied: Seq,
) -> Result<(), EngineError> {
    let changes = live.with_registry_mut(Registry::take_changes);
    let recs = saved_recs(live);
    save(&**store, policies, changes, recs, applied).map_err(|(e, changes)| {
        live.with_registry_mut(|r| r.requeue(changes));
        e
    })
}

/// What a checkpoint gives back on start.
pub(crate) struct Restored {
    pub registry: Registry,
    pub recs: Recs,
    pub policies: Policies,
    /// The log position it covers: replay resumes after it.
    pub applied: Seq,
}

/// Rebuilds the derived state from the latest checkpoint.
pub(crate) fn restore(snapshot: Snapshot) -> Result<Restored, EngineError> {
    let meta = |key: &str| {
        snapshot
            .meta
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let next_id = meta(NEXT_PROFILE_ID_META)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut recs: Recs = match meta(RECS_META) {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| EngineError::Corrupt(format!("recommendation state: {e}")))?,
        None => Recs::default(),
    };
    if let Some(encoded) = meta(SESSION_CLICKS_META) {
        use base64::Engine as _;
        recs.clicks = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| e.to_string())
            .and_then(|bytes| SessionClicks::decode(&bytes).map_err(|e| e.to_string()))
            .map_err(|e| EngineError::Corrupt(format!("session model views: {e}")))?;
    }
    let policies = Policies::restore(meta(POLICIES_META).as_deref())
        .map_err(|e| EngineError::Corrupt(format!("learning policies: {e}")))?;
    let applied = snapshot.seq;
    let registry = Registry::restore(snapshot, next_id)?;
    Ok(Restored {
        registry,
        recs,
        policies,
        applied,
    })
}

/// Writes profile changes covering the log up to `applied`, in one transaction.
/// Serialization happens here, outside every lock.
pub(super) fn save(
    store: &dyn Store,
    policies: &Policies,
    changes: Changes,
    recs: SavedRecs,
    applied: Seq,
) -> Result<(), (EngineError, Changes)> {
    let learned = policies.take_snapshot();
    if changes.upsert.is_empty()
        && changes.delete.is_empty()
        && changes.identities.is_empty()
        && learned.is_none()
    {
        return Ok(());
    }
    let learned = learned.unwrap_or_else(|| policies.snapshot());
    let started = Instant::now();
    let mut rows = Vec::with_capacity(changes.upsert.len());
    for p in &changes.upsert {
        match codec::encode(p.as_ref()) {
            Ok(state) => rows.push(ProfileRow { id: p.id, state }),
            Err(e) => {
                return Err((
                    EngineError::Internal(format!("cannot serialize profile {}: {e}", p.id)),
                    changes,
                ));
            }
        }
    }
    let recs_json = match recs.json {
        Ok(json) => json,
        Err(e) => {
            return Err((
                EngineError::Internal(format!("cannot serialize recommendation state: {e}")),
                changes,
            ));
        }
    };
    let clicks = match recs.clicks {
        Ok(bytes) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(bytes)
        }
        Err(e) => {
            return Err((
                EngineError::Internal(format!("cannot serialize the session model's views: {e}")),
                changes,
            ));
        }
    };
    let cp = Checkpoint {
        seq: applied,
        upsert_profiles: rows,
        delete_profiles: changes.delete.clone(),
        upsert_identities: changes.identities.clone(),
        meta: vec![
            (NEXT_PROFILE_ID_META.into(), changes.next_id.to_string()),
            (RECS_META.into(), recs_json),
            (SESSION_CLICKS_META.into(), clicks),
            (POLICIES_META.into(), learned),
        ],
    };
    match store.checkpoint(&cp) {
        Ok(()) => {
            tracing::debug!(
                profiles = cp.upsert_profiles.len(),
                seq = applied,
                ms = started.elapsed().as_millis() as u64,
                "checkpoint"
            );
            metrics::histogram!("tailor_checkpoint_seconds")
                .record(started.elapsed().as_secs_f64());
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, "checkpoint failed; will retry");
            Err((e.into(), changes))
        }
    }
}
