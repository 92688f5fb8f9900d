//! The switch for slow and external tests. Tests that drive Python or Node clients,
//! aiosmtpd or Chromium, or read `../shared/data`, run only with `TAILOR_EXTERNAL_TESTS=1`
//! (`tests/run.sh` sets it, so CI runs everything). Without it they pass after printing one
//! line saying what was skipped and how to run it; plain `cargo test` then needs only Rust.

use std::io::Write;
use std::path::PathBuf;

/// The environment variable that turns external tests on.
pub const SWITCH: &str = "TAILOR_EXTERNAL_TESTS";

/// Whether the switch is on, without printing anything.
pub fn enabled() -> bool {
    std::env::var(SWITCH).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// Whether this (external) test runs; prints one line when it does not.
pub fn external() -> bool {
    let on = enabled();
    if !on {
        say(&format!(
            "SKIPPED {}: it needs external tools or data; set {SWITCH}=1 to run it (tests/run.sh does)",
            current_test()
        ));
    }
    on
}

/// `../shared/data` beside the project, when external tests are on and the directory is
/// there; otherwise prints one line saying why the test is skipped.
pub fn shared_data() -> Option<PathBuf> {
    if !external() {
        return None;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    if dir.is_dir() {
        Some(dir.canonicalize().unwrap_or(dir))
    } else {
        say(&format!(
            "SKIPPED {}: {} is absent (the shared data sets live beside the project)",
            current_test(),
            dir.display()
        ));
        None
    }
}

/// One line on the process's stderr. Not `eprintln!`: libtest captures that for passing
/// tests, and a skipped test passes, so the line would never be seen.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The running test's name: libtest names each test's thread after it.
fn current_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string()
}
