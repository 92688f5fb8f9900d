//! What ships with Tailor: message templates (per channel, with `{{placeholders}}` filled
//! from the profile and from `decide`) and ready-made journeys (`GET /v1/journeys/templates`),
//! which an admin copies, edits and `PUT`s.

use serde_json::{Value, json};

use super::channels::Channel;

/// A message template. `placements` are asked of `decide` when it renders, so an email
/// shows the same recommendations and promotions as the website.
#[derive(Debug, Clone, Copy)]
pub struct MessageTemplate {
    pub name: &'static str,
    pub channel: Channel,
    /// Email subject or push title.
    pub subject: &'static str,
    pub body: &'static str,
    pub placements: &'static [&'static str],
}

/// Placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &["name", "cart", "cartValue", "recs", "promo", "journey"];

const TEMPLATES: &[MessageTemplate] = &[
    MessageTemplate {
        name: "cart-reminder",
        channel: Channel::Email,
        subject: "{{name}}, your cart is waiting",
        body: "Hi {{name}},\n\nYou left these in your cart:\n{{cart}}\nTotal: {{cartValue}}\n\nYou may also like:\n{{recs}}\n\n{{promo}}\n",
        placements: &["recs.cart", "promo.banner"],
    },
    MessageTemplate {
        name: "browse-reminder",
        channel: Channel::Email,
        subject: "Still thinking it over, {{name}}?",
        body: "Hi {{name}},\n\nPicked for you:\n{{recs}}\n\n{{promo}}\n",
        placements: &["recs.home", "promo.banner"],
    },
    MessageTemplate {
        name: "cross-sell",
        channel: Channel::Email,
        subject: "Goes well with your order",
        body: "Hi {{name}},\n\nThanks for your order. These go well with it:\n{{recs}}\n",
        placements: &["recs.home"],
    },
    MessageTemplate {
        name: "win-back",
        channel: Channel::Email,
        subject: "We miss you, {{name}}",
        body: "Hi {{name}},\n\nIt has been a while. Here is what is new for you:\n{{recs}}\n\n{{promo}}\n",
        placements: &["recs.home", "promo.banner"],
    },
    MessageTemplate {
        name: "welcome",
        channel: Channel::Email,
        subject: "Welcome, {{name}}",
        body: "Hi {{name}},\n\nWelcome! Tell us what you like and we will tailor the shop to you.\n\nTo start with:\n{{recs}}\n",
        placements: &["recs.home"],
    },
    MessageTemplate {
        name: "cart-push",
        channel: Channel::Push,
        subject: "Your cart is waiting",
        body: "{{cart}} still in your cart",
        placements: &[],
    },
    MessageTemplate {
        name: "recs-push",
        channel: Channel::Push,
        subject: "Picked for you",
        body: "{{recs}}",
        placements: &["recs.home"],
    },
    MessageTemplate {
        name: "cart-onsite",
        channel: Channel::Onsite,
        subject: "{{name}}, your cart is waiting",
        body: "{{cart}}\nTotal: {{cartValue}}\n\nYou may also like:\n{{recs}}",
        placements: &["recs.cart"],
    },
    MessageTemplate {
        name: "recs-onsite",
        channel: Channel::Onsite,
        subject: "Picked for you, {{name}}",
        body: "{{recs}}\n\n{{promo}}",
        placements: &["recs.home", "promo.banner"],
    },
    MessageTemplate {
        name: "event",
        channel: Channel::Webhook,
        subject: "",
        body: "",
        placements: &[],
    },
];

pub fn find(channel: Channel, name: &str) -> Option<&'static MessageTemplate> {
    TEMPLATES
        .iter()
        .find(|t| t.channel == channel && t.name == name)
}

pub fn names(channel: Channel) -> Vec<&'static str> {
    TEMPLATES
        .iter()
        .filter(|t| t.channel == channel)
        .map(|t| t.name)
        .collect()
}

/// The message templates as served.
pub fn messages() -> Vec<Value> {
    TEMPLATES
        .iter()
        .map(|t| {
            json!({"name": t.name, "channel": t.channel.as_str(), "subject": t.subject,
                   "body": t.body, "placements": t.placements})
        })
        .collect()
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
            "name": "Win-back for customers at churn risk",
            "trigger": {"event": "Churn Risk Changed", "condition": {"event.risk": {"$gt": 0.7}, "orders": {"$gt": 0}}},
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
