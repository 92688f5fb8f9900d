//! The outbox thread: takes due messages (highest journey priority first), applies the
//! global policies as they stand at send time — the run still going, consent for the
//! channel's purpose, bounces, holdouts, quiet hours, frequency caps, an address — renders,
//! sends with the message's key, and marks the outcome. A paused journey's messages are
//! held (deferred, `last_error` = [`HELD_PAUSED`]) until it resumes. An `onsite` message is
//! "sent" by putting it in the on-site inbox `decide` shows it from. Failures retry with exponential
//! backoff and end in the dead-letter list after [`MAX_ATTEMPTS`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use tailor_core::time::{DAY, SECOND};
use tailor_core::{Millis, Purpose};
use tailor_store::{JourneyWrite, OutboxItem, OutboxStatus, RunStatus};

use super::channels::{Channels, Email, SendError};
use super::definition::{Channel, DEFAULT_ONSITE_TTL, DEFAULT_ONSITE_VIEWS, parse_duration};
use super::policy::Zone;
use super::render::{self, Recipient};
use super::{Ack, JourneyParts};
use crate::decide::onsite::OnsiteMessage;
use crate::profile::Profile;

/// Sends tried before a message is dead.
pub(crate) const MAX_ATTEMPTS: u32 = 5;
/// The first retry waits this long; each later one twice as long (30 s, 1 min, 2 min, …).
const FIRST_BACKOFF: Millis = 30 * SECOND;
const TICK: Duration = Duration::from_millis(50);
const BATCH: usize = 100;
/// `last_error` of a message held because its journey is paused; resuming releases it.
pub(crate) const HELD_PAUSED: &str = "held: journey paused";
/// A held message is looked at again this much later (resuming releases it at once).
const PAUSED_RECHECK: Millis = 60 * SECOND;

pub(crate) struct Delivery {
    parts: Arc<JourneyParts>,
    channels: Channels,
    /// Settle requests: answered once nothing is due now (see `JourneyParts::settle`).
    settle: mpsc::Receiver<Ack>,
    stop: Arc<AtomicBool>,
}

/// What the policies say about one message now.
enum Verdict {
    Send,
    /// Not now: try again at this time (quiet hours, a paused journey).
    Defer(Millis, &'static str),
    /// Never: recorded as skipped with this reason.
    Skip(String),
}

impl Delivery {
    pub(crate) fn new(
        parts: Arc<JourneyParts>,
        settle: mpsc::Receiver<Ack>,
        stop: Arc<AtomicBool>,
    ) -> Delivery {
        Delivery {
            channels: Channels::new((*parts.channels).clone()),
            parts,
            settle,
            stop,
        }
    }

