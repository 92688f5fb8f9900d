//! The embedded default: SQLite in WAL mode, three files in the data directory. This file
//! owns the connections, their pragmas, the schema and its migrations, the background
//! thread, and the translation of SQLite's errors into [`StoreError`]; each sub-trait's
//! SQL lives in the file named after it.
//!
//! `tailor.db` holds the event log, the catalog, metadata, experiment exposures, privacy
//! records and journeys. One connection writes (the engine's writer thread batches many
//! messages into one transaction: group commit), another reads, so reads never wait behind
//! a commit, and a background thread moves WAL frames into the file so commits never pay
//! for that.
//!
//! `profiles.db` holds profile checkpoints, the identity index, and `event_people`, the
//! index from a person's ids to their events. It is a separate file so that writing a large
//! checkpoint never holds the event log's write lock: ingest goes on while profiles are saved.
//! The events table has no per-person index of its own, since maintaining one on every
//! commit (random keys, a page written per event) cost two thirds of ingest throughput.
//! Instead the background thread indexes new events in large sorted batches, and lookups
//! scan the short unindexed tail of the log (see `events.rs`).
//!
//! `decisions.db` holds the decision log (`decisions.rs`), on its own connection.
//!
//! **Size.** Each write-ahead log is held near [`WAL_BOUND`]: the checkpoint thread copies
//! frames back every half second (PASSIVE, never waiting) and, when a WAL has grown past the
//! bound because readers kept it busy, runs a TRUNCATE checkpoint, which waits for the
//! readers and resets the file (ingest pauses for it). The same thread samples the free
//! disk space; below the configured minimum, appends and decision-log writes are refused with
//! [`StoreError::Full`] before SQLite could fail mid-write.
//!
//! `synchronous=FULL` makes a returned `append` survive power loss, not just a crash;
//! `secure_delete` makes erased rows unreadable in the file. The directory and every file
//! in it are readable by Tailor's user only (`private.rs`).
//!
//! Lists of ids are bound as one JSON array and read with `json_each` ([`IN_IDS`]): SQLite
//! allows at most 32,766 bound variables per statement, and one person can have more ids
//! than that (each anonymous session adds one).

pub mod backup;
mod catalog;
mod checkpoints;
mod decision_codec;
mod decisions;
mod events;
mod journeys;
mod metadata;
mod privacy;
mod private;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;
use rusqlite::ffi::ErrorCode;

use crate::{Result, StoreError};

/// Schema migrations of `tailor.db`, applied in order; `PRAGMA user_version` records how
/// many ran. Never edit one that has shipped: existing data directories have run it.
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
    JOURNEYS_SCHEMA,
    // 7: audiences keep each member's hashed match keys, so the `remove` an erasure leaves
    // can name whom an ad platform must drop; the change stream's positions are never
    // reused (AUTOINCREMENT), so deleting an erased person's rows cannot hand a position a
    // sync has already read to a new change.
    "ALTER TABLE audience_members ADD COLUMN match_keys TEXT;
     CREATE TABLE audience_changes_v7 (seq INTEGER PRIMARY KEY AUTOINCREMENT, audience TEXT NOT NULL,
        person TEXT NOT NULL, op TEXT NOT NULL, at INTEGER NOT NULL, match_keys TEXT);
     INSERT INTO audience_changes_v7 (seq, audience, person, op, at)
        SELECT seq, audience, person, op, at FROM audience_changes;
     DROP TABLE audience_changes;
     ALTER TABLE audience_changes_v7 RENAME TO audience_changes;
     CREATE INDEX audience_changes_person ON audience_changes(person);
     CREATE INDEX audience_changes_audience ON audience_changes(audience, seq);",
    // 8: the decision log moved to `decisions.db` (copied by `decisions::copy_legacy`).
    "DROP TABLE decisions; DROP TABLE decision_shown; DROP TABLE rewards;",
];

