//! [`DecisionLog`] on SQLite. Decisions, their rewards, the items' showing totals and the
//! daily rollups live in their own file, `decisions.db`, with its own connection: the log's
//! writes never wait for the event log's lock nor share its write-ahead log. Rows are compact
//! (`decision_codec`). Exposures stay in `tailor.db`.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use tailor_core::Millis;

use super::decision_codec::{self, Terms, join_id, split_id};
use super::{IN_IDS, SqliteStore, ids_json, sql_limit};
use crate::{DecisionDay, DecisionLog, DecisionRecord, Exposure, Result, Reward, StoreError};

/// Schema migrations of `decisions.db`.
const MIGRATIONS: &[&str] = &[
    // 1: the compact decision log.
    "CREATE TABLE terms (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
     CREATE TABLE decisions (
        seq INTEGER PRIMARY KEY,
        run INTEGER NOT NULL,
        n INTEGER NOT NULL,
        at INTEGER NOT NULL,
        user_id TEXT,
        anonymous_id TEXT,
        body BLOB NOT NULL
     );
     CREATE UNIQUE INDEX decisions_id ON decisions(run, n);
     CREATE INDEX decisions_user ON decisions(user_id) WHERE user_id IS NOT NULL;
     CREATE INDEX decisions_anon ON decisions(anonymous_id) WHERE anonymous_id IS NOT NULL;
     CREATE TABLE rewards (decision_id TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, value REAL NOT NULL, at INTEGER NOT NULL);
     CREATE INDEX rewards_decision ON rewards(decision_id);
     CREATE TABLE shown_totals (item TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
     CREATE TABLE decision_days (day INTEGER NOT NULL, placement TEXT NOT NULL, item TEXT NOT NULL,
        decisions INTEGER NOT NULL, rewarded INTEGER NOT NULL, value REAL NOT NULL,
        PRIMARY KEY (day, placement, item)) WITHOUT ROWID;
     CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
];

/// The columns [`DecisionDb::record`] reads, in its order.
const COLUMNS: &str = "run, n, at, user_id, anonymous_id, body";

/// `decisions.db`'s connection and its terms cache.
pub(super) struct DecisionDb {
    pub conn: Connection,
    terms: Terms,
}

/// Opens (creating if needed) `decisions.db` in `dir`.
pub(super) fn open(dir: &Path) -> Result<DecisionDb> {
    let mut conn = Connection::open(dir.join("decisions.db"))?;
    super::configure(&conn)?;
    super::migrate(&mut conn, MIGRATIONS)?;
    conn.pragma_update(None, "cache_size", -16 * 1024)?;
    conn.pragma_update(None, "journal_size_limit", super::WAL_BOUND as i64)?;
    Ok(DecisionDb {
        conn,
        terms: Terms::default(),
    })
}

type Row = (i64, i64, Millis, Option<String>, Option<String>, Vec<u8>);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

impl DecisionDb {
    /// A stored row as a record.
    fn record(&mut self, (run, n, at, user_id, anonymous_id, body): Row) -> Result<DecisionRecord> {
        let (conn, terms) = (&self.conn, &mut self.terms);
        let mut d = DecisionRecord {
            id: join_id(&terms.text(conn, run)?, n),
            at,
            user_id,
            anonymous_id,
            ..DecisionRecord::default()
        };
        decision_codec::decode(&body, &mut d, &mut |id| terms.text(conn, id))?;
        Ok(d)
    }

    fn records(&mut self, rows: Vec<Row>) -> Result<Vec<DecisionRecord>> {
        rows.into_iter().map(|r| self.record(r)).collect()
    }

    /// Writes `decisions` in one transaction; `count`: add their counted items to the totals.
    fn insert(&mut self, decisions: &[DecisionRecord], count: bool) -> Result<()> {
        let result = (|| {
            let tx = self.conn.transaction()?;
            insert_in(&tx, &mut self.terms, decisions, count)?;
            tx.commit()?;
            Ok(())
        })();
        if result.is_err() {
            // Terms added in the rolled-back transaction are not in the table.
            self.terms.clear();
        }
        result
    }
}

/// Writes `decisions` on `conn` (in the caller's transaction).
fn insert_in(
    conn: &Connection,
    terms: &mut Terms,
    decisions: &[DecisionRecord],
    count: bool,
) -> Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT OR REPLACE INTO decisions (run, n, at, user_id, anonymous_id, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    let mut total = conn.prepare_cached(
        "INSERT INTO shown_totals (item, n) VALUES (?1, ?2) ON CONFLICT (item) DO UPDATE SET n = n + excluded.n",
    )?;
    for d in decisions {
        let (prefix, n) = split_id(&d.id);
        let run = terms.id(conn, prefix)?;
        let body = decision_codec::encode(d, &mut |t| terms.id(conn, t))?;
        insert.execute(params![run, n, d.at, d.user_id, d.anonymous_id, body])?;
        if count {
            for item in d.counted() {
                total.execute(params![item, 1])?;
            }
        }
    }
    Ok(())
}

/// The rewards joined to one decision, in log order.
fn rewards_of(conn: &Connection, id: &str) -> Result<Vec<Reward>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, event, value, at FROM rewards WHERE decision_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([id], |r| {
        Ok(Reward {
            decision_id: id.to_string(),
            seq: r.get(0)?,
            event: r.get(1)?,
            value: r.get(2)?,
            at: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
}

/// The decisions shown to any of the ids in `?1`, oldest first, at most `?2`.
pub(super) fn decisions_of_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM decisions
          WHERE user_id IN ({IN_IDS}) OR anonymous_id IN ({IN_IDS}) ORDER BY at LIMIT ?2"
    )
}

/// The exposures of any of the ids in `?1`, oldest first.
pub(super) fn exposures_of_sql() -> String {
    format!(
        "SELECT experiment, id, variation, at FROM exposures WHERE id IN ({IN_IDS}) ORDER BY at"
    )
}

fn exposure_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Exposure> {
    Ok(Exposure {
        experiment: r.get(0)?,
        id: r.get(1)?,
        variation: r.get(2)?,
        at: r.get(3)?,
    })
}

/// Deletes, in `tx` on `tailor.db`, the exposures of the ids bound as JSON in `ids`.
pub(super) fn erase_exposures(tx: &rusqlite::Transaction<'_>, ids: &str) -> Result<()> {
    tx.execute(
        &format!("DELETE FROM exposures WHERE id IN ({IN_IDS})"),
        [ids],
    )?;
    Ok(())
}

/// Deletes the decisions shown to any of the ids bound as JSON in `ids`, with what they
/// earned, and takes what they counted off the totals; returns how many decisions went.
pub(super) fn erase(db: &mut DecisionDb, ids: &str) -> Result<u64> {
    let theirs: Vec<Row> = {
        let mut stmt = db.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM decisions WHERE user_id IN ({IN_IDS}) OR anonymous_id IN ({IN_IDS})"
        ))?;
        stmt.query_map([ids], row)?
            .collect::<std::result::Result<_, _>>()?
    };
    let records = db.records(theirs)?;
    let tx = db.conn.transaction()?;
    {
        let mut rewards = tx.prepare_cached("DELETE FROM rewards WHERE decision_id = ?1")?;
        let mut total =
            tx.prepare_cached("UPDATE shown_totals SET n = max(n - 1, 0) WHERE item = ?1")?;
        for d in &records {
            rewards.execute([&d.id])?;
            for item in d.counted() {
                total.execute([item])?;
            }
        }
    }
    let decisions = tx.execute(
        &format!("DELETE FROM decisions WHERE user_id IN ({IN_IDS}) OR anonymous_id IN ({IN_IDS})"),
        [ids],
    )?;
    tx.commit()?;
    Ok(decisions as u64)
}

