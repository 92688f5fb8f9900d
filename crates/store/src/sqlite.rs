//! The embedded default: SQLite in WAL mode, two files in the data directory.
//!
//! `tailor.db` holds the event log, the catalog and metadata. One connection writes (the
//! engine's writer thread batches many messages into one transaction: group commit),
//! another reads, so reads never wait behind a commit, and a background thread moves WAL
//! frames into the file so commits never pay for that.
//!
//! `profiles.db` holds profile checkpoints, the identity index, and `event_people`, the
//! index from a person's ids to their events. It is a separate file so that writing a large
//! checkpoint never holds the event log's write lock: ingest goes on while profiles are saved.
//! The events table has no per-person index of its own, since maintaining one on every
//! commit (random keys, a page written per event) cost two thirds of ingest throughput.
//! Instead the background thread indexes new events in large sorted batches, and lookups
//! scan the short unindexed tail of the log.
//!
//! `synchronous=FULL` makes a returned `append` survive power loss, not just a crash;
//! `secure_delete` makes erased rows unreadable in the file.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use tailor_core::{ContentItem, Message, Product};

use crate::{
    AuditEntry, Checkpoint, DecisionRecord, Erased, Exposure, PersonKeys, ProfileRow, Result,
    Reward, Seq, Snapshot, Store, StoreError, StoredEvent,
};

/// Schema migrations of `tailor.db`, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: event log, catalog, metadata.
    "CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        message_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        user_id TEXT,
        anonymous_id TEXT,
        previous_id TEXT,
        ts INTEGER NOT NULL,
        body TEXT NOT NULL
     );
     CREATE TABLE products (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
     CREATE TABLE content (id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
     CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
    DECISIONS_SCHEMA,
    // 3: what a decision showed, as one JSON array; `decision_shown` keeps only the items
    // counted against budgets (ten rows per decision were a fifth of its logging cost).
    "ALTER TABLE decisions ADD COLUMN shown TEXT;",
    // 4: erasure: suppression records (salted hashes of erased ids) and the audit log.
    "CREATE TABLE suppressed (hash TEXT PRIMARY KEY) WITHOUT ROWID;
     CREATE TABLE audit (at INTEGER NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL);",
    // 5: experiment exposures (first exposure per experiment and id).
    "CREATE TABLE exposures (experiment TEXT NOT NULL, id TEXT NOT NULL, variation INTEGER NOT NULL, at INTEGER NOT NULL,
        PRIMARY KEY (experiment, id)) WITHOUT ROWID;
     CREATE INDEX exposures_id ON exposures(id);",
    // 6: journeys: runs and timers, the outbox, audiences, step counters.
    journeys_sql::JOURNEYS_SCHEMA,
];

/// The checkpoint row that records the log position the saved profiles cover.
const CHECKPOINT_SEQ: &str = "checkpoint_seq";

/// Migration 2 of `tailor.db`: the decision log and the rewards joined to it.
const DECISIONS_SCHEMA: &str = "CREATE TABLE decisions (
        id TEXT PRIMARY KEY,
        at INTEGER NOT NULL,
        user_id TEXT,
        anonymous_id TEXT,
        personalized INTEGER NOT NULL,
        body TEXT NOT NULL
     ) WITHOUT ROWID;
     CREATE INDEX decisions_user ON decisions(user_id) WHERE user_id IS NOT NULL;
     CREATE INDEX decisions_anon ON decisions(anonymous_id) WHERE anonymous_id IS NOT NULL;
     CREATE TABLE decision_shown (item TEXT NOT NULL, decision_id TEXT NOT NULL);
     CREATE TABLE rewards (decision_id TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, value REAL NOT NULL, at INTEGER NOT NULL);
     CREATE INDEX rewards_decision ON rewards(decision_id);";

/// Schema migrations of `profiles.db`.
const PROFILE_MIGRATIONS: &[&str] = &[
    // 1: profile state, the identity index, checkpoint metadata.
    "CREATE TABLE profiles (id INTEGER PRIMARY KEY, state BLOB NOT NULL);
     CREATE TABLE identities (identity TEXT PRIMARY KEY, profile_id INTEGER NOT NULL) WITHOUT ROWID;
     CREATE INDEX identities_profile ON identities(profile_id);
     CREATE TABLE checkpoint (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
     CREATE TABLE event_people (person TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (person, seq)) WITHOUT ROWID;",
];

/// The `checkpoint` row recording how far `event_people` indexes the log.
const PEOPLE_INDEXED: &str = "people_indexed_seq";
/// Most events indexed per background round.
const INDEX_CHUNK: i64 = 200_000;

pub struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    profiles: Mutex<Connection>,
    // Held for its Drop: stops the thread and truncates the WAL.
    _checkpointer: Option<Checkpointer>,
}

