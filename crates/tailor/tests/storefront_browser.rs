//! The demo storefront in a real browser: `tailor demo` (a small store) serves, and
//! `tests/browser/storefront.mjs` drives Debian's Chromium through it with playwright-core:
//! a newcomer's page, a product view, add to cart, the adapted cart page, a shopper's
//! explained page, an order.
//!
//! Needs `bash tests/browser/install.sh` (Chromium, playwright-core). Without them the test
//! fails and says so, unless `TAILOR_SKIP_BROWSER_TESTS=1` is set.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
    let _demo = Demo(
        Command::new(env!("CARGO_BIN_EXE_tailor"))
            .args([
                "demo",
                "--shoppers",
                "1000",
                "--days",
                "30",
                "--products",
                "200",
                "--data",
            ])
            .arg(data.path().join("store"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tailor demo"),
    );
    // The demo serves once it has built the store and written its completion marker.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !data.path().join("store/demo-complete").exists() {
        assert!(
            Instant::now() < deadline,
            "the demo was not built within 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let shots = data.path().join("shots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let out = Command::new("node")
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
        shots.join("cart.png").exists() && shots.join("shopper.png").exists(),
        "screenshots were taken"
    );

    // The demo's live phase ran an experiment on simulated shoppers who respond to what
    // they are shown: its results are there, with a clean split and a lift.
    let keys: serde_json::Value = serde_json::from_slice(
        &std::fs::read(data.path().join("store/demo-keys.json")).expect("demo keys"),
    )
    .expect("demo keys json");
    let out = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args([
            "report",
            "experiment",
            "demo-recs-holdout",
            "--json",
            "--url",
            &base,
        ])
        .args(["--admin-key", keys["admin_key"].as_str().unwrap()])
        .output()
        .expect("tailor report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report json");
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