/// Copies a decision log kept in `tailor.db` (before schema 8) into `decisions.db`, once:
/// bodies become compact records, rewards and item totals move as they are.
pub(super) fn copy_legacy(tailor: &Connection, db: &mut DecisionDb) -> Result<()> {
    let legacy: bool = tailor.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'decision_shown'",
        [],
        |r| r.get(0),
    )?;
    let copied: bool = db
        .conn
        .query_row("SELECT 1 FROM meta WHERE key = 'legacy_copied'", [], |_| {
            Ok(())
        })
        .optional()?
        .is_some();
    if !legacy || copied {
        return Ok(());
    }
    let mut stmt = tailor.prepare(
        "SELECT id, at, user_id, anonymous_id, personalized, body FROM decisions ORDER BY at",
    )?;
    let mut rows = stmt.query([])?;
    let mut records = Vec::new();
    while let Some(r) = rows.next()? {
        let body: String = r.get(5)?;
        let body: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        records.push(crate::decisions::legacy_record(
            DecisionRecord {
                id: r.get(0)?,
                at: r.get(1)?,
                user_id: r.get(2)?,
                anonymous_id: r.get(3)?,
                personalized: r.get(4)?,
                ..DecisionRecord::default()
            },
            &body,
        ));
    }
    let totals: Vec<(String, i64)> = tailor
        .prepare("SELECT item, count(*) FROM decision_shown GROUP BY item")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<std::result::Result<_, _>>()?;
    let rewards: Vec<Reward> = tailor
        .prepare("SELECT decision_id, seq, event, value, at FROM rewards")?
        .query_map([], |r| {
            Ok(Reward {
                decision_id: r.get(0)?,
                seq: r.get(1)?,
                event: r.get(2)?,
                value: r.get(3)?,
                at: r.get(4)?,
            })
        })?
        .collect::<std::result::Result<_, _>>()?;
    // One transaction: the flag is set only with everything copied.
    let copy = (|| -> Result<()> {
        let tx = db.conn.transaction()?;
        insert_in(&tx, &mut db.terms, &records, false)?;
        for (item, n) in &totals {
            tx.execute(
                "INSERT INTO shown_totals (item, n) VALUES (?1, ?2) ON CONFLICT (item) DO UPDATE SET n = n + excluded.n",
                params![item, n],
            )?;
        }
        insert_rewards(&tx, &rewards)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('legacy_copied', ?1)",
            [records.len().to_string()],
        )?;
        tx.commit()?;
        Ok(())
    })();
    if let Err(e) = copy {
        db.terms.clear();
        return Err(e);
    }
    tracing::info!(
        decisions = records.len(),
        "moved the decision log into decisions.db"
    );
    Ok(())
}

