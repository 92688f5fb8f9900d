//! An engine for one test: an in-memory store (the default) or a temporary SQLite
//! directory, a clock the test moves, the test keys, and helpers that take and give JSON as
//! the HTTP API does, so a test moved from the API keeps its assertions word for word.

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use serde_json::{Map, Value, json};
use tailor_core::{Clock, ContentItem, OffsetClock, Product};
use tailor_engine::decide::Placement;
use tailor_engine::journeys::channels::ChannelConfig;
use tailor_engine::predictions::Schedule;
use tailor_engine::retention::RetentionSettings;
use tailor_engine::{
    ConfiguredKeys, DecideInput, DecideOutput, Engine, EngineError, Options, Origin, Receipt,
};
use tailor_store::{MemoryStore, SqliteStore, Store};

use crate::clock::TestClock;
use crate::messages::{self, Segment};

/// The public `web` source's key: what a browser holds (its userId claims need proof).
pub const WRITE_KEY: &str = "test-write-key";
/// The secret `server` source's key: the store's backend.
pub const SERVER_KEY: &str = "test-server-key";
/// The identity secret user hashes are made with (see [`TestEngine::user_hash`]).
pub const IDENTITY_SECRET: &str = "test-identity-secret";
pub const ADMIN_KEY: &str = "test-admin-key";
pub const ANALYST_KEY: &str = "test-analyst-key";

/// How a [`TestEngine`] starts.
#[derive(Clone, Default)]
pub struct Builder {
    sqlite: bool,
    manual_clock: Option<String>,
    channels: ChannelConfig,
    retention: RetentionSettings,
    models: Option<Schedule>,
}

impl Builder {
    /// A SQLite data directory instead of the in-memory store: for byte scans of the files.
    pub fn sqlite(mut self) -> Self {
        self.sqlite = true;
        self
    }

    /// A clock standing still at `at` (ISO-8601) until the test moves it.
    pub fn manual_clock(mut self, at: &str) -> Self {
        self.manual_clock = Some(at.to_string());
        self
    }

    /// Where journeys send email, push and webhooks.
    pub fn channels(mut self, channels: ChannelConfig) -> Self {
        self.channels = channels;
        self
    }

    pub fn retention(
        mut self,
        events_days: Option<u32>,
        expire_inactive_days: Option<u32>,
    ) -> Self {
        self.retention = RetentionSettings {
            events_days,
            expire_inactive_days,
            ..self.retention
        };
        self
    }

    /// Logged decisions are kept this many days (then rolled up per day).
    pub fn retain_decisions(mut self, days: u32) -> Self {
        self.retention.decisions_days = Some(days);
        self
    }

    /// When prediction models train (by default as `tailor serve` does).
    pub fn models(mut self, schedule: Schedule) -> Self {
        self.models = Some(schedule);
        self
    }

    pub async fn start(self) -> TestEngine {
        let clock = Arc::new(match &self.manual_clock {
            Some(at) => TestClock::Manual(tailor_core::ManualClock::new(
                tailor_core::time::parse_timestamp(at).expect("an ISO-8601 start time"),
            )),
            None => TestClock::Offset(Arc::new(OffsetClock::new())),
        });
        let (store, dir): (Arc<dyn Store>, _) = if self.sqlite {
            let dir = tempfile::tempdir().expect("a temporary data directory");
            let store = SqliteStore::open(dir.path()).expect("open the SQLite store");
            (Arc::new(store), Some(dir))
        } else {
            (Arc::new(MemoryStore::new()), None)
        };
        let engine = open(&self, store.clone(), clock.clone());
        TestEngine {
            engine: Some(engine),
            store: Some(store),
            clock,
            dir,
            setup: self,
            ids: AtomicU64::new(0),
            last_received: AtomicI64::new(i64::MIN),
        }
    }
}

fn open(setup: &Builder, store: Arc<dyn Store>, clock: Arc<TestClock>) -> Engine {
    let options = Options {
        keys: ConfiguredKeys {
            write: Some(WRITE_KEY.into()),
            server: Some(SERVER_KEY.into()),
            admin: Some(ADMIN_KEY.into()),
            analyst: Some(ANALYST_KEY.into()),
        },
        identity_secret: Some(IDENTITY_SECRET.into()),
        channels: setup.channels.clone(),
        models: setup.models.unwrap_or_default(),
        retention: setup.retention,
    };
    let (engine, _) = Engine::open(store, clock, options).expect("start the engine");
    engine
}

