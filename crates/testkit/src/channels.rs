//! What journeys send, received in the test: email through SMTP ([`MailSink`]) and
//! webhooks or push ([`WebhookReceiver`]).
//!
//! [`MailSink`] is a small SMTP server in this process; with `TAILOR_EXTERNAL_TESTS=1` it is
//! Python's `aiosmtpd` instead (installed by `tests/compat/install.sh`), so CI also checks
//! the engine against a real SMTP implementation. Both keep each message as aiosmtpd's
//! Maildir does: the headers it adds (`X-Peer`, `X-MailFrom`, `X-RcptTo`) first, then the
//! message as sent, with `\n` line ends.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// An SMTP server that keeps every message it accepts.
pub struct MailSink {
    port: u16,
    inner: Sink,
}

enum Sink {
    InProcess(Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>),
    /// The process, its Maildir, and the directory holding it (removed on drop).
    Aiosmtpd(
        Child,
        PathBuf,
        #[allow(dead_code, reason = "kept for its Drop")] tempfile::TempDir,
    ),
}

impl MailSink {
    /// `aiosmtpd` when external tests are on, otherwise the in-process server.
    pub async fn start() -> MailSink {
        if crate::switch::enabled() {
            MailSink::aiosmtpd().await
        } else {
            MailSink::in_process().await
        }
    }

    pub async fn in_process() -> MailSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let port = listener.local_addr().expect("an address").port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let kept = messages.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, peer)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let _ = smtp_session(socket, peer, kept).await;
                });
            }
        });
        MailSink {
            port,
            inner: Sink::InProcess(messages, task),
        }
    }

    /// Python's `aiosmtpd` writing into a Maildir.
    pub async fn aiosmtpd() -> MailSink {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let maildir = dir.path().join("mail");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let python = crate::tools::python();
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} -m aiosmtpd: {e} (bash tests/compat/install.sh)",
                    python.display()
                )
            });
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen within 20 s; is it installed (tests/compat/install.sh)?"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        MailSink {
            port,
            inner: Sink::Aiosmtpd(child, maildir, dir),
        }
    }

    /// The URL for `ChannelConfig::smtp_url`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<String> {
        match &self.inner {
            Sink::InProcess(messages, _) => messages.lock().expect("mail").clone(),
            Sink::Aiosmtpd(_, dir, _) => {
                let mut all = Vec::new();
                for sub in ["new", "cur"] {
                    if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
                        for e in entries.flatten() {
                            all.push(std::fs::read_to_string(e.path()).expect("read mail"));
                        }
                    }
                }
                all
            }
        }
    }

    /// The messages to `address`.
    pub fn to(&self, address: &str) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| m.contains(&format!("To: {address}")))
            .collect()
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        match &mut self.inner {
            Sink::InProcess(_, task) => task.abort(),
            Sink::Aiosmtpd(child, _, _) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// One SMTP conversation (RFC 5321's minimum: no extensions, no TLS, no auth).
async fn smtp_session(
    socket: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    kept: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 tailor-testkit ESMTP\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::<String>::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let verb = command.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let argument = |prefix: &str| {
            command[prefix.len().min(command.len())..]
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        };
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-localhost\r\n250 8BITMIME\r\n",
            "HELO" | "NOOP" => b"250 OK\r\n",
            "RSET" => {
                (from, to) = (String::new(), Vec::new());
                b"250 OK\r\n"
            }
            "MAIL" => {
                from = argument("MAIL FROM:");
                b"250 OK\r\n"
            }
            "RCPT" => {
                to.push(argument("RCPT TO:"));
                b"250 OK\r\n"
            }
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut message = format!(
                    "X-Peer: {}\nX-MailFrom: {from}\nX-RcptTo: {}\n",
                    peer.ip(),
                    to.join(", ")
                );
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    let text = line.trim_end_matches(['\r', '\n']);
                    if text == "." {
                        break;
                    }
                    message.push_str(text.strip_prefix('.').unwrap_or(text));
                    message.push('\n');
                }
                kept.lock().expect("mail").push(message);
                (from, to) = (String::new(), Vec::new());
                b"250 OK: queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 Command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// A webhook receiver: records each delivery's headers and body; answers 500 while
/// [`WebhookReceiver::set_failing`] is on, 204 otherwise.
#[derive(Clone, Default)]
pub struct WebhookReceiver {
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    failing: Arc<AtomicBool>,
}

impl WebhookReceiver {
    /// Starts receiving on a loopback port; the receiver and its base URL.
    pub async fn start() -> (WebhookReceiver, String) {
        let receiver = WebhookReceiver::default();
        let r = receiver.clone();
        let app = axum::Router::new().route(
            "/{*path}",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let r = r.clone();
                async move {
                    if r.failing.load(Ordering::SeqCst) {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    r.got.lock().expect("deliveries").push((headers, body));
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (receiver, base)
    }

    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Every delivery: headers and body.
    pub fn deliveries(&self) -> Vec<(HeaderMap, String)> {
        self.got.lock().expect("deliveries").clone()
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.deliveries()
            .iter()
            .map(|(_, b)| serde_json::from_str(b).expect("a JSON webhook body"))
            .collect()
    }

    /// The deliveries about `user` (`userId` in the body).
    pub fn for_user(&self, user: &str) -> Vec<Value> {
        self.bodies()
            .into_iter()
            .filter(|b| b["userId"] == user)
            .collect()
    }
}
