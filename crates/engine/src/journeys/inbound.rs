//! What providers report back, as events in the log: an email's bounce or spam complaint
//! (`Email Bounced`, `Email Marked as Spam`), and SMS replies — `STOP` and its synonyms
//! withdraw SMS consent (an `Unsubscribed` event for `sms`), `START` grants it again, anything
//! else is an `SMS Received` event journeys can wait for.
//!
//! These webhooks change consent and suppress sends, so they are not open to the public
//! write key: a caller proves it knows the inbound secret (`TAILOR_INBOUND_SECRET`), either
//! as the password of HTTP Basic auth or as a bearer token — what Twilio, Postmark and
//! SendGrid put in a webhook URL — or by a Standard Webhooks signature made with it (a
//! relay's). See [`JourneyParts::inbound_authentic`].
//!
//! The person is found by the message the feedback quotes (its `Message-ID`, which carries
//! the outbox key) or else by the address or number (every profile holding it: a number
//! that said STOP gets nothing more, whoever it belongs to).

use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tailor_core::message::{Envelope, parse_message};
use tailor_core::{Message, MessageType, Millis};

use super::JourneyParts;
use super::audiences::{normalize_email, normalize_phone};
use super::channels::message_id_key;
use crate::error::EngineError;
use crate::ingest::trust::Origin;

/// How far a signed webhook's timestamp may be from the clock (Standard Webhooks' advice).
const TOLERANCE: Millis = 5 * 60 * 1000;
/// The most feedback items one call may carry.
pub const MAX_ITEMS: usize = 500;

/// Words that stop SMS (the carriers' standard opt-out keywords), and that resume it.
const STOP_WORDS: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPTOUT",
    "REVOKE",
];
const START_WORDS: [&str; 3] = ["START", "UNSTOP", "YES"];

/// One report about an email (`POST /v1/inbound/email`).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailFeedback {
    /// `bounce` or `complaint`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The recipient's address.
    #[serde(default)]
    pub email: Option<String>,
    /// The bounced or reported email's `Message-ID` (`<…@tailor>`).
    #[serde(default)]
    pub message_id: Option<String>,
    /// `hard` (the default: the address is suppressed) or `soft` (recorded only).
    #[serde(default)]
    pub bounce_type: Option<String>,
    /// The provider's diagnostic, kept on the event.
    #[serde(default)]
    pub reason: Option<String>,
}

/// An SMS reply (`POST /v1/inbound/sms`): Twilio's form fields or the same in JSON.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SmsReply {
    #[serde(alias = "From")]
    pub from: String,
    #[serde(default, alias = "To")]
    pub to: Option<String>,
    #[serde(default, alias = "Body")]
    pub body: String,
    /// The provider's id of the reply (Twilio's `MessageSid`), so a retried webhook is
    /// recorded once.
    #[serde(default, alias = "MessageSid", alias = "messageSid")]
    pub message_id: Option<String>,
}

/// What a feedback call recorded.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InboundReceipt {
    /// Events recorded (one per person a report concerned).
    pub recorded: usize,
    /// Reports that named nobody Tailor knows.
    pub unmatched: usize,
}

impl JourneyParts {
    /// Whether an inbound webhook proves it knows the inbound secret: `presented` (the
    /// password of HTTP Basic auth, or a bearer token) equals it, or the Standard Webhooks
    /// `signature` of (`id`, `timestamp`, `body`) is made with it, within 5 minutes of now.
    /// Always false when no inbound secret is set.
    pub fn inbound_authentic(
        &self,
        presented: Option<&str>,
        signed: Option<(&str, &str, &str)>,
        body: &[u8],
    ) -> bool {
        let Some(secret) = self
            .channels
            .inbound_secret
            .as_deref()
            .filter(|s| !s.is_empty())
        else {
            return false;
        };
        if let Some(p) = presented
            && bool::from(p.as_bytes().ct_eq(secret.as_bytes()))
        {
            return true;
        }
        let Some((id, timestamp, signatures)) = signed else {
            return false;
        };
        let Ok(seconds) = timestamp.trim().parse::<i64>() else {
            return false;
        };
        if (seconds * 1000 - self.clock.now()).abs() > TOLERANCE {
            return false;
        }
        let Ok(body) = std::str::from_utf8(body) else {
            return false;
        };
        let expected = super::channels::sign(secret, id, timestamp, body);
        signatures
            .split_whitespace()
            .any(|s| bool::from(s.as_bytes().ct_eq(expected.as_bytes())))
    }

