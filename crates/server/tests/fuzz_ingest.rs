//! Property tests of the ingest edge: whatever bytes arrive, the server answers with a
//! 2xx or a typed JSON error in the 4xx range, never panics and never fails internally.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use serde_json::{Value, json};
use tailor_core::SystemClock;
use tailor_engine::{Engine, Options};
use tailor_server::{AppState, router};
use tailor_store::SqliteStore;
use tower::ServiceExt;

struct Harness {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    _dir: tempfile::TempDir,
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path()).expect("store");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let options = Options {
        keys: tailor_engine::ConfiguredKeys {
            write: Some("wk".into()),
            admin: Some("ak".into()),
            ..Default::default()
        },
        ..Options::default()
    };
    let (engine, _) =
        Engine::open(Arc::new(store), Arc::new(SystemClock), options).expect("engine");
    let app = rt.block_on(async { router(AppState::new(engine)) });
    Harness { rt, app, _dir: dir }
}

impl Harness {
    fn post(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let req = Request::post(path)
            .header("Authorization", "Basic d2s6") // "wk:"
            .header("Content-Type", "application/json")
            .body(Body::from(body))
            .expect("request");
        self.rt.block_on(async {
            let resp = self.app.clone().oneshot(req).await.expect("infallible");
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        })
    }
}

fn check(status: StatusCode, body: &Value) -> Result<(), TestCaseError> {
    prop_assert!(!status.is_server_error(), "server error {status}: {body}");
    if status.is_success() {
        prop_assert_eq!(&body["success"], &json!(true));
    } else {
        prop_assert!(status.is_client_error(), "unexpected status {status}");
        prop_assert!(body["error"]["code"].is_string(), "untyped error: {body}");
        prop_assert!(
            body["error"]["message"].is_string(),
            "untyped error: {body}"
        );
    }
    Ok(())
}

/// Arbitrary JSON, biased toward the field names and shapes Segment messages use.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-zA-Z0-9 :._-]{0,12}".prop_map(Value::String),
        Just(json!("track")),
        Just(json!("2026-01-01T00:00:00Z")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("type".to_string()),
            Just("userId".to_string()),
            Just("anonymousId".to_string()),
            Just("event".to_string()),
            Just("properties".to_string()),
            Just("timestamp".to_string()),
            Just("sentAt".to_string()),
            Just("messageId".to_string()),
            Just("previousId".to_string()),
            Just("context".to_string()),
            Just("batch".to_string()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_break_ingest(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let h = harness_once();
        for path in ["/v1/batch", "/v1/track", "/v1/identify", "/v1/alias"] {
            let (status, body) = h.post(path, bytes.clone());
            check(status, &body)?;
        }
    }

    #[test]
    fn arbitrary_json_never_breaks_ingest(value in json_value(), as_batch in any::<bool>()) {
        let h = harness_once();
        let body = if as_batch { json!({"batch": [value.clone(), value.clone()]}) } else { value.clone() };
        let (status, reply) = h.post(if as_batch { "/v1/batch" } else { "/v1/track" }, serde_json::to_vec(&body).unwrap());
        check(status, &reply)?;
    }
}

/// One server for all cases of a run (starting one per case would dominate the time).
fn harness_once() -> &'static Harness {
    static H: std::sync::OnceLock<Harness> = std::sync::OnceLock::new();
    H.get_or_init(harness)
}
