//! Experiments: A/B/n tests and the deterministic assignment of visitors to variations,
//! compatible with GrowthBook.
//!
//! Assignment is a pure function of the experiment, the visitor's attributes and (with
//! sticky bucketing) their stored assignments: no clock, no randomness, no I/O. So every
//! node, before and after a restart, puts a visitor in the same variation, and so does any
//! GrowthBook SDK given the same definition. GrowthBook's cross-SDK suite (`cases.json`)
//! checks it: `tests/growthbook_experiments.rs`.
//!
//! - [`definition`]: the [`Experiment`] and its save-time [`Experiment::validate`].
//! - [`context`]: the visitor and request ([`ExperimentContext`]).
//! - [`run`](run::run): GrowthBook's `runExperiment`, giving an [`ExperimentResult`].
//! - [`hash`](hash::hash), [`buckets`], [`namespace`], [`query_string`], [`sticky`]: its parts.

pub mod buckets;
pub mod context;
pub mod definition;
pub mod hash;
pub mod namespace;
pub mod query_string;
pub mod run;
pub mod sticky;

pub use buckets::{BucketRange, choose_variation, get_bucket_ranges, get_equal_weights};
pub use context::{ExperimentContext, PrerequisiteFeature, StickyBucketDocument};
pub use definition::{
    Experiment, ExperimentStatus, Filter, ParentCondition, VariationMeta, validate_namespaces,
};
pub use hash::hash;
pub use namespace::{Namespace, in_namespace};
pub use query_string::get_query_string_override;
pub use run::{Assignment, ExperimentResult, assign, run};
pub use sticky::sticky_bucket_keys;
