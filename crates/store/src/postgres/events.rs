//! [`EventLog`] on PostgreSQL: the `events` table, indexed by each id field so a person's
//! events are found through the indexes (PostgreSQL maintains them well enough under
//! ingest that SQLite's deferred `event_people` index is not needed here).

use std::collections::HashMap;

use tailor_core::{Message, Millis};
use tokio_postgres::Row;

use super::{APPEND_LOCK, PgStore, sql_limit};
use crate::{EventLog, Result, Seq, StoreError, StoredEvent};

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the log. `event` (a track's name) is a column so retention can keep consent
    // events without parsing bodies.
    "CREATE TABLE events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        message_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        event TEXT,
        user_id TEXT,
        anonymous_id TEXT,
        previous_id TEXT,
        ts BIGINT NOT NULL,
        body TEXT NOT NULL
     );
     CREATE INDEX events_user ON events (user_id);
     CREATE INDEX events_anonymous ON events (anonymous_id);
     CREATE INDEX events_previous ON events (previous_id);",
];

/// The rows naming any of the ids bound as `$1` (a `text[]`).
pub(super) const OF_IDS: &str =
    "(user_id = ANY($1) OR anonymous_id = ANY($1) OR previous_id = ANY($1))";

/// Appends in the messages' order; a `messageId` already stored (or earlier in the same
/// call) is skipped. One statement for the whole group.
const APPEND: &str = "INSERT INTO events (message_id, kind, event, user_id, anonymous_id, previous_id, ts, body)
    SELECT message_id, kind, event, user_id, anonymous_id, previous_id, ts, body
      FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], $8::text[])
           WITH ORDINALITY AS m (message_id, kind, event, user_id, anonymous_id, previous_id, ts, body, n)
     ORDER BY n
    ON CONFLICT (message_id) DO NOTHING
    RETURNING message_id, seq";

fn event_rows(rows: Vec<Row>) -> Result<Vec<StoredEvent>> {
    rows.into_iter()
        .map(|r| {
            let body: String = r.get(1);
            Ok(StoredEvent {
                seq: r.get(0),
                message: serde_json::from_str(&body)?,
            })
        })
        .collect()
}

impl EventLog for PgStore {
    fn append(&self, messages: &[Message]) -> Result<Vec<Option<Seq>>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let n = messages.len();
        let mut message_ids = Vec::with_capacity(n);
        let mut kinds = Vec::with_capacity(n);
        let mut events = Vec::with_capacity(n);
        let mut user_ids = Vec::with_capacity(n);
        let mut anonymous_ids = Vec::with_capacity(n);
        let mut previous_ids = Vec::with_capacity(n);
        let mut timestamps = Vec::with_capacity(n);
        let mut bodies = Vec::with_capacity(n);
        for m in messages {
            message_ids.push(m.message_id.clone());
            kinds.push(m.kind.as_str().to_string());
            events.push(m.event.clone());
            user_ids.push(m.user_id.clone());
            anonymous_ids.push(m.anonymous_id.clone());
            previous_ids.push(m.previous_id.clone());
            timestamps.push(m.timestamp);
            bodies.push(serde_json::to_string(m).map_err(|e| StoreError::Backend(e.to_string()))?);
        }
        let order = message_ids.clone();
        let stored: Vec<(String, Seq)> = self.run(|pool| async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1::text || current_schema()::text))",
                &[&APPEND_LOCK],
            )
            .await?;
            let insert = tx.prepare_cached(APPEND).await?;
            let rows = tx
                .query(
                    &insert,
                    &[
                        &message_ids,
                        &kinds,
                        &events,
                        &user_ids,
                        &anonymous_ids,
                        &previous_ids,
                        &timestamps,
                        &bodies,
                    ],
                )
                .await?;
            tx.commit().await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })?;
        let mut stored: HashMap<String, Seq> = stored.into_iter().collect();
        // The first message with an id got the row; a repeat of it in the call did not.
        Ok(order.iter().map(|id| stored.remove(id)).collect())
    }

    fn events_after(&self, seq: Seq, limit: usize) -> Result<Vec<StoredEvent>> {
        let limit = sql_limit(limit);
        let rows = self.run(|pool| async move {
            let client = pool.get().await?;
            let stmt = client
                .prepare_cached("SELECT seq, body FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
                .await?;
            Ok(client.query(&stmt, &[&seq, &limit]).await?)
        })?;
        event_rows(rows)
    }

    fn events_of(&self, ids: &[String], limit: usize) -> Result<Vec<StoredEvent>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.to_vec();
        let limit = sql_limit(limit);
        let rows = self.run(|pool| async move {
            let client = pool.get().await?;
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT seq, body FROM events WHERE {OF_IDS} ORDER BY seq DESC LIMIT $2"
                ))
                .await?;
            Ok(client.query(&stmt, &[&ids, &limit]).await?)
        })?;
        event_rows(rows)
    }

    fn event_count(&self) -> Result<u64> {
        self.run(|pool| async move {
            let client = pool.get().await?;
            let n: i64 = client
                .query_one("SELECT count(*) FROM events", &[])
                .await?
                .get(0);
            Ok(n as u64)
        })
    }

    fn last_seq(&self) -> Result<Seq> {
        self.run(|pool| async move {
            let client = pool.get().await?;
            Ok(client
                .query_one("SELECT coalesce(max(seq), 0)::int8 FROM events", &[])
                .await?
                .get(0))
        })
    }

    fn delete_events_before(
        &self,
        before: Millis,
        up_to: Seq,
        keep: &[&str],
        limit: usize,
    ) -> Result<u64> {
        let keep: Vec<String> = keep.iter().map(|k| k.to_string()).collect();
        let limit = sql_limit(limit);
        self.run(|pool| async move {
            let client = pool.get().await?;
            // `event = ANY('{}')` is false, so an empty keep list keeps nothing.
            let n = client
                .execute(
                    "DELETE FROM events WHERE seq IN (
                        SELECT seq FROM events
                         WHERE seq <= $1 AND ts < $2 AND NOT (kind = 'track' AND coalesce(event = ANY($3), false))
                         ORDER BY seq LIMIT $4)",
                    &[&up_to, &before, &keep, &limit],
                )
                .await?;
            Ok(n)
        })
    }
}
