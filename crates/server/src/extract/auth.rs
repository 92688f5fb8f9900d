//! Who is calling, resolved once per request.
//!
//! The [`identify`] middleware reads the key in `Authorization` (HTTP Basic with the key as
//! user name, as Segment's libraries send it, or `Bearer KEY`) and leaves a [`Presented`] in
//! the request. The key is resolved (hashed and compared) at most once, the first time the
//! per-key rate limit or an extractor needs it, and both see the same [`Caller`].
//!
//! Handlers state their scope in their signature: [`Authorized<Admin>`],
//! [`Authorized<Analyst>`], [`Authorized<Write>`], or [`Shopper`] for a profile token. A
//! handler cannot forget its check, and none calls an authorization function by hand.
//!
//! Adding a scope is a marker type implementing [`Policy`]. Adding kinds of keys (several
//! named write keys, public or secret sources) changes [`resolve`] and [`Caller`] only:
//! policies read the caller, handlers read nothing but their extractor.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use tailor_engine::{Keys, Origin, Scope};

use crate::AppState;
use crate::error::ApiError;
use crate::ratelimit::Limiter;

/// A key this server knows, and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    scope: Scope,
    /// The source the key belongs to (`None`: the admin or analyst key).
    source: Option<String>,
}

impl Caller {
    /// What the key grants.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The source's name, for a source key.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The per-key rate limit's bucket: one per source key, one each for the admin and the
    /// analyst key (see `ratelimit`).
    pub fn rate_bucket(&self) -> String {
        match &self.source {
            Some(source) => format!("source:{source}"),
            None => match self.scope {
                Scope::Admin => "admin".into(),
                Scope::Analyst => "analyst".into(),
                Scope::Server => "server".into(),
                Scope::Public => "public".into(),
            },
        }
    }

    /// Where this caller's messages and requests come from, for the trust model: a public
    /// key is anyone's browser, a secret key the store's backend.
    pub fn origin(&self) -> Origin {
        if self.scope.trusted() {
            Origin::Server
        } else {
            Origin::Browser
        }
    }
}

/// The one place a presented key becomes a [`Caller`]; `None`: the key is unknown.
fn resolve(keys: &Keys, key: &str) -> Option<Caller> {
    keys.owner(key).map(|o| Caller {
        scope: o.scope,
        source: o.source,
    })
}

/// The key from the `Authorization` header.
pub fn header_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        // Segment: the write key is the user name, the password is empty. Without a colon
        // the whole value is the key (older clients).
        return Some(
            text.split_once(':')
                .map_or(text.clone(), |(user, _)| user.to_string()),
        );
    }
    None
}

/// What the request presented in its header, left in its extensions by [`identify`].
#[derive(Clone)]
pub(crate) struct Presented {
    key: Option<String>,
    caller: OnceLock<Option<Caller>>,
    /// Set when a key found later (in a Segment body) must still be counted against the
    /// per-key rate limit: the header had none and this client is limited.
    limit_body_key: Option<Arc<Limiter>>,
}

impl Presented {
    fn new(headers: &HeaderMap) -> Self {
        Presented {
            key: header_key(headers),
            caller: OnceLock::new(),
            limit_body_key: None,
        }
    }

    /// The header's key, if any (possibly empty).
    pub(crate) fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The header's key resolved, computed at most once per request.
    fn caller(&self, keys: &Keys) -> Option<Caller> {
        self.caller
            .get_or_init(|| {
                self.key
                    .as_deref()
                    .filter(|k| !k.is_empty())
                    .and_then(|k| resolve(keys, k))
            })
            .clone()
    }

    /// The extension [`identify`] left, or one made now (a router driven without it).
    pub(crate) fn of(parts: &mut Parts) -> &Presented {
        if parts.extensions.get::<Presented>().is_none() {
            let presented = Presented::new(&parts.headers);
            parts.extensions.insert(presented);
        }
        parts
            .extensions
            .get::<Presented>()
            .expect("inserted just above")
    }

    /// Resolves the header's key, or else `body_key` (Segment's `writeKey`), checks `P`
    /// admits it, and counts a body key against its rate limit.
    pub(crate) fn authorize<P: Policy>(
        &self,
        keys: &Keys,
        body_key: Option<&str>,
    ) -> Result<Caller, ApiError> {
        let (key, caller) = match self.key() {
            Some(k) => (k, self.caller(keys)),
            None => {
                let k = body_key.unwrap_or_default();
                (k, (!k.is_empty()).then(|| resolve(keys, k)).flatten())
            }
        };
        let caller = admit::<P>(key, caller)?;
        if self.key.is_none()
            && let Some(limiter) = &self.limit_body_key
        {
            limiter
                .check_key(&caller.rate_bucket())
                .map_err(|limited| limited.error())?;
        }
        Ok(caller)
    }
}

/// What a route demands of its caller: a marker type per scope.
pub trait Policy: Send + Sync + 'static {
    /// The answer (401) when no key is presented.
    const MISSING: &'static str;
    /// The answer (403) when the key is valid but not enough.
    const FORBIDDEN: &'static str;
    /// Whether `caller` may pass.
    fn admits(caller: &Caller) -> bool;
}

