//! Live heap bytes, counted by a wrapper around the process's allocator, so the resident
//! set can be told apart from what the program actually holds (the rest is the allocator's
//! retained and fragmented memory, SQLite's page caches are included in both). The `tailor`
//! binary installs [`Counting`]; elsewhere (tests, libraries) [`live_bytes`] is `None`.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);
static RELEASE: OnceLock<fn()> = OnceLock::new();

/// The binary names how its allocators give freed memory back to the system ([`release`]).
pub fn set_release(release: fn()) {
    let _ = RELEASE.set(release);
}

/// Gives memory the program has freed back to the system, where the allocator would keep
/// it for later. Called after the few jobs that allocate a lot at once and then sleep (a
/// model training, a checkpoint, a retention run) and now and then by the background
/// thread: an allocator returns a thread's freed pages only when that thread allocates
/// again, so a finished job's peak would otherwise stay resident. Never called on a
/// request's path (its cost alone is not measured; with it, `tailor bench` showed no
/// throughput change). Does nothing unless the binary set it ([`set_release`]).
pub fn release() {
    if let Some(release) = RELEASE.get() {
        release();
    }
}

/// Bytes allocated and not yet freed, when the counting allocator is installed.
pub fn live_bytes() -> Option<u64> {
    INSTALLED
        .load(Ordering::Relaxed)
        .then(|| LIVE.load(Ordering::Relaxed) as u64)
}

/// A read, not a write, once set: the flag's cache line is not bounced between threads.
fn mark_installed() {
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
}

/// Counts what `A` hands out: one relaxed atomic add per allocation and per free.
pub struct Counting<A>(pub A);

unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
            mark_installed();
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
            mark_installed();
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { self.0.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}
