//! [`DecisionLog`] on PostgreSQL: `decisions` (the record's body as JSON, see
//! [`crate::decisions::stored_body`]), `shown_totals` (items counted against budgets),
//! `rewards`, the `decision_days` rollups retention leaves, and `exposures`.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::{PgStore, corrupt, sql_limit};
use crate::decisions::{stored_body, with_stored_body};
use crate::{DecisionDay, DecisionLog, DecisionRecord, Exposure, Result, Reward, StoreError};
use tailor_core::Millis;

pub(super) const MIGRATIONS: &[&str] = &[
    // 1: decisions, what they showed and counted, the rewards joined to them, exposures.
    "CREATE TABLE decisions (
        id TEXT PRIMARY KEY,
        at BIGINT NOT NULL,
        user_id TEXT,
        anonymous_id TEXT,
        personalized BOOLEAN NOT NULL,
        body TEXT NOT NULL,
        shown TEXT NOT NULL
     );
     CREATE INDEX decisions_user ON decisions (user_id);
     CREATE INDEX decisions_anonymous ON decisions (anonymous_id);
     CREATE INDEX decisions_at ON decisions (at);
     CREATE TABLE decision_shown (item TEXT NOT NULL, decision_id TEXT NOT NULL);
     CREATE INDEX decision_shown_decision ON decision_shown (decision_id);
     CREATE TABLE rewards (decision_id TEXT NOT NULL, seq BIGINT NOT NULL, event TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL, at BIGINT NOT NULL);
     CREATE INDEX rewards_decision ON rewards (decision_id);
     CREATE TABLE exposures (experiment TEXT NOT NULL, id TEXT NOT NULL, variation BIGINT NOT NULL,
        at BIGINT NOT NULL, PRIMARY KEY (experiment, id));
     CREATE INDEX exposures_id ON exposures (id);",
    // 2: bodies hold the whole record (new rows are marked `"v": 2`; older ones are read
    // as the JSON view they were); per-item totals replace a row per counted show; the
    // daily rollups of retired decisions.
    "ALTER TABLE decisions DROP COLUMN shown;
     CREATE TABLE shown_totals (item TEXT PRIMARY KEY, n BIGINT NOT NULL);
     INSERT INTO shown_totals (item, n) SELECT item, count(*) FROM decision_shown GROUP BY item;
     DROP TABLE decision_shown;
     CREATE TABLE decision_days (day BIGINT NOT NULL, placement TEXT NOT NULL, item TEXT NOT NULL,
        decisions BIGINT NOT NULL, rewarded BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (day, placement, item));",
];

/// The decisions shown to any of the ids bound as `$1`.
const OF_IDS: &str = "(user_id = ANY($1) OR anonymous_id = ANY($1))";
const DECISION_COLUMNS: &str = "id, at, user_id, anonymous_id, personalized, body";

/// A decision from a row of [`DECISION_COLUMNS`].
fn decision_row(r: &Row) -> Result<DecisionRecord> {
    let id: String = r.get(0);
    let body: String = r.get(5);
    let head = DecisionRecord {
        id: id.clone(),
        at: r.get(1),
        user_id: r.get(2),
        anonymous_id: r.get(3),
        personalized: r.get(4),
        ..DecisionRecord::default()
    };
    with_stored_body(head, &body).map_err(|e| corrupt(&format!("decision {id}"), e))
}

/// Each item's count in `counted`, as parallel arrays for `unnest`.
fn tally<'a>(counted: impl Iterator<Item = &'a str>) -> (Vec<String>, Vec<i64>) {
    let mut by_item: HashMap<&str, i64> = HashMap::new();
    for item in counted {
        *by_item.entry(item).or_default() += 1;
    }
    by_item.into_iter().map(|(i, n)| (i.to_string(), n)).unzip()
}

fn reward_row(r: &Row) -> Reward {
    Reward {
        decision_id: r.get(0),
        seq: r.get(1),
        event: r.get(2),
        value: r.get(3),
        at: r.get(4),
    }
}

fn exposure_row(r: &Row) -> Result<Exposure> {
    let variation: i64 = r.get(2);
    Ok(Exposure {
        experiment: r.get(0),
        id: r.get(1),
        variation: u32::try_from(variation).map_err(|e| corrupt("exposure variation", e))?,
        at: r.get(3),
    })
}

