//! [`JourneyStore`] on SQLite: `journey_runs` and their timers, the `outbox`,
//! `audience_members` with their `audience_changes` stream, and `journey_counts`, all in
//! `tailor.db` (schema: migration 6 in `mod.rs`); the journeys' log cursor is a `meta` row.
//! Statuses and ops are stored as their `as_str` text; one that does not parse reads back
//! as [`crate::StoreError::Corrupt`].

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params, params_from_iter};
use tailor_core::Millis;

use super::{IN_IDS, SqliteStore, ids_json, sql_limit};
use crate::journeys::{
    AudienceChange, AudienceOp, CURSOR_META, JourneyRun, JourneyStore, JourneyWrite, OutboxItem,
    OutboxStatus, RunStatus,
};
use crate::{Result, Seq};

/// Text columns holding an enum's `as_str`.
macro_rules! text_column {
    ($($ty:ty),+) => {$(
        impl ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $ty {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e| FromSqlError::Other(Box::new(e)))
            }
        }
    )+};
}

text_column!(RunStatus, OutboxStatus, AudienceOp);

const RUN_COLUMNS: &str =
    "id, journey, version, person, step, status, due_at, wait_event, entered_at, updated_at, state";
const OUTBOX_COLUMNS: &str = "key, run_id, journey, step, person, channel, payload, priority, status, attempts, next_at, last_error, created_at, sent_at";

fn run_row(r: &Row) -> rusqlite::Result<JourneyRun> {
    Ok(JourneyRun {
        id: r.get(0)?,
        journey: r.get(1)?,
        version: r.get(2)?,
        person: r.get(3)?,
        step: r.get(4)?,
        status: r.get(5)?,
        due_at: r.get(6)?,
        wait_event: r.get(7)?,
        entered_at: r.get(8)?,
        updated_at: r.get(9)?,
        state: r.get(10)?,
    })
}

fn outbox_row(r: &Row) -> rusqlite::Result<OutboxItem> {
    Ok(OutboxItem {
        key: r.get(0)?,
        run_id: r.get(1)?,
        journey: r.get(2)?,
        step: r.get(3)?,
        person: r.get(4)?,
        channel: r.get(5)?,
        payload: r.get(6)?,
        priority: r.get(7)?,
        status: r.get(8)?,
        attempts: r.get(9)?,
        next_at: r.get(10)?,
        last_error: r.get(11)?,
        created_at: r.get(12)?,
        sent_at: r.get(13)?,
    })
}

fn apply(tx: &Transaction, w: &JourneyWrite) -> Result<()> {
    let mut upsert_run = tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO journey_runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))?;
    for r in &w.runs {
        upsert_run.execute(params![
            r.id,
            r.journey,
            r.version,
            r.person,
            r.step,
            r.status,
            r.due_at,
            r.wait_event,
            r.entered_at,
            r.updated_at,
            r.state
        ])?;
    }
    let mut insert_outbox = tx.prepare_cached(&format!(
        "INSERT OR IGNORE INTO outbox ({OUTBOX_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    ))?;
    for o in &w.new_outbox {
        insert_outbox.execute(params![
            o.key,
            o.run_id,
            o.journey,
            o.step,
            o.person,
            o.channel,
            o.payload,
            o.priority,
            o.status,
            o.attempts,
            o.next_at,
            o.last_error,
            o.created_at,
            o.sent_at
        ])?;
    }
    let mut update_outbox = tx.prepare_cached(
        "UPDATE outbox SET status = ?2, attempts = ?3, next_at = ?4, last_error = ?5, sent_at = ?6, payload = ?7 WHERE key = ?1",
    )?;
    for o in &w.outbox_updates {
        update_outbox.execute(params![
            o.key,
            o.status,
            o.attempts,
            o.next_at,
            o.last_error,
            o.sent_at,
            o.payload
        ])?;
    }
    for c in &w.audience {
        let keys: Option<Option<String>> = match c.op {
            AudienceOp::Add => (tx.execute(
                "INSERT OR IGNORE INTO audience_members (audience, person, added_at, match_keys) VALUES (?1, ?2, ?3, ?4)",
                params![c.audience, c.person, c.at, c.match_keys],
            )? > 0)
                .then(|| c.match_keys.clone()),
            AudienceOp::Remove => tx
                .query_row(
                    "DELETE FROM audience_members WHERE audience = ?1 AND person = ?2 RETURNING match_keys",
                    params![c.audience, c.person],
                    |r| r.get::<_, Option<String>>(0),
                )
                .optional()?
                .map(|stored| c.match_keys.clone().or(stored)),
        };
        if let Some(keys) = keys {
            tx.execute(
                "INSERT INTO audience_changes (audience, person, op, at, match_keys) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![c.audience, c.person, c.op, c.at, keys],
            )?;
        }
    }
    let mut count = tx.prepare_cached(
        "INSERT INTO journey_counts (journey, step, metric, n) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (journey, step, metric) DO UPDATE SET n = n + excluded.n",
    )?;
    for c in &w.counts {
        count.execute(params![c.journey, c.step, c.metric, c.n])?;
    }
    if let Some(seq) = w.cursor {
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![CURSOR_META, seq.to_string()],
        )?;
    }
    Ok(())
}

