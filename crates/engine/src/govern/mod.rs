//! The rules around personal data: the consent policy and the one consent check
//! (`consent`), erasure's suppression records and the export document (`privacy`), how long
//! data is kept (`retention`), API keys (`keys`) and profile tokens (`tokens`).

pub mod consent;
pub mod keys;
pub mod privacy;
pub mod retention;
pub mod tokens;
