//! What a message's ids are worth, by where it came from: the trust model at ingestion.
//!
//! A server source's messages (a secret key) are taken as they are. A browser's (a public
//! key, which anyone can read) may claim a `userId` only with proof made by the store's
//! backend, in `integrations.Tailor`: a `profileToken` for that userId or its `userHash`
//! (see `govern::tokens`). Without proof:
//!
//! - the claim is kept as `context.tailor.claimedUserId` and the message counts for the
//!   visitor's own `anonymousId` (one with no anonymousId is refused: it names nobody
//!   provable);
//! - an `alias` is refused (it would join two people);
//! - contact details (`email`, `phone` in `traits` and `context.traits`) move aside to
//!   `context.tailor.unverifiedTraits`, so no journey writes to an address a stranger typed;
//! - and, decided by the writer against the identity graph (see [`guard_identified`]), the
//!   message changes no traits or consent of an identified person its anonymousId may
//!   belong to.
//!
//! Proofs are removed before the message is stored. What is stored is what was trusted,
//! so replaying the log needs no knowledge of who sent what.

use serde_json::{Map, Value, json};
use tailor_core::{InvalidMessage, Message, MessageType, Millis};

use crate::govern::tokens::ProfileTokens;
use crate::profile::registry::Registry;

/// Where messages come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A secret key: the store's backend, Segment's server libraries, an admin, Tailor.
    Server,
    /// A public key: anyone's browser.
    Browser,
}

/// `context.tailor`, where Tailor notes what it made of a message.
const TAILOR: &str = "tailor";
/// The trait names that reach a person by email or phone.
const CONTACT_TRAITS: [&str; 2] = ["email", "phone"];

/// Checks each message's claims for its origin and rewrites what may not stand. Returns the
/// messages to store and the refused ones by their index in `messages`.
pub(crate) fn admit(
    messages: Vec<Message>,
    origin: Origin,
    tokens: &ProfileTokens,
    now: Millis,
) -> (Vec<Message>, Vec<(usize, InvalidMessage)>) {
    if origin == Origin::Server {
        return (messages, Vec::new());
    }
    let mut admitted = Vec::with_capacity(messages.len());
    let mut refused = Vec::new();
    for (index, m) in messages.into_iter().enumerate() {
        match from_browser(m, tokens, now) {
            Ok(m) => admitted.push(m),
            Err(e) => refused.push((index, e)),
        }
    }
    (admitted, refused)
}

fn from_browser(
    mut m: Message,
    tokens: &ProfileTokens,
    now: Millis,
) -> Result<Message, InvalidMessage> {
    let proof = take_proof(&mut m);
    let verified = m
        .user_id
        .as_deref()
        .is_some_and(|user| proof.as_ref().is_some_and(|p| p.proves(user, tokens, now)));
    if m.kind == MessageType::Alias && !verified {
        return Err(InvalidMessage::new(
            "unverified_alias",
            "an alias from a browser needs proof of its userId (`integrations.Tailor.userHash` or `profileToken`); send it from your backend with a server key",
        ));
    }
    let note = tailor_note(&mut m);
    note.insert("verified".into(), Value::Bool(verified));
    if verified {
        return Ok(m);
    }
    if let Some(claimed) = m.user_id.take() {
        if m.anonymous_id.is_none() {
            return Err(InvalidMessage::new(
                "unverified_user_id",
                "a browser message naming only a userId needs proof (`integrations.Tailor.userHash` or `profileToken`), or an `anonymousId`; or send it from your backend with a server key",
            ));
        }
        tailor_note(&mut m).insert("claimedUserId".into(), Value::String(claimed));
    }
    let mut aside = Map::new();
    for key in CONTACT_TRAITS {
        if let Some(v) = m.traits.remove(key) {
            aside.insert(key.into(), v);
        }
        if let Some(Value::Object(traits)) = m.context.get_mut("traits")
            && let Some(v) = traits.remove(key)
        {
            aside.insert(key.into(), v);
        }
    }
    if !aside.is_empty() {
        tailor_note(&mut m).insert("unverifiedTraits".into(), Value::Object(aside));
    }
    Ok(m)
}

