//! On-site messages: what `onsite` journey steps delivered, kept in memory per person for
//! the `onsite.message` placement of `decide`, which shows the most important live one on
//! the person's next pages until it is dismissed (a `Message Dismissed` event with
//! `properties.messageKey`), expires (`ttl`) or was shown `maxViews` times.
//!
//! Delivered messages are also in the outbox (status `sent`, the rendered message in their
//! payload), which is where they are loaded from at start. Views and dismissals live only
//! here: after a restart a live message may be shown up to `maxViews` times again.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tailor_core::Millis;

/// The event that takes an on-site message down; `properties.messageKey` names it.
pub const DISMISSED: &str = "Message Dismissed";

/// One delivered on-site message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnsiteMessage {
    /// The outbox key (`{run}:{step}`).
    pub key: String,
    pub journey: String,
    pub priority: i64,
    pub title: String,
    pub body: String,
    /// Products the message shows (cart and recommendations, as in the email).
    pub products: Vec<String>,
    /// The decision that chose the products (the same source as email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_id: Option<String>,
    pub delivered_at: Millis,
    pub expires_at: Millis,
    pub max_views: u32,
}

struct Entry {
    message: Arc<OnsiteMessage>,
    views: u32,
    dismissed: bool,
}

/// Live on-site messages by raw person id (the run's person).
#[derive(Default)]
pub struct Inbox {
    by_person: Mutex<HashMap<String, Vec<Entry>>>,
}

impl Inbox {
    /// Keeps a delivered message (again: a repeated delivery of a key replaces nothing).
    pub(crate) fn put(&self, person: &str, message: OnsiteMessage) {
        let mut all = self.by_person.lock();
        let theirs = all.entry(person.to_string()).or_default();
        if theirs.iter().all(|e| e.message.key != message.key) {
            theirs.push(Entry {
                message: Arc::new(message),
                views: 0,
                dismissed: false,
            });
        }
    }

    /// The message to show one of `ids` now (highest journey priority, then the oldest),
    /// counted as a view; forgets what can no longer be shown.
    pub(crate) fn show<'a>(
        &self,
        ids: impl Iterator<Item = &'a str>,
        now: Millis,
    ) -> Option<(Arc<OnsiteMessage>, u32)> {
        let mut all = self.by_person.lock();
        let mut best: Option<(&str, usize)> = None;
        let ids: Vec<&str> = ids.collect();
        for id in &ids {
            let Some(theirs) = all.get_mut(*id) else {
                continue;
            };
            theirs.retain(|e| live(e, now));
            if theirs.is_empty() {
                all.remove(*id);
            }
        }
        for id in &ids {
            let Some(theirs) = all.get(*id) else {
                continue;
            };
            for (i, e) in theirs.iter().enumerate() {
                let better = best.is_none_or(|(bid, bi)| {
                    let b = &all[bid][bi].message;
                    (e.message.priority, -e.message.delivered_at) > (b.priority, -b.delivered_at)
                });
                if better {
                    best = Some((id, i));
                }
            }
        }
        let (id, i) = best?;
        let entry = all.get_mut(id)?.get_mut(i)?;
        entry.views += 1;
        Some((entry.message.clone(), entry.views))
    }

    /// Takes down the message `key` for any of `ids`.
    pub(crate) fn dismiss(&self, ids: &[String], key: &str) -> bool {
        let mut all = self.by_person.lock();
        let mut found = false;
        for id in ids {
            for e in all.get_mut(id).into_iter().flatten() {
                if e.message.key == key {
                    e.dismissed = true;
                    found = true;
                }
            }
        }
        found
    }

    /// Forgets everything of these people (erasure).
    pub(crate) fn forget(&self, ids: &[String]) {
        let mut all = self.by_person.lock();
        for id in ids {
            all.remove(id);
        }
    }
}

fn live(e: &Entry, now: Millis) -> bool {
    !e.dismissed && e.views < e.message.max_views && now < e.message.expires_at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(key: &str, priority: i64, at: Millis) -> OnsiteMessage {
        OnsiteMessage {
            key: key.into(),
            journey: "j".into(),
            priority,
            title: key.into(),
            body: String::new(),
            products: Vec::new(),
            decision_id: None,
            delivered_at: at,
            expires_at: at + 100,
            max_views: 2,
        }
    }

    #[test]
    fn shows_by_priority_until_seen_dismissed_or_expired() {
        let inbox = Inbox::default();
        inbox.put("u", message("low", 1, 0));
        inbox.put("anon", message("high", 5, 10));
        inbox.put("u", message("low", 1, 0));
        let ids = || ["u", "anon"].into_iter();
        assert_eq!(inbox.show(ids(), 20).unwrap().0.key, "high");
        assert!(inbox.dismiss(&["anon".to_string()], "high"));
        assert_eq!(
            inbox.show(ids(), 20).unwrap(),
            (Arc::new(message("low", 1, 0)), 1)
        );
        assert_eq!(inbox.show(ids(), 20).unwrap().1, 2);
        assert!(inbox.show(ids(), 20).is_none(), "seen twice");
        inbox.put("v", message("old", 1, 0));
        assert!(inbox.show(["v"].into_iter(), 100).is_none(), "expired");
        assert!(inbox.show(["nobody"].into_iter(), 0).is_none());
    }
}