    pub(crate) fn run(self) {
        // Who asked to be told when nothing is due, and what was handled since they asked.
        let mut waiting: Vec<Ack> = Vec::new();
        let mut handled = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let now = self.parts.clock.now();
            let due = match self.parts.store.outbox_due(now, BATCH) {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(error = %e, "outbox: cannot read due messages");
                    super::nap(&self.stop, Duration::from_secs(1));
                    continue;
                }
            };
            if due.is_empty() {
                for ack in waiting.drain(..) {
                    let _ = ack.send(handled);
                }
                handled = 0;
                match self.settle.recv_timeout(TICK) {
                    Ok(ack) => waiting.push(ack),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => super::nap(&self.stop, TICK),
                }
                continue;
            }
            for item in due {
                if self.stop.load(Ordering::Relaxed) {
                    return;
                }
                handled += 1;
                let key = item.key.clone();
                let write = self.deliver(item);
                if let Err(e) = self.parts.store.journey_write(&write) {
                    // Not marked: it is still pending and goes again (same key).
                    tracing::error!(error = %e, key, "outbox: cannot record the outcome");
                    super::nap(&self.stop, Duration::from_secs(1));
                }
            }
        }
    }

    /// Decides, sends if allowed, and returns the outcome to record.
    fn deliver(&self, mut item: OutboxItem) -> JourneyWrite {
        let now = self.parts.clock.now();
        let mut write = JourneyWrite::default();
        let payload: Value = serde_json::from_str(&item.payload).unwrap_or(Value::Null);
        let step_id = payload["stepId"].as_str().unwrap_or("?").to_string();
        let profile = self
            .parts
            .live
            .with_registry(|r| r.find(&item.person).cloned());
        match self.verdict(&item, profile.as_deref(), now) {
            Verdict::Skip(reason) => {
                write.count(&item.journey, step_id, format!("skipped:{reason}"));
                item.status = OutboxStatus::Skipped;
                item.last_error = Some(reason);
            }
            Verdict::Defer(until, why) => {
                // A paused journey's messages are counted once, when first held.
                if why != "paused" || item.last_error.as_deref() != Some(HELD_PAUSED) {
                    write.count(&item.journey, step_id, format!("deferred:{why}"));
                }
                if why == "paused" {
                    item.last_error = Some(HELD_PAUSED.to_string());
                }
                item.next_at = until;
            }
            Verdict::Send => {
                // `verdict` only says Send with a profile.
                let Some(profile) = profile else {
                    return write;
                };
                match self.send(&item, &payload, &profile, now) {
                    Ok(delivered) => {
                        if let Some(m) = delivered {
                            let mut p = payload.clone();
                            p["delivered"] = json!(m);
                            item.payload = p.to_string();
                            self.parts.inbox.put(&item.person, m);
                        }
                        write.count(&item.journey, step_id, "sent");
                        item.status = OutboxStatus::Sent;
                        item.sent_at = Some(now);
                        item.last_error = None;
                    }
                    Err(e) => {
                        if e.bounced {
                            self.record_bounce(&item, &payload, &e.message);
                        }
                        item.attempts += 1;
                        item.last_error = Some(e.message.clone());
                        if !e.retry || item.attempts >= MAX_ATTEMPTS {
                            write.count(&item.journey, step_id, "dead");
                            item.status = OutboxStatus::Dead;
                            tracing::warn!(
                                key = item.key,
                                error = e.message,
                                "outbox: message is dead"
                            );
                        } else {
                            write.count(&item.journey, step_id, "retried");
                            item.next_at = now + FIRST_BACKOFF * (1 << (item.attempts - 1).min(16));
                        }
                    }
                }
            }
        }
        write.outbox_updates.push(item);
        write
    }

    fn verdict(&self, item: &OutboxItem, profile: Option<&Profile>, now: Millis) -> Verdict {
        let parts = &self.parts;
        if parts
            .journeys
            .book()
            .get(&item.journey)
            .is_some_and(|j| j.paused)
        {
            return Verdict::Defer(now + PAUSED_RECHECK, "paused");
        }
        // Ended by its goal or stopped: nothing more goes out for the run.
        let run_ended = parts
            .store
            .journey_runs_of(std::slice::from_ref(&item.person))
            .ok()
            .and_then(|runs| runs.into_iter().find(|r| r.id == item.run_id))
            .is_some_and(|r| r.status == RunStatus::Converted || r.status == RunStatus::Stopped);
        if run_ended {
            return Verdict::Skip("exited".into());
        }
        let Some(p) = profile else {
            return Verdict::Skip("unknown_person".into());
        };
        let purpose: Option<Purpose> = Channel::parse(&item.channel).and_then(Channel::purpose);
        if let Some(purpose) = purpose
            && !parts.consent.policy().may(Some(p), purpose).allowed
        {
            return Verdict::Skip("no_consent".into());
        }
        if item.channel == "email" && p.email.bounced > 0 {
            return Verdict::Skip("bounced".into());
        }
        let ids: Vec<String> = p.id_list();
        if parts.experiments.in_holdout(&ids, now) {
            return Verdict::Skip("holdout".into());
        }
        let policy = parts.journeys.policy();
        let zone = Zone::of(Some(p));
        // A web page interrupts no one's night.
        if item.channel != "webhook" && item.channel != "onsite" {
            let at = policy.after_quiet_hours(now, zone);
            if at > now {
                return Verdict::Defer(at, "quiet_hours");
            }
        }
        // A local week is at most 7 days and an hour (DST) long.
        match parts.store.sends_since(&ids, now - 8 * DAY) {
            Ok(sent) => {
                if let Some(cap) = policy.cap_reached(&item.channel, &sent, now, zone) {
                    return Verdict::Skip(cap);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "outbox: cannot count past sends; deferring");
                return Verdict::Defer(now + 10 * SECOND, "store");
            }
        }
        if (item.channel == "email" && email_of(p).is_none())
            || (item.channel == "sms" && phone_of(p).is_none())
        {
            return Verdict::Skip("no_address".into());
        }
        Verdict::Send
    }

    /// Sends; an on-site message comes back to be kept in the inbox and the outbox row.
    fn send(
        &self,
        item: &OutboxItem,
        payload: &Value,
        profile: &Profile,
        now: Millis,
    ) -> Result<Option<OnsiteMessage>, SendError> {
        let channel = Channel::parse(&item.channel).unwrap_or(Channel::Webhook);
        let template_name = payload["template"].as_str().unwrap_or_default();
        let templates = self.parts.journeys.templates();
        let template = templates
            .get(template_name)
            .filter(|t| t.definition.channel == channel)
            .ok_or_else(|| {
                SendError::permanent(format!(
                    "no {} template {template_name:?}",
                    channel.as_str()
                ))
            })?;
        let unsubscribe = self.parts.unsubscribe_url(channel, &item.key);
        let trigger = payload["trigger"].as_object().cloned().unwrap_or_default();
        let rendered = render::render(
            &self.parts,
            template,
            &Recipient {
                profile,
                user_id: payload["userId"].as_str(),
                anonymous_id: payload["anonymousId"].as_str(),
                journey: &item.journey,
                trigger: &trigger,
                unsubscribe_url: unsubscribe.as_deref(),
                channel_context: "journey",
            },
            now,
        )
        .map_err(|e| {
            SendError::permanent(format!("template {template_name:?} failed to render: {e}"))
        })?;
        let context = json!({
            "journey": item.journey,
            "step": payload["stepId"],
            "userId": payload["userId"],
            "anonymousId": payload["anonymousId"],
            "decisionId": rendered.decision_id,
            "timestamp": tailor_core::time::format_timestamp(now),
        });
        match channel {
            Channel::Onsite => {
                let ttl = payload["ttl"]
                    .as_str()
                    .and_then(parse_duration)
                    .unwrap_or(DEFAULT_ONSITE_TTL);
                let max_views = payload["maxViews"]
                    .as_u64()
                    .map_or(DEFAULT_ONSITE_VIEWS, |n| n as u32);
                Ok(Some(OnsiteMessage {
                    key: item.key.clone(),
                    journey: item.journey.clone(),
                    priority: item.priority,
                    title: rendered.subject,
                    body: rendered.text,
                    products: rendered.products,
                    decision_id: rendered.decision_id,
                    delivered_at: now,
                    expires_at: now + ttl,
                    max_views,
                }))
            }
            Channel::Email => {
                let to = email_of(profile).unwrap_or_default();
                let email = Email {
                    key: &item.key,
                    to: &to,
                    subject: &rendered.subject,
                    text: &rendered.text,
                    html: rendered.html.as_deref(),
                    unsubscribe: unsubscribe.as_deref(),
                    context,
                };
                self.channels.email(&email, now).map(|()| None)
            }
            Channel::Sms => {
                let to = phone_of(profile).unwrap_or_default();
                self.channels
                    .sms(&item.key, &to, rendered.text.trim(), now, &context)
                    .map(|()| None)
            }
            Channel::Push | Channel::Webhook => {
                let url = match channel {
                    Channel::Push => {
                        self.channels
                            .push_url()
                            .map(str::to_string)
                            .ok_or_else(|| {
                                SendError::permanent("push is not configured: set TAILOR_PUSH_URL")
                            })?
                    }
                    _ => payload["url"].as_str().unwrap_or_default().to_string(),
                };
                let body = json!({
                    "type": format!("journey.{}", channel.as_str()),
                    "idempotencyKey": item.key,
                    "journey": item.journey,
                    "step": payload["stepId"],
                    "userId": payload["userId"],
                    "anonymousId": payload["anonymousId"],
                    "title": rendered.subject,
                    "body": rendered.text,
                    "products": rendered.products,
                    "decisionId": rendered.decision_id,
                    "timestamp": tailor_core::time::format_timestamp(now),
                });
                self.channels
                    .webhook(&url, &item.key, now, &body.to_string())
                    .map(|()| None)
            }
        }
    }

    /// The receiving server refused the address for good: an `Email Bounced` event for the
    /// person, so nothing more is sent there (the profile counts it; `verdict` skips).
    fn record_bounce(&self, item: &OutboxItem, payload: &Value, reason: &str) {
        let mut body = json!({
            "event": "Email Bounced",
            "messageId": format!("bounce-{}", item.key),
            "properties": {"bounce_type": "hard", "messageKey": item.key,
                           "reason": reason.chars().take(500).collect::<String>()},
        });
        for k in ["userId", "anonymousId"] {
            if let Some(id) = payload[k].as_str() {
                body[k] = json!(id);
            }
        }
        if body.get("userId").is_none() && body.get("anonymousId").is_none() {
            body["userId"] = json!(item.person);
        }
        let now = self.parts.clock.now();
        let envelope = tailor_core::message::Envelope {
            received_at: now,
            ..Default::default()
        };
        let recorded = tailor_core::message::parse_message(
            body,
            Some(tailor_core::MessageType::Track),
            &envelope,
            || format!("bounce-{now}"),
        )
        .map_err(|e| e.message)
        .and_then(|m| {
            self.parts
                .ingest
                .append_blocking(vec![m])
                .map_err(|e| e.to_string())
        });
        if let Err(e) = recorded {
            tracing::warn!(key = item.key, error = e, "outbox: cannot record a bounce");
        }
    }
}

/// The person's number in E.164, which SMS providers take.
fn phone_of(p: &Profile) -> Option<String> {
    p.traits
        .get("phone")
        .and_then(|v| v.value.as_str())
        .and_then(super::audiences::normalize_phone)
}

fn email_of(p: &Profile) -> Option<String> {
    p.traits
        .get("email")
        .and_then(|v| v.value.as_str())
        .filter(|e| e.contains('@'))
        .map(str::to_string)
}
