//! Console sessions: signing in with the admin or analyst key gives a random session id in a
//! cookie (`HttpOnly`, `SameSite=Strict`, `Secure` behind a trusted proxy speaking https),
//! kept in memory only as its SHA-256; a session ends after 30 idle minutes, 8 hours, or
//! signing out. Every change carries the session's CSRF token (a form field `csrf` or the
//! `X-CSRF-Token` header), compared in constant time, and a change whose `Origin` names
//! another site is refused before anything else.
//!
//! Handlers state what they need in their signature, as the API's do: [`Console<P>`] for a
//! page or a read, [`Change<P, T>`] for a form that changes something (its CSRF token
//! checked, its fields typed), with `P` the API's scope markers (`Admin`, `Analyst`).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tailor_core::Millis;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::auth::Policy;
use crate::extract::{Admin, Analyst};

/// The session cookie's name.
pub const COOKIE_NAME: &str = "tailor_console";
/// A session unused this long ends.
pub const IDLE: Millis = 30 * 60 * 1000;
/// A session ends this long after sign-in, used or not.
pub const LIFETIME: Millis = 8 * 60 * 60 * 1000;
/// At most this many sessions; the oldest goes first.
const MAX_SESSIONS: usize = 1_000;
/// The largest form a change may send.
const MAX_FORM: usize = 256 * 1024;

/// Who is signed in: the console's two roles, the API's admin and analyst scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Analyst,
}

impl Role {
    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
        }
    }
}

#[derive(Debug, Clone)]
struct Session {
    role: Role,
    csrf: String,
    started: Millis,
    seen: Millis,
}

/// The signed-in sessions, by the SHA-256 of their id.
#[derive(Default)]
pub struct Sessions {
    by_hash: Mutex<HashMap<[u8; 32], Session>>,
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Starts a session; its id (for the cookie) and CSRF token.
    pub fn start(&self, role: Role, now: Millis) -> Result<(String, String), ApiError> {
        let random = |prefix| {
            tailor_engine::keys::random_key(prefix, 32)
                .map_err(|e| ApiError::from(tailor_engine::EngineError::Internal(e.to_string())))
        };
        let (id, csrf) = (random("cs_")?, random("csrf_")?);
        let mut all = self.by_hash.lock();
        all.retain(|_, s| live(s, now));
        while all.len() >= MAX_SESSIONS {
            let oldest = all.iter().min_by_key(|(_, s)| s.started).map(|(k, _)| *k);
            match oldest {
                Some(k) => all.remove(&k),
                None => break,
            };
        }
        all.insert(
            digest(&id),
            Session {
                role,
                csrf: csrf.clone(),
                started: now,
                seen: now,
            },
        );
        Ok((id, csrf))
    }

    /// The session `id` names if it is live, marked as used now.
    fn touch(&self, id: &str, now: Millis) -> Option<Session> {
        let mut all = self.by_hash.lock();
        let key = digest(id);
        let session = all.get_mut(&key)?;
        if !live(session, now) {
            all.remove(&key);
            return None;
        }
        session.seen = now;
        Some(session.clone())
    }

    pub fn end(&self, id: &str) {
        self.by_hash.lock().remove(&digest(id));
    }
}

fn live(s: &Session, now: Millis) -> bool {
    now - s.seen < IDLE && now - s.started < LIFETIME
}

/// The session cookie's value in a request.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Whether the browser reached us over https through a proxy we trust: only then does
/// `X-Forwarded-Proto` count, as `X-Forwarded-For` does for the rate limits.
pub fn behind_https(state: &AppState, parts_headers: &HeaderMap, peer: Option<SocketAddr>) -> bool {
    let forwarded_https = parts_headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("https")
        });
    forwarded_https && peer.is_some_and(|p| state.trusted_proxy(p.ip()))
}

