//! The demo storefront: home, category, product, cart and preference pages for the demo's
//! simulated shop, integrated as a store would: the pages carry slots for placements, and
//! the storefront SDK (`/sdk/tailor.js`, served by Tailor) asks `decide` from the browser
//! with the public write key, renders each answer with its "why am I seeing this", and sends
//! the Segment events, so the next page view adapts. A signed-in shopper's id travels with
//! the user hash this server (the store's backend) makes for it.
//!
//! Every product and banner has a picture drawn from what the catalog says of it
//! (`images`), at the `image_url` the catalog gives.
//!
//! Pages are rendered with `maud`, which escapes every value it interpolates; the little
//! script the pages share is a file (`/assets/storefront.js`) and reads the visitor from
//! `data-*` attributes, so no request value ever lands in a script, and nothing on a page
//! runs inline (the pages' Content Security Policy would refuse it); the SDK renders text,
//! never markup.
//!
//! Who is browsing comes from a cookie the storefront sets (`/as?user=…` picks a simulated
//! shopper): an unverified claim, which is why these pages, the preference center among
//! them, exist only in the demo.

mod images;
mod layout;
mod pages;
mod preferences;
mod visitor;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::routing::get;
use tailor_engine::Engine;

/// What the storefront's handlers reach.
#[derive(Clone)]
struct Storefront {
    engine: Engine,
    /// The public write key the pages send events with.
    write_key: Arc<str>,
    /// Message ids of what the preference center records: a random prefix and a counter.
    id_prefix: Arc<str>,
    id_counter: Arc<AtomicU64>,
}

impl Storefront {
    fn new_message_id(&self) -> String {
        let n = self.id_counter.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.id_prefix)
    }
}

/// The pages' script or style, with its type.
fn asset(content_type: &'static str, body: &'static str) -> impl axum::response::IntoResponse {
    (
        [
            (axum::http::header::CONTENT_TYPE, content_type),
            (axum::http::header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

/// The storefront's routes over `engine`, for the server's router to merge (`/`, `/c/…`,
/// `/p/…`, `/cart`, `/as`, `/preferences`, the pictures at `/img/…`). They carry their own state, so they fit a
/// router of any state type.
pub fn storefront<S: Clone + Send + Sync + 'static>(engine: Engine, write_key: &str) -> Router<S> {
    let id_prefix = tailor_engine::keys::random_key("sf-", 8)
        .unwrap_or_else(|_| format!("sf-{}", std::process::id()));
    let state = Storefront {
        engine,
        write_key: write_key.into(),
        id_prefix: id_prefix.into(),
        id_counter: Arc::new(AtomicU64::new(0)),
    };
    Router::new()
        .route("/", get(pages::home))
        .route("/c/{*path}", get(pages::category))
        .route("/p/{id}", get(pages::product))
        .route("/cart", get(pages::cart))
        .route("/as", get(visitor::switch))
        .route("/img/{file}", get(images::image))
        .route(
            "/assets/storefront.js",
            get(|| async { asset("text/javascript; charset=utf-8", layout::SCRIPT) }),
        )
        .route(
            "/assets/storefront.css",
            get(|| async { asset("text/css; charset=utf-8", layout::STYLE) }),
        )
        .route(
            "/preferences",
            get(preferences::show).post(preferences::save),
        )
        .with_state(state)
}
