//! The demo storefront: home, category, product and cart pages, each asking `decide`
//! (in-process, as a store's backend would over HTTP) what to show this visitor, with the
//! explanation under every personalized block. The browser sends Segment events to
//! `/v1/track` with the write key, so the next page view adapts.

use axum::extract::{Path, Query, State};
use axum::http::header::{COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tailor_engine::DecideInput;
use tailor_engine::decide::Answer;

use super::html::{STYLE, esc, url};
use crate::AppState;

const COOKIE_NAME: &str = "tailor_visitor";

/// Who is browsing: a chosen simulated shopper or an anonymous visitor.
#[derive(Clone)]
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
        match value.split_once(':')? {
            ("user", id) if !id.is_empty() => Some(Who::User(id.to_string())),
            ("anon", id) if !id.is_empty() => Some(Who::Anonymous(id.to_string())),
            _ => None,
        }
    }

    fn fresh() -> Who {
        let id = tailor_engine::keys::random_key("visitor-", 8)
            .unwrap_or_else(|_| "visitor-demo".into());
        Who::Anonymous(id)
    }

    fn cookie(&self) -> String {
        let v = match self {
            Who::User(u) => format!("user:{u}"),
            Who::Anonymous(a) => format!("anon:{a}"),
        };
        format!("{COOKIE_NAME}={v}; Path=/; SameSite=Lax")
    }

    pub(super) fn id(&self) -> &str {
        match self {
            Who::User(u) | Who::Anonymous(u) => u,
        }
    }

    pub(super) fn json(&self) -> Value {
        match self {
            Who::User(u) => json!({"userId": u}),
            Who::Anonymous(a) => json!({"anonymousId": a}),
        }
    }
}

/// The storefront exists only when the server was started by `tailor demo`.
pub(super) fn no_storefront() -> Response {
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(LOCATION, "/admin")],
        "the storefront runs with `tailor demo`",
    )
        .into_response()
}

pub(super) struct Page {
    pub(super) who: Who,
    set_cookie: bool,
}

pub(super) fn visitor(headers: &HeaderMap) -> Page {
    match Who::from_headers(headers) {
        Some(who) => Page {
            who,
            set_cookie: false,
        },
        None => Page {
            who: Who::fresh(),
            set_cookie: true,
        },
    }
}

/// What `decide` said for one page.
struct Decided {
    id: String,
    personalized: bool,
    reason: Option<&'static str>,
    answers: Vec<(String, Answer)>,
}

fn decide(state: &AppState, who: &Who, placements: &[&str], context: Value) -> Decided {
    let (user_id, anonymous_id) = match who {
        Who::User(u) => (Some(u.clone()), None),
        Who::Anonymous(a) => (None, Some(a.clone())),
    };
    let context = context.as_object().cloned().unwrap_or_default();
    let input = DecideInput {
        user_id,
        anonymous_id,
        placements: placements.iter().map(|p| p.to_string()).collect(),
        context,
        // The storefront renders on the server, as the store's backend would.
        ..DecideInput::default()
    };
    match state.engine.decide(input) {
        Ok(out) => Decided {
            id: out.decision_id,
            personalized: out.personalized,
            reason: out.reason,
            answers: out.answers,
        },
        Err(e) => {
            tracing::warn!(error = %e, "storefront decide failed");
            Decided {
                id: String::new(),
                personalized: false,
                reason: None,
                answers: Vec::new(),
            }
        }
    }
}

fn answer<'a>(answers: &'a [(String, Answer)], id: &str) -> Option<&'a Answer> {
    answers.iter().find(|(p, _)| p == id).map(|(_, a)| a)
}

fn why(a: &Answer) -> String {
    format!("<p class=why>Why: {}</p>", esc(&a.explanation))
}

fn nav(answers: &[(String, Answer)]) -> String {
    let Some(a) = answer(answers, "nav.categories") else {
        return String::new();
    };
    let links: String = a
        .categories
        .iter()
        .flatten()
        .map(|c| format!("<a href=\"/c/{}\">{}</a>", url(&c.path), esc(&c.name)))
        .collect();
    format!("<nav>{links}</nav>")
}

