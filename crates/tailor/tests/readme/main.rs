//! README.md as a test: the tour's commands run as written, and what the README quotes of
//! their output must match what they print. Changing a quoted output, or the behaviour
//! behind it, fails here until the README says the same.
//!
//! The README's fenced blocks say how they are checked (`markdown`, `expect`):
//! - a `sh` block of "Set up" or "A five-minute tour" is run by bash, in order, in one
//!   temporary directory; exported variables carry over to the next block. `cargo run
//!   --release --` runs the binary under test, and the ports 8080 (the demo's) and 8081 (the
//!   tour's own server) become free ports.
//! - a `text` or `json` block right after it is its quoted output (`expect`); a command
//!   without one must exit 0 and print no `{"error": …}`.
//! - tags after `sh`: `background` keeps the command running (a server) and waits until
//!   its quoted output has printed, or until its `--listen` port answers; `demo` marks the
//!   steps on the demo store Set-up builds; `skip` is not run (the test commands, which CI
//!   runs on their own).
//!
//! By default (`tests/run.sh`, with `TAILOR_EXTERNAL_TESTS=1`) it runs the tour's own-server
//! steps on the debug binary. `scripts/tour.sh` runs everything, Set-up's full demo
//! included, on the release binary: `TAILOR_README_TOUR=full TAILOR_README_BIN=…`.
//! Figures the README quotes from evaluations are checked against the files
//! `scripts/readme-figures.sh` writes (`figures`).

mod expect;
mod figures;
mod markdown;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SET_UP: &str = "Set up";
const TOUR: &str = "A five-minute tour";

