//! SQLite rows of journeys: runs and their timers, the outbox, audiences, step counters
//! (schema: migration 6 in `sqlite.rs`).

use rusqlite::{Connection, Row, Transaction, params, params_from_iter};
use tailor_core::Millis;

use super::{SqliteStore, placeholders, sql_limit};
use crate::journeys::{AudienceChange, JourneyRun, JourneyWrite, OutboxItem};
use crate::{Result, Seq};

/// Migration 6 of `tailor.db`.
pub(super) const JOURNEYS_SCHEMA: &str = "CREATE TABLE journey_runs (
        id TEXT PRIMARY KEY,
        journey TEXT NOT NULL,
        version INTEGER NOT NULL,
        person TEXT NOT NULL,
        step INTEGER NOT NULL,
        status TEXT NOT NULL,
        due_at INTEGER,
        wait_event TEXT,
        entered_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        state TEXT NOT NULL
     ) WITHOUT ROWID;
     CREATE INDEX journey_runs_person ON journey_runs(person);
     CREATE INDEX journey_runs_due ON journey_runs(due_at) WHERE status = 'active' AND due_at IS NOT NULL;
     CREATE TABLE outbox (
        key TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        journey TEXT NOT NULL,
        step INTEGER NOT NULL,
        person TEXT NOT NULL,
        channel TEXT NOT NULL,
        payload TEXT NOT NULL,
        priority INTEGER NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_at INTEGER NOT NULL,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        sent_at INTEGER
     ) WITHOUT ROWID;
     CREATE INDEX outbox_due ON outbox(next_at) WHERE status = 'pending';
     CREATE INDEX outbox_person ON outbox(person, sent_at);
     CREATE INDEX outbox_status ON outbox(status);
     CREATE TABLE audience_members (audience TEXT NOT NULL, person TEXT NOT NULL, added_at INTEGER NOT NULL,
        PRIMARY KEY (audience, person)) WITHOUT ROWID;
     CREATE INDEX audience_members_person ON audience_members(person);
     CREATE TABLE audience_changes (seq INTEGER PRIMARY KEY, audience TEXT NOT NULL, person TEXT NOT NULL,
        op TEXT NOT NULL, at INTEGER NOT NULL);
     CREATE INDEX audience_changes_person ON audience_changes(person);
     CREATE TABLE journey_counts (journey TEXT NOT NULL, step TEXT NOT NULL, metric TEXT NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (journey, step, metric)) WITHOUT ROWID;";

const RUN_COLUMNS: &str =
    "id, journey, version, person, step, status, due_at, wait_event, entered_at, updated_at, state";
