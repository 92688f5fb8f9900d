//! The likelihood fits' driver (`fit_positive_parameters`: BFGS from `quasi_newton`,
//! falling back to Nelder–Mead) and a small Nelder–Mead minimiser, enough for the 3–4
//! parameter likelihoods here (the models fit log-parameters, so the search space is
//! unbounded). Hand-written to keep `tailor-ml` free of dependencies; Nelder–Mead restarts
//! from its best point until a restart no longer improves, the standard guard against a
//! simplex that collapsed early.

pub use super::minimum::Minimum;
use super::quasi_newton::bfgs;

/// Stopping rule and budget.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Stop when the simplex's values differ by at most this much…
    pub value_tolerance: f64,
    /// …and its vertices by at most this much in every coordinate.
    pub point_tolerance: f64,
    /// Size of the first simplex along each axis.
    pub initial_step: f64,
    pub max_evaluations: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            value_tolerance: 1e-10,
            point_tolerance: 1e-6,
            initial_step: 0.5,
            max_evaluations: 5_000,
        }
    }
}

/// Size of the simplex of a restart (log-parameters: ±2 %).
const RESTART_STEP: f64 = 0.02;

/// Minimises `f` from `start`. Non-finite values count as +∞, so an objective can reject a
/// point by returning NaN.
pub fn nelder_mead(f: impl Fn(&[f64]) -> f64, start: &[f64], settings: Settings) -> Minimum {
    let mut best = Minimum {
        point: start.to_vec(),
        value: f64::INFINITY,
        evaluations: 0,
        converged: false,
    };
    let mut step = settings.initial_step;
    loop {
        let budget = settings.max_evaluations.saturating_sub(best.evaluations);
        let run = one_run(&f, &best.point, step, settings, budget);
        let improvement = best.value - run.value;
        let evaluations = best.evaluations + run.evaluations;
        best = Minimum { evaluations, ..run };
        if !best.converged || improvement.abs() <= settings.value_tolerance {
            return best;
        }
        // A restart only checks that the simplex did not collapse early, so it looks closely
        // around the optimum: a small simplex settles in ~100 evaluations instead of ~200.
        step = RESTART_STEP;
    }
}

fn one_run(
    f: &impl Fn(&[f64]) -> f64,
    start: &[f64],
    step: f64,
    settings: Settings,
    budget: usize,
) -> Minimum {
    let objective = |x: &[f64]| {
        let value = f(x);
        if value.is_finite() {
            value
        } else {
            f64::INFINITY
        }
    };
    let n = start.len();
    let mut evaluations = 0;
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
    simplex.push((start.to_vec(), objective(start)));
    for i in 0..n {
        let mut vertex = start.to_vec();
        vertex[i] += step;
        let value = objective(&vertex);
        simplex.push((vertex, value));
    }
    evaluations += n + 1;
    // Standard coefficients: reflection 1, expansion 2, contraction ½, shrink ½.
    let along = |centroid: &[f64], worst: &[f64], t: f64| -> Vec<f64> {
        centroid
            .iter()
            .zip(worst)
            .map(|(c, w)| c + t * (c - w))
            .collect()
    };
    loop {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let settled = simplex[n].1 - simplex[0].1 <= settings.value_tolerance
            && simplex.iter().skip(1).all(|(vertex, _)| {
                vertex
                    .iter()
                    .zip(&simplex[0].0)
                    .all(|(a, b)| (a - b).abs() <= settings.point_tolerance)
            });
        if settled || evaluations >= budget {
            let (point, value) = simplex.swap_remove(0);
            return Minimum {
                point,
                value,
                evaluations,
                converged: settled && value.is_finite(),
            };
        }
        let mut centroid = vec![0.0; n];
        for (vertex, _) in &simplex[..n] {
            for (c, v) in centroid.iter_mut().zip(vertex) {
                *c += v / n as f64;
            }
        }
        let worst = simplex[n].clone();
        let reflected = along(&centroid, &worst.0, 1.0);
        let reflected_value = objective(&reflected);
        evaluations += 1;
        if reflected_value < simplex[0].1 {
            let expanded = along(&centroid, &worst.0, 2.0);
            let expanded_value = objective(&expanded);
            evaluations += 1;
            simplex[n] = if expanded_value < reflected_value {
                (expanded, expanded_value)
            } else {
                (reflected, reflected_value)
            };
            continue;
        }
        if reflected_value < simplex[n - 1].1 {
            simplex[n] = (reflected, reflected_value);
            continue;
        }
        // Contract towards the better of the worst point and its reflection.
        let (t, reference) = if reflected_value < worst.1 {
            (0.5, reflected_value)
        } else {
            (-0.5, worst.1)
        };
        let contracted = along(&centroid, &worst.0, t);
        let contracted_value = objective(&contracted);
        evaluations += 1;
        if contracted_value < reference {
            simplex[n] = (contracted, contracted_value);
            continue;
        }
        let best_vertex = simplex[0].0.clone();
        for (vertex, value) in simplex.iter_mut().skip(1) {
            for (v, b) in vertex.iter_mut().zip(&best_vertex) {
                *v = b + 0.5 * (*v - b);
            }
            *value = objective(vertex);
        }
        evaluations += n;
    }
}