/// An engine for one test. Derefs to [`Engine`] for everything the helpers do not cover.
pub struct TestEngine {
    engine: Option<Engine>,
    store: Option<Arc<dyn Store>>,
    pub clock: Arc<TestClock>,
    dir: Option<tempfile::TempDir>,
    setup: Builder,
    ids: AtomicU64,
    /// When the last call was received (see [`TestEngine::send`]).
    last_received: AtomicI64,
}

impl Deref for TestEngine {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        self.engine.as_ref().expect("the engine is stopped")
    }
}

impl TestEngine {
    /// In-memory store, real time (movable), the test keys.
    pub async fn start() -> TestEngine {
        Builder::default().start().await
    }

    pub fn builder() -> Builder {
        Builder::default()
    }

    pub fn engine(&self) -> &Engine {
        self
    }

    /// The SQLite data directory, if the engine has one.
    pub fn data_dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    // Events.

    /// Ingests Segment calls (see [`messages`]), received now; panics if ingest fails.
    ///
    /// Each call is received at least 1 ms after the one before (the clock is nudged when
    /// needed), as calls over HTTP are: events without their own timestamp then keep their
    /// order wherever the profile keeps the latest by event time (the cart, consent).
    pub async fn send(&self, calls: impl Segment) -> Receipt {
        let received_at = self.tick();
        let mut new_id = || format!("kit-{}", self.ids.fetch_add(1, Ordering::Relaxed));
        let messages = calls.messages(received_at, &mut new_id);
        // As the store's backend sends them (Segment's server libraries).
        self.ingest(messages, Origin::Server).await.expect("ingest")
    }

    /// Now, at least 1 ms after the last call (see [`TestEngine::send`]); [`crate::TestApp`]
    /// ticks before each request for the same reason.
    pub fn tick(&self) -> tailor_core::Millis {
        let now = self.clock.now();
        let last = self.last_received.load(Ordering::SeqCst);
        if now <= last {
            self.clock.advance_ms(last + 1 - now);
        }
        let received_at = self.clock.now();
        self.last_received.store(received_at, Ordering::SeqCst);
        received_at
    }

    pub async fn track(&self, body: Value) -> Receipt {
        self.send(messages::track(body)).await
    }

    pub async fn identify(&self, body: Value) -> Receipt {
        self.send(messages::identify(body)).await
    }

    pub async fn page(&self, body: Value) -> Receipt {
        self.send(messages::page(body)).await
    }

    pub async fn alias(&self, body: Value) -> Receipt {
        self.send(messages::alias(body)).await
    }

    pub async fn batch(&self, body: Value) -> Receipt {
        self.send(messages::batch(body)).await
    }

    /// Records consent as `PUT /v1/consent` does: Segment's consent event with the purposes,
    /// the source (default `api`) and the policy version. `body` is that route's body.
    pub async fn record_consent(&self, body: Value) -> Receipt {
        let source = body["source"].as_str().unwrap_or("api");
        let mut event = json!({
            "event": tailor_engine::consent::CONSENT_EVENT,
            "properties": {"consentSource": source, "policyVersion": self.consent_policy().version},
            "context": {"consent": {"categoryPreferences": body["purposes"]}},
        });
        for k in ["userId", "anonymousId", "timestamp"] {
            if let Some(x) = body.get(k) {
                event[k] = x.clone();
            }
        }
        self.send(messages::track(event)).await
    }

    // Reads, as the admin API shows them.

    /// `GET /v1/profiles/{id}`: the profile with its predictions; panics if unknown.
    pub fn profile_json(&self, id: &str) -> Value {
        self.try_profile_json(id)
            .unwrap_or_else(|| panic!("no profile {id}"))
    }

    pub fn try_profile_json(&self, id: &str) -> Option<Value> {
        self.profile_in_full(id)
            .expect("read a profile")
            .map(|v| json!(v))
    }

    /// `GET /v1/profiles/{id}/export`: everything kept about the person, as the API sends
    /// it; `None` for an unknown id.
    pub fn export_json(&self, id: &str) -> Option<Value> {
        self.export(id)
            .expect("export a profile")
            .map(|doc| json!(doc))
    }

