//! What journeys send, received in the test: email through SMTP ([`MailSink`]) and
//! webhooks, push or SMS ([`WebhookReceiver`]); [`Mail`] reads a received email's MIME parts.
//!
//! [`MailSink`] is a small SMTP server in this process; with `TAILOR_EXTERNAL_TESTS=1` it is
//! Python's `aiosmtpd` instead (installed by `tests/compat/install.sh`), so CI also checks
//! the engine against a real SMTP implementation. [`MailSink::secure`] is aiosmtpd as a
//! provider's submission port: TLS (STARTTLS or implicit) and AUTH required, with a
//! certificate made for the test by `openssl`. All keep each message as aiosmtpd's Maildir
//! does: the headers it adds (`X-Peer`, `X-MailFrom`, `X-RcptTo`) first, then the message
//! as sent, with `\n` line ends.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use serde_json::Value;
use tailor_engine::journeys::channels::{SmtpSettings, SmtpTls};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The login [`MailSink::secure`] requires.
pub const SMTP_USER: &str = "tailor@shop.example.com";
pub const SMTP_PASSWORD: &str = "correct horse battery staple";

/// Recipients the in-process sink refuses with `550 5.1.1` (a hard bounce).
pub const NO_SUCH_USER: &str = "nosuchuser";

/// An SMTP server that keeps every message it accepts.
pub struct MailSink {
    port: u16,
    inner: Sink,
    settings: SmtpSettings,
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
            settings: plain(port),
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
            settings: plain(port),
        }
    }

    /// aiosmtpd as a provider's submission port (`tests/compat/smtp_server.py`): `tls` is
    /// required before anything else (STARTTLS, or TLS from the first byte), then AUTH as
    /// [`SMTP_USER`]. Its certificate is issued for 127.0.0.1 by a CA made for this sink;
    /// [`MailSink::settings`] trusts that CA. Needs python3 with aiosmtpd and openssl (an
    /// external test).
    pub async fn secure(tls: SmtpTls) -> MailSink {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (cert, key, ca) = certificates(dir.path());
        let maildir = dir.path().join("mail");
        let port = free_port();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/compat/smtp_server.py"
        );
        let mode = match tls {
            SmtpTls::StartTls => "starttls",
            SmtpTls::Tls => "implicit",
            SmtpTls::None => panic!("MailSink::secure is for TLS; use MailSink::start"),
        };
        let child = Command::new("python3")
            // aiosmtpd's deprecation and policy warnings are noise here.
            .args(["-W", "ignore"])
            .arg(script)
            .args(["--port", &port.to_string(), "--tls", mode])
            .args(["--user", SMTP_USER, "--password", SMTP_PASSWORD])
            .arg("--maildir")
            .arg(&maildir)
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 tests/compat/smtp_server.py (pip install -r tests/compat/requirements.txt)");
        wait_for_port(port).await;
        MailSink {
            port,
            inner: Sink::Aiosmtpd(child, maildir, dir),
            settings: SmtpSettings {
                host: "127.0.0.1".into(),
                port,
                tls,
                user: Some(SMTP_USER.into()),
                password: Some(SMTP_PASSWORD.into()),
                ca_file: Some(ca),
            },
        }
    }

    /// The URL for `TAILOR_SMTP_URL` (the plain sinks).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// How to reach this sink: host, port, TLS mode, login, the CA to trust.
    pub fn settings(&self) -> SmtpSettings {
        self.settings.clone()
    }

    /// The messages to `address`, their MIME parts read.
    pub fn mails_to(&self, address: &str) -> Vec<Mail> {
        self.to(address).iter().map(|m| Mail::parse(m)).collect()
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

fn plain(port: u16) -> SmtpSettings {
    SmtpSettings {
        port,
        ..SmtpSettings::new("127.0.0.1", SmtpTls::None)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the SMTP server did not listen within 20 s; is aiosmtpd installed (tests/compat/install.sh)?"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A CA and a server certificate it issued for 127.0.0.1 (P-256), made with `openssl`:
/// (certificate, key, CA certificate).
fn certificates(dir: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    let path = |name: &str| dir.join(name);
    let ext = path("server.ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write the extensions file");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: Vec<Vec<std::ffi::OsString>> = vec![
        args(
            &["req", "-x509"],
            &ec,
            &[("-keyout", path("ca.key")), ("-out", path("ca.pem"))],
            &["-days", "2", "-subj", "/CN=Tailor test CA"],
        ),
        args(
            &["req"],
            &ec,
            &[
                ("-keyout", path("server.key")),
                ("-out", path("server.csr")),
            ],
            &["-subj", "/CN=127.0.0.1"],
        ),
        args(
            &["x509", "-req"],
            &[],
            &[
                ("-in", path("server.csr")),
                ("-CA", path("ca.pem")),
                ("-CAkey", path("ca.key")),
                ("-out", path("server.pem")),
                ("-extfile", ext.clone()),
            ],
            &["-days", "2", "-CAcreateserial"],
        ),
    ];
    for step in steps {
        let out = Command::new("openssl")
            .args(&step)
            .output()
            .expect("openssl (to make the test certificates)");
        assert!(
            out.status.success(),
            "openssl {step:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (path("server.pem"), path("server.key"), path("ca.pem"))
}

fn args(
    head: &[&str],
    middle: &[&str],
    files: &[(&str, PathBuf)],
    tail: &[&str],
) -> Vec<std::ffi::OsString> {
    let mut out: Vec<std::ffi::OsString> = head.iter().chain(middle).map(Into::into).collect();
    for (flag, file) in files {
        out.push(flag.into());
        out.push(file.into());
    }
    out.extend(tail.iter().map(Into::into));
    out
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
            // An address that does not exist, for bounce tests: refused for good.
            "RCPT" if argument("RCPT TO:").starts_with(NO_SUCH_USER) => {
                b"550 5.1.1 Recipient address rejected: User unknown\r\n"
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

/// The fields of an `application/x-www-form-urlencoded` body (as SMS providers take them).
pub fn form_fields(body: &str) -> std::collections::BTreeMap<String, String> {
    fn decode(s: &str) -> String {
        let s = s.replace('+', " ");
        let raw = s.as_bytes();
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'%'
                && let Some(b) = std::str::from_utf8(raw.get(i + 1..i + 3).unwrap_or_default())
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
            } else {
                out.push(raw[i]);
                i += 1;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
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

/// A received email with its MIME structure read: headers (unfolded, encoded words
/// decoded), and the text and HTML parts with their transfer encoding undone.
#[derive(Debug, Clone)]
pub struct Mail {
    pub raw: String,
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub html: Option<String>,
}

impl Mail {
    pub fn parse(raw: &str) -> Mail {
        let (headers, body) = split_entity(raw);
        let mut mail = Mail {
            raw: raw.to_string(),
            headers: headers.clone(),
            text: String::new(),
            html: None,
        };
        collect_parts(&headers, body, &mut mail);
        mail
    }

    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn subject(&self) -> &str {
        self.header("Subject").unwrap_or_default()
    }
}

/// Headers (unfolded, decoded) and the body of one MIME entity.
fn split_entity(raw: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .or_else(|| raw.split_once("\n\n"))
        .unwrap_or((raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = headers.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    for (_, v) in &mut headers {
        *v = decode_words(v);
    }
    (headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map_or("", |(_, v)| v.as_str())
}

fn collect_parts(headers: &[(String, String)], body: &str, mail: &mut Mail) {
    let content_type = header(headers, "Content-Type");
    let lower = content_type.to_ascii_lowercase();
    if lower.starts_with("multipart/") {
        let boundary = content_type
            .split(';')
            .find_map(|p| p.trim().strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_string())
            .unwrap_or_default();
        let delimiter = format!("--{boundary}");
        for part in body.split(&delimiter).skip(1) {
            if part.starts_with("--") {
                break;
            }
            let part = part.trim_start_matches(['\r', '\n']);
            let (h, b) = split_entity(part);
            collect_parts(&h, b, mail);
        }
        return;
    }
    let decoded = match header(headers, "Content-Transfer-Encoding")
        .to_ascii_lowercase()
        .as_str()
    {
        "quoted-printable" => quoted_printable(body),
        "base64" => {
            let compact: String = body.split_whitespace().collect();
            String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .unwrap_or_default(),
            )
            .into_owned()
        }
        _ => body.to_string(),
    };
    let decoded = decoded.replace("\r\n", "\n");
    if lower.starts_with("text/html") {
        mail.html = Some(decoded);
    } else if lower.is_empty() || lower.starts_with("text/plain") {
        mail.text = decoded;
    }
}

fn quoted_printable(body: &str) -> String {
    let mut bytes = Vec::with_capacity(body.len());
    let text = body.replace("\r\n", "\n");
    let raw = text.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'=' if raw.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' => {
                let hex =
                    std::str::from_utf8(raw.get(i + 1..i + 3).unwrap_or_default()).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        bytes.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        bytes.push(b'=');
                        i += 1;
                    }
                }
            }
            b => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) in a header value.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("=?") {
        let Some(end) = rest[start + 2..].find("?=").map(|e| start + 2 + e) else {
            break;
        };
        let word = &rest[start + 2..end];
        let mut pieces = word.splitn(3, '?');
        let (_charset, encoding, text) = (pieces.next(), pieces.next(), pieces.next());
        let decoded = match (encoding.map(str::to_ascii_lowercase).as_deref(), text) {
            (Some("b"), Some(t)) => base64::engine::general_purpose::STANDARD
                .decode(t)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
            (Some("q"), Some(t)) => Some(quoted_printable(&t.replace('_', " "))),
            _ => None,
        };
        match decoded {
            Some(d) => {
                let before = &rest[..start];
                // Whitespace between two encoded words is not part of the text.
                if !before.trim().is_empty() || out.is_empty() {
                    out.push_str(before);
                }
                out.push_str(&d);
            }
            None => out.push_str(&rest[..end + 2]),
        }
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}
