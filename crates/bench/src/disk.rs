//! What a run leaves on disk: the data directory's files and their sizes, and a sampler that
//! records each file's largest size while the run goes on (the write-ahead logs' peaks).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The size of every file in `dir`, by name.
pub fn sizes(dir: &Path) -> BTreeMap<String, u64> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            meta.is_file()
                .then(|| (e.file_name().to_string_lossy().into_owned(), meta.len()))
        })
        .collect()
}

/// Samples [`sizes`] every `every` on its own thread and keeps each file's largest.
pub struct PeakSampler {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<BTreeMap<String, u64>>>,
}

impl PeakSampler {
    pub fn start(dir: PathBuf, every: Duration) -> PeakSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("bench-disk-sampler".into())
            .spawn(move || {
                let mut peaks: BTreeMap<String, u64> = BTreeMap::new();
                loop {
                    for (name, size) in sizes(&dir) {
                        let peak = peaks.entry(name).or_default();
                        *peak = (*peak).max(size);
                    }
                    if stopping.load(Ordering::Relaxed) {
                        break peaks;
                    }
                    std::thread::sleep(every);
                }
            })
            .ok();
        PeakSampler { stop, thread }
    }

    /// Stops sampling; every file's largest size seen.
    pub fn finish(mut self) -> BTreeMap<String, u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

/// The resident set of this process, from `/proc/self/statm`.
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
