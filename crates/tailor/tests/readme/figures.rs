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
const TRAIN: &[&str] = &[];

/// Lines of README.md quoting `tailor eval recs` on the shared YOOCHOOSE sample.
const EVAL_RECS: &[&str] = &[];

/// Lines of BENCHMARKS.md quoting `tailor eval ope` on the shared Open Bandit sample.
const EVAL_OPE: &[&str] = &[];

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
