//! The catalog: products and the content items (banners, promotions, navigation entries,
//! messages) that placements choose from. Parsing validates every field and reports
//! every problem at once.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::time::{Millis, parse_timestamp};
use crate::validate::{Problems, ValidationError};

const MAX_ID_CHARS: usize = 256;
const MAX_TEXT_CHARS: usize = 2_000;

/// A product as the store sells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: String,
    pub name: String,
    /// Category path from the top: `["Shoes", "Running"]`.
    pub category: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    pub price: f64,
    pub currency: String,
    /// Units in stock; `None` means the store does not track stock for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock: Option<i64>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Product {
    /// Validates a product from its JSON form. `category` may be an array of levels or a
    /// path string separated by `/` or `>`.
    pub fn from_json(value: Value) -> Result<Product, ValidationError> {
        let Value::Object(mut o) = value else {
            return Err(ValidationError::one("a product must be a JSON object"));
        };
        let mut p = Problems::default();
        let id = required_id(&mut o, "id", &mut p);
        let name = required_text(&mut o, "name", &mut p);
        let category = category_path(o.remove("category"), &mut p);
        let brand = optional_text(&mut o, "brand", &mut p);
        let price = match o.remove("price") {
            Some(Value::Number(n)) => match n.as_f64() {
                Some(x) if (0.0..1e12).contains(&x) => x,
                _ => {
                    p.push("`price` must be a number from 0 to 1e12");
                    0.0
                }
            },
            None | Some(Value::Null) => {
                p.push("`price` is required");
                0.0
            }
            Some(_) => {
                p.push("`price` must be a number");
                0.0
            }
        };
        let currency = match o.remove("currency") {
            None | Some(Value::Null) => "USD".to_string(),
            Some(Value::String(c))
                if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_alphabetic()) =>
            {
                c.to_ascii_uppercase()
            }
            Some(_) => {
                p.push("`currency` must be a three-letter ISO 4217 code such as \"USD\"");
                String::new()
            }
        };
        let stock = match o.remove("stock") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(s) if s >= 0 => Some(s),
                _ => {
                    p.push("`stock` must be a whole number of units, 0 or more");
                    None
                }
            },
            Some(_) => {
                p.push("`stock` must be a whole number of units, 0 or more");
                None
            }
        };
        let attributes = optional_object(&mut o, "attributes", &mut p);
        let image_url = optional_url(&mut o, "image_url", &mut p);
        let url = optional_url(&mut o, "url", &mut p);
        let description = optional_text(&mut o, "description", &mut p);
        for key in o.keys() {
            p.push(format!(
                "unknown field `{key}` (custom data goes under `attributes`)"
            ));
        }
        p.into_result(Product {
            id,
            name,
            category,
            brand,
            price,
            currency,
            stock,
            attributes,
            image_url,
            url,
            description,
        })
    }

    pub fn in_stock(&self) -> bool {
        self.stock.is_none_or(|s| s > 0)
    }

    /// The top-level category, e.g. `Shoes`.
    pub fn top_category(&self) -> &str {
        self.category.first().map(String::as_str).unwrap_or("")
    }

    /// The full path joined with `/`, e.g. `Shoes/Running`.
    pub fn category_path(&self) -> String {
        self.category.join("/")
    }
}

