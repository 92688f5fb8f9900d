//! Reads every byte of a data directory, to show that erased personal data is gone from
//! the files and not just from the API.

use std::path::Path;

/// Files in `dir` (recursively) that contain any of `needles`, with the needle.
pub fn byte_scan(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read the data directory") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path).expect("read a data file");
            for needle in needles {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(format!("{} contains {needle:?}", path.display()));
                }
            }
        }
    }
    assert!(files >= 2, "the scan saw the database files");
    found
}
