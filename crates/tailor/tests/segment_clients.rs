//! Compatibility with the official Segment client libraries.
//!
//! Starts the real `tailor serve` binary on a free loopback port with a fresh data
//! directory, drives it with `@segment/analytics-node` (tests/compat/segment_node.mjs)
//! and `segment-analytics-python` (tests/compat/segment_python.py), each configured only
//! with `host`, then checks through `GET /v1/profiles/{id}` that what they sent landed:
//! identify traits, anonymous → user merge, alias, e-commerce counters, page views.
//!
//! An external test: it runs only with `TAILOR_EXTERNAL_TESTS=1` (`tests/run.sh` sets it)
//! and otherwise prints one line and passes. When it runs it needs the project's Python
//! environment and node with the packages from `tests/compat/install.sh`, and FAILS without
//! them. `TAILOR_TEST_PYTHON` (`tailor_testkit::tools::python`) and `TAILOR_COMPAT_NODE`
//! override the interpreters.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Segment's server libraries run on the store's backend: they hold a server source's key.
const WRITE_KEY: &str = "compat-server-key";
const ADMIN_KEY: &str = "compat-admin-key";
/// How long one client script may take before it is killed and the test fails.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

fn compat_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/compat"));
    dir.canonicalize().unwrap_or(dir)
}

fn python() -> String {
    tailor_testkit::tools::python().display().to_string()
}

fn node() -> String {
    std::env::var("TAILOR_COMPAT_NODE").unwrap_or_else(|_| "node".into())
}

