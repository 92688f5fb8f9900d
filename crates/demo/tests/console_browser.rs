//! The console in a real browser: a demo-like store (the demo, smaller, in this process)
//! serves, and `tests/browser/console.mjs` drives Debian's Chromium through every console
//! screen with playwright-core, signed in as the admin and as the analyst: the numbers shown
//! are the API's, changes made in the console (a placement's variants, an experiment, a
//! journey paused) show in the API, the analyst reaches no personal data, and no Content
//! Security Policy refusal happens. Screenshots of each page land in `target/tmp/console/`.
//!
//! An external test (`TAILOR_EXTERNAL_TESTS=1`, as `tests/run.sh` sets). Needs
//! `bash tests/browser/install.sh` (Chromium, playwright-core); without them the test fails
//! and says so, unless `TAILOR_SKIP_BROWSER_TESTS=1` is set.

mod common;

use std::path::Path;
use std::time::Duration;

use common::browser::ServedDemo;

#[test]
fn the_console_in_a_real_browser() {
    // A demo-like store, smaller than `tailor demo`'s: history, journeys, a trained model
    // version and the live phase's experiment.
    let options = tailor_demo::Options {
        seed: 7,
        shoppers: 600,
        days: 30,
        products: 150,
        live_visits: 1200,
        fresh: false,
        no_serve: false,
        // Set by `ServedDemo::start`.
        data: Default::default(),
        listen: ([127, 0, 0, 1], 0).into(),
    };
    let Some(demo) = ServedDemo::start("console_browser", options, Duration::from_secs(180)) else {
        return;
    };
    // Screenshots are the CI artifact: target/tmp/console/.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    demo.walk(
        "console.mjs",
        &shots,
        &[
            ("ADMIN_KEY", demo.key("admin_key")),
            ("ANALYST_KEY", demo.key("analyst_key")),
        ],
    );
    for shot in [
        "overview",
        "people",
        "person",
        "segments",
        "placements",
        "placement-preview",
        "experiments",
        "experiment",
        "journeys",
        "journey",
        "journey-edit-refused",
        "templates",
        "template",
        "models",
        "privacy",
        "analyst-overview",
        "analyst-experiment",
        "analyst-privacy",
    ] {
        assert!(
            shots.join(format!("{shot}.png")).exists(),
            "screenshot {shot}"
        );
    }
}
