//! One-click unsubscribe (RFC 8058). Every email and SMS carries a link of its own,
//! `{public URL}/unsubscribe/{token}`: the token names the channel and the outbox key of
//! the message (no id, no address), signed with HMAC-SHA256 under a secret random per data
//! directory (meta `unsubscribe_secret`), so it cannot be forged or pointed at someone else.
//! Links do not expire: a mail read months later still unsubscribes.
//!
//! Opening the link (`GET`) only shows a page with a button: mail scanners and link
//! previews fetch links, and must not unsubscribe anyone. The button and the mail
//! client's one-click `POST` (`List-Unsubscribe=One-Click`) record an `Unsubscribed` event
//! carrying the withdrawal as Segment's `categoryPreferences` for that channel's purpose —
//! so it goes through the one consent check (`ConsentPolicy::may`, which the outbox asks
//! before every send) and stands in the consent ledger with source `unsubscribe link`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tailor_core::message::{Envelope, parse_message};
use tailor_core::{MessageType, Purpose};
use tailor_store::Store;

use super::JourneyParts;
use super::channels::Channel;
use crate::error::EngineError;
use crate::ingest::trust::Origin;

const SECRET_META: &str = "unsubscribe_secret";
/// Bytes of the HMAC kept in a token: 128 bits.
const TAG_BYTES: usize = 16;

/// What a valid link names: the channel, the message key, the person's ids.
type Target = (Channel, String, Map<String, Value>);

/// Makes and checks unsubscribe tokens.
pub struct Links {
    secret: Vec<u8>,
}

impl Links {
    pub fn load(store: &dyn Store) -> Result<Links, EngineError> {
        let secret = crate::govern::keys::stored_secret(store, SECRET_META)?;
        Ok(Links {
            secret: secret.into_bytes(),
        })
    }

    fn tag(&self, payload: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .expect("HMAC takes keys of any length");
        mac.update(b"unsubscribe:");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes()[..TAG_BYTES].to_vec()
    }

    /// The token for the message `key` on `channel`.
    pub fn token(&self, channel: Channel, key: &str) -> String {
        let payload = format!("{}:{key}", channel.as_str());
        format!(
            "{}.{}",
            B64.encode(&payload),
            B64.encode(self.tag(&payload))
        )
    }

    /// The channel and message key a token names, if its signature holds.
    pub fn verify(&self, token: &str) -> Option<(Channel, String)> {
        let (payload, tag) = token.trim().split_once('.')?;
        let payload = String::from_utf8(B64.decode(payload).ok()?).ok()?;
        let tag = B64.decode(tag).ok()?;
        if !bool::from(self.tag(&payload).ct_eq(&tag)) {
            return None;
        }
        let (channel, key) = payload.split_once(':')?;
        Some((Channel::parse(channel)?, key.to_string()))
    }
}

/// What an unsubscribe link is about, for its page.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Unsubscribe {
    /// `email` or `sms`.
    pub channel: String,
    /// The store's name (`TAILOR_STORE_NAME`), for the page's wording.
    pub store: String,
    /// Whether the person no longer gets messages on this channel (after the `POST`: true).
    pub unsubscribed: bool,
}

impl JourneyParts {
    /// The link for one message, or `None` for channels without one.
    pub(crate) fn unsubscribe_url(&self, channel: Channel, key: &str) -> Option<String> {
        matches!(channel, Channel::Email | Channel::Sms).then(|| {
            format!(
                "{}/unsubscribe/{}",
                self.channels.public_url(),
                self.links.token(channel, key)
            )
        })
    }

    /// The message a token names, and the ids of its person (`None`: an invalid token or
    /// an erased person, indistinguishable to the caller).
    fn unsubscribe_target(&self, token: &str) -> Result<Option<Target>, EngineError> {
        let Some((channel, key)) = self.links.verify(token) else {
            return Ok(None);
        };
        let Some(item) = self.store.outbox_item(&key)? else {
            return Ok(None);
        };
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
        Ok(Some((channel, key, ids)))
    }

    /// What the link's page shows: the channel, and whether they are already unsubscribed.
    pub fn unsubscribe_status(&self, token: &str) -> Result<Unsubscribe, EngineError> {
        let (channel, _, ids) = self
            .unsubscribe_target(token)?
            .ok_or_else(|| EngineError::NotFound("unsubscribe link".into()))?;
        let person = ids.values().find_map(Value::as_str).unwrap_or_default();
        let profile = self.live.with_registry(|r| r.find(person).cloned());
        let purpose = channel.purpose().unwrap_or(Purpose::Email);
        let allowed = self
            .consent
            .policy()
            .may(profile.as_deref(), purpose)
            .allowed;
        Ok(Unsubscribe {
            channel: channel.as_str().into(),
            store: self.channels.store_name.clone().unwrap_or_default(),
            unsubscribed: !allowed,
        })
    }

    /// Withdraws the consent of the link's person for the link's channel: an
    /// `Unsubscribed` event with the withdrawal in `categoryPreferences`, ingested as the
    /// store's backend would send it. Clicking twice records it once (its messageId is the
    /// token's).
    pub async fn unsubscribe(&self, token: &str) -> Result<Unsubscribe, EngineError> {
        let (channel, key, ids) = self
            .unsubscribe_target(token)?
            .ok_or_else(|| EngineError::NotFound("unsubscribe link".into()))?;
        let purpose = channel.purpose().unwrap_or(Purpose::Email);
        let digest = Sha256::digest(token.as_bytes());
        let mut body = json!({
            "event": "Unsubscribed",
            "messageId": format!("unsubscribe-{}", crate::govern::keys::hex(&digest[..16])),
            "properties": {
                "channel": channel.as_str(),
                "messageKey": key,
                "consentSource": "unsubscribe link",
                "policyVersion": self.consent.policy().version,
            },
            "context": {"consent": {"categoryPreferences": {purpose.as_str(): false}}},
        });
        if let (Value::Object(body), ids) = (&mut body, ids) {
            body.extend(ids);
        }
        let envelope = Envelope {
            received_at: self.clock.now(),
            ..Default::default()
        };
        let message = parse_message(body, Some(MessageType::Track), &envelope, || {
            format!("unsubscribe-{}", self.clock.now())
        })
        .map_err(|e| EngineError::Internal(format!("unsubscribe event: {}", e.message)))?;
        self.ingest.append(vec![message], Origin::Server).await?;
        Ok(Unsubscribe {
            channel: channel.as_str().into(),
            store: self.channels.store_name.clone().unwrap_or_default(),
            unsubscribed: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_message_and_resist_tampering() {
        let links = Links {
            secret: b"secret".to_vec(),
        };
        let token = links.token(Channel::Email, "win-back:42:0");
        assert!(token.is_ascii() && !token.contains('/') && !token.contains('+'));
        assert_eq!(
            links.verify(&token),
            Some((Channel::Email, "win-back:42:0".to_string()))
        );
        // Another message's key under this signature, or another secret: refused.
        let (_, tag) = token.split_once('.').unwrap();
        let forged = format!("{}.{tag}", B64.encode("email:win-back:43:0"));
        assert_eq!(links.verify(&forged), None);
        let other = Links {
            secret: b"other".to_vec(),
        };
        assert_eq!(other.verify(&token), None);
        assert_eq!(links.verify("garbage"), None);
    }
}
