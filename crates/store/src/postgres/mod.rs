//! The PostgreSQL store, for when one machine is not enough: the same sub-traits as
//! SQLite over `tokio-postgres`, with a `deadpool-postgres` pool. This file owns the
//! connection pool, the runtime it runs on, the schema and its migrations, and the
//! translation of PostgreSQL's errors into [`StoreError`]; each sub-trait's SQL and tables
//! live in the file named after it, so a new table lands beside the code that uses it.
//!
//! **Sync over async.** The store traits are synchronous (the engine calls them from its
//! own threads and from blocking tasks, and a few cheap reads from async handlers). The
//! store owns a small multi-threaded Tokio runtime that drives the connections; a trait
//! method turns its arguments into owned values, spawns one future on that runtime and
//! waits for its answer on a standard channel. Blocking on a standard channel is allowed
//! on any thread, inside another runtime or not, unlike `Runtime::block_on` (which the
//! synchronous `postgres` crate uses and which panics inside an async context).
//!
//! **Lists of ids** are bound as one array parameter (`= ANY($1)`): PostgreSQL takes at most
//! 65,535 bound parameters per statement, and one person can have more ids than that.
//!
//! **Sequence numbers.** `events.seq` comes from an identity column. Appends hold a
//! transaction-level advisory lock, so sequence numbers are handed out in commit order: a
//! reader that has seen seq N has seen every event below N (`events_after` relies on it;
//! without the lock, a transaction holding seq 10 could commit after one holding 11).
//!
//! **Schema versions** are kept per sub-trait (`tailor_schema`: component → version), so
//! each file's migrations evolve on their own; they run under an advisory lock, so nodes
//! starting together do not race. Everything lives in one schema (the connection's
//! `search_path`, `public` by default; [`PgStore::open_in_schema`] picks another).

mod catalog;
mod checkpoints;
mod decisions;
mod events;
mod journeys;
mod metadata;
mod privacy;

pub use privacy::PERSONAL_TABLES;

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Config, NoTls};

use crate::{Result, StoreError};

/// Each sub-trait's migrations, applied in order per component; `tailor_schema` records
/// how many ran. Never edit one that has shipped: existing databases have run it.
const COMPONENTS: &[(&str, &[&str])] = &[
    ("metadata", metadata::MIGRATIONS),
    ("events", events::MIGRATIONS),
    ("checkpoints", checkpoints::MIGRATIONS),
    ("catalog", catalog::MIGRATIONS),
    ("decisions", decisions::MIGRATIONS),
    ("privacy", privacy::MIGRATIONS),
    ("journeys", journeys::MIGRATIONS),
];

/// Connections in the pool: the writer, the decision log, the checkpoint writer, journeys
/// and a few readers at once.
const POOL_SIZE: usize = 12;
/// How long a caller waits for a connection (from the pool, or a new one).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The advisory lock key space: a lock's key is `hashtext` of one of these and the schema.
const MIGRATION_LOCK: &str = "tailor.migrate.";
pub(crate) const APPEND_LOCK: &str = "tailor.append.";
/// Held for the life of a store: one node per database (schema) until several nodes are
/// built (ARCHITECTURE.md, "Several nodes").
const NODE_LOCK: &str = "tailor.node.";
/// How long opening waits for another store's node lock (a node that just stopped, whose
/// session the server has not ended yet) before giving up.
const NODE_LOCK_WAIT: Duration = Duration::from_secs(10);

pub struct PgStore {
    pool: Pool,
    /// The background vacuum `purge` starts (`privacy.rs`).
    vacuum: std::sync::Arc<parking_lot::Mutex<privacy::VacuumState>>,
    /// The session holding the node lock; dropping it releases the lock.
    node_lock: Option<tokio_postgres::Client>,
    /// The runtime the connections run on; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`, or any form
    /// `tokio-postgres` reads) and brings the schema up to date.
    pub fn open(url: &str) -> Result<Self> {
        let config = Config::from_str(url)
            .map_err(|e| StoreError::Backend(format!("the database URL is not valid: {e}")))?;
        Self::open_config(config)
    }

