//! `tailor report experiment ID`: an experiment's results from a running server, as a table
//! (or the raw JSON). The server computes them (`GET /v1/experiments/{id}/results`); this
//! only asks and prints, so it works against any node without touching its data directory.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::server::runtime;

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(subcommand)]
    what: ReportCommand,
}

#[derive(Subcommand, Debug)]
enum ReportCommand {
    /// Per variation and metric: value, lift over the control with its 95% interval and
    /// p-value, the always-valid (sequential) p-value, the chance to win, and the
    /// sample-ratio check.
    Experiment(ExperimentArgs),
}

#[derive(Args, Debug)]
struct ExperimentArgs {
    /// The experiment's id.
    id: String,
    /// The server to ask.
    #[arg(long, env = "TAILOR_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The admin key (`demo-keys.json` holds the demo's).
    #[arg(long, env = "TAILOR_ADMIN_KEY", hide_env_values = true)]
    admin_key: String,
    /// Print the server's JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let ReportCommand::Experiment(args) = args.what;
    let url = format!(
        "{}/v1/experiments/{}/results",
        args.url.trim_end_matches('/'),
        args.id
    );
    let results: Value = runtime()?.block_on(async {
        let response = reqwest::Client::new()
            .get(&url)
            .bearer_auth(&args.admin_key)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("{url} did not answer JSON"))?;
        if !status.is_success() {
            bail!(
                "{url}: {status}: {}",
                body["error"]["message"].as_str().unwrap_or("error")
            );
        }
        Ok(body)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    print!("{}", table(&results));
    Ok(())
}

/// The results as text.
fn table(r: &Value) -> String {
    let mut out = String::new();
    let variations: Vec<String> = r["variations"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|v| {
                    format!(
                        "{} {} ({:.0}%)",
                        v["id"].as_str().unwrap_or("?"),
                        v["units"],
                        100.0 * v["weight"].as_f64().unwrap_or(0.0)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out += &format!(
        "Experiment {} on {} ({}): {} units — {}\n",
        r["experiment"].as_str().unwrap_or("?"),
        r["placement"].as_str().unwrap_or("?"),
        r["status"].as_str().unwrap_or("?"),
        r["units"],
        variations.join(", ")
    );
    match r["srm"]["mismatch"].as_bool() {
        Some(true) => {
            out += &format!(
                "WARNING: sample ratio mismatch (p = {}): assignment is broken; do not trust these results\n",
                r["srm"]["pValue"]
            )
        }
        Some(false) => out += &format!("Sample ratio: ok (p = {})\n", r["srm"]["pValue"]),
        None => out += &format!("Sample ratio: {}\n", r["srm"]["error"]),
    }
    out += &format!(
        "\n{:<26} {:<14} {:>7} {:>11} {:>9} {:>21} {:>8} {:>8} {:>8}\n",
        "metric", "variation", "units", "value", "lift", "95% interval", "p", "p (seq)", "P(win)"
    );
    let Some(metrics) = r["metrics"].as_object() else {
        return out;
    };
    for (name, rows) in metrics {
        for row in rows.as_array().into_iter().flatten() {
            let f = &row["frequentist"];
            let pct = |v: &Value| {
                v.as_f64()
                    .map_or("—".to_string(), |x| format!("{:+.1}%", 100.0 * x))
            };
            let num = |v: &Value| v.as_f64().map_or("—".to_string(), |x| format!("{x:.4}"));
            let interval = if f["ci"].is_array() {
                format!("[{}, {}]", pct(&f["ci"][0]), pct(&f["ci"][1]))
            } else {
                "—".into()
            };
            out += &format!(
                "{:<26} {:<14} {:>7} {:>11} {:>9} {:>21} {:>8} {:>8} {:>8}{}\n",
                name,
                row["variation"].as_str().unwrap_or("?"),
                row["units"].to_string(),
                num(&row["value"]),
                pct(&f["lift"]),
                interval,
                num(&f["pValue"]),
                num(&row["sequential"]["pValue"]),
                num(&row["bayesian"]["chanceToWin"]),
                f["issue"]
                    .as_str()
                    .map(|i| format!("  ({i})"))
                    .unwrap_or_default()
            );
        }
    }
    out
}