/// Runs a short command; `Ok(stdout)` when it exits 0, else what went wrong.
fn probe(program: &str, args: &[&str], cwd: &Path) -> Result<String, String> {
    match Command::new(program).args(args).current_dir(cwd).output() {
        Err(e) => Err(format!("`{program}` could not be run: {e}")),
        Ok(out) if out.status.success() => {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        }
        Ok(out) => Err(format!(
            "`{program} {}` exited with {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// The installed library versions, or every missing prerequisite.
fn prerequisites() -> Result<(String, String), Vec<String>> {
    let dir = compat_dir();
    let mut missing = Vec::new();
    let py = python();
    let python_lib = probe(
        &py,
        &[
            "-c",
            "import importlib.metadata as m, segment.analytics; print(m.version('segment-analytics-python'))",
        ],
        &dir,
    )
    .map_err(|e| {
        missing.push(format!(
            "segment-analytics-python for {py}: {e} (bash tests/compat/install.sh)"
        ))
    });
    let nd = node();
    let node_lib = probe(&nd, &["--version"], &dir)
        .map_err(|e| missing.push(format!("node: {e}")))
        .and_then(|_| {
            let manifest = dir.join("node_modules/@segment/analytics-node/package.json");
            std::fs::read_to_string(&manifest)
                .ok()
                .and_then(|text| serde_json::from_str::<Value>(&text).ok())
                .and_then(|v| v["version"].as_str().map(str::to_string))
                .ok_or_else(|| {
                    missing.push(format!(
                        "@segment/analytics-node: {} is missing (run `npm ci` in tests/compat)",
                        manifest.display()
                    ))
                })
        });
    match (python_lib, node_lib) {
        (Ok(p), Ok(n)) => Ok((p, n)),
        _ => Err(missing),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The running server. Dropping it (also while a failed assertion unwinds) kills the
/// process; on a failure it prints the server's log.
struct Server {
    child: Option<Child>,
    base: String,
    log: PathBuf,
    http: reqwest::Client,
    // Dropped after the process is gone.
    _data: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let data = tempfile::tempdir().expect("a temporary data directory");
        let log = data.path().join("server.log");
        let log_file = std::fs::File::create(&log).expect("server log file");
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_tailor"))
            .arg("serve")
            .arg("--data")
            .arg(data.path().join("store"))
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("TAILOR_SERVER_KEY", WRITE_KEY)
            .env("TAILOR_ADMIN_KEY", ADMIN_KEY)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file handle"))
            .stderr(log_file)
            .spawn()
            .expect("start `tailor serve`");
        let mut server = Server {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            log,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
            _data: data,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = server
                .http
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                && r.status().is_success()
            {
                return server;
            }
            if let Some(status) = server
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "`tailor serve` exited with {status} before it was healthy:\n{}",
                    server.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "`tailor serve` did not answer /healthz within 30 s:\n{}",
                server.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET /v1/profiles/{id}` with the admin key: the status and the JSON body.
    async fn profile(&self, id: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}/v1/profiles/{id}", self.base))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET /v1/profiles/{id}: {e}"));
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- tailor serve log ----\n{}", self.log_text());
        }
    }
}

/// Runs one client script to completion (killing it after CLIENT_TIMEOUT) and panics
/// with its output unless it exits 0.
async fn run_client(
    label: &'static str,
    program: String,
    script: &'static str,
    server: &Server,
    run_id: &str,
) {
    let dir = compat_dir();
    let path = dir.join(script);
    let mut cmd = Command::new(&program);
    cmd.arg(&path)
        .args([server.base.as_str(), WRITE_KEY, run_id])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "{label}: could not start `{program} {}`: {e}",
                path.display()
            )
        });
        let mut out = child.stdout.take().expect("piped stdout");
        let mut err = child.stderr.take().expect("piped stderr");
        let out_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let deadline = Instant::now() + CLIENT_TIMEOUT;
        let status = loop {
            match child.try_wait().expect("wait for the client") {
                Some(status) => break Some(status),
                None if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        (
            status,
            out_reader.join().unwrap_or_default(),
            err_reader.join().unwrap_or_default(),
        )
    })
    .await
    .expect("the client runner");
    eprintln!("---- {label} stdout ----\n{stdout}---- {label} stderr ----\n{stderr}");
    match status {
        None => panic!(
            "{label}: did not finish within {CLIENT_TIMEOUT:?} and was killed\nstdout:\n{stdout}\nstderr:\n{stderr}"
        ),
        Some(s) if !s.success() => panic!(
            "{label}: the Segment library reported delivery errors against tailor ({s})\nstdout:\n{stdout}\nstderr:\n{stderr}"
        ),
        Some(_) => {}
    }
}

/// What one client's script sends, and so what its person's profile must show.
struct Expected {
    prefix: &'static str,
    name: &'static str,
    /// Every call the script makes about this person (all ids), each stored once.
    events: u64,
    searches: u64,
    extra_traits: Value,
}

/// Reads `pointer` from `profile`, failing with the whole profile when it differs.
fn check(who: &str, profile: &Value, pointer: &str, expected: Value) {
    let actual = profile.pointer(pointer).cloned().unwrap_or(Value::Null);
    let same = match (actual.as_f64(), expected.as_f64()) {
        (Some(a), Some(e)) => (a - e).abs() < 1e-9,
        _ => actual == expected,
    };
    assert!(
        same,
        "{who}: profile field {pointer} is {actual}, expected {expected}\nprofile: {}",
        serde_json::to_string_pretty(profile).unwrap_or_default()
    );
}

async fn verify(server: &Server, run_id: &str, e: &Expected) -> String {
    let user_id = format!("{}-{run_id}", e.prefix);
    let anonymous_id = format!("{}-anon-{run_id}", e.prefix);
    let previous_id = format!("{}-old-{run_id}", e.prefix);
    let who = format!("{} ({user_id})", e.name);

    let (status, profile) = server.profile(&user_id).await;
    assert_eq!(
        status, 200,
        "{who}: GET /v1/profiles/{user_id} answered {status}: {profile}"
    );
    let id = profile["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{who}: the profile has no string `id`: {profile}"))
        .to_string();

    // Identity: the anonymous id (identify with both ids) and the alias's previousId
    // resolve to the same profile as the userId.
    for (what, other) in [
        ("anonymousId (merged by identify)", &anonymous_id),
        ("previousId (merged by alias)", &previous_id),
    ] {
        let (status, body) = server.profile(other).await;
        assert_eq!(
            status, 200,
            "{who}: the {what} {other:?} is unknown ({status}): {body}"
        );
        assert_eq!(
            body["id"].as_str(),
            Some(id.as_str()),
            "{who}: the {what} {other:?} resolves to {} instead of the user's profile {id}",
            body["id"]
        );
    }
    let contains = |field: &str, value: &str| {
        profile[field]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(value)))
    };
    assert!(
        contains("userIds", &user_id),
        "{who}: userIds lacks {user_id}: {profile}"
    );
    assert!(
        contains("userIds", &previous_id),
        "{who}: userIds lacks the alias previousId {previous_id}: {profile}"
    );
    assert!(
        contains("anonymousIds", &anonymous_id),
        "{who}: anonymousIds lacks {anonymous_id}: {profile}"
    );

    // identify traits.
    check(
        &who,
        &profile,
        "/traits/email",
        json!(format!("{user_id}@example.com")),
    );
    check(
        &who,
        &profile,
        "/traits/name",
        json!(format!("{} Tester", e.name)),
    );
    for (k, v) in e.extra_traits.as_object().into_iter().flatten() {
        check(&who, &profile, &format!("/traits/{k}"), v.clone());
    }

    // Every call stored exactly once: none dropped, none duplicated.
    check(&who, &profile, "/events", json!(e.events));
    // page (anonymous) + page + screen + page (previousId).
    check(&who, &profile, "/pageViews", json!(4));
    // Product Viewed sku-1 (anonymous) + sku-2.
    check(&who, &profile, "/productViews", json!(2));
    check(&who, &profile, "/searches", json!(e.searches));
    // Order Completed {total: 280, products: [sku-1 80×2, sku-2 120×1]}.
    check(&who, &profile, "/orders/count", json!(1));
    check(&who, &profile, "/orders/revenue", json!(280.0));
    // The order emptied the cart; Product Added sku-3 started a new one.
    check(
        &who,
        &profile,
        "/cart/items",
        json!([{"productId": "sku-3", "quantity": 1, "price": 12.5}]),
    );
    check(&who, &profile, "/cart/value", json!(12.5));
    check(&who, &profile, "/lifecycleStage", json!("purchase"));
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn official_segment_libraries_deliver_to_tailor() {
    if !tailor_testkit::external() {
        return;
    }
    let versions = match prerequisites() {
        Ok(v) => v,
        Err(missing) => panic!(
            "the Segment client libraries are not installed:\n  {}\n\
             Install them with `bash tests/compat/install.sh` (as root: pip install -r \
             tests/compat/requirements.txt; npm ci in tests/compat), or run without \
             TAILOR_EXTERNAL_TESTS=1 to skip this test.",
            missing.join("\n  ")
        ),
    };
    eprintln!(
        "segment-analytics-python {}, @segment/analytics-node {}",
        versions.0, versions.1
    );

    let server = Server::start().await;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let run_id = format!("{}-{nanos}", std::process::id());

    run_client(
        "segment_python.py",
        python(),
        "segment_python.py",
        &server,
        &run_id,
    )
    .await;
    run_client(
        "segment_node.mjs",
        node(),
        "segment_node.mjs",
        &server,
        &run_id,
    )
    .await;

    // Python: the 13 calls the Node script makes too, 120 "Products Searched" (so more
    // than one batch of 100), and one gzipped identify that adds the `plan` trait.
    let py = verify(
        &server,
        &run_id,
        &Expected {
            prefix: "py",
            name: "Python",
            events: 134,
            searches: 120,
            extra_traits: json!({"plan": "gzip"}),
        },
    )
    .await;
    // Node: 13 calls in one batch.
    let nd = verify(
        &server,
        &run_id,
        &Expected {
            prefix: "node",
            name: "Node",
            events: 13,
            searches: 0,
            extra_traits: json!({}),
        },
    )
    .await;
    assert_ne!(
        py, nd,
        "the Python and Node people were merged into one profile {py}"
    );
}