fn insert_rewards(conn: &Connection, rewards: &[Reward]) -> Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO rewards (decision_id, seq, event, value, at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for r in rewards {
        insert.execute(params![r.decision_id, r.seq, r.event, r.value, r.at])?;
    }
    Ok(())
}

impl SqliteStore {
    pub(super) fn with_decisions<T>(
        &self,
        f: impl FnOnce(&mut DecisionDb) -> Result<T>,
    ) -> Result<T> {
        let mut db = self
            .decisions
            .lock()
            .map_err(|_| StoreError::Backend("decision log lock poisoned".into()))?;
        f(&mut db)
    }
}

impl DecisionLog for SqliteStore {
    fn log_decisions(&self, decisions: &[DecisionRecord]) -> Result<()> {
        self.refuse_when_full()?;
        self.with_decisions(|db| db.insert(decisions, true))
    }

    fn log_rewards(&self, rewards: &[Reward]) -> Result<()> {
        self.with_decisions(|db| {
            let tx = db.conn.transaction()?;
            insert_rewards(&tx, rewards)?;
            tx.commit()?;
            Ok(())
        })
    }

    fn decision(&self, id: &str) -> Result<Option<(DecisionRecord, Vec<Reward>)>> {
        self.with_decisions(|db| {
            let (prefix, n) = split_id(id);
            let Some(run) = db
                .conn
                .query_row("SELECT id FROM terms WHERE text = ?1", [prefix], |r| {
                    r.get::<_, i64>(0)
                })
                .optional()?
            else {
                return Ok(None);
            };
            let found = db
                .conn
                .query_row(
                    &format!("SELECT {COLUMNS} FROM decisions WHERE run = ?1 AND n = ?2"),
                    params![run, n],
                    row,
                )
                .optional()?;
            let Some(found) = found else {
                return Ok(None);
            };
            let record = db.record(found)?;
            let rewards = rewards_of(&db.conn, id)?;
            Ok(Some((record, rewards)))
        })
    }

    fn shown_counts(&self) -> Result<Vec<(String, u64)>> {
        self.with_decisions(|db| {
            let mut stmt = db
                .conn
                .prepare("SELECT item, n FROM shown_totals WHERE n > 0")?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })
    }

