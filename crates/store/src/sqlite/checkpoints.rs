//! [`Checkpoints`] on SQLite: `profiles`, `identities` and `checkpoint` in `profiles.db`,
//! written through their own connection so a large checkpoint never holds the event log's
//! write lock.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use super::events::PEOPLE_INDEXED;
use crate::{Checkpoint, Checkpoints, ProfileRow, Result, Seq, Snapshot, StoreError};

/// The checkpoint row that records the log position the saved profiles cover.
const CHECKPOINT_SEQ: &str = "checkpoint_seq";

fn parse_seq(v: &str) -> Result<Seq> {
    v.parse::<Seq>()
        .map_err(|e| StoreError::Corrupt(format!("{CHECKPOINT_SEQ}: {e}")))
}

impl Checkpoints for SqliteStore {
    fn checkpoint(&self, cp: &Checkpoint) -> Result<()> {
        self.with_profiles(|conn| {
            let tx = conn.transaction()?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT OR REPLACE INTO profiles (id, state) VALUES (?1, ?2)",
                )?;
                for p in &cp.upsert_profiles {
                    upsert.execute(params![p.id as i64, p.state])?;
                }
                let mut delete = tx.prepare_cached("DELETE FROM profiles WHERE id = ?1")?;
                for id in &cp.delete_profiles {
                    delete.execute(params![*id as i64])?;
                }
                let mut ident = tx.prepare_cached(
                    "INSERT OR REPLACE INTO identities (identity, profile_id) VALUES (?1, ?2)",
                )?;
                for (identity, id) in &cp.upsert_identities {
                    ident.execute(params![identity, *id as i64])?;
                }
                let mut meta = tx.prepare_cached(
                    "INSERT OR REPLACE INTO checkpoint (key, value) VALUES (?1, ?2)",
                )?;
                for (k, v) in &cp.meta {
                    meta.execute(params![k, v])?;
                }
                meta.execute(params![CHECKPOINT_SEQ, cp.seq.to_string()])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn snapshot(&self) -> Result<Snapshot> {
        self.with_profiles(|conn| {
            let mut stmt = conn.prepare("SELECT key, value FROM checkpoint")?;
            let mut meta = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            let seq = match meta.iter().position(|(k, _)| k == CHECKPOINT_SEQ) {
                Some(i) => parse_seq(&meta.remove(i).1)?,
                None => 0,
            };
            // The person index's watermark shares the table but is the store's own.
            meta.retain(|(k, _)| k != PEOPLE_INDEXED);
            let mut stmt = conn.prepare("SELECT id, state FROM profiles")?;
            let profiles = stmt
                .query_map([], |r| {
                    Ok(ProfileRow {
                        id: r.get::<_, i64>(0)? as u64,
                        state: r.get(1)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut stmt = conn.prepare("SELECT identity, profile_id FROM identities")?;
            let identities = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Snapshot {
                seq,
                profiles,
                identities,
                meta,
            })
        })
    }

    fn checkpointed_seq(&self) -> Result<Seq> {
        self.with_profiles(|conn| {
            let v: Option<String> = conn
                .query_row(
                    "SELECT value FROM checkpoint WHERE key = ?1",
                    [CHECKPOINT_SEQ],
                    |r| r.get(0),
                )
                .optional()?;
            v.map_or(Ok(0), |v| parse_seq(&v))
        })
    }
}
