//! The external programs tests run, found in one place. Python is the project's own
//! environment: `TAILOR_TEST_PYTHON` (tests/run.sh sets it), else `.venv-tests/bin/python`
//! at the project's root when tests/compat/install.sh has made it, else `python3` on PATH.
//! So no test needs packages in the machine's own Python.

use std::path::PathBuf;

/// The environment variable naming the Python interpreter tests run.
pub const PYTHON: &str = "TAILOR_TEST_PYTHON";

/// The project's root (the workspace directory).
pub fn project_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The Python interpreter with the test libraries (segment-analytics-python, aiosmtpd).
pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os(PYTHON).filter(|p| !p.is_empty()) {
        return PathBuf::from(python);
    }
    let venv = project_root().join(".venv-tests/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}
