//! The one error type of the evaluations: what stopped one, and where. Every message is
//! for the person who ran the command; the causes hang below it as `source()`s, so the
//! binary prints the whole chain (`in FILE: line 3: item id "x" is not …: invalid digit`).

use std::path::PathBuf;

/// A cause below a message: a parse error, a model's error, an I/O error.
type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why an evaluation stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{action} {}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is not in the format the command reads (the cause says what and where).
    #[error("in {}", path.display())]
    Format {
        path: PathBuf,
        #[source]
        source: Invalid,
    },
    /// The options, or the data, rule the evaluation out.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The off-policy estimators refused the logs or the policy.
    #[error(transparent)]
    Ope(#[from] tailor_ml::ope::OpeError),
    /// A step failed: fitting a model, a task of `eval intent`, …
    #[error("{step}")]
    Step {
        step: String,
        #[source]
        source: Cause,
    },
}

impl Error {
    /// The file at `path` could not be read.
    pub(crate) fn reading(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::File {
            action: "reading",
            path: path.into(),
            source,
        }
    }

    /// `source` stopped `step`.
    pub(crate) fn step(step: impl Into<String>, source: impl Into<Cause>) -> Self {
        Error::Step {
            step: step.into(),
            source: source.into(),
        }
    }
}

/// What is wrong, said in one message, and the error that showed it, if any.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    message: String,
    #[source]
    source: Option<Cause>,
}

impl Invalid {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Invalid {
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn caused(message: impl Into<String>, source: impl Into<Cause>) -> Self {
        Invalid {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// This problem was found in the file at `path`.
    pub(crate) fn in_file(self, path: impl Into<PathBuf>) -> Error {
        Error::Format {
            path: path.into(),
            source: self,
        }
    }
}

impl From<csv::Error> for Invalid {
    fn from(error: csv::Error) -> Self {
        Invalid::caused("not readable as CSV", error)
    }
}

/// An error and its causes on one line, as the binary prints them.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

/// Returns `Err` of an [`Invalid`] with a formatted message.
macro_rules! invalid {
    ($($message:tt)*) => {
        return Err($crate::error::Invalid::new(format!($($message)*)).into())
    };
}

/// [`invalid!`] unless `condition` holds.
macro_rules! ensure {
    ($condition:expr, $($message:tt)*) => {
        let holds: bool = $condition;
        if !holds {
            $crate::error::invalid!($($message)*);
        }
    };
}

pub(crate) use {ensure, invalid};
