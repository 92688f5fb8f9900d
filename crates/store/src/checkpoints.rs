//! Profile checkpoints: the folded state of every profile and the identity index, saved
//! with the log position they cover, so start-up replays only the tail of the log.

use crate::{ProfileId, Result, Seq};

/// A profile's serialized state, opaque to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRow {
    pub id: ProfileId,
    pub state: Vec<u8>,
}

/// Everything written by one profile checkpoint, atomically.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    /// The log position the checkpoint covers: replay resumes after it.
    pub seq: Seq,
    pub upsert_profiles: Vec<ProfileRow>,
    pub delete_profiles: Vec<ProfileId>,
    /// `(identity, profile)`; an identity is `user:<userId>`, `anon:<anonymousId>` or
    /// `merged:<old internal id>`.
    pub upsert_identities: Vec<(String, ProfileId)>,
    /// Free-form engine state (id counters and the like), stored with the checkpoint and
    /// returned in [`Snapshot::meta`].
    pub meta: Vec<(String, String)>,
}

/// What a checkpoint left behind, to start from.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub seq: Seq,
    pub profiles: Vec<ProfileRow>,
    pub identities: Vec<(String, ProfileId)>,
    /// The `meta` entries of the checkpoints.
    pub meta: Vec<(String, String)>,
}

/// Profile checkpoints. Checkpoints are incremental: each upserts and deletes rows of the
/// state the previous ones left.
pub trait Checkpoints {
    /// Writes a profile checkpoint atomically.
    fn checkpoint(&self, checkpoint: &Checkpoint) -> Result<()>;
    /// Reads the state all checkpoints so far add up to.
    fn snapshot(&self) -> Result<Snapshot>;
    /// The log position the latest checkpoint covers (0 before the first), without reading
    /// the profiles.
    fn checkpointed_seq(&self) -> Result<Seq>;
}
