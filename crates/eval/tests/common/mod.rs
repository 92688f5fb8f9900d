//! What the evaluation tests share: the shared data sets, which live beside the project
//! (`../shared/data`) and are never committed into it.

#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// A file of the shared data sets, or `None` when the data sets are not there at all: the
/// test then returns (`let Some(path) = shared_data(…) else { return };`), and the test
/// binary says so once. A data set that is there but lacks the file fails the test.
pub fn shared_data(relative: &str) -> Option<PathBuf> {
    static SKIPPING: Once = Once::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if !root.is_dir() {
        // Straight to stderr: the test harness captures `eprintln!` of passing tests.
        SKIPPING.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: the tests that read the shared data sets did not run: there is no {}",
                root.display()
            );
        });
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
pub fn message(error: &tailor_eval::Error) -> String {
    tailor_eval::chain(error)
}