    /// `GET /v1/profiles/{id}/events`: the person's newest events as the API lists them.
    pub fn events_json(&self, id: &str) -> Vec<Value> {
        self.events_of(id, 100)
            .expect("read events")
            .unwrap_or_else(|| panic!("no profile {id}"))
            .iter()
            .map(tailor_engine::privacy::event_json)
            .collect()
    }

    // Decisions.

    /// `POST /v1/decide` with a valid body; the answer as the API sends it.
    pub fn decide_json(&self, body: Value) -> Value {
        let text = body.to_string();
        self.try_decide_json(body)
            .unwrap_or_else(|e| panic!("decide {text}: {e}"))
    }

    pub fn try_decide_json(&self, body: Value) -> Result<Value, EngineError> {
        let id = |k: &str| match &body[k] {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let input = DecideInput {
            user_id: id("userId"),
            anonymous_id: id("anonymousId"),
            placements: body["placements"]
                .as_array()
                .expect("placements")
                .iter()
                .map(|p| p.as_str().expect("a placement id").to_string())
                .collect(),
            context: body["context"].as_object().cloned().unwrap_or_default(),
            // The store's backend asking for its visitor.
            ..DecideInput::default()
        };
        self.decide(input).map(|out| decide_reply(&out))
    }

    // Catalog and placements, from the JSON the admin API takes.

    /// `PUT /v1/catalog/products` with valid products.
    pub fn load_products(&self, products: Value) -> usize {
        let products = list(products)
            .into_iter()
            .map(|p| Product::from_json(p).expect("a valid product"))
            .collect();
        self.put_products(products).expect("put products")
    }

    /// `PUT /v1/catalog/content` with valid items.
    pub fn load_content(&self, items: Value) -> usize {
        let items = list(items)
            .into_iter()
            .map(|c| ContentItem::from_json(c).expect("a valid content item"))
            .collect();
        self.put_content(items).expect("put content")
    }

    /// `PUT /v1/placements`: every placement parsed, or the first problem.
    pub fn load_placements(&self, placements: Value) -> Result<usize, EngineError> {
        let mut parsed = Vec::new();
        for p in list(placements) {
            parsed.push(Placement::from_json(p)?);
        }
        self.put_placements(parsed)
    }

    // The engine's threads.

    /// Waits until journeys, the outbox and the decision log have done what is due now.
    pub async fn settle(&self) {
        self.engine().settle().await.expect("settle");
    }

    /// Runs an engine call that blocks (on disk or on the writer) off the async executor.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> T + Send + 'static,
    ) -> T {
        let engine = self.engine().clone();
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .expect("a blocking engine call")
    }

    /// Shuts the engine down as `tailor serve` does on SIGTERM: everything flushed and
    /// checkpointed. [`TestEngine::reopen`] starts it again on the same store.
    pub async fn stop(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine.shutdown().await.expect("shut down");
        }
        if self.setup.sqlite {
            // The files are closed only when the last handle goes.
            self.store = None;
        }
    }

    /// Starts the engine again on the same store and clock (after [`TestEngine::stop`]).
    pub async fn reopen(&mut self) {
        assert!(self.engine.is_none(), "stop the engine before reopening it");
        let store: Arc<dyn Store> = match (&self.store, &self.dir) {
            (Some(store), _) => store.clone(),
            (None, Some(dir)) => Arc::new(SqliteStore::open(dir.path()).expect("reopen the store")),
            (None, None) => unreachable!("an in-memory store is kept across restarts"),
        };
        self.store = Some(store.clone());
        self.engine = Some(open(&self.setup, store, self.clock.clone()));
    }

    /// A graceful restart: [`TestEngine::stop`], then [`TestEngine::reopen`].
    pub async fn restart(&mut self) {
        self.stop().await;
        self.reopen().await;
    }
}

/// The answer to `decide` in the API's shape.
pub fn decide_reply(out: &DecideOutput) -> Value {
    let decisions: Map<String, Value> = out
        .answers
        .iter()
        .map(|(placement, answer)| (placement.clone(), json!(answer)))
        .collect();
    let mut reply = json!({
        "decisionId": out.decision_id,
        "personalized": out.personalized,
        "decisions": decisions,
    });
    if let Some(reason) = out.reason {
        reply["reason"] = json!(reason);
    }
    reply
}

/// A JSON array's items, or the one object.
fn list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        other => vec![other],
    }
}
