//! Learning policies for placements: beside the rules, a placement can let a bandit choose
//! among its eligible candidates (banners, promotions, checkout variants) and learn from the
//! rewards joined to its decisions (`tailor_ml::bandits`).
//!
//! `{"policy": {"kind": "thompson", "reward": "click", "exploration": 0.05}}` on a placement:
//! Beta-Bernoulli Thompson sampling per candidate. `{"kind": "linucb", "alpha": 1.0}`: a
//! contextual policy over the visitor's features ([`features`]). Every decision logs the
//! propensity of what it showed. Showings count as non-rewards at once; a click (a
//! `Promotion Clicked` naming the decision and the item) or a conversion (an attributed
//! `Order Completed`) turns them into rewards when it arrives, within the attribution window.
//! The state is checkpointed with the profiles and restored on start, so policies survive
//! restarts (a crash loses at most one checkpoint interval of learning).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tailor_core::Message;
use tailor_ml::bandits::{BetaArm, BetaThompson, Choice, LinArm, LinUcb, Rng, SplitMix};

/// What a learning placement counts as success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RewardKind {
    /// A click on the shown item (`Promotion Clicked` / `Product Clicked` naming the decision).
    Click,
    /// An order attributed to the decision.
    Conversion,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum LearningPolicy {
    Thompson {
        reward: RewardKind,
        #[serde(default = "default_exploration")]
        exploration: f64,
    },
    Linucb {
        reward: RewardKind,
        #[serde(default = "default_exploration")]
        exploration: f64,
        #[serde(default = "default_alpha")]
        alpha: f64,
    },
}

fn default_exploration() -> f64 {
    0.05
}

fn default_alpha() -> f64 {
    1.0
}

impl LearningPolicy {
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let (exploration, alpha) = match *self {
            LearningPolicy::Thompson { exploration, .. } => (exploration, 0.0),
            LearningPolicy::Linucb {
                exploration, alpha, ..
            } => (exploration, alpha),
        };
        if !(exploration > 0.0 && exploration <= 1.0) {
            problems.push(format!(
                "policy `exploration` must be in (0, 1] so every candidate keeps a chance, got {exploration}"
            ));
        }
        if !(alpha.is_finite() && alpha >= 0.0) {
            problems.push(format!("policy `alpha` must be ≥ 0, got {alpha}"));
        }
        problems
    }

    pub fn reward(&self) -> RewardKind {
        match *self {
            LearningPolicy::Thompson { reward, .. } | LearningPolicy::Linucb { reward, .. } => {
                reward
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            LearningPolicy::Thompson { .. } => "thompson",
            LearningPolicy::Linucb { .. } => "linucb",
        }
    }
}

/// A decision a learning placement made, kept until its reward window closes.
#[derive(Debug, Clone)]
pub struct Learned {
    pub placement: String,
    pub arm: String,
    pub features: Vec<f64>,
}

/// One placement's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PlacementState {
    /// Thompson: per candidate, (successes, failures).
    #[serde(default)]
    beta: HashMap<String, (f64, f64)>,
    /// LinUCB: per candidate, (A row-major, b, showings).
    #[serde(default)]
    lin: HashMap<String, (Vec<f64>, Vec<f64>, u64)>,
}

/// Decisions awaiting rewards by id, and their ids oldest first.
type Pending = (HashMap<String, Vec<Learned>>, VecDeque<String>);

/// How many decisions are remembered for rewards (oldest forgotten first).
const PENDING: usize = 200_000;

thread_local! {
    static RNG: RefCell<SplitMix> = RefCell::new(SplitMix({
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        u64::from_le_bytes(seed)
    }));
}

/// The placements that learn, with their policies.
pub type LearningPlacements = Arc<Vec<(String, LearningPolicy)>>;

/// Every learning placement's state, and the decisions awaiting rewards.
#[derive(Default)]
pub struct Policies {
    /// Which placements learn and how; replaced whenever the placements are saved.
    placements: RwLock<LearningPlacements>,
    state: Mutex<HashMap<String, PlacementState>>,
    pending: Mutex<Pending>,
    dirty: AtomicBool,
}

