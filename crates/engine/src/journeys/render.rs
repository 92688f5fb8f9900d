//! Fills a message template for one person: the context (`language::VARIABLES`) from their
//! profile, the catalog and `decide` — recommendations and the promotion come from
//! `decide` and are logged like any decision, so the website and the message agree and
//! clicks are attributed. Only what the template reads is computed.

use serde_json::{Map, Value, json};
use tailor_core::Millis;

use super::JourneyParts;
use super::channels::Channel;
use super::language::{HTML, SUBJECT, TEXT};
use super::policy::Zone;
use super::templates::{self, Template};
use crate::decide::{DecideInput, PlacementKind};
use crate::profile::Profile;

/// A rendered message.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Rendered {
    /// An email's subject, a push or on-site message's title.
    pub subject: String,
    /// An email's text part; an SMS, push or on-site message's body.
    pub text: String,
    /// An email's HTML part.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// The decision the recommendations and promotion came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    /// Product ids shown (cart and recommendations), for the webhook payload.
    pub products: Vec<String>,
}

/// Who the message is for and what it is part of.
pub(crate) struct Recipient<'a> {
    pub profile: &'a Profile,
    pub user_id: Option<&'a str>,
    pub anonymous_id: Option<&'a str>,
    pub journey: &'a str,
    /// The properties of the event that entered the journey.
    pub trigger: &'a Map<String, Value>,
    /// This message's one-click unsubscribe link (email and SMS).
    pub unsubscribe_url: Option<&'a str>,
    /// `decide` is told where the answer goes (`journey`, `preview`).
    pub channel_context: &'a str,
}

