//! The figures README.md and BENCHMARKS.md quote from evaluations are the ones
//! `scripts/readme-figures.sh` wrote to `scripts/readme-figures/` by running the commands
//! printed beside them. Each quoted line is rendered here from those files, and the document
//! must hold it as rendered: a figure edited by hand, or a file regenerated without updating
//! the document, fails.
//! (`scripts/readme-figures.sh --check`, in `scripts/tour.sh`, reruns the evaluation and
//! fails when its figures moved.)

use serde_json::Value;

/// `{/json/pointer:format}` in `template` becomes the figure, formatted: `.3` (decimals),
/// `%1` (a share as a percentage with 1 decimal), `,` (an integer with thousands
/// separators), `-.2` (decimals, with a typographic minus).
pub fn render(template: &str, figures: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| format!("unclosed {{ in {template}"))?;
        let spec = &rest[open + 1..open + close];
        let (pointer, format) = spec.split_once(':').unwrap_or((spec, ""));
        let value = figures
            .pointer(pointer)
            .ok_or_else(|| format!("{pointer} is not in the figures file"))?;
        let x = value.as_f64();
        let text = match (format, x) {
            ("", _) => value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string),
            (",", Some(x)) => thousands(x.round() as i64),
            (f, Some(x)) if f.starts_with('%') => {
                let digits: usize = f[1..].parse().map_err(|_| format!("bad format {f}"))?;
                format!("{:.digits$}%", 100.0 * x)
            }
            (f, Some(x)) if f.starts_with("-.") => {
                let digits: usize = f[2..].parse().map_err(|_| format!("bad format {f}"))?;
                format!("{x:.digits$}").replace('-', "−")
            }
            (f, Some(x)) if f.starts_with('.') => {
                let digits: usize = f[1..].parse().map_err(|_| format!("bad format {f}"))?;
                format!("{x:.digits$}")
            }
            (f, None) => return Err(format!("{pointer} is not a number (format {f})")),
            (f, _) => return Err(format!("bad format {f}")),
        };
        out.push_str(&text);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Each line of README.md that quotes `tailor eval intent` on the default demo's history.
const EVAL_INTENT: &[&str] = &[
    "live phase; {/data/events:,} events; about 2 s; the figures are `scripts/readme-figures/eval-intent.json`, which",
    "| order within the session ({/propensity/session/examples:,} sessions, {/propensity/session/positive_rate:%1} order) | AUC · log loss · calibration error | {/propensity/session/model/auc:.3} · {/propensity/session/model/log_loss:.3} · {/propensity/session/model/calibration_error:.3} | recency/frequency {/propensity/session/baseline/auc:.3} · {/propensity/session/baseline/log_loss:.3} · {/propensity/session/baseline/calibration_error:.3} |",
    "| order within 7 days ({/propensity/seven_day/examples:,} customer-weeks, {/propensity/seven_day/positive_rate:%1} order) | AUC · log loss · calibration error | {/propensity/seven_day/model/auc:.3} · {/propensity/seven_day/model/log_loss:.3} · {/propensity/seven_day/model/calibration_error:.3} | recency/frequency {/propensity/seven_day/baseline/auc:.3} · {/propensity/seven_day/baseline/log_loss:.3} · {/propensity/seven_day/baseline/calibration_error:.3} |",
    "| new category within 14 days ({/next_category/customers:,} customers; the served model) | recall@3 | {/next_category/model/recall@3:.3} | popularity {/next_category/baseline/recall@3:.3} |",
    "| email open time ({/send_time/opens:,} opens by {/send_time/customers:,} customers) | opens within ±1 h · mean log-likelihood | {/send_time/model/hit_rate:.3} · {/send_time/model/mean_log_likelihood:-.2} | one fixed hour of the week {/send_time/baseline/hit_rate:.3} · {/send_time/baseline/mean_log_likelihood:-.2} |",
    "| orders per category and week ({/data/categories} × {/forecast/weeks}) | WAPE · MAPE | {/forecast/orders_wape/model:%1} · {/forecast/orders_mape/model:%1} | naive last 4 weeks {/forecast/orders_wape/baseline:%1} · {/forecast/orders_mape/baseline:%1} |",
    "| revenue per category and week | WAPE · MAPE | {/forecast/revenue_wape/model:%1} · {/forecast/revenue_mape/model:%1} | {/forecast/revenue_wape/baseline:%1} · {/forecast/revenue_mape/baseline:%1} |",
    "| *against the hidden truth:* send hour within ±1 h of the shopper's reading hour ({/truth/send_hour_within_1h_of_reading_hour/shoppers} shoppers) | share | {/truth/send_hour_within_1h_of_reading_hour/model:.3} | fixed time {/truth/send_hour_within_1h_of_reading_hour/baseline:.3} |",
    "| *against the hidden truth:* category taken up after the cut in the top 3 ({/truth/new_interest_in_top_3/shoppers} shoppers) | share | {/truth/new_interest_in_top_3/model:.3} | popularity {/truth/new_interest_in_top_3/baseline:.3} |",
    "model chose popularity weight {/next_category/popularity_weight} on this build. The similar-customers signal, which is not served (it",
    "scans every customer per prediction), scores {/next_category/similar_customers/recall@3:.3} beside it (neighbour weight {/next_category/similar_customers/neighbour_weight}).",
];