const REWARD_COLUMNS: &str = "decision_id, seq, event, value, at";

/// Deletes, in `tx`, the decisions shown to any of `ids` with what they earned, takes what
/// they counted off the totals, and deletes the ids' exposures; returns how many decisions
/// went.
pub(super) async fn erase(tx: &Transaction<'_>, ids: &Vec<String>) -> Result<u64> {
    let rows = tx
        .query(
            &format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE {OF_IDS} FOR UPDATE"),
            &[ids],
        )
        .await?;
    let records = rows.iter().map(decision_row).collect::<Result<Vec<_>>>()?;
    let (items, counts) = tally(records.iter().flat_map(DecisionRecord::counted));
    tx.execute(
        "UPDATE shown_totals t SET n = GREATEST(t.n - c.n, 0)
           FROM unnest($1::text[], $2::int8[]) AS c (item, n) WHERE t.item = c.item",
        &[&items, &counts],
    )
    .await?;
    let theirs = format!("SELECT id FROM decisions WHERE {OF_IDS}");
    tx.execute(
        &format!("DELETE FROM rewards WHERE decision_id IN ({theirs})"),
        &[ids],
    )
    .await?;
    let decisions = tx
        .execute(&format!("DELETE FROM decisions WHERE {OF_IDS}"), &[ids])
        .await?;
    tx.execute("DELETE FROM exposures WHERE id = ANY($1)", &[ids])
        .await?;
    Ok(decisions)
}

