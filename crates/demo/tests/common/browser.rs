//! What the browser tests share: the demo built and serving in a thread of this process on
//! a free port, the prerequisites they drive (Chromium, playwright-core, node), and running
//! one of `tests/browser/*.mjs` against it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// `tailor demo` in a thread of this process, stopped (and flushed) when dropped.
struct Demo {
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<Result<(), super::Failure>>>,
}

impl Demo {
    fn start(options: tailor_demo::Options) -> Demo {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let data = options.data.clone();
        let thread = std::thread::spawn(move || {
            let open = |keys: &tailor_demo::DemoKeys| super::open_engine(&data, keys);
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

/// The folder of the browser scripts and their `node_modules`.
fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
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

/// A demo store built and serving, for a browser test. Dropping it stops the demo, then
/// removes its directory.
pub struct ServedDemo {
    // Declared before `_data`: fields drop in order, so the demo stops first.
    demo: Demo,
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    /// The demo's keys (`demo-keys.json`).
    pub keys: serde_json::Value,
    _data: tempfile::TempDir,
}

impl ServedDemo {
    /// Builds a demo with `options` (its data directory and address are set here) and waits
    /// until it serves, at most `build_within`. `None` when the test does not run: external
    /// tests off, or the browser missing with `TAILOR_SKIP_BROWSER_TESTS=1` (without it, a
    /// missing prerequisite fails the test and says how to install it).
    pub fn start(
        test: &str,
        options: tailor_demo::Options,
        build_within: Duration,
    ) -> Option<ServedDemo> {
        if !tailor_testkit::external() {
            return None;
        }
        let missing = missing_prerequisites(&browser_dir());
        if !missing.is_empty() {
            if std::env::var("TAILOR_SKIP_BROWSER_TESTS").as_deref() == Ok("1") {
                eprintln!(
                    "SKIPPED {test} (TAILOR_SKIP_BROWSER_TESTS=1): missing {}",
                    missing.join(", ")
                );
                return None;
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
        let store = data.path().join("store");
        let demo = Demo::start(tailor_demo::Options {
            data: store.clone(),
            listen: ([127, 0, 0, 1], port).into(),
            ..options
        });
        // The demo serves once it has built the store and written its completion marker.
        let deadline = Instant::now() + build_within;
        while !store.join("demo-complete").exists() {
            assert!(!demo.finished(), "the demo stopped before it was built");
            assert!(
                Instant::now() < deadline,
                "the demo was not built within {build_within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(300));
        let keys = serde_json::from_slice(
            &std::fs::read(store.join("demo-keys.json")).expect("demo keys"),
        )
        .expect("demo keys json");
        Some(ServedDemo {
            demo,
            base: format!("http://127.0.0.1:{port}"),
            keys,
            _data: data,
        })
    }

    /// The demo's key named `name` (`admin_key`, `analyst_key`, …).
    pub fn key(&self, name: &str) -> &str {
        self.keys[name].as_str().expect("a demo key")
    }

    /// Runs `tests/browser/{script}` with the base URL and `shots` (created) as arguments and
    /// `env` set; fails the test with its output unless it succeeds. Its stdout.
    pub fn walk(&self, script: &str, shots: &Path, env: &[(&str, &str)]) -> String {
        std::fs::create_dir_all(shots).expect("screenshot dir");
        let out = Command::new("node")
            .envs(env.iter().copied())
            .arg(browser_dir().join(script))
            .arg(&self.base)
            .arg(shots)
            .output()
            .expect("run node");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("{stdout}");
        assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}");
        stdout
    }
}
