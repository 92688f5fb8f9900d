//! Catalog uploads over the real router: products and content items as a JSON array, one
//! object, or NDJSON (by content type, or several JSON values in a row), gzip or not.
//! Every product the pure validator accepts survives a round trip through its JSON form,
//! and an accepted upload stores exactly what it says.
//!
//! Input: byte 0 picks products or content, the content type and the encoding; the rest
//! is the body.

use std::io::Write;
use std::sync::Mutex;

use axum::http::Method;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::Value;
use tailor_core::catalog::{ContentItem, Product};

use crate::http::{self, Auth, Harness};

static HARNESS: Mutex<Option<Harness>> = Mutex::new(None);

pub fn run(input: &[u8]) {
    let [mode, body @ ..] = input else {
        return;
    };
    let content = mode & 1 == 1;
    let content_type = match (mode >> 1) & 0b11 {
        0 => "application/json",
        1 => "application/x-ndjson",
        2 => "application/jsonlines",
        _ => "text/plain",
    };
    round_trips(body, content);
    let (body, encoding) = if mode & 0b1000 != 0 {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(body).expect("in memory");
        (enc.finish().expect("in memory"), Some("gzip"))
    } else {
        (body.to_vec(), None)
    };
    let mut headers = vec![("Content-Type", content_type)];
    if let Some(e) = encoding {
        headers.push(("Content-Encoding", e));
    }
    let path = if content {
        "/v1/catalog/content"
    } else {
        "/v1/catalog/products"
    };
    let (status, reply) = http::with(&HARNESS, http::seed_store, |h| {
        crate::within_budget(path, || {
            h.send(
                Method::PUT,
                path,
                Auth::Bearer(http::ADMIN_KEY),
                &headers,
                body,
            )
        })
    });
    http::assert_answer(path, status, &reply);
    if status.is_success() {
        assert!(reply["upserted"].is_u64(), "{path}: {reply}");
    }
}

/// Each JSON value of the body (one, an array's items, or lines) that validates comes back
/// the same from its serialised form.
fn round_trips(body: &[u8], content: bool) {
    let values: Vec<Value> = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => items,
        Ok(v) => vec![v],
        Err(_) => std::str::from_utf8(body)
            .map(|t| {
                t.lines()
                    .filter_map(|l| serde_json::from_str(l).ok())
                    .collect()
            })
            .unwrap_or_default(),
    };
    for v in values {
        if content {
            if let Ok(item) = ContentItem::from_json(v) {
                let again =
                    ContentItem::from_json(serde_json::to_value(&item).expect("serialises"))
                        .unwrap_or_else(|e| {
                            panic!("a valid content item no longer validates: {e}")
                        });
                assert_eq!(again, item);
            }
        } else if let Ok(product) = Product::from_json(v) {
            let json = serde_json::to_value(&product).expect("serialises");
            let again = Product::from_json(json.clone())
                .unwrap_or_else(|e| panic!("a valid product no longer validates: {e}: {json}"));
            assert_eq!(again, product, "{json}");
        }
    }
}
