//! Sticky bucketing: once a visitor has seen a variation, they keep it even if the hash
//! would now say otherwise (weights changed, or they logged in and are hashed by a
//! different attribute). GrowthBook's documents (the type is in [`super::context`], which
//! carries them) are read and produced here; storing them is the caller's job.

use std::collections::BTreeMap;

use super::context::{ExperimentContext, HashAttribute, StickyBucketDocument, storage_key};
use super::definition::Experiment;

/// The storage keys of the documents that running `experiment` for this visitor may read:
/// one per identifying attribute (the hash attribute, and the fallback if any), as
/// GrowthBook's `getStickyBucketAttributes`. A store loads these before [`super::assign`].
pub fn sticky_bucket_keys(experiment: &Experiment, context: &ExperimentContext) -> Vec<String> {
    // `None` is the default hash attribute, `id`.
    let mut attributes = vec![experiment.hash_attribute.as_deref()];
    if let Some(fallback) = experiment.fallback_attribute.as_deref() {
        attributes.push(Some(fallback));
    }
    let mut keys = Vec::with_capacity(attributes.len());
    for attribute in attributes {
        let hashed = context.hash_attribute(attribute, None);
        let key = storage_key(&hashed.name, &hashed.as_sticky_key());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

/// `experimentKey__bucketVersion`.
fn assignment_key(experiment_key: &str, bucket_version: u32) -> String {
    format!("{experiment_key}__{bucket_version}")
}

/// What the stored documents say about this experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StickyBucket {
    /// No usable assignment: bucket by hash.
    None,
    /// The visitor keeps this variation.
    Variation(usize),
    /// The visitor holds an assignment from a version below `minBucketVersion`: they
    /// leave the experiment.
    Blocked,
}

/// GrowthBook's `getStickyBucketVariation`. The fallback attribute's document is read
/// first and the hash attribute's overrides it, so after login the known identity's
/// assignment wins over the anonymous one.
pub(crate) fn sticky_bucket(experiment: &Experiment, context: &ExperimentContext) -> StickyBucket {
    let assignments = merged_assignments(experiment, context);
    let blocked = (0..experiment.min_bucket_version)
        .any(|version| assignments.contains_key(assignment_key(&experiment.key, version).as_str()));
    if blocked {
        return StickyBucket::Blocked;
    }
    let current = assignment_key(&experiment.key, experiment.bucket_version);
    let Some(variation_key) = assignments.get(current.as_str()) else {
        return StickyBucket::None;
    };
    // An assignment naming no current variation is treated as none.
    experiment
        .meta
        .iter()
        .position(|meta| meta.key.as_deref() == Some(*variation_key))
        .map_or(StickyBucket::None, StickyBucket::Variation)
}

fn merged_assignments<'c>(
    experiment: &Experiment,
    context: &'c ExperimentContext,
) -> BTreeMap<&'c str, &'c str> {
    let Some(docs) = &context.sticky_bucket_assignment_docs else {
        return BTreeMap::new();
    };
    let hashed = context.hash_attribute(experiment.hash_attribute.as_deref(), None);
    let hashed_key = storage_key(&hashed.name, &hashed.as_sticky_key());
    // As in the SDK, an absent fallback attribute reads `id`.
    let fallback = context.hash_attribute(experiment.fallback_attribute.as_deref(), None);
    let fallback_key = fallback
        .is_usable()
        .then(|| storage_key(&fallback.name, &fallback.as_sticky_key()));
    let mut merged = BTreeMap::new();
    for key in fallback_key.iter().chain([&hashed_key]) {
        if let Some(doc) = docs.get(key) {
            merged.extend(
                doc.assignments
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            );
        }
    }
    merged
}

/// GrowthBook's `generateStickyBucketAssignmentDoc`: the document for the attribute that
/// was hashed, with this experiment's assignment added. `None` when nothing changed, so
/// the caller only writes when it must.
pub(crate) fn updated_document(
    experiment: &Experiment,
    context: &ExperimentContext,
    hashed: &HashAttribute<'_>,
    variation_key: &str,
) -> Option<StickyBucketDocument> {
    let attribute_value = hashed.as_sticky_key();
    let key = storage_key(&hashed.name, &attribute_value);
    let mut assignments = context
        .sticky_bucket_assignment_docs
        .as_ref()
        .and_then(|docs| docs.get(&key))
        .map(|doc| doc.assignments.clone())
        .unwrap_or_default();
    let previous = assignments.insert(
        assignment_key(&experiment.key, experiment.bucket_version),
        variation_key.to_string(),
    );
    (previous.as_deref() != Some(variation_key)).then(|| StickyBucketDocument {
        attribute_name: hashed.name.clone(),
        attribute_value,
        assignments,
    })
}
