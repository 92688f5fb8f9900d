//! Bandit policies that learn which candidate of a placement to show, and say with what
//! probability they showed it (the propensity off-policy evaluation needs).
//!
//! - [`BetaThompson`]: Thompson sampling with a Beta-Bernoulli posterior per candidate
//!   (clicks or conversions per showing).
//! - [`LinUcb`]: a contextual policy, LinUCB with one ridge regression per candidate
//!   (Li et al., "A contextual-bandit approach to personalized news article
//!   recommendation", WWW 2010).
//!
//! Both mix in an exploration floor ε: with probability ε the candidate is drawn uniformly,
//! so every candidate keeps a propensity of at least ε/K. The propensity of LinUCB's choice
//! is exact: `(1 − ε)·[a = argmax] + ε/K`. Thompson sampling's is estimated by Monte Carlo:
//! the share of `samples` posterior draws the chosen candidate wins, mixed with the floor.
//!
//! Learning is split in two so rewards can arrive later: [`BetaArm::shown`] /
//! [`LinArm::shown`] count a showing as a non-reward at once, and `rewarded` turns it into
//! a reward when the click or order arrives (Beta: one failure becomes a success; LinUCB:
//! `b += x`, as `A` does not depend on the reward).
//!
//! Randomness comes in through [`Rng`], so callers control seeding and tests are exact.

use crate::linear::algebra::{Cholesky, dot, identity};

/// A source of uniform numbers in [0, 1).
pub trait Rng {
    fn uniform(&mut self) -> f64;
}

/// SplitMix64: small, fast and good enough for sampling decisions (not for secrets).
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl Rng for SplitMix {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn normal(rng: &mut dyn Rng) -> f64 {
    // Box–Muller.
    let u1 = rng.uniform().max(f64::MIN_POSITIVE);
    let u2 = rng.uniform();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A Gamma(shape, 1) draw (Marsaglia & Tsang, 2000).
fn gamma(shape: f64, rng: &mut dyn Rng) -> f64 {
    if shape < 1.0 {
        // Boost: Gamma(a) = Gamma(a + 1) · U^(1/a).
        let u = rng.uniform().max(f64::MIN_POSITIVE);
        return gamma(shape + 1.0, rng) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = rng.uniform().max(f64::MIN_POSITIVE);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// A Beta(a, b) draw.
pub fn beta(a: f64, b: f64, rng: &mut dyn Rng) -> f64 {
    let x = gamma(a, rng);
    let y = gamma(b, rng);
    if x + y > 0.0 { x / (x + y) } else { 0.5 }
}

/// A choice and its propensity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    pub index: usize,
    pub propensity: f64,
}

/// Mixes a policy's choice with the uniform exploration floor: draws uniformly with
/// probability `epsilon`, else takes `greedy`.
fn with_floor(k: usize, epsilon: f64, greedy: usize, rng: &mut dyn Rng) -> usize {
    if rng.uniform() < epsilon {
        ((rng.uniform() * k as f64) as usize).min(k - 1)
    } else {
        greedy
    }
}

/// Successes and failures of one candidate (posterior Beta(1 + successes, 1 + failures)).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BetaArm {
    pub successes: f64,
    pub failures: f64,
}

/// Beta-Bernoulli Thompson sampling over the candidates a caller names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaThompson {
    pub epsilon: f64,
    /// Posterior draws used to estimate the propensity.
    pub samples: usize,
}

impl Default for BetaThompson {
    fn default() -> Self {
        Self {
            epsilon: 0.05,
            samples: 200,
        }
    }
}

impl BetaThompson {
    /// Chooses among `arms` (the candidates' current counts).
    ///
    /// # Panics
    /// With no arms.
    pub fn choose(&self, arms: &[BetaArm], rng: &mut dyn Rng) -> Choice {
        let k = arms.len();
        assert!(k > 0, "a choice needs candidates");
        let draw = |rng: &mut dyn Rng| {
            let mut best = (0, f64::MIN);
            for (i, a) in arms.iter().enumerate() {
                let x = beta(1.0 + a.successes, 1.0 + a.failures, rng);
                if x > best.1 {
                    best = (i, x);
                }
            }
            best.0
        };
        let greedy = draw(rng);
        let index = with_floor(k, self.epsilon, greedy, rng);
        // P(index wins a posterior draw), estimated; the actual draw counts as one sample.
        let mut wins = usize::from(greedy == index);
        for _ in 1..self.samples.max(1) {
            wins += usize::from(draw(rng) == index);
        }
        let p_ts = wins as f64 / self.samples.max(1) as f64;
        Choice {
            index,
            propensity: (1.0 - self.epsilon) * p_ts + self.epsilon / k as f64,
        }
    }
}

impl BetaArm {
    /// Counts a showing as a failure until a reward says otherwise.
    pub fn shown(&mut self) {
        self.failures += 1.0;
    }

    /// The showing earned a reward after all.
    pub fn rewarded(&mut self) {
        self.successes += 1.0;
        self.failures = (self.failures - 1.0).max(0.0);
    }

    pub fn mean(&self) -> f64 {
        (1.0 + self.successes) / (2.0 + self.successes + self.failures)
    }
}

/// One candidate's ridge regression: `A = I + Σ x xᵀ` (row-major d×d), `b = Σ r x`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinArm {
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    pub showings: u64,
}

impl LinArm {
    pub fn new(d: usize) -> Self {
        Self {
            a: identity(d),
            b: vec![0.0; d],
            showings: 0,
        }
    }

