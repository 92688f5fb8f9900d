//! The CLV models on the CDNOW cohort from `../shared/data/cdnow`: the calibration summary
//! rebuilt from the transactions must match the summary shipped with `lifetimes`, and the fits
//! must land on the published parameters (Fader, Hardie & Lee 2005; Fader & Hardie 2013) to 3
//! significant digits.

mod cdnow;

use tailor_ml::clv::summary::summarize;
use tailor_ml::clv::{BgNbd, GammaGamma, ParetoNbd};

/// Relative agreement to 3 significant digits: within half a unit of the third digit.
fn assert_three_digits(name: &str, actual: f64, published: f64) {
    let relative = (actual - published).abs() / published.abs();
    assert!(
        relative < 5e-3,
        "{name}: fitted {actual:.6}, published {published} (relative difference {relative:.2e})"
    );
}

#[test]
fn bgnbd_reproduces_the_published_fit() {
    let Some(customers) = cdnow::published_summary() else {
        return;
    };
    let model = BgNbd::fit(&customers).expect("BG/NBD fits CDNOW");
    assert_three_digits("r", model.r, 0.2426);
    assert_three_digits("alpha", model.alpha, 4.4136);
    assert_three_digits("a", model.a, 0.7929);
    assert_three_digits("b", model.b, 2.4259);
    assert_three_digits("log-likelihood", model.log_likelihood, -9582.43);
}

#[test]
fn pareto_nbd_reproduces_the_published_fit() {
    let Some(customers) = cdnow::published_summary() else {
        return;
    };
    let model = ParetoNbd::fit(&customers).expect("Pareto/NBD fits CDNOW");
    assert_three_digits("r", model.r, 0.5533);
    assert_three_digits("alpha", model.alpha, 10.5776);
    assert_three_digits("s", model.s, 0.6062);
    assert_three_digits("beta", model.beta, 11.6679);
    assert_three_digits("log-likelihood", model.log_likelihood, -9594.97);
}

#[test]
fn gamma_gamma_reproduces_the_published_fit() {
    let Some(customers) = cdnow::published_summary() else {
        return;
    };
    let model = GammaGamma::fit(&customers).expect("Gamma-Gamma fits CDNOW");
    assert_eq!(
        model.customers,
        customers.iter().filter(|c| c.frequency > 0).count()
    );
    assert_three_digits("p", model.p, 6.2488);
    assert_three_digits("q", model.q, 3.7446);
    assert_three_digits("gamma", model.gamma, 15.4477);
}

/// The cohort's transactions (`CDNOW_sample.txt`) summarised through 1997-09-30 in weeks give
/// the published summary: same customers, same repeat counts, recency, T and mean repeat
/// spend up to the file's rounding to cents / hundredths of a week.
#[test]
fn summary_of_the_cohort_transactions_matches_the_published_summary() {
    let (Some(published), Some(transactions)) =
        (cdnow::published_summary(), cdnow::sample_transactions())
    else {
        return;
    };
    let summary = summarize(&transactions, cdnow::day_number(1997, 9, 30), 7.0);
    assert_eq!(summary.skipped_negative_amounts, 0);
    assert_eq!(summary.zero_amounts, 8, "the cohort's free orders");
    assert_eq!(summary.customers.len(), published.len());
    for (ours, theirs) in summary.customers.iter().zip(&published) {
        assert_eq!(ours.customer, theirs.customer);
        assert_eq!(
            ours.frequency, theirs.frequency,
            "customer {}",
            ours.customer
        );
        assert!(
            (ours.recency - theirs.recency).abs() <= 0.005 + 1e-9,
            "{ours:?} {theirs:?}"
        );
        assert!(
            (ours.age - theirs.age).abs() <= 0.005 + 1e-9,
            "{ours:?} {theirs:?}"
        );
        assert!(
            (ours.monetary_value - theirs.monetary_value).abs() <= 0.005 + 1e-9,
            "{ours:?} {theirs:?}"
        );
    }
}
