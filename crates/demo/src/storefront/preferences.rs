//! The demo storefront's preference center (`/preferences`): what Tailor knows about the
//! visitor — what they declared, what it inferred, their consent — and a form to declare
//! favourite categories, a price range, channels and frequency (zero-party data). Saving
//! records what `PUT /v1/preferences` records (the `preferences` trait, and the channels as
//! consent), so the next page reflects it at once.
//!
//! The channel boxes show the consent Tailor applies (the same answer the consent check
//! gives), not what was once declared; each carries the state it was shown with, and saving
//! records consent only for the boxes the shopper changed, so saving a category withdraws
//! nothing.
//!
//! It trusts the storefront's visitor cookie, an unverified claim: fine for a demo's
//! simulated shoppers, which is why it is not part of the server.

use axum::Form;
use axum::extract::State;
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::{Value, json};
use tailor_core::message::{Envelope, Message, parse_message};
use tailor_core::preferences::{self, Channels, Preferences, PriceRange};
use tailor_core::{MessageType, Purpose};

use super::Storefront;
use super::layout;
use super::visitor::Visitor;

const FREQUENCIES: [&str; 3] = ["daily", "weekly", "monthly"];
/// The channel boxes, each a consent purpose.
const CHANNELS: [&str; 3] = ["email", "push", "sms"];

pub(super) async fn show(State(store): State<Storefront>, headers: HeaderMap) -> Response {
    let visitor = Visitor::of(&headers);
    let engine = &store.engine;
    let id = visitor.who.id().to_string();
    let declared = engine.declared_preferences(&id).unwrap_or_default();
    let categories: Vec<String> = engine
        .category_tree()
        .iter()
        .flat_map(|top| top.children.iter().map(|c| c.path.clone()))
        .collect();
    let max_price = declared
        .price_range
        .map(|r| format!("{}", r.max))
        .unwrap_or_default();
    let frequency = declared.frequency.clone().unwrap_or_default();
    let inferred = engine
        .profile(&id)
        .map(|p| serde_json::to_value(&p).unwrap_or(Value::Null));
    let consent = engine.consent_state(&id).unwrap_or_default();
    let allowed = |name: &str| {
        Purpose::parse(name)
            .and_then(|p| consent.get(&p))
            .is_some_and(|c| c.allowed)
    };
    let body = html! {
        h1 { "Your preferences" }
        section.card {
            h2 { "What we know about you" }
            ul {
                @if let Some(v) = &inferred {
                    @let top: Vec<&str> = v["affinities"]["categories"]
                        .as_array()
                        .map(|a| a.iter().take(3).filter_map(|c| c["key"].as_str()).collect())
                        .unwrap_or_default();
                    li { "Stage: " (v["lifecycleStage"].as_str().unwrap_or("?")) }
                    li { "Product views: " (v["productViews"]) }
                    li { "Orders: " (v["orders"]["count"]) }
                    li { "Interests we inferred: " (if top.is_empty() { "none yet".to_string() } else { top.join(", ") }) }
                } @else {
                    li { "Nothing yet: we have not seen you browse." }
                }
            }
            h3 { "Consent" }
            ul {
                @for (purpose, permission) in &consent {
                    li { (purpose.as_str()) ": " (permission.describe()) }
                }
            }
        }
        form.card method="post" action="/preferences" {
            h2 { "Tell us what you like" }
            p { "What you tell us counts more than what we guess." }
            fieldset {
                legend { "Favourite categories" }
                @for (i, path) in categories.iter().enumerate() {
                    label.pref {
                        input type="checkbox" name={ "category_" (i) } value=(path) checked[declared.categories.contains(path)];
                        " " (path)
                    }
                }
            }
            p { label { "Maximum price " input type="number" min="0" step="1" name="max_price" value=(max_price); } }
            fieldset {
                legend { "Send me news by" }
                @for name in CHANNELS {
                    @let on = allowed(name);
                    label.pref {
                        input type="checkbox" name=(name) checked[on];
                        input type="hidden" name={ "shown_" (name) } value=(if on { "1" } else { "0" });
                        " " (name)
                    }
                }
            }
            p {
                label {
                    "How often "
                    select name="frequency" {
                        option value="" selected[frequency.is_empty()] { "no preference" }
                        @for f in FREQUENCIES {
                            option value=(f) selected[f == frequency] { (f) }
                        }
                    }
                }
            }
            button.primary type="submit" { "Save my preferences" }
        }
        // The SDK's consent banner, always shown here: Segment's categoryPreferences on
        // every later event of this browser.
        div.panel data-tailor-consent {
            h2 { "Privacy choices for this browser" }
        }
    };
    layout::page(
        &store,
        &visitor,
        "Your preferences",
        &serde_json::json!({"page": "preferences"}),
        body,
    )
}

