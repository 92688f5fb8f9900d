//! The language message templates are written in: MiniJinja (Jinja2's syntax, the one
//! Shopify's and Klaviyo's Liquid borrowed from: `{{ first_name | default("there") }}`,
//! `{% for item in cart.items %}`, `{% if promotion %}`), compiled once per saved template.
//!
//! - **Escaping.** The `html` part and `*.html` blocks escape every value (`<`, `&`, quotes);
//!   the subject and text parts are plain text.
//! - **Helpers.** `money` (an amount in the message's currency, or the one given:
//!   `{{ cart.total | money }}`, `{{ 9.5 | money("EUR") }}`), `date` (a time in the shopper's
//!   time zone: `{{ now | date("%A") }}`), Jinja's `default`, and the blocks
//!   `{% include "cart.html" %}` (and `cart.txt`, `recommendations.*`, `promotion.*`).
//! - **Bounds.** Templates come from admin input: each part is at most [`MAX_PART_BYTES`]
//!   (the subject [`MAX_SUBJECT_BYTES`]); a render runs on [`FUEL`] — every instruction and
//!   every byte a template creates spends it — so no template can loop or allocate without
//!   end; recursion is limited; the output is at most [`MAX_OUTPUT_BYTES`].
//! - **Validation.** Saving compiles every part, names every variable the context does not
//!   have, and renders a sample shopper, so a broken template is refused when saved rather
//!   than dead-lettered when sent.

use std::collections::BTreeSet;
use std::sync::Arc;

use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior, Value};
use serde_json::json;

use super::policy::Zone;

/// Largest HTML or text part, in bytes.
pub const MAX_PART_BYTES: usize = 64 * 1024;
/// Largest subject (or push title), in bytes.
pub const MAX_SUBJECT_BYTES: usize = 1_000;
/// The work one render may do: an instruction costs 1, and every 64 bytes created cost 1
/// (MiniJinja's fuel), so a render takes at most ~100k steps and ~6 MB.
pub const FUEL: u64 = 100_000;
/// Largest rendered part.
pub const MAX_OUTPUT_BYTES: usize = 512 * 1024;
const RECURSION_LIMIT: usize = 16;

/// The parts a template has, by the name they are compiled under.
pub const SUBJECT: &str = "subject";
pub const HTML: &str = "html";
pub const TEXT: &str = "text";

/// The variables a template can read, as `GET /v1/templates` documents them.
pub const VARIABLES: &[(&str, &str)] = &[
    (
        "first_name",
        "trait firstName (or first_name); undefined if unknown",
    ),
    ("last_name", "trait lastName (or last_name)"),
    ("name", "trait name, else first and last name"),
    ("email", "trait email"),
    ("phone", "trait phone"),
    ("traits", "every trait of the profile: traits.tier"),
    (
        "lifecycle_stage",
        "discovery, evaluation, purchase, repeat, at-risk or lapsed",
    ),
    ("orders", "the number of orders"),
    (
        "predictions",
        "the profile's predictions when a model is trained: predictions.churn_risk",
    ),
    (
        "cart",
        "cart.items (id, name, quantity, price, line_total, url, image_url), cart.total, cart.count, cart.currency",
    ),
    (
        "recommendations",
        "products from decide: id, name, price, currency, url, image_url, category",
    ),
    (
        "promotion",
        "the promotion from decide, if any: id, title, body, url, image_url",
    ),
    (
        "event",
        "the properties of the event that entered the journey: event.order_id",
    ),
    ("journey", "the journey's id"),
    ("store", "store.name"),
    (
        "currency",
        "the ISO 4217 code `money` uses: trait currency, else the store's",
    ),
    ("timezone", "the shopper's time zone, which `date` uses"),
    (
        "now",
        "the sending time (milliseconds since 1970), for `date`",
    ),
    (
        "unsubscribe_url",
        "the one-click unsubscribe link of this message (email and SMS)",
    ),
];