/// Splits a category given as a path string (`Shoes/Running`, `Shoes > Running`).
pub fn split_category(s: &str) -> Vec<String> {
    s.split(['/', '>'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentKind {
    Banner,
    Promotion,
    Navigation,
    Message,
}

impl ContentKind {
    fn parse(s: &str) -> Option<ContentKind> {
        Some(match s {
            "banner" => ContentKind::Banner,
            "promotion" => ContentKind::Promotion,
            "navigation" => ContentKind::Navigation,
            "message" => ContentKind::Message,
            _ => return None,
        })
    }
}

/// When and for whom a content item may be shown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Targeting {
    /// A GrowthBook-style (MongoDB-like) condition over the visitor's attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
    /// Categories the item is about; interest in them makes it relevant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Lifecycle stages it is meant for (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    #[serde(default)]
    pub priority: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<Millis>,
    /// Most times it may be shown in all (a promotion's budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_impressions: Option<u64>,
}

/// A banner, promotion, navigation entry or message that placements choose from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentItem {
    pub id: String,
    pub kind: ContentKind,
    /// The placements it may appear in, e.g. `home.hero`.
    pub placements: Vec<String>,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_url: Option<String>,
    #[serde(default)]
    pub targeting: Targeting,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
}

impl ContentItem {
    pub fn from_json(value: Value) -> Result<ContentItem, ValidationError> {
        let Value::Object(mut o) = value else {
            return Err(ValidationError::one("a content item must be a JSON object"));
        };
        let mut p = Problems::default();
        let id = required_id(&mut o, "id", &mut p);
        let kind = match o.remove("kind") {
            Some(Value::String(k)) => ContentKind::parse(&k).unwrap_or_else(|| {
                p.push(format!(
                    "unknown `kind` {k:?}: expected banner, promotion, navigation or message"
                ));
                ContentKind::Banner
            }),
            _ => {
                p.push("`kind` is required: banner, promotion, navigation or message");
                ContentKind::Banner
            }
        };
        let placements = string_list(o.remove("placements"), "placements", &mut p);
        if placements.is_empty() {
            p.push("`placements` must name at least one placement, e.g. [\"home.hero\"]");
        }
        let title = required_text(&mut o, "title", &mut p);
        let body = optional_text(&mut o, "body", &mut p);
        let image_url = optional_url(&mut o, "image_url", &mut p);
        let link_url = optional_url(&mut o, "link_url", &mut p);
        let attributes = optional_object(&mut o, "attributes", &mut p);
        let targeting = match o.remove("targeting") {
            None | Some(Value::Null) => Targeting::default(),
            Some(Value::Object(t)) => targeting(t, &mut p),
            Some(_) => {
                p.push("`targeting` must be an object");
                Targeting::default()
            }
        };
        for key in o.keys() {
            p.push(format!(
                "unknown field `{key}` (custom data goes under `attributes`)"
            ));
        }
        p.into_result(ContentItem {
            id,
            kind,
            placements,
            title,
            body,
            image_url,
            link_url,
            targeting,
            attributes,
        })
    }

    /// Whether the item may run at `now` by its schedule.
    pub fn is_live(&self, now: Millis) -> bool {
        self.targeting.start_at.is_none_or(|s| s <= now)
            && self.targeting.end_at.is_none_or(|e| now < e)
    }
}

fn targeting(mut t: Map<String, Value>, p: &mut Problems) -> Targeting {
    let condition = match t.remove("condition") {
        None | Some(Value::Null) => None,
        Some(c @ Value::Object(_)) => match crate::condition::validate_condition(&c) {
            Ok(()) => Some(c),
            Err(e) => {
                p.push(format!("`targeting.condition`: {e}"));
                None
            }
        },
        Some(_) => {
            p.push(
                "`targeting.condition` must be an object such as {\"lifecycleStage\": \"repeat\"}",
            );
            None
        }
    };
    let categories = string_list(t.remove("categories"), "targeting.categories", p);
    let stages = string_list(t.remove("stages"), "targeting.stages", p);
    let priority = match t.remove("priority") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64().unwrap_or_default(),
        Some(_) => {
            p.push("`targeting.priority` must be a whole number");
            0
        }
    };
    let mut time = |key: &str| match t.remove(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => parse_timestamp(&s).or_else(|| {
            p.push(format!("`targeting.{key}` must be an ISO-8601 date-time"));
            None
        }),
        Some(_) => {
            p.push(format!(
                "`targeting.{key}` must be an ISO-8601 date-time string"
            ));
            None
        }
    };
    let start_at = time("start_at");
    let end_at = time("end_at");
    if let (Some(s), Some(e)) = (start_at, end_at)
        && e <= s
    {
        p.push("`targeting.end_at` must be after `targeting.start_at`");
    }
    let max_impressions = match t.remove("max_impressions") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
        Some(_) => {
            p.push("`targeting.max_impressions` must be a whole number, 0 or more");
            None
        }
    };
    for key in t.keys() {
        p.push(format!("unknown field `targeting.{key}`"));
    }
    Targeting {
        condition,
        categories,
        stages,
        priority,
        start_at,
        end_at,
        max_impressions,
    }
}

fn required_id(o: &mut Map<String, Value>, key: &str, p: &mut Problems) -> String {
    match o.remove(key) {
        Some(Value::String(s))
            if !s.trim().is_empty() && s.chars().count() <= MAX_ID_CHARS && !s.contains('/') =>
        {
            s
        }
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(_)) => {
            p.push(format!(
                "`{key}` must be 1 to {MAX_ID_CHARS} characters, without `/`"
            ));
            String::new()
        }
        None | Some(Value::Null) => {
            p.push(format!("`{key}` is required"));
            String::new()
        }
        Some(_) => {
            p.push(format!("`{key}` must be a string"));
            String::new()
        }
    }
}

