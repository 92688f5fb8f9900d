//! What the evaluation tests share: the shared data sets, which live beside the project
//! (`../shared/data`) and are never committed into it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A file of the shared data sets, or `None` when the data sets are not there at all: the
/// test then says so once, on stderr, and returns (`let Some(path) = shared_data(…) else {
/// return };`). A data set that is there but lacks the file fails the test.
pub fn shared_data(relative: &str) -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if !root.is_dir() {
        eprintln!(
            "SKIPPED: the shared data sets are not at {} (clone them beside the project as ../shared/data)",
            root.display()
        );
        return None;
    }
    let path = root.join(relative);
    assert!(
        path.exists(),
        "missing data file {} (the shared data sets are there, but not this file)",
        path.display()
    );
    Some(path)
}

/// An error as the binary prints it: the whole chain of causes.
pub fn message(error: &anyhow::Error) -> String {
    format!("{error:#}")
}
