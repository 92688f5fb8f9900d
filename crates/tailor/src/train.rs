//! `tailor train`: trains a new version of the prediction models and prints how each scored
//! against its baseline on the newest period of the log (the per-category forecast against
//! the naive one on the last 4 weeks).
//!
//! With `--url` it asks a running server (`POST /v1/models/train`, then follows
//! `GET /v1/models`), which swaps the new version in when it is done. With `--data` it trains
//! on a data directory no server is using, and records the version there.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::server::runtime;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// A running server to train (default, at http://127.0.0.1:8080).
    #[arg(long, env = "TAILOR_URL", conflicts_with = "data")]
    url: Option<String>,
    /// The admin key (`demo-keys.json` holds the demo's).
    #[arg(long, env = "TAILOR_ADMIN_KEY", hide_env_values = true)]
    admin_key: Option<String>,
    /// Train on this data directory instead, with no server running on it.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Print the version record as JSON instead of tables.
    #[arg(long)]
    json: bool,
}

fn bar() -> ProgressBar {
    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:30} {percent:>3}% {msg} ({elapsed})")
            .expect("a valid template"),
    );
    bar
}

fn show(bar: &ProgressBar, training: &Value) {
    let fraction = training["progress"].as_f64().unwrap_or(0.0);
    bar.set_position((fraction * 1000.0) as u64);
    bar.set_message(training["phase"].as_str().unwrap_or("").to_string());
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let version = match &args.data {
        Some(dir) => train_offline(dir)?,
        None => train_remote(&args)?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&version)?);
    } else {
        print!("{}", report(&version));
    }
    Ok(())
}

fn train_offline(dir: &std::path::Path) -> anyhow::Result<Value> {
    if !dir.join("tailor.db").is_file() {
        bail!(
            "{} holds no Tailor store (no tailor.db); point --data at a directory `tailor serve` or `tailor demo` wrote",
            dir.display()
        );
    }
    let store = tailor_store::SqliteStore::open(dir)
        .with_context(|| format!("cannot open the store in {}", dir.display()))?;
    let options = tailor_engine::Options {
        models: tailor_engine::predictions::Schedule {
            at_start: false,
            every: None,
        },
        ..Default::default()
    };
    let (engine, _) =
        tailor_engine::Engine::open(Arc::new(store), Arc::new(tailor_core::SystemClock), options)
            .context("cannot open the data directory (is a server running on it?)")?;
    let worker = engine.clone();
    let job = std::thread::spawn(move || worker.train_models());
    let bar = bar();
    while !job.is_finished() {
        let (_, training) = engine.models();
        show(&bar, &serde_json::to_value(training)?);
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
    let version = job
        .join()
        .map_err(|_| anyhow::anyhow!("the trainer panicked"))?
        .context("training failed")?;
    runtime()?.block_on(engine.shutdown())?;
    Ok(serde_json::to_value(version)?)
}

fn train_remote(args: &TrainArgs) -> anyhow::Result<Value> {
    let base = args
        .url
        .as_deref()
        .unwrap_or("http://127.0.0.1:8080")
        .trim_end_matches('/')
        .to_string();
    let Some(key) = args.admin_key.clone() else {
        bail!(
            "--admin-key (or TAILOR_ADMIN_KEY) is needed to train a running server; or use --data DIR with the server stopped"
        );
    };
    runtime()?.block_on(async move {
        let client = reqwest::Client::new();
        let call = |request: reqwest::RequestBuilder| async {
            let response = request
                .bearer_auth(&key)
                .send()
                .await
                .with_context(|| format!("cannot reach {base}"))?;
            let status = response.status();
            let body: Value = response
                .json()
                .await
                .context("the server did not answer JSON")?;
            if !status.is_success() {
                bail!(
                    "{status}: {}",
                    body["error"]["message"].as_str().unwrap_or("error")
                );
            }
            Ok(body)
        };
        let before = call(client.get(format!("{base}/v1/models"))).await?;
        let last = before["versions"]
            .as_array()
            .and_then(|v| v.iter().filter_map(|v| v["version"].as_u64()).max())
            .unwrap_or(0);
        call(client.post(format!("{base}/v1/models/train"))).await?;
        let bar = bar();
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = call(client.get(format!("{base}/v1/models"))).await?;
            show(&bar, &now["training"]);
            if now["training"]["running"].as_bool() == Some(true) {
                continue;
            }
            bar.finish_and_clear();
            if let Some(v) = now["versions"]
                .as_array()
                .and_then(|v| v.iter().find(|v| v["version"].as_u64() > Some(last)))
            {
                return Ok(v.clone());
            }
            bail!(
                "training failed: {}",
                now["training"]["last_error"]
                    .as_str()
                    .unwrap_or("no reason given")
            );
        }
    })
}

fn num(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "—".to_string(), |x| format!("{x:.digits$}"))
}

fn percent(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "—".to_string(), |x| format!("{:.1}%", 100.0 * x))
}