/// The blocks templates may include, each in an HTML (escaped) and a text form.
const BLOCKS: &[(&str, &str)] = &[
    (
        "cart.html",
        r#"{% if cart.items %}<table class="cart">{% for item in cart.items %}<tr><td>{% if item.image_url %}<img src="{{ item.image_url }}" alt="" width="64"> {% endif %}{% if item.url %}<a href="{{ item.url }}">{{ item.name }}</a>{% else %}{{ item.name }}{% endif %}</td><td>× {{ item.quantity }}</td><td>{{ item.line_total | money }}</td></tr>{% endfor %}<tr><td colspan="2">Total</td><td>{{ cart.total | money }}</td></tr></table>{% endif %}"#,
    ),
    (
        "cart.txt",
        "{% for item in cart.items %}- {{ item.name }} × {{ item.quantity }} ({{ item.line_total | money }})\n{% endfor %}Total: {{ cart.total | money }}",
    ),
    (
        "recommendations.html",
        r#"{% if recommendations %}<ul class="recommendations">{% for p in recommendations %}<li>{% if p.url %}<a href="{{ p.url }}">{{ p.name }}</a>{% else %}{{ p.name }}{% endif %} {{ p.price | money(p.currency) }}</li>{% endfor %}</ul>{% endif %}"#,
    ),
    (
        "recommendations.txt",
        "{% for p in recommendations %}- {{ p.name }} ({{ p.price | money(p.currency) }})\n{% endfor %}",
    ),
    (
        "promotion.html",
        r#"{% if promotion %}<p class="promotion">{% if promotion.url %}<a href="{{ promotion.url }}">{{ promotion.title }}</a>{% else %}{{ promotion.title }}{% endif %}{% if promotion.body %}<br>{{ promotion.body }}{% endif %}</p>{% endif %}"#,
    ),
    (
        "promotion.txt",
        "{% if promotion %}{{ promotion.title }}{% if promotion.body %}: {{ promotion.body }}{% endif %}{% endif %}",
    ),
];

/// The names `{% include "…" %}` takes.
pub fn block_names() -> Vec<&'static str> {
    BLOCKS.iter().map(|(name, _)| *name).collect()
}

/// Whether a variable path a template reads (`cart.items`, `traits.tier`) is one the
/// context has.
fn known(path: &str) -> bool {
    let mut parts = path.split('.');
    let top = parts.next().unwrap_or_default();
    let second = parts.next();
    match top {
        "traits" | "event" | "predictions" => true,
        "cart" => matches!(
            second,
            None | Some("items" | "total" | "count" | "currency")
        ),
        "promotion" => matches!(
            second,
            None | Some("id" | "title" | "body" | "url" | "image_url")
        ),
        "store" => matches!(second, None | Some("name")),
        other => VARIABLES.iter().any(|(v, _)| *v == other) && second.is_none(),
    }
}

/// A template's parts compiled together with the blocks, ready to render.
pub struct Compiled {
    env: Environment<'static>,
    parts: Vec<&'static str>,
    /// The top-level variables the parts read, the included blocks' included: what the
    /// render must compute (it asks `decide` only for what is read).
    reads: BTreeSet<String>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("parts", &self.parts)
            .finish()
    }
}

/// An environment with the bounds, the escaping rule, the helpers and the blocks.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(|name| {
        if name == HTML || name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_filter("money", money);
    env.add_filter("date", date);
    for (name, source) in BLOCKS {
        // The blocks are ours and compile; a failure here is a bug the tests catch.
        if let Err(e) = env.add_template(name, source) {
            tracing::error!(block = name, error = %e, "a template block does not compile");
        }
    }
    env
}

