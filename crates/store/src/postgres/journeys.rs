//! [`JourneyStore`] on PostgreSQL: `journey_runs` and their timers, the `outbox`,
//! `audience_members` with their `audience_changes` stream, and `journey_counts`; the
//! journeys' log cursor is a `meta` row. Statuses and ops are stored as their `as_str` text;
//! one that does not parse reads back as [`crate::StoreError::Corrupt`]. Text keys sort
//! bytewise (`COLLATE "C"`), as SQLite sorts them.

use deadpool_postgres::Transaction;
use tailor_core::Millis;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{PgStore, corrupt, sql_limit};
use crate::journeys::{
    AudienceChange, AudienceOp, CURSOR_META, JourneyRun, JourneyStore, JourneyWrite, OutboxItem,
    OutboxStatus,
};
use crate::{Result, Seq};

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: runs and timers, the outbox, audiences, step counters.
    "CREATE TABLE journey_runs (
        id TEXT COLLATE \"C\" PRIMARY KEY,
        journey TEXT NOT NULL,
        version BIGINT NOT NULL,
        person TEXT NOT NULL,
        step BIGINT NOT NULL,
        status TEXT NOT NULL,
        due_at BIGINT,
        wait_event TEXT,
        entered_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        state TEXT NOT NULL
     );
     CREATE INDEX journey_runs_person ON journey_runs (person);
     CREATE INDEX journey_runs_journey ON journey_runs (journey);
     CREATE INDEX journey_runs_due ON journey_runs (due_at) WHERE status = 'active' AND due_at IS NOT NULL;
     CREATE TABLE outbox (
        key TEXT COLLATE \"C\" PRIMARY KEY,
        run_id TEXT NOT NULL,
        journey TEXT NOT NULL,
        step BIGINT NOT NULL,
        person TEXT NOT NULL,
        channel TEXT NOT NULL,
        payload TEXT NOT NULL,
        priority BIGINT NOT NULL,
        status TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        next_at BIGINT NOT NULL,
        last_error TEXT,
        created_at BIGINT NOT NULL,
        sent_at BIGINT
     );
     CREATE INDEX outbox_due ON outbox (next_at) WHERE status = 'pending';
     CREATE INDEX outbox_person ON outbox (person, sent_at);
     CREATE INDEX outbox_status ON outbox (status);
     CREATE TABLE audience_members (audience TEXT NOT NULL, person TEXT COLLATE \"C\" NOT NULL,
        added_at BIGINT NOT NULL, PRIMARY KEY (audience, person));
     CREATE INDEX audience_members_person ON audience_members (person);
     CREATE TABLE audience_changes (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        audience TEXT NOT NULL, person TEXT NOT NULL, op TEXT NOT NULL, at BIGINT NOT NULL);
     CREATE INDEX audience_changes_person ON audience_changes (person);
     CREATE INDEX audience_changes_audience ON audience_changes (audience, seq);
     CREATE TABLE journey_counts (journey TEXT NOT NULL, step TEXT COLLATE \"C\" NOT NULL,
        metric TEXT COLLATE \"C\" NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (journey, step, metric));",
    // 2: audiences keep each member's hashed match keys, so the `remove` an erasure leaves
    // can name whom an ad platform must drop (identity columns never reuse a position).
    "ALTER TABLE audience_members ADD COLUMN match_keys TEXT;
     ALTER TABLE audience_changes ADD COLUMN match_keys TEXT;",
];

const RUN_COLUMNS: &str =
    "id, journey, version, person, step, status, due_at, wait_event, entered_at, updated_at, state";
const OUTBOX_COLUMNS: &str = "key, run_id, journey, step, person, channel, payload, priority, status, attempts, next_at, last_error, created_at, sent_at";

fn u32_column(r: &Row, i: usize, what: &str) -> Result<u32> {
    u32::try_from(r.get::<_, i64>(i)).map_err(|e| corrupt(what, e))
}

