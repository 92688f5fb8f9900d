//! The demo storefront in a real browser: the demo (a small store, in this process, as
//! `tailor demo` runs it) serves, and `tests/browser/storefront.mjs` drives Debian's Chromium
//! through it with playwright-core. The storefront SDK renders every standard placement with
//! its reason and a working "why" popover, impressions and clicks carry the decisionId, and
//! the page adapts: a newcomer's page, a recommendation clicked, add to cart, the adapted
//! cart page, a shopper's explained page, the consent banner and the preference center (its
//! boxes show the stored consent; the consent ledger, read after each save, gains only what
//! was changed), an order. Screenshots land in `target/tmp/storefront/`.
//!
//! An external test (`TAILOR_EXTERNAL_TESTS=1`, as `tests/run.sh` sets). Needs
//! `bash tests/browser/install.sh` (Chromium, playwright-core); without them the test fails
//! and says so, unless `TAILOR_SKIP_BROWSER_TESTS=1` is set.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// `tailor demo` in a thread of this process, stopped (and flushed) when dropped.
struct Demo {
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<Result<(), common::Failure>>>,
}

impl Demo {
    fn start(options: tailor_demo::Options) -> Demo {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let data = options.data.clone();
        let thread = std::thread::spawn(move || {
            let open = |keys: &tailor_demo::DemoKeys| common::open_engine(&data, keys);
            let shutdown = move || {
                let mut stopped = stopped.clone();
                async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                }
            };
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(tailor_demo::run(options, open, shutdown))?;
            Ok(())
        });
        Demo {
            stop,
            thread: Some(thread),
        }
    }

    fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("the demo failed: {e}"),
                Err(_) => eprintln!("the demo panicked"),
            }
        }
    }
}

fn missing_prerequisites(browser_dir: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        missing.push(format!("Chromium at {chromium}"));
    }
    if !browser_dir.join("node_modules/playwright-core").exists() {
        missing.push(format!(
            "playwright-core in {}/node_modules",
            browser_dir.display()
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node".into());
    }
    missing
}

#[test]
fn the_storefront_adapts_in_a_real_browser() {
    if !tailor_testkit::external() {
        return;
    }
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    let missing = missing_prerequisites(&browser_dir);
    if !missing.is_empty() {
        if std::env::var("TAILOR_SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
            eprintln!(
                "SKIPPED storefront_browser (TAILOR_SKIP_BROWSER_TESTS=1): missing {}",
                missing.join(", ")
            );
            return;
        }
        panic!(
            "the browser test needs: {}. Install them with `bash tests/browser/install.sh`, \
             or set TAILOR_SKIP_BROWSER_TESTS=1 to skip this test.",
            missing.join(", ")
        );
    }
    let data = tempfile::tempdir().expect("tempdir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let store: PathBuf = data.path().join("store");
    // `tailor demo --shoppers 1000 --days 30 --products 200`.
    let demo = Demo::start(tailor_demo::Options {
        data: store.clone(),
        listen: ([127, 0, 0, 1], port).into(),
        seed: 42,
        shoppers: 1000,
        days: 30,
        products: 200,
        live_visits: 3000,
        fresh: false,
        no_serve: false,
    });
    // The demo serves once it has built the store and written its completion marker.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !store.join("demo-complete").exists() {
        assert!(!demo.finished(), "the demo stopped before it was built");
        assert!(
            Instant::now() < deadline,
            "the demo was not built within 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("storefront");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("demo-keys.json")).expect("demo keys"))
            .expect("demo keys json");
    let out = Command::new("node")
        .env(
            "TAILOR_ADMIN_KEY",
            keys["admin_key"].as_str().expect("admin key"),
        )
        .arg(browser_dir.join("storefront.mjs"))
        .arg(&base)
        .arg(&shots)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the storefront walk failed:\n{stdout}\n{stderr}"
    );
    assert!(
        ["cart.png", "shopper.png", "preferences.png"]
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
                .get(format!("{base}/v1/experiments/demo-recs-holdout/results"))
                .bearer_auth(keys["admin_key"].as_str().expect("admin key"))
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