/// The size each write-ahead log is held to (see the module documentation).
pub const WAL_BOUND: u64 = 64 * 1024 * 1024;
/// Free disk space below which `tailor serve` refuses new work unless configured
/// (`TAILOR_MIN_FREE_DISK_MB`); a store opened without it never refuses.
pub const DEFAULT_MIN_FREE_DISK: u64 = 1024 * 1_000_000;

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

/// Migration 6 of `tailor.db`: journeys. Statuses and ops are stored as the text of
/// [`crate::RunStatus`], [`crate::OutboxStatus`] and [`crate::AudienceOp`].
const JOURNEYS_SCHEMA: &str = "CREATE TABLE journey_runs (
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

/// Schema migrations of `profiles.db`.
const PROFILE_MIGRATIONS: &[&str] = &[
    // 1: profile state, the identity index, checkpoint metadata.
    "CREATE TABLE profiles (id INTEGER PRIMARY KEY, state BLOB NOT NULL);
     CREATE TABLE identities (identity TEXT PRIMARY KEY, profile_id INTEGER NOT NULL) WITHOUT ROWID;
     CREATE INDEX identities_profile ON identities(profile_id);
     CREATE TABLE checkpoint (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
     CREATE TABLE event_people (person TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (person, seq)) WITHOUT ROWID;",
];

/// The rows of a list of ids bound as one JSON array (see [`ids_json`]), for
/// `column IN (…)`. Always parameter `?1`.
const IN_IDS: &str = "SELECT value FROM json_each(?1)";

/// A list of ids as the one parameter [`IN_IDS`] reads.
fn ids_json(ids: &[String]) -> Result<String> {
    serde_json::to_string(ids).map_err(|e| StoreError::Backend(e.to_string()))
}

/// A row limit as SQLite takes it: `usize::MAX` ("all") does not fit its integers.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Creates `dir` private to this user (`0700`, its files `0600`), or tightens it: the data
/// directory, also when PostgreSQL holds the data and the directory only generated keys.
pub fn secure_directory(dir: &Path) -> Result<()> {
    private::secure_directory(dir)
}

pub struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    profiles: Mutex<Connection>,
    decisions: Mutex<decisions::DecisionDb>,
    dir: PathBuf,
    disk: Arc<DiskWatch>,
    // Held for its Drop: stops the thread and truncates the WAL.
    _checkpointer: Option<Checkpointer>,
}

impl SqliteStore {
    /// Opens (creating if needed) `tailor.db`, `profiles.db` and `decisions.db` in `dir` and brings their
    /// schemas up to date. The directory is made private to this user first (`0700`, its
    /// files `0600`; see `private`).
    pub fn open(dir: &Path) -> Result<Self> {
        // Private before anything is written: see `private`.
        private::secure_directory(dir)?;
        for file in ["tailor.db", "profiles.db", "decisions.db"] {
            private::create_private_file(&dir.join(file))?;
        }
        let mut writer = Connection::open(dir.join("tailor.db"))?;
        configure(&writer)?;
        let mut decision_db = decisions::open(dir)?;
        decisions::copy_legacy(&writer, &mut decision_db)?;
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
        let disk = Arc::new(DiskWatch {
            free: AtomicU64::new(free_bytes(dir).unwrap_or(u64::MAX)),
            // Off until the binary sets it (`set_min_free_disk`): tests and tools on a
            // crowded disk must not fail for space they do not need.
            min_free: AtomicU64::new(0),
        });
        let checkpointer = Some(start_checkpointer(dir, disk.clone())?);
        Ok(Self {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            profiles: Mutex::new(profiles),
            decisions: Mutex::new(decision_db),
            dir: dir.to_path_buf(),
            disk,
            _checkpointer: checkpointer,
        })
    }

    /// Refuse new work when the disk has less than `bytes` free (0: never refuse).
    pub fn set_min_free_disk(&self, bytes: u64) {
        self.disk.min_free.store(bytes, Ordering::Relaxed);
    }