fn hero(a: Option<&Answer>, decision: &str) -> String {
    let Some(a) = a else { return String::new() };
    let Some(item) = &a.item else { return why(a) };
    let link = item.link_url.as_deref().unwrap_or("/");
    format!(
        "<div class=hero><h1>{}</h1><p>{}</p><a style=\"color:#fff\" href=\"{}\" data-track=\"Promotion Clicked\" data-href=\"{}\" data-props='{}'>Shop now →</a></div>{}",
        esc(&item.title),
        esc(item.body.as_deref().unwrap_or("")),
        esc(link),
        esc(link),
        esc(&json!({"promotion_id": item.id, "name": item.title, "creative": "home.hero", "decisionId": decision}).to_string()),
        why(a)
    )
}

fn promo(a: Option<&Answer>, decision: &str) -> String {
    let Some(a) = a else { return String::new() };
    match &a.item {
        Some(item) => format!(
            "<div class=promo><strong>{}</strong> {} <a href=\"{}\" data-track=\"Promotion Clicked\" data-href=\"{}\" data-props='{}'>Get it</a></div>{}",
            esc(&item.title),
            esc(item.body.as_deref().unwrap_or("")),
            esc(item.link_url.as_deref().unwrap_or("/cart")),
            esc(item.link_url.as_deref().unwrap_or("/cart")),
            esc(&json!({"promotion_id": item.id, "name": item.title, "creative": "promo.banner", "decisionId": decision}).to_string()),
            why(a)
        ),
        None => why(a),
    }
}

fn product_card(p: &tailor_core::Product, reason: Option<&str>, decision: &str) -> String {
    format!(
        "<div class=card><a href=\"/p/{id}\" data-track=\"Product Clicked\" data-href=\"/p/{id}\" data-props='{props}'><h3>{name}</h3></a><div>{cat}</div><div class=price>${price:.2}</div>{stock}{reason}</div>",
        id = url(&p.id),
        name = esc(&p.name),
        cat = esc(&p.category_path()),
        price = p.price,
        stock = if p.in_stock() { String::new() } else { "<div class=reason>Out of stock</div>".into() },
        reason = reason.map(|r| format!("<div class=reason>{}</div>", esc(r))).unwrap_or_default(),
        props = esc(&json!({"product_id": p.id, "name": p.name, "category": p.category_path(), "price": p.price, "decisionId": decision}).to_string()),
    )
}

fn recs(a: Option<&Answer>, title: &str, decision: &str) -> String {
    let Some(a) = a else { return String::new() };
    let cards: String = a
        .items
        .iter()
        .flatten()
        .map(|i| product_card(&i.product, Some(&i.reason), decision))
        .collect();
    format!(
        "<h2>{}</h2>{}<div class=grid>{cards}</div>",
        esc(title),
        why(a)
    )
}

pub(super) fn layout(
    state: &AppState,
    key: &str,
    page: &Page,
    title: &str,
    personalized: (bool, Option<&str>),
    navigation: String,
    body: String,
) -> Response {
    // The simulated shoppers with enough history to make personalization visible.
    let shoppers: String = (1..=400)
        .map(|n| format!("user-{n}"))
        .filter(|u| {
            state
                .engine
                .with_profile(u, |p| p.events >= 20)
                .unwrap_or(false)
        })
        .take(25)
        .map(|u| {
            let selected = matches!(&page.who, Who::User(x) if *x == u);
            let now = state.engine.now();
            let stage = state
                .engine
                .with_profile(&u, |p| p.lifecycle_stage(now).as_str())
                .unwrap_or("");
            format!(
                "<option value=\"{u}\"{}>{u} · {stage}</option>",
                if selected { " selected" } else { "" }
            )
        })
        .collect();
    let status = match personalized {
        (true, _) => "personalized for you".to_string(),
        (false, Some(reason)) => format!("not personalized: {reason}"),
        (false, None) => "not personalized".to_string(),
    };
    let html = format!(
        r#"<!doctype html><html><head><meta charset=utf-8><title>{title} · Tailor demo store</title><style>{STYLE}</style></head>
<body><header><a class=brand href="/">Tailor demo store</a>{navigation}<a href="/preferences">Your preferences</a><a href="/cart">Cart</a>
<form class=who action="/as">Browsing as <select name=user onchange="this.form.submit()"><option value="">a new anonymous visitor</option>{shoppers}</select>
<span title="{status_attr}">· {status}</span></form></header>
<main>{body}</main>
<script>
const KEY={key:?};
const WHO={who};
function track(event,properties){{return fetch('/v1/track',{{method:'POST',headers:{{'Content-Type':'application/json','Authorization':'Basic '+btoa(KEY+':')}},body:JSON.stringify(Object.assign({{event,properties}},WHO))}});}}
document.querySelectorAll('[data-track]').forEach(el=>el.addEventListener('click',async e=>{{e.preventDefault();await track(el.dataset.track,JSON.parse(el.dataset.props));location.href=el.dataset.href||location.href;}}));
document.querySelectorAll('[data-onload]').forEach(el=>track(el.dataset.onload,JSON.parse(el.dataset.props)));
</script></body></html>"#,
        title = esc(title),
        who = page.who.json(),
        status = esc(&status),
        status_attr = esc(&status),
    );
    let mut response = Html(html).into_response();
    if page.set_cookie
        && let Ok(v) = page.who.cookie().parse()
    {
        response.headers_mut().insert(SET_COOKIE, v);
    }
    response
}

pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(key) = state.storefront_key.clone() else {
        return no_storefront();
    };
    let page = visitor(&headers);
    let Decided {
        id,
        personalized,
        reason,
        answers,
    } = decide(
        &state,
        &page.who,
        &["nav.categories", "home.hero", "promo.banner", "recs.home"],
        json!({"page": "home"}),
    );
    let body = format!(
        "{}{}{}",
        hero(answer(&answers, "home.hero"), &id),
        promo(answer(&answers, "promo.banner"), &id),
        recs(
            answer(&answers, "recs.home"),
            if personalized {
                "Picked for you"
            } else {
                "Popular right now"
            },
            &id
        )
    );
    let onload = format!(
        "<span data-onload=\"Product List Viewed\" data-props='{}'></span>",
        esc(&json!({"list_id": "home"}).to_string())
    );
    layout(
        &state,
        &key,
        &page,
        "Home",
        (personalized, reason),
        nav(&answers),
        body + &onload,
    )
}

pub async fn category(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Response {
    let Some(key) = state.storefront_key.clone() else {
        return no_storefront();
    };
    let page = visitor(&headers);
    let path = resolve_category(&state, &path).unwrap_or(path);
    let Decided {
        id,
        personalized,
        reason,
        answers,
    } = decide(
        &state,
        &page.who,
        &["nav.categories", "promo.banner"],
        json!({"page": "category", "category": path}),
    );
    let products = state.engine.products(Some(&path));
    let cards: String = products
        .iter()
        .take(48)
        .map(|p| product_card(p, None, &id))
        .collect();
    let body = format!(
        "{}<h1>{}</h1><p>{} products</p><div class=grid>{cards}</div><span data-onload=\"Product List Viewed\" data-props='{}'></span>",
        promo(answer(&answers, "promo.banner"), &id),
        esc(&path),
        products.len(),
        esc(&json!({"list_id": path, "category": path}).to_string())
    );
    layout(
        &state,
        &key,
        &page,
        &path,
        (personalized, reason),
        nav(&answers),
        body,
    )
}

pub async fn product(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(pid): Path<String>,
) -> Response {
    let Some(key) = state.storefront_key.clone() else {
        return no_storefront();
    };
    let page = visitor(&headers);
    let Some(p) = state.engine.product(&pid) else {
        return (
            StatusCode::NOT_FOUND,
            Html(format!(
                "<p>No product {}. <a href=\"/\">Home</a></p>",
                esc(&pid)
            )),
        )
            .into_response();
    };
    let Decided {
        id,
        personalized,
        reason,
        answers,
    } = decide(
        &state,
        &page.who,
        &["nav.categories", "recs.product"],
        json!({"page": "product", "productId": pid}),
    );
    let props = json!({"product_id": p.id, "name": p.name, "category": p.category_path(), "brand": p.brand, "price": p.price, "currency": p.currency});
    let add = if p.in_stock() {
        format!(
            "<button class=primary data-track=\"Product Added\" data-href=\"/cart\" data-props='{}'>Add to cart</button>",
            esc(&json!({"product_id": p.id, "name": p.name, "category": p.category_path(), "price": p.price, "quantity": 1}).to_string())
        )
    } else {
        "<p>Out of stock</p>".into()
    };
    let body = format!(
        "<div class=panel><h1>{}</h1><p>{} · {}</p><p class=price>${:.2}</p><p>{}</p>{add}</div><span data-onload=\"Product Viewed\" data-props='{}'></span>{}",
        esc(&p.name),
        esc(&p.category_path()),
        esc(p.brand.as_deref().unwrap_or("")),
        p.price,
        esc(p.description.as_deref().unwrap_or("")),
        esc(&props.to_string()),
        recs(answer(&answers, "recs.product"), "You may also like", &id)
    );
    layout(
        &state,
        &key,
        &page,
        &p.name,
        (personalized, reason),
        nav(&answers),
        body,
    )
}

pub async fn cart(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(key) = state.storefront_key.clone() else {
        return no_storefront();
    };
    let page = visitor(&headers);
    let Decided {
        id,
        personalized,
        reason,
        answers,
    } = decide(
        &state,
        &page.who,
        &[
            "nav.categories",
            "promo.banner",
            "checkout.flow",
            "recs.cart",
        ],
        json!({"page": "cart"}),
    );
    let view = state.engine.profile(page.who.id());
    let lines: Vec<(String, i64, f64)> = view
        .as_ref()
        .map(|v| {
            v.cart
                .items
                .iter()
                .map(|i| (i.product_id.clone(), i.quantity, i.price))
                .collect()
        })
        .unwrap_or_default();
    let rows: String = lines
        .iter()
        .map(|(pid, q, price)| {
            let name = state
                .engine
                .product(pid)
                .map_or_else(|| pid.clone(), |p| p.name.clone());
            format!("<li>{} × {q} — ${:.2}</li>", esc(&name), price * *q as f64)
        })
        .collect();
    let total: f64 = lines.iter().map(|(_, q, p)| p * *q as f64).sum();
    let checkout = answer(&answers, "checkout.flow");
    let variant = checkout
        .and_then(|a| a.variant.clone())
        .unwrap_or_else(|| "standard".into());
    let order = json!({
        "order_id": format!("demo-{}-{}", page.who.id(), lines.len()),
        "total": total, "revenue": total, "currency": "USD", "decisionId": id,
        "products": lines.iter().map(|(pid, q, price)| json!({"product_id": pid, "quantity": q, "price": price})).collect::<Vec<_>>(),
    });
    let body = if lines.is_empty() {
        format!(
            "<h1>Your cart is empty</h1>{}",
            recs(answer(&answers, "recs.cart"), "Popular right now", &id)
        )
    } else {
        format!(
            "{}<div class=panel><h1>Your cart</h1><ul>{rows}</ul><p class=price>Total ${total:.2}</p><p><strong>Checkout: {}</strong></p>{}<button class=primary data-track=\"Order Completed\" data-href=\"/\" data-props='{}'>Place order</button></div>{}",
            promo(answer(&answers, "promo.banner"), &id),
            esc(&variant),
            checkout.map(why).unwrap_or_default(),
            esc(&order.to_string()),
            recs(
                answer(&answers, "recs.cart"),
                "Goes well with your cart",
                &id
            )
        )
    };
    layout(
        &state,
        &key,
        &page,
        "Cart",
        (personalized, reason),
        nav(&answers),
        body,
    )
}

/// Finds the catalog's category for a link such as `/c/men/t-shirts` (case, spaces and
/// hyphens do not matter).
fn resolve_category(state: &AppState, wanted: &str) -> Option<String> {
    let norm = |s: &str| s.to_lowercase().replace([' ', '-', '_'], "");
    let wanted = norm(wanted.trim_matches('/'));
    let mut stack = state.engine.category_tree();
    while let Some(node) = stack.pop() {
        if norm(&node.path) == wanted {
            return Some(node.path);
        }
        stack.extend(node.children);
    }
    None
}

#[derive(Deserialize)]
pub struct SwitchQuery {
    user: Option<String>,
}

/// Browse as one of the simulated shoppers, or as a new anonymous visitor.
pub async fn switch_visitor(Query(q): Query<SwitchQuery>) -> Response {
    let who = match q.user.filter(|u| !u.trim().is_empty()) {
        Some(u) => Who::User(u),
        None => Who::fresh(),
    };
    let mut response = (StatusCode::SEE_OTHER, [(LOCATION, "/")]).into_response();
    if let Ok(v) = who.cookie().parse() {
        response.headers_mut().insert(SET_COOKIE, v);
    }
    response
}