/// Compiles the parts (name, source); every problem is reported at once: sizes, syntax
/// errors with their line, and variables the context does not have.
pub fn compile(parts: &[(&'static str, &str)]) -> Result<Compiled, Vec<String>> {
    let mut env = environment();
    let globals: BTreeSet<String> = env.globals().map(|(k, _)| k.to_string()).collect();
    let mut problems = Vec::new();
    let mut compiled = Vec::new();
    let mut reads = BTreeSet::new();
    for (name, source) in parts {
        for (block, _) in BLOCKS {
            let variable = block.split('.').next().unwrap_or_default();
            if source.contains(&format!("\"{block}\"")) || source.contains(&format!("'{block}'")) {
                reads.insert(variable.to_string());
            }
        }
        let limit = if *name == SUBJECT {
            MAX_SUBJECT_BYTES
        } else {
            MAX_PART_BYTES
        };
        if source.len() > limit {
            problems.push(format!(
                "{name}: {} bytes; at most {limit} are allowed",
                source.len()
            ));
            continue;
        }
        if let Err(e) = env.add_template_owned(*name, source.to_string()) {
            problems.push(format!("{name}: {}", describe(&e)));
            continue;
        }
        compiled.push(*name);
    }
    for name in &compiled {
        let Ok(template) = env.get_template(name) else {
            continue;
        };
        let undeclared = template.undeclared_variables(true);
        reads.extend(
            undeclared
                .iter()
                .map(|v| v.split('.').next().unwrap_or_default().to_string()),
        );
        let unknown: BTreeSet<String> = undeclared
            .into_iter()
            .filter(|v| !known(v) && !globals.contains(v.split('.').next().unwrap_or_default()))
            .collect();
        for v in unknown {
            problems.push(format!(
                "{name}: unknown variable `{v}`; templates can use {}",
                VARIABLES
                    .iter()
                    .map(|(v, _)| *v)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if problems.is_empty() {
        Ok(Compiled {
            env,
            parts: compiled,
            reads,
        })
    } else {
        Err(problems)
    }
}

impl Compiled {
    /// Whether some part reads this top-level variable (directly or through a block).
    pub fn reads(&self, variable: &str) -> bool {
        self.reads.contains(variable)
    }

    /// Renders one part with a context (the JSON the render module builds); an absent part
    /// renders as empty.
    pub fn render(&self, part: &str, context: &serde_json::Value) -> Result<String, String> {
        if !self.parts.contains(&part) {
            return Ok(String::new());
        }
        let template = self
            .env
            .get_template(part)
            .map_err(|e| format!("{part}: {}", describe(&e)))?;
        let out = template
            .render(Value::from(Serde(context)))
            .map_err(|e| format!("{part}: {}", describe(&e)))?;
        if out.len() > MAX_OUTPUT_BYTES {
            return Err(format!(
                "{part}: rendered {} bytes; at most {MAX_OUTPUT_BYTES} are sent",
                out.len()
            ));
        }
        Ok(out)
    }

    /// Renders every part with a sample shopper: what saving checks beyond the syntax.
    pub fn check_with_sample(&self) -> Vec<String> {
        let context = sample_context();
        self.parts
            .iter()
            .filter_map(|part| self.render(part, &context).err())
            .collect()
    }
}

/// An error as one line: what went wrong, and where.
fn describe(e: &Error) -> String {
    let mut text = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(line) = e.line() {
        text = format!("line {line}: {text}");
    }
    if let Some(name) = e.name()
        && BLOCKS.iter().any(|(b, _)| *b == name)
    {
        text = format!("{text} (in block {name})");
    }
    text
}

/// A made-up shopper with a cart, recommendations and a promotion: a template that
/// renders for them renders for anyone (unknown variables are caught before).
pub fn sample_context() -> serde_json::Value {
    let item = |id: &str, name: &str, price: f64, quantity: u32| {
        json!({"id": id, "name": name, "quantity": quantity, "price": price,
               "line_total": price * f64::from(quantity), "currency": "USD",
               "url": format!("https://shop.example.com/p/{id}"),
               "image_url": format!("https://shop.example.com/i/{id}.jpg")})
    };
    json!({
        "first_name": "Ada", "last_name": "Lovelace", "name": "Ada Lovelace",
        "email": "ada@example.com", "phone": "+441632960000",
        "traits": {"firstName": "Ada", "tier": "gold"},
        "lifecycle_stage": "evaluation", "orders": 2,
        "predictions": {"churn_risk": 0.8, "predicted_value": 120.0},
        "cart": {"items": [item("p1", "Trail Shoe", 120.0, 1), item("p2", "Socks <3", 9.5, 2)],
                 "total": 139.0, "count": 3, "currency": "USD"},
        "recommendations": [item("p3", "Rain Jacket", 89.0, 1), item("p4", "Cap", 19.0, 1)],
        "promotion": {"id": "spring", "title": "10% off this week", "body": "On everything",
                      "url": "https://shop.example.com/spring", "image_url": null},
        "event": {}, "journey": "sample", "store": {"name": "Shop"},
        "currency": "USD", "timezone": "Europe/London", "now": 1_900_000_000_000i64,
        "unsubscribe_url": "https://tailor.example.com/unsubscribe/sample",
    })
}

/// `{{ amount | money }}`: the amount in the message's currency (`currency` in the context)
/// or the one given, with its symbol and thousands separators: `$1,234.50`, `€9.90`,
/// `¥1,200`, `12.00 CHF`.
fn money(state: &State, value: &Value, currency: Option<&str>) -> Result<String, Error> {
    let amount = number(value).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("money needs a number, not {value}"),
        )
    })?;
    let looked_up = state.lookup("currency");
    let code = currency
        .or_else(|| looked_up.as_ref().and_then(|v| v.as_str()))
        .unwrap_or("USD")
        .trim()
        .to_ascii_uppercase();
    Ok(format_money(amount, &code))
}

fn number(value: &Value) -> Option<f64> {
    if let Ok(n) = f64::try_from(value.clone()) {
        return Some(n);
    }
    value.as_str().and_then(|s| s.trim().parse().ok())
}

/// An amount with its currency's symbol (or code) and decimals.
pub fn format_money(amount: f64, code: &str) -> String {
    let (symbol, suffix, decimals) = match code {
        "USD" => ("$", "", 2),
        "EUR" => ("€", "", 2),
        "GBP" => ("£", "", 2),
        "JPY" => ("¥", "", 0),
        "KRW" => ("₩", "", 0),
        "INR" => ("₹", "", 2),
        "CNY" => ("CN¥", "", 2),
        "CAD" => ("CA$", "", 2),
        "AUD" => ("A$", "", 2),
        "NZD" => ("NZ$", "", 2),
        "BRL" => ("R$", "", 2),
        "MXN" => ("MX$", "", 2),
        _ => ("", code, 2),
    };
    let negative = amount < 0.0;
    let fixed = format!("{:.*}", decimals, amount.abs());
    let (whole, fraction) = fixed.split_once('.').unwrap_or((&fixed, ""));
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let number = if fraction.is_empty() {
        grouped
    } else {
        format!("{grouped}.{fraction}")
    };
    let sign = if negative { "-" } else { "" };
    if suffix.is_empty() {
        format!("{sign}{symbol}{number}")
    } else {
        format!("{sign}{number} {suffix}")
    }
}

/// `{{ time | date("%b %-d") }}`: a time (milliseconds since 1970 or ISO-8601 text) on the
/// shopper's clock (`timezone` in the context), in strftime format (default `%B %-d, %Y`).
fn date(state: &State, value: &Value, format: Option<&str>) -> Result<String, Error> {
    use std::fmt::Write as _;
    let at = match value.as_str() {
        Some(text) => tailor_core::time::parse_timestamp(text),
        None => number(value).map(|n| n as i64),
    }
    .ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("date needs a time (milliseconds or ISO-8601), not {value}"),
        )
    })?;
    let zone = state
        .lookup("timezone")
        .and_then(|v| v.as_str().and_then(Zone::parse))
        .unwrap_or(Zone::UTC);
    let local = chrono::DateTime::from_timestamp_millis(zone.local(at))
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("{at} is out of range")))?;
    let items: Vec<chrono::format::Item> =
        chrono::format::StrftimeItems::new(format.unwrap_or("%B %-d, %Y")).collect();
    if items
        .iter()
        .any(|i| matches!(i, chrono::format::Item::Error))
    {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("{:?} is not a strftime format", format.unwrap_or_default()),
        ));
    }
    let mut out = String::new();
    write!(out, "{}", local.naive_utc().format_with_items(items.iter())).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            "the date format does not apply to a date",
        )
    })?;
    Ok(out)
}

