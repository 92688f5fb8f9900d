//! A real PostgreSQL server for one test process: `initdb` into a temporary directory,
//! `postgres` on a free loopback port with its socket in that directory, stopped and
//! removed when the [`PgServer`] drops, or when the test process dies (a watchdog shell
//! beside the server sees its owner gone). Debian's `postgresql` package provides the
//! binaries (`tests/pg/install.sh` installs it; CI runs it).
//!
//! `initdb` refuses to run as root, and CI runs as root: then the cluster is made and run
//! by the `postgres` system user the package creates (the child processes take its uid).
//!
//! Needs nothing but `std`, so crates below the engine (the store's conformance test) use
//! it without the harness.

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The role tests connect as (a superuser of the test cluster, trust authentication).
pub const USER: &str = "tailor";

/// Runs the server and stops it when told (TERM) or when the owner process is gone; in
/// the second case also removes the cluster's directory.
const WATCHDOG: &str = r#"
dir="$1"; port="$2"; owner="$3"; bin="$4"
"$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
    -c shared_buffers=64MB >"$dir/server.log" 2>&1 &
pg=$!
trap 'kill -INT $pg 2>/dev/null; wait $pg; exit 0' TERM INT
while [ -d "/proc/$owner" ] && kill -0 $pg 2>/dev/null; do sleep 0.5; done
kill -INT $pg 2>/dev/null; wait $pg
[ -d "/proc/$owner" ] || rm -rf "$dir"
"#;

/// A running PostgreSQL cluster owned by this test process.
pub struct PgServer {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    /// The uid and gid the server runs as, when this process is root.
    run_as: Option<(u32, u32)>,
    watchdog: Option<Child>,
}

impl PgServer {
    /// Makes a fresh cluster and starts it. Panics with what to install when the
    /// binaries are missing: only call it from tests that [`crate::external`] let run.
    pub fn start() -> io::Result<PgServer> {
        let bin = find_bin().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "PostgreSQL is not installed: run `bash tests/pg/install.sh` (Debian's `postgresql` package)",
            )
        })?;
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tailor-pg-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let run_as = if running_as_root() {
            let id = |flag: &str| -> io::Result<u32> {
                let out = Command::new("id").args([flag, "postgres"]).output()?;
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .map_err(|_| {
                        io::Error::other(
                            "running as root needs the `postgres` user (Debian's package makes it)",
                        )
                    })
            };
            let (uid, gid) = (id("-u")?, id("-g")?);
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
            Some((uid, gid))
        } else {
            None
        };
        let mut server = PgServer {
            dir,
            port: 0,
            bin,
            run_as,
            watchdog: None,
        };
        let init = server
            .command("initdb")
            .args(["-D"])
            .arg(server.dir.join("data"))
            .args([
                "-U",
                USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-N",
            ])
            .stdout(Stdio::null())
            .output()?;
        if !init.status.success() {
            return Err(io::Error::other(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&init.stderr)
            )));
        }
        server.start_again()?;
        Ok(server)
    }

    /// Starts the server (again) on the same data directory; a new port if the old one
    /// was never used.
    pub fn start_again(&mut self) -> io::Result<()> {
        if self.watchdog.is_some() {
            return Ok(());
        }
        for _ in 0..5 {
            if self.port == 0 {
                self.port = free_port()?;
            }
            let mut watchdog = self.shell(WATCHDOG);
            watchdog
                .arg(&self.dir)
                .arg(self.port.to_string())
                .arg(std::process::id().to_string())
                .arg(&self.bin)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            self.watchdog = Some(watchdog.spawn()?);
            if self.wait_ready(Duration::from_secs(30)) {
                return Ok(());
            }
            // Most likely the port was taken meanwhile: try another.
            self.stop();
            self.port = 0;
        }
        Err(io::Error::other(format!(
            "PostgreSQL did not start; its log:\n{}",
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        )))
    }

    /// Stops the server (a fast shutdown: connections are closed), keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(watchdog.id().to_string())
                .status();
            let _ = watchdog.wait();
        }
        // The postmaster removes its pid file when it is down.
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.dir.join("data/postmaster.pid").exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `database` over TCP on loopback.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database (fresh, empty) and returns its URL.
    pub fn create_database(&self, name: &str) -> io::Result<String> {
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(self.url(name))
    }

    /// Runs SQL with `psql` against `database`; returns what it printed (unaligned, no
    /// headers).
    pub fn psql(&self, database: &str, sql: &str) -> io::Result<String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                "-d",
                database,
                "-c",
                sql,
            ])
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "psql: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The cluster's data directory (for byte scans of its files).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return true;
            }
            if let Some(w) = self.watchdog.as_mut()
                && matches!(w.try_wait(), Ok(Some(_)))
            {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// A program of the PostgreSQL installation, run as the cluster's user.
    fn command(&self, program: &str) -> Command {
        self.as_owner(Command::new(self.bin.join(program)))
    }

    fn shell(&self, script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script, "sh"]);
        self.as_owner(command)
    }

    fn as_owner(&self, mut command: Command) -> Command {
        use std::os::unix::process::CommandExt as _;
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid).env("HOME", &self.dir);
        }
        command.current_dir(&self.dir);
        command
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` (Debian's layout), or `TAILOR_PG_BIN`.
fn find_bin() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("TAILOR_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether `path` exists (for callers checking an installation).
pub fn installed() -> bool {
    find_bin().is_some_and(|b| Path::new(&b).join("initdb").exists())
}