/// The forecast's evaluation: overall, then per category (model vs naive).
fn forecast_report(f: &Value) -> String {
    if let Some(why) = f["skipped"].as_str() {
        return format!("Forecast per category: {why}\n\n");
    }
    let mut out = format!(
        "Forecast per category, {} weeks from {} ({} customers + newcomers) vs naive (mean of the 4 weeks before)\n  orders WAPE {} vs {} naive, revenue WAPE {} vs {}; MAPE orders {} vs {}, revenue {} vs {}\n",
        f["weeks"],
        f["cut"].as_str().unwrap_or("?"),
        f["customers"],
        percent(&f["orders_wape"]["model"]),
        percent(&f["orders_wape"]["baseline"]),
        percent(&f["revenue_wape"]["model"]),
        percent(&f["revenue_wape"]["baseline"]),
        percent(&f["orders_mape"]["model"]),
        percent(&f["orders_mape"]["baseline"]),
        percent(&f["revenue_mape"]["model"]),
        percent(&f["revenue_mape"]["baseline"]),
    );
    out += &format!(
        "  {:<28} {:>7} {:>7} {:>7} {:>9} {:>9}\n",
        "category", "orders", "model", "naive", "WAPE", "naive"
    );
    for c in f["categories"].as_array().into_iter().flatten() {
        out += &format!(
            "  {:<28} {:>7} {:>7} {:>7} {:>9} {:>9}\n",
            c["category"].as_str().unwrap_or("?"),
            num(&c["actual_orders"], 0),
            num(&c["model_orders"], 1),
            num(&c["baseline_orders"], 1),
            percent(&c["orders_wape"]["model"]),
            percent(&c["orders_wape"]["baseline"]),
        );
    }
    out + "\n"
}

/// The version's evaluation as text: each model next to its baseline.
pub fn report(v: &Value) -> String {
    let mut out = format!(
        "Model version {} — {} events, {} people, trained in {:.1} s on events from {} to {}\n\n",
        v["version"],
        v["events"],
        v["people"],
        v["seconds"].as_f64().unwrap_or(0.0),
        v["window"]["from"].as_str().unwrap_or("?"),
        v["window"]["to"].as_str().unwrap_or("?"),
    );
    let e = &v["evaluation"];
    for (name, key) in [
        ("Purchase intent (this session)", "purchase_intent_session"),
        ("Purchase intent (7 days)", "purchase_intent_7d"),
    ] {
        let m = &e[key];
        if m.is_null() {
            continue;
        }
        out += &format!(
            "{name}: test {} examples ({} positive), trained on {}\n  {:<22} {:>8} {:>9}\n  {:<22} {:>8} {:>9}\n  {:<22} {:>8} {:>9}\n  calibration error {}\n\n",
            m["test"],
            m["test_positives"],
            m["train"],
            "",
            "AUC",
            "log loss",
            "model",
            num(&m["auc"], 3),
            num(&m["log_loss"], 4),
            "recency/frequency",
            num(&m["baseline"]["auc"], 3),
            num(&m["baseline"]["log_loss"], 4),
            num(&m["calibration_error"], 4),
        );
    }
    let clv = &e["lifetime_value"];
    if !clv.is_null() {
        out += &format!(
            "Lifetime value: {} buyers ({} repeat); BG/NBD r {} α {} a {} b {}\n",
            clv["buyers"],
            clv["repeat_buyers"],
            num(&clv["bgnbd"]["r"], 4),
            num(&clv["bgnbd"]["alpha"], 3),
            num(&clv["bgnbd"]["a"], 4),
            num(&clv["bgnbd"]["b"], 4),
        );
        let h = &clv["holdout"];
        if let Some(why) = h["skipped"].as_str() {
            out += &format!("  hold-out not scored: {why}\n");
        } else if !h.is_null() {
            out += &format!(
                "  next {} weeks, {} customers: actual {} orders; BG/NBD {} (MAE {}); MBG/NBD {} (MAE {}); past repeat rate {} (MAE {})\n",
                h["weeks"],
                h["customers"],
                num(&h["actual_total"], 0),
                num(&h["predicted_total"], 1),
                num(&h["mae"], 3),
                num(&h["mbgnbd"]["predicted_total"], 1),
                num(&h["mbgnbd"]["mae"], 3),
                num(&h["baseline"]["predicted_total"], 1),
                num(&h["baseline"]["mae"], 3),
            );
        }
        out += &format!(
            "  serving {} (the lower hold-out error)\n",
            clv["model"].as_str().unwrap_or("-")
        );
        out += "\n";
    }
    let nc = &e["next_categories"];
    if !nc.is_null() {
        out += &format!(
            "Next categories (14 days, {} customers who found a new one): recall@3 {} vs popularity {}\n\n",
            nc["customers_scored"],
            num(&nc["recall_at_3"], 3),
            num(&nc["baseline"]["recall_at_3"], 3),
        );
    }
    let st = &e["send_time"];
    if !st.is_null() {
        out += &format!(
            "Send time ({} people, {} opens): held-out opens within ±{} h of the chosen hour {} vs one fixed hour {}\n\n",
            st["people"],
            st["opens"],
            st["radius_hours"],
            num(&st["hit_rate"], 3),
            num(&st["baseline"]["hit_rate"], 3),
        );
    }
    if !e["forecast"].is_null() {
        out += &forecast_report(&e["forecast"]);
    }
    if let Some(skipped) = v["skipped"].as_array().filter(|s| !s.is_empty()) {
        out += "Not trained:\n";
        for s in skipped {
            out += &format!(
                "  {}: {}\n",
                s["model"].as_str().unwrap_or("?"),
                s["reason"].as_str().unwrap_or("?")
            );
        }
    }
    out
}