/// Each line of README.md that quotes `tailor train` on the default demo's history: the
/// tour's output block and the tables of "Predictions".
const TRAIN: &[&str] = &[
    "Model version [..] — {/events} events, {/people} people, trained in [..] s on events from [..] to [..]",
    "Purchase intent (this session): test {/evaluation/purchase_intent_session/test} examples ({/evaluation/purchase_intent_session/test_positives} positive), trained on {/evaluation/purchase_intent_session/train}",
    "Purchase intent (7 days): test {/evaluation/purchase_intent_7d/test} examples ({/evaluation/purchase_intent_7d/test_positives} positive), trained on {/evaluation/purchase_intent_7d/train}",
    "Lifetime value: {/evaluation/lifetime_value/buyers} buyers ({/evaluation/lifetime_value/repeat_buyers} repeat); BG/NBD r {/evaluation/lifetime_value/bgnbd/r:.4} α {/evaluation/lifetime_value/bgnbd/alpha:.3} a {/evaluation/lifetime_value/bgnbd/a:.4} b {/evaluation/lifetime_value/bgnbd/b:.4}",
    "  next {/evaluation/lifetime_value/holdout/weeks} weeks, {/evaluation/lifetime_value/holdout/customers} customers: actual {/evaluation/lifetime_value/holdout/actual_total:.0} orders; BG/NBD {/evaluation/lifetime_value/holdout/predicted_total:.1} (MAE {/evaluation/lifetime_value/holdout/mae:.3}); MBG/NBD {/evaluation/lifetime_value/holdout/mbgnbd/predicted_total:.1} (MAE {/evaluation/lifetime_value/holdout/mbgnbd/mae:.3}); past repeat rate {/evaluation/lifetime_value/holdout/baseline/predicted_total:.1} (MAE {/evaluation/lifetime_value/holdout/baseline/mae:.3})",
    "  serving {/evaluation/lifetime_value/model} (the lower hold-out error)",
    "Next categories (14 days, {/evaluation/next_categories/customers_scored} customers who found a new one): recall@3 {/evaluation/next_categories/recall_at_3:.3} vs popularity {/evaluation/next_categories/baseline/recall_at_3:.3}",
    "Send time ({/evaluation/send_time/people} people, {/evaluation/send_time/opens} opens): held-out opens within ±{/evaluation/send_time/radius_hours} h of the chosen hour {/evaluation/send_time/hit_rate:.3} vs one fixed hour {/evaluation/send_time/baseline/hit_rate:.3}",
    "Forecast per category, 4 weeks from [..] ({/evaluation/forecast/customers} customers + newcomers) vs naive (mean of the 4 weeks before)",
    "  orders WAPE {/evaluation/forecast/orders_wape/model:%1} vs {/evaluation/forecast/orders_wape/baseline:%1} naive, revenue WAPE {/evaluation/forecast/revenue_wape/model:%1} vs {/evaluation/forecast/revenue_wape/baseline:%1}; MAPE orders {/evaluation/forecast/orders_mape/model:%1} vs {/evaluation/forecast/orders_mape/baseline:%1}, revenue {/evaluation/forecast/revenue_mape/model:%1} vs {/evaluation/forecast/revenue_mape/baseline:%1}",
    "| order this visit ({/evaluation/purchase_intent_session/test:,} moments in the last week, {/derived/session_positive_rate:%1} order) | AUC {/evaluation/purchase_intent_session/auc:.3}, log loss {/evaluation/purchase_intent_session/log_loss:.3} | recency/frequency {/evaluation/purchase_intent_session/baseline/auc:.3}, {/evaluation/purchase_intent_session/baseline/log_loss:.3} |",
    "| order within 7 days ({/evaluation/purchase_intent_7d/test:,} people, {/derived/seven_day_positive_rate:%1}) | AUC {/evaluation/purchase_intent_7d/auc:.3}, log loss {/evaluation/purchase_intent_7d/log_loss:.3} | recency/frequency {/evaluation/purchase_intent_7d/baseline/auc:.3}, {/evaluation/purchase_intent_7d/baseline/log_loss:.3} |",
    "| repeat orders in the last 4 weeks, refitted 4 weeks back ({/evaluation/lifetime_value/holdout/customers:,} buyers, {/evaluation/lifetime_value/holdout/actual_total:,} actual) | BG/NBD {/evaluation/lifetime_value/holdout/predicted_total:.1} predicted, MAE {/evaluation/lifetime_value/holdout/mae:.3}; MBG/NBD {/evaluation/lifetime_value/holdout/mbgnbd/predicted_total:.1}, MAE {/evaluation/lifetime_value/holdout/mbgnbd/mae:.3} | past repeat rate {/evaluation/lifetime_value/holdout/baseline/predicted_total:.1}, MAE {/evaluation/lifetime_value/holdout/baseline/mae:.3} |",
    "| new (leaf) category in 14 days, recall@3 ({/evaluation/next_categories/customers_scored:,} people) | {/evaluation/next_categories/recall_at_3:.3} | popularity {/evaluation/next_categories/baseline/recall_at_3:.3} |",
    "| held-out opens within ±1 h of the chosen hour (last 14 days) | {/evaluation/send_time/hit_rate:.3} | one fixed hour {/evaluation/send_time/baseline/hit_rate:.3} |",
    "| 4 weeks × {/derived/forecast_categories} categories ({/derived/forecast_actual_orders:,} category orders) | Tailor | naive |",
    "| orders WAPE | {/evaluation/forecast/orders_wape/model:%1} | {/evaluation/forecast/orders_wape/baseline:%1} |",
    "| revenue WAPE | {/evaluation/forecast/revenue_wape/model:%1} | {/evaluation/forecast/revenue_wape/baseline:%1} |",
    "| orders MAPE | {/evaluation/forecast/orders_mape/model:%1} | {/evaluation/forecast/orders_mape/baseline:%1} |",
    "| revenue MAPE | {/evaluation/forecast/revenue_mape/model:%1} | {/evaluation/forecast/revenue_mape/baseline:%1} |",
    "| category orders forecast in total | {/derived/forecast_model_orders:,} | {/derived/forecast_naive_orders:,} |",
    "Tailor's orders WAPE is the lower in {/derived/forecast_model_wins} of the {/derived/forecast_categories} categories (most: {/derived/forecast_best_win/category} {/derived/forecast_best_win/model:%0} vs",
    "{/derived/forecast_best_win/naive:%0}); the naive one in {/derived/forecast_naive_wins} (most: {/derived/forecast_worst_loss/category}: naive {/derived/forecast_worst_loss/naive:%0}, Tailor {/derived/forecast_worst_loss/model:%0}). The demo's store grows through",
    "  model                     {/evaluation/purchase_intent_session/auc:.3}    {/evaluation/purchase_intent_session/log_loss:.4}",
    "  recency/frequency         {/evaluation/purchase_intent_session/baseline/auc:.3}    {/evaluation/purchase_intent_session/baseline/log_loss:.4}",
    "  calibration error {/evaluation/purchase_intent_session/calibration_error:.4}",
    "  model                     {/evaluation/purchase_intent_7d/auc:.3}    {/evaluation/purchase_intent_7d/log_loss:.4}",
    "  recency/frequency         {/evaluation/purchase_intent_7d/baseline/auc:.3}    {/evaluation/purchase_intent_7d/baseline/log_loss:.4}",
    "  calibration error {/evaluation/purchase_intent_7d/calibration_error:.4}",
    "On the default demo's history (5,000 shoppers, 60 days, {/events:,} events; the figures are `scripts/readme-figures/train.json`,",
];

