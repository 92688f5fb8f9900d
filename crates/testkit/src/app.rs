//! The HTTP API without a socket: [`TestApp`] sends requests through the router in-process
//! (`tower::ServiceExt::oneshot`, as axum's own testing example does) and answers status and
//! JSON. [`TestServer`] serves the same router on a loopback listener in this process, for
//! the few tests that need real connections (client addresses, external clients).

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method};
use serde_json::Value;
use tailor_server::cors::CorsOrigins;
use tailor_server::ratelimit::RateLimits;
use tailor_server::{AppState, router};
use tower::ServiceExt;

use crate::engine::{ADMIN_KEY, SERVER_KEY, TestEngine, WRITE_KEY};

/// What the router is built with besides the engine.
#[derive(Clone, Default)]
struct Edge {
    test_clock: bool,
    rate_limits: Option<RateLimits>,
    cors_origins: CorsOrigins,
}

impl Edge {
    fn state(&self, kit: &TestEngine) -> AppState {
        self.configure(AppState::new(kit.engine().clone()), kit)
    }

    fn configure(&self, state: AppState, kit: &TestEngine) -> AppState {
        let mut state = self.apply(state);
        if self.test_clock {
            state = state.with_test_clock(kit.clock.offset_clock());
        }
        state
    }

    fn apply(&self, state: AppState) -> AppState {
        let state = state.with_cors_origins(self.cors_origins.clone());
        match &self.rate_limits {
            Some(limits) => state.with_rate_limits(limits.clone()),
            None => state,
        }
    }
}

/// The whole HTTP API over a [`TestEngine`], in-process, or served on a loopback port
/// ([`TestApp::served`]).
pub struct TestApp {
    pub kit: TestEngine,
    edge: Edge,
    router: Router,
    /// Set by [`TestApp::served`]: requests go over real connections to it.
    socket: Option<TestServer>,
}

impl TestApp {
    /// The user hash the store's backend would send for `user_id` (its proof, from the
    /// shared identity secret), for calls made as the shopper's browser.
    pub fn user_hash(&self, user_id: &str) -> String {
        self.kit.engine().user_hash(user_id)
    }

    /// The API over a fresh in-memory engine.
    pub async fn start() -> TestApp {
        TestApp::over(TestEngine::start().await)
    }

    pub fn over(kit: TestEngine) -> TestApp {
        let edge = Edge::default();
        let router = router(edge.state(&kit));
        TestApp {
            kit,
            edge,
            router,
            socket: None,
        }
    }

    /// The same application served on a loopback port (with its connection handling):
    /// every request from now on travels over a real HTTP connection.
    pub async fn served(mut self) -> TestApp {
        self.socket = Some(self.serve_socket().await);
        self
    }

    async fn serve_socket(&self) -> TestServer {
        let edge = self.edge.clone();
        let kit = &self.kit;
        TestServer::start_configured(kit, |state| edge.configure(state, kit)).await
    }

    /// Serves `POST /v1/test/clock` (as `tailor serve --test-clock` does).
    pub fn with_test_clock(mut self) -> TestApp {
        self.edge.test_clock = true;
        self.router = router(self.edge.state(&self.kit));
        self
    }

    pub fn with_rate_limits(mut self, limits: RateLimits) -> TestApp {
        self.edge.rate_limits = Some(limits);
        self.router = router(self.edge.state(&self.kit));
        self
    }

    /// Lets pages of these origins call the public routes (CORS).
    pub fn with_cors_origins(mut self, origins: CorsOrigins) -> TestApp {
        self.edge.cors_origins = origins;
        self.router = router(self.edge.state(&self.kit));
        self
    }

    /// The router itself, for requests built by hand and for reading its routes.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// A graceful restart of the engine underneath, with a new router over it.
    pub async fn restart(&mut self) {
        let served = match self.socket.take() {
            // Stopping the server shuts the engine down, as `tailor serve` does.
            Some(server) => {
                server.stop().await;
                true
            }
            None => false,
        };
        self.kit.restart().await;
        self.router = router(self.edge.state(&self.kit));
        if served {
            self.socket = Some(self.serve_socket().await);
        }
    }

    /// A request to the router. Requests are received at least 1 ms apart, as over a
    /// network, so what the profile keeps by event time keeps their order.
    pub fn request(&self, method: Method, path: &str) -> Request {
        self.kit.tick();
        if let Some(server) = &self.socket {
            return server.request(method, path);
        }
        Request {
            target: Target::Router(self.router.clone()),
            method,
            path: path.to_string(),
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    pub fn get(&self, path: &str) -> Request {
        self.request(Method::GET, path)
    }

    pub fn post_to(&self, path: &str) -> Request {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> Request {
        self.request(Method::PUT, path)
    }

    pub fn delete(&self, path: &str) -> Request {
        self.request(Method::DELETE, path)
    }

    /// POSTs JSON with the server key, as the store's backend and Segment's server libraries
    /// send it (Basic, key as user).
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_to(path).basic(SERVER_KEY).json(body).send().await
    }

    /// A POST with the public write key, as a browser sends it (its userId claims need
    /// proof; see the README's security model).
    pub async fn post_public(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_to(path).basic(WRITE_KEY).json(body).send().await
    }

    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        self.get(path).bearer(ADMIN_KEY).send().await
    }

    pub async fn admin_put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.put(path).bearer(ADMIN_KEY).json(body).send().await
    }

