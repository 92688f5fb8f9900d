//! How profiles are written in checkpoints: a version byte, then postcard (compact, no
//! field names), with trait values kept as JSON text since they are arbitrary JSON; from
//! version 2, the identity notes follow as a second postcard value, so version 1 rows
//! (without them) still decode. Rows written as JSON by earlier versions still decode.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use tailor_core::Millis;

use super::{Profile, Stamped};

/// First byte of a postcard-encoded profile (a JSON row starts with `{`).
const POSTCARD_V1: u8 = 1;
/// Version 1 followed by the identity notes.
const POSTCARD_V2: u8 = 2;

pub fn encode(profile: &Profile) -> Result<Vec<u8>, String> {
    let bytes = postcard::to_extend(profile, vec![POSTCARD_V2]).map_err(|e| e.to_string())?;
    postcard::to_extend(&profile.identity, bytes).map_err(|e| e.to_string())
}

pub fn decode(bytes: &[u8]) -> Result<Profile, String> {
    match bytes.split_first() {
        Some((&POSTCARD_V1, rest)) => postcard::from_bytes(rest).map_err(|e| e.to_string()),
        Some((&POSTCARD_V2, rest)) => {
            let (mut profile, notes): (Profile, &[u8]) =
                postcard::take_from_bytes(rest).map_err(|e| e.to_string())?;
            profile.identity = postcard::from_bytes(notes).map_err(|e| e.to_string())?;
            Ok(profile)
        }
        _ => decode_json(bytes),
    }
}

/// Rows written as JSON before the compact format kept traits as `{name: {value, at}}`.
fn decode_json(bytes: &[u8]) -> Result<Profile, String> {
    let mut v: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if let Some(Value::Object(traits)) = v.get("traits") {
        let rows: Vec<Value> = traits
            .iter()
            .map(|(k, t)| {
                serde_json::json!([
                    k,
                    t.get("value").unwrap_or(&Value::Null).to_string(),
                    t.get("at")
                ])
            })
            .collect();
        v["traits"] = Value::Array(rows);
    }
    serde_json::from_value(v).map_err(|e| e.to_string())
}

/// Traits as `(name, JSON text, time)` triples, which any serde format can carry.
pub mod traits {
    use super::*;

    pub fn serialize<S: Serializer>(
        traits: &BTreeMap<String, Stamped<Value>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let rows: Vec<(&str, String, Millis)> = traits
            .iter()
            .map(|(k, v)| (k.as_str(), v.value.to_string(), v.at))
            .collect();
        rows.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Stamped<Value>>, D::Error> {
        let rows: Vec<(String, String, Millis)> = Vec::deserialize(d)?;
        rows.into_iter()
            .map(|(k, json, at)| {
                let value = serde_json::from_str(&json).map_err(serde::de::Error::custom)?;
                Ok((k, Stamped { value, at }))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tailor_core::message::{Envelope, parse_message};

    use super::*;
    use crate::profile::catalog::Catalog;

    #[test]
    fn round_trips_a_full_profile_and_reads_json_rows() {
        let mut p = Profile::new(7);
        for v in [
            json!({"type": "identify", "userId": "u", "anonymousId": "a", "traits": {"email": "e@x.y", "n": [1, {"k": null}]},
                   "context": {"consent": {"categoryPreferences": {"Advertising": false, "Custom": true}}}}),
            json!({"type": "track", "userId": "u", "event": "Product Viewed", "properties": {"product_id": "p1", "category": "A/B", "price": 9}}),
            json!({"type": "track", "userId": "u", "event": "Product Viewed", "properties": {"product_id": "p2", "category": "A/B", "price": 90}}),
            json!({"type": "track", "userId": "u", "event": "Product Added", "properties": {"product_id": "p2", "price": 90}}),
            json!({"type": "track", "userId": "u", "event": "Order Completed", "properties": {"total": 9, "products": [{"product_id": "p1"}]}}),
            json!({"type": "track", "userId": "u", "event": "Email Opened"}),
        ] {
            p.apply(
                &parse_message(v, None, &Envelope::default(), || "m".into()).unwrap(),
                &Catalog::default(),
            );
        }
        p.identity.retired_ids.push("old-anon".into());
        p.identity.refused(9, 1_000);
        let bytes = encode(&p).unwrap();
        assert_eq!(decode(&bytes).unwrap(), p);
        // Version 1 rows (no identity notes) still decode.
        let mut v1 = vec![POSTCARD_V1];
        v1.extend(postcard::to_stdvec(&p).unwrap());
        let mut without_notes = p.clone();
        without_notes.identity = Default::default();
        assert_eq!(decode(&v1).unwrap(), without_notes);
        let json = serde_json::to_vec(&p).unwrap();
        assert!(
            bytes.len() * 2 < json.len(),
            "postcard {} bytes vs JSON {}",
            bytes.len(),
            json.len()
        );
        assert_eq!(decode(&json).unwrap(), without_notes);
        // The JSON rows of earlier versions, with traits as a map (the demo's data directories).
        let mut legacy = serde_json::to_value(&p).unwrap();
        legacy["traits"] = json!({"email": {"value": "e@x.y", "at": 0}, "n": {"value": [1, {"k": null}], "at": 0}});
        assert_eq!(
            decode(&serde_json::to_vec(&legacy).unwrap()).unwrap(),
            without_notes
        );
        assert!(decode(b"\x01garbage").is_err());
    }
}
