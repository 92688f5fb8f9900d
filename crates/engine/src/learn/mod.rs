//! What Tailor learns from events: product statistics and co-views (`recs`), the session
//! recommender (`session_model`), the placements' bandit policies (`policies`), and the
//! prediction models with their trainer (`predictions`).

pub mod policies;
pub mod predictions;
pub mod recs;
pub mod session_model;
