//! Zero-party data: what a shopper tells the store about themselves (the preference center,
//! quizzes), and how a quiz's answers map onto it.
//!
//! Declared preferences travel as the profile trait `preferences` (an identify call), so
//! they are durable, exported, erased and merged across identities like any trait, and a
//! newer declaration replaces an older one. Decisions rank them above what Tailor inferred.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ValidationError;
use crate::catalog::split_category;

/// The profile trait declared preferences live in.
pub const TRAIT: &str = "preferences";

/// Channels a shopper wants to hear from the store on; each is also their consent for the
/// channel's purpose.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceRange {
    pub min: f64,
    pub max: f64,
}

/// What a shopper declared. Every field is optional; a quiz fills some of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Preferences {
    /// Favourite category paths, most favourite first (`Shoes/Running`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub styles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_range: Option<PriceRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Channels>,
    /// How often they want messages: `daily`, `weekly` or `monthly`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<String>,
}

const FREQUENCIES: [&str; 3] = ["daily", "weekly", "monthly"];

impl Preferences {
    /// Parses and validates a preferences document; `categories_known` tells whether a
    /// category path exists in the catalog. Every problem is reported at once.
    pub fn parse(
        v: &Value,
        categories_known: impl Fn(&str) -> bool,
    ) -> Result<Preferences, ValidationError> {
        let mut p: Preferences = serde_json::from_value(v.clone()).map_err(|e| ValidationError {
            problems: vec![format!(
                "not a preferences document ({e}); fields: categories, sizes, styles, priceRange {{min, max}}, channels {{email, push, sms}}, frequency"
            )],
        })?;
        let mut problems = Vec::new();
        for c in &mut p.categories {
            *c = split_category(c).join("/");
            if !categories_known(c) {
                problems.push(format!("category {c:?} is not in the catalog"));
            }
        }
        if let Some(r) = p.price_range
            && !(r.min.is_finite() && r.max.is_finite() && 0.0 <= r.min && r.min <= r.max)
        {
            problems.push(format!(
                "priceRange must have 0 ≤ min ≤ max, got {} – {}",
                r.min, r.max
            ));
        }
        if let Some(f) = &p.frequency
            && !FREQUENCIES.contains(&f.as_str())
        {
            problems.push(format!(
                "frequency {f:?} must be one of {}",
                FREQUENCIES.join(", ")
            ));
        }
        for (name, list) in [("sizes", &p.sizes), ("styles", &p.styles)] {
            if list.iter().any(|s| s.trim().is_empty()) {
                problems.push(format!("{name} must not contain empty strings"));
            }
        }
        if problems.is_empty() {
            Ok(p)
        } else {
            Err(ValidationError { problems })
        }
    }

    /// Reads the declared preferences back from the trait (lenient: a document Tailor
    /// wrote; anything unreadable counts as nothing declared).
    pub fn from_trait(v: &Value) -> Preferences {
        serde_json::from_value(v.clone()).unwrap_or_default()
    }

    /// `other`'s fields replace these where `other` declares them (a quiz refines the
    /// preference center, and the other way round).
    pub fn merge(&mut self, other: &Preferences) {
        if !other.categories.is_empty() {
            for c in other.categories.iter().rev() {
                self.categories.retain(|x| x != c);
                self.categories.insert(0, c.clone());
            }
        }
        if !other.sizes.is_empty() {
            self.sizes = other.sizes.clone();
        }
        if !other.styles.is_empty() {
            self.styles = other.styles.clone();
        }
        if other.price_range.is_some() {
            self.price_range = other.price_range;
        }
        if let Some(ch) = &other.channels {
            let mine = self.channels.get_or_insert_with(Channels::default);
            mine.email = ch.email.or(mine.email);
            mine.push = ch.push.or(mine.push);
            mine.sms = ch.sms.or(mine.sms);
        }
        if other.frequency.is_some() {
            self.frequency = other.frequency.clone();
        }
    }

