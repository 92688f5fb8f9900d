//! Segment's tracking API at the ingest edge, over the real router: every route
//! (`/v1/track` … `/v1/batch` and analytics.js's short paths), JSON or `text/plain`
//! bodies, identity or gzip (valid gzip of the fuzzer's bytes, or the bytes themselves
//! claimed as gzip), the key in a header, in the body, or nowhere.
//!
//! Input: byte 0 picks the route, byte 1 the encoding, type and key; the rest is the body.

use std::io::Write;
use std::sync::Mutex;

use axum::http::Method;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;

use crate::http::{self, Auth, Harness};

const ROUTES: [&str; 14] = [
    "/v1/track",
    "/v1/identify",
    "/v1/page",
    "/v1/screen",
    "/v1/group",
    "/v1/alias",
    "/v1/batch",
    "/v1/t",
    "/v1/i",
    "/v1/p",
    "/v1/s",
    "/v1/g",
    "/v1/a",
    "/v1/b",
];

static HARNESS: Mutex<Option<Harness>> = Mutex::new(None);

pub fn run(input: &[u8]) {
    let [route, mode, body @ ..] = input else {
        return;
    };
    let path = ROUTES[*route as usize % ROUTES.len()];
    let gzip = mode & 0b11;
    let content_type = if mode & 0b100 == 0 {
        "application/json"
    } else {
        "text/plain"
    };
    let auth = match (mode >> 3) & 0b11 {
        0 | 1 => Auth::Basic,
        2 => Auth::Bearer(http::WRITE_KEY),
        _ => Auth::None,
    };
    let (body, encoding) = match gzip {
        1 => {
            let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
            enc.write_all(body).expect("in memory");
            (enc.finish().expect("in memory"), Some("gzip"))
        }
        2 => (body.to_vec(), Some("gzip")),
        _ => (body.to_vec(), None),
    };
    let mut headers = vec![("Content-Type", content_type)];
    if let Some(e) = encoding {
        headers.push(("Content-Encoding", e));
    }
    let (status, reply) = http::with(&HARNESS, http::seed_store, |h| {
        crate::within_budget(path, || h.send(Method::POST, path, auth, &headers, body))
    });
    http::assert_answer(path, status, &reply);
    if status.is_success() {
        // Every accepted body answers Segment's way, with the rejected items listed.
        assert_eq!(reply["success"], Value::Bool(true), "{path}: {reply}");
    }
}