/// Proof, made by the store's backend, that the caller is the person a userId names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserProof {
    /// `hex(HMAC-SHA256(identity secret, userId))`.
    Hash(String),
    /// A profile token from `POST /v1/tokens`.
    Token(String),
}

impl UserProof {
    /// Whether this proves `user_id` at `now`.
    pub fn proves(&self, user_id: &str, tokens: &ProfileTokens, now: Millis) -> bool {
        match self {
            UserProof::Hash(hash) => tokens.verify_user_hash(user_id, hash),
            UserProof::Token(token) => tokens.verify(token, now).is_ok_and(|u| u == user_id),
        }
    }
}

/// Removes the proof from `integrations.Tailor` (it is not stored).
fn take_proof(m: &mut Message) -> Option<UserProof> {
    let Some(Value::Object(tailor)) = m.integrations.get_mut("Tailor") else {
        return None;
    };
    let hash = tailor.remove("userHash");
    let token = tailor.remove("profileToken");
    if tailor.is_empty() {
        m.integrations.remove("Tailor");
    }
    match (token, hash) {
        (Some(Value::String(t)), _) => Some(UserProof::Token(t)),
        (_, Some(Value::String(h))) => Some(UserProof::Hash(h)),
        _ => None,
    }
}

/// `context.tailor` as an object, made if missing (a non-object value is replaced: the
/// caller does not get to write Tailor's notes).
fn tailor_note(m: &mut Message) -> &mut Map<String, Value> {
    let slot = m
        .context
        .entry(TAILOR)
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("made an object just above")
}

/// Whether a browser message was admitted without a proven userId.
fn unverified(m: &Message) -> bool {
    m.context
        .get(TAILOR)
        .and_then(|t| t.get("verified"))
        .and_then(Value::as_bool)
        == Some(false)
}

/// On the writer, against the identity graph: an unverified browser message whose
/// anonymousId belongs to an identified person (someone with a userId, e.g. after they
/// logged in on this device) still counts as their behaviour on that device, but changes
/// none of their traits or consent. `identified` holds the anonymousIds this batch has
/// already tied to a userId.
/// Answers whether something was ignored.
pub(crate) fn guard_identified(
    m: &mut Message,
    registry: &Registry,
    identified: &mut std::collections::HashSet<String>,
) -> bool {
    if !unverified(m) {
        if m.user_id.is_some()
            && let Some(anon) = &m.anonymous_id
        {
            identified.insert(anon.clone());
        }
        return false;
    }
    let Some(anon) = m.anonymous_id.as_deref() else {
        return false;
    };
    let belongs = identified.contains(anon)
        || registry
            .find_key(&crate::profile::identity_key(
                crate::profile::IdKind::Anonymous,
                anon,
            ))
            .is_some_and(|p| !p.user_ids.is_empty());
    if !belongs {
        return false;
    }
    let mut ignored = Vec::new();
    if !m.traits.is_empty() {
        m.traits.clear();
        ignored.push("traits");
    }
    if m.context.remove("traits").is_some() {
        ignored.push("context.traits");
    }
    if m.context.remove("consent").is_some() {
        ignored.push("consent");
    }
    if ignored.is_empty() {
        return false;
    }
    tailor_note(m).insert("ignored".into(), json!(ignored));
    true
}

#[cfg(test)]
mod tests {
    use tailor_core::message::{Envelope, parse_message};
    use tailor_store::SqliteStore;

    use super::*;

    fn msg(kind: MessageType, v: Value) -> Message {
        parse_message(v, Some(kind), &Envelope::default(), || "m".into()).unwrap()
    }

