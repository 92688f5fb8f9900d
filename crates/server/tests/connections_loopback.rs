//! Connections over real sockets (the server runs in this process on loopback): a client
//! that sends its headers too slowly, or its body, is cut off; a kept-alive connection is
//! closed after the idle timeout but not while its request is being handled; beyond the
//! connection limit, clients wait until one closes. (500 idle connections at once:
//! `adversarial.rs`.)

use std::time::Duration;

use serde_json::json;
use tailor_server::connections::ConnectionLimits;
use tailor_testkit::{SERVER_KEY, TestEngine, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

fn limits(max: usize, header_ms: u64, idle_ms: u64, body_ms: u64) -> ConnectionLimits {
    ConnectionLimits {
        max_connections: max,
        header_read_timeout: Duration::from_millis(header_ms),
        idle_timeout: Duration::from_millis(idle_ms),
        body_read_timeout: Duration::from_millis(body_ms),
    }
}

async fn server(kit: &TestEngine, limits: ConnectionLimits) -> TestServer {
    TestServer::start_configured(kit, |state| state.with_connection_limits(limits)).await
}

/// Reads until the server closes the connection; everything it sent.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = Vec::new();
    let closed = timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    closed
        .is_ok()
        .then(|| String::from_utf8_lossy(&out).into_owned())
}

/// Reads one whole response (headers and a `Content-Length` body) from a kept-alive
/// connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.expect("read");
        assert!(
            n > 0,
            "closed mid-response: {}",
            String::from_utf8_lossy(&out)
        );
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if out.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: tailor\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_slow_bodies_are_cut_off() {
    let kit = TestEngine::start().await;
    let s = server(&kit, limits(64, 300, 5_000, 300)).await;
    // A connection that never says anything.
    let mut silent = TcpStream::connect(s.addr).await.unwrap();
    // A slowloris: a header line now and then, each well within any idle timeout.
    let mut slow = TcpStream::connect(s.addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    for i in 0..5 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if slow
            .write_all(format!("x-{i}: y\r\n").as_bytes())
            .await
            .is_err()
        {
            break;
        }
    }
    assert!(
        read_to_close(&mut slow, Duration::from_secs(2))
            .await
            .is_some()
    );
    assert!(
        read_to_close(&mut silent, Duration::from_secs(2))
            .await
            .is_some()
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // A body announced and never finished: 408, and the connection closes.
    let mut body = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST /v1/track HTTP/1.1\r\nhost: tailor\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\
         authorization: Bearer {SERVER_KEY}\r\n\r\n{{\"userId\": \"slow\","
    );
    body.write_all(head.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut body, Duration::from_secs(2))
        .await
        .expect("closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    // The server still serves.
    let (status, _) = s.request(axum::http::Method::GET, "/healthz").send().await;
    assert_eq!(status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_alive_connections_close_when_idle_but_not_while_handled() {
    let kit = TestEngine::start().await;
    // The header timeout is shorter than the idle one: a kept-alive connection waiting for
    // its next request gets the idle timeout, and only then the header timeout.
    let s = server(&kit, limits(64, 400, 1_200, 5_000)).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    for i in 0..3 {
        if i > 0 {
            // Longer than the header timeout, shorter than the idle one.
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
        c.write_all(HEALTH).await.unwrap();
        let answer = read_response(&mut c).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // Then idle: closed after the idle timeout, not before.
    let idle_from = Instant::now();
    assert!(
        read_to_close(&mut c, Duration::from_secs(3))
            .await
            .is_some()
    );
    let idle = idle_from.elapsed();
    assert!(
        idle >= Duration::from_millis(1_000) && idle < Duration::from_millis(2_500),
        "{idle:?}"
    );
    // While a request is being handled, silence longer than the idle timeout is the
    // handler's business: here its body pauses for 1.5 s (within the body timeout).
    let batch: Vec<_> = (0..2_000)
        .map(|i| {
            json!({"type": "track", "userId": "long", "event": "Product Viewed",
                        "properties": {"product_id": format!("p-{i}")}})
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "batch": batch })).unwrap();
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST /v1/batch HTTP/1.1\r\nhost: tailor\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nauthorization: Bearer {SERVER_KEY}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    c.write_all(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    c.write_all(rest).await.unwrap();
    let answer = read_response(&mut c).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"accepted\":2000"), "{answer}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_connection_limit_clients_wait_for_a_free_one() {
    let kit = TestEngine::start().await;
    let s = server(&kit, limits(4, 5_000, 1_000, 5_000)).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(HEALTH).await.unwrap();
        assert!(read_response(&mut c).await.starts_with("HTTP/1.1 200"));
        held.push(c);
    }
    // A fifth client connects (the kernel's backlog takes it) but is not served while four
    // connections are open...
    let started = Instant::now();
    let mut fifth = TcpStream::connect(s.addr).await.unwrap();
    fifth.write_all(HEALTH).await.unwrap();
    let mut first = [0u8; 1];
    assert!(
        timeout(Duration::from_millis(500), fifth.read(&mut first))
            .await
            .is_err(),
        "served beyond the limit"
    );
    // ...until one closes: here the idle timeout closes them.
    let answer = timeout(Duration::from_secs(3), read_response(&mut fifth))
        .await
        .expect("served once a connection closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(800));
    drop(held);
    s.stop().await;
}
