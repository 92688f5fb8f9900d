//! The frame every storefront page shares: the header with the categories, the shopper
//! picker and whether the page is personalized; the style; and the script that runs the
//! storefront SDK: it renders the placements with their reasons and sends the events.
//! Script and style are files (`/assets/storefront.js`, `/assets/storefront.css`), and no
//! element carries a handler or a style of its own: the pages' Content Security Policy
//! (Tailor's server sets it) runs nothing inline.

use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde_json::{Value, json};

use super::Storefront;
use super::visitor::{Visitor, Who};

/// The simulated shoppers offered in the picker: the first ones with enough history to make
/// personalization visible.
const SHOPPERS_SCANNED: u32 = 400;
const SHOPPERS_SHOWN: usize = 25;
const SHOPPER_MIN_EVENTS: u64 = 20;

/// A whole page; sets the visitor's cookie when they are new. `context` is the page's
/// context for `decide`; the SDK fills every `data-tailor-placement` element of `body`.
pub(super) fn page(
    store: &Storefront,
    visitor: &Visitor,
    title: &str,
    context: &Value,
    body: Markup,
) -> Response {
    let shoppers = shoppers(store, &visitor.who);
    let markup = html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                title { (title) " · Tailor demo store" }
                link rel="stylesheet" href="/assets/storefront.css";
            }
            // The script reads the key, the visitor and the page's context from here:
            // attribute values are escaped, so no visitor id can break out into markup or
            // script.
            body data-write-key=(store.write_key) data-visitor=(signed(store, &visitor.who).to_string())
                data-context=(context.to_string()) {
                header {
                    a.brand href="/" { "Tailor demo store" }
                    div data-tailor-placement="nav.categories" {}
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
                        span data-tailor-status { "· deciding…" }
                    }
                }
                main { (body) }
                script type="module" src="/assets/storefront.js" {}
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

/// The visitor as the SDK takes it: an anonymous visitor's id (the cookie's), or a
/// signed-in shopper's userId with the user hash the store's backend (this server) makes
/// for it, so Tailor trusts the claim.
fn signed(store: &Storefront, who: &Who) -> Value {
    match who {
        Who::User(user) => json!({"userId": user, "userHash": store.engine.user_hash(user)}),
        Who::Anonymous(id) => json!({"anonymousId": id}),
    }
}

/// The page's one script, a module on the storefront SDK (`/sdk/tailor.js`): it asks
/// Tailor what the page's placements show this visitor and renders them with their reasons,
/// then sends `data-onload` events, and on a click of a `data-track` element tracks it (with the
/// page's decisionId when it has `data-with-decision`), then follows `data-href`. Picking a
/// shopper in the header switches to them. Served as `/assets/storefront.js`: the pages'
/// Content Security Policy runs no inline script.
pub(super) const SCRIPT: &str = "
import { Tailor } from '/sdk/tailor.js';
document.querySelectorAll('form.who select').forEach((el) => el.addEventListener('change', () => el.form.submit()));
const page = document.body.dataset;
const tailor = new Tailor({ writeKey: page.writeKey, ...JSON.parse(page.visitor),
  productUrl: (p) => '/p/' + encodeURIComponent(p.id) });
const props = (el) => JSON.parse(el.dataset.props || '{}');
document.querySelectorAll('[data-track]').forEach((el) => el.addEventListener('click', async (e) => {
  e.preventDefault();
  const decision = 'withDecision' in el.dataset && tailor.decisionId ? { decisionId: tailor.decisionId } : {};
  await tailor.track(el.dataset.track, { ...props(el), ...decision });
  location.href = el.dataset.href || location.href;
}));
const consent = document.querySelector('[data-tailor-consent]');
if (consent) consent.append(tailor.consentBanner({ force: true }));
const reply = await tailor.personalize(JSON.parse(page.context)).catch((e) => { console.error(e); return null; });
const status = document.querySelector('[data-tailor-status]');
status.textContent = !reply ? '· Tailor did not answer'
  : reply.personalized ? '· personalized for you' : '· not personalized' + (reply.reason ? ': ' + reply.reason : '');