fn collect<T>(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    f: fn(&Row) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(args, f)?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Every run of any of the persons in `?1`, oldest first.
pub(super) fn runs_of_sql() -> String {
    format!("SELECT {RUN_COLUMNS} FROM journey_runs WHERE person IN ({IN_IDS}) ORDER BY entered_at")
}

/// Messages by person (`?1`, when `persons`) and/or status (the next parameter, when
/// `status`), oldest first.
pub(super) fn outbox_list_sql(persons: bool, status: bool, limit: usize) -> String {
    let mut clauses: Vec<String> = Vec::new();
    if persons {
        clauses.push(format!("person IN ({IN_IDS})"));
    }
    if status {
        // With persons, `+` keeps SQLite off the status index: a person's handful of
        // messages beats every message with one status.
        let plus = if persons { "+" } else { "" };
        clauses.push(format!("{plus}status = ?{}", clauses.len() + 1));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox {filter} ORDER BY created_at, key LIMIT {}",
        sql_limit(limit)
    )
}

/// (channel, sent at) of messages sent to any of the persons in `?1` since `?2`. `+status`
/// keeps SQLite on the `(person, sent_at)` index: it cannot tell how many ids the JSON
/// list holds, and guesses that scanning every sent message is cheaper.
pub(super) fn sends_since_sql() -> String {
    format!(
        "SELECT channel, sent_at FROM outbox WHERE person IN ({IN_IDS}) AND +status = 'sent' AND sent_at >= ?2"
    )
}

/// Deletes, in `tx`, the journey rows naming any of the ids bound as JSON in `ids`, after
/// ending each of their audience memberships with a `remove` that names no one and keeps
/// only the membership's match keys; returns (rows deleted, removals written).
pub(super) fn erase(tx: &Transaction<'_>, ids: &str, at: Millis) -> Result<(u64, u64)> {
    // Inserted before the deletions: AUTOINCREMENT puts them after every position given out.
    let removals = tx.execute(
        &format!(
            "INSERT INTO audience_changes (audience, person, op, at, match_keys)
             SELECT audience, '', 'remove', ?2, match_keys FROM audience_members
             WHERE person IN ({IN_IDS}) ORDER BY audience, added_at"
        ),
        params![ids, at],
    )? as u64;
    let mut n = 0;
    for table in [
        "journey_runs",
        "outbox",
        "audience_members",
        "audience_changes",
    ] {
        n += tx.execute(
            &format!("DELETE FROM {table} WHERE person IN ({IN_IDS})"),
            [ids],
        )? as u64;
    }
    Ok((n, removals))
}

impl JourneyStore for SqliteStore {
    fn journey_write(&self, w: &JourneyWrite) -> Result<()> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            apply(&tx, w)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn journey_cursor(&self) -> Result<Option<Seq>> {
        self.write(|conn| {
            let v: Option<String> = conn
                .query_row(
                    "SELECT value FROM meta WHERE key = ?1",
                    [CURSOR_META],
                    |r| r.get(0),
                )
                .ok();
            Ok(v.and_then(|s| s.parse().ok()))
        })
    }

    fn journey_runs_due(&self, now: Millis, limit: usize) -> Result<Vec<JourneyRun>> {
        self.write(|conn| {
            collect(
                conn,
                &format!("SELECT {RUN_COLUMNS} FROM journey_runs WHERE status = 'active' AND due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at LIMIT ?2"),
                params![now, sql_limit(limit)],
                run_row,
            )
        })
    }

    fn journey_runs_of(&self, persons: &[String]) -> Result<Vec<JourneyRun>> {
        if persons.is_empty() {
            return Ok(Vec::new());
        }
        let persons = ids_json(persons)?;
        self.write(|conn| collect(conn, &runs_of_sql(), [persons], run_row))
    }

    fn journey_runs_in(&self, journey: &str) -> Result<Vec<JourneyRun>> {
        self.write(|conn| {
            collect(
                conn,
                &format!(
                    "SELECT {RUN_COLUMNS} FROM journey_runs WHERE journey = ?1 ORDER BY entered_at, id"
                ),
                [journey],
                run_row,
            )
        })
    }

    fn journey_counts(&self, journey: &str) -> Result<Vec<(String, String, i64)>> {
        self.write(|conn| {
            collect(
                conn,
                "SELECT step, metric, n FROM journey_counts WHERE journey = ?1 ORDER BY step, metric",
                [journey],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
    }

    fn outbox_due(&self, now: Millis, limit: usize) -> Result<Vec<OutboxItem>> {
        self.write(|conn| {
            collect(
                conn,
                &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending' AND next_at <= ?1 ORDER BY priority DESC, next_at, key LIMIT ?2"),
                params![now, sql_limit(limit)],
                outbox_row,
            )
        })
    }

    fn outbox_list(
        &self,
        status: Option<OutboxStatus>,
        persons: Option<&[String]>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>> {
        // Only the filters asked for, so the person and status indexes stay usable.
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(ids) = persons {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            args.push(ids_json(ids)?.into());
        }
        if let Some(s) = status {
            args.push(s.as_str().to_string().into());
        }
        let sql = outbox_list_sql(persons.is_some(), status.is_some(), limit);
        self.write(|conn| collect(conn, &sql, params_from_iter(args), outbox_row))
    }

    fn outbox_where(
        &self,
        status: OutboxStatus,
        journey: Option<&str>,
        channel: Option<&str>,
    ) -> Result<Vec<OutboxItem>> {
        self.write(|conn| {
            collect(
                conn,
                &format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status = ?1 AND (?2 IS NULL OR journey = ?2) AND (?3 IS NULL OR channel = ?3) ORDER BY created_at, key"
                ),
                params![status, journey, channel],
                outbox_row,
            )
        })
    }

    fn outbox_item(&self, key: &str) -> Result<Option<OutboxItem>> {
        self.write(|conn| {
            Ok(collect(
                conn,
                &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE key = ?1"),
                [key],
                outbox_row,
            )?
            .pop())
        })
    }

    fn sends_since(&self, persons: &[String], since: Millis) -> Result<Vec<(String, Millis)>> {
        if persons.is_empty() {
            return Ok(Vec::new());
        }
        let persons = ids_json(persons)?;
        self.write(|conn| {
            collect(conn, &sends_since_sql(), params![persons, since], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
    }

    fn audience_members(&self, audience: &str) -> Result<Vec<(String, Millis)>> {
        self.write(|conn| {
            collect(
                conn,
                "SELECT person, added_at FROM audience_members WHERE audience = ?1 ORDER BY added_at, person",
                [audience],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
    }

    fn audience_changes(
        &self,
        audience: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<AudienceChange>> {
        self.write(|conn| {
            collect(
                conn,
                "SELECT seq, audience, person, op, at, match_keys FROM audience_changes WHERE audience = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                params![audience, after, sql_limit(limit)],
                |r| {
                    Ok(AudienceChange {
                        seq: r.get(0)?,
                        audience: r.get(1)?,
                        person: r.get(2)?,
                        op: r.get(3)?,
                        at: r.get(4)?,
                        match_keys: r.get(5)?,
                    })
                },
            )
        })
    }

    fn audience_names(&self) -> Result<Vec<(String, u64)>> {
        self.write(|conn| {
            collect(
                conn,
                "SELECT a.audience, (SELECT count(*) FROM audience_members m WHERE m.audience = a.audience)
                 FROM (SELECT DISTINCT audience FROM audience_changes) a ORDER BY a.audience",
                [],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{StoreError, StoreErrorKind};

    #[test]
    fn an_unknown_status_reads_back_as_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).unwrap();
        s.write(|conn| {
            conn.execute_batch(
                "INSERT INTO journey_runs (id, journey, version, person, step, status, entered_at, updated_at, state)
                 VALUES ('r', 'j', 1, 'u', 0, 'sleeping', 1, 1, '{}');
                 INSERT INTO outbox (key, run_id, journey, step, person, channel, payload, priority, status, attempts, next_at, created_at)
                 VALUES ('k', 'r', 'j', 0, 'u', 'email', '{}', 0, 'lost', 0, 1, 1);
                 INSERT INTO audience_changes (audience, person, op, at) VALUES ('a', 'u', 'flip', 1);",
            )?;
            Ok(())
        })
        .unwrap();
        let corrupt = |e: StoreError| {
            assert_eq!(e.kind(), StoreErrorKind::Corrupt, "{e}");
            e.to_string()
        };
        let e = corrupt(s.journey_runs_in("j").unwrap_err());
        assert!(e.contains("sleeping"), "{e}");
        corrupt(s.outbox_item("k").unwrap_err());
        corrupt(s.audience_changes("a", 0, 10).unwrap_err());
    }
}