impl Policies {
    pub fn restore(json: Option<&str>) -> Result<Self, serde_json::Error> {
        let state = match json {
            Some(j) => serde_json::from_str(j)?,
            None => HashMap::new(),
        };
        Ok(Self {
            state: Mutex::new(state),
            ..Default::default()
        })
    }

    /// Sets which placements learn, and how (at start and whenever placements are saved).
    pub fn set_placements(&self, placements: Vec<(String, LearningPolicy)>) {
        *self.placements.write() = Arc::new(placements);
    }

    pub fn placements(&self) -> LearningPlacements {
        self.placements.read().clone()
    }

    /// The state to checkpoint, if it changed since the last call.
    pub fn take_snapshot(&self) -> Option<String> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return None;
        }
        serde_json::to_string(&*self.state.lock()).ok()
    }

    pub fn snapshot(&self) -> String {
        serde_json::to_string(&*self.state.lock()).unwrap_or_default()
    }

    /// Chooses among `candidates` (ids) for `placement` with `policy`; `x` gives each
    /// candidate's features (LinUCB). The caller logs the choice's propensity.
    pub fn choose(
        &self,
        placement: &str,
        policy: &LearningPolicy,
        candidates: &[String],
        x: &[Vec<f64>],
    ) -> Choice {
        let state = self.state.lock();
        let s = state.get(placement);
        RNG.with(|rng| {
            let rng: &mut dyn Rng = &mut *rng.borrow_mut();
            match *policy {
                LearningPolicy::Thompson { exploration, .. } => {
                    let arms: Vec<BetaArm> = candidates
                        .iter()
                        .map(|c| {
                            let (successes, failures) =
                                s.and_then(|s| s.beta.get(c)).copied().unwrap_or((0.0, 0.0));
                            BetaArm {
                                successes,
                                failures,
                            }
                        })
                        .collect();
                    BetaThompson {
                        epsilon: exploration,
                        ..Default::default()
                    }
                    .choose(&arms, rng)
                }
                LearningPolicy::Linucb {
                    exploration, alpha, ..
                } => {
                    let d = x.first().map_or(0, Vec::len);
                    let arms: Vec<LinArm> = candidates
                        .iter()
                        .map(|c| match s.and_then(|s| s.lin.get(c)) {
                            Some((a, b, n)) if b.len() == d => LinArm {
                                a: a.clone(),
                                b: b.clone(),
                                showings: *n,
                            },
                            _ => LinArm::new(d),
                        })
                        .collect();
                    let refs: Vec<&LinArm> = arms.iter().collect();
                    LinUcb {
                        alpha,
                        epsilon: exploration,
                    }
                    .choose(&refs, x, rng)
                }
            }
        })
    }

    /// Learns from a decision's showings (as non-rewards for now) and remembers them for
    /// the rewards to come.
    pub fn shown(&self, decision_id: &str, learned: Vec<Learned>) {
        let policies = self.placements();
        {
            let mut state = self.state.lock();
            for l in &learned {
                let Some((_, policy)) = policies.iter().find(|(p, _)| *p == l.placement) else {
                    continue;
                };
                let s = state.entry(l.placement.clone()).or_default();
                match policy {
                    LearningPolicy::Thompson { .. } => {
                        let e = s.beta.entry(l.arm.clone()).or_insert((0.0, 0.0));
                        e.1 += 1.0;
                    }
                    LearningPolicy::Linucb { .. } => {
                        let d = l.features.len();
                        let e = s.lin.entry(l.arm.clone()).or_insert_with(|| {
                            let arm = LinArm::new(d);
                            (arm.a, arm.b, 0)
                        });
                        if e.1.len() == d {
                            let mut arm = LinArm {
                                a: std::mem::take(&mut e.0),
                                b: std::mem::take(&mut e.1),
                                showings: e.2,
                            };
                            arm.shown(&l.features);
                            *e = (arm.a, arm.b, arm.showings);
                        }
                    }
                }
            }
        }
        self.dirty.store(true, Ordering::Release);
        let mut pending = self.pending.lock();
        let (by_id, order) = &mut *pending;
        by_id.insert(decision_id.to_string(), learned);
        order.push_back(decision_id.to_string());
        while order.len() > PENDING {
            if let Some(old) = order.pop_front() {
                by_id.remove(&old);
            }
        }
    }

    /// Turns a showing into a reward when `m`, joined to `decision_id`, is one the
    /// placement's policy counts: a click naming the shown item, or a conversion. Each
    /// showing is rewarded at most once.
    pub fn rewarded(&self, decision_id: &str, m: &Message) {
        let policies = self.placements();
        if policies.is_empty() {
            return;
        }
        let event = m.event.as_deref().unwrap_or_default();
        let clicked: Vec<&str> = ["promotion_id", "content_id", "product_id", "id", "variant"]
            .iter()
            .filter_map(|k| m.properties.get(*k).and_then(Value::as_str))
            .collect();
        let mut pending = self.pending.lock();
        let Some(learned) = pending.0.get_mut(decision_id) else {
            return;
        };
        let mut state = self.state.lock();
        learned.retain(|l| {
            let Some((_, policy)) = policies.iter().find(|(p, _)| *p == l.placement) else {
                return true;
            };
            let earned = match policy.reward() {
                RewardKind::Click => {
                    matches!(event, "Promotion Clicked" | "Product Clicked")
                        && clicked.contains(&l.arm.as_str())
                }
                RewardKind::Conversion => event == "Order Completed",
            };
            if !earned {
                return true;
            }
            let s = state.entry(l.placement.clone()).or_default();
            match policy {
                LearningPolicy::Thompson { .. } => {
                    let mut arm =
                        s.beta
                            .get(&l.arm)
                            .map_or(BetaArm::default(), |&(a, b)| BetaArm {
                                successes: a,
                                failures: b,
                            });
                    arm.rewarded();
                    s.beta.insert(l.arm.clone(), (arm.successes, arm.failures));
                }
                LearningPolicy::Linucb { .. } => {
                    if let Some(e) = s.lin.get_mut(&l.arm)
                        && e.1.len() == l.features.len()
                    {
                        for (b, x) in e.1.iter_mut().zip(&l.features) {
                            *b += x;
                        }
                    }
                }
            }
            false
        });
        self.dirty.store(true, Ordering::Release);
    }

    /// What each learning placement has learned, for people (`GET /v1/placements/{id}/policy`):
    /// candidate → what it was shown and earned.
    pub fn summary(&self, placement: &str) -> BTreeMap<String, CandidateSummary> {
        let state = self.state.lock();
        let Some(s) = state.get(placement) else {
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for (arm, &(successes, failures)) in &s.beta {
            let a = BetaArm {
                successes,
                failures,
            };
            out.insert(
                arm.clone(),
                CandidateSummary::Beta {
                    showings: successes + failures,
                    rewards: successes,
                    posterior_mean: a.mean(),
                },
            );
        }
        for (arm, (_, b, showings)) in &s.lin {
            out.insert(
                arm.clone(),
                CandidateSummary::Linear {
                    showings: *showings,
                    reward_weight: b.clone(),
                },
            );
        }
        out
    }
}

/// What one candidate of a learning placement has learned.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum CandidateSummary {
    /// Thompson sampling: showings, rewards and the posterior mean reward.
    #[serde(rename_all = "camelCase")]
    Beta {
        showings: f64,
        rewards: f64,
        posterior_mean: f64,
    },
    /// LinUCB: showings and the reward weights per feature.
    #[serde(rename_all = "camelCase")]
    Linear {
        showings: u64,
        reward_weight: Vec<f64>,
    },
}

/// A learning placement's policy and what it has learned (`Engine::policy_summary`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicySummary {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub policy: Option<LearningPolicy>,
    pub candidates: BTreeMap<String, CandidateSummary>,
}
