//! Who is browsing: a simulated shopper the visitor chose (`/as?user=…`) or an anonymous
//! visitor, kept in a cookie.

use axum::extract::Query;
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

const COOKIE_NAME: &str = "tailor_visitor";

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Who {
    User(String),
    Anonymous(String),
}

impl Who {
    fn from_headers(headers: &HeaderMap) -> Option<Who> {
        let cookies = headers.get(COOKIE)?.to_str().ok()?;
        let value = cookies
            .split(';')
            .find_map(|c| c.trim().strip_prefix(&format!("{COOKIE_NAME}=")))?;
        let (kind, id) = value.split_once(':')?;
        let id = percent_decode(id)?;
        match kind {
            "user" if !id.is_empty() => Some(Who::User(id)),
            "anon" if !id.is_empty() => Some(Who::Anonymous(id)),
            _ => None,
        }
    }

    fn fresh() -> Who {
        let id = tailor_engine::keys::random_key("visitor-", 8)
            .unwrap_or_else(|_| "visitor-demo".into());
        Who::Anonymous(id)
    }

    /// The `Set-Cookie` value. The id is percent-encoded: it may hold `;` or spaces.
    fn cookie(&self) -> String {
        let v = match self {
            Who::User(u) => format!("user:{}", percent_encode(u)),
            Who::Anonymous(a) => format!("anon:{}", percent_encode(a)),
        };
        format!("{COOKIE_NAME}={v}; Path=/; SameSite=Lax")
    }

    pub(super) fn id(&self) -> &str {
        match self {
            Who::User(u) | Who::Anonymous(u) => u,
        }
    }

    /// The identity as Segment messages carry it.
    pub(super) fn json(&self) -> Value {
        match self {
            Who::User(u) => json!({"userId": u}),
            Who::Anonymous(a) => json!({"anonymousId": a}),
        }
    }
}

/// The visitor of one request, and whether the response must set the cookie.
pub(super) struct Visitor {
    pub(super) who: Who,
    pub(super) set_cookie: bool,
}

impl Visitor {
    pub(super) fn of(headers: &HeaderMap) -> Visitor {
        match Who::from_headers(headers) {
            Some(who) => Visitor {
                who,
                set_cookie: false,
            },
            None => Visitor {
                who: Who::fresh(),
                set_cookie: true,
            },
        }
    }

    /// Sets the cookie on `response` when this visitor is new.
    pub(super) fn remember(&self, mut response: Response) -> Response {
        if self.set_cookie {
            set_cookie(&mut response, &self.who);
        }
        response
    }
}

fn set_cookie(response: &mut Response, who: &Who) {
    if let Ok(v) = who.cookie().parse() {
        response.headers_mut().insert(SET_COOKIE, v);
    }
}

#[derive(Deserialize)]
pub(super) struct SwitchQuery {
    user: Option<String>,
}

/// Browse as one of the simulated shoppers, or as a new anonymous visitor.
pub(super) async fn switch(Query(q): Query<SwitchQuery>) -> Response {
    let who = match q.user.filter(|u| !u.trim().is_empty()) {
        Some(u) => Who::User(u),
        None => Who::fresh(),
    };
    let mut response = (StatusCode::SEE_OTHER, [(LOCATION, "/")]).into_response();
    set_cookie(&mut response, &who);
    response
}

/// Percent-encodes everything but unreserved characters: for cookie values and URL paths.
pub(super) fn percent_encode(s: &str) -> String {
    encode(s, b"-_.~")
}

/// Percent-encodes a URL path, keeping its slashes.
pub(super) fn path(s: &str) -> String {
    encode(s, b"-_.~/")
}

fn encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_keeps_any_id() {
        for who in [
            Who::User("</script><script>alert(1)</script>; Path=/x".into()),
            Who::Anonymous("visitor-ümlaut %41".into()),
        ] {
            let cookie = who.cookie();
            let value = cookie.split("; Path=/").next().expect("value");
            assert!(!value.contains([' ', ';', '<']), "{value}");
            let mut headers = HeaderMap::new();
            headers.insert(COOKIE, value.parse().expect("header"));
            assert_eq!(Who::from_headers(&headers), Some(who));
        }
        assert_eq!(path("Men/T-shirts & tops"), "Men/T-shirts%20%26%20tops");
    }
}
