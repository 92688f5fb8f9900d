//! The demo, the library behind `tailor demo`: a synthetic shop built through Tailor's public
//! API, and the storefront that shows it personalized.
//!
//! - [`run`] owns the command: the demo data directory and its keys, the server with the
//!   storefront merged in, the generated catalog (`catalog`), shoppers with hidden
//!   preferences (`shoppers`) and their seeded events (`simulate`, `random`) sent as an HTTP
//!   client (`client`), then live visits under an experiment (`live`) and journeys
//!   (`journeys`), and the printed report (`report`).
//! - [`storefront`] is the shop's pages, a `Router` for the server's router to merge; the
//!   server itself knows nothing of the demo.
//!
//! The same seed builds the same store and shoppers. Failures are an [`Error`], a message
//! for the person who ran the command with its causes.

mod catalog;
mod client;
mod command;
mod error;
mod files;
mod journeys;
mod live;
mod random;
mod report;
mod shoppers;
mod simulate;
mod storefront;

pub use command::{DEFAULT_DEMO_DATA, Options, run};
pub use error::Error;
pub use files::DemoKeys;
pub use storefront::storefront;
