//! The shop's pages: home, category, product and cart. The server renders what the store
//! knows (its catalog, the cart); each placement is a slot the storefront SDK fills in the
//! browser with `decide`'s answer and its explanation.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::Storefront;
use super::layout;
use super::visitor::{Visitor, path};

/// A slot the storefront SDK fills with `placement`'s answer and its reason.
fn slot(placement: &str) -> Markup {
    html! { div data-tailor-placement=(placement) {} }
}

/// The product's picture, when the catalog has one at a path or an http(s) URL.
fn picture(p: &tailor_core::Product) -> Markup {
    let url = p.image_url.as_deref().unwrap_or("");
    let usable = url.starts_with("https://")
        || url.starts_with("http://")
        || (url.starts_with('/') && !url.starts_with("//"));
    html! {
        @if usable {
            img src=(url) alt=(p.name) loading="lazy";
        }
    }
}

/// A catalog product of a category's list: the ranking placement reorders these (by
/// `data-product-id`) and adds a reason to the moved ones; a click carries the page's
/// decision.
fn product_card(p: &tailor_core::Product) -> Markup {
    let href = format!("/p/{}", path(&p.id));
    let props = json!({"product_id": p.id, "name": p.name, "category": p.category_path(), "price": p.price,
        "placement": "rank.listing"});
    html! {
        div.card data-product-id=(p.id) {
            a href=(href) data-track="Product Clicked" data-with-decision data-href=(href) data-props=(props.to_string()) {
                (picture(p))
                h3 { (p.name) }
            }
            div { (p.category_path()) }
            div.price { (format!("${:.2}", p.price)) }
            @if !p.in_stock() {
                div.reason { "Out of stock" }
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
    let body = html! {
        (slot("onsite.message"))
        (slot("home.hero"))
        (slot("promo.banner"))
        h2 data-title-personalized="Picked for you" data-title-other="Popular right now" { "Recommended" }
        (slot("recs.home"))
        (on_load("Product List Viewed", &json!({"list_id": "home"})))
    };
    layout::page(&store, &visitor, "Home", &json!({"page": "home"}), body)
}

pub(super) async fn category(
    State(store): State<Storefront>,
    headers: HeaderMap,
    Path(wanted): Path<String>,
) -> Response {
    let visitor = Visitor::of(&headers);
    let category = resolve_category(&store, &wanted).unwrap_or(wanted);
    // The store's own order: the catalog's, in-stock products first. The ranking placement
    // reorders it for the visitor in the browser; the style shows the first 48.
    let mut products = store.engine.products(Some(&category));
    products.sort_by_key(|p| !p.in_stock());
    products.truncate(tailor_engine::decide::MAX_LISTED);
    let body = html! {
        (slot("promo.banner"))
        h1 { (category) }
        p { (products.len()) " products" }
        div.grid.listing data-tailor-placement="rank.listing" data-tailor-list {
            @for p in &products {
                (product_card(p))
            }
        }
        (on_load("Product List Viewed", &json!({"list_id": category, "category": category})))
    };
    let context = json!({"page": "category", "category": category});
    layout::page(&store, &visitor, &category, &context, body)
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
    let viewed = json!({"product_id": p.id, "name": p.name, "category": p.category_path(), "brand": p.brand, "price": p.price, "currency": p.currency});
    let added = json!({"product_id": p.id, "name": p.name, "category": p.category_path(), "price": p.price, "quantity": 1});
    let body = html! {
        div.panel.product-page {
            (picture(&p))
            div {
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
        }
        (on_load("Product Viewed", &viewed))
        h2 { "You may also like" }
        (slot("recs.product"))
    };
    let context = json!({"page": "product", "productId": pid});
    layout::page(&store, &visitor, &p.name, &context, body)
}

pub(super) async fn cart(State(store): State<Storefront>, headers: HeaderMap) -> Response {
    let visitor = Visitor::of(&headers);
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
            h2 { "Popular right now" }
            (slot("recs.cart"))
        }
    } else {
        let name = |pid: &String| {
            store
                .engine
                .product(pid)
                .map_or_else(|| pid.clone(), |p| p.name.clone())
        };
        let total: f64 = lines.iter().map(|(_, q, p)| p * *q as f64).sum();
        // The script adds the page's decisionId (the one that chose the checkout).
        let order = json!({
            "order_id": format!("demo-{}-{}", visitor.who.id(), lines.len()),
            "total": total, "revenue": total, "currency": "USD",
            "products": lines.iter().map(|(pid, q, price)| json!({"product_id": pid, "quantity": q, "price": price})).collect::<Vec<_>>(),
        });
        html! {
            (slot("promo.banner"))
            div.panel {
                h1 { "Your cart" }
                ul {
                    @for (pid, q, price) in &lines {
                        li { (name(pid)) " × " (q) " — " (format!("${:.2}", price * *q as f64)) }
                    }
                }
                p.price { (format!("Total ${total:.2}")) }
                (slot("checkout.flow"))
                button.primary data-track="Order Completed" data-with-decision data-href="/" data-props=(order.to_string()) { "Place order" }
            }
            h2 { "Goes well with your cart" }
            (slot("recs.cart"))
        }
    };
    layout::page(&store, &visitor, "Cart", &json!({"page": "cart"}), body)
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