/// Lines of README.md quoting `tailor eval recs` on the shared YOOCHOOSE sample.
const EVAL_RECS: &[&str] = &[
    "| pop | {/models/pop/hr@20:.4} | {/models/pop/mrr@20:.4} | 0.089 / 0.026 |",
    "| sr | {/models/sr/hr@20:.4} | {/models/sr/mrr@20:.4} | 0.618 / 0.352 |",
    "| vsknn | {/models/vsknn/hr@20:.4} | {/models/vsknn/mrr@20:.4} | 0.688 / 0.367 |",
    "| tailor | **{/models/tailor/hr@20:.4}** | **{/models/tailor/mrr@20:.4}** | (V-STAN 0.686 / 0.375) |",
];

/// Lines of BENCHMARKS.md quoting `tailor eval ope` on the shared Open Bandit sample.
const EVAL_OPE: &[&str] = &[
    "| IPW | **{/ipw:.6}** | [{/ci95/ipw/0:.6}, {/ci95/ipw/1:.6}] | {/relative_error/ipw:.3} | 0.004553 | 0.084 |",
    "| SNIPW | {/snipw:.6} | [{/ci95/snipw/0:.6}, {/ci95/snipw/1:.6}] | {/relative_error/snipw:.3} | — | — |",
    "| DM | **{/dm:.6}** | [{/ci95/dm/0:.6}, {/ci95/dm/1:.6}] | {/relative_error/dm:.3} | 0.003385 | 0.194 |",
    "| DR | **{/dr:.6}** | [{/ci95/dr/0:.6}, {/ci95/dr/1:.6}] | {/relative_error/dr:.3} | 0.004647 | 0.106 |",
    "- The weights leave an effective sample size of {/effective_sample_size:,} of {/rounds:,} rounds. The paired lift of BTS over the random",
    "| **12345** | **0.1** | **{/tailor_policy/ipw:.4}** | [{/tailor_policy/ci95/ipw/0:-.4}, {/tailor_policy/ci95/ipw/1:.4}] | {/tailor_policy/snipw:.4} | {/tailor_policy/dr:.4} | [{/tailor_policy/ci95/dr/0:-.4}, {/tailor_policy/ci95/dr/1:.4}] | {/tailor_policy/effective_sample_size:,} | 2 |",
];