/// Compiled templates are shared by the outbox thread and the admin API.
pub type Shared = Arc<Compiled>;

#[cfg(test)]
mod tests {
    use super::*;

    fn one(part: &'static str, source: &str) -> Result<Compiled, Vec<String>> {
        compile(&[(part, source)])
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let c = compile(&[
            (HTML, "<p>Hi {{ first_name }}</p>"),
            (TEXT, "Hi {{ first_name }}"),
        ])
        .unwrap();
        let ctx = json!({"first_name": "<b>Bo & Co</b>"});
        assert_eq!(
            c.render(HTML, &ctx).unwrap(),
            "<p>Hi &lt;b&gt;Bo &amp; Co&lt;&#x2f;b&gt;</p>"
        );
        assert_eq!(c.render(TEXT, &ctx).unwrap(), "Hi <b>Bo & Co</b>");
    }

    #[test]
    fn defaults_money_and_dates() {
        let c = one(
            TEXT,
            r#"{{ first_name | default("there") }} {{ cart.total | money }} {{ 1234567.891 | money("EUR") }} {{ 1200 | money("JPY") }} {{ 5 | money("CHF") }} {{ now | date("%Y-%m-%d %H:%M") }}"#,
        )
        .unwrap();
        let ctx = json!({"cart": {"total": 120.0}, "currency": "GBP",
                         "now": 1_900_000_000_000i64, "timezone": "America/New_York"});
        // 1_900_000_000_000 ms is 2030-03-17T17:46:40Z: 13:46 in New York (EDT).
        assert_eq!(
            c.render(TEXT, &ctx).unwrap(),
            "there £120.00 €1,234,567.89 ¥1,200 5.00 CHF 2030-03-17 13:46"
        );
        assert_eq!(format_money(-0.5, "USD"), "-$0.50");
    }

