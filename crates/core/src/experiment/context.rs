//! What an assignment knows about the visitor and the request: GrowthBook's context,
//! as plain data (the SDK's callbacks and services become inputs and outputs here), with
//! the visitor's stored sticky bucket documents ([`StickyBucketDocument`]; sticky bucketing
//! reads and writes them).

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::condition::{get_path, js};

/// The visitor's attributes and the request's overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentContext {
    /// What conditions see and what is hashed (`id` unless the experiment says otherwise).
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// The page URL; `?experiment-key=N` in it forces variation N.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Variations forced by experiment key (QA, previews); not logged as exposures.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub forced_variations: BTreeMap<String, i64>,
    /// `false` enrolls nobody anywhere.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Only forced variations are served; nobody is enrolled by hash.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub qa_mode: bool,
    /// Features that experiments' prerequisites (`parentConditions`) refer to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub features: BTreeMap<String, PrerequisiteFeature>,
    /// Saved groups for `$inGroup` / `$notInGroup` in conditions: group id → members.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub saved_groups: Value,
    /// The visitor's sticky bucket documents, keyed `attribute||value`. `Some` (even
    /// empty) turns sticky bucketing on, as a configured sticky bucket service does in
    /// GrowthBook's SDKs; `None` turns it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_bucket_assignment_docs: Option<BTreeMap<String, StickyBucketDocument>>,
}

/// GrowthBook's `StickyAssignmentsDocument`: the variations one attribute value was
/// assigned, by `experimentKey__bucketVersion` → variation key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StickyBucketDocument {
    pub attribute_name: String,
    pub attribute_value: String,
    #[serde(default)]
    pub assignments: BTreeMap<String, String>,
}

impl StickyBucketDocument {
    /// The key this document is stored under: `attributeName||attributeValue`.
    pub fn storage_key(&self) -> String {
        storage_key(&self.attribute_name, &self.attribute_value)
    }
}

/// GrowthBook's `getStickyBucketAttributeKey`: where the document of one attribute value
/// is stored, `attributeName||attributeValue`.
pub fn storage_key(attribute_name: &str, attribute_value: &str) -> String {
    format!("{attribute_name}||{attribute_value}")
}

fn enabled_by_default() -> bool {
    true
}

impl Default for ExperimentContext {
    fn default() -> Self {
        Self {
            attributes: Map::new(),
            url: None,
            forced_variations: BTreeMap::new(),
            enabled: true,
            qa_mode: false,
            features: BTreeMap::new(),
            saved_groups: Value::Null,
            sticky_bucket_assignment_docs: None,
        }
    }
}

/// A feature as far as prerequisites need it: its default value.
///
/// Tailor does not evaluate GrowthBook feature rules. A prerequisite on a feature that has
/// rules cannot be decided here, so it fails closed (the visitor is not enrolled) rather
/// than guessing from the default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrerequisiteFeature {
    #[serde(default)]
    pub default_value: Value,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Value>,
}

/// The attribute that was hashed and its value, as GrowthBook's `getHashAttribute`
/// returns them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HashAttribute<'a> {
    pub name: String,
    pub value: Cow<'a, Value>,
}

