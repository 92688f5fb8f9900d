//! What both benchmarks run against: an engine on a fresh data directory, and the real HTTP
//! server on loopback in this process, for the benchmarks' own clients.

use std::path::Path;
use std::sync::Arc;

use tailor_core::Clock;
use tailor_engine::journeys::ChannelConfig;
use tailor_engine::{Engine, Options};
use tailor_store::prelude::*;
use tailor_store::{PgStore, SqliteStore, Store};

use crate::error::Error;

pub const WRITE_KEY: &str = "bench-write";
/// Events are loaded as a store's backend sends them (Segment's server libraries).
pub const SERVER_KEY: &str = "bench-server";
pub const ADMIN_KEY: &str = "bench-admin";

/// Opens the embedded store in `data` and starts an engine on it with the bench's keys and
/// otherwise the defaults of `tailor serve`.
pub fn open_engine(
    data: &Path,
    clock: Arc<dyn Clock>,
    channels: ChannelConfig,
) -> Result<Engine, Error> {
    let store = SqliteStore::open(data).map_err(|e| {
        Error::setup(
            format!("cannot open the data directory {}", data.display()),
            e,
        )
    })?;
    open_engine_on(Arc::new(store), clock, channels)
}

/// Opens PostgreSQL at `url`, which must hold no events yet (the bench's messageIds
/// would be duplicates), and starts an engine on it as [`open_engine`] does.
pub fn open_engine_postgres(
    url: &str,
    clock: Arc<dyn Clock>,
    channels: ChannelConfig,
) -> Result<Engine, Error> {
    let store = PgStore::open(url).map_err(|e| Error::setup("cannot open PostgreSQL", e))?;
    if store.event_count()? > 0 {
        return Err(Error::Failed(
            "the PostgreSQL database already holds events; bench needs an empty database".into(),
        ));
    }
    open_engine_on(Arc::new(store), clock, channels)
}

/// Starts an engine on `store` with the bench's keys and otherwise the defaults of
/// `tailor serve`.
pub fn open_engine_on(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    channels: ChannelConfig,
) -> Result<Engine, Error> {
    let options = Options {
        keys: tailor_engine::ConfiguredKeys {
            write: Some(WRITE_KEY.into()),
            server: Some(SERVER_KEY.into()),
            admin: Some(ADMIN_KEY.into()),
            analyst: None,
        },
        channels,
        ..Options::default()
    };
    let (engine, _) = Engine::open(store, clock, options)
        .map_err(|e| Error::setup("cannot start the engine", e))?;
    Ok(engine)
}

/// The runtime a benchmark runs on: the one `tailor serve` runs on.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::setup("cannot start the async runtime", e))
}

/// The real HTTP server on loopback, in this process, for the bench's own clients.
pub struct InProcessServer {
    pub base: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl InProcessServer {
    pub async fn start(engine: &Engine) -> Result<Self, Error> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = tailor_server::AppState::new(engine.clone());
        let task = tokio::spawn(tailor_server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Ok(Self { base, stop, task })
    }

    pub async fn stop(self) -> Result<(), Error> {
        let _ = self.stop.send(());
        Ok(self.task.await??)
    }
}
