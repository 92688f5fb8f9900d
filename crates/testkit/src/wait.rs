//! Waiting for something that happens on another thread, with a deadline instead of a
//! guessed sleep.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long [`eventually`] waits by default: far beyond what any condition here needs.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// Polls `check` every 20 ms until it holds; panics naming `what` after `within`.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