    pub fn dim(&self) -> usize {
        self.b.len()
    }

    pub fn shown(&mut self, x: &[f64]) {
        let d = self.dim();
        for i in 0..d {
            for j in 0..d {
                self.a[i * d + j] += x[i] * x[j];
            }
        }
        self.showings += 1;
    }

    pub fn rewarded(&mut self, x: &[f64], reward: f64) {
        for (b, xi) in self.b.iter_mut().zip(x) {
            *b += reward * xi;
        }
    }

    /// θᵀx + α·sqrt(xᵀA⁻¹x), solving A·y = x and A·θ = b by Cholesky (A is SPD).
    fn ucb(&self, x: &[f64], alpha: f64) -> f64 {
        let Some(cholesky) = Cholesky::factor(&self.a, self.dim()) else {
            return f64::MIN;
        };
        let theta = cholesky.solve(&self.b);
        let y = cholesky.solve(x);
        let mean = dot(&theta, x);
        let var = dot(&y, x);
        mean + alpha * var.max(0.0).sqrt()
    }
}

/// LinUCB with an exploration floor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinUcb {
    pub alpha: f64,
    pub epsilon: f64,
}

impl Default for LinUcb {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            epsilon: 0.05,
        }
    }
}

impl LinUcb {
    /// Chooses among `arms` for the visitor whose feature vector (per candidate: the
    /// context can depend on the candidate) is `x[i]`.
    ///
    /// # Panics
    /// With no arms, or a feature vector of the wrong length.
    pub fn choose(&self, arms: &[&LinArm], x: &[Vec<f64>], rng: &mut dyn Rng) -> Choice {
        let k = arms.len();
        assert!(k > 0 && x.len() == k, "one feature vector per candidate");
        let greedy = (0..k)
            .map(|i| (i, arms[i].ucb(&x[i], self.alpha)))
            .fold((0, f64::MIN), |best, c| if c.1 > best.1 { c } else { best })
            .0;
        let index = with_floor(k, self.epsilon, greedy, rng);
        let floor = self.epsilon / k as f64;
        Choice {
            index,
            propensity: if index == greedy {
                1.0 - self.epsilon + floor
            } else {
                floor
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_draws_have_the_right_mean() {
        let mut rng = SplitMix(7);
        let n = 20_000;
        let mean = (0..n).map(|_| beta(3.0, 7.0, &mut rng)).sum::<f64>() / n as f64;
        assert!((mean - 0.3).abs() < 0.01, "{mean}");
        let small = (0..n).map(|_| beta(0.5, 0.5, &mut rng)).sum::<f64>() / n as f64;
        assert!((small - 0.5).abs() < 0.01, "{small}");
    }

    #[test]
    fn thompson_finds_the_better_arm_and_keeps_exploring() {
        let policy = BetaThompson::default();
        let mut rng = SplitMix(1);
        let mut arms = [BetaArm::default(); 3];
        let rates = [0.02, 0.10, 0.04];
        let mut pulls = [0usize; 3];
        for _ in 0..5_000 {
            let c = policy.choose(&arms, &mut rng);
            assert!(c.propensity >= policy.epsilon / 3.0 - 1e-12 && c.propensity <= 1.0);
            pulls[c.index] += 1;
            arms[c.index].shown();
            if rng.uniform() < rates[c.index] {
                arms[c.index].rewarded();
            }
        }
        assert!(pulls[1] > pulls[0] + pulls[2], "{pulls:?}");
        assert!(
            pulls[0] > 0 && pulls[2] > 0,
            "the floor keeps exploring: {pulls:?}"
        );
        assert!((arms[1].mean() - 0.10).abs() < 0.02, "{}", arms[1].mean());
    }

    #[test]
    fn linucb_learns_which_arm_suits_which_context() {
        let policy = LinUcb::default();
        let mut rng = SplitMix(3);
        let mut arms = [LinArm::new(2), LinArm::new(2)];
        // Context [1, is_returning]: arm 0 pays for newcomers, arm 1 for returning visitors.
        let pays = |arm: usize, returning: bool| (arm == 1) == returning;
        for t in 0..3_000 {
            let returning = t % 2 == 0;
            let x = vec![1.0, if returning { 1.0 } else { 0.0 }];
            let xs = vec![x.clone(), x.clone()];
            let refs: Vec<&LinArm> = arms.iter().collect();
            let c = policy.choose(&refs, &xs, &mut rng);
            arms[c.index].shown(&x);
            if pays(c.index, returning) && rng.uniform() < 0.3 {
                arms[c.index].rewarded(&x, 1.0);
            }
        }
        for returning in [false, true] {
            let x = vec![1.0, if returning { 1.0 } else { 0.0 }];
            let refs: Vec<&LinArm> = arms.iter().collect();
            let c = LinUcb {
                epsilon: 0.0,
                alpha: 0.0,
            }
            .choose(&refs, &[x.clone(), x], &mut rng);
            assert_eq!(c.index, usize::from(returning));
            assert_eq!(c.propensity, 1.0);
        }
        let refs: Vec<&LinArm> = arms.iter().collect();
        let c = policy.choose(&refs, &[vec![1.0, 0.0], vec![1.0, 0.0]], &mut rng);
        let floor = policy.epsilon / 2.0;
        assert!(c.propensity == floor || c.propensity == 1.0 - policy.epsilon + floor);
    }
}