    /// [`StoreError::Full`] when the disk is nearly full (see the module documentation).
    fn refuse_when_full(&self) -> Result<()> {
        let (free, min) = (
            self.disk.free.load(Ordering::Relaxed),
            self.disk.min_free.load(Ordering::Relaxed),
        );
        if free < min {
            return Err(StoreError::Full(format!(
                "the disk holding {} has {} MB free, less than the {} MB kept free \
                 (TAILOR_MIN_FREE_DISK_MB); free space or turn on retention",
                self.dir.display(),
                free / 1_000_000,
                min / 1_000_000
            )));
        }
        Ok(())
    }

    /// Runs `f` on the writer connection (`tailor.db` with `profiles.db` attached as `p`).
    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self
            .writer
            .lock()
            .map_err(|_| StoreError::Backend("writer lock poisoned".into()))?;
        f(&mut conn)
    }

    /// Runs `f` on the connection to `profiles.db` alone, which checkpoints write through.
    fn with_profiles<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self
            .profiles
            .lock()
            .map_err(|_| StoreError::Backend("profiles lock poisoned".into()))?;
        f(&mut conn)
    }

    /// Runs `f` on the reader connection (attached like the writer's).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| StoreError::Backend("reader lock poisoned".into()))?;
        f(&conn)
    }
}

/// Bytes SQLite holds in this process (page caches, statements, every connection): its
/// own allocations, which go to the C allocator and so are not in `tailor_core::heap`.
pub fn memory_used() -> u64 {
    // SAFETY: a read of SQLite's global memory statistic; no arguments, no state.
    u64::try_from(unsafe { rusqlite::ffi::sqlite3_memory_used() }).unwrap_or(0)
}

/// Moves committed WAL frames into the database file on its own thread and connection,
/// so the writer's commits never pay for it (SQLite's auto-checkpoint would run inside
/// the committing transaction). The same thread extends the person → events index.
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
/// Every 10 s the checkpoint thread also hands freed memory back to the system.
const RELEASE_EVERY_TICKS: u32 = 20;

/// Free disk space, as the checkpoint thread last saw it, and the minimum to keep.
struct DiskWatch {
    free: AtomicU64,
    min_free: AtomicU64,
}

