//! Fuzz targets for everything Tailor parses from outside: Segment bodies at the ingest
//! edge, catalog uploads, the GrowthBook condition language and its JS-regex translation,
//! experiment, placement, journey, quiz and segment definitions, message templates, the
//! decide request and the profile-token verifier.
//!
//! Each module has a `run(&[u8])` that panics on a finding; `tests/targets.rs` hands them
//! to bolero, which fuzzes them under `cargo bolero test` (scripts/fuzz.sh) and, under
//! plain `cargo test`, replays each target's corpus (`tests/__fuzz__/<target>/corpus`) and
//! crashes, then a few thousand random inputs. The checks go beyond "no panic": a typed
//! JSON error for every refused request and never a 5xx; a definition that validates
//! re-serialises to one that parses to the same value and evaluates; work per input is
//! bounded by a budget that the fuzzer's hang timeout alone would not state.

pub mod catalog;
pub mod condition;
pub mod decide;
pub mod definitions;
pub mod experiment;
pub mod http;
pub mod message;
pub mod segment;
pub mod template;
pub mod token;

use std::time::{Duration, Instant};

/// Linked into every test binary of the package (see Cargo.toml).
pub use bolero;

/// What one call may take in an optimized build on this 2-core machine shared by four (load
/// 10 is common: calls run 5× slower than idle): far above any sane input's cost, far below
/// the fuzzer's hang timeout. Only fuzzing builds check it (`cfg(fuzzing)`); a test replaying
/// a corpus in a debug build does not. (500 ms was too tight: the first compilation of a
/// case-insensitive Unicode `$regexi` takes 125 ms in a debug build and was timed at 530 ms
/// under load; it is compiled once and cached, so it is no per-request cost.)
pub const BUDGET: Duration = Duration::from_secs(2);

/// Runs `f`, and in fuzzing builds fails if it took longer than [`BUDGET`].
pub fn within_budget<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    if cfg!(fuzzing) {
        assert!(
            took <= BUDGET,
            "{what} took {took:?}, over the budget of {BUDGET:?}"
        );
    }
    out
}