fn run_row(r: &Row) -> Result<JourneyRun> {
    let status: String = r.get(5);
    Ok(JourneyRun {
        id: r.get(0),
        journey: r.get(1),
        version: u32_column(r, 2, "journey run version")?,
        person: r.get(3),
        step: u32_column(r, 4, "journey run step")?,
        status: status.parse().map_err(|e| corrupt("journey run", e))?,
        due_at: r.get(6),
        wait_event: r.get(7),
        entered_at: r.get(8),
        updated_at: r.get(9),
        state: r.get(10),
    })
}

fn outbox_row(r: &Row) -> Result<OutboxItem> {
    let status: String = r.get(8);
    Ok(OutboxItem {
        key: r.get(0),
        run_id: r.get(1),
        journey: r.get(2),
        step: u32_column(r, 3, "outbox step")?,
        person: r.get(4),
        channel: r.get(5),
        payload: r.get(6),
        priority: r.get(7),
        status: status.parse().map_err(|e| corrupt("outbox message", e))?,
        attempts: u32_column(r, 9, "outbox attempts")?,
        next_at: r.get(10),
        last_error: r.get(11),
        created_at: r.get(12),
        sent_at: r.get(13),
    })
}

async fn apply(tx: &Transaction<'_>, w: JourneyWrite) -> Result<()> {
    if !w.runs.is_empty() {
        let upsert = tx
            .prepare_cached(&format!(
                "INSERT INTO journey_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (id) DO UPDATE SET journey = excluded.journey, version = excluded.version,
                    person = excluded.person, step = excluded.step, status = excluded.status,
                    due_at = excluded.due_at, wait_event = excluded.wait_event,
                    entered_at = excluded.entered_at, updated_at = excluded.updated_at, state = excluded.state"
            ))
            .await?;
        for r in &w.runs {
            tx.execute(
                &upsert,
                &[
                    &r.id,
                    &r.journey,
                    &i64::from(r.version),
                    &r.person,
                    &i64::from(r.step),
                    &r.status.as_str(),
                    &r.due_at,
                    &r.wait_event,
                    &r.entered_at,
                    &r.updated_at,
                    &r.state,
                ],
            )
            .await?;
        }
    }
    if !w.new_outbox.is_empty() {
        let insert = tx
            .prepare_cached(&format!(
                "INSERT INTO outbox ({OUTBOX_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                 ON CONFLICT (key) DO NOTHING"
            ))
            .await?;
        for o in &w.new_outbox {
            tx.execute(
                &insert,
                &[
                    &o.key,
                    &o.run_id,
                    &o.journey,
                    &i64::from(o.step),
                    &o.person,
                    &o.channel,
                    &o.payload,
                    &o.priority,
                    &o.status.as_str(),
                    &i64::from(o.attempts),
                    &o.next_at,
                    &o.last_error,
                    &o.created_at,
                    &o.sent_at,
                ],
            )
            .await?;
        }
    }
    if !w.outbox_updates.is_empty() {
        let update = tx
            .prepare_cached(
                "UPDATE outbox SET status = $2, attempts = $3, next_at = $4, last_error = $5, sent_at = $6, payload = $7 WHERE key = $1",
            )
            .await?;
        for o in &w.outbox_updates {
            tx.execute(
                &update,
                &[
                    &o.key,
                    &o.status.as_str(),
                    &i64::from(o.attempts),
                    &o.next_at,
                    &o.last_error,
                    &o.sent_at,
                    &o.payload,
                ],
            )
            .await?;
        }
    }
    for c in &w.audience {
        // The match keys the change records, when the membership changed at all: an add's
        // own; a remove's own or else the membership's.
        let keys: Option<Option<String>> = match c.op {
            AudienceOp::Add => (tx
                .execute(
                    "INSERT INTO audience_members (audience, person, added_at, match_keys) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                    &[&c.audience, &c.person, &c.at, &c.match_keys],
                )
                .await?
                > 0)
            .then(|| c.match_keys.clone()),
            AudienceOp::Remove => tx
                .query_opt(
                    "DELETE FROM audience_members WHERE audience = $1 AND person = $2 RETURNING match_keys",
                    &[&c.audience, &c.person],
                )
                .await?
                .map(|r| c.match_keys.clone().or(r.get(0))),
        };
        if let Some(keys) = keys {
            tx.execute(
                "INSERT INTO audience_changes (audience, person, op, at, match_keys) VALUES ($1, $2, $3, $4, $5)",
                &[&c.audience, &c.person, &c.op.as_str(), &c.at, &keys],
            )
            .await?;
        }
    }
    for c in &w.counts {
        tx.execute(
            "INSERT INTO journey_counts (journey, step, metric, n) VALUES ($1, $2, $3, $4)
             ON CONFLICT (journey, step, metric) DO UPDATE SET n = journey_counts.n + excluded.n",
            &[&c.journey, &c.step, &c.metric, &c.n],
        )
        .await?;
    }
    if let Some(seq) = w.cursor {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&CURSOR_META, &seq.to_string()],
        )
        .await?;
    }
    Ok(())
}