fn required_text(o: &mut Map<String, Value>, key: &str, p: &mut Problems) -> String {
    match optional_text(o, key, p) {
        Some(s) if !s.trim().is_empty() => s,
        _ => {
            p.push(format!("`{key}` is required"));
            String::new()
        }
    }
}

fn optional_text(o: &mut Map<String, Value>, key: &str, p: &mut Problems) -> Option<String> {
    match o.remove(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_TEXT_CHARS => Some(s),
        Some(Value::String(_)) => {
            p.push(format!(
                "`{key}` is longer than {MAX_TEXT_CHARS} characters"
            ));
            None
        }
        Some(_) => {
            p.push(format!("`{key}` must be a string"));
            None
        }
    }
}

fn optional_url(o: &mut Map<String, Value>, key: &str, p: &mut Problems) -> Option<String> {
    let url = optional_text(o, key, p)?;
    if url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/') {
        Some(url)
    } else {
        p.push(format!(
            "`{key}` must be an http(s) URL or a path starting with `/`"
        ));
        None
    }
}

fn optional_object(o: &mut Map<String, Value>, key: &str, p: &mut Problems) -> Map<String, Value> {
    match o.remove(key) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            p.push(format!("`{key}` must be an object"));
            Map::new()
        }
    }
}

fn string_list(v: Option<Value>, key: &str, p: &mut Problems) -> Vec<String> {
    match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) if !s.trim().is_empty() => out.push(s),
                    _ => p.push(format!("`{key}` must hold non-empty strings")),
                }
            }
            out
        }
        Some(_) => {
            p.push(format!("`{key}` must be an array of strings"));
            Vec::new()
        }
    }
}

fn category_path(v: Option<Value>, p: &mut Problems) -> Vec<String> {
    let path = match v {
        Some(Value::String(s)) => split_category(&s),
        Some(v @ Value::Array(_)) => string_list(Some(v), "category", p),
        None | Some(Value::Null) => {
            p.push("`category` is required, e.g. [\"Shoes\", \"Running\"] or \"Shoes/Running\"");
            return Vec::new();
        }
        Some(_) => {
            p.push("`category` must be an array of levels or a path string");
            return Vec::new();
        }
    };
    if path.is_empty() {
        p.push("`category` must have at least one level");
    }
    if path.len() > 6 {
        p.push("`category` may have at most 6 levels");
    }
    path
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_a_full_product() {
        let p = Product::from_json(json!({
            "id": "sku-1", "name": "Trail runner", "category": "Shoes / Running", "brand": "Fleet",
            "price": 89.5, "currency": "eur", "stock": 3, "attributes": {"color": "red"},
            "image_url": "https://img.example/1.jpg"
        }))
        .unwrap();
        assert_eq!(p.category, vec!["Shoes", "Running"]);
        assert_eq!(p.currency, "EUR");
        assert_eq!(p.category_path(), "Shoes/Running");
        assert!(p.in_stock());
    }

    #[test]
    fn reports_every_problem_at_once() {
        let err = Product::from_json(
            json!({"id": "", "price": -1, "stock": 1.5, "currency": "euro", "extra": 1}),
        )
        .unwrap_err();
        let text = err.to_string();
        for needle in [
            "`id`",
            "`name`",
            "`category`",
            "`price`",
            "`stock`",
            "`currency`",
            "`extra`",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
    }

    #[test]
    fn content_items_validate_targeting() {
        let c = ContentItem::from_json(json!({
            "id": "hero-run", "kind": "banner", "placements": ["home.hero"], "title": "Run further",
            "targeting": {"condition": {"stage": "repeat"}, "categories": ["Shoes"], "start_at": "2026-01-01T00:00:00Z"}
        }))
        .unwrap();
        assert!(c.is_live(parse_timestamp("2026-02-01T00:00:00Z").unwrap()));
        assert!(!c.is_live(parse_timestamp("2025-12-01T00:00:00Z").unwrap()));
        let err = ContentItem::from_json(json!({
            "id": "x", "kind": "popup", "placements": [], "title": "t",
            "targeting": {"condition": "stage = repeat", "start_at": "2026-02-01T00:00:00Z", "end_at": "2026-01-01T00:00:00Z"}
        }))
        .unwrap_err();
        assert_eq!(err.problems.len(), 4, "{err}");
    }
}
