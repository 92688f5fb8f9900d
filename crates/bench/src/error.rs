//! The one error type of the benchmarks: what stopped a run, with its causes.

/// Why a benchmark stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The options rule the run out, or the run did not go as it must (a request refused,
    /// deliveries that never finished).
    #[error("{0}")]
    Failed(String),
    /// Setting up: the temporary directory, the store, the engine, the runtime.
    #[error("{what}")]
    Setup {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A socket.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] tailor_engine::EngineError),
    /// The store the timers are written to.
    #[error(transparent)]
    Store(#[from] tailor_store::StoreError),
    /// A request to the server in this process.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// A load generator's task.
    #[error("a load generator stopped")]
    Task(#[from] tokio::task::JoinError),
    /// A document the bench builds.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl Error {
    pub(crate) fn setup(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Setup {
            what: what.into(),
            source: source.into(),
        }
    }
}

/// Returns `Err(Error::Failed)` with a formatted message.
macro_rules! fail {
    ($($message:tt)*) => {
        return Err($crate::error::Error::Failed(format!($($message)*)))
    };
}

pub(crate) use fail;
