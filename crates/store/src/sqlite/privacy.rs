//! [`PrivacyStore`] on SQLite: erasure across both files (each table's deletion lives
//! with the SQL of the sub-trait that owns the table), WAL truncation for `purge`, and the
//! `suppressed` and `audit` tables of `tailor.db`.

use rusqlite::{Connection, params};

use super::{SqliteStore, decisions, events, ids_json, journeys, sql_limit};
use crate::{AuditEntry, Erased, PersonKeys, PrivacyStore, Result, StoreError};

impl PrivacyStore for SqliteStore {
    fn erase_person(&self, person: &PersonKeys) -> Result<Erased> {
        let mut erased = Erased::default();
        // Profile state first: if the log deletion then fails, a retry finishes the job,
        // and nothing is left that could rebuild the profile.
        self.with_profiles(|conn| {
            let tx = conn.transaction()?;
            for id in &person.profile_ids {
                erased.profiles +=
                    tx.execute("DELETE FROM profiles WHERE id = ?1", [*id as i64])? as u64;
                erased.identities += tx
                    .execute("DELETE FROM identities WHERE profile_id = ?1", [*id as i64])?
                    as u64;
            }
            tx.commit()?;
            Ok(())
        })?;
        if !person.ids.is_empty() {
            // Every row naming the ids, in one transaction of the writer.
            let ids = ids_json(&person.ids)?;
            self.write(|conn| {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                erased.events = events::erase(&tx, &ids)?;
                decisions::erase_exposures(&tx, &ids)?;
                (erased.journeys, erased.audience_removals) =
                    journeys::erase(&tx, &ids, person.at)?;
                tx.commit()?;
                Ok(())
            })?;
            // `decisions.db` in its own transaction: a retry finishes what a failure left.
            erased.decisions = self.with_decisions(|db| decisions::erase(db, &ids))?;
        }
        Ok(erased)
    }

    fn purge(&self) -> Result<()> {
        let truncate = |conn: &Connection, schema: &str| -> Result<()> {
            let (busy, _, _): (i64, i64, i64) = conn.query_row(
                &format!("PRAGMA {schema}.wal_checkpoint(TRUNCATE)"),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            if busy != 0 {
                return Err(StoreError::Backend(format!(
                    "could not truncate the write-ahead log of {schema}: readers kept it busy"
                )));
            }
            Ok(())
        };
        self.write(|conn| {
            truncate(conn, "main")?;
            truncate(conn, "p")
        })?;
        self.with_decisions(|db| truncate(&db.conn, "main"))
    }

    fn suppress(&self, hashes: &[String]) -> Result<()> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            for h in hashes {
                tx.execute("INSERT OR IGNORE INTO suppressed (hash) VALUES (?1)", [h])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn unsuppress(&self, hashes: &[String]) -> Result<u64> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            let mut n = 0;
            for h in hashes {
                n += tx.execute("DELETE FROM suppressed WHERE hash = ?1", [h])? as u64;
            }
            tx.commit()?;
            Ok(n)
        })
    }

    fn suppressed(&self) -> Result<Vec<String>> {
        self.read(|conn| {
            let mut stmt = conn.prepare("SELECT hash FROM suppressed")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<String>, _>>()?)
        })
    }

    fn audit(&self, entry: &AuditEntry) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "INSERT INTO audit (at, action, detail) VALUES (?1, ?2, ?3)",
                params![entry.at, entry.action, entry.detail],
            )?;
            Ok(())
        })
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT at, action, detail FROM audit ORDER BY rowid DESC LIMIT {}",
                sql_limit(limit)
            ))?;
            let rows = stmt.query_map([], |r| {
                Ok(AuditEntry {
                    at: r.get(0)?,
                    action: r.get(1)?,
                    detail: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}