pub(super) async fn save(
    State(store): State<Storefront>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let visitor = Visitor::of(&headers);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    // A box the shopper changed: checked now but shown unchecked, or the other way round. A
    // form without the shown state (an old page) changes no channel.
    let changed = |name: &str| {
        let shown = field(&format!("shown_{name}"))?;
        let on = field(name).is_some();
        (on != (shown == "1")).then_some(on)
    };
    let changes = Channels {
        email: changed("email"),
        push: changed("push"),
        sms: changed("sms"),
    };
    let declared = store
        .engine
        .declared_preferences(visitor.who.id())
        .unwrap_or_default()
        .channels
        .unwrap_or_default();
    let prefs = Preferences {
        categories: fields
            .iter()
            .filter(|(k, _)| k.starts_with("category_"))
            .map(|(_, v)| v.clone())
            .filter(|c| store.engine.has_category(c))
            .collect(),
        price_range: field("max_price")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|m| m.is_finite() && *m > 0.0)
            .map(|max| PriceRange { min: 0.0, max }),
        // What was declared before, with this save's changes over it.
        channels: Some(Channels {
            email: changes.email.or(declared.email),
            push: changes.push.or(declared.push),
            sms: changes.sms.or(declared.sms),
        }),
        frequency: field("frequency")
            .filter(|f| FREQUENCIES.contains(f))
            .map(str::to_string),
        ..Default::default()
    };
    let recorded = match declaration(&store, &visitor.who.json(), &prefs, &changes) {
        // The demo's backend records it for the shopper picked on the page (its pretend
        // login), as a store's backend does for its logged-in customer.
        Ok(messages) => store
            .engine
            .ingest(messages, tailor_engine::Origin::Server)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    if let Err(error) = recorded {
        tracing::warn!(%error, "could not save preferences from the storefront");
    }
    (StatusCode::SEE_OTHER, [(LOCATION, "/preferences")]).into_response()
}

/// The messages `PUT /v1/preferences` records for a declaration: an identify call with the
/// `preferences` trait and, when channels changed, the consent event for those only.
fn declaration(
    store: &Storefront,
    ids: &Value,
    prefs: &Preferences,
    changes: &Channels,
) -> Result<Vec<Message>, String> {
    let mut bodies = vec![(
        MessageType::Identify,
        json!({"traits": {preferences::TRAIT: prefs}}),
    )];
    let changed = Preferences {
        channels: Some(changes.clone()),
        ..Default::default()
    };
    let channels = changed.channel_consent();
    if !channels.is_empty() {
        bodies.push((
            MessageType::Track,
            json!({"event": tailor_engine::consent::CONSENT_EVENT,
                   "properties": {"consentSource": "preference center", "policyVersion": store.engine.consent_policy().version},
                   "context": {"consent": {"categoryPreferences": channels}}}),
        ));
    }
    let envelope = Envelope {
        received_at: store.engine.now(),
        ..Default::default()
    };
    bodies
        .into_iter()
        .map(|(kind, mut body)| {
            if let (Value::Object(body), Value::Object(ids)) = (&mut body, ids) {
                body.extend(ids.clone());
            }
            parse_message(body, Some(kind), &envelope, || store.new_message_id())
                .map_err(|e| e.message)
        })
        .collect()
}