/// Deletes, in `tx`, the journey rows naming any of `ids`, after ending each of their
/// audience memberships with a `remove` that names no one and keeps only the membership's
/// match keys; returns (rows deleted, removals written).
pub(super) async fn erase(
    tx: &Transaction<'_>,
    ids: &Vec<String>,
    at: Millis,
) -> Result<(u64, u64)> {
    // Inserted before the deletions; identity positions are never reused anyway.
    let removals = tx
        .execute(
            "INSERT INTO audience_changes (audience, person, op, at, match_keys)
             SELECT audience, '', 'remove', $2, match_keys FROM audience_members
              WHERE person = ANY($1) ORDER BY audience, added_at",
            &[ids, &at],
        )
        .await?;
    let mut n = 0;
    for table in [
        "journey_runs",
        "outbox",
        "audience_members",
        "audience_changes",
    ] {
        n += tx
            .execute(
                &format!("DELETE FROM {table} WHERE person = ANY($1)"),
                &[ids],
            )
            .await?;
    }
    Ok((n, removals))
}

/// A query's arguments, owned so they can cross onto the store's runtime.
type Args = Vec<Box<dyn ToSql + Send + Sync>>;

impl PgStore {
    /// Rows of `sql` with `args`, decoded by `decode`.
    fn rows<T: Send + 'static>(
        &self,
        sql: String,
        args: Args,
        decode: fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let rows = self.run(|pool| async move {
            let client = pool.get().await?;
            let stmt = client.prepare_cached(&sql).await?;
            let refs: Vec<&(dyn ToSql + Sync)> = args
                .iter()
                .map(|a| a.as_ref() as &(dyn ToSql + Sync))
                .collect();
            Ok(client.query(&stmt, &refs).await?)
        })?;
        rows.iter().map(decode).collect()
    }
}