impl HashAttribute<'_> {
    /// JavaScript truthiness: `""`, `null`, `0` and `false` identify nobody.
    pub fn is_usable(&self) -> bool {
        js::truthy(&self.value)
    }

    /// The value as the hash sees it (JavaScript string concatenation).
    pub fn as_hash_input(&self) -> Cow<'_, str> {
        js::to_string(&self.value)
    }

    /// The value as sticky bucket documents store it (`toString`: strings as they are,
    /// anything else as JSON).
    pub fn as_sticky_key(&self) -> String {
        match self.value.as_ref() {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

impl ExperimentContext {
    /// The context of a visitor with these attributes and nothing forced.
    pub fn with_attributes(attributes: Map<String, Value>) -> Self {
        Self {
            attributes,
            ..Self::default()
        }
    }

    pub(crate) fn sticky_bucketing(&self) -> bool {
        self.sticky_bucket_assignment_docs.is_some()
    }

    /// GrowthBook's `getHashAttribute`: `attribute` (default `id`), read as a literal key
    /// first and then as a dotted path; when that is empty and `fallback` is given, the
    /// fallback attribute instead.
    pub(crate) fn hash_attribute(
        &self,
        attribute: Option<&str>,
        fallback: Option<&str>,
    ) -> HashAttribute<'_> {
        let name = attribute.filter(|a| !a.is_empty()).unwrap_or("id");
        let value = self.attribute(name);
        let fallback = fallback.filter(|f| !f.is_empty());
        match fallback {
            Some(fallback) if !js::truthy(&value) => {
                let alternative = self.attribute(fallback);
                // The SDK keeps the fallback's value even when it is empty too, but only
                // renames the attribute when the fallback identifies the visitor.
                let name = if js::truthy(&alternative) {
                    fallback
                } else {
                    name
                };
                HashAttribute {
                    name: name.to_string(),
                    value: alternative,
                }
            }
            _ => HashAttribute {
                name: name.to_string(),
                value,
            },
        }
    }

    /// GrowthBook's `resolveAttribute`: a literal key wins (even when its value is
    /// `null`); otherwise a dotted path; a missing attribute is `""`.
    fn attribute(&self, key: &str) -> Cow<'_, Value> {
        if let Some(value) = self.attributes.get(key) {
            return Cow::Borrowed(value);
        }
        let nested = key.split_once('.').and_then(|(first, rest)| {
            let root = self.attributes.get(first)?;
            Some(get_path(root, rest)).filter(|v| !v.is_null())
        });
        nested.unwrap_or(Cow::Owned(Value::String(String::new())))
    }

    /// The attributes as one JSON object, for conditions.
    pub(crate) fn attributes_value(&self) -> Value {
        Value::Object(self.attributes.clone())
    }

    /// The value of feature `id` for a prerequisite: its default value, `null` for an
    /// unknown feature (as in GrowthBook), and `None` when it has rules Tailor does not
    /// evaluate.
    pub(crate) fn prerequisite_value(&self, id: &str) -> Option<Value> {
        match self.features.get(id) {
            None => Some(Value::Null),
            Some(feature) if feature.rules.is_empty() => Some(feature.default_value.clone()),
            Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn context(attributes: Value) -> ExperimentContext {
        serde_json::from_value(json!({ "attributes": attributes })).expect("a context")
    }

    #[test]
    fn hash_attribute_defaults_to_id_and_reads_nested_paths() {
        let ctx = context(json!({"id": "u1", "user": {"id": "u2"}, "a.b": "literal"}));
        assert_eq!(ctx.hash_attribute(None, None).as_hash_input(), "u1");
        assert_eq!(
            ctx.hash_attribute(Some("user.id"), None).as_hash_input(),
            "u2"
        );
        assert_eq!(
            ctx.hash_attribute(Some("a.b"), None).as_hash_input(),
            "literal"
        );
    }

    #[test]
    fn fallback_applies_only_when_the_attribute_is_empty() {
        let ctx = context(json!({"id": "", "anonymousId": "anon-1"}));
        let used = ctx.hash_attribute(Some("id"), Some("anonymousId"));
        assert_eq!(
            (used.name.as_str(), used.is_usable()),
            ("anonymousId", true)
        );
        let ctx = context(json!({"id": "u1", "anonymousId": "anon-1"}));
        assert_eq!(
            ctx.hash_attribute(Some("id"), Some("anonymousId")).name,
            "id"
        );
        let ctx = context(json!({}));
        let neither = ctx.hash_attribute(Some("id"), Some("anonymousId"));
        assert_eq!((neither.name.as_str(), neither.is_usable()), ("id", false));
    }

    #[test]
    fn numbers_hash_as_javascript_prints_them() {
        let ctx = context(json!({"id": 123, "score": 1.5}));
        assert_eq!(ctx.hash_attribute(None, None).as_hash_input(), "123");
        assert_eq!(
            ctx.hash_attribute(Some("score"), None).as_sticky_key(),
            "1.5"
        );
    }

    #[test]
    fn prerequisites_with_rules_cannot_be_decided() {
        let ctx: ExperimentContext = serde_json::from_value(json!({
            "features": {
                "plain": {"defaultValue": true},
                "ruled": {"defaultValue": true, "rules": [{"force": false}]}
            }
        }))
        .expect("a context");
        assert_eq!(ctx.prerequisite_value("plain"), Some(json!(true)));
        assert_eq!(ctx.prerequisite_value("missing"), Some(Value::Null));
        assert_eq!(ctx.prerequisite_value("ruled"), None);
    }
}