/// Bytes free for an unprivileged writer on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `stat` is written by statvfs before it
    // is read (only when it returns 0).
    let stat = unsafe {
        if libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) != 0 {
            return None;
        }
        stat.assume_init()
    };
    Some((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

/// The size of `name` in `dir`, 0 when it does not exist.
fn file_size(dir: &Path, name: &str) -> u64 {
    std::fs::metadata(dir.join(name)).map_or(0, |m| m.len())
}

/// The files of a data directory, for disk use reports.
pub const FILES: [&str; 6] = [
    "tailor.db",
    "tailor.db-wal",
    "profiles.db",
    "profiles.db-wal",
    "decisions.db",
    "decisions.db-wal",
];

/// Checkpoints schema `schema` of `conn`: PASSIVE, or TRUNCATE when its WAL (`wal`, in
/// `dir`) is past [`WAL_BOUND`].
fn checkpoint(conn: &Connection, dir: &Path, schema: &str, wal: &str) {
    let mode = if file_size(dir, wal) > WAL_BOUND {
        "TRUNCATE"
    } else {
        "PASSIVE"
    };
    let started = std::time::Instant::now();
    match conn.query_row(
        &format!("PRAGMA {schema}.wal_checkpoint({mode})"),
        [],
        |r| r.get::<_, i64>(0),
    ) {
        Ok(busy) if mode == "TRUNCATE" => {
            tracing::info!(
                wal,
                busy = busy != 0,
                ms = started.elapsed().as_millis() as u64,
                "WAL past its bound: truncated"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, wal, "WAL checkpoint failed; will retry"),
    }
}

fn start_checkpointer(dir: &Path, disk: Arc<DiskWatch>) -> Result<Checkpointer> {
    let conn = connect(dir)?;
    let decisions = Connection::open(dir.join("decisions.db"))?;
    configure(&decisions)?;
    let dir = dir.to_path_buf();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("tailor-wal-checkpoint".into())
        .spawn(move || {
            let mut ticks: u32 = 0;
            loop {
                let stopping = !matches!(
                    stopped.recv_timeout(CHECKPOINT_INTERVAL),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                );
                // Catch up fully before stopping, so the next start has no long tail.
                while let Ok(n) = events::index_people(&conn) {
                    if n < events::INDEX_CHUNK {
                        break;
                    }
                }
                checkpoint(&conn, &dir, "main", "tailor.db-wal");
                checkpoint(&conn, &dir, "p", "profiles.db-wal");
                checkpoint(&decisions, &dir, "main", "decisions.db-wal");
                if let Some(free) = free_bytes(&dir) {
                    disk.free.store(free, Ordering::Relaxed);
                }
                ticks += 1;
                if ticks.is_multiple_of(RELEASE_EVERY_TICKS) {
                    // Memory other threads freed and their allocators still hold
                    // (`tailor_core::heap::release`); this thread wakes anyway.
                    tailor_core::heap::release();
                }
                if stopping {
                    break;
                }
            }
            let _ = conn.query_row("PRAGMA main.wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            let _ = decisions.query_row("PRAGMA main.wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
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
    conn.pragma_update(Some("p"), "journal_size_limit", WAL_BOUND as i64)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // A WAL reset after a checkpoint truncates the file to this, not to zero: no regrowth cost.
    conn.pragma_update(None, "journal_size_limit", WAL_BOUND as i64)?;
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

/// SQLite's errors, sorted into what a caller can act on. The message keeps SQLite's text
/// for the logs; nothing of the driver's types goes further.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        let message = e.to_string();
        match &e {
            E::SqliteFailure(failure, _) => match failure.code {
                ErrorCode::DiskFull => StoreError::Full(message),
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
                    StoreError::Corrupt(message)
                }
                _ => StoreError::Backend(message),
            },
            E::QueryReturnedNoRows => StoreError::NotFound(message),
            // A stored value that does not decode as the column's Rust type (an unknown
            // status among them): the data, not the code, is at fault.
            E::FromSqlConversionFailure(..)
            | E::InvalidColumnType(..)
            | E::IntegralValueOutOfRange(..)
            | E::Utf8Error(..) => StoreError::Corrupt(message),
            _ => StoreError::Backend(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;

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
    fn a_decision_log_in_tailor_db_moves_to_decisions_db() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut c = Connection::open(dir.path().join("tailor.db")).unwrap();
            migrate(&mut c, &MIGRATIONS[..6]).unwrap();
            c.execute_batch(
                r#"INSERT INTO decisions (id, at, user_id, anonymous_id, personalized, body, shown) VALUES
                   ('d_ab1', 5, NULL, 'anon-1', 1, '{"modelVersion":"rules-2","profile":"p_9","placements":{"promo.banner":{"kind":"promotion","chosen":"promo-a","shown":["promo-a"],"candidates":["promo-a","promo-b"],"propensity":0.5,"explanation":"Exploring","features":[1.0]}},"context":{"productId":"sku-1","page":"x"},"reason":null}', '["promo-a"]');
                   INSERT INTO decision_shown (item, decision_id) VALUES ('promo-a', 'd_ab1');
                   INSERT INTO rewards (decision_id, seq, event, value, at) VALUES ('d_ab1', 3, 'Order Completed', 9.0, 6);"#,
            )
            .unwrap();
        }
        for _ in 0..2 {
            let s = SqliteStore::open(dir.path()).unwrap();
            let (d, rewards) = s.decision("d_ab1").unwrap().expect("moved");
            assert_eq!(d.anonymous_id.as_deref(), Some("anon-1"));
            assert_eq!((d.profile, d.product.as_deref()), (Some(9), Some("sku-1")));
            let p = &d.placements[0];
            assert_eq!(p.chosen.as_deref(), Some("promo-a"));
            assert_eq!((p.propensity, p.counted), (0.5, true));
            assert_eq!(p.candidates, ["promo-a", "promo-b"]);
            assert_eq!(rewards.len(), 1);
            assert_eq!(s.shown_counts().unwrap(), [("promo-a".to_string(), 1)]);
            let legacy: i64 = s
                .read(|c| {
                    Ok(c.query_row(
                        "SELECT count(*) FROM sqlite_master WHERE name = 'decision_shown'",
                        [],
                        |r| r.get(0),
                    )?)
                })
                .unwrap();
            assert_eq!(legacy, 0, "the old tables are gone");
        }
    }

    #[test]
    fn refuses_new_work_when_the_disk_is_nearly_full() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).unwrap();
        s.set_min_free_disk(u64::MAX);
        let e = s.append(&[]).expect_err("refused");
        assert_eq!(e.kind(), crate::StoreErrorKind::Full, "{e}");
        assert!(e.to_string().contains("TAILOR_MIN_FREE_DISK_MB"), "{e}");
        assert!(s.log_decisions(&[]).is_err());
        s.set_min_free_disk(0);
        assert!(s.append(&[]).is_ok());
        let usage = s.disk_usage().unwrap();
        assert!(
            usage
                .files
                .iter()
                .any(|(f, n)| f == "decisions.db" && *n > 0)
        );
        assert!(usage.free.is_some());
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

    /// Lists of ids are one JSON parameter, whose length SQLite's planner cannot see: each
    /// lookup by person must still go through that person's index, not a table scan.
    #[test]
    fn person_lookups_use_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(dir.path()).unwrap();
        let explain = |conn: &Connection, sql: &str| -> Result<String> {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let unbound = vec![rusqlite::types::Value::Null; stmt.parameter_count()];
            let rows = stmt.query_map(rusqlite::params_from_iter(unbound), |r| {
                r.get::<_, String>(3)
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?.join("\n"))
        };
        let plan = |sql: &str| -> String { s.read(|conn| explain(conn, sql)).unwrap() };
        let decisions_plan = s
            .with_decisions(|db| explain(&db.conn, &decisions::decisions_of_sql()))
            .unwrap();
        for index in [
            "decisions_user (user_id=?)",
            "decisions_anon (anonymous_id=?)",
        ] {
            assert!(decisions_plan.contains(index), "{decisions_plan}");
        }
        for (sql, index) in [
            (events::events_of_sql(), "USING PRIMARY KEY (person=?)"),
            (decisions::exposures_of_sql(), "exposures_id (id=?)"),
            (journeys::runs_of_sql(), "journey_runs_person (person=?)"),
            (
                journeys::outbox_list_sql(true, false, 10),
                "outbox_person (person=?)",
            ),
            (
                journeys::outbox_list_sql(true, true, 10),
                "outbox_person (person=?)",
            ),
            (
                journeys::outbox_list_sql(false, true, 10),
                "outbox_status (status=?)",
            ),
            (
                journeys::sends_since_sql(),
                "outbox_person (person=? AND sent_at>?)",
            ),
        ] {
            let plan = plan(&sql);
            assert!(plan.contains(index), "{sql}\n{plan}");
        }
    }

    #[test]
    fn driver_errors_are_sorted_by_kind() {
        use crate::StoreErrorKind;
        let failure = |code| {
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some("x".into()))
        };
        let kind = |e: rusqlite::Error| StoreError::from(e).kind();
        assert_eq!(
            kind(failure(rusqlite::ffi::SQLITE_FULL)),
            StoreErrorKind::Full
        );
        assert_eq!(
            kind(failure(rusqlite::ffi::SQLITE_CORRUPT)),
            StoreErrorKind::Corrupt
        );
        assert_eq!(
            kind(failure(rusqlite::ffi::SQLITE_BUSY)),
            StoreErrorKind::Internal
        );
        assert_eq!(
            kind(rusqlite::Error::QueryReturnedNoRows),
            StoreErrorKind::NotFound
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tailor.db"), vec![7u8; 8192]).unwrap();
        let e = SqliteStore::open(dir.path()).err().expect("refused");
        assert_eq!(e.kind(), crate::StoreErrorKind::Corrupt, "{e}");
    }
}