impl JourneyStore for PgStore {
    fn journey_write(&self, w: &JourneyWrite) -> Result<()> {
        let w = w.clone();
        self.run(|pool| async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            apply(&tx, w).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn journey_cursor(&self) -> Result<Option<Seq>> {
        let v = self.rows(
            "SELECT value FROM meta WHERE key = $1".into(),
            vec![Box::new(CURSOR_META)],
            |r| Ok(r.get::<_, String>(0)),
        )?;
        Ok(v.first().and_then(|s| s.parse().ok()))
    }

    fn journey_runs_due(&self, now: Millis, limit: usize) -> Result<Vec<JourneyRun>> {
        self.rows(
            format!("SELECT {RUN_COLUMNS} FROM journey_runs WHERE status = 'active' AND due_at IS NOT NULL AND due_at <= $1 ORDER BY due_at, id LIMIT $2"),
            vec![Box::new(now), Box::new(sql_limit(limit))],
            run_row,
        )
    }

    fn journey_runs_of(&self, persons: &[String]) -> Result<Vec<JourneyRun>> {
        if persons.is_empty() {
            return Ok(Vec::new());
        }
        self.rows(
            format!("SELECT {RUN_COLUMNS} FROM journey_runs WHERE person = ANY($1) ORDER BY entered_at, id"),
            vec![Box::new(persons.to_vec())],
            run_row,
        )
    }

    fn journey_runs_in(&self, journey: &str) -> Result<Vec<JourneyRun>> {
        self.rows(
            format!(
                "SELECT {RUN_COLUMNS} FROM journey_runs WHERE journey = $1 ORDER BY entered_at, id"
            ),
            vec![Box::new(journey.to_string())],
            run_row,
        )
    }

    fn journey_counts(&self, journey: &str) -> Result<Vec<(String, String, i64)>> {
        self.rows(
            "SELECT step, metric, n FROM journey_counts WHERE journey = $1 ORDER BY step, metric"
                .into(),
            vec![Box::new(journey.to_string())],
            |r| Ok((r.get(0), r.get(1), r.get(2))),
        )
    }

    fn outbox_due(&self, now: Millis, limit: usize) -> Result<Vec<OutboxItem>> {
        self.rows(
            format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status = 'pending' AND next_at <= $1 ORDER BY priority DESC, next_at, key LIMIT $2"),
            vec![Box::new(now), Box::new(sql_limit(limit))],
            outbox_row,
        )
    }

    fn outbox_list(
        &self,
        status: Option<OutboxStatus>,
        persons: Option<&[String]>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>> {
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Args = Vec::new();
        if let Some(ids) = persons {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            args.push(Box::new(ids.to_vec()));
            clauses.push(format!("person = ANY(${})", args.len()));
        }
        if let Some(s) = status {
            args.push(Box::new(s.as_str()));
            clauses.push(format!("status = ${}", args.len()));
        }
        args.push(Box::new(sql_limit(limit)));
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        self.rows(
            format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox {filter} ORDER BY created_at, key LIMIT ${}",
                args.len()
            ),
            args,
            outbox_row,
        )
    }

    fn outbox_where(
        &self,
        status: OutboxStatus,
        journey: Option<&str>,
        channel: Option<&str>,
    ) -> Result<Vec<OutboxItem>> {
        self.rows(
            format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE status = $1 AND ($2::text IS NULL OR journey = $2)
                   AND ($3::text IS NULL OR channel = $3) ORDER BY created_at, key"
            ),
            vec![
                Box::new(status.as_str()),
                Box::new(journey.map(str::to_string)),
                Box::new(channel.map(str::to_string)),
            ],
            outbox_row,
        )
    }

    fn outbox_item(&self, key: &str) -> Result<Option<OutboxItem>> {
        Ok(self
            .rows(
                format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE key = $1"),
                vec![Box::new(key.to_string())],
                outbox_row,
            )?
            .pop())
    }

    fn sends_since(&self, persons: &[String], since: Millis) -> Result<Vec<(String, Millis)>> {
        if persons.is_empty() {
            return Ok(Vec::new());
        }
        self.rows(
            "SELECT channel, sent_at FROM outbox WHERE person = ANY($1) AND status = 'sent' AND sent_at >= $2 ORDER BY sent_at, key".into(),
            vec![Box::new(persons.to_vec()), Box::new(since)],
            |r| Ok((r.get(0), r.get(1))),
        )
    }

    fn audience_members(&self, audience: &str) -> Result<Vec<(String, Millis)>> {
        self.rows(
            "SELECT person, added_at FROM audience_members WHERE audience = $1 ORDER BY added_at, person".into(),
            vec![Box::new(audience.to_string())],
            |r| Ok((r.get(0), r.get(1))),
        )
    }

    fn audience_changes(
        &self,
        audience: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<AudienceChange>> {
        self.rows(
            "SELECT seq, audience, person, op, at, match_keys FROM audience_changes WHERE audience = $1 AND seq > $2 ORDER BY seq LIMIT $3".into(),
            vec![
                Box::new(audience.to_string()),
                Box::new(after),
                Box::new(sql_limit(limit)),
            ],
            |r| {
                let op: String = r.get(3);
                Ok(AudienceChange {
                    seq: r.get(0),
                    audience: r.get(1),
                    person: r.get(2),
                    op: op.parse().map_err(|e| corrupt("audience change", e))?,
                    at: r.get(4),
                    match_keys: r.get(5),
                })
            },
        )
    }

    fn audience_names(&self) -> Result<Vec<(String, u64)>> {
        self.rows(
            "SELECT a.audience, (SELECT count(*) FROM audience_members m WHERE m.audience = a.audience)
               FROM (SELECT DISTINCT audience FROM audience_changes) a ORDER BY a.audience COLLATE \"C\"".into(),
            Vec::new(),
            |r| Ok((r.get(0), r.get::<_, i64>(1) as u64)),
        )
    }
}
