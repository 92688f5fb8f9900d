//! The data directory is readable by the user Tailor runs as and nobody else: it holds
//! every shopper's events and profiles, the hashed keys, and the secrets profile tokens and
//! user hashes are signed with (in `tailor.db`'s metadata). The directory is `0700` and its
//! files `0600`.
//!
//! - The database files are created `0600` before SQLite opens them; SQLite gives their
//!   write-ahead logs and shared-memory files the database file's mode, so those follow.
//! - An existing directory is checked at every start: a directory or file that other users
//!   could read is tightened, and the change is logged. Every file of a directory that
//!   already holds `tailor.db` is tightened (whatever put it there, it sits beside every
//!   shopper's data); in a directory Tailor is starting in for the first time, files that
//!   were already there are left alone and only named in a warning, in case the data
//!   directory was pointed at a directory that is not only Tailor's.
//!
//! Elsewhere than Unix these are no-ops: there are no mode bits to set.

use std::path::Path;

use crate::{Result, StoreError};

/// The database file whose presence marks a directory as Tailor's.
const MARKER: &str = "tailor.db";

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    let message = format!("cannot {what} {}: {e}", path.display());
    if e.kind() == std::io::ErrorKind::StorageFull {
        StoreError::Full(message)
    } else {
        StoreError::Backend(message)
    }
}

/// Creates `dir` (mode `0700`) or tightens it, and tightens the files in it (see the module
/// comment for which).
#[cfg(unix)]
pub(super) fn secure_directory(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};

    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io_error("create data directory", dir, e))?;
    }
    let ours = dir.join(MARKER).exists();
    tighten(dir, 0o700)?;
    let entries = std::fs::read_dir(dir).map_err(|e| io_error("read", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error("read", dir, e))?;
        // Not followed: a link's target is not the directory's to change.
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if !meta.is_file() || meta.permissions().mode() & 0o077 == 0 {
            continue;
        }
        if ours {
            tighten(&entry.path(), 0o600)?;
        } else {
            tracing::warn!(
                file = %entry.path().display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "a file other users can read is in the new data directory; Tailor leaves files it did not make alone"
            );
        }
    }
    Ok(())
}

/// Removes group and other permissions from `path` (`mode` is what it gets), logging it.
#[cfg(unix)]
fn tighten(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;

    let meta = std::fs::metadata(path).map_err(|e| io_error("read", path, e))?;
    let was = meta.permissions().mode() & 0o777;
    if was & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| io_error("restrict the permissions of", path, e))?;
    tracing::warn!(
        path = %path.display(),
        was = format!("{was:o}"),
        now = format!("{mode:o}"),
        "other users could read this part of the data directory; it is now private"
    );
    Ok(())
}

/// Creates the database file `path` with mode `0600` if it does not exist yet, so SQLite
/// opens (and gives its WAL and shared-memory files) that mode.
#[cfg(unix)]
pub(super) fn create_private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;

    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| io_error("create", path, e))
}

#[cfg(not(unix))]
pub(super) fn secure_directory(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| io_error("create data directory", dir, e))
}

#[cfg(not(unix))]
pub(super) fn create_private_file(_path: &Path) -> Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::super::SqliteStore;
    use crate::Metadata as _;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Every file in `dir`, with its mode.
    fn files(dir: &Path) -> Vec<(String, u32)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    mode(&e.path()),
                )
            })
            .collect();
        files.sort();
        files
    }

    use super::*;

    #[test]
    fn a_new_data_directory_and_every_file_in_it_are_private() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        let store = SqliteStore::open(&dir).unwrap();
        store.set_meta("token_secret", "s3cret").unwrap();
        assert_eq!(mode(&dir), 0o700);
        let made = files(&dir);
        // The write-ahead logs and shared-memory files exist while the store is open.
        for name in ["tailor.db", "tailor.db-wal", "tailor.db-shm", "profiles.db"] {
            assert!(made.iter().any(|(f, _)| f == name), "{name} in {made:?}");
        }
        assert!(made.iter().all(|(_, m)| *m == 0o600), "{made:?}");
        drop(store);
        assert!(files(&dir).iter().all(|(_, m)| *m == 0o600));
    }

    #[test]
    fn an_existing_data_directory_is_tightened_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        store.set_meta("token_secret", "s3cret").unwrap();
        drop(store);
        // As an older Tailor, a copy or a careless umask left it.
        set_mode(dir.path(), 0o755);
        for (name, _) in files(dir.path()) {
            set_mode(&dir.path().join(name), 0o644);
        }
        std::fs::write(
            dir.path().join("generated-keys.env"),
            "TAILOR_ADMIN_KEY=x\n",
        )
        .unwrap();
        set_mode(&dir.path().join("generated-keys.env"), 0o664);
        let _store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(mode(dir.path()), 0o700);
        let found = files(dir.path());
        assert!(found.iter().any(|(f, _)| f == "generated-keys.env"));
        assert!(found.iter().all(|(_, m)| *m == 0o600), "{found:?}");
    }

    #[test]
    fn files_in_a_directory_that_is_not_yet_tailors_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = dir.path().join("index.html");
        std::fs::write(&foreign, "<p>hello</p>").unwrap();
        set_mode(&foreign, 0o644);
        let _store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(mode(&foreign), 0o644);
        assert_eq!(mode(dir.path()), 0o700);
        assert_eq!(mode(&dir.path().join("tailor.db")), 0o600);
    }
}
