//! Message templates and ready-made journeys. Templates are the marketer's
//! (`PUT /v1/templates/{id}`): a channel and its parts — an email's subject, HTML and text;
//! an SMS's text; a push or on-site message's title (`subject`) and text — in the language
//! of `language`. The templates that ship are editable defaults: saving one under a
//! built-in id replaces it, deleting that restores the default. The ready-made journeys
//! (`GET /v1/journeys/templates`) are copied, edited and `PUT` by an admin.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tailor_core::validate::Problems;
use tailor_core::{Millis, ValidationError};

use super::channels::Channel;
use super::language::{self, Compiled, HTML, SUBJECT, TEXT};

/// A template as an admin writes it (the id is in the URL).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateDefinition {
    pub channel: Channel,
    /// An email's subject, a push or on-site message's title.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// An email's HTML part (escaped by default).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub html: String,
    /// An email's text part; an SMS, push or on-site message's body.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
}

/// A template in service: its definition compiled, and where it came from.
#[derive(Debug)]
pub struct Template {
    pub id: String,
    pub definition: TemplateDefinition,
    pub built_in: bool,
    /// A built-in template someone saved their own version of.
    pub modified: bool,
    pub updated_at: Option<Millis>,
    pub compiled: Compiled,
}

/// A saved template, as kept in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredTemplate {
    pub definition: TemplateDefinition,
    pub updated_at: Millis,
}

/// The saved templates by id (meta `message_templates`).
pub type StoredTemplates = BTreeMap<String, StoredTemplate>;

/// Every template in service: the built-ins with the saved ones over them.
#[derive(Debug, Default)]
pub struct TemplateBook {
    templates: BTreeMap<String, Arc<Template>>,
}