    #[test]
    fn unknown_variables_are_named_when_saved() {
        let problems = compile(&[
            (SUBJECT, "Hi {{ frist_name }}"),
            (
                TEXT,
                "{% for p in recommendations %}{{ p.name }}{% endfor %}{{ cart.itemz }}{{ traits.anything }}",
            ),
        ])
        .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("`frist_name`"), "{problems:?}");
        assert!(problems[1].contains("`cart.itemz`"), "{problems:?}");
    }

    #[test]
    fn syntax_errors_say_where() {
        let problems = one(HTML, "<p>\n{% if cart %}open").unwrap_err();
        assert!(
            problems[0].starts_with("html: line ") && problems[0].contains("syntax error"),
            "{problems:?}"
        );
    }

    #[test]
    fn blocks_render_the_sample_and_every_block_compiles() {
        let c = compile(&[
            (
                HTML,
                r#"{% include "cart.html" %}{% include "recommendations.html" %}{% include "promotion.html" %}"#,
            ),
            (
                TEXT,
                r#"{% include "cart.txt" %}{% include "recommendations.txt" %}{% include "promotion.txt" %}"#,
            ),
        ])
        .unwrap();
        assert!(c.check_with_sample().is_empty());
        assert!(c.reads("cart") && c.reads("recommendations") && c.reads("promotion"));
        assert!(!c.reads("first_name"));
        let html = c.render(HTML, &sample_context()).unwrap();
        assert!(
            html.contains("Socks &lt;3") && html.contains("$19.00"),
            "{html}"
        );
        let text = c.render(TEXT, &sample_context()).unwrap();
        assert!(
            text.contains("- Socks <3 × 2 ($19.00)\nTotal: $139.00"),
            "{text}"
        );
    }

    #[test]
    fn runaway_templates_run_out_of_fuel_or_size() {
        let c = one(TEXT, "{% for i in range(100000) %}{{ i }}{% endfor %}").unwrap();
        let e = c.render(TEXT, &json!({})).unwrap_err();
        assert!(e.contains("fuel"), "{e}");
        let c = one(TEXT, r#"{{ "x" * 100000000 }}"#).unwrap();
        assert!(c.render(TEXT, &json!({})).is_err());
        let c = one(
            TEXT,
            r#"{% set ns = namespace(x="ab") %}{% for i in range(60) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x | length }}"#,
        )
        .unwrap();
        assert!(c.render(TEXT, &json!({})).is_err());
        let big = "x".repeat(MAX_PART_BYTES + 1);
        assert!(one(TEXT, &big).unwrap_err()[0].contains("at most"));
        let c = one(TEXT, r#"{% include "text" %}"#).unwrap();
        assert!(c.render(TEXT, &json!({})).is_err(), "recursion is bounded");
    }

    #[test]
    fn bad_helper_arguments_fail_the_sample_render() {
        let c = one(TEXT, r#"{{ first_name | money }}{{ now | date("%Q") }}"#).unwrap();
        assert_eq!(c.check_with_sample().len(), 1);
    }
}