/// Maximum-likelihood fit of a model with positive parameters, given the mean log-likelihood
/// and its gradient with respect to the parameters: minimises the negative over
/// log-parameters (BFGS, else Nelder–Mead) from the first start, falling back to the next
/// ones only if it does not converge (a flat ridge, e.g. BG/NBD's a and b on sparse data):
/// on CDNOW every start reaches the same optimum, so trying all of them would only double the
/// cost.
pub(crate) fn fit_positive_parameters(
    model: &'static str,
    starts: &[Vec<f64>],
    mean_log_likelihood_and_gradient: impl Fn(&[f64]) -> (f64, Vec<f64>),
) -> Result<Vec<f64>, super::ClvError> {
    let objective_and_gradient = |log_parameters: &[f64]| {
        // Parameters beyond e^±30 are degenerate (a boundary optimum of a data set too small
        // or too regular); rejecting them keeps the search bounded.
        if log_parameters.iter().any(|p| p.abs() > 30.0) {
            return (f64::NAN, vec![f64::NAN; log_parameters.len()]);
        }
        let parameters: Vec<f64> = log_parameters.iter().map(|p| p.exp()).collect();
        let (value, gradient) = mean_log_likelihood_and_gradient(&parameters);
        // d/d ln θ = θ d/dθ, negated with the likelihood.
        let gradient = gradient
            .iter()
            .zip(&parameters)
            .map(|(g, p)| -g * p)
            .collect();
        (-value, gradient)
    };
    let objective = |log_parameters: &[f64]| objective_and_gradient(log_parameters).0;
    let mut evaluations = 0;
    for start in starts {
        let log_start: Vec<f64> = start.iter().map(|p| p.ln()).collect();
        // BFGS first (several times fewer evaluations); Nelder–Mead, which needs no
        // smoothness, when BFGS does not reach a small gradient.
        let attempts: [&dyn Fn() -> Minimum; 2] =
            [&|| bfgs(objective_and_gradient, &log_start), &|| {
                nelder_mead(objective, &log_start, Settings::default())
            }];
        for attempt in attempts {
            let minimum = attempt();
            evaluations += minimum.evaluations;
            if minimum.converged {
                return Ok(minimum.point.iter().map(|p| p.exp()).collect());
            }
        }
    }
    if evaluations > 0 {
        Err(super::ClvError::NotConverged { model, evaluations })
    } else {
        Err(super::ClvError::NonFiniteLikelihood { model })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rosenbrock_minimum() {
        let rosenbrock = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
        let minimum = nelder_mead(rosenbrock, &[-1.2, 1.0], Settings::default());
        assert!(minimum.converged);
        assert!((minimum.point[0] - 1.0).abs() < 1e-6, "{minimum:?}");
        assert!((minimum.point[1] - 1.0).abs() < 1e-6, "{minimum:?}");
    }

    #[test]
    fn reports_an_exhausted_budget_and_survives_nan() {
        let settings = Settings {
            max_evaluations: 10,
            ..Settings::default()
        };
        let minimum = nelder_mead(|x| (x[0] - 3.0).powi(2), &[0.0], settings);
        assert!(!minimum.converged);
        let nowhere = nelder_mead(|_| f64::NAN, &[0.0, 0.0], Settings::default());
        assert!(!nowhere.converged && nowhere.value.is_infinite());
    }
}
