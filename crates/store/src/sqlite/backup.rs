//! Online backup and restore of a SQLite data directory, with SQLite's backup API: while
//! `tailor serve` goes on writing, a backup copies each file as one consistent snapshot
//! (a read transaction, which in WAL mode never blocks the writer).
//!
//! The two files are copied in a fixed order, `profiles.db` first: its checkpoint then
//! covers at most the events the later copy of `tailor.db` holds, so a restored store
//! replays the events after the checkpoint and has folded every event exactly once. (The
//! other order could keep a profile that folded events missing from the log.)
//!
//! A backup is a directory holding the two files, private like a data directory; it is
//! itself a data directory `tailor serve --data` could open, and `restore` copies it into
//! place.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::backup::Backup;

use super::private;
use crate::{Result, StoreError};

/// The files of a data directory, in the order a backup must copy them.
const FILES: [&str; 2] = ["profiles.db", "tailor.db"];

/// What a backup or restore copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub files: Vec<PathBuf>,
    pub bytes: u64,
}

fn exists_error(what: &str, path: &Path) -> StoreError {
    StoreError::Backend(format!(
        "{what} {} already holds a Tailor store",
        path.display()
    ))
}

/// Copies the store in `data` (running or not) into the new directory `dest`.
pub fn backup(data: &Path, dest: &Path) -> Result<Copied> {
    if !data.join("tailor.db").is_file() {
        return Err(StoreError::NotFound(format!(
            "{} holds no Tailor store (no tailor.db)",
            data.display()
        )));
    }
    if dest.join("tailor.db").exists() {
        return Err(exists_error("backup directory", dest));
    }
    private::secure_directory(dest)?;
    copy_files(data, dest, |src, dst| {
        let source = Connection::open(src)?;
        source.busy_timeout(Duration::from_secs(30))?;
        let mut target = Connection::open(dst)?;
        copy_all(&source, &mut target)
    })
}

/// Copies a backup made by [`backup`] into the data directory `data`, which must hold no
/// store unless `replace` (then the server on it must be stopped: its files are replaced).
pub fn restore(backup_dir: &Path, data: &Path, replace: bool) -> Result<Copied> {
    for file in FILES {
        if !backup_dir.join(file).is_file() {
            return Err(StoreError::NotFound(format!(
                "{} is not a Tailor backup (no {file})",
                backup_dir.display()
            )));
        }
    }
    if data.join("tailor.db").exists() && !replace {
        return Err(exists_error("data directory", data));
    }
    private::secure_directory(data)?;
    // Write-ahead logs of the replaced store would be replayed into the restored files.
    for file in FILES {
        for suffix in ["-wal", "-shm"] {
            let stale = data.join(format!("{file}{suffix}"));
            if stale.exists() {
                std::fs::remove_file(&stale)
                    .map_err(|e| StoreError::Backend(format!("remove {}: {e}", stale.display())))?;
            }
        }
    }
    copy_files(backup_dir, data, |src, dst| {
        let source = Connection::open(src)?;
        let mut target = Connection::open(dst)?;
        copy_all(&source, &mut target)
    })
}

/// Copies every page in one step: one read transaction, so the copy is one snapshot (in
/// smaller steps, a write between steps restarts the copy, forever under load). A busy or
/// locked source is waited for, up to a minute.
fn copy_all(source: &Connection, target: &mut Connection) -> Result<()> {
    use rusqlite::backup::StepResult;
    let backup = Backup::new(source, target)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More => {}
            StepResult::Busy | StepResult::Locked if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            _ => {
                return Err(StoreError::Backend(
                    "the store stayed locked for a minute; backup gave up".into(),
                ));
            }
        }
    }
}

/// Copies each of [`FILES`] with `copy` into a private temporary file beside its target,
/// then renames it into place, so a failure never leaves half a file under the real name.
fn copy_files(from: &Path, to: &Path, copy: impl Fn(&Path, &Path) -> Result<()>) -> Result<Copied> {
    let mut copied = Copied {
        files: Vec::new(),
        bytes: 0,
    };
    for file in FILES {
        let target = to.join(file);
        let partial = to.join(format!("{file}.partial"));
        let _ = std::fs::remove_file(&partial);
        private::create_private_file(&partial)?;
        copy(&from.join(file), &partial)?;
        std::fs::rename(&partial, &target)
            .map_err(|e| StoreError::Backend(format!("rename into {}: {e}", target.display())))?;
        copied.bytes += std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
        copied.files.push(target);
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::conformance::message;
    use crate::prelude::*;
    use crate::{Checkpoint, ProfileRow, SqliteStore};

    /// A backup taken while a writer appends and checkpoints is one consistent state: the
    /// log is a prefix of the source's (same seqs, same events), the checkpoint covers no
    /// event the log lacks, and a restore reproduces the backup exactly.
    #[test]
    fn a_backup_under_ingest_is_consistent_and_restores_identically() {
        let dir = tempfile::tempdir().unwrap();
        let (data, copy, restored) = (
            dir.path().join("data"),
            dir.path().join("backup"),
            dir.path().join("restored"),
        );
        let store = Arc::new(SqliteStore::open(&data).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) || n < 50 {
                    let batch: Vec<_> = (0..100)
                        .map(|i| {
                            message(&format!("m{n}-{i}"), "track", Some(&format!("u{i}")), None)
                        })
                        .collect();
                    store.append(&batch).unwrap();
                    let seq = store.last_seq().unwrap();
                    store
                        .checkpoint(&Checkpoint {
                            seq,
                            upsert_profiles: vec![ProfileRow {
                                id: 1,
                                state: seq.to_le_bytes().to_vec(),
                            }],
                            ..Default::default()
                        })
                        .unwrap();
                    n += 1;
                }
            })
        };
        while store.event_count().unwrap() < 2_000 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let copied = backup(&data, &copy).unwrap();
        assert_eq!(copied.files.len(), 2);
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();

        let backed_up = SqliteStore::open(&copy).unwrap();
        let theirs = backed_up.events_after(0, usize::MAX).unwrap();
        let ours = store.events_after(0, usize::MAX).unwrap();
        assert!(
            !theirs.is_empty() && theirs.len() < ours.len(),
            "taken mid-ingest"
        );
        assert_eq!(theirs[..], ours[..theirs.len()], "a prefix of the log");
        let snapshot = backed_up.snapshot().unwrap();
        let last = theirs.last().unwrap().seq;
        assert!(
            snapshot.seq <= last,
            "checkpoint {} beyond the log {last}",
            snapshot.seq
        );
        assert_eq!(snapshot.profiles[0].state, snapshot.seq.to_le_bytes());

        restore(&copy, &restored, false).unwrap();
        let again = SqliteStore::open(&restored).unwrap();
        assert_eq!(again.events_after(0, usize::MAX).unwrap(), theirs);
        assert_eq!(again.snapshot().unwrap().profiles, snapshot.profiles);
        // Restoring over an existing store needs `replace`.
        assert!(restore(&copy, &restored, false).is_err());
        drop(again);
        restore(&copy, &restored, true).unwrap();
        // A backup never overwrites one.
        assert!(backup(&data, &copy).is_err());
    }
}
