//! The frame every storefront page shares: the header with the categories, the shopper
//! picker and whether the page is personalized; the style; and the script that sends the
//! page's Segment events. Script and style are files (`/assets/storefront.js`,
//! `/assets/storefront.css`), and no element carries a handler or a style of its own: the
//! pages' Content Security Policy (Tailor's server sets it) runs nothing inline.

use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::Storefront;
use super::visitor::{Visitor, Who};

/// The simulated shoppers offered in the picker: the first ones with enough history to make
/// personalization visible.
const SHOPPERS_SCANNED: u32 = 400;
const SHOPPERS_SHOWN: usize = 25;
const SHOPPER_MIN_EVENTS: u64 = 20;

/// Whether `decide` personalized the page, and if not, why.
pub(super) struct Personalized<'a> {
    pub(super) yes: bool,
    pub(super) reason: Option<&'a str>,
}

/// A whole page; sets the visitor's cookie when they are new.
pub(super) fn page(
    store: &Storefront,
    visitor: &Visitor,
    title: &str,
    personalized: Personalized<'_>,
    navigation: Markup,
    body: Markup,
) -> Response {
    let status = match personalized {
        Personalized { yes: true, .. } => "personalized for you".to_string(),
        Personalized {
            reason: Some(reason),
            ..
        } => format!("not personalized: {reason}"),
        Personalized { reason: None, .. } => "not personalized".to_string(),
    };
    let shoppers = shoppers(store, &visitor.who);
    let markup = html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                title { (title) " · Tailor demo store" }
                link rel="stylesheet" href="/assets/storefront.css";
            }
            // The script reads the key and the visitor from here: attribute values are
            // escaped, so no visitor id can break out into markup or script.
            body data-write-key=(store.write_key) data-visitor=(signed(store, &visitor.who).to_string()) {
                header {
                    a.brand href="/" { "Tailor demo store" }
                    (navigation)
                    a href="/preferences" { "Your preferences" }
                    a href="/cart" { "Cart" }
                    form.who action="/as" {
                        "Browsing as "
                        select name="user" {
                            option value="" { "a new anonymous visitor" }
                            @for (id, stage, selected) in &shoppers {
                                option value=(id) selected[*selected] { (id) " · " (stage) }
                            }
                        }
                        " "
                        span title=(status) { "· " (status) }
                    }
                }
                main { (body) }
                script src="/assets/storefront.js" {}
            }
        }
    };
    visitor.remember(Html(markup.into_string()).into_response())
}

/// The picker's shoppers: id, lifecycle stage, and whether it is the current visitor.
fn shoppers(store: &Storefront, who: &Who) -> Vec<(String, &'static str, bool)> {
    let engine = &store.engine;
    let now = engine.now();
    (1..=SHOPPERS_SCANNED)
        .map(|n| format!("user-{n}"))
        .filter(|u| {
            engine
                .with_profile(u, |p| p.events >= SHOPPER_MIN_EVENTS)
                .unwrap_or(false)
        })
        .take(SHOPPERS_SHOWN)
        .map(|u| {
            let stage = engine
                .with_profile(&u, |p| p.lifecycle_stage(now).as_str())
                .unwrap_or("");
            let selected = matches!(who, Who::User(x) if *x == u);
            (u, stage, selected)
        })
        .collect()
}

/// The visitor's ids as the page's events carry them: a signed-in shopper's userId with the
/// user hash the store's backend (this server) makes for it, so Tailor trusts the claim.
fn signed(store: &Storefront, who: &Who) -> serde_json::Value {
    let mut ids = who.json();
    if let Some(user) = ids["userId"].as_str() {
        let hash = store.engine.user_hash(user);
        ids["integrations"] = serde_json::json!({"Tailor": {"userHash": hash}});
    }
    ids
}

/// Sends the page's Segment events: a click on an element with `data-track` tracks it with
/// its `data-props`, then follows `data-href`; `data-onload` elements track on load. Picking
/// a shopper switches to them.
pub(super) const SCRIPT: &str = "
document.querySelectorAll('form.who select').forEach(el=>el.addEventListener('change',()=>el.form.submit()));
const KEY=document.body.dataset.writeKey;
const WHO=JSON.parse(document.body.dataset.visitor);
function track(event,properties){return fetch('/v1/track',{method:'POST',headers:{'Content-Type':'application/json','Authorization':'Basic '+btoa(KEY+':')},body:JSON.stringify(Object.assign({event,properties},WHO))});}
document.querySelectorAll('[data-track]').forEach(el=>el.addEventListener('click',async e=>{e.preventDefault();await track(el.dataset.track,JSON.parse(el.dataset.props));location.href=el.dataset.href||location.href;}));
document.querySelectorAll('[data-onload]').forEach(el=>track(el.dataset.onload,JSON.parse(el.dataset.props)));
";

pub(super) const STYLE: &str = "
a.light{color:#fff}
label.pref{display:inline-block;min-width:13rem;margin:.2rem .6rem .2rem 0}fieldset{border:1px solid #ddd;border-radius:6px;margin:.6rem 0}
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2937;color:#fff;padding:.8rem 1.5rem;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}header .brand{font-weight:700;font-size:1.2rem}
nav a{margin-right:.9rem;opacity:.9}nav a:hover{opacity:1;text-decoration:underline}
main{padding:1rem 1.5rem;max-width:1200px;margin:auto}
.why{font-size:.8rem;color:#6b7280;font-style:italic;margin:.2rem 0 .8rem}
.hero{background:linear-gradient(120deg,#4f46e5,#06b6d4);color:#fff;border-radius:12px;padding:2rem;margin:.5rem 0}
.hero h1{margin:0 0 .4rem}.promo{background:#fef3c7;border:1px solid #f59e0b;border-radius:8px;padding:.7rem 1rem;margin:.8rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:.8rem}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:.8rem}.card h3{font-size:.95rem;margin:.2rem 0}
.card .price{font-weight:600}.card .reason{font-size:.75rem;color:#6b7280}
.who{margin-left:auto;font-size:.85rem}.who select,.who button{font-size:.85rem}
.panel{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:1rem;margin:.8rem 0}
button.primary{background:#4f46e5;color:#fff;border:0;border-radius:6px;padding:.5rem 1rem;cursor:pointer}
";
