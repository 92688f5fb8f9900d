//! [`Checkpoints`] on PostgreSQL: `profiles`, `identities` and `checkpoint`, each
//! checkpoint one transaction of a few large array statements.

use std::collections::HashMap;

use super::{PgStore, corrupt};
use crate::{Checkpoint, Checkpoints, ProfileId, ProfileRow, Result, Seq, Snapshot};

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: profile state, the identity index, checkpoint metadata.
    "CREATE TABLE profiles (id BIGINT PRIMARY KEY, state BYTEA NOT NULL);
     CREATE TABLE identities (identity TEXT PRIMARY KEY, profile_id BIGINT NOT NULL);
     CREATE INDEX identities_profile ON identities (profile_id);
     CREATE TABLE checkpoint (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
];

/// The checkpoint row that records the log position the saved profiles cover.
const CHECKPOINT_SEQ: &str = "checkpoint_seq";
/// Rows per statement: large enough to amortize round trips, small enough that one
/// statement's arrays stay a few megabytes.
const CHUNK: usize = 5_000;

fn parse_seq(v: &str) -> Result<Seq> {
    v.parse::<Seq>().map_err(|e| corrupt(CHECKPOINT_SEQ, e))
}

/// The last value for each key, in first-seen order: an upsert statement may not touch a
/// row twice, and a later entry replaces an earlier one (as SQLite's `INSERT OR REPLACE`).
fn last_per_key<K: std::hash::Hash + Eq + Clone, V: Clone>(rows: &[(K, V)]) -> Vec<(K, V)> {
    let mut at: HashMap<K, usize> = HashMap::new();
    let mut out: Vec<(K, V)> = Vec::with_capacity(rows.len());
    for (k, v) in rows {
        match at.get(k) {
            Some(&i) => out[i].1 = v.clone(),
            None => {
                at.insert(k.clone(), out.len());
                out.push((k.clone(), v.clone()));
            }
        }
    }
    out
}

impl Checkpoints for PgStore {
    fn checkpoint(&self, cp: &Checkpoint) -> Result<()> {
        let profiles = last_per_key(
            &cp.upsert_profiles
                .iter()
                .map(|p| (p.id as i64, p.state.clone()))
                .collect::<Vec<_>>(),
        );
        let deleted: Vec<i64> = cp.delete_profiles.iter().map(|id| *id as i64).collect();
        let identities = last_per_key(
            &cp.upsert_identities
                .iter()
                .map(|(identity, id)| (identity.clone(), *id as i64))
                .collect::<Vec<_>>(),
        );
        let mut meta = cp.meta.clone();
        meta.push((CHECKPOINT_SEQ.to_string(), cp.seq.to_string()));
        let meta = last_per_key(&meta);
        self.run(|pool| async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            let upsert = tx
                .prepare_cached(
                    "INSERT INTO profiles (id, state) SELECT * FROM unnest($1::int8[], $2::bytea[])
                     ON CONFLICT (id) DO UPDATE SET state = excluded.state",
                )
                .await?;
            for chunk in profiles.chunks(CHUNK) {
                let (ids, states): (Vec<i64>, Vec<Vec<u8>>) = chunk.iter().cloned().unzip();
                tx.execute(&upsert, &[&ids, &states]).await?;
            }
            for chunk in deleted.chunks(CHUNK) {
                tx.execute("DELETE FROM profiles WHERE id = ANY($1)", &[&chunk])
                    .await?;
            }
            let identity = tx
                .prepare_cached(
                    "INSERT INTO identities (identity, profile_id) SELECT * FROM unnest($1::text[], $2::int8[])
                     ON CONFLICT (identity) DO UPDATE SET profile_id = excluded.profile_id",
                )
                .await?;
            for chunk in identities.chunks(CHUNK) {
                let (names, ids): (Vec<String>, Vec<i64>) = chunk.iter().cloned().unzip();
                tx.execute(&identity, &[&names, &ids]).await?;
            }
            let (keys, values): (Vec<String>, Vec<String>) = meta.into_iter().unzip();
            tx.execute(
                "INSERT INTO checkpoint (key, value) SELECT * FROM unnest($1::text[], $2::text[])
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&keys, &values],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn snapshot(&self) -> Result<Snapshot> {
        let (meta, profiles, identities) = self.run(|pool| async move {
            let mut client = pool.get().await?;
            // One snapshot of the three tables, as one checkpoint left them.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let meta: Vec<(String, String)> = tx
                .query("SELECT key, value FROM checkpoint", &[])
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let profiles: Vec<ProfileRow> = tx
                .query("SELECT id, state FROM profiles", &[])
                .await?
                .iter()
                .map(|r| ProfileRow {
                    id: r.get::<_, i64>(0) as ProfileId,
                    state: r.get(1),
                })
                .collect();
            let identities: Vec<(String, ProfileId)> = tx
                .query("SELECT identity, profile_id FROM identities", &[])
                .await?
                .iter()
                .map(|r| (r.get(0), r.get::<_, i64>(1) as ProfileId))
                .collect();
            tx.commit().await?;
            Ok((meta, profiles, identities))
        })?;
        let mut meta = meta;
        let seq = match meta.iter().position(|(k, _)| k == CHECKPOINT_SEQ) {
            Some(i) => parse_seq(&meta.remove(i).1)?,
            None => 0,
        };
        Ok(Snapshot {
            seq,
            profiles,
            identities,
            meta,
        })
    }

    fn checkpointed_seq(&self) -> Result<Seq> {
        let value: Option<String> = self.run(|pool| async move {
            let client = pool.get().await?;
            Ok(client
                .query_opt(
                    "SELECT value FROM checkpoint WHERE key = $1",
                    &[&CHECKPOINT_SEQ],
                )
                .await?
                .map(|r| r.get(0)))
        })?;
        value.map_or(Ok(0), |v| parse_seq(&v))
    }
}
