//! Tailor's HTTP edge: the only crate that knows HTTP and the wire format.
//!
//! [`router`] builds the whole application so tests can drive it in-process; [`serve`]
//! runs it on a listener until shutdown (accepting connections within
//! [`connections::ConnectionLimits`]), then lets the engine flush. Routes live under
//! `routes/`, one module per URL family; what they ask of a request (keys, typed bodies) is
//! in `extract/`; the OpenAPI document is generated from them (`openapi`).

mod body;
pub mod connections;
pub mod cors;
mod error;
pub mod extract;
pub mod headers;
mod openapi;
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
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tailor_engine::Engine;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::{ApiError, ErrorBody};

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
    /// Which pages of other origins may call the public routes (see `cors`).
    pub(crate) cors_origins: cors::CorsOrigins,
    /// How [`serve`] accepts and times connections.
    connection_limits: connections::ConnectionLimits,
    /// The console's signed-in sessions (see `pages::console::session`).
    pub(crate) console: Arc<pages::console::session::Sessions>,
    /// The console's slow reports, computed off the request (see `pages::console::reports`).
    pub(crate) reports: Arc<pages::console::reports::Reports>,
    /// The reverse proxies whose `X-Forwarded-*` headers count (the rate limits' list).
    trusted_proxies: Arc<[ratelimit::Cidr]>,
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
            cors_origins: cors::CorsOrigins::default(),
            connection_limits: connections::ConnectionLimits::default(),
            console: Arc::default(),
            reports: Arc::default(),
            trusted_proxies: Arc::from(Vec::new()),
        }
    }

    /// Whether `ip` is one of the trusted reverse proxies.
    pub(crate) fn trusted_proxy(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted_proxies.iter().any(|net| net.contains(ip))
    }

    /// Lets pages of these origins call the public routes (none by default).
    pub fn with_cors_origins(mut self, origins: cors::CorsOrigins) -> Self {
        self.cors_origins = origins;
        self
    }

    /// Serves connections within these limits instead of the defaults.
    pub fn with_connection_limits(mut self, limits: connections::ConnectionLimits) -> Self {
        self.connection_limits = limits;
        self
    }

    /// Applies these rate limits instead of the defaults.
    pub fn with_rate_limits(mut self, limits: ratelimit::RateLimits) -> Self {
        self.trusted_proxies = Arc::from(limits.trusted_proxies.clone());
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

/// The whole HTTP application: the API (documented as it is routed), the pages, the JSON
/// 404/405 answers, and the middleware (security headers, metrics, CORS around the rate
/// limits and keys so a refusal still reaches the page).
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// The application with `pages` merged in behind the same middleware (metrics, rate
/// limits): how a binary adds its own pages, such as the demo's storefront.
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    let (api, mut document) = api().split_for_parts();
    openapi::add_error_answers(&mut document);
    let cors = Arc::new(cors::Cors::new(state.cors_origins.clone(), &document));
    let document = routes::ops::OpenApiDocument::new(&document);
    api.merge(pages::routes())
        .merge(extra)
        .fallback(routes::ops::not_found)
        .method_not_allowed_fallback(routes::ops::method_not_allowed)
        .layer(axum::Extension(document))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            extract::auth::identify,
        ))
        .layer(middleware::from_fn_with_state(cors, cors::handle))
        .layer(middleware::from_fn(observe))
        .layer(middleware::from_fn(headers::secure))
        .with_state(state)
}

