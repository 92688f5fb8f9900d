//! Namespaces: experiments that must not share visitors each claim a disjoint slice of
//! one namespace, and a visitor is hashed once per namespace to find their slice.

use serde::{Deserialize, Serialize};

use super::buckets::BucketRange;
use super::hash::hash;

/// A slice `[start, end)` of the namespace `id`. On the wire GrowthBook's
/// `["id", start, end]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "(String, f64, f64)", into = "(String, f64, f64)")]
pub struct Namespace {
    pub id: String,
    pub start: f64,
    pub end: f64,
}

impl From<(String, f64, f64)> for Namespace {
    fn from((id, start, end): (String, f64, f64)) -> Self {
        Self { id, start, end }
    }
}

impl From<Namespace> for (String, f64, f64) {
    fn from(namespace: Namespace) -> Self {
        (namespace.id, namespace.start, namespace.end)
    }
}

impl Namespace {
    /// Do the two slices share visitors? Only non-empty slices of the same namespace can.
    pub fn overlaps(&self, other: &Namespace) -> bool {
        self.id == other.id && self.range().overlaps(&other.range())
    }

    pub fn range(&self) -> BucketRange {
        BucketRange::new(self.start, self.end)
    }
}

/// GrowthBook's `inNamespace`: the visitor's position in the namespace (hash version 1,
/// seeded `"__" + id` so it is independent of every experiment's own hash) falls in
/// `[start, end)`.
pub fn in_namespace(hash_value: &str, namespace: &Namespace) -> bool {
    hash(&format!("__{}", namespace.id), hash_value, 1)
        .is_some_and(|n| n >= namespace.start && n < namespace.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(id: &str, start: f64, end: f64) -> Namespace {
        Namespace {
            id: id.into(),
            start,
            end,
        }
    }

    #[test]
    fn disjoint_slices_of_one_namespace_never_share_a_visitor() {
        let left = ns("checkout", 0.0, 0.5);
        let right = ns("checkout", 0.5, 1.0);
        assert!(!left.overlaps(&right));
        for user in (0..500).map(|i| format!("user-{i}")) {
            assert!(
                in_namespace(&user, &left) != in_namespace(&user, &right),
                "{user}"
            );
        }
    }

    #[test]
    fn only_slices_of_the_same_namespace_overlap() {
        assert!(ns("a", 0.0, 0.6).overlaps(&ns("a", 0.5, 1.0)));
        assert!(!ns("a", 0.0, 0.6).overlaps(&ns("b", 0.5, 1.0)));
        assert!(!ns("a", 0.3, 0.3).overlaps(&ns("a", 0.0, 1.0)));
    }

    #[test]
    fn namespaces_travel_as_triples() {
        let parsed: Namespace = serde_json::from_str(r#"["hero", 0, 0.4]"#).expect("a triple");
        assert_eq!(parsed, ns("hero", 0.0, 0.4));
    }
}
