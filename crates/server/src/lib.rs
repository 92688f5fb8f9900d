//! Tailor's HTTP edge: the only crate that knows HTTP and the wire format.
//!
//! [`router`] builds the whole application so tests can drive it in-process; [`serve`]
//! runs it on a listener until shutdown, then lets the engine flush.

mod auth;
mod body;
mod error;
mod pages;
pub mod ratelimit;
mod routes;

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tailor_engine::Engine;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    metrics: PrometheusHandle,
    /// Generated message ids are this random prefix plus a counter: unique across restarts.
    id_prefix: Arc<str>,
    id_counter: Arc<AtomicU64>,
    /// Set only by `tailor serve --test-clock`: `POST /v1/test/clock` moves it.
    pub test_clock: Option<Arc<tailor_core::OffsetClock>>,
    /// Rate limits; `None`: none (see `ratelimit`).
    pub(crate) limiter: Option<Arc<ratelimit::Limiter>>,
}

impl AppState {
    pub fn new(engine: Engine) -> Self {
        let prefix = tailor_engine::keys::random_key("tl-", 8)
            .unwrap_or_else(|_| format!("tl-{}", std::process::id()));
        Self {
            engine,
            metrics: metrics_handle(),
            id_prefix: prefix.into(),
            id_counter: Arc::new(AtomicU64::new(0)),
            test_clock: None,
            limiter: ratelimit::Limiter::new(ratelimit::RateLimits::default()),
        }
    }

    /// Applies these rate limits instead of the defaults.
    pub fn with_rate_limits(mut self, limits: ratelimit::RateLimits) -> Self {
        self.limiter = ratelimit::Limiter::new(limits);
        self
    }

    /// Lets `POST /v1/test/clock` move `clock` (the engine's clock). For tests only.
    pub fn with_test_clock(mut self, clock: Option<Arc<tailor_core::OffsetClock>>) -> Self {
        self.test_clock = clock;
        self
    }