    /// Like [`PgStore::open`], with every table in `schema` (created if needed): several
    /// stores, or tests, in one database.
    pub fn open_in_schema(url: &str, schema: &str) -> Result<Self> {
        if schema.is_empty()
            || !schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(StoreError::Backend(format!(
                "schema name {schema:?} must be lower-case letters, digits and underscores"
            )));
        }
        let mut config = Config::from_str(url)
            .map_err(|e| StoreError::Backend(format!("the database URL is not valid: {e}")))?;
        {
            let plain = Self::open_unmigrated(config.clone())?;
            let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
            plain.run(|pool| async move {
                let client = pool.get().await?;
                client.batch_execute(&create).await?;
                Ok(())
            })?;
        }
        config.options(format!("-c search_path={schema}"));
        Self::open_config(config)
    }

    fn open_config(config: Config) -> Result<Self> {
        let mut store = Self::open_unmigrated(config.clone())?;
        store.run(|pool| async move { migrate(&pool).await })?;
        store.node_lock = Some(store.take_node_lock(config)?);
        Ok(store)
    }

    /// Takes the node lock on a session of its own, waiting briefly for a node that just
    /// stopped. Another running node keeps it: then this one refuses to start, since two
    /// nodes would each fold only their own events and overwrite each other's checkpoints.
    ///
    /// If PostgreSQL restarts, the session and its lock are gone; the store does not take
    /// the lock again (what leases with fencing are for, in the multi-node design).
    fn take_node_lock(&self, config: Config) -> Result<tokio_postgres::Client> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| StoreError::Backend("closed".into()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let result = async {
                let (client, connection) = config.connect(NoTls).await?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                let deadline = tokio::time::Instant::now() + NODE_LOCK_WAIT;
                loop {
                    let taken: bool = client
                        .query_one(
                            "SELECT pg_try_advisory_lock(hashtext($1::text || current_schema()::text))",
                            &[&NODE_LOCK],
                        )
                        .await?
                        .get(0);
                    if taken {
                        return Ok(client);
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Err(StoreError::Backend(
                            "another Tailor node is using this PostgreSQL database (its node lock is held); \
                             several nodes on one database are not supported yet"
                                .into(),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            .await;
            let _ = tx.send(result);
        });
        rx.recv()
            .map_err(|_| StoreError::Backend("the PostgreSQL runtime stopped".into()))?
    }

    fn open_unmigrated(mut config: Config) -> Result<Self> {
        config.connect_timeout(CONNECT_TIMEOUT);
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("tailor");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tailor-postgres")
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Backend(format!("cannot start the PostgreSQL runtime: {e}"))
            })?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A connection the server closed (a restart, a failover) is replaced on
                // its next checkout instead of failing a request.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot build the connection pool: {e}")))?;
        let store = Self {
            pool,
            vacuum: Default::default(),
            node_lock: None,
            runtime: Some(runtime),
        };
        // Fail now, with a clear error, if the server cannot be reached.
        store.ping_server()?;
        Ok(store)
    }

    /// One round trip to the server: whether it is reachable now.
    fn ping_server(&self) -> Result<()> {
        self.run(|pool| async move {
            let client = pool.get().await?;
            client.simple_query("SELECT 1").await?;
            Ok(())
        })
    }

    /// Runs `f` on the store's runtime with the pool and waits for its result. `f` gets a
    /// handle to the pool (cheap to clone) and must own everything else it uses.
    fn run<T, F, Fut>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Pool) -> Fut,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| StoreError::Backend("the PostgreSQL store is closed".into()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let fut = f(self.pool.clone());
        runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| StoreError::Backend("the PostgreSQL runtime stopped".into()))?
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Ends the session, which releases the node lock.
        drop(self.node_lock.take());
        self.pool.close();
        // Dropping a runtime blocks, which is not allowed inside another runtime (the
        // engine may be dropped from an async test); its threads stop on their own.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Applies every component's pending migrations, each in its own transaction, under an
/// advisory lock so that nodes starting together apply each migration once.
async fn migrate(pool: &Pool) -> Result<()> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1::text || current_schema()::text))",
        &[&MIGRATION_LOCK],
    )
    .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS tailor_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    )
    .await?;
    for (component, migrations) in COMPONENTS {
        let version: i32 = tx
            .query_opt(
                "SELECT version FROM tailor_schema WHERE component = $1",
                &[component],
            )
            .await?
            .map(|r| r.get(0))
            .unwrap_or(0);
        let supported = migrations.len() as i64;
        if i64::from(version) > supported {
            return Err(StoreError::TooNew {
                found: i64::from(version),
                supported,
            });
        }
        for (i, sql) in migrations.iter().enumerate().skip(version as usize) {
            tx.batch_execute(sql).await?;
            let next = (i + 1) as i32;
            tx.execute(
                "INSERT INTO tailor_schema (component, version) VALUES ($1, $2)
                 ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                &[component, &next],
            )
            .await?;
            tracing::info!(
                component,
                version = next,
                "applied PostgreSQL schema migration"
            );
        }
    }
    tx.commit().await?;
    Ok(())
}

/// A row limit as PostgreSQL takes it: `usize::MAX` ("all") does not fit a `bigint`.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// PostgreSQL's errors, sorted into what a caller can act on. The message keeps the
/// server's text for the logs; nothing of the driver's types goes further.
impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        let message = match e.as_db_error() {
            Some(db) => format!("PostgreSQL: {} ({})", db.message(), db.code().code()),
            None => format!("PostgreSQL: {e}"),
        };
        if let Some(code) = e.code() {
            let class = &code.code()[..2];
            return if *code == SqlState::DISK_FULL || *code == SqlState::PROGRAM_LIMIT_EXCEEDED {
                StoreError::Full(message)
            } else if *code == SqlState::DATA_CORRUPTED || *code == SqlState::INDEX_CORRUPTED {
                StoreError::Corrupt(message)
            } else if class == "08"
                || class == "57"
                || *code == SqlState::TOO_MANY_CONNECTIONS
                || *code == SqlState::READ_ONLY_SQL_TRANSACTION
            {
                // Connection exceptions, the server shutting down or starting, a standby.
                StoreError::Unavailable(message)
            } else {
                StoreError::Backend(message)
            };
        }
        // No SQLSTATE: the connection itself failed (refused, reset, closed).
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io {
            StoreError::Unavailable(message)
        } else {
            StoreError::Backend(message)
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError as P;
        match e {
            P::Backend(e) => e.into(),
            P::Timeout(_) => {
                StoreError::Unavailable("PostgreSQL: no connection within the timeout".into())
            }
            other => StoreError::Unavailable(format!("PostgreSQL: {other}")),
        }
    }
}

/// A row that does not decode as the column's Rust type: the data is at fault.
fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

#[cfg(test)]
mod tests;