/// Every API route, grouped by path (`routes!` gives one path its methods). A handler is
/// routed only through here, so each carries its `#[utoipa::path]` into the document.
fn api() -> OpenApiRouter<AppState> {
    use routes::{
        analytics_js, audiences, catalog, consent, decide, experiments, inbound, ingest, journeys,
        me, models, ops, preferences, profiles, retention, sdk, sources, templates, unsubscribe,
    };
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(ingest::track))
        .routes(routes!(ingest::identify))
        .routes(routes!(ingest::page))
        .routes(routes!(ingest::screen))
        .routes(routes!(ingest::group))
        .routes(routes!(ingest::alias))
        .routes(routes!(ingest::batch))
        .routes(routes!(analytics_js::t))
        .routes(routes!(analytics_js::i))
        .routes(routes!(analytics_js::p))
        .routes(routes!(analytics_js::s))
        .routes(routes!(analytics_js::g))
        .routes(routes!(analytics_js::a))
        .routes(routes!(analytics_js::b))
        .routes(routes!(analytics_js::settings))
        .routes(routes!(sdk::tailor_js))
        .routes(routes!(catalog::put_products, catalog::list_products))
        .routes(routes!(catalog::get_product, catalog::delete_product))
        .routes(routes!(catalog::categories))
        .routes(routes!(catalog::put_content, catalog::list_content))
        .routes(routes!(catalog::get_content, catalog::delete_content))
        .routes(routes!(profiles::get, profiles::erase))
        .routes(routes!(profiles::events))
        .routes(routes!(profiles::export))
        .routes(routes!(profiles::lift_suppression))
        .routes(routes!(profiles::audit))
        .routes(routes!(retention::settings))
        .routes(routes!(retention::run))
        .routes(routes!(consent::put))
        .routes(routes!(consent::get_policy, consent::put_policy))
        .routes(routes!(consent::get))
        .routes(routes!(preferences::put))
        .routes(routes!(preferences::list_quizzes))
        .routes(routes!(
            preferences::get_quiz,
            preferences::put_quiz,
            preferences::delete_quiz
        ))
        .routes(routes!(preferences::answers))
        .routes(routes!(experiments::list))
        .routes(routes!(experiments::put, experiments::delete))
        .routes(routes!(experiments::results))
        .routes(routes!(journeys::list))
        .routes(routes!(journeys::templates))
        .routes(routes!(journeys::get_policy, journeys::put_policy))
        .routes(routes!(journeys::runs))
        .routes(routes!(journeys::get, journeys::put, journeys::delete))
        .routes(routes!(journeys::pause))
        .routes(routes!(journeys::resume))
        .routes(routes!(journeys::stats))
        .routes(routes!(journeys::report))
        .routes(routes!(journeys::outbox))
        .routes(routes!(journeys::dead))
        .routes(routes!(journeys::replay))
        .routes(routes!(audiences::list))
        .routes(routes!(audiences::get, audiences::put, audiences::delete))
        .routes(routes!(audiences::changes))
        .routes(routes!(audiences::export))
        .routes(routes!(journeys::test_clock))
        .routes(routes!(templates::list))
        .routes(routes!(templates::get, templates::put, templates::delete))
        .routes(routes!(templates::preview))
        .routes(routes!(unsubscribe::page, unsubscribe::one_click))
        .routes(routes!(inbound::email))
        .routes(routes!(inbound::sms))
        .routes(routes!(me::issue))
        .routes(routes!(me::get))
        .routes(routes!(me::put_preferences))
        .routes(routes!(me::put_consent))
        .routes(routes!(me::answer))
        .routes(routes!(me::decision))
        .routes(routes!(me::export))
        .routes(routes!(models::list))
        .routes(routes!(models::train))
        .routes(routes!(models::forecast))
        .routes(routes!(decide::decide))
        .routes(routes!(decide::list_placements, decide::put_placements))
        .routes(routes!(decide::delete_placement))
        .routes(routes!(decide::export))
        .routes(routes!(decide::daily))
        .routes(routes!(decide::get_decision))
        .routes(routes!(decide::get_policy))
        .routes(routes!(sources::list))
        .routes(routes!(sources::put, sources::delete))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
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
    extra: Router<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let engine = state.engine.clone();
    let limits = state.connection_limits;
    let app = router_with(state, extra);
    let result = connections::serve(listener, app, limits, shutdown).await;
    if let Err(e) = engine.shutdown().await {
        tracing::error!(error = %e, "final flush failed");
    }
    result
}
