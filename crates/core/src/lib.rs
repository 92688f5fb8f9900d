//! Tailor's shared vocabulary: Segment Spec messages, the catalog, consent purposes, time,
//! targeting conditions and experiment assignment.
//!
//! Everything here is plain data plus validation. No I/O, no async, no clock reads
//! (time arrives through [`time::Clock`]); `heap` counts the allocator's live bytes.

pub mod catalog;
pub mod condition;
pub mod consent;
pub mod experiment;
pub mod heap;
pub mod message;
pub mod preferences;
pub mod time;
pub mod validate;

pub use catalog::{ContentItem, ContentKind, Product};
pub use consent::Purpose;
pub use message::{BatchEnvelope, InvalidMessage, Message, MessageType};
pub use time::{Clock, ManualClock, Millis, OffsetClock, SystemClock};
pub use validate::ValidationError;