    fn recent_decisions(
        &self,
        during: std::ops::Range<Millis>,
        limit: usize,
    ) -> Result<Vec<(DecisionRecord, Vec<Reward>)>> {
        self.with_decisions(|db| {
            // Newest first by `seq`, so a recent range stops the scan early; decisions are
            // logged as they are made, so an old range reads back to it.
            let rows: Vec<Row> = db
                .conn
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM decisions WHERE at >= ?2 AND at < ?3 ORDER BY seq DESC LIMIT ?1"
                ))?
                .query_map(params![sql_limit(limit), during.start, during.end], row)?
                .collect::<std::result::Result<_, _>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows.into_iter().rev() {
                let d = db.record(r)?;
                let rewards = rewards_of(&db.conn, &d.id)?;
                out.push((d, rewards));
            }
            Ok(out)
        })
    }

    fn decisions_of(&self, ids: &[String], limit: usize) -> Result<Vec<DecisionRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids_json(ids)?;
        self.with_decisions(|db| {
            let rows: Vec<Row> = db
                .conn
                .prepare_cached(&decisions_of_sql())?
                .query_map(params![ids, sql_limit(limit)], row)?
                .collect::<std::result::Result<_, _>>()?;
            db.records(rows)
        })
    }

    fn retire_decisions(&self, before: Millis, limit: usize) -> Result<u64> {
        self.with_decisions(|db| {
            let rows: Vec<(i64, Row)> = db
                .conn
                .prepare(&format!(
                    "SELECT seq, {COLUMNS} FROM decisions ORDER BY seq LIMIT ?1"
                ))?
                .query_map([sql_limit(limit)], |r| {
                    Ok((
                        r.get(0)?,
                        (
                            r.get(1)?,
                            r.get(2)?,
                            r.get(3)?,
                            r.get(4)?,
                            r.get(5)?,
                            r.get(6)?,
                        ),
                    ))
                })?
                .collect::<std::result::Result<_, _>>()?;
            // In log order, which is time order but for stragglers of a batch: they go with
            // a later run.
            let old: Vec<(i64, Row)> = rows
                .into_iter()
                .take_while(|(_, r)| r.2 < before)
                .collect();
            let Some(last) = old.last().map(|(seq, _)| *seq) else {
                return Ok(0);
            };
            let retired = old.len();
            let records = db.records(old.into_iter().map(|(_, r)| r).collect())?;
            let ids = ids_json(&records.iter().map(|d| d.id.clone()).collect::<Vec<_>>())?;
            let earned: HashMap<String, f64> = db
                .conn
                .prepare(&format!(
                    "SELECT decision_id, total(value) FROM rewards WHERE decision_id IN ({IN_IDS}) GROUP BY decision_id"
                ))?
                .query_map([&ids], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<std::result::Result<_, _>>()?;
            let days = crate::decisions::day_rollups(&records, &earned);
            let tx = db.conn.transaction()?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO decision_days (day, placement, item, decisions, rewarded, value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (day, placement, item) DO UPDATE SET decisions = decisions + excluded.decisions,
                        rewarded = rewarded + excluded.rewarded, value = value + excluded.value",
                )?;
                for ((day, placement, item), (n, rewarded, value)) in &days {
                    upsert.execute(params![day, placement, item, n, rewarded, value])?;
                }
            }
            tx.execute(
                &format!("DELETE FROM rewards WHERE decision_id IN ({IN_IDS})"),
                [&ids],
            )?;
            tx.execute("DELETE FROM decisions WHERE seq <= ?1", [last])?;
            if retired < limit {
                // Rewards of decisions never logged (or already gone) that are as old.
                tx.execute("DELETE FROM rewards WHERE at < ?1", [before])?;
            }
            tx.commit()?;
            Ok(retired as u64)
        })
    }

    fn decision_days(&self, since: Millis) -> Result<Vec<DecisionDay>> {
        self.with_decisions(|db| {
            let mut stmt = db.conn.prepare(
                "SELECT day, placement, item, decisions, rewarded, value FROM decision_days
                  WHERE day >= ?1 ORDER BY day, placement, item",
            )?;
            let rows = stmt.query_map([since], |r| {
                Ok(DecisionDay {
                    day: r.get(0)?,
                    placement: r.get(1)?,
                    item: r.get(2)?,
                    decisions: r.get::<_, i64>(3)? as u64,
                    rewarded: r.get::<_, i64>(4)? as u64,
                    value: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })
    }

    fn log_exposures(&self, exposures: &[Exposure]) -> Result<()> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO exposures (experiment, id, variation, at) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for e in exposures {
                    insert.execute(params![e.experiment, e.id, e.variation, e.at])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn exposures(&self) -> Result<Vec<Exposure>> {
        self.read(|conn| {
            let mut stmt = conn.prepare("SELECT experiment, id, variation, at FROM exposures")?;
            let rows = stmt.query_map([], exposure_row)?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })
    }

    fn exposures_of(&self, ids: &[String]) -> Result<Vec<Exposure>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids_json(ids)?;
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&exposures_of_sql())?;
            let rows = stmt.query_map([ids], exposure_row)?;
            Ok(rows.collect::<std::result::Result<Vec<_>, _>>()?)
        })
    }
}