pub(crate) fn render(
    parts: &JourneyParts,
    template: &Template,
    to: &Recipient,
    now: Millis,
) -> Result<Rendered, String> {
    let compiled = &template.compiled;
    let p = to.profile;
    let text_trait = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| p.traits.get(*k).and_then(|v| v.value.as_str()))
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let mut ctx = Map::new();
    let first = text_trait(&["firstName", "first_name"]);
    let last = text_trait(&["lastName", "last_name"]);
    let name = text_trait(&["name"]).or_else(|| match (&first, &last) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (f, l) => f.clone().or_else(|| l.clone()),
    });
    // Absent values stay undefined, so `default("there")` applies.
    for (key, value) in [
        ("first_name", first),
        ("last_name", last),
        ("name", name),
        ("email", text_trait(&["email"])),
        ("phone", text_trait(&["phone"])),
    ] {
        if let Some(v) = value {
            ctx.insert(key.into(), json!(v));
        }
    }
    let traits: Map<String, Value> = p
        .traits
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    ctx.insert("traits".into(), Value::Object(traits));
    ctx.insert(
        "lifecycle_stage".into(),
        json!(p.lifecycle_stage(now).as_str()),
    );
    ctx.insert("orders".into(), json!(p.orders.count));
    if compiled.reads("predictions")
        && let Some(models) = parts.predictions.current()
    {
        ctx.insert("predictions".into(), json!(models.predict(p, now, None)));
    }
    let currency = text_trait(&["currency"])
        .map(|c| c.to_ascii_uppercase())
        .filter(|c| c.len() == 3 && c.chars().all(|ch| ch.is_ascii_alphabetic()))
        .or_else(|| parts.channels.currency.clone())
        .unwrap_or_else(|| "USD".into());
    let mut products: Vec<String> = Vec::new();
    let cart_ids: Vec<String> = p.cart.items().map(|l| l.product_id.clone()).collect();
    let items: Vec<Value> = parts.live.with_catalog(|catalog| {
        p.cart
            .items()
            .map(|l| {
                let product = catalog.product(&l.product_id);
                json!({
                    "id": l.product_id,
                    "name": product.map_or(l.product_id.as_str(), |p| p.name.as_str()),
                    "quantity": l.quantity,
                    "price": l.price,
                    "line_total": l.price * l.quantity as f64,
                    "url": product.and_then(|p| p.url.as_deref()),
                    "image_url": product.and_then(|p| p.image_url.as_deref()),
                })
            })
            .collect()
    });
    products.extend(cart_ids.iter().cloned());
    ctx.insert(
        "cart".into(),
        json!({
            "items": items,
            "total": (p.cart.value() * 100.0).round() / 100.0,
            "count": p.cart.items().map(|l| l.quantity).sum::<i64>(),
            "currency": currency,
        }),
    );
    ctx.insert("currency".into(), json!(currency));
    let mut decision_id = None;
    let mut recommendations = Vec::new();
    let mut promotion = Value::Null;
    let placements: Vec<String> = [
        compiled
            .reads("recommendations")
            .then_some(if cart_ids.is_empty() {
                "recs.home"
            } else {
                "recs.cart"
            }),
        compiled.reads("promotion").then_some("promo.banner"),
    ]
    .into_iter()
    .flatten()
    .map(str::to_string)
    .collect();
    if !placements.is_empty() {
        let mut context = Map::new();
        context.insert("cart".into(), json!(cart_ids));
        context.insert("channel".into(), json!(to.channel_context));
        let out = parts
            .decider
            .decide(DecideInput {
                user_id: to.user_id.map(str::to_string),
                anonymous_id: to.anonymous_id.map(str::to_string),
                placements,
                context,
                ..DecideInput::default()
            })
            .map_err(|e| format!("decide failed: {e}"))?;
        decision_id = Some(out.decision_id);
        for (_, answer) in &out.answers {
            match answer.kind {
                PlacementKind::Recommendations => {
                    for item in answer.items.iter().flatten() {
                        let product = &item.product;
                        products.push(product.id.clone());
                        recommendations.push(json!({
                            "id": product.id, "name": product.name, "price": product.price,
                            "currency": product.currency, "url": product.url,
                            "image_url": product.image_url, "category": product.category.join("/"),
                        }));
                    }
                }
                PlacementKind::Promotion => {
                    if let Some(c) = &answer.item {
                        promotion = json!({
                            "id": c.id, "title": c.title, "body": c.body,
                            "url": c.link_url, "image_url": c.image_url,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    ctx.insert("recommendations".into(), Value::Array(recommendations));
    if !promotion.is_null() {
        ctx.insert("promotion".into(), promotion);
    }
    ctx.insert("event".into(), Value::Object(to.trigger.clone()));
    ctx.insert("journey".into(), json!(to.journey));
    ctx.insert(
        "store".into(),
        json!({"name": parts.channels.store_name.as_deref().unwrap_or("")}),
    );
    ctx.insert("timezone".into(), json!(zone_name(p)));
    ctx.insert("now".into(), json!(now));
    if let Some(url) = to.unsubscribe_url {
        ctx.insert("unsubscribe_url".into(), json!(url));
    }
    let ctx = Value::Object(ctx);
    let subject = compiled.render(SUBJECT, &ctx)?;
    let mut text = compiled.render(TEXT, &ctx)?;
    let mut html = Some(compiled.render(HTML, &ctx)?).filter(|h| !h.trim().is_empty());
    if template.definition.channel == Channel::Email {
        // An email always carries its unsubscribe link, whatever the template says.
        if let Some(url) = to.unsubscribe_url
            && !compiled.reads("unsubscribe_url")
        {
            text = format!("{text}{}{url}\n", templates::TEXT_FOOTER);
            if let Some(h) = &mut html {
                h.push_str(&templates::html_footer(url));
            }
        }
        if text.trim().is_empty()
            && let Some(h) = &html
        {
            text = text_of_html(h);
        }
    }
    Ok(Rendered {
        // A subject is one line.
        subject: subject.lines().map(str::trim).collect::<Vec<_>>().join(" "),
        text,
        html,
        decision_id,
        products,
    })
}

/// The person's time zone as `date` takes it.
fn zone_name(p: &Profile) -> String {
    if let Some(m) = p.traits.get("utcOffset").and_then(|v| v.value.as_f64()) {
        let m = m.clamp(-14.0 * 60.0, 14.0 * 60.0) as i64;
        let sign = if m < 0 { '-' } else { '+' };
        return format!("{sign}{:02}:{:02}", m.abs() / 60, m.abs() % 60);
    }
    p.traits
        .get("timezone")
        .and_then(|v| v.value.as_str())
        .filter(|tz| Zone::parse(tz).is_some())
        .unwrap_or("UTC")
        .to_string()
}

/// A text part for an email whose template has only HTML: tags dropped, entities of the
/// escaping undone, blank runs collapsed.
fn text_of_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    out.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_only_emails_get_a_text_part() {
        assert_eq!(
            text_of_html("<p>Hi &lt;Bo&gt; &amp; co</p>\n<ul><li>Shoe</li></ul>"),
            "Hi <Bo> & co\nShoe"
        );
    }
}
