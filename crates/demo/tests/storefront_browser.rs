//! The demo storefront in a real browser: the demo (a small store, in this process, as
//! `tailor demo` runs it) serves, and `tests/browser/storefront.mjs` drives Debian's Chromium
//! through it with playwright-core. The storefront SDK renders every standard placement with
//! its reason and a working "why" popover, impressions and clicks carry the decisionId, and
//! the page adapts: a newcomer's page, a recommendation clicked, add to cart, the adapted
//! cart page, a shopper's explained page, a category page in the store's order for a
//! newcomer and reordered with reasons for the shopper, the consent banner and the preference center (its
//! boxes show the stored consent; the consent ledger, read after each save, gains only what
//! was changed), an order; the catalog's pictures load. Screenshots land in
//! `target/tmp/storefront/`.
//!
//! An external test (`TAILOR_EXTERNAL_TESTS=1`, as `tests/run.sh` sets). Needs
//! `bash tests/browser/install.sh` (Chromium, playwright-core); without them the test fails
//! and says so, unless `TAILOR_SKIP_BROWSER_TESTS=1` is set.

mod common;

use std::path::Path;
use std::time::Duration;

use common::browser::ServedDemo;

#[test]
fn the_storefront_adapts_in_a_real_browser() {
    // `tailor demo --shoppers 1000 --days 30 --products 200`.
    let options = tailor_demo::Options {
        seed: 42,
        shoppers: 1000,
        days: 30,
        products: 200,
        live_visits: 3000,
        fresh: false,
        no_serve: false,
        // Set by `ServedDemo::start`.
        data: Default::default(),
        listen: ([127, 0, 0, 1], 0).into(),
    };
    let Some(demo) = ServedDemo::start("storefront_browser", options, Duration::from_secs(120))
    else {
        return;
    };
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("storefront");
    demo.walk(
        "storefront.mjs",
        &shots,
        &[("TAILOR_ADMIN_KEY", demo.key("admin_key"))],
    );
    assert!(
        [
            "home.png",
            "product.png",
            "cart.png",
            "shopper.png",
            "category.png",
            "preferences.png"
        ]
        .iter()
        .all(|shot| shots.join(shot).exists()),
        "screenshots were taken"
    );

    // The demo's live phase ran an experiment on simulated shoppers who respond to what
    // they are shown: its results are there, with a clean split and a lift.
    let results: serde_json::Value = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            reqwest::Client::new()
                .get(format!(
                    "{}/v1/experiments/demo-recs-holdout/results",
                    demo.base
                ))
                .bearer_auth(demo.key("admin_key"))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await
        })
        .expect("the experiment's results");
    assert_eq!(
        results["status"], "stopped",
        "the storefront is left personalized"
    );
    assert!(results["units"].as_u64().unwrap() >= 900, "{results}");
    assert_eq!(results["srm"]["mismatch"], false, "{}", results["srm"]);
    let conversion = &results["metrics"]["conversion"];
    assert!(
        conversion[1]["value"].as_f64().unwrap() > conversion[0]["value"].as_f64().unwrap(),
        "personalized recommendations convert better: {conversion}"
    );
    assert!(
        conversion[1]["frequentist"]["pValue"].as_f64().unwrap() < 0.05
            && conversion[1]["frequentist"]["ci"][0].as_f64().unwrap() > 0.0,
        "and significantly so: {conversion}"
    );
    assert!(
        conversion[1]["bayesian"]["chanceToWin"].as_f64().unwrap() > 0.95,
        "{conversion}"
    );
}
