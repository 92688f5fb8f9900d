//! The decay functions session-rec's rules and neighbourhood models weight with, by its names
//! and with its exact formulas (quirks included: they decide which numbers get reproduced).

/// Weight of something `i ≥ 1` steps back: a rule a → b with b `i` clicks after a (sequential
/// rules), or a neighbour matched `i` clicks back in the current session (V-SKNN's
/// `weighting_score`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepWeighting {
    /// `1 - 0.1 i` (session-rec's formula: zero at 10 steps, negative beyond).
    Linear,
    /// 1.
    Same,
    /// `1 / i`.
    Div,
    /// `1 / log10(i + 1.7)`.
    Log,
    /// `1 / i²`.
    Quadratic,
}

impl StepWeighting {
    pub fn weight(self, steps: usize) -> f64 {
        let i = steps as f64;
        match self {
            Self::Linear => {
                if steps <= 100 {
                    1.0 - 0.1 * i
                } else {
                    0.0
                }
            }
            Self::Same => 1.0,
            Self::Div => 1.0 / i,
            Self::Log => 1.0 / (i + 1.7).log10(),
            Self::Quadratic => 1.0 / (i * i),
        }
    }
}

/// Weight of the click at 1-based position `i` of a session prefix of `length` clicks, in
/// V-SKNN's similarity (its `weighting`): later clicks count more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PositionWeighting {
    /// `1 - 0.1 (length - i)` for `i ≤ 10`, else 0 (session-rec's formula, which tests the
    /// position from the start, so clicks after the tenth weigh nothing).
    Linear,
    /// 1.
    Same,
    /// `i / length`.
    Div,
    /// `1 / log10(length - i + 1.7)`.
    Log,
    /// `(i / length)²`.
    Quadratic,
}

impl PositionWeighting {
    pub fn weight(self, position: usize, length: usize) -> f64 {
        let (i, n) = (position as f64, length as f64);
        match self {
            Self::Linear => {
                if position <= 10 {
                    1.0 - 0.1 * (n - i)
                } else {
                    0.0
                }
            }
            Self::Same => 1.0,
            Self::Div => i / n,
            Self::Log => 1.0 / (n - i + 1.7).log10(),
            Self::Quadratic => (i / n) * (i / n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_weightings_match_session_rec() {
        assert_eq!(StepWeighting::Div.weight(4), 0.25);
        assert_eq!(StepWeighting::Quadratic.weight(2), 0.25);
        assert!((StepWeighting::Linear.weight(3) - 0.7).abs() < 1e-12);
        assert_eq!(StepWeighting::Linear.weight(101), 0.0);
        assert_eq!(StepWeighting::Same.weight(9), 1.0);
        assert!((StepWeighting::Log.weight(1) - 1.0 / 2.7f64.log10()).abs() < 1e-12);
    }

    #[test]
    fn position_weightings_match_session_rec() {
        assert_eq!(PositionWeighting::Div.weight(1, 4), 0.25);
        assert_eq!(PositionWeighting::Div.weight(4, 4), 1.0);
        assert_eq!(PositionWeighting::Quadratic.weight(2, 4), 0.25);
        assert!((PositionWeighting::Linear.weight(3, 5) - 0.8).abs() < 1e-12);
        assert_eq!(PositionWeighting::Linear.weight(11, 11), 0.0);
        assert!((PositionWeighting::Log.weight(5, 5) - 1.0 / 1.7f64.log10()).abs() < 1e-12);
    }
}