    /// Runs an engine call that waits on disk off the async executor.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, tailor_engine::EngineError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(|e| ApiError::from(tailor_engine::EngineError::Internal(e.to_string())))?
            .map_err(ApiError::from)
    }

    pub(crate) fn new_message_id(&self) -> String {
        format!(
            "{}-{}",
            self.id_prefix,
            self.id_counter.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// The process-wide Prometheus recorder, installed on first use.
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (several servers in one test process).
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The application with `pages` merged in behind the same middleware (metrics, rate
/// limits): how a binary adds its own pages, such as the demo's storefront.
pub fn router_with(state: AppState, pages: Router<AppState>) -> Router {
    use routes::{
        catalog, consent, decide, experiments, ingest, journeys, me, models, ops, preferences,
        profiles, retention,
    };
    Router::new()
        .route("/v1/track", post(ingest::track))
        .route("/v1/identify", post(ingest::identify))
        .route("/v1/page", post(ingest::page))
        .route("/v1/screen", post(ingest::screen))
        .route("/v1/group", post(ingest::group))
        .route("/v1/alias", post(ingest::alias))
        .route("/v1/batch", post(ingest::batch))
        .route(
            "/v1/catalog/products",
            put(catalog::put_products).get(catalog::list_products),
        )
        .route(
            "/v1/catalog/products/{id}",
            get(catalog::get_product).delete(catalog::delete_product),
        )
        .route("/v1/catalog/categories", get(catalog::categories))
        .route(
            "/v1/catalog/content",
            put(catalog::put_content).get(catalog::list_content),
        )
        .route(
            "/v1/catalog/content/{id}",
            get(catalog::get_content).delete(catalog::delete_content),
        )
        .route(
            "/v1/profiles/{id}",
            get(profiles::get).delete(profiles::erase),
        )
        .route("/v1/profiles/{id}/events", get(profiles::events))
        .route("/v1/profiles/{id}/export", get(profiles::export))
        .route("/v1/suppressions/{id}", delete(profiles::lift_suppression))
        .route("/v1/audit", get(profiles::audit))
        .route("/v1/retention", get(retention::settings))
        .route("/v1/retention/run", post(retention::run))
        .route("/v1/consent", put(consent::put))
        .route(
            "/v1/consent/policy",
            get(consent::get_policy).put(consent::put_policy),
        )
        .route("/v1/consent/{id}", get(consent::get))
        .route("/v1/preferences", put(preferences::put))
        .route("/v1/quizzes", get(preferences::list_quizzes))
        .route(
            "/v1/quizzes/{id}",
            get(preferences::get_quiz)
                .put(preferences::put_quiz)
                .delete(preferences::delete_quiz),
        )
        .route("/v1/quizzes/{id}/answers", post(preferences::answers))
        .route("/v1/experiments", get(experiments::list))
        .route(
            "/v1/experiments/{id}",
            put(experiments::put).delete(experiments::delete),
        )
        .route("/v1/experiments/{id}/results", get(experiments::results))
        .route("/v1/journeys", get(journeys::list))
        .route("/v1/journeys/templates", get(journeys::templates))
        .route(
            "/v1/journeys/policy",
            get(journeys::get_policy).put(journeys::put_policy),
        )
        .route("/v1/journeys/runs", get(journeys::runs))
        .route(
            "/v1/journeys/{id}",
            get(journeys::get)
                .put(journeys::put)
                .delete(journeys::delete),
        )
        .route("/v1/journeys/{id}/pause", post(journeys::pause))
        .route("/v1/journeys/{id}/resume", post(journeys::resume))
        .route("/v1/journeys/{id}/stats", get(journeys::stats))
        .route("/v1/journeys/{id}/report", get(journeys::report))
        .route("/v1/outbox", get(journeys::outbox))
        .route("/v1/outbox/dead", get(journeys::dead))
        .route("/v1/outbox/dead/{key}/replay", post(journeys::replay))
        .route("/v1/audiences/{name}", get(journeys::audience))
        .route(
            "/v1/audiences/{name}/changes",
            get(journeys::audience_changes),
        )
        .route(
            "/v1/audiences/{name}/export",
            get(journeys::audience_export),
        )
        .route("/v1/test/clock", post(journeys::test_clock))
        .route("/v1/tokens", post(me::issue))
        .route("/v1/me", get(me::get))
        .route("/v1/me/preferences", put(me::put_preferences))
        .route("/v1/me/consent", put(me::put_consent))
        .route("/v1/me/quizzes/{id}/answers", post(me::answer))
        .route("/v1/me/decisions/{id}", get(me::decision))
        .route("/v1/me/export", get(me::export))
        .route("/v1/models", get(models::list))
        .route("/v1/models/train", post(models::train))
        .route("/v1/forecast", get(models::forecast))
        .route("/v1/decide", post(decide::decide))
        .route(
            "/v1/placements",
            get(decide::list_placements).put(decide::put_placements),
        )
        .route(
            "/v1/placements/{id}",
            axum::routing::delete(decide::delete_placement),
        )
        .route("/v1/decisions/export", get(decide::export))
        .route("/v1/decisions/{id}", get(decide::get_decision))
        .route("/v1/placements/{id}/policy", get(decide::get_policy))
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .merge(pages::routes())
        .merge(pages)
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            ratelimit::limit,
        ))
        .layer(middleware::from_fn(observe))
        .with_state(state)
}

/// Counts and times every request by route and status, and logs it.
async fn observe(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    metrics::counter!("tailor_http_requests_total", "route" => route.clone(), "status" => status.to_string()).increment(1);
    metrics::histogram!("tailor_http_request_seconds", "route" => route.clone()).record(seconds);
    tracing::debug!(%method, route, status, ms = seconds * 1e3, "request");
    response
}

/// Serves until `shutdown` resolves, then flushes the engine: everything acknowledged
/// is in the log and every profile change is checkpointed before this returns.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, Router::new(), shutdown).await
}

/// [`serve`] with `pages` merged in, as [`router_with`].
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    pages: Router<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let engine = state.engine.clone();
    let app = router_with(state, pages);
    // The peer address is what per-address rate limits count.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    if let Err(e) = engine.shutdown().await {
        tracing::error!(error = %e, "final flush failed");
    }
    result
}