fn readme() -> String {
    let path = tailor_testkit::tools::project_root().join("README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The servers the tour started, stopped when the test ends however it ends.
struct Background(Vec<(Child, String)>);

impl Drop for Background {
    fn drop(&mut self) {
        for (child, _) in &mut self.0 {
            // SIGTERM: a graceful stop, as Ctrl-C would.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
        }
        for (child, what) in &mut self.0 {
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if child.try_wait().ok().flatten().is_none() {
                eprintln!("{what} did not stop in 30 s; killing it");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

struct Tour {
    dir: tempfile::TempDir,
    bin: PathBuf,
    ports: [(u16, u16); 2],
    background: Background,
    /// How long a background command may take to be ready.
    ready_within: Duration,
}

impl Tour {
    fn new(bin: PathBuf, ready_within: Duration) -> Tour {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(".env"), "").expect("env file");
        Tour {
            dir,
            bin,
            ports: [(8080, free_port()), (8081, free_port())],
            background: Background(Vec::new()),
            ready_within,
        }
    }

    /// The README's text as this run sees it: its binary, its ports.
    fn localize(&self, text: &str) -> String {
        let mut text = text.replace("cargo run --release --", "\"$TAILOR_BIN\"");
        for (readme, ours) in self.ports {
            text = text.replace(&format!(":{readme}"), &format!(":{ours}"));
        }
        text
    }

    fn bash(&self) -> Command {
        let mut bash = Command::new("bash");
        bash.current_dir(self.dir.path())
            .env("TAILOR_BIN", &self.bin)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        for name in [
            "TAILOR_URL",
            "TAILOR_WRITE_KEY",
            "TAILOR_SERVER_KEY",
            "TAILOR_ADMIN_KEY",
            "TAILOR_LISTEN",
            "TAILOR_DATA",
            "TAILOR_LOG",
        ] {
            bash.env_remove(name);
        }
        // Set-up's `tailor demo` listens on its default port, 8080; here a free port stands
        // in for it (`--listen` flags, as the tour's server has, win over the variable).
        bash.env("TAILOR_LISTEN", format!("127.0.0.1:{}", self.ports[0].1));
        bash
    }

    fn run(&mut self, step: &markdown::Step) {
        let block = &step.command;
        let body = self.localize(&block.body);
        let expected = step
            .output
            .as_ref()
            .map(|o| (o.lang.clone(), self.localize(&o.body)));
        let at = format!("README.md:{} ({})", block.line, block.section);
        eprintln!("-- {at}\n{}", block.body.trim_end());
        let started = Instant::now();
        if block.has("background") {
            self.start(&at, &body, expected);
        } else {
            // `-e` as a careful reader would stop at a failing command; no `pipefail`, as
            // an interactive shell has none (`curl … | head` ends curl early, by design).
            let script = format!("set -eu\nsource .env\n{body}\nexport -p > .env\n");
            let out = self
                .bash()
                .arg("-c")
                .arg(&script)
                .output()
                .expect("run bash");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{at} failed ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            match expected {
                Some((lang, quoted)) => {
                    let result = if lang == "json" {
                        expect::json(&quoted, &stdout)
                    } else {
                        expect::text(&quoted, &stdout)
                    };
                    if let Err(why) = result {
                        panic!("{at}: {why}");
                    }
                }
                None => {
                    for value in expect::values(&stdout).unwrap_or_default() {
                        assert!(
                            value.get("error").is_none(),
                            "{at} answered an error: {value}"
                        );
                    }
                }
            }
        }
        eprintln!("   ({:.1} s)", started.elapsed().as_secs_f64());
    }

    /// Starts a server and waits until it is ready.
    fn start(&mut self, at: &str, body: &str, expected: Option<(String, String)>) {
        let stdout_path = self
            .dir
            .path()
            .join(format!("background-{}.out", self.background.0.len()));
        let stderr_path = stdout_path.with_extension("err");
        // A trailing `&` is the README's way of keeping the command running: here, the
        // test keeps it.
        let command = body.trim().trim_end_matches('&').trim_end();
        let script = format!("source .env\nexec {command}");
        let child = self
            .bash()
            .arg("-c")
            .arg(&script)
            .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr_path).expect("stderr file"))
            .spawn()
            .expect("start the command");
        self.background.0.push((child, at.to_string()));
        let listen_port = body
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse::<u16>().ok());
        let deadline = Instant::now() + self.ready_within;
        loop {
            let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
            let ready = match (&expected, listen_port) {
                (Some((_, quoted)), _) => expect::text(quoted, &stdout).is_ok(),
                (None, Some(port)) => std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
                (None, None) => true,
            };
            if ready {
                return;
            }
            let (child, _) = self.background.0.last_mut().expect("just pushed");
            let stopped = child.try_wait().ok().flatten();
            if stopped.is_some() || Instant::now() > deadline {
                let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                let why = match (stopped, &expected) {
                    (Some(status), _) => format!("it stopped ({status})"),
                    (None, Some((_, quoted))) => {
                        format!(
                            "not ready in time: {}",
                            expect::text(quoted, &stdout).unwrap_err()
                        )
                    }
                    (None, None) => "its port did not answer in time".to_string(),
                };
                panic!(
                    "{at}: {why}\nstdout:\n{stdout}\nstderr (end):\n{}",
                    tail(&stderr, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The tour's steps on a server of its own, as a newcomer types them after Set-up.
#[test]
fn the_tour_runs_as_written_and_prints_what_the_readme_quotes() {
    if !tailor_testkit::external() {
        return;
    }
    let full = std::env::var("TAILOR_README_TOUR").as_deref() == Ok("full");
    let bin = std::env::var_os("TAILOR_README_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tailor")));
    assert!(Path::new(&bin).exists(), "no binary at {}", bin.display());
    let text = readme();
    let sections: &[&str] = if full { &[SET_UP, TOUR] } else { &[TOUR] };
    let steps = markdown::steps(&text, sections);
    assert!(steps.len() >= 10, "the tour has {} steps", steps.len());
    let ready_within = Duration::from_secs(if full { 1_800 } else { 60 });
    let mut tour = Tour::new(bin, ready_within);
    let (mut ran, mut checked) = (0, 0);
    for step in &steps {
        let block = &step.command;
        if block.has("skip") || (block.has("demo") && !full) {
            eprintln!(
                "-- README.md:{} not run here ({})",
                block.line,
                block.tags.join(" ")
            );
            continue;
        }
        tour.run(step);
        ran += 1;
        checked += usize::from(step.output.is_some());
    }
    eprintln!("{ran} steps run, {checked} quoted outputs matched");
    // Every quoted output of the steps that ran was compared: a `json` or `text` block
    // that does not follow its command directly would silently check nothing.
    let quoted = markdown::blocks(&text)
        .into_iter()
        .filter(|b| {
            sections.contains(&b.section.as_str()) && (b.lang == "json" || b.lang == "text")
        })
        .filter(|b| {
            full || !steps.iter().any(|s| {
                s.command.has("demo") && s.output.as_ref().is_some_and(|o| o.line == b.line)
            })
        })
        .count();
    assert_eq!(
        checked, quoted,
        "{quoted} outputs are quoted, {checked} were compared"
    );
}