/// The admin key: everything.
pub struct Admin;
/// The analyst key (or the admin key): aggregates and reports, no personal data.
pub struct Analyst;
/// Any source's key (or the admin key): events, decisions, a shopper's own declarations.
/// A public key's claims about who the shopper is count only with proof.
pub struct Write;
/// A server source's secret key (or the admin key): what the store's backend does for its
/// customers, such as making their profile tokens.
pub struct Server;
/// A public source's key and nothing else: what is written into a page (analytics.js's
/// settings URL). A secret key there is refused, so it is noticed before it ships.
pub struct Browser;

impl Policy for Admin {
    const MISSING: &'static str = "the admin key is required: `Authorization: Bearer ADMIN_KEY`";
    const FORBIDDEN: &'static str = "this needs the admin key";
    fn admits(caller: &Caller) -> bool {
        caller.scope.grants(Scope::Admin)
    }
}

impl Policy for Analyst {
    const MISSING: &'static str =
        "the analyst or the admin key is required: `Authorization: Bearer KEY`";
    const FORBIDDEN: &'static str = "this report needs the analyst or the admin key";
    fn admits(caller: &Caller) -> bool {
        caller.scope.grants(Scope::Analyst)
    }
}

impl Policy for Write {
    const MISSING: &'static str = "a write key is required: HTTP Basic with the key as user name, `Authorization: Bearer KEY`, or `writeKey` in the body";
    const FORBIDDEN: &'static str = "this needs a write key (or the admin key)";
    fn admits(caller: &Caller) -> bool {
        caller.scope.grants(Scope::Public)
    }
}

impl Policy for Server {
    const MISSING: &'static str =
        "a server key is required (your backend's secret key): `Authorization: Bearer KEY`";
    const FORBIDDEN: &'static str =
        "this needs a server key or the admin key: a public (browser) key cannot do it";
    fn admits(caller: &Caller) -> bool {
        caller.scope.grants(Scope::Server)
    }
}

impl Policy for Browser {
    const MISSING: &'static str = "a public write key is required";
    const FORBIDDEN: &'static str = "this is a secret key: never put it in a page; use the public write key of a browser source";
    fn admits(caller: &Caller) -> bool {
        caller.scope == Scope::Public
    }
}

/// 401 without a key or with an unknown one, 403 when `P` does not admit it.
fn admit<P: Policy>(key: &str, caller: Option<Caller>) -> Result<Caller, ApiError> {
    if key.is_empty() {
        return Err(ApiError::unauthorized(P::MISSING));
    }
    match caller {
        None => Err(ApiError::unauthorized(
            "the key is not valid for this server",
        )),
        Some(c) if !P::admits(&c) => Err(ApiError::forbidden(P::FORBIDDEN)),
        Some(c) => Ok(c),
    }
}

/// A caller whose key `P` admits. The handler's signature is its scope.
pub struct Authorized<P: Policy> {
    pub caller: Caller,
    policy: PhantomData<P>,
}

impl<P: Policy> Authorized<P> {
    pub(crate) fn new(caller: Caller) -> Self {
        Authorized {
            caller,
            policy: PhantomData,
        }
    }
}

impl<P: Policy> FromRequestParts<AppState> for Authorized<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Presented::of(parts)
            .authorize::<P>(state.engine.keys(), None)
            .map(Authorized::new)
    }
}

/// A key in the URL's path that `P` admits, as analytics.js puts it in its settings URL
/// (`/v1/projects/{writeKey}/settings`). The route's only path parameter is the key.
pub struct KeyInPath<P: Policy> {
    pub caller: Caller,
    pub key: String,
    policy: PhantomData<P>,
}

impl<P: Policy> FromRequestParts<AppState> for KeyInPath<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Path(key) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))?;
        let caller = admit::<P>(&key, resolve(state.engine.keys(), &key))?;
        Ok(KeyInPath {
            caller,
            key,
            policy: PhantomData,
        })
    }
}

/// The shopper a profile token (`Authorization: Bearer tpt_…`, from `POST /v1/tokens`)
/// proves: their userId.
pub struct Shopper(pub String);

impl FromRequestParts<AppState> for Shopper {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = Presented::of(parts).key().ok_or_else(|| {
            ApiError::unauthorized("a profile token is required: `Authorization: Bearer tpt_…`")
        })?;
        state
            .engine
            .verify_token(token)
            .map(Shopper)
            .map_err(|e| ApiError::unauthorized(e.to_string()))
    }
}

/// The middleware in front of every route: reads the presented key once, applies the rate
/// limits (the client's address first, then the key), and leaves the [`Presented`] key for
/// the extractors.
pub async fn identify(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let mut presented = Presented::new(req.headers());
    if let Some(limiter) = state.limiter.as_ref()
        // Operators' probes are never refused.
        && !matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics")
    {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let client = limiter.client(peer, req.headers());
        // Loopback (unless configured) is exempt; so is a request with no known peer
        // (the router driven in-process), for its address.
        let exempt = client.is_none() && peer.is_some();
        if let Some(ip) = client
            && let Err(limited) = limiter.check_address(ip)
        {
            return limited.error().into_response();
        }
        if limiter.config().per_key.is_some() && !exempt {
            if presented.key.is_some() {
                if let Some(caller) = presented.caller(state.engine.keys())
                    && let Err(limited) = limiter.check_key(&caller.rate_bucket())
                {
                    return limited.error().into_response();
                }
            } else {
                presented.limit_body_key = Some(limiter.clone());
            }
        }
    }
    req.extensions_mut().insert(presented);
    next.run(req).await
}