impl DecisionLog for PgStore {
    fn log_decisions(&self, decisions: &[DecisionRecord]) -> Result<()> {
        if decisions.is_empty() {
            return Ok(());
        }
        // A logged id is replaced: the last record with an id wins.
        let mut at_index: HashMap<&str, usize> = HashMap::new();
        let mut rows: Vec<&DecisionRecord> = Vec::with_capacity(decisions.len());
        for d in decisions {
            match at_index.get(d.id.as_str()) {
                Some(&i) => rows[i] = d,
                None => {
                    at_index.insert(&d.id, rows.len());
                    rows.push(d);
                }
            }
        }
        let ids: Vec<String> = rows.iter().map(|d| d.id.clone()).collect();
        let ats: Vec<i64> = rows.iter().map(|d| d.at).collect();
        let users: Vec<Option<String>> = rows.iter().map(|d| d.user_id.clone()).collect();
        let anons: Vec<Option<String>> = rows.iter().map(|d| d.anonymous_id.clone()).collect();
        let personalized: Vec<bool> = rows.iter().map(|d| d.personalized).collect();
        let bodies = rows
            .iter()
            .map(|d| stored_body(d))
            .collect::<Result<Vec<String>, _>>()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        // Every record's counted items, repeats included (as SQLite adds them).
        let (items, counts) = tally(decisions.iter().flat_map(DecisionRecord::counted));
        self.run(|pool| async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            let insert = tx
                .prepare_cached(
                    "INSERT INTO decisions (id, at, user_id, anonymous_id, personalized, body)
                     SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::bool[], $6::text[])
                     ON CONFLICT (id) DO UPDATE SET at = excluded.at, user_id = excluded.user_id,
                        anonymous_id = excluded.anonymous_id, personalized = excluded.personalized,
                        body = excluded.body",
                )
                .await?;
            tx.execute(&insert, &[&ids, &ats, &users, &anons, &personalized, &bodies])
                .await?;
            if !items.is_empty() {
                // Sorted by item (the tally's order is a hash map's), so concurrent
                // writers lock rows in one order.
                let counted = tx
                    .prepare_cached(
                        "INSERT INTO shown_totals (item, n)
                         SELECT item, n FROM unnest($1::text[], $2::int8[]) AS c (item, n) ORDER BY item
                         ON CONFLICT (item) DO UPDATE SET n = shown_totals.n + excluded.n",
                    )
                    .await?;
                tx.execute(&counted, &[&items, &counts]).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn log_rewards(&self, rewards: &[Reward]) -> Result<()> {
        if rewards.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = rewards.iter().map(|r| r.decision_id.clone()).collect();
        let seqs: Vec<i64> = rewards.iter().map(|r| r.seq).collect();
        let events: Vec<String> = rewards.iter().map(|r| r.event.clone()).collect();
        let values: Vec<f64> = rewards.iter().map(|r| r.value).collect();
        let ats: Vec<i64> = rewards.iter().map(|r| r.at).collect();
        self.run(|pool| async move {
            let client = pool.get().await?;
            client
                .execute(
                    "INSERT INTO rewards (decision_id, seq, event, value, at)
                     SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::float8[], $5::int8[])",
                    &[&ids, &seqs, &events, &values, &ats],
                )
                .await?;
            Ok(())
        })
    }

    fn decision(&self, id: &str) -> Result<Option<(DecisionRecord, Vec<Reward>)>> {
        let id = id.to_string();
        let found = self.run(|pool| async move {
            let client = pool.get().await?;
            let Some(row) = client
                .query_opt(
                    &format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE id = $1"),
                    &[&id],
                )
                .await?
            else {
                return Ok(None);
            };
            let rewards = client
                .query(
                    &format!(
                        "SELECT {REWARD_COLUMNS} FROM rewards WHERE decision_id = $1 ORDER BY seq"
                    ),
                    &[&id],
                )
                .await?;
            Ok(Some((row, rewards)))
        })?;
        let Some((row, rewards)) = found else {
            return Ok(None);
        };
        Ok(Some((
            decision_row(&row)?,
            rewards.iter().map(reward_row).collect(),
        )))
    }

    fn shown_counts(&self) -> Result<Vec<(String, u64)>> {
        self.run(|pool| async move {
            let client = pool.get().await?;
            Ok(client
                .query(
                    "SELECT item, n FROM shown_totals WHERE n > 0 ORDER BY item",
                    &[],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
                .collect())
        })
    }

    fn recent_decisions(
        &self,
        during: std::ops::Range<Millis>,
        limit: usize,
    ) -> Result<Vec<(DecisionRecord, Vec<Reward>)>> {
        let limit = sql_limit(limit);
        let (from, to) = (during.start, during.end);
        let (rows, rewards) = self.run(|pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    &format!(
                        "SELECT {DECISION_COLUMNS} FROM decisions WHERE at >= $2 AND at < $3 ORDER BY at DESC, id DESC LIMIT $1"
                    ),
                    &[&limit, &from, &to],
                )
                .await?;
            let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            let rewards = client
                .query(
                    &format!(
                        "SELECT {REWARD_COLUMNS} FROM rewards WHERE decision_id = ANY($1) ORDER BY seq"
                    ),
                    &[&ids],
                )
                .await?;
            Ok((rows, rewards))
        })?;
        let mut by_decision: HashMap<String, Vec<Reward>> = HashMap::new();
        for r in &rewards {
            let reward = reward_row(r);
            by_decision
                .entry(reward.decision_id.clone())
                .or_default()
                .push(reward);
        }
        let mut out = rows
            .iter()
            .map(|r| {
                let d = decision_row(r)?;
                let rewards = by_decision.remove(&d.id).unwrap_or_default();
                Ok((d, rewards))
            })
            .collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    fn decisions_of(&self, ids: &[String], limit: usize) -> Result<Vec<DecisionRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.to_vec();
        let limit = sql_limit(limit);
        let rows = self.run(|pool| async move {
            let client = pool.get().await?;
            let stmt = client
                .prepare_cached(&format!(
                    "SELECT {DECISION_COLUMNS} FROM decisions WHERE {OF_IDS} ORDER BY at, id LIMIT $2"
                ))
                .await?;
            Ok(client.query(&stmt, &[&ids, &limit]).await?)
        })?;
        rows.iter().map(decision_row).collect()
    }

