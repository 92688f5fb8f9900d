//! Fills a message template: `{{name}}` from traits, `{{cart}}` from the profile's cart,
//! `{{recs}}` and `{{promo}}` from `decide` (logged like any decision, so the website and
//! the message agree and clicks are attributed).

use serde_json::{Map, Value, json};

use super::JourneyParts;
use super::templates::{MessageTemplate, PLACEHOLDERS};
use crate::decide::DecideInput;
use crate::decide::PlacementKind;
use crate::profile::Profile;

/// A rendered message.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
    pub decision_id: Option<String>,
    /// Product ids shown (cart and recommendations), for the webhook payload.
    pub products: Vec<String>,
}

pub fn render(
    parts: &JourneyParts,
    template: &MessageTemplate,
    profile: &Profile,
    user_id: Option<&str>,
    anonymous_id: Option<&str>,
    journey: &str,
) -> Result<Rendered, String> {
    let mut values: Map<String, Value> = Map::new();
    let name = profile
        .traits
        .get("firstName")
        .or_else(|| profile.traits.get("name"))
        .and_then(|v| v.value.as_str())
        .unwrap_or("there");
    values.insert("name".into(), json!(name));
    let cart: Vec<String> = profile.cart.items().map(|l| l.product_id.clone()).collect();
    let cart_lines: Vec<String> = profile
        .cart
        .items()
        .map(|l| {
            let title = parts.product_name(&l.product_id);
            format!("- {title} × {} ({:.2})", l.quantity, l.price)
        })
        .collect();
    values.insert("cart".into(), json!(cart_lines.join("\n")));
    values.insert(
        "cartValue".into(),
        json!(format!("{:.2}", profile.cart.value())),
    );
    values.insert("journey".into(), json!(journey));
    let mut products = cart.clone();
    let mut decision_id = None;
    let mut recs = Vec::new();
    let mut promo = String::new();
    if !template.placements.is_empty() {
        let mut context = Map::new();
        context.insert("cart".into(), json!(cart));
        context.insert("channel".into(), json!("journey"));
        let out = parts
            .decider
            .decide(DecideInput {
                user_id: user_id.map(str::to_string),
                anonymous_id: anonymous_id.map(str::to_string),
                placements: template.placements.iter().map(|p| p.to_string()).collect(),
                context,
                ..DecideInput::default()
            })
            .map_err(|e| format!("decide failed: {e}"))?;
        decision_id = Some(out.decision_id);
        for (_, answer) in &out.answers {
            match answer.kind {
                PlacementKind::Recommendations => {
                    for id in &answer.shown {
                        let title = parts.product_name(id);
                        recs.push(format!("- {title}"));
                        products.push(id.clone());
                    }
                }
                PlacementKind::Promotion | PlacementKind::Hero => {
                    if let Some(id) = &answer.chosen {
                        promo = parts.live.with_catalog(|c| {
                            c.content_item(id).map_or(id.clone(), |c| c.title.clone())
                        });
                    }
                }
                _ => {}
            }
        }
    }
    values.insert("recs".into(), json!(recs.join("\n")));
    values.insert("promo".into(), json!(promo));
    Ok(Rendered {
        subject: fill(template.subject, &values)?,
        body: fill(template.body, &values)?,
        decision_id,
        products,
    })
}

/// Replaces `{{key}}`; an unknown or unclosed placeholder fails the render.
pub fn fill(text: &str, values: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed placeholder in {text:?}"))?;
        let key = after[..end].trim();
        if !PLACEHOLDERS.contains(&key) {
            return Err(format!(
                "unknown placeholder {{{{{key}}}}}; known: {}",
                PLACEHOLDERS.join(", ")
            ));
        }
        match values.get(key) {
            Some(Value::String(s)) => out.push_str(s),
            Some(v) => out.push_str(&v.to_string()),
            None => {}
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_and_unknown_ones_fail() {
        let mut v = Map::new();
        v.insert("name".into(), json!("Ada"));
        assert_eq!(fill("Hi {{name}}!", &v).unwrap(), "Hi Ada!");
        assert_eq!(fill("{{ cart }}", &v).unwrap(), "");
        assert!(
            fill("{{secret}}", &v)
                .unwrap_err()
                .contains("unknown placeholder")
        );
        assert!(fill("{{name", &v).unwrap_err().contains("unclosed"));
    }
}