    fn tokens() -> (tempfile::TempDir, ProfileTokens) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let (tokens, _) = ProfileTokens::load(&store, Some("secret")).unwrap();
        (dir, tokens)
    }

    #[test]
    fn server_messages_pass_as_they_are() {
        let (_d, t) = tokens();
        let m = msg(
            MessageType::Identify,
            json!({"userId": "ann", "traits": {"email": "a@x"}}),
        );
        let (kept, refused) = admit(vec![m.clone()], Origin::Server, &t, 0);
        assert!(refused.is_empty());
        assert_eq!(kept, vec![m]);
    }

    #[test]
    fn a_browser_claim_counts_only_with_proof() {
        let (_d, t) = tokens();
        let hash = t.user_hash("ann");
        let (token, _) = t.issue("ann", 0, 60_000 * 10);
        let proven = msg(
            MessageType::Identify,
            json!({"userId": "ann", "anonymousId": "a1",
            "traits": {"email": "ann@x"}, "integrations": {"Tailor": {"userHash": hash}}}),
        );
        let by_token = msg(
            MessageType::Track,
            json!({"userId": "ann", "event": "E",
            "integrations": {"Tailor": {"profileToken": token}}}),
        );
        let forged = msg(
            MessageType::Identify,
            json!({"userId": "victim", "anonymousId": "attacker",
            "traits": {"email": "attacker@x", "name": "Eve"}, "integrations": {"Tailor": {"userHash": hash}}}),
        );
        let bare = msg(
            MessageType::Track,
            json!({"userId": "victim", "event": "E"}),
        );
        let alias = msg(
            MessageType::Alias,
            json!({"userId": "victim", "previousId": "attacker"}),
        );
        let (kept, refused) = admit(
            vec![proven, by_token, forged, bare, alias],
            Origin::Browser,
            &t,
            1,
        );
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[0].user_id.as_deref(), Some("ann"));
        assert_eq!(kept[0].traits["email"], "ann@x");
        assert!(
            kept[0].integrations.get("Tailor").is_none(),
            "proofs are not stored"
        );
        assert_eq!(kept[1].user_id.as_deref(), Some("ann"));
        let forged = &kept[2];
        assert_eq!(forged.user_id, None);
        assert_eq!(forged.context["tailor"]["claimedUserId"], "victim");
        assert_eq!(forged.context["tailor"]["verified"], false);
        assert_eq!(
            forged.context["tailor"]["unverifiedTraits"]["email"],
            "attacker@x"
        );
        assert!(forged.traits.get("email").is_none());
        assert_eq!(
            forged.traits["name"], "Eve",
            "other traits stay on the visitor's own profile"
        );
        let codes: Vec<(usize, &str)> = refused.iter().map(|(i, e)| (*i, e.code)).collect();
        assert_eq!(
            codes,
            vec![(3, "unverified_user_id"), (4, "unverified_alias")]
        );
    }

    #[test]
    fn an_unverified_message_changes_nothing_of_an_identified_person() {
        let (_d, t) = tokens();
        let mut registry = Registry::new();
        let catalog = crate::profile::catalog::Catalog::new(Vec::new(), Vec::new());
        registry.apply(
            &msg(
                MessageType::Identify,
                json!({"userId": "ann", "anonymousId": "dev"}),
            ),
            &catalog,
        );
        let m = msg(
            MessageType::Identify,
            json!({"anonymousId": "dev", "traits": {"name": "Eve"},
            "context": {"consent": {"categoryPreferences": {"Email": true}}}}),
        );
        let (mut kept, _) = admit(vec![m], Origin::Browser, &t, 0);
        let mut seen = std::collections::HashSet::new();
        guard_identified(&mut kept[0], &registry, &mut seen);
        assert!(kept[0].traits.is_empty());
        assert!(kept[0].context.get("consent").is_none());
        assert_eq!(
            kept[0].context["tailor"]["ignored"],
            json!(["traits", "consent"])
        );
    }
}