/// Every figures file, the document quoting it, and the lines quoted.
const QUOTED: &[(&str, &str, &[&str])] = &[
    ("eval-intent.json", "README.md", EVAL_INTENT),
    ("train.json", "README.md", TRAIN),
    ("eval-recs.json", "README.md", EVAL_RECS),
    ("eval-ope.json", "BENCHMARKS.md", EVAL_OPE),
];

#[test]
fn the_documents_quote_the_generated_evaluation_figures() {
    let root = tailor_testkit::tools::project_root();
    for (file, document, templates) in QUOTED {
        let text = std::fs::read_to_string(root.join(document)).expect("the document");
        let path = root.join("scripts/readme-figures").join(file);
        let figures =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let figures: Value = serde_json::from_str(&figures).expect("the figures file is JSON");
        for template in *templates {
            let line = render(template, &figures).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(
                text.lines().any(|l| l == line),
                "{document} should quote, as `bash scripts/readme-figures.sh` generated it in {file}:\n{line}"
            );
        }
    }
}

#[test]
fn figures_render_as_the_readme_prints_them() {
    let figures = serde_json::json!({"a": {"auc": 0.82345, "share": 0.0574, "n": 15624, "ll": -2.4123, "name": "x"}});
    let line = render(
        "{/a/auc:.3} · {/a/share:%1} · {/a/n:,} · {/a/ll:-.2} · {/a/name}",
        &figures,
    );
    assert_eq!(line.as_deref(), Ok("0.823 · 5.7% · 15,624 · −2.41 · x"));
    assert!(render("{/missing:.3}", &figures).is_err());
}
