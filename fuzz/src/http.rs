//! One engine over the in-memory store behind the real router, called in-process: the
//! extractors, handlers and error mapping are the server's own, only the socket is left out.
//! The engine is rebuilt every [`REBUILD_EVERY`] requests so a long run's accepted events and
//! logged decisions do not fill memory.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tailor_core::SystemClock;
use tailor_engine::{ConfiguredKeys, Engine, Options};
use tailor_server::{AppState, router};
use tailor_store::MemoryStore;
use tower::ServiceExt;

pub const WRITE_KEY: &str = "wk_fuzz";
pub const ADMIN_KEY: &str = "ak_fuzz";
const REBUILD_EVERY: u64 = 20_000;

pub struct Harness {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    pub engine: Engine,
    served: u64,
}

/// How a request is authorized.
#[derive(Clone, Copy, Debug)]
pub enum Auth {
    None,
    /// Segment's way: HTTP Basic with the write key as user name.
    Basic,
    Bearer(&'static str),
}

impl Harness {
    fn new(seed: &dyn Fn(&Engine)) -> Harness {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let options = Options {
            keys: ConfiguredKeys {
                write: Some(WRITE_KEY.into()),
                admin: Some(ADMIN_KEY.into()),
                ..Default::default()
            },
            identity_secret: Some("fuzz-identity-secret".into()),
            ..Options::default()
        };
        let (engine, _) =
            Engine::open(Arc::new(MemoryStore::new()), Arc::new(SystemClock), options)
                .expect("engine");
        seed(&engine);
        let app = rt.block_on(async { router(AppState::new(engine.clone())) });
        Harness {
            rt,
            app,
            engine,
            served: 0,
        }
    }

    /// Sends one request; the status and the body as JSON (`Null` if it is not JSON).
    pub fn send(
        &mut self,
        method: Method,
        path: &str,
        auth: Auth,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        self.served += 1;
        let mut req = Request::builder().method(method).uri(path);
        match auth {
            Auth::None => {}
            // base64("wk_fuzz:")
            Auth::Basic => req = req.header("Authorization", "Basic d2tfZnV6ejo="),
            Auth::Bearer(key) => req = req.header("Authorization", format!("Bearer {key}")),
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Body::from(body)).expect("request");
        let app = self.app.clone();
        self.rt.block_on(async move {
            let resp = app.oneshot(req).await.expect("infallible");
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

/// The harness of one target, made on first use with `seed` and rebuilt now and then.
pub fn with<T>(
    cell: &'static Mutex<Option<Harness>>,
    seed: fn(&Engine),
    f: impl FnOnce(&mut Harness) -> T,
) -> T {
    // A panic inside `f` is a finding; the fuzzer stops there, so a poisoned lock is moot.
    let mut guard = cell.lock().unwrap_or_else(|p| p.into_inner());
    if guard.as_ref().is_none_or(|h| h.served >= REBUILD_EVERY) {
        if let Some(old) = guard.take() {
            let _ = old.rt.block_on(old.engine.shutdown());
        }
        *guard = Some(Harness::new(&seed));
    }
    f(guard.as_mut().expect("made above"))
}

/// The rule every route follows: a success, or a typed JSON error in the 4xx range (or a
/// 429 from the rate limits); never a 5xx, never an untyped error.
pub fn assert_answer(what: &str, status: StatusCode, body: &Value) {
    assert!(
        !status.is_server_error(),
        "{what}: server error {status}: {body}"
    );
    if !status.is_success() {
        assert!(
            status.is_client_error(),
            "{what}: unexpected status {status}"
        );
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{what}: untyped error {status}: {body}"
        );
    }
}

/// A small catalog and a few shoppers, so decide and ingest have something to work on.
pub fn seed_store(engine: &Engine) {
    let categories = ["Shoes/Boots", "Shoes/Sneakers", "Bags"];
    let products: Vec<_> = (0..40)
        .map(|i| {
            tailor_core::catalog::Product::from_json(json!({
                "id": format!("p{i}"),
                "name": format!("Product {i}"),
                "price": 5 + i,
                "category": categories[i % 3],
                "stock": i % 7,
            }))
            .expect("seed product")
        })
        .collect();
    engine.put_products(products).expect("seed catalog");
}