/// The connection's peer address, when served from a socket (none in-process).
pub struct Peer(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// The `Set-Cookie` that starts (or, with an empty id, ends) a session.
pub fn set_cookie(id: &str, secure: bool) -> HeaderValue {
    let max_age = if id.is_empty() { 0 } else { LIFETIME / 1000 };
    let value = format!(
        "{COOKIE_NAME}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(""))
}

/// A response that also sets `cookie`.
pub fn with_cookie(response: impl IntoResponse, cookie: HeaderValue) -> Response {
    let mut response = response.into_response();
    response.headers_mut().append(SET_COOKIE, cookie);
    response
}

/// The role a console scope marker needs.
pub trait Needs: Policy {
    fn allows(role: Role) -> bool;
    const WHAT: &'static str;
}

impl Needs for Admin {
    fn allows(role: Role) -> bool {
        role.is_admin()
    }
    const WHAT: &'static str = "This needs the admin key: it shows or changes personal data or settings. You are signed in as the analyst, who sees reports without personal data.";
}

impl Needs for Analyst {
    fn allows(_: Role) -> bool {
        true
    }
    const WHAT: &'static str = "";
}

/// Why a console request was refused, answered as the request wants it: JSON (with the
/// API's error shape) for `/console/api/…`, a page or a redirect to sign-in otherwise.
pub enum Refusal {
    SignIn { json: bool, next: String },
    Forbidden { json: bool, message: &'static str },
    Csrf { json: bool },
    Invalid(ApiError),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::SignIn { json: true, .. } => {
                ApiError::unauthorized("sign in to the console first").into_response()
            }
            Refusal::SignIn { json: false, next } => {
                let next: String = form_urlencode(&next);
                Redirect::to(&format!("/console/signin?next={next}")).into_response()
            }
            Refusal::Forbidden {
                json: true,
                message,
            } => ApiError::forbidden(message).into_response(),
            Refusal::Forbidden {
                json: false,
                message,
            } => super::layout::refusal(StatusCode::FORBIDDEN, "Not for this role", message),
            Refusal::Csrf { json: true } => {
                ApiError::forbidden("the console's CSRF token is missing or wrong: reload the page")
                    .into_response()
            }
            Refusal::Csrf { json: false } => super::layout::refusal(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form did not carry this session's token (it is from another session, or from another site). Reload the page and try again.",
            ),
            Refusal::Invalid(e) => e.into_response(),
        }
    }
}

fn form_urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|s| s.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

/// The signed-in user, as a handler sees it.
#[derive(Debug, Clone)]
pub struct Signed {
    pub role: Role,
    /// This session's CSRF token, for the page's forms.
    pub csrf: String,
}

/// A console page or read that needs role `P`.
pub struct Console<P: Needs> {
    pub signed: Signed,
    policy: PhantomData<P>,
}

fn is_json(parts: &Parts) -> bool {
    parts.uri.path().starts_with("/console/api/")
}

fn signed_in<P: Needs>(parts: &Parts, state: &AppState) -> Result<Signed, Refusal> {
    let json = is_json(parts);
    let next = parts
        .uri
        .path_and_query()
        .map_or("/console".to_string(), |p| p.as_str().to_string());
    let session = cookie(&parts.headers)
        .and_then(|id| state.console.touch(&id, state.engine.now()))
        .ok_or(Refusal::SignIn { json, next })?;
    if !P::allows(session.role) {
        return Err(Refusal::Forbidden {
            json,
            message: P::WHAT,
        });
    }
    Ok(Signed {
        role: session.role,
        csrf: session.csrf,
    })
}

impl<P: Needs> FromRequestParts<AppState> for Console<P> {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        Ok(Console {
            signed: signed_in::<P>(parts, state)?,
            policy: PhantomData,
        })
    }
}

/// Whether the request's `Origin`, when it sends one, is this server (browsers send it on
/// every cross-site POST): a second line behind `SameSite=Strict` and the token.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let without_scheme = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    !host.is_empty() && without_scheme.eq_ignore_ascii_case(host)
}

/// A change that needs role `P`, with its form's fields as `T`; the CSRF token is checked
/// before `T` is read.
pub struct Change<P: Needs, T> {
    pub signed: Signed,
    pub form: T,
    policy: PhantomData<P>,
}

impl<P: Needs, T: DeserializeOwned + Send> FromRequest<AppState> for Change<P, T> {
    type Rejection = Refusal;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Refusal> {
        let (parts, body) = request.into_parts();
        let json = is_json(&parts);
        let signed = signed_in::<P>(&parts, state)?;
        if !same_origin(&parts.headers) {
            return Err(Refusal::Csrf { json });
        }
        let bytes = axum::body::to_bytes(body, MAX_FORM).await.map_err(|_| {
            Refusal::Invalid(ApiError::bad_request(
                "invalid_request",
                format!("a console form is at most {MAX_FORM} bytes"),
            ))
        })?;
        let presented = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| csrf_field(&bytes));
        let valid =
            presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(signed.csrf.as_bytes())));
        if !valid {
            return Err(Refusal::Csrf { json });
        }
        let form = serde_urlencoded::from_bytes::<T>(&bytes)
            .map_err(|e| Refusal::Invalid(ApiError::bad_request("invalid_form", e.to_string())))?;
        Ok(Change {
            signed,
            form,
            policy: PhantomData,
        })
    }
}

fn csrf_field(body: &Bytes) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_end_when_idle_too_long_or_too_old() {
        let sessions = Sessions::default();
        let (id, _) = sessions.start(Role::Analyst, 0).unwrap();
        assert!(sessions.touch(&id, IDLE - 1).is_some());
        assert!(
            sessions.touch(&id, 2 * IDLE - 2).is_some(),
            "use keeps it alive"
        );
        assert!(sessions.touch(&id, 3 * IDLE).is_none(), "idle too long");
        let (id, _) = sessions.start(Role::Admin, 0).unwrap();
        let mut t = 0;
        while t + IDLE / 2 < LIFETIME {
            t += IDLE / 2;
            assert!(sessions.touch(&id, t).is_some());
        }
        assert!(sessions.touch(&id, LIFETIME).is_none(), "too old");
        assert!(sessions.touch("cs_guessed", 0).is_none());
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_behind_tls() {
        let c = set_cookie("cs_x", true);
        let c = c.to_str().unwrap();
        for part in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/console"] {
            assert!(c.contains(part), "{c}");
        }
        assert!(
            !set_cookie("cs_x", false)
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }
}
