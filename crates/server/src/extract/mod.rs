//! Extractors: what a handler's signature asks of a request, checked before its body runs.
//!
//! - [`Authorized<P>`](auth::Authorized): a key the [`Policy`](auth::Policy) `P` admits
//!   ([`Admin`](auth::Admin), [`Analyst`](auth::Analyst), [`Write`](auth::Write));
//!   [`Shopper`](auth::Shopper): a profile token (`/v1/me*`); [`KeyInPath<P>`](auth::KeyInPath):
//!   a key in the URL (analytics.js's settings document).
//! - [`SegmentMessage`](segment::SegmentMessage), [`SegmentBatch`](segment::SegmentBatch):
//!   Segment's tracking bodies, whose write key may travel in the body.
//! - [`Inbound`](inbound::Inbound): a provider's webhook that knows the inbound secret.
//! - [`ApiJson<T>`](json::ApiJson), [`ApiQuery<T>`](json::ApiQuery),
//!   [`Definition<T>`](json::Definition): typed bodies and query strings whose errors name
//!   the field path.
//!
//! Every rejection is an [`ApiError`](crate::ApiError), so it leaves in the API's error shape.

pub mod auth;
pub mod inbound;
pub mod json;
pub mod segment;

pub use auth::{Admin, Analyst, Authorized, Browser, KeyInPath, Server, Shopper, Write};
pub use inbound::Inbound;
pub use json::{ApiJson, ApiQuery, Definition};
pub use segment::{SegmentBatch, SegmentMessage};
