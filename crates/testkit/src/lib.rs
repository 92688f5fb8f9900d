//! Test support for Tailor's own tests (dev only, never published).
//!
//! - [`switch`] decides whether slow and external tests run (`TAILOR_EXTERNAL_TESTS=1`) and
//!   finds `../shared/data`; it is the only part crates below the engine use.
//! - [`tools`] finds the external programs tests run (the project's Python environment).
//! - [`TestEngine`] is an engine over an in-memory store or a temporary SQLite directory,
//!   with a clock tests move ([`TestClock`]) and helpers that read like the HTTP API.
//! - [`messages`] builds Segment calls (`track(json!({…}))`) through the real parser.
//! - [`TestApp`] drives the whole router in-process; [`TestServer`] serves it on loopback
//!   for the few tests that need real connections.
//! - [`eventually`] waits for a condition with a deadline; `Engine::settle` replaces sleeps
//!   where the engine's own threads are what a test waits for.
//! - [`postgres::PgServer`] runs a real PostgreSQL server in a temporary directory for the
//!   tests of the PostgreSQL store (std only, so the store's own tests use it too).
//! - [`channels`] receives what journeys send: email (SMTP) and webhooks.

pub mod postgres;
pub mod switch;
pub mod tools;

pub use switch::{external, shared_data};

#[cfg(feature = "harness")]
mod app;
#[cfg(feature = "harness")]
pub mod channels;
#[cfg(feature = "harness")]
mod clock;
#[cfg(feature = "harness")]
mod engine;
#[cfg(feature = "harness")]
pub mod messages;
#[cfg(feature = "harness")]
mod scan;
#[cfg(feature = "harness")]
mod wait;

#[cfg(feature = "harness")]
pub use app::{Reply, Request, TestApp, TestServer};
#[cfg(feature = "harness")]
pub use clock::TestClock;
#[cfg(feature = "harness")]
pub use engine::{
    ADMIN_KEY, ANALYST_KEY, Builder, IDENTITY_SECRET, SERVER_KEY, TestEngine, WRITE_KEY,
    decide_reply,
};
#[cfg(feature = "harness")]
pub use messages::{alias, batch, group, identify, page, screen, track};
#[cfg(feature = "harness")]
pub use scan::byte_scan;
#[cfg(feature = "harness")]
pub use wait::{DEADLINE, eventually};
