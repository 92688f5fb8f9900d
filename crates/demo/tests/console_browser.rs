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
fn the_console_in_a_real_browser() {
    if !tailor_testkit::external() {
        return;
    }
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    let missing = missing_prerequisites(&browser_dir);
    if !missing.is_empty() {
        if std::env::var("TAILOR_SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
            eprintln!(
                "SKIPPED console_browser (TAILOR_SKIP_BROWSER_TESTS=1): missing {}",
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
    // A demo-like store, smaller than `tailor demo`'s: history, journeys, a trained model
    // version and the live phase's experiment.
    let demo = Demo::start(tailor_demo::Options {
        data: store.clone(),
        listen: ([127, 0, 0, 1], port).into(),
        seed: 7,
        shoppers: 600,
        days: 30,
        products: 150,
        live_visits: 1200,
        fresh: false,
        no_serve: false,
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    while !store.join("demo-complete").exists() {
        assert!(!demo.finished(), "the demo stopped before it was built");
        assert!(
            Instant::now() < deadline,
            "the demo was not built within 180 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let keys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("demo-keys.json")).expect("demo keys"))
            .expect("demo keys json");
    // Screenshots are the CI artifact: target/tmp/console/.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let out = Command::new("node")
        .arg(browser_dir.join("console.mjs"))
        .arg(&base)
        .arg(&shots)
        .env("ADMIN_KEY", keys["admin_key"].as_str().expect("admin key"))
        .env(
            "ANALYST_KEY",
            keys["analyst_key"].as_str().expect("analyst key"),
        )
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the console walk failed:\n{stdout}\n{stderr}"
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
