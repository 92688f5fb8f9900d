//! `tailor backup` and `tailor restore`: the embedded store's online backup (SQLite's
//! backup API, `tailor_store::backup`), from the command line. A backup reads the data
//! directory's files directly, beside a running `tailor serve` (WAL mode lets a second
//! process read while the server writes), so it needs no server and no key.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::DEFAULT_DATA;

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The new backup directory (must not hold a store yet).
    dest: PathBuf,
    /// The data directory to back up [default: ./tailor-data].
    #[arg(long, env = "TAILOR_DATA")]
    data: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// A directory written by `tailor backup`.
    backup: PathBuf,
    /// The data directory to restore into [default: ./tailor-data].
    #[arg(long, env = "TAILOR_DATA")]
    data: Option<PathBuf>,
    /// Replace the store already in the data directory (stop its server first).
    #[arg(long)]
    replace: bool,
}

pub fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let data = args.data.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
    let copied = tailor_store::backup::backup(&data, &args.dest)
        .with_context(|| format!("cannot back up {}", data.display()))?;
    println!(
        "backed up {} to {} ({} bytes)",
        data.display(),
        args.dest.display(),
        copied.bytes
    );
    Ok(())
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let data = args.data.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA));
    let copied =
        tailor_store::backup::restore(&args.backup, &data, args.replace).with_context(|| {
            format!(
                "cannot restore {} into {}",
                args.backup.display(),
                data.display()
            )
        })?;
    println!(
        "restored {} into {} ({} bytes); start `tailor serve --data {}`",
        args.backup.display(),
        data.display(),
        copied.bytes,
        data.display()
    );
    Ok(())
}
