//! [`EventLog`] on SQLite: the `events` table in `tailor.db`, and `event_people` in
//! `profiles.db`, the person → events index the background thread extends in large sorted
//! batches ([`index_people`]). A person's events are the indexed ones plus a scan of the
//! short unindexed tail of the log ([`person_seqs`]).

use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};
use tailor_core::{Message, Millis};

use super::{IN_IDS, SqliteStore, ids_json, sql_limit};
use crate::{EventLog, Result, Seq, StoreError, StoredEvent};

/// The `p.checkpoint` row recording how far `event_people` indexes the log.
pub(super) const PEOPLE_INDEXED: &str = "people_indexed_seq";
/// Most events indexed per background round.
pub(super) const INDEX_CHUNK: i64 = 200_000;

fn people_watermark(conn: &Connection) -> Result<Seq> {
    Ok(conn
        .query_row(
            "SELECT value FROM p.checkpoint WHERE key = ?1",
            [PEOPLE_INDEXED],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Indexes the next chunk of the log by person; returns how many events it covered.
pub(super) fn index_people(conn: &Connection) -> Result<i64> {
    let from = people_watermark(conn)?;
    let to: Seq = conn
        .query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| {
            r.get::<_, Seq>(0)
        })?
        .min(from + INDEX_CHUNK);
    if to <= from {
        return Ok(0);
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        conn.execute(
            "INSERT OR IGNORE INTO p.event_people (person, seq)
             SELECT person, seq FROM (
                 SELECT user_id AS person, seq FROM events WHERE seq > ?1 AND seq <= ?2 AND user_id IS NOT NULL
                 UNION ALL SELECT anonymous_id, seq FROM events WHERE seq > ?1 AND seq <= ?2 AND anonymous_id IS NOT NULL
                 UNION ALL SELECT previous_id, seq FROM events WHERE seq > ?1 AND seq <= ?2 AND previous_id IS NOT NULL
             ) ORDER BY person, seq",
            params![from, to],
        )?;
        conn.execute(
            "INSERT OR REPLACE INTO p.checkpoint (key, value) VALUES (?1, ?2)",
            params![PEOPLE_INDEXED, to.to_string()],
        )?;
        Ok::<_, StoreError>(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(to - from)
}

/// The seqs of every event naming one of the ids bound as `?1` (see [`IN_IDS`]): indexed
/// ones plus the unindexed tail.
fn person_seqs() -> String {
    format!(
        "SELECT seq FROM p.event_people WHERE person IN ({IN_IDS})
         UNION
         SELECT seq FROM events
          WHERE seq > (SELECT coalesce((SELECT CAST(value AS INTEGER) FROM p.checkpoint WHERE key = '{PEOPLE_INDEXED}'), 0))
            AND (user_id IN ({IN_IDS}) OR anonymous_id IN ({IN_IDS}) OR previous_id IN ({IN_IDS}))"
    )
}

/// The `meta` key of the newest position ever handed out, kept when events are deleted:
/// SQLite gives a new row the largest rowid + 1, so deleting the newest events would hand
/// their positions out again (and cursors past them would skip the new events).
const HIGH_WATER: &str = "events_high_water";

/// Records the newest position before a deletion, in `tx`.
fn remember_high_water(tx: &Transaction<'_>) -> Result<()> {
    tx.execute(
        &format!(
            "INSERT INTO meta (key, value) SELECT '{HIGH_WATER}', coalesce(max(seq), 0) FROM events WHERE true
             ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))"
        ),
        [],
    )?;
    Ok(())
}

/// The position the next event must be past: the newest ever handed out.
fn high_water(tx: &Transaction<'_>) -> Result<Seq> {
    Ok(tx.query_row(
        &format!(
            "SELECT max(coalesce((SELECT max(seq) FROM events), 0),
                        coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = '{HIGH_WATER}'), 0))"
        ),
        [],
        |r| r.get(0),
    )?)
}

/// Deletes the events naming any of `ids` and those ids' index entries, in `tx`; returns
/// how many events went.
pub(super) fn erase(tx: &Transaction<'_>, ids: &str) -> Result<u64> {
    remember_high_water(tx)?;
    let events = tx.execute(
        &format!("DELETE FROM events WHERE seq IN ({})", person_seqs()),
        [ids],
    )?;
    tx.execute(
        &format!("DELETE FROM p.event_people WHERE person IN ({IN_IDS})"),
        [ids],
    )?;
    Ok(events as u64)
}

/// A person's newest events: `?1` their ids, `?2` the limit.
pub(super) fn events_of_sql() -> String {
    format!(
        "SELECT seq, body FROM events WHERE seq IN ({}) ORDER BY seq DESC LIMIT ?2",
        person_seqs()
    )
}

fn decode_event(seq: Seq, body: &str) -> Result<StoredEvent> {
    Ok(StoredEvent {
        seq,
        message: serde_json::from_str(body)?,
    })
}

/// Events from a statement selecting `seq, body`.
fn event_rows(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> Result<Vec<StoredEvent>> {
    let rows = stmt.query_map(params, |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })?;
    rows.map(|r| {
        let (seq, body) = r?;
        decode_event(seq, &body)
    })
    .collect()
}

