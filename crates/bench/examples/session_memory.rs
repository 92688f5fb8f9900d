//! Bytes the session recommender holds per view of its window (the soak's memory budget
//! counts them as data): `cargo run --release -p tailor-bench --example session_memory`.
//! A counting allocator measures what the window and the trained model hold, and the peak
//! while training, for windows shaped like the soak's traffic (5,000 shoppers browsing
//! 2,000 products).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    use tailor_engine::session_model::{SessionClicks, SessionModel};
    println!("views, window bytes/view, model bytes/view, training peak bytes/view");
    for views in [100_000u64, 300_000, 1_000_000] {
        let base = LIVE.load(Ordering::Relaxed);
        let mut clicks = SessionClicks::default();
        // A view every ~3 ms, shoppers and products drawn by a fixed linear congruence.
        let mut x = 12345u64;
        for i in 0..views {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let person = (x >> 33) % 5_000;
            let product = (x >> 17) % 2_000;
            clicks.push(person, &format!("p{product}"), (i * 3) as i64);
        }
        let window = LIVE.load(Ordering::Relaxed) - base;
        PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
        let before = LIVE.load(Ordering::Relaxed);
        let model = SessionModel::train(clicks.take_training_copy()).expect("a model");
        let held = LIVE.load(Ordering::Relaxed) - before;
        let peak = PEAK.load(Ordering::Relaxed) - before;
        let per = |b: usize| b as f64 / views as f64;
        println!(
            "{views}, {:.1}, {:.1}, {:.1}",
            per(window),
            per(held),
            per(peak)
        );
        drop(model);
    }
}
