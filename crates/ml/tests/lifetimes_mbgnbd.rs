//! MBG/NBD against `lifetimes`' ModifiedBetaGeoFitter on the CDNOW cohort, number for number.
//! `data/lifetimes_mbgnbd_cdnow.json` is written by `scripts/clv/lifetimes_mbgnbd_reference.py`
//! (lifetimes 0.11.3): the fitted parameters and log-likelihood, and for 198 customers spread
//! across the cohort P(alive) and expected purchases over 52 weeks. Same parameters → same
//! predictions to 1e-6 relative; our fit → lifetimes' fit to 1e-4.

mod cdnow;

use serde_json::Value;
use tailor_ml::clv::{CustomerSummary, ModifiedBgNbd, PurchaseModel};

fn reference() -> Value {
    serde_json::from_str(include_str!("data/lifetimes_mbgnbd_cdnow.json"))
        .expect("valid reference JSON")
}

fn number(value: &Value, key: &str) -> f64 {
    value[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key} in {value}"))
}

fn relative_difference(ours: f64, theirs: f64) -> f64 {
    (ours - theirs).abs() / theirs.abs().max(1e-12)
}

/// Checks every reference prediction; returns the largest relative difference.
fn check_predictions(model: &ModifiedBgNbd, reference: &Value, tolerance: f64) -> f64 {
    let horizon = number(reference, "horizon_weeks");
    let customers = reference["customers"].as_array().expect("customers");
    assert!(customers.len() >= 150, "too few reference customers");
    let mut worst: f64 = 0.0;
    for expected in customers {
        let customer = CustomerSummary {
            customer: expected["id"].as_u64().expect("id"),
            frequency: expected["x"].as_u64().expect("x") as u32,
            recency: number(expected, "t_x"),
            age: number(expected, "T"),
            monetary_value: 0.0,
        };
        for (name, ours) in [
            ("p_alive", model.probability_alive(&customer)),
            ("expected_52", model.expected_purchases(&customer, horizon)),
        ] {
            let theirs = number(expected, name);
            let difference = relative_difference(ours, theirs);
            assert!(
                difference <= tolerance,
                "customer {}: {name} {ours} vs lifetimes {theirs} ({difference:.2e})",
                customer.customer
            );
            worst = worst.max(difference);
        }
    }
    worst
}

#[test]
fn same_parameters_give_lifetimes_predictions() {
    let Some(customers) = cdnow::published_summary() else {
        return;
    };
    let reference = reference();
    let m = &reference["mbgnbd"];
    let model = ModifiedBgNbd::with_parameters(
        number(m, "r"),
        number(m, "alpha"),
        number(m, "a"),
        number(m, "b"),
        &customers,
    )
    .expect("valid summaries");
    let worst = check_predictions(&model, &reference, 1e-6);
    eprintln!("largest relative difference with lifetimes' parameters: {worst:.2e}");
    let loglik = relative_difference(model.log_likelihood, number(m, "loglik"));
    assert!(loglik <= 1e-9, "log-likelihood: {loglik:.2e}");
}

#[test]
fn our_fit_matches_lifetimes_fit() {
    let Some(customers) = cdnow::published_summary() else {
        return;
    };
    let reference = reference();
    let model = ModifiedBgNbd::fit(&customers).expect("MBG/NBD fits CDNOW");
    let m = &reference["mbgnbd"];
    for (name, ours) in [
        ("r", model.r),
        ("alpha", model.alpha),
        ("a", model.a),
        ("b", model.b),
        ("loglik", model.log_likelihood),
    ] {
        let difference = relative_difference(ours, number(m, name));
        assert!(
            difference <= 1e-4,
            "{name}: {ours} vs {} ({difference:.2e})",
            number(m, name)
        );
    }
    let worst = check_predictions(&model, &reference, 1e-4);
    eprintln!("largest relative difference with our own fit: {worst:.2e}");
}