    pub async fn admin_post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_to(path).bearer(ADMIN_KEY).json(body).send().await
    }

    pub async fn admin_delete(&self, path: &str) -> (u16, Value) {
        self.delete(path).bearer(ADMIN_KEY).send().await
    }

    /// `GET /v1/profiles/{id}` with the admin key; panics unless it answers 200.
    pub async fn profile(&self, id: &str) -> Value {
        let (status, body) = self.admin_get(&format!("/v1/profiles/{id}")).await;
        assert_eq!(status, 200, "profile {id}: {body}");
        body
    }
}

enum Target {
    Router(Router),
    Socket(reqwest::Client, String),
}

/// One request, built like reqwest's: headers, auth, a body, then [`Request::send`].
pub struct Request {
    target: Target,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A whole answer, for tests that read headers or non-JSON bodies.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON, or the text as a JSON string when it is not JSON.
    pub json: Value,
}

impl Request {
    pub fn header(mut self, name: &'static str, value: &str) -> Request {
        self.headers
            .append(name, HeaderValue::from_str(value).expect("a header value"));
        self
    }

    /// HTTP Basic with the key as the user name and an empty password (Segment's form).
    pub fn basic(self, key: &str) -> Request {
        let encoded = base64_encode(format!("{key}:").as_bytes());
        self.header("authorization", &format!("Basic {encoded}"))
    }

    pub fn bearer(self, key: &str) -> Request {
        self.header("authorization", &format!("Bearer {key}"))
    }

    pub fn json(mut self, body: &Value) -> Request {
        self.body = serde_json::to_vec(body).expect("JSON");
        self.header("content-type", "application/json")
    }

    /// Raw bytes (set `content-type` yourself if it matters).
    pub fn body(mut self, bytes: impl Into<Vec<u8>>) -> Request {
        self.body = bytes.into();
        self
    }

    /// Status and JSON body (a non-JSON body comes back as a JSON string).
    pub async fn send(self) -> (u16, Value) {
        let reply = self.reply().await;
        (reply.status, reply.json)
    }

    pub async fn reply(self) -> Reply {
        let (status, headers, bytes) = match self.target {
            Target::Router(router) => {
                let mut request = axum::http::Request::builder()
                    .method(self.method)
                    .uri(&self.path)
                    .body(Body::from(self.body))
                    .expect("a request");
                *request.headers_mut() = self.headers;
                let response = router
                    .oneshot(request)
                    .await
                    .expect("the router is infallible");
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .expect("the response body");
                (status, headers, bytes.to_vec())
            }
            Target::Socket(http, base) => {
                let response = http
                    .request(self.method, format!("{base}{}", self.path))
                    .headers(self.headers)
                    .body(self.body)
                    .send()
                    .await
                    .expect("a response");
                let status = response.status().as_u16();
                let headers = response.headers().clone();
                let bytes = response.bytes().await.expect("the response body");
                (status, headers, bytes.to_vec())
            }
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()));
        Reply {
            status,
            headers,
            text,
            json,
        }
    }
}

/// The API served on a loopback port by this process, over a [`TestEngine`].
pub struct TestServer {
    pub base: String,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(kit: &TestEngine) -> TestServer {
        TestServer::start_with(kit, None).await
    }

    /// With these rate limits instead of the defaults.
    pub async fn start_with(kit: &TestEngine, rate_limits: Option<RateLimits>) -> TestServer {
        let edge = Edge {
            rate_limits,
            ..Edge::default()
        };
        TestServer::start_configured(kit, |state| edge.apply(state)).await
    }

    /// With the server's state as `configure` makes it from the default (connection limits,
    /// rate limits, …).
    pub async fn start_configured(
        kit: &TestEngine,
        configure: impl FnOnce(AppState) -> AppState,
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("the listener's address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = configure(AppState::new(kit.engine().clone()));
        let task = tokio::spawn(tailor_server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        TestServer {
            base: format!("http://{addr}"),
            addr,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request through this server's client (see [`TestServer::client_from`] for others).
    pub fn request(&self, method: Method, path: &str) -> Request {
        self.request_with(&self.http, method, path)
    }

    pub fn request_with(&self, http: &reqwest::Client, method: Method, path: &str) -> Request {
        Request {
            target: Target::Socket(http.clone(), self.base.clone()),
            method,
            path: path.to_string(),
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    /// A client whose connections come from `ip` (any 127.x.y.z reaches the server).
    pub fn client_from(ip: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .local_address(ip.parse::<std::net::IpAddr>().expect("an IP address"))
            .build()
            .expect("an HTTP client")
    }

    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        self.request(Method::GET, path)
            .bearer(ADMIN_KEY)
            .send()
            .await
    }

    /// Stops serving; the engine is shut down as `tailor serve` does at the end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("the server task").expect("serving");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| n << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_rfc_examples() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
        ] {
            assert_eq!(super::base64_encode(plain.as_bytes()), encoded);
        }
    }
}
