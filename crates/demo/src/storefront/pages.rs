//! The shop's pages: home, category, product and cart. Each asks `decide` for its
//! placements and shows every answer with its explanation.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use serde_json::{Value, json};
use tailor_engine::DecideInput;
use tailor_engine::decide::Answer;

use super::Storefront;
use super::layout::{self, Personalized};
use super::visitor::{Visitor, Who, path};

/// What `decide` said for one page.
struct Decided {
    id: String,
    personalized: bool,
    reason: Option<&'static str>,
    answers: Vec<(String, Answer)>,
}

impl Decided {
    fn answer(&self, placement: &str) -> Option<&Answer> {
        self.answers
            .iter()
            .find(|(p, _)| p == placement)
            .map(|(_, a)| a)
    }

    fn personalized(&self) -> Personalized<'_> {
        Personalized {
            yes: self.personalized,
            reason: self.reason,
        }
    }
}

fn decide(store: &Storefront, who: &Who, placements: &[&str], context: Value) -> Decided {
    let (user_id, anonymous_id) = match who {
        Who::User(u) => (Some(u.clone()), None),
        Who::Anonymous(a) => (None, Some(a.clone())),
    };
    let input = DecideInput {
        user_id,
        anonymous_id,
        placements: placements.iter().map(|p| p.to_string()).collect(),
        context: context.as_object().cloned().unwrap_or_default(),
        // The storefront renders on the server, as the store's backend would.
        ..DecideInput::default()
    };
    match store.engine.decide(input) {
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

fn why(a: &Answer) -> Markup {
    html! { p.why { "Why: " (a.explanation) } }
}

fn nav(decided: &Decided) -> Markup {
    let Some(a) = decided.answer("nav.categories") else {
        return html! {};
    };
    html! {
        nav {
            @for c in a.categories.iter().flatten() {
                a href={ "/c/" (path(&c.path)) } { (c.name) }
            }
        }
    }
}

fn hero(a: Option<&Answer>, decision: &str) -> Markup {
    let Some(a) = a else { return html! {} };
    let Some(item) = &a.item else { return why(a) };
    let link = item.link_url.as_deref().unwrap_or("/");
    let props = json!({"promotion_id": item.id, "name": item.title, "creative": "home.hero", "decisionId": decision});
    html! {
        div.hero {
            h1 { (item.title) }
            p { (item.body.as_deref().unwrap_or("")) }
            a.light href=(link) data-track="Promotion Clicked" data-href=(link) data-props=(props.to_string()) { "Shop now →" }
        }
        (why(a))
    }
}

fn promo(a: Option<&Answer>, decision: &str) -> Markup {
    let Some(a) = a else { return html! {} };
    let Some(item) = &a.item else { return why(a) };
    let link = item.link_url.as_deref().unwrap_or("/cart");
    let props = json!({"promotion_id": item.id, "name": item.title, "creative": "promo.banner", "decisionId": decision});
    html! {
        div.promo {
            strong { (item.title) }
            " " (item.body.as_deref().unwrap_or("")) " "
            a href=(link) data-track="Promotion Clicked" data-href=(link) data-props=(props.to_string()) { "Get it" }
        }
        (why(a))
    }
}

fn product_card(p: &tailor_core::Product, reason: Option<&str>, decision: &str) -> Markup {
    let href = format!("/p/{}", path(&p.id));
    let props = json!({"product_id": p.id, "name": p.name, "category": p.category_path(), "price": p.price, "decisionId": decision});
    html! {
        div.card {
            a href=(href) data-track="Product Clicked" data-href=(href) data-props=(props.to_string()) {
                h3 { (p.name) }
            }
            div { (p.category_path()) }
            div.price { (format!("${:.2}", p.price)) }
            @if !p.in_stock() {
                div.reason { "Out of stock" }
            }
            @if let Some(reason) = reason {
                div.reason { (reason) }
            }
        }
    }
}

fn recs(a: Option<&Answer>, title: &str, decision: &str) -> Markup {
    let Some(a) = a else { return html! {} };
    html! {
        h2 { (title) }
        (why(a))
        div.grid {
            @for i in a.items.iter().flatten() {
                (product_card(&i.product, Some(&i.reason), decision))
            }
        }
    }
}

/// An element that tracks `event` with `props` when the page loads.
fn on_load(event: &str, props: &Value) -> Markup {
    html! { span data-onload=(event) data-props=(props.to_string()) {} }
}

pub(super) async fn home(State(store): State<Storefront>, headers: HeaderMap) -> Response {
    let visitor = Visitor::of(&headers);
    let decided = decide(
        &store,
        &visitor.who,
        &["nav.categories", "home.hero", "promo.banner", "recs.home"],
        json!({"page": "home"}),
    );
    let id = &decided.id;
    let title = if decided.personalized {
        "Picked for you"
    } else {
        "Popular right now"
    };
    let body = html! {
        (hero(decided.answer("home.hero"), id))
        (promo(decided.answer("promo.banner"), id))
        (recs(decided.answer("recs.home"), title, id))
        (on_load("Product List Viewed", &json!({"list_id": "home"})))
    };
    layout::page(
        &store,
        &visitor,
        "Home",
        decided.personalized(),
        nav(&decided),
        body,
    )
}

pub(super) async fn category(
    State(store): State<Storefront>,
    headers: HeaderMap,
    Path(wanted): Path<String>,
) -> Response {
    let visitor = Visitor::of(&headers);
    let category = resolve_category(&store, &wanted).unwrap_or(wanted);
    let decided = decide(
        &store,
        &visitor.who,
        &["nav.categories", "promo.banner"],
        json!({"page": "category", "category": category}),
    );
    let id = &decided.id;
    let products = store.engine.products(Some(&category));
    let body = html! {
        (promo(decided.answer("promo.banner"), id))
        h1 { (category) }
        p { (products.len()) " products" }
        div.grid {
            @for p in products.iter().take(48) {
                (product_card(p, None, id))
            }
        }
        (on_load("Product List Viewed", &json!({"list_id": category, "category": category})))
    };
    layout::page(
        &store,
        &visitor,
        &category,
        decided.personalized(),
        nav(&decided),
        body,
    )
}

pub(super) async fn product(
    State(store): State<Storefront>,
    headers: HeaderMap,
    Path(pid): Path<String>,
) -> Response {
    let visitor = Visitor::of(&headers);
    let Some(p) = store.engine.product(&pid) else {
        let body = html! { p { "No product " (pid) ". " a href="/" { "Home" } } };
        return (StatusCode::NOT_FOUND, Html(body.into_string())).into_response();
    };
    let decided = decide(
        &store,
        &visitor.who,
        &["nav.categories", "recs.product"],
        json!({"page": "product", "productId": pid}),
    );
    let viewed = json!({"product_id": p.id, "name": p.name, "category": p.category_path(), "brand": p.brand, "price": p.price, "currency": p.currency});
    let added = json!({"product_id": p.id, "name": p.name, "category": p.category_path(), "price": p.price, "quantity": 1});
    let body = html! {
        div.panel {
            h1 { (p.name) }
            p { (p.category_path()) " · " (p.brand.as_deref().unwrap_or("")) }
            p.price { (format!("${:.2}", p.price)) }
            p { (p.description.as_deref().unwrap_or("")) }
            @if p.in_stock() {
                button.primary data-track="Product Added" data-href="/cart" data-props=(added.to_string()) { "Add to cart" }
            } @else {
                p { "Out of stock" }
            }
        }
        (on_load("Product Viewed", &viewed))
        (recs(decided.answer("recs.product"), "You may also like", &decided.id))
    };
    layout::page(
        &store,
        &visitor,
        &p.name,
        decided.personalized(),
        nav(&decided),
        body,
    )
}

pub(super) async fn cart(State(store): State<Storefront>, headers: HeaderMap) -> Response {
    let visitor = Visitor::of(&headers);
    let decided = decide(
        &store,
        &visitor.who,
        &[
            "nav.categories",
            "promo.banner",
            "checkout.flow",
            "recs.cart",
        ],
        json!({"page": "cart"}),
    );
    let id = &decided.id;
    let lines: Vec<(String, i64, f64)> = store
        .engine
        .profile(visitor.who.id())
        .map(|v| {
            v.cart
                .items
                .iter()
                .map(|i| (i.product_id.clone(), i.quantity, i.price))
                .collect()
        })
        .unwrap_or_default();
    let body = if lines.is_empty() {
        html! {
            h1 { "Your cart is empty" }
            (recs(decided.answer("recs.cart"), "Popular right now", id))
        }
    } else {
        let name = |pid: &String| {
            store
                .engine
                .product(pid)
                .map_or_else(|| pid.clone(), |p| p.name.clone())
        };
        let total: f64 = lines.iter().map(|(_, q, p)| p * *q as f64).sum();
        let checkout = decided.answer("checkout.flow");
        let variant = checkout
            .and_then(|a| a.variant.clone())
            .unwrap_or_else(|| "standard".into());
        let order = json!({
            "order_id": format!("demo-{}-{}", visitor.who.id(), lines.len()),
            "total": total, "revenue": total, "currency": "USD", "decisionId": id,
            "products": lines.iter().map(|(pid, q, price)| json!({"product_id": pid, "quantity": q, "price": price})).collect::<Vec<_>>(),
        });
        html! {
            (promo(decided.answer("promo.banner"), id))
            div.panel {
                h1 { "Your cart" }
                ul {
                    @for (pid, q, price) in &lines {
                        li { (name(pid)) " × " (q) " — " (format!("${:.2}", price * *q as f64)) }
                    }
                }
                p.price { (format!("Total ${total:.2}")) }
                p { strong { "Checkout: " (variant) } }
                @if let Some(a) = checkout {
                    (why(a))
                }
                button.primary data-track="Order Completed" data-href="/" data-props=(order.to_string()) { "Place order" }
            }
            (recs(decided.answer("recs.cart"), "Goes well with your cart", id))
        }
    };
    layout::page(
        &store,
        &visitor,
        "Cart",
        decided.personalized(),
        nav(&decided),
        body,
    )
}

/// Finds the catalog's category for a link such as `/c/men/t-shirts` (case, spaces and
/// hyphens do not matter).
fn resolve_category(store: &Storefront, wanted: &str) -> Option<String> {
    let norm = |s: &str| s.to_lowercase().replace([' ', '-', '_'], "");
    let wanted = norm(wanted.trim_matches('/'));
    let mut stack = store.engine.category_tree();
    while let Some(node) = stack.pop() {
        if norm(&node.path) == wanted {
            return Some(node.path);
        }
        stack.extend(node.children);
    }
    None
}