impl TemplateBook {
    /// The built-ins overlaid with `saved`. A saved template that no longer compiles (a
    /// newer build's stricter rules) is logged and left out, so its messages fail visibly.
    pub fn new(saved: &StoredTemplates) -> TemplateBook {
        let mut templates = BTreeMap::new();
        for (id, definition) in built_ins() {
            match compile(&definition) {
                Ok(compiled) => {
                    templates.insert(
                        id.to_string(),
                        Arc::new(Template {
                            id: id.to_string(),
                            definition,
                            built_in: true,
                            modified: false,
                            updated_at: None,
                            compiled,
                        }),
                    );
                }
                Err(problems) => {
                    tracing::error!(template = id, ?problems, "a built-in template is invalid")
                }
            }
        }
        for (id, stored) in saved {
            match compile(&stored.definition) {
                Ok(compiled) => {
                    let built_in = templates.get(id).is_some_and(|t| t.built_in);
                    templates.insert(
                        id.clone(),
                        Arc::new(Template {
                            id: id.clone(),
                            definition: stored.definition.clone(),
                            built_in,
                            modified: built_in,
                            updated_at: Some(stored.updated_at),
                            compiled,
                        }),
                    );
                }
                Err(problems) => {
                    tracing::error!(
                        template = id,
                        ?problems,
                        "a saved template no longer compiles"
                    )
                }
            }
        }
        TemplateBook { templates }
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Template>> {
        self.templates.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Template>> {
        self.templates.values()
    }

    /// Whether a `send` step on `channel` may use template `id`; why not otherwise.
    pub fn usable(&self, channel: Channel, id: &str) -> Result<(), String> {
        match self.templates.get(id) {
            Some(t) if t.definition.channel == channel => Ok(()),
            Some(t) => Err(format!(
                "template {id:?} is for {}, not {}",
                t.definition.channel.as_str(),
                channel.as_str()
            )),
            None => Err(format!(
                "no {} template {id:?}; available: {}",
                channel.as_str(),
                self.templates
                    .values()
                    .filter(|t| t.definition.channel == channel)
                    .map(|t| t.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// Checks a definition for its channel and compiles it; every problem at once.
pub fn validate(id: &str, definition: &TemplateDefinition) -> Result<Compiled, ValidationError> {
    let mut problems = Problems::default();
    if id.is_empty()
        || id.len() > 100
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        problems.push(format!(
            "template id {id:?} must be 1-100 characters of letters, digits, '-', '_' or '.'"
        ));
    }
    let d = definition;
    let channel = d.channel.as_str();
    match d.channel {
        Channel::Email => {
            if d.subject.trim().is_empty() {
                problems.push("an email template needs a `subject`");
            }
            if d.html.trim().is_empty() && d.text.trim().is_empty() {
                problems.push("an email template needs `html`, `text` or both");
            }
        }
        Channel::Sms => {
            if d.text.trim().is_empty() {
                problems.push("an sms template needs `text`");
            }
            if !d.subject.is_empty() || !d.html.is_empty() {
                problems.push("an sms template has only `text`");
            }
        }
        Channel::Push | Channel::Onsite => {
            if d.subject.trim().is_empty() || d.text.trim().is_empty() {
                problems.push(format!(
                    "a {channel} template needs a `subject` (its title) and `text`"
                ));
            }
            if !d.html.is_empty() {
                problems.push(format!("a {channel} template has no `html`"));
            }
        }
        Channel::Webhook => {
            if !d.html.is_empty() {
                problems.push("a webhook template has no `html`");
            }
        }
    }
    let compiled = match compile(d) {
        Ok(compiled) => {
            for p in compiled.check_with_sample() {
                problems.push(format!("with a sample shopper, {p}"));
            }
            Some(compiled)
        }
        Err(found) => {
            for p in found {
                problems.push(p);
            }
            None
        }
    };
    match (problems.into_result(()), compiled) {
        (Ok(()), Some(compiled)) => Ok(compiled),
        (Err(e), _) => Err(e),
        (Ok(()), None) => Err(ValidationError::one("the template does not compile")),
    }
}

fn compile(d: &TemplateDefinition) -> Result<Compiled, Vec<String>> {
    let parts: Vec<(&'static str, &str)> =
        [(SUBJECT, &d.subject), (HTML, &d.html), (TEXT, &d.text)]
            .into_iter()
            .filter(|(_, source)| !source.is_empty())
            .map(|(name, source)| (name, source.as_str()))
            .collect();
    language::compile(&parts)
}

/// A template as the API shows it.
pub fn template_json(t: &Template) -> Value {
    let mut v = json!(t.definition);
    v["id"] = json!(t.id);
    v["builtIn"] = json!(t.built_in);
    if t.built_in {
        v["modified"] = json!(t.modified);
    }
    if let Some(at) = t.updated_at {
        v["updatedAt"] = json!(at);
    }
    v
}

/// The footer an email gets when its template shows no unsubscribe link of its own.
pub const TEXT_FOOTER: &str = "\n\n--\nUnsubscribe: ";
pub fn html_footer(url: &str) -> String {
    let url = url
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    format!(r#"<p style="font-size:12px;color:#666"><a href="{url}">Unsubscribe</a></p>"#)
}

const GREETING: &str = r#"Hi {{ first_name | default("there") }},"#;

/// The templates that ship, as editable defaults.
fn built_ins() -> Vec<(&'static str, TemplateDefinition)> {
    let email = |subject: &str, html: String, text: String| TemplateDefinition {
        channel: Channel::Email,
        subject: subject.to_string(),
        html,
        text,
    };
    let short = |channel, subject: &str, text: &str| TemplateDefinition {
        channel,
        subject: subject.to_string(),
        html: String::new(),
        text: text.to_string(),
    };
    let your_cart =
        r#"{% if first_name %}{{ first_name }}, your{% else %}Your{% endif %} cart is waiting"#;
    vec![
        (
            "cart-reminder",
            email(
                your_cart,
                format!(
                    r#"<p>{GREETING}</p>
<p>You left these in your cart:</p>
{{% include "cart.html" %}}
{{% if recommendations %}}<p>You may also like:</p>
{{% include "recommendations.html" %}}{{% endif %}}
{{% include "promotion.html" %}}
<p style="font-size:12px;color:#666"><a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a></p>"#
                ),
                format!(
                    "{GREETING}\n\nYou left these in your cart:\n{{% include \"cart.txt\" %}}\n\nYou may also like:\n{{% include \"recommendations.txt\" %}}\n{{% include \"promotion.txt\" %}}\n\nUnsubscribe: {{{{ unsubscribe_url }}}}\n"
                ),
            ),
        ),
        (
            "browse-reminder",
            email(
                r#"Still thinking it over{% if first_name %}, {{ first_name }}{% endif %}?"#,
                format!(
                    r#"<p>{GREETING}</p>
<p>Picked for you:</p>
{{% include "recommendations.html" %}}
{{% include "promotion.html" %}}
<p style="font-size:12px;color:#666"><a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a></p>"#
                ),
                format!(
                    "{GREETING}\n\nPicked for you:\n{{% include \"recommendations.txt\" %}}\n{{% include \"promotion.txt\" %}}\n\nUnsubscribe: {{{{ unsubscribe_url }}}}\n"
                ),
            ),
        ),
        (
            "cross-sell",
            email(
                "Goes well with your order",
                format!(
                    r#"<p>{GREETING}</p>
<p>Thanks for your order. These go well with it:</p>
{{% include "recommendations.html" %}}
<p style="font-size:12px;color:#666"><a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a></p>"#
                ),
                format!(
                    "{GREETING}\n\nThanks for your order. These go well with it:\n{{% include \"recommendations.txt\" %}}\n\nUnsubscribe: {{{{ unsubscribe_url }}}}\n"
                ),
            ),
        ),
        (
            "win-back",
            email(
                r#"We miss you{% if first_name %}, {{ first_name }}{% endif %}"#,
                format!(
                    r#"<p>{GREETING}</p>
<p>It has been a while. Here is what is new for you:</p>
{{% include "recommendations.html" %}}
{{% include "promotion.html" %}}
<p style="font-size:12px;color:#666"><a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a></p>"#
                ),
                format!(
                    "{GREETING}\n\nIt has been a while. Here is what is new for you:\n{{% include \"recommendations.txt\" %}}\n{{% include \"promotion.txt\" %}}\n\nUnsubscribe: {{{{ unsubscribe_url }}}}\n"
                ),
            ),
        ),
        (
            "welcome",
            email(
                r#"Welcome{% if first_name %}, {{ first_name }}{% endif %}"#,
                format!(
                    r#"<p>{GREETING}</p>
<p>Welcome! Tell us what you like and we will tailor the shop to you.</p>
<p>To start with:</p>
{{% include "recommendations.html" %}}
<p style="font-size:12px;color:#666"><a href="{{{{ unsubscribe_url }}}}">Unsubscribe</a></p>"#
                ),
                format!(
                    "{GREETING}\n\nWelcome! Tell us what you like and we will tailor the shop to you.\n\nTo start with:\n{{% include \"recommendations.txt\" %}}\n\nUnsubscribe: {{{{ unsubscribe_url }}}}\n"
                ),
            ),
        ),
        (
            "cart-sms",
            short(
                Channel::Sms,
                "",
                r#"{% if store.name %}{{ store.name }}: {% endif %}your cart is waiting{% if cart.items %} ({{ cart.count }} item{% if cart.count != 1 %}s{% endif %}, {{ cart.total | money }}){% endif %}. Reply STOP to opt out."#,
            ),
        ),
        (
            "cart-push",
            short(
                Channel::Push,
                "Your cart is waiting",
                r#"{{ cart.items | map(attribute="name") | join(", ") }} still in your cart"#,
            ),
        ),
        (
            "recs-push",
            short(
                Channel::Push,
                "Picked for you",
                r#"{{ recommendations | map(attribute="name") | join(", ") }}"#,
            ),
        ),
        (
            "cart-onsite",
            short(
                Channel::Onsite,
                your_cart,
                "{% include \"cart.txt\" %}\n\nYou may also like:\n{% include \"recommendations.txt\" %}",
            ),
        ),
        (
            "recs-onsite",
            short(
                Channel::Onsite,
                r#"Picked for you{% if first_name %}, {{ first_name }}{% endif %}"#,
                "{% include \"recommendations.txt\" %}\n{% include \"promotion.txt\" %}",
            ),
        ),
        ("event", short(Channel::Webhook, "", "")),
    ]
}

/// The ready-made journeys, valid as they are.
pub fn journeys() -> Vec<Value> {
    vec![
        json!({
            "id": "abandoned-cart",
            "name": "Abandoned cart: email at the best send time, push if unopened, then retargeting",
            "trigger": {"event": "Checkout Started"},
            "goal": {"event": "Order Completed", "leaveAudiences": true},
            "reentry": {"policy": "afterExit", "cooldown": "1d"},
            "priority": 10,
            "steps": [
                {"id": "wait-1h", "type": "wait", "duration": "1h"},
                {"id": "best-time", "type": "waitUntilSendTime", "defaultHour": 10},
                {"id": "email", "type": "send", "channel": "email", "template": "cart-reminder"},
                {"id": "opened?", "type": "waitForEvent", "event": "Email Opened", "timeout": "24h",
                 "onEvent": "wait-more", "onTimeout": "push"},
                {"id": "push", "type": "send", "channel": "push", "template": "cart-push", "next": "wait-48h"},
                {"id": "wait-more", "type": "wait", "duration": "24h", "next": "retarget"},
                {"id": "wait-48h", "type": "wait", "duration": "24h"},
                {"id": "retarget", "type": "audience", "action": "add", "audience": "cart-retargeting"},
                {"id": "keep-14d", "type": "wait", "duration": "14d"},
                {"id": "leave", "type": "audience", "action": "remove", "audience": "cart-retargeting"},
                {"id": "done", "type": "exit"}
            ]
        }),
        json!({
            "id": "browse-abandonment",
            "name": "Browse abandonment: viewed products, no cart within a day",
            "trigger": {"event": "Product Viewed", "condition": {"cartItems": 0}},
            "goal": {"event": "Product Added"},
            "reentry": {"policy": "afterExit", "cooldown": "7d"},
            "priority": 5,
            "steps": [
                {"id": "wait-1d", "type": "wait", "duration": "1d"},
                {"id": "best-time", "type": "waitUntilSendTime"},
                {"id": "email", "type": "send", "channel": "email", "template": "browse-reminder"}
            ]
        }),
        json!({
            "id": "post-purchase",
            "name": "Post-purchase cross-sell",
            "trigger": {"event": "Order Completed"},
            "reentry": {"policy": "always"},
            "priority": 3,
            "steps": [
                {"id": "wait-3d", "type": "wait", "duration": "3d"},
                {"id": "best-time", "type": "waitUntilSendTime"},
                {"id": "email", "type": "send", "channel": "email", "template": "cross-sell"}
            ]
        }),
        json!({
            "id": "win-back",
            "name": "Win-back for customers the churn model puts at risk",
            // Entered when the prediction says so: after an event, or when a retrained model
            // or the passing of time moves someone over the line (the hourly segment scan).
            "trigger": {"segment": {"predictions.churn_risk": {"$gt": 0.7}, "orders": {"$gt": 0}}},
            "goal": {"event": "Order Completed"},
            "reentry": {"policy": "afterExit", "cooldown": "30d"},
            "priority": 1,
            "steps": [
                {"id": "email", "type": "send", "channel": "email", "template": "win-back"},
                {"id": "clicked?", "type": "waitForEvent", "event": "Email Link Clicked", "timeout": "7d",
                 "onEvent": "done", "onTimeout": "audience"},
                {"id": "audience", "type": "audience", "action": "add", "audience": "win-back"},
                {"id": "done", "type": "exit"}
            ]
        }),
        json!({
            "id": "welcome",
            "name": "Welcome series with the preference quiz",
            "trigger": {"event": "Signed Up"},
            "reentry": {"policy": "never"},
            "priority": 8,
            "steps": [
                {"id": "email", "type": "send", "channel": "email", "template": "welcome"},
                {"id": "quiz?", "type": "waitForEvent", "event": "Quiz Completed", "timeout": "3d",
                 "onEvent": "tag", "onTimeout": "nudge"},
                {"id": "nudge", "type": "send", "channel": "push", "template": "recs-push", "next": "done"},
                {"id": "tag", "type": "updateProfile", "traits": {"welcomeQuizDone": true}},
                {"id": "done", "type": "exit"}
            ]
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_template_is_valid_and_renders_the_sample() {
        let book = TemplateBook::new(&StoredTemplates::new());
        for (id, definition) in built_ins() {
            validate(id, &definition).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(book.get(id).is_some(), "{id}");
        }
        assert!(book.usable(Channel::Email, "cart-reminder").is_ok());
        let e = book.usable(Channel::Sms, "cart-reminder").unwrap_err();
        assert!(e.contains("is for email"), "{e}");
        let e = book.usable(Channel::Sms, "nope").unwrap_err();
        assert!(e.contains("cart-sms"), "{e}");
    }

    #[test]
    fn definitions_are_checked_for_their_channel() {
        let bad = TemplateDefinition {
            channel: Channel::Sms,
            subject: "Hi".into(),
            html: String::new(),
            text: "{{ unknown_thing }}".into(),
        };
        let e = validate("x y", &bad).unwrap_err().problems.join("\n");
        for needle in ["template id", "only `text`", "`unknown_thing`"] {
            assert!(e.contains(needle), "{needle}: {e}");
        }
    }

    #[test]
    fn saved_templates_replace_built_ins() {
        let mut saved = StoredTemplates::new();
        saved.insert(
            "win-back".into(),
            StoredTemplate {
                definition: TemplateDefinition {
                    channel: Channel::Email,
                    subject: "Come back".into(),
                    html: String::new(),
                    text: "Hi".into(),
                },
                updated_at: 5,
            },
        );
        let book = TemplateBook::new(&saved);
        let t = book.get("win-back").unwrap();
        assert!(t.built_in && t.modified);
        assert_eq!(template_json(t)["subject"], "Come back");
    }
}
