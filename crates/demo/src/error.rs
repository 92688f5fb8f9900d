//! The one error type of the demo: what stopped `tailor demo`, with its causes.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The run cannot go on: a data directory the demo may not use, an event the server
    /// rejected, a server that stopped while building, Ctrl-C.
    #[error("{0}")]
    Failed(String),
    /// A file or directory of the demo.
    #[error("cannot {action} {}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A demo file that is not what the demo wrote.
    #[error("{} is not what the demo wrote; rebuild with --fresh", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The address to serve on.
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// Opening the store and starting the engine (the binary's part).
    #[error("cannot start the demo's server")]
    Open(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The server stopped with an error.
    #[error("the server failed")]
    Server(#[source] std::io::Error),
    /// A request to the server that did not get through.
    #[error("{request} failed")]
    Request {
        request: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error.
    #[error("{request} answered {status}: {body}")]
    Refused {
        request: String,
        status: reqwest::StatusCode,
        body: String,
    },
    /// The server answered something that is not JSON.
    #[error("{request} answered with invalid JSON: {body}")]
    Reply {
        request: String,
        body: String,
        #[source]
        source: serde_json::Error,
    },
    /// The engine, in this process.
    #[error(transparent)]
    Engine(#[from] tailor_engine::EngineError),
    /// A task of the demo (a sender, a visitor, the simulation, the trainer) stopped.
    #[error("{what} stopped")]
    Stopped {
        what: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    /// A document the demo builds.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// What the demo was doing when `source` stopped it.
    #[error("{what}")]
    Step {
        what: String,
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    pub(crate) fn file(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::File {
            action,
            path,
            source,
        }
    }

    /// This error stopped `what`.
    pub(crate) fn during(self, what: impl Into<String>) -> Error {
        Error::Step {
            what: what.into(),
            source: Box::new(self),
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