/// Moves committed WAL frames into the database file on its own thread and connection,
/// so the writer's commits never pay for it (SQLite's auto-checkpoint would run inside
/// the committing transaction).
struct Checkpointer {
    stop: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How often the background checkpoint runs.
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

fn start_checkpointer(dir: &Path) -> Result<Checkpointer> {
    let conn = connect(dir)?;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("tailor-wal-checkpoint".into())
        .spawn(move || {
            loop {
                let stopping = !matches!(
                    stopped.recv_timeout(CHECKPOINT_INTERVAL),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                );
                // Catch up fully before stopping, so the next start has no long tail.
                while let Ok(n) = index_people(&conn) {
                    if n < INDEX_CHUNK {
                        break;
                    }
                }
                if let Err(e) =
                    conn.query_row("PRAGMA main.wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
                }
                if stopping {
                    break;
                }
            }
            let _ = conn.query_row("PRAGMA main.wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        })
        .map_err(|e| StoreError::Backend(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(Checkpointer {
        stop,
        thread: Some(thread),
    })
}

/// A connection to `tailor.db` with `profiles.db` attached as `p`.
fn connect(dir: &Path) -> Result<Connection> {
    let conn = Connection::open(dir.join("tailor.db"))?;
    configure(&conn)?;
    conn.execute(
        "ATTACH DATABASE ?1 AS p",
        [dir.join("profiles.db").to_string_lossy()],
    )?;
    conn.pragma_update(Some("p"), "journal_mode", "WAL")?;
    conn.pragma_update(Some("p"), "synchronous", "FULL")?;
    conn.pragma_update(Some("p"), "secure_delete", "ON")?;
    Ok(conn)
}

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
fn index_people(conn: &Connection) -> Result<i64> {
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

/// A row limit as SQLite takes it: `usize::MAX` ("all") does not fit its integers.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The seqs of every event naming one of `ids`: indexed ones plus the unindexed tail.
fn person_seqs_sql(n: usize) -> String {
    let ph = placeholders(n);
    format!(
        "SELECT seq FROM p.event_people WHERE person IN ({ph})
         UNION
         SELECT seq FROM events
          WHERE seq > (SELECT coalesce((SELECT CAST(value AS INTEGER) FROM p.checkpoint WHERE key = '{PEOPLE_INDEXED}'), 0))
            AND (user_id IN ({ph}) OR anonymous_id IN ({ph}) OR previous_id IN ({ph}))"
    )
}

impl SqliteStore {
    /// Opens (creating if needed) `tailor.db` in `dir` and brings its schema up to date.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Backend(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let mut writer = Connection::open(dir.join("tailor.db"))?;
        configure(&writer)?;
        migrate(&mut writer, MIGRATIONS)?;
        let mut profiles = Connection::open(dir.join("profiles.db"))?;
        configure(&profiles)?;
        migrate(&mut profiles, PROFILE_MIGRATIONS)?;
        drop(writer);
        let writer = connect(dir)?;
        // The writer keeps a large page cache (indexes stay hot) and leaves checkpoints
        // to the checkpointer thread.
        writer.pragma_update(None, "cache_size", -64 * 1024)?;
        writer.pragma_update(None, "wal_autocheckpoint", 0)?;
        let reader = connect(dir)?;
        let checkpointer = Some(start_checkpointer(dir)?);
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            profiles: Mutex::new(profiles),
            _checkpointer: checkpointer,
        })
    }

    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| StoreError::Backend("writer lock poisoned".into()))?;
        f(&mut conn)
    }

    fn with_profiles<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self
            .profiles
            .lock()
            .map_err(|_| StoreError::Backend("profiles lock poisoned".into()))?;
        f(&mut conn)
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| StoreError::Backend("reader lock poisoned".into()))?;
        f(&conn)
    }
}

#[path = "sqlite_journeys.rs"]
mod journeys_sql;

fn configure(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(())
}

fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let supported = migrations.len() as i64;
    if version > supported {
        return Err(StoreError::TooNew {
            found: version,
            supported,
        });
    }
    for (i, sql) in migrations.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(
            file = conn.path().unwrap_or("?"),
            version = i + 1,
            "applied schema migration"
        );
    }
    Ok(())
}

fn decode_event(seq: Seq, body: &str) -> Result<StoredEvent> {
    Ok(StoredEvent {
        seq,
        message: serde_json::from_str(body)?,
    })
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

impl Store for SqliteStore {
    fn append(&self, messages: &[Message]) -> Result<Vec<Option<Seq>>> {
        self.write(|conn| {
            let tx = conn.transaction()?;
            let mut out = Vec::with_capacity(messages.len());
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR IGNORE INTO events (message_id, kind, user_id, anonymous_id, previous_id, ts, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for m in messages {
                    let body = serde_json::to_string(m).map_err(|e| StoreError::Backend(e.to_string()))?;
                    let inserted = insert.execute(params![
                        m.message_id,
                        m.kind.as_str(),
                        m.user_id,
                        m.anonymous_id,
                        m.previous_id,
                        m.timestamp,
                        body
                    ])?;
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
            let rows = stmt.query_map(params![seq, sql_limit(limit)], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?;
            rows.map(|r| {
                let (seq, body) = r?;
                decode_event(seq, &body)
            })
            .collect()
        })
    }

    fn events_of(&self, ids: &[String], limit: usize) -> Result<Vec<StoredEvent>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|conn| {
            let sql = format!(
                "SELECT seq, body FROM events WHERE seq IN ({}) ORDER BY seq DESC LIMIT {}",
                person_seqs_sql(ids.len()),
                sql_limit(limit)
            );
            let mut stmt = conn.prepare(&sql)?;
            let args = ids.iter().chain(ids).chain(ids).chain(ids);
            let rows = stmt.query_map(params_from_iter(args), |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?;
            rows.map(|r| {
                let (seq, body) = r?;
                decode_event(seq, &body)
            })
            .collect()
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

    fn checkpoint(&self, cp: &Checkpoint) -> Result<()> {
        self.with_profiles(|conn| {
            let tx = conn.transaction()?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT OR REPLACE INTO profiles (id, state) VALUES (?1, ?2)",
                )?;
                for p in &cp.upsert_profiles {
                    upsert.execute(params![p.id as i64, p.state])?;
                }
                let mut delete = tx.prepare_cached("DELETE FROM profiles WHERE id = ?1")?;
                for id in &cp.delete_profiles {
                    delete.execute(params![*id as i64])?;
                }
                let mut ident = tx.prepare_cached(
                    "INSERT OR REPLACE INTO identities (identity, profile_id) VALUES (?1, ?2)",
                )?;
                for (identity, id) in &cp.upsert_identities {
                    ident.execute(params![identity, *id as i64])?;
                }
                let mut meta = tx.prepare_cached(
                    "INSERT OR REPLACE INTO checkpoint (key, value) VALUES (?1, ?2)",
                )?;
                for (k, v) in &cp.meta {
                    meta.execute(params![k, v])?;
                }
                meta.execute(params![CHECKPOINT_SEQ, cp.seq.to_string()])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn snapshot(&self) -> Result<Snapshot> {
        self.with_profiles(|conn| {
            let mut stmt = conn.prepare("SELECT key, value FROM checkpoint")?;
            let mut meta = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            let seq = match meta.iter().position(|(k, _)| k == CHECKPOINT_SEQ) {
                Some(i) => {
                    let (_, v) = meta.remove(i);
                    v.parse::<Seq>()
                        .map_err(|e| StoreError::Corrupt(format!("{CHECKPOINT_SEQ}: {e}")))?
                }
                None => 0,
            };
            let mut stmt = conn.prepare("SELECT id, state FROM profiles")?;
            let profiles = stmt
                .query_map([], |r| {
                    Ok(ProfileRow {
                        id: r.get::<_, i64>(0)? as u64,
                        state: r.get(1)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut stmt = conn.prepare("SELECT identity, profile_id FROM identities")?;
            let identities = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Snapshot {
                seq,
                profiles,
                identities,
                meta,
            })
        })
    }

    fn checkpointed_seq(&self) -> Result<Seq> {
        self.with_profiles(|conn| {
            let v: Option<String> = conn
                .query_row(
                    "SELECT value FROM checkpoint WHERE key = ?1",
                    [CHECKPOINT_SEQ],
                    |r| r.get(0),
                )
                .optional()?;
            v.map_or(Ok(0), |v| {
                v.parse::<Seq>()
                    .map_err(|e| StoreError::Corrupt(format!("{CHECKPOINT_SEQ}: {e}")))
            })
        })
    }

    fn delete_events_before(
        &self,
        before: tailor_core::Millis,
        up_to: Seq,
        keep: &[&str],
        limit: usize,
    ) -> Result<u64> {
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
            let tx = conn.transaction()?;
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

    fn put_products(&self, products: &[Product]) -> Result<()> {
        put_json(
            self,
            "products",
            products
                .iter()
                .map(|p| (p.id.as_str(), serde_json::to_string(p))),
        )
    }

    fn delete_product(&self, id: &str) -> Result<bool> {
        self.write(|conn| Ok(conn.execute("DELETE FROM products WHERE id = ?1", [id])? > 0))
    }

    fn products(&self) -> Result<Vec<Product>> {
        all_json(self, "products")
    }

    fn put_content(&self, items: &[ContentItem]) -> Result<()> {
        put_json(
            self,
            "content",
            items
                .iter()
                .map(|c| (c.id.as_str(), serde_json::to_string(c))),
        )
    }

    fn delete_content(&self, id: &str) -> Result<bool> {
        self.write(|conn| Ok(conn.execute("DELETE FROM content WHERE id = ?1", [id])? > 0))
    }

    fn content(&self) -> Result<Vec<ContentItem>> {
        all_json(self, "content")
    }

    fn get_meta(&self, key: &str) -> Result<Option<String>> {
        self.read(|conn| {
            Ok(conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?)
        })
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                [key, value],
            )?;
            Ok(())
        })
    }

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
            let ids = &person.ids;
            self.write(|conn| {
                let tx = conn.transaction()?;
                let args = ids.iter().chain(ids).chain(ids).chain(ids);
                erased.events = tx.execute(
                    &format!(
                        "DELETE FROM events WHERE seq IN ({})",
                        person_seqs_sql(ids.len())
                    ),
                    params_from_iter(args),
                )? as u64;
                let ph = placeholders(ids.len());
                tx.execute(
                    &format!("DELETE FROM p.event_people WHERE person IN ({ph})"),
                    params_from_iter(ids),
                )?;
                // Decisions shown to them, and what those decisions earned.
                let theirs = format!(
                    "SELECT id FROM decisions WHERE user_id IN ({ph}) OR anonymous_id IN ({ph})"
                );
                let args = || ids.iter().chain(ids);
                tx.execute(
                    &format!("DELETE FROM rewards WHERE decision_id IN ({theirs})"),
                    params_from_iter(args()),
                )?;
                tx.execute(
                    &format!("DELETE FROM decision_shown WHERE decision_id IN ({theirs})"),
                    params_from_iter(args()),
                )?;
                erased.decisions = tx.execute(
                    &format!(
                        "DELETE FROM decisions WHERE user_id IN ({ph}) OR anonymous_id IN ({ph})"
                    ),
                    params_from_iter(args()),
                )? as u64;
                tx.execute(
                    &format!("DELETE FROM exposures WHERE id IN ({ph})"),
                    params_from_iter(ids),
                )?;
                erased.journeys = SqliteStore::erase_journey_rows(&tx, ids)?;
                tx.commit()?;
                Ok(())
            })?;
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
        self.read(|conn| {
            let ph = placeholders(ids.len());
            let mut stmt = conn.prepare(&format!(
                "SELECT {DECISION_COLUMNS} FROM decisions
                  WHERE user_id IN ({ph}) OR anonymous_id IN ({ph}) ORDER BY at LIMIT {}",
                sql_limit(limit)
            ))?;
            decision_rows(&mut stmt, params_from_iter(ids.iter().chain(ids)))
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
            let rows = stmt.query_map([], |r| {
                Ok(Exposure {
                    experiment: r.get(0)?,
                    id: r.get(1)?,
                    variation: r.get(2)?,
                    at: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn exposures_of(&self, ids: &[String]) -> Result<Vec<Exposure>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT experiment, id, variation, at FROM exposures WHERE id IN ({}) ORDER BY at",
                placeholders(ids.len())
            ))?;
            let rows = stmt.query_map(params_from_iter(ids), |r| {
                Ok(Exposure {
                    experiment: r.get(0)?,
                    id: r.get(1)?,
                    variation: r.get(2)?,
                    at: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
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

    fn journey_write(&self, write: &crate::JourneyWrite) -> Result<()> {
        self.journey_write_sql(write)
    }
    fn journey_cursor(&self) -> Result<Option<Seq>> {
        self.journey_cursor_sql()
    }
    fn journey_runs_due(
        &self,
        now: tailor_core::Millis,
        limit: usize,
    ) -> Result<Vec<crate::JourneyRun>> {
        self.journey_runs_due_sql(now, limit)
    }
    fn journey_runs_of(&self, persons: &[String]) -> Result<Vec<crate::JourneyRun>> {
        self.journey_runs_of_sql(persons)
    }
    fn journey_runs_in(&self, journey: &str) -> Result<Vec<crate::JourneyRun>> {
        self.journey_runs_in_sql(journey)
    }
    fn outbox_where(
        &self,
        status: &str,
        journey: Option<&str>,
        channel: Option<&str>,
    ) -> Result<Vec<crate::OutboxItem>> {
        self.outbox_where_sql(status, journey, channel)
    }
    fn journey_counts(&self, journey: &str) -> Result<Vec<(String, String, i64)>> {
        self.journey_counts_sql(journey)
    }
    fn outbox_due(&self, now: tailor_core::Millis, limit: usize) -> Result<Vec<crate::OutboxItem>> {
        self.outbox_due_sql(now, limit)
    }
    fn outbox_list(
        &self,
        status: Option<&str>,
        persons: Option<&[String]>,
        limit: usize,
    ) -> Result<Vec<crate::OutboxItem>> {
        self.outbox_list_sql(status, persons, limit)
    }
    fn outbox_item(&self, key: &str) -> Result<Option<crate::OutboxItem>> {
        self.outbox_item_sql(key)
    }
    fn sends_since(
        &self,
        persons: &[String],
        since: tailor_core::Millis,
    ) -> Result<Vec<(String, tailor_core::Millis)>> {
        self.sends_since_sql(persons, since)
    }
    fn audience_members(&self, audience: &str) -> Result<Vec<(String, tailor_core::Millis)>> {
        self.audience_members_sql(audience)
    }
    fn audience_changes(
        &self,
        audience: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<crate::AudienceChange>> {
        self.audience_changes_sql(audience, after, limit)
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

fn put_json<'a>(
    store: &SqliteStore,
    table: &str,
    rows: impl Iterator<Item = (&'a str, serde_json::Result<String>)>,
) -> Result<()> {
    store.write(|conn| {
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO {table} (id, body) VALUES (?1, ?2)"
            ))?;
            for (id, body) in rows {
                stmt.execute(params![
                    id,
                    body.map_err(|e| StoreError::Backend(e.to_string()))?
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    })
}

fn all_json<T: serde::de::DeserializeOwned>(store: &SqliteStore, table: &str) -> Result<Vec<T>> {
    store.read(|conn| {
        let mut stmt = conn.prepare(&format!("SELECT body FROM {table} ORDER BY id"))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|r| Ok(serde_json::from_str(&r?)?)).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_passes_the_conformance_suite() {
        crate::conformance::run_all(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = SqliteStore::open(dir.path()).expect("open");
            (store, dir)
        });
    }

    #[test]
    fn reopening_keeps_data_and_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SqliteStore::open(dir.path()).unwrap();
            s.set_meta("k", "v").unwrap();
        }
        let s = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(s.get_meta("k").unwrap().as_deref(), Some("v"));
        let v: i64 = s
            .read(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
    }

    #[test]
    fn person_lookups_combine_the_index_and_the_unindexed_tail() {
        use crate::conformance::message;
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
            })
            .unwrap();
        assert_eq!(erased.events, 3);
        let left: i64 = conn
            .query_row("SELECT count(*) FROM p.event_people", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 1, "only u2's entry remains");
        assert_eq!(s.event_count().unwrap(), 1);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open(dir.path()).unwrap());
        let c = Connection::open(dir.path().join("tailor.db")).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        assert!(matches!(
            SqliteStore::open(dir.path()),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
