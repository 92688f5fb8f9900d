//! `POST /v1/decide` over the real router, on a seeded catalog with the standard
//! placements: the request body as the fuzzer makes it, with the public key (the
//! internet's view) or the admin key. A 200 answers every placement asked for, in order,
//! with a decision id; anything else is a typed 4xx.
//!
//! Input: byte 0 picks the key; the rest is the body.

use std::sync::Mutex;

use axum::http::Method;
use serde_json::Value;

use crate::http::{self, Auth, Harness};

static HARNESS: Mutex<Option<Harness>> = Mutex::new(None);

pub fn run(input: &[u8]) {
    let [mode, body @ ..] = input else {
        return;
    };
    let auth = if mode & 1 == 0 {
        Auth::Basic
    } else {
        Auth::Bearer(http::ADMIN_KEY)
    };
    let asked: Option<Vec<String>> = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| serde_json::from_value(v.get("placements")?.clone()).ok());
    let (status, reply) = http::with(&HARNESS, http::seed_store, |h| {
        crate::within_budget("decide", || {
            h.send(
                Method::POST,
                "/v1/decide",
                auth,
                &[("Content-Type", "application/json")],
                body.to_vec(),
            )
        })
    });
    http::assert_answer("decide", status, &reply);
    if status.is_success() {
        assert!(reply["decisionId"].is_string(), "{reply}");
        assert!(reply["personalized"].is_boolean(), "{reply}");
        let decisions = reply["decisions"].as_object().expect("decisions object");
        if let Some(asked) = asked {
            for id in &asked {
                assert!(
                    decisions.contains_key(id),
                    "placement {id:?} unanswered: {reply}"
                );
            }
        }
    }
}
