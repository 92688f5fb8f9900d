//! [`PrivacyStore`] on PostgreSQL: erasure across every table in one transaction (each
//! table's deletion lives with the SQL of the sub-trait that owns it), `VACUUM` and a
//! checkpoint for `purge`, and the `suppressed` and `audit` tables.
//!
//! What PostgreSQL keeps of a deleted row, and for how long (README, "Erasure on
//! PostgreSQL"): the row version stays in its heap page as a dead tuple, and its keys in
//! index pages, until `VACUUM` removes them (`purge` starts it in the background on every
//! table erasure touches, then a `CHECKPOINT` so the data files on disk hold the vacuumed pages). The
//! freed space is not zeroed (the end-to-end test finds the bytes after `VACUUM`): they
//! stay in the page until a later row reuses the space or `VACUUM FULL` rewrites the table,
//! which takes an exclusive lock and so is the operator's to schedule, not erasure's. The row was also written to the write-ahead log when it
//! was inserted and when it was deleted; WAL segments in `pg_wal` are recycled after
//! checkpoints (`max_wal_size`, `wal_keep_size`) but overwritten only as new WAL is
//! written, and archived WAL, replicas and base backups keep their copies for as long as
//! the operator keeps them.

use super::{PgStore, decisions, events, journeys, sql_limit};
use crate::{AuditEntry, Erased, PersonKeys, PrivacyStore, Result};

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: suppression records (salted hashes of erased ids) and the audit log.
    "CREATE TABLE suppressed (hash TEXT PRIMARY KEY);
     CREATE TABLE audit (n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL,
        action TEXT NOT NULL, detail TEXT NOT NULL);",
];

/// Every table erasure deletes from, which `purge` vacuums (and an operator's `VACUUM FULL`
/// should rewrite for a byte-level guarantee: README, "Erasure on PostgreSQL").
pub const PERSONAL_TABLES: &str = "events, profiles, identities, decisions, rewards, exposures, \
     journey_runs, outbox, audience_members, audience_changes";

/// Whether a background vacuum runs, and whether another was asked for meanwhile.
#[derive(Default)]
pub(super) struct VacuumState {
    running: bool,
    again: bool,
}

async fn vacuum_personal_tables(pool: &deadpool_postgres::Pool) -> Result<()> {
    let client = pool.get().await?;
    client
        .batch_execute(&format!("VACUUM {PERSONAL_TABLES}"))
        .await?;
    // Writes the vacuumed pages to the data files now rather than at the next checkpoint.
    // Needs superuser or `pg_checkpoint`; without them the next automatic checkpoint
    // (`checkpoint_timeout`, 5 minutes by default) does it.
    if let Err(e) = client.batch_execute("CHECKPOINT").await {
        tracing::info!(error = %e, "CHECKPOINT after erasure not permitted; the next automatic one writes the pages");
    }
    Ok(())
}

impl PrivacyStore for PgStore {
    fn erase_person(&self, person: &PersonKeys) -> Result<Erased> {
        let profile_ids: Vec<i64> = person.profile_ids.iter().map(|id| *id as i64).collect();
        let ids = person.ids.clone();
        let at = person.at;
        self.run(|pool| async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            let mut erased = Erased::default();
            if !profile_ids.is_empty() {
                erased.profiles = tx
                    .execute("DELETE FROM profiles WHERE id = ANY($1)", &[&profile_ids])
                    .await?;
                erased.identities = tx
                    .execute(
                        "DELETE FROM identities WHERE profile_id = ANY($1)",
                        &[&profile_ids],
                    )
                    .await?;
            }
            if !ids.is_empty() {
                erased.events = tx
                    .execute(
                        &format!("DELETE FROM events WHERE {}", events::OF_IDS),
                        &[&ids],
                    )
                    .await?;
                erased.decisions = decisions::erase(&tx, &ids).await?;
                (erased.journeys, erased.audience_removals) =
                    journeys::erase(&tx, &ids, at).await?;
            }
            tx.commit().await?;
            Ok(erased)
        })
    }

    /// Starts `VACUUM` of the personal tables, then a `CHECKPOINT`, in the background and
    /// returns: erasure runs on the ingest writer, and a vacuum scans whole tables, so
    /// waiting for it would hold up ingest for as long. A purge asked for while one runs
    /// makes that one run again when it ends, so the last erasure is always covered.
    fn purge(&self) -> Result<()> {
        {
            let mut state = self.vacuum.lock();
            if state.running {
                state.again = true;
                return Ok(());
            }
            state.running = true;
        }
        let (pool, vacuum) = (self.pool.clone(), self.vacuum.clone());
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| crate::StoreError::Backend("the PostgreSQL store is closed".into()))?;
        runtime.spawn(async move {
            loop {
                if let Err(e) = vacuum_personal_tables(&pool).await {
                    tracing::warn!(error = %e, "VACUUM after erasure failed; the next erasure or autovacuum covers it");
                }
                let mut state = vacuum.lock();
                if !std::mem::take(&mut state.again) {
                    state.running = false;
                    break;
                }
            }
        });
        Ok(())
    }

    fn suppress(&self, hashes: &[String]) -> Result<()> {
        let hashes = hashes.to_vec();
        self.run(|pool| async move {
            let client = pool.get().await?;
            client
                .execute(
                    "INSERT INTO suppressed (hash) SELECT * FROM unnest($1::text[]) ON CONFLICT DO NOTHING",
                    &[&hashes],
                )
                .await?;
            Ok(())
        })
    }

    fn unsuppress(&self, hashes: &[String]) -> Result<u64> {
        let hashes = hashes.to_vec();
        self.run(|pool| async move {
            let client = pool.get().await?;
            Ok(client
                .execute("DELETE FROM suppressed WHERE hash = ANY($1)", &[&hashes])
                .await?)
        })
    }

    fn suppressed(&self) -> Result<Vec<String>> {
        self.run(|pool| async move {
            let client = pool.get().await?;
            Ok(client
                .query("SELECT hash FROM suppressed ORDER BY hash", &[])
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn audit(&self, entry: &AuditEntry) -> Result<()> {
        let entry = entry.clone();
        self.run(|pool| async move {
            let client = pool.get().await?;
            client
                .execute(
                    "INSERT INTO audit (at, action, detail) VALUES ($1, $2, $3)",
                    &[&entry.at, &entry.action, &entry.detail],
                )
                .await?;
            Ok(())
        })
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let limit = sql_limit(limit);
        self.run(|pool| async move {
            let client = pool.get().await?;
            Ok(client
                .query(
                    "SELECT at, action, detail FROM audit ORDER BY n DESC LIMIT $1",
                    &[&limit],
                )
                .await?
                .iter()
                .map(|r| AuditEntry {
                    at: r.get(0),
                    action: r.get(1),
                    detail: r.get(2),
                })
                .collect())
        })
    }
}