    /// Whether inbound webhooks are configured at all.
    pub fn inbound_enabled(&self) -> bool {
        self.channels
            .inbound_secret
            .as_deref()
            .is_some_and(|s| !s.is_empty())
    }

    /// Records bounces and complaints as events of the people they concern.
    pub async fn email_feedback(
        &self,
        reports: Vec<EmailFeedback>,
    ) -> Result<InboundReceipt, EngineError> {
        let mut problems = tailor_core::validate::Problems::default();
        if reports.len() > MAX_ITEMS {
            problems.push(format!("at most {MAX_ITEMS} reports per call"));
        }
        for (i, r) in reports.iter().enumerate() {
            if !matches!(r.kind.as_str(), "bounce" | "complaint") {
                problems.push(format!(
                    "[{i}]: `type` must be \"bounce\" or \"complaint\", not {:?}",
                    r.kind
                ));
            }
            if r.email.is_none() && r.message_id.is_none() {
                problems.push(format!("[{i}]: name the `email` or the `messageId`"));
            }
        }
        problems.into_result(())?;
        let mut receipt = InboundReceipt::default();
        let mut messages = Vec::new();
        for r in reports {
            let people = self.people_for_email(&r)?;
            if people.is_empty() {
                receipt.unmatched += 1;
                continue;
            }
            let (event, mut properties) = match r.kind.as_str() {
                "complaint" => (
                    "Email Marked as Spam",
                    json!({"consentSource": "spam complaint"}),
                ),
                _ => (
                    "Email Bounced",
                    json!({"bounce_type": r.bounce_type.as_deref().unwrap_or("hard")}),
                ),
            };
            if let Some(reason) = &r.reason {
                properties["reason"] = json!(reason.chars().take(500).collect::<String>());
            }
            if let Some(key) = r.message_id.as_deref().and_then(message_id_key) {
                properties["messageKey"] = json!(key);
            }
            for ids in people {
                let id_text = ids
                    .values()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",");
                let digest = Sha256::digest(
                    format!(
                        "{event}|{id_text}|{}|{properties}",
                        r.message_id.as_deref().unwrap_or_default()
                    )
                    .as_bytes(),
                );
                let mut body = json!({
                    "event": event, "properties": properties,
                    "messageId": format!("feedback-{}", crate::govern::keys::hex(&digest[..16])),
                });
                if event == "Email Marked as Spam" {
                    body["context"] = json!({"consent": {"categoryPreferences": {"email": false}}});
                }
                messages.push(self.event_message(body, ids)?);
            }
        }
        receipt.recorded = messages.len();
        if !messages.is_empty() {
            self.ingest.append(messages, Origin::Server).await?;
        }
        Ok(receipt)
    }

    /// Records an SMS reply: STOP withdraws SMS consent, START grants it, anything else is
    /// an `SMS Received` event.
    pub async fn sms_reply(&self, reply: SmsReply) -> Result<InboundReceipt, EngineError> {
        let people = self.people_with_phone(&reply.from);
        if people.is_empty() {
            return Ok(InboundReceipt {
                recorded: 0,
                unmatched: 1,
            });
        }
        let word = reply.body.trim().to_ascii_uppercase();
        let keyword = word.trim_end_matches(['.', '!']);
        let policy_version = self.consent.policy().version.clone();
        let base = |id: &str| {
            let digest = Sha256::digest(
                format!(
                    "{}|{}|{}|{id}",
                    reply.from,
                    reply.body,
                    reply.message_id.as_deref().unwrap_or_default()
                )
                .as_bytes(),
            );
            format!("sms-{}", crate::govern::keys::hex(&digest[..16]))
        };
        let mut messages = Vec::new();
        for ids in people {
            let id_text = ids
                .values()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",");
            let body = if STOP_WORDS.contains(&keyword) {
                json!({"event": "Unsubscribed",
                       "properties": {"channel": "sms", "keyword": keyword, "consentSource": "sms reply",
                                      "policyVersion": policy_version},
                       "context": {"consent": {"categoryPreferences": {"sms": false}}}})
            } else if START_WORDS.contains(&keyword) {
                json!({"event": crate::govern::consent::CONSENT_EVENT,
                       "properties": {"channel": "sms", "keyword": keyword, "consentSource": "sms reply",
                                      "policyVersion": policy_version},
                       "context": {"consent": {"categoryPreferences": {"sms": true}}}})
            } else {
                json!({"event": "SMS Received",
                       "properties": {"body": reply.body.chars().take(1_600).collect::<String>(),
                                      "to": reply.to}})
            };
            let mut body = body;
            body["messageId"] = json!(base(&id_text));
            messages.push(self.event_message(body, ids)?);
        }
        let recorded = messages.len();
        self.ingest.append(messages, Origin::Server).await?;
        Ok(InboundReceipt {
            recorded,
            unmatched: 0,
        })
    }

    fn event_message(
        &self,
        mut body: Value,
        ids: Map<String, Value>,
    ) -> Result<Message, EngineError> {
        if let Value::Object(b) = &mut body {
            b.extend(ids);
        }
        let envelope = Envelope {
            received_at: self.clock.now(),
            ..Default::default()
        };
        let now = self.clock.now();
        parse_message(body, Some(MessageType::Track), &envelope, || {
            format!("inbound-{now}")
        })
        .map_err(|e| EngineError::Internal(format!("inbound event: {}", e.message)))
    }

    /// The ids (`userId` / `anonymousId`) of the people a report concerns: the quoted
    /// message's, else every profile with that address.
    fn people_for_email(&self, r: &EmailFeedback) -> Result<Vec<Map<String, Value>>, EngineError> {
        if let Some(key) = r.message_id.as_deref().and_then(message_id_key)
            && let Some(item) = self.store.outbox_item(&key)?
        {
            let payload: Value = serde_json::from_str(&item.payload).unwrap_or(Value::Null);
            let mut ids = Map::new();
            for k in ["userId", "anonymousId"] {
                if let Some(id) = payload[k].as_str().filter(|s| !s.is_empty()) {
                    ids.insert(k.into(), json!(id));
                }
            }
            if ids.is_empty() {
                ids.insert("userId".into(), json!(item.person));
            }
            return Ok(vec![ids]);
        }
        let Some(wanted) = r.email.as_deref().and_then(normalize_email) else {
            return Ok(Vec::new());
        };
        Ok(self.people_where(|p| {
            p.traits
                .get("email")
                .and_then(|v| v.value.as_str())
                .and_then(normalize_email)
                .is_some_and(|e| e == wanted)
        }))
    }

    fn people_with_phone(&self, number: &str) -> Vec<Map<String, Value>> {
        let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
        let wanted = normalize_phone(number).unwrap_or_else(|| format!("+{}", digits(number)));
        if wanted.len() < 8 {
            return Vec::new();
        }
        self.people_where(|p| {
            p.traits
                .get("phone")
                .and_then(|v| v.value.as_str())
                .is_some_and(|phone| {
                    normalize_phone(phone).unwrap_or_else(|| format!("+{}", digits(phone)))
                        == wanted
                })
        })
    }

    /// The ids of every profile `matches` holds for, under the registry's read lock: one
    /// pass over the profiles, as rare as the webhooks that ask.
    fn people_where(
        &self,
        matches: impl Fn(&crate::profile::Profile) -> bool,
    ) -> Vec<Map<String, Value>> {
        self.live.with_registry(|registry| {
            registry
                .profiles()
                .filter(|p| matches(p))
                .filter_map(|p| {
                    let mut ids = Map::new();
                    if let Some(u) = p.user_ids.first() {
                        ids.insert("userId".into(), json!(u));
                    } else {
                        ids.insert("anonymousId".into(), json!(p.anonymous_ids.first()?));
                    }
                    Some(ids)
                })
                .collect()
        })
    }
}