    fn retire_decisions(&self, before: Millis, limit: usize) -> Result<u64> {
        let limit = sql_limit(limit);
        self.run(|pool| async move {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            let rows = tx
                .query(
                    &format!(
                        "SELECT {DECISION_COLUMNS} FROM decisions WHERE at < $1 ORDER BY at, id LIMIT $2 FOR UPDATE"
                    ),
                    &[&before, &limit],
                )
                .await?;
            let records = rows.iter().map(decision_row).collect::<Result<Vec<_>>>()?;
            let ids: Vec<String> = records.iter().map(|d| d.id.clone()).collect();
            let earned: HashMap<String, f64> = tx
                .query(
                    "SELECT decision_id, sum(value) FROM rewards WHERE decision_id = ANY($1) GROUP BY decision_id",
                    &[&ids],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let days = crate::decisions::day_rollups(&records, &earned);
            let mut keys: Vec<_> = days.into_iter().collect();
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            let (mut day, mut placement, mut item) = (Vec::new(), Vec::new(), Vec::new());
            let (mut decided, mut rewarded, mut value) = (Vec::new(), Vec::new(), Vec::new());
            for ((d, p, i), (n, r, v)) in keys {
                day.push(d);
                placement.push(p.to_string());
                item.push(i.to_string());
                decided.push(n);
                rewarded.push(r);
                value.push(v);
            }
            tx.execute(
                "INSERT INTO decision_days (day, placement, item, decisions, rewarded, value)
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::float8[])
                 ON CONFLICT (day, placement, item) DO UPDATE SET
                    decisions = decision_days.decisions + excluded.decisions,
                    rewarded = decision_days.rewarded + excluded.rewarded,
                    value = decision_days.value + excluded.value",
                &[&day, &placement, &item, &decided, &rewarded, &value],
            )
            .await?;
            tx.execute("DELETE FROM rewards WHERE decision_id = ANY($1)", &[&ids])
                .await?;
            tx.execute("DELETE FROM decisions WHERE id = ANY($1)", &[&ids])
                .await?;
            if (records.len() as i64) < limit {
                // Rewards of decisions never logged (or already gone) that are as old.
                tx.execute("DELETE FROM rewards WHERE at < $1", &[&before])
                    .await?;
            }
            tx.commit().await?;
            Ok(records.len() as u64)
        })
    }

    fn decision_days(&self, since: Millis) -> Result<Vec<DecisionDay>> {
        self.run(|pool| async move {
            let client = pool.get().await?;
            Ok(client
                .query(
                    "SELECT day, placement, item, decisions, rewarded, value FROM decision_days
                      WHERE day >= $1 ORDER BY day, placement, item",
                    &[&since],
                )
                .await?
                .iter()
                .map(|r| DecisionDay {
                    day: r.get(0),
                    placement: r.get(1),
                    item: r.get(2),
                    decisions: r.get::<_, i64>(3) as u64,
                    rewarded: r.get::<_, i64>(4) as u64,
                    value: r.get(5),
                })
                .collect())
        })
    }

    fn log_exposures(&self, exposures: &[Exposure]) -> Result<()> {
        if exposures.is_empty() {
            return Ok(());
        }
        let experiments: Vec<String> = exposures.iter().map(|e| e.experiment.clone()).collect();
        let ids: Vec<String> = exposures.iter().map(|e| e.id.clone()).collect();
        let variations: Vec<i64> = exposures.iter().map(|e| i64::from(e.variation)).collect();
        let ats: Vec<i64> = exposures.iter().map(|e| e.at).collect();
        self.run(|pool| async move {
            let client = pool.get().await?;
            // In order, so the first of two exposures in one call is the one kept.
            client
                .execute(
                    "INSERT INTO exposures (experiment, id, variation, at)
                     SELECT experiment, id, variation, at
                       FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[])
                            WITH ORDINALITY AS e (experiment, id, variation, at, n)
                      ORDER BY n
                     ON CONFLICT (experiment, id) DO NOTHING",
                    &[&experiments, &ids, &variations, &ats],
                )
                .await?;
            Ok(())
        })
    }

    fn exposures(&self) -> Result<Vec<Exposure>> {
        let rows = self.run(|pool| async move {
            let client = pool.get().await?;
            Ok(client
                .query(
                    "SELECT experiment, id, variation, at FROM exposures ORDER BY experiment, id",
                    &[],
                )
                .await?)
        })?;
        rows.iter().map(exposure_row).collect()
    }

    fn exposures_of(&self, ids: &[String]) -> Result<Vec<Exposure>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.to_vec();
        let rows = self.run(|pool| async move {
            let client = pool.get().await?;
            Ok(client
                .query(
                    "SELECT experiment, id, variation, at FROM exposures WHERE id = ANY($1)
                      ORDER BY at, experiment, id",
                    &[&ids],
                )
                .await?)
        })?;
        rows.iter().map(exposure_row).collect()
    }
}