    /// The consent choices the declared channels make (Segment `categoryPreferences` keys).
    pub fn channel_consent(&self) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        if let Some(ch) = &self.channels {
            for (k, v) in [("email", ch.email), ("push", ch.push), ("sms", ch.sms)] {
                if let Some(v) = v {
                    out.insert(k.into(), Value::Bool(v));
                }
            }
        }
        out
    }
}

/// A quiz: questions whose answers map onto preferences (`PUT /v1/quizzes/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quiz {
    pub id: String,
    pub title: String,
    pub questions: Vec<Question>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub text: String,
    pub answers: Vec<Answer>,
    /// Whether more than one answer may be picked.
    #[serde(default)]
    pub multiple: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    pub id: String,
    pub label: String,
    /// What picking it declares (a preferences document; none: nothing).
    #[serde(default = "nothing_declared")]
    pub sets: Value,
}

fn nothing_declared() -> Value {
    Value::Object(serde_json::Map::new())
}

impl Quiz {
    /// Parses and validates a quiz definition; every answer's `sets` must be a valid
    /// preferences document. Every problem is reported at once.
    pub fn parse(
        v: &Value,
        categories_known: impl Fn(&str) -> bool,
    ) -> Result<Quiz, ValidationError> {
        let quiz: Quiz = serde_json::from_value(v.clone()).map_err(|e| ValidationError {
            problems: vec![format!(
                "not a quiz ({e}); expected {{\"id\", \"title\", \"questions\": [{{\"id\", \"text\", \"multiple\"?, \"answers\": [{{\"id\", \"label\", \"sets\": {{…preferences…}}}}]}}]}}"
            )],
        })?;
        let mut problems = Vec::new();
        if quiz.id.trim().is_empty() {
            problems.push("`id` must not be empty".to_string());
        }
        if quiz.questions.is_empty() {
            problems.push("a quiz needs at least one question".to_string());
        }
        let mut question_ids = std::collections::HashSet::new();
        for q in &quiz.questions {
            if !question_ids.insert(&q.id) {
                problems.push(format!("question id {:?} is used twice", q.id));
            }
            if q.answers.len() < 2 {
                problems.push(format!("question {:?} needs at least two answers", q.id));
            }
            let mut answer_ids = std::collections::HashSet::new();
            for a in &q.answers {
                if !answer_ids.insert(&a.id) {
                    problems.push(format!(
                        "question {:?}: answer id {:?} is used twice",
                        q.id, a.id
                    ));
                }
                if let Err(e) = Preferences::parse(&a.sets, &categories_known) {
                    for p in e.problems {
                        problems.push(format!("question {:?}, answer {:?}: {p}", q.id, a.id));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(quiz)
        } else {
            Err(ValidationError { problems })
        }
    }

    /// The preferences a set of answers declares (`{"question id": "answer id" or [ids]}`),
    /// applied in question order. Unknown questions or answers, and several answers to a
    /// single-answer question, are errors; unanswered questions declare nothing.
    pub fn score(
        &self,
        answers: &serde_json::Map<String, Value>,
    ) -> Result<Preferences, ValidationError> {
        let mut problems = Vec::new();
        for k in answers.keys() {
            if !self.questions.iter().any(|q| &q.id == k) {
                problems.push(format!("this quiz has no question {k:?}"));
            }
        }
        let mut declared = Preferences::default();
        let mut picked: BTreeMap<usize, Vec<&Answer>> = BTreeMap::new();
        for (i, q) in self.questions.iter().enumerate() {
            let ids: Vec<&str> = match answers.get(&q.id) {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => vec![s.as_str()],
                Some(Value::Array(a)) if q.multiple => a.iter().filter_map(Value::as_str).collect(),
                Some(_) => {
                    problems.push(format!(
                        "question {:?} takes {}",
                        q.id,
                        if q.multiple {
                            "an answer id or a list of them"
                        } else {
                            "one answer id"
                        }
                    ));
                    continue;
                }
            };
            for id in ids {
                match q.answers.iter().find(|a| a.id == id) {
                    Some(a) => picked.entry(i).or_default().push(a),
                    None => problems.push(format!("question {:?} has no answer {id:?}", q.id)),
                }
            }
        }
        if !problems.is_empty() {
            return Err(ValidationError { problems });
        }
        // Categories accumulate in question and answer order (the first named is the
        // favourite); sizes and styles add up; for the rest, the later answer wins.
        for a in picked.values().flatten() {
            let p = Preferences::from_trait(&a.sets);
            for c in &p.categories {
                if !declared.categories.contains(c) {
                    declared.categories.push(c.clone());
                }
            }
            declared.sizes.extend(p.sizes.iter().cloned());
            declared.styles.extend(p.styles.iter().cloned());
            declared.merge(&Preferences {
                categories: Vec::new(),
                sizes: Vec::new(),
                styles: Vec::new(),
                ..p
            });
        }
        Ok(declared)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn known(c: &str) -> bool {
        ["Shoes/Running", "Shoes/Trail", "Home"].contains(&c)
    }

    #[test]
    fn preferences_are_validated_all_at_once() {
        let ok = Preferences::parse(
            &json!({"categories": ["Shoes > Running"], "priceRange": {"min": 20, "max": 80}, "channels": {"email": true}}),
            known,
        )
        .unwrap();
        assert_eq!(ok.categories, ["Shoes/Running"]);
        assert_eq!(ok.channel_consent()["email"], true);
        let e = Preferences::parse(
            &json!({"categories": ["Toys"], "priceRange": {"min": 90, "max": 10}, "frequency": "hourly"}),
            known,
        )
        .unwrap_err();
        assert_eq!(e.problems.len(), 3, "{e}");
        assert!(Preferences::parse(&json!({"colour": "red"}), known).is_err());
    }

    #[test]
    fn a_quiz_maps_answers_onto_preferences() {
        let quiz = Quiz::parse(
            &json!({"id": "style", "title": "Find your style", "questions": [
                {"id": "where", "text": "Where do you run?", "answers": [
                    {"id": "road", "label": "Road", "sets": {"categories": ["Shoes/Running"]}},
                    {"id": "trail", "label": "Trails", "sets": {"categories": ["Shoes/Trail"]}}]},
                {"id": "budget", "text": "Budget?", "answers": [
                    {"id": "low", "label": "Under $50", "sets": {"priceRange": {"min": 0, "max": 50}}},
                    {"id": "high", "label": "Any", "sets": {}}]},
                {"id": "also", "text": "Also into?", "multiple": true, "answers": [
                    {"id": "home", "label": "Home", "sets": {"categories": ["Home"]}},
                    {"id": "none", "label": "Nothing else", "sets": {}}]}]}),
            known,
        )
        .unwrap();
        let answers = json!({"where": "trail", "budget": "low", "also": ["home"]});
        let p = quiz.score(answers.as_object().unwrap()).unwrap();
        assert_eq!(p.categories, ["Shoes/Trail", "Home"]);
        assert_eq!(
            p.price_range,
            Some(PriceRange {
                min: 0.0,
                max: 50.0
            })
        );
        let bad = json!({"where": ["road", "trail"], "nope": "x", "budget": "mid"});
        let e = quiz.score(bad.as_object().unwrap()).unwrap_err();
        assert_eq!(e.problems.len(), 3, "{e}");
    }

    #[test]
    fn bad_quizzes_are_refused_with_every_problem() {
        let e = Quiz::parse(
            &json!({"id": "q", "title": "t", "questions": [
                {"id": "a", "text": "?", "answers": [{"id": "x", "label": "X", "sets": {"categories": ["Toys"]}}]},
                {"id": "a", "text": "?", "answers": [{"id": "y", "label": "Y"}, {"id": "y", "label": "Y"}]}]}),
            known,
        )
        .unwrap_err();
        assert_eq!(e.problems.len(), 4, "{e}");
    }
}
