//! `tailor`: the binary. Flags and configuration, wiring store → engine → server, and the
//! tools' flags handed to their crates (`tailor-demo`, `tailor-eval`, `tailor-bench`), which
//! the `tools` feature (on by default) brings in. Nothing else lives here.

mod backup;
#[cfg(feature = "tools")]
mod bench;
mod config;
#[cfg(feature = "tools")]
mod demo;
#[cfg(feature = "tools")]
mod eval;
mod report;
mod server;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Decisions and ingest allocate many small short-lived objects on several threads at
// once; mimalloc measured about 1.5× the decide throughput of glibc's allocator (BENCHMARKS.md).
// Counted, so `/metrics` and the soak tell the live heap from the resident set.
#[global_allocator]
static ALLOCATOR: tailor_core::heap::Counting<mimalloc::MiMalloc> =
    tailor_core::heap::Counting(mimalloc::MiMalloc);

#[derive(Parser)]
#[command(
    name = "tailor",
    version,
    about = "Self-hosted, privacy-first personalization engine for online stores"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API on the embedded store.
    Serve(Box<config::ServeArgs>),
    /// Build a synthetic store with shoppers through the public API, then serve it.
    #[cfg(feature = "tools")]
    Demo(demo::DemoArgs),
    /// Measure ingest throughput and profile read latency on a fresh data directory.
    #[cfg(feature = "tools")]
    Bench(bench::BenchArgs),
    /// Evaluate models on your own data or the shared data sets.
    #[cfg(feature = "tools")]
    Eval(eval::EvalArgs),
    /// Copy the embedded store (while it serves, consistently) into a new backup directory.
    Backup(backup::BackupArgs),
    /// Put a backup made by `tailor backup` in place as a data directory.
    Restore(backup::RestoreArgs),
    /// Print an experiment's results from a running server.
    Report(report::ReportArgs),
    /// Train a new version of the prediction models (a running server's, or a data
    /// directory's) and print how each scored against its baseline.
    Train(train::TrainArgs),
}

/// mimalloc: this thread's free pages and every pending purge, now rather than after its
/// delay (and only once the same thread allocates again); glibc's heaps (SQLite allocates
/// there): free pages handed back.
fn release_freed_memory() {
    // SAFETY: both take no pointers; they walk the allocators' own free lists under their locks.
    unsafe {
        libmimalloc_sys::mi_collect(true);
        libc::malloc_trim(0);
    }
}

fn main() -> ExitCode {
    tailor_core::heap::set_release(release_freed_memory);
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => server::serve(*args),
        #[cfg(feature = "tools")]
        Command::Demo(args) => demo::run(args),
        #[cfg(feature = "tools")]
        Command::Bench(args) => bench::run(args),
        #[cfg(feature = "tools")]
        Command::Eval(args) => eval::run(args),
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
        Command::Report(args) => report::run(args),
        Command::Train(args) => train::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