impl EventLog for SqliteStore {
    fn append(&self, messages: &[Message]) -> Result<Vec<Option<Seq>>> {
        self.refuse_when_full()?;
        self.write(|conn| {
            // Immediate: the transaction reads the high-water mark before it writes, and a
            // deferred one could not then upgrade to a writer while another connection
            // writes (SQLite answers "database is locked" at once instead of waiting).
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut out = Vec::with_capacity(messages.len());
            {
                // Each event at the next position past the newest ever handed out (a
                // rowid of NULL lets SQLite pick max + 1, which is that unless the newest
                // events were deleted).
                let high_water = high_water(&tx)?;
                let mut next = Some(high_water + 1);
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO events (seq, message_id, kind, user_id, anonymous_id, previous_id, ts, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for m in messages {
                    let body = serde_json::to_string(m).map_err(|e| StoreError::Backend(e.to_string()))?;
                    let inserted = insert.execute(params![
                        next,
                        m.message_id,
                        m.kind.as_str(),
                        m.user_id,
                        m.anonymous_id,
                        m.previous_id,
                        m.timestamp,
                        body
                    ])?;
                    if inserted == 1 {
                        next = None;
                    }
                    out.push((inserted == 1).then(|| tx.last_insert_rowid()));
                }
            }
            tx.commit()?;
            Ok(out)
        })
    }

    fn events_after(&self, seq: Seq, limit: usize) -> Result<Vec<StoredEvent>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            event_rows(&mut stmt, params![seq, sql_limit(limit)])
        })
    }

    fn events_of(&self, ids: &[String], limit: usize) -> Result<Vec<StoredEvent>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids_json(ids)?;
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&events_of_sql())?;
            event_rows(&mut stmt, params![ids, sql_limit(limit)])
        })
    }

    fn event_count(&self) -> Result<u64> {
        self.read(|conn| {
            Ok(conn.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    fn last_seq(&self) -> Result<Seq> {
        self.read(|conn| {
            Ok(conn.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))?)
        })
    }

    fn delete_events_before(
        &self,
        before: Millis,
        up_to: Seq,
        keep: &[&str],
        limit: usize,
    ) -> Result<u64> {
        // `keep` is a short fixed list (consent events), so plain placeholders do.
        let keep_clause = if keep.is_empty() {
            String::new()
        } else {
            let ph: Vec<String> = (0..keep.len()).map(|i| format!("?{}", i + 3)).collect();
            format!(
                " AND NOT (kind = 'track' AND json_extract(body, '$.event') IN ({}))",
                ph.join(",")
            )
        };
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut deleted = 0;
            {
                let mut pick = tx.prepare(&format!(
                    "SELECT seq, user_id, anonymous_id, previous_id FROM events
                      WHERE seq <= ?1 AND ts < ?2{keep_clause} ORDER BY seq LIMIT {}",
                    sql_limit(limit)
                ))?;
                let mut args: Vec<rusqlite::types::Value> = vec![up_to.into(), before.into()];
                args.extend(
                    keep.iter()
                        .map(|k| rusqlite::types::Value::from(k.to_string())),
                );
                let picked = pick
                    .query_map(params_from_iter(args), |r| {
                        Ok((
                            r.get::<_, Seq>(0)?,
                            [
                                r.get::<_, Option<String>>(1)?,
                                r.get::<_, Option<String>>(2)?,
                                r.get::<_, Option<String>>(3)?,
                            ],
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                remember_high_water(&tx)?;
                let mut event = tx.prepare_cached("DELETE FROM events WHERE seq = ?1")?;
                let mut person =
                    tx.prepare_cached("DELETE FROM p.event_people WHERE person = ?1 AND seq = ?2")?;
                for (seq, ids) in picked {
                    deleted += event.execute([seq])? as u64;
                    for id in ids.iter().flatten() {
                        person.execute(params![id, seq])?;
                    }
                }
            }
            tx.commit()?;
            Ok(deleted)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::connect;
    use super::*;
    use crate::prelude::*;
    use crate::{PersonKeys, conformance::message};

    #[test]
    fn person_lookups_combine_the_index_and_the_unindexed_tail() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).unwrap();
        s.append(&[
            message("a", "track", Some("u1"), Some("anon1")),
            message("b", "track", Some("u2"), None),
        ])
        .unwrap();
        let conn = connect(dir.path()).unwrap();
        assert_eq!(index_people(&conn).unwrap(), 2);
        assert_eq!(index_people(&conn).unwrap(), 0);
        s.append(&[
            message("c", "track", None, Some("anon1")),
            message("d", "alias", Some("u1"), Some("old")),
        ])
        .unwrap();
        let ids = |v: Vec<StoredEvent>| {
            v.into_iter()
                .map(|e| e.message.message_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(s.events_of(&["u1".into(), "anon1".into()], 10).unwrap()),
            ["d", "c", "a"]
        );
        assert_eq!(ids(s.events_of(&["old".into()], 10).unwrap()), ["d"]);
        assert_eq!(index_people(&conn).unwrap(), 2);
        assert_eq!(
            ids(s.events_of(&["u1".into(), "anon1".into()], 2).unwrap()),
            ["d", "c"]
        );
        let erased = s
            .erase_person(&PersonKeys {
                profile_ids: vec![],
                ids: vec!["u1".into(), "anon1".into(), "old".into()],
                at: 99,
            })
            .unwrap();
        assert_eq!(erased.events, 3);
        let left: i64 = conn
            .query_row("SELECT count(*) FROM p.event_people", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 1, "only u2's entry remains");
        assert_eq!(s.event_count().unwrap(), 1);
    }
}
