//! Starts the real `tailor serve` binary on a free loopback port with its own data
//! directory, and talks to it over HTTP.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const WRITE_KEY: &str = "test-write-key";
/// The secret server source's key: these tests send as the store's backend.
pub const SERVER_KEY: &str = "test-server-key";
pub const ADMIN_KEY: &str = "test-admin-key";
pub const ANALYST_KEY: &str = "test-analyst-key";

pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub data: PathBuf,
    pub http: reqwest::Client,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Server {
    /// Starts a server on `data` (kept, so a later `start` on it sees the same store).
    pub async fn start(data: &Path) -> Server {
        Server::start_with(data, &[]).await
    }

    /// Starts a server with extra environment variables (e.g. `TAILOR_TEST_CLOCK`).
    pub async fn start_with(data: &Path, env: &[(&str, String)]) -> Server {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_tailor"))
            .args(["serve", "--data"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("TAILOR_WRITE_KEY", WRITE_KEY)
            .env("TAILOR_SERVER_KEY", SERVER_KEY)
            .env("TAILOR_ADMIN_KEY", ADMIN_KEY)
            .env("TAILOR_ANALYST_KEY", ANALYST_KEY)
            .env("TAILOR_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tailor serve");
        let server = Server {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            data: data.to_path_buf(),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = server.http.get(server.url("/healthz")).send().await
                && r.status().is_success()
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "server did not become healthy in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs JSON with the write key as Segment libraries send it (Basic, key as user).
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .basic_auth(SERVER_KEY, Some(""))
            .json(body)
            .send()
            .await
            .expect("request");
        status_json(r).await
    }

    pub async fn raw(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        status_json(req.send().await.expect("request")).await
    }

    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .expect("request");
        status_json(r).await
    }

    pub async fn admin_put(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .put(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .json(body)
            .send()
            .await
            .expect("request");
        status_json(r).await
    }

    pub async fn admin_post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .json(body)
            .send()
            .await
            .expect("request");
        status_json(r).await
    }

    pub async fn admin_delete(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .delete(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .expect("request");
        status_json(r).await
    }

    pub async fn profile(&self, id: &str) -> Value {
        let (status, body) = self.admin_get(&format!("/v1/profiles/{id}")).await;
        assert_eq!(status, 200, "profile {id}: {body}");
        body
    }

    /// Stops with SIGKILL: no flush, no checkpoint.
    pub fn kill_9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill -9");
            let _ = c.wait();
        }
    }

    /// Stops with SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = c.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let status = c.wait().expect("wait for server");
            assert!(status.success(), "server exited with {status}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub async fn status_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Files in `dir` (recursively) that contain any of `needles`, with the needle.
pub fn byte_scan(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            for needle in needles {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(format!("{} contains {needle:?}", path.display()));
                }
            }
        }
    }
    assert!(files >= 2, "the scan saw the database files");
    found
}