document.querySelectorAll('[data-title-personalized]').forEach((h) => {
  h.textContent = reply && reply.personalized ? h.dataset.titlePersonalized : h.dataset.titleOther;
});
// The page's own events after its decision: the decision reflects the visit so far, not
// this page view racing it (a new visitor's first page is decided as a new visitor's).
document.querySelectorAll('[data-onload]').forEach((el) => tailor.track(el.dataset.onload, props(el)));
page.tailorReady = reply ? reply.decisionId : 'failed';
";

pub(super) const STYLE: &str = "
a.light{color:#fff}
label.pref{display:inline-block;min-width:13rem;margin:.2rem .6rem .2rem 0}fieldset{border:1px solid #ddd;border-radius:6px;margin:.6rem 0}
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#1f2937;color:#fff;padding:.8rem 1.5rem;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}header .brand{font-weight:700;font-size:1.2rem}
.tailor-nav a{margin-right:.9rem;opacity:.9}.tailor-nav a:hover{opacity:1;text-decoration:underline}
header .tailor-placement{display:flex;align-items:center;gap:.4rem}
main{padding:1rem 1.5rem;max-width:1200px;margin:auto}
.tailor-placement{position:relative;margin:.3rem 0 .8rem}
.tailor-why-button{font-size:.75rem;color:#6b7280;background:none;border:0;padding:0;cursor:pointer;text-decoration:underline dotted}
header .tailor-why-button{color:#cbd5e1}
.tailor-why-popover{position:absolute;z-index:10;left:0;top:100%;margin-top:.2rem;max-width:28rem;background:#111827;color:#f9fafb;font-size:.8rem;border-radius:6px;padding:.5rem .7rem;box-shadow:0 4px 14px rgba(0,0,0,.2)}
.tailor-hero-banner{background:linear-gradient(120deg,#4f46e5,#06b6d4);color:#fff;border-radius:12px;padding:2rem;margin:.5rem 0 .2rem}
.tailor-hero-banner h2{margin:0 0 .4rem;font-size:2rem}.tailor-hero-banner a{color:#fff}
.tailor-promo-banner{background:#fef3c7;border:1px solid #f59e0b;border-radius:8px;padding:.7rem 1rem;margin:.8rem 0 .2rem}
.tailor-promo-banner h2{font-size:1rem;display:inline;margin-right:.5rem}.tailor-promo-banner p{display:inline;margin-right:.5rem}
.tailor-recs,.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:.8rem}
.grid.listing>.card:nth-of-type(n+49){display:none}.grid>.tailor-why{grid-column:1/-1}.card.tailor-moved{border-color:#a5b4fc}
.tailor-card,.card{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:.8rem}.tailor-card h3,.card h3{font-size:.95rem;margin:.2rem 0}
.tailor-price,.card .price{font-weight:600}.tailor-reason,.card .reason{font-size:.75rem;color:#6b7280}
.tailor-message{background:#ecfdf5;border:1px solid #10b981;border-radius:8px;padding:.7rem 1rem}
.tailor-checkout-variant{margin:.2rem 0}
.who{margin-left:auto;font-size:.85rem}.who select,.who button{font-size:.85rem}
.panel{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:1rem;margin:.8rem 0}
button.primary{background:#4f46e5;color:#fff;border:0;border-radius:6px;padding:.5rem 1rem;cursor:pointer}
.tailor-banner-image{display:block;width:100%;height:auto;border-radius:8px;margin-bottom:.8rem}
.tailor-promo-banner .tailor-banner-image{display:inline-block;width:160px;vertical-align:middle;margin:0 .8rem 0 0;border-radius:4px}
.tailor-product-image,.card img{display:block;width:100%;height:auto;aspect-ratio:1;border-radius:6px}
.product-page{display:flex;gap:1.5rem;align-items:flex-start}.product-page img{width:320px;max-width:40%;border-radius:10px}
";
