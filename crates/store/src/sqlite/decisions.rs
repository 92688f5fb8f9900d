//! [`DecisionLog`] on SQLite: `decisions` (what was shown, as a JSON array), the
//! `decision_shown` rows of items counted against budgets, `rewards`, and `exposures`, all
//! in `tailor.db`.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{IN_IDS, SqliteStore, ids_json, sql_limit};
use crate::{DecisionLog, DecisionRecord, Exposure, Result, Reward, StoreError};

/// The columns [`decision_rows`] reads, in its order.
const DECISION_COLUMNS: &str =
    "id, at, user_id, anonymous_id, personalized, body, coalesce(shown, '[]')";

/// Decisions from a query selecting [`DECISION_COLUMNS`] (without `counted`, which only
/// `decision` reads).
fn decision_rows(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> Result<Vec<DecisionRecord>> {
    let rows = stmt.query_map(params, |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, at, user_id, anonymous_id, personalized, body, shown) = row?;
        let shown = serde_json::from_str(&shown)
            .map_err(|e| StoreError::Corrupt(format!("decision {id}: {e}")))?;
        out.push(DecisionRecord {
            id,
            at,
            user_id,
            anonymous_id,
            personalized,
            shown,
            counted: Vec::new(),
            body,
        });
    }
    Ok(out)
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
        "SELECT {DECISION_COLUMNS} FROM decisions
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

/// Deletes, in `tx`, the decisions shown to any of the ids bound as JSON in `ids`, what
/// they earned and counted, and the ids' exposures; returns how many decisions went.
pub(super) fn erase(tx: &Transaction<'_>, ids: &str) -> Result<u64> {
    let theirs = format!(
        "SELECT id FROM decisions WHERE user_id IN ({IN_IDS}) OR anonymous_id IN ({IN_IDS})"
    );
    tx.execute(
        &format!("DELETE FROM rewards WHERE decision_id IN ({theirs})"),
        [ids],
    )?;
    tx.execute(
        &format!("DELETE FROM decision_shown WHERE decision_id IN ({theirs})"),
        [ids],
    )?;
    let decisions = tx.execute(
        &format!("DELETE FROM decisions WHERE user_id IN ({IN_IDS}) OR anonymous_id IN ({IN_IDS})"),
        [ids],
    )?;
    tx.execute(
        &format!("DELETE FROM exposures WHERE id IN ({IN_IDS})"),
        [ids],
    )?;
    Ok(decisions as u64)
}

impl DecisionLog for SqliteStore {
    fn log_decisions(&self, decisions: &[DecisionRecord]) -> Result<()> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR REPLACE INTO decisions (id, at, user_id, anonymous_id, personalized, body, shown) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                let mut counted = tx.prepare_cached("INSERT INTO decision_shown (item, decision_id) VALUES (?1, ?2)")?;
                for d in decisions {
                    let shown = serde_json::to_string(&d.shown).map_err(|e| StoreError::Backend(e.to_string()))?;
                    insert.execute(params![d.id, d.at, d.user_id, d.anonymous_id, d.personalized, d.body, shown])?;
                    for item in &d.counted {
                        counted.execute(params![item, d.id])?;
                    }
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn log_rewards(&self, rewards: &[Reward]) -> Result<()> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            {
                let mut insert =
                    tx.prepare_cached("INSERT INTO rewards (decision_id, seq, event, value, at) VALUES (?1, ?2, ?3, ?4, ?5)")?;
                for r in rewards {
                    insert.execute(params![r.decision_id, r.seq, r.event, r.value, r.at])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn decision(&self, id: &str) -> Result<Option<(DecisionRecord, Vec<Reward>)>> {
        self.read(|conn| {
            let Some((at, user_id, anonymous_id, personalized, body, shown)) = conn
                .query_row(
                    "SELECT at, user_id, anonymous_id, personalized, body, shown FROM decisions WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get::<_, Option<String>>(5)?)),
                )
                .optional()?
            else {
                return Ok(None);
            };
            let mut stmt = conn.prepare_cached("SELECT item FROM decision_shown WHERE decision_id = ?1")?;
            let counted = stmt.query_map([id], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
            let shown = match shown {
                Some(json) => serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(format!("decision {id}: {e}")))?,
                // Logged before migration 3: every shown item has a row.
                None => counted.clone(),
            };
            let rewards = rewards_of(conn, id)?;
            let record = DecisionRecord { id: id.to_string(), at, user_id, anonymous_id, personalized, shown, counted, body };
            Ok(Some((record, rewards)))
        })
    }

    fn shown_counts(&self) -> Result<Vec<(String, u64)>> {
        self.read(|conn| {
            let mut stmt =
                conn.prepare("SELECT item, count(*) FROM decision_shown GROUP BY item")?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn recent_decisions(&self, limit: usize) -> Result<Vec<(DecisionRecord, Vec<Reward>)>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {DECISION_COLUMNS} FROM decisions ORDER BY at DESC LIMIT {}",
                sql_limit(limit)
            ))?;
            let mut out = decision_rows(&mut stmt, [])?;
            out.reverse();
            out.into_iter()
                .map(|d| {
                    let rewards = rewards_of(conn, &d.id)?;
                    Ok((d, rewards))
                })
                .collect()
        })
    }

    fn decisions_of(&self, ids: &[String], limit: usize) -> Result<Vec<DecisionRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids_json(ids)?;
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&decisions_of_sql())?;
            decision_rows(&mut stmt, params![ids, sql_limit(limit)])
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
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
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
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}