const OUTBOX_COLUMNS: &str = "key, run_id, journey, step, person, channel, payload, priority, status, attempts, next_at, last_error, created_at, sent_at";
const CURSOR_META: &str = "journey_cursor";

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
        let changed = match c.op.as_str() {
            "add" => tx.execute(
                "INSERT OR IGNORE INTO audience_members (audience, person, added_at) VALUES (?1, ?2, ?3)",
                params![c.audience, c.person, c.at],
            )?,
            _ => tx.execute(
                "DELETE FROM audience_members WHERE audience = ?1 AND person = ?2",
                params![c.audience, c.person],
            )?,
        };
        if changed > 0 {
            tx.execute(
                "INSERT INTO audience_changes (audience, person, op, at) VALUES (?1, ?2, ?3, ?4)",
                params![c.audience, c.person, c.op, c.at],
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

impl SqliteStore {
    pub(super) fn journey_write_sql(&self, w: &JourneyWrite) -> Result<()> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            apply(&tx, w)?;
            tx.commit()?;
            Ok(())
        })
    }

    pub(super) fn journey_cursor_sql(&self) -> Result<Option<Seq>> {
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

    pub(super) fn journey_runs_due_sql(
        &self,
        now: Millis,
        limit: usize,
    ) -> Result<Vec<JourneyRun>> {
        self.write(|conn| {
            collect(
                conn,
                &format!("SELECT {RUN_COLUMNS} FROM journey_runs WHERE status = 'active' AND due_at IS NOT NULL AND due_at <= ?1 ORDER BY due_at LIMIT ?2"),
                params![now, sql_limit(limit)],
                run_row,
            )
        })
    }

    pub(super) fn journey_runs_of_sql(&self, persons: &[String]) -> Result<Vec<JourneyRun>> {
        if persons.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|conn| {
            collect(
                conn,
                &format!(
                    "SELECT {RUN_COLUMNS} FROM journey_runs WHERE person IN ({}) ORDER BY entered_at",
                    placeholders(persons.len())
                ),
                params_from_iter(persons),
                run_row,
            )
        })
    }

    pub(super) fn journey_runs_in_sql(&self, journey: &str) -> Result<Vec<JourneyRun>> {
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

    pub(super) fn outbox_where_sql(
        &self,
        status: &str,
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

    pub(super) fn journey_counts_sql(&self, journey: &str) -> Result<Vec<(String, String, i64)>> {
        self.write(|conn| {
            collect(
                conn,
                "SELECT step, metric, n FROM journey_counts WHERE journey = ?1 ORDER BY step, metric",
                [journey],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
    }

    pub(super) fn outbox_due_sql(&self, now: Millis, limit: usize) -> Result<Vec<OutboxItem>> {
        self.write(|conn| {
            collect(
                conn,
                &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending' AND next_at <= ?1 ORDER BY priority DESC, next_at, key LIMIT ?2"),
                params![now, sql_limit(limit)],
                outbox_row,
            )
        })
    }

    pub(super) fn outbox_list_sql(
        &self,
        status: Option<&str>,
        person: Option<&[String]>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>> {
        self.write(|conn| {
            let mut args: Vec<String> = Vec::new();
            let mut clauses: Vec<String> = Vec::new();
            if let Some(s) = status {
                args.push(s.to_string());
                clauses.push(format!("status = ?{}", args.len()));
            }
            if let Some(ids) = person {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let first = args.len() + 1;
                args.extend(ids.iter().cloned());
                let ph: Vec<String> = (first..=args.len()).map(|i| format!("?{i}")).collect();
                clauses.push(format!("person IN ({})", ph.join(", ")));
            }
            let filter = if clauses.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", clauses.join(" AND "))
            };
            let sql = format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox {filter} ORDER BY created_at, key LIMIT {}",
                sql_limit(limit)
            );
            collect(conn, &sql, params_from_iter(args), outbox_row)
        })
    }

    pub(super) fn outbox_item_sql(&self, key: &str) -> Result<Option<OutboxItem>> {
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

    pub(super) fn sends_since_sql(
        &self,
        persons: &[String],
        since: Millis,
    ) -> Result<Vec<(String, Millis)>> {
        if persons.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|conn| {
            let mut args: Vec<rusqlite::types::Value> =
                persons.iter().map(|p| p.clone().into()).collect();
            args.push(since.into());
            collect(
                conn,
                &format!(
                    "SELECT channel, sent_at FROM outbox WHERE person IN ({}) AND status = 'sent' AND sent_at >= ?{}",
                    placeholders(persons.len()),
                    persons.len() + 1
                ),
                params_from_iter(args),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
    }

    pub(super) fn audience_members_sql(&self, audience: &str) -> Result<Vec<(String, Millis)>> {
        self.write(|conn| {
            collect(
                conn,
                "SELECT person, added_at FROM audience_members WHERE audience = ?1 ORDER BY added_at, person",
                [audience],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
    }

    pub(super) fn audience_changes_sql(
        &self,
        audience: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<AudienceChange>> {
        self.write(|conn| {
            collect(
                conn,
                "SELECT seq, audience, person, op, at FROM audience_changes WHERE audience = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                params![audience, after, sql_limit(limit)],
                |r| {
                    Ok(AudienceChange {
                        seq: r.get(0)?,
                        audience: r.get(1)?,
                        person: r.get(2)?,
                        op: r.get(3)?,
                        at: r.get(4)?,
                    })
                },
            )
        })
    }

    /// Deletes the journey rows naming any of `ids`; returns how many went.
    pub(super) fn erase_journey_rows(tx: &Transaction, ids: &[String]) -> Result<u64> {
        let ph = placeholders(ids.len());
        let mut n = 0;
        for table in [
            "journey_runs",
            "outbox",
            "audience_members",
            "audience_changes",
        ] {
            n += tx.execute(
                &format!("DELETE FROM {table} WHERE person IN ({ph})"),
                params_from_iter(ids),
            )? as u64;
        }
        Ok(n)
    }
}
