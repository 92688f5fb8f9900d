//! What `tailor demo` prints when it is done: the URLs, the keys, what was built, and how
//! to try it.

use std::net::SocketAddr;
use std::path::Path;

use serde_json::Value;

use crate::files::{DemoKeys, KEYS_FILE, Summary, TRUTH_FILE};
use crate::journeys;

/// Prints the report to stdout; `addr` is where the demo serves, if it does.
pub fn print(addr: Option<SocketAddr>, dir: &Path, keys: &DemoKeys, s: &Summary, reused: bool) {
    let n = |k: &str| s.funnel.get(k).and_then(Value::as_u64).unwrap_or(0);
    println!();
    if reused {
        println!("Tailor demo (built {}).", s.completed_at);
    } else {
        println!("Tailor demo built in {:.1} s.", s.seconds);
    }
    match addr {
        Some(addr) => {
            println!("  Storefront:  http://{addr}/");
            println!(
                "  Console:     http://{addr}/console  (sign in with the admin key, or the analyst key for reports without personal data)"
            );
        }
        None => println!(
            "  Not serving (--no-serve). Serve it with: tailor demo --data {}",
            dir.display()
        ),
    }
    println!(
        "  Write key:   {}  (public: the storefront's pages)",
        keys.write_key
    );
    println!(
        "  Server key:  {}  (secret: the store's backend)",
        keys.server_key
    );
    println!("  Admin key:   {}", keys.admin_key);
    if !keys.analyst_key.is_empty() {
        println!("  Analyst key: {}", keys.analyst_key);
    }
    println!(
        "  Built:       {} products in {} categories, {} content items, {} events from {} shoppers over {} days ({} profiles)",
        s.products, s.categories, s.content, s.events, s.shoppers, s.days, s.profiles
    );
    println!(
        "  Funnel:      {} product views, {} adds, {} checkouts, {} orders",
        n("product_views"),
        n("product_adds"),
        n("checkouts"),
        n("orders")
    );
    if !s.journeys.is_null() {
        println!("  Journeys:    {}", journeys::line(&s.journeys));
    }
    println!(
        "  Files:       {} ({KEYS_FILE}: keys, {TRUTH_FILE}: the shoppers' hidden preferences)",
        dir.display()
    );
    if let Some(addr) = addr {
        println!("Try:");
        println!(
            "  curl -H \"Authorization: Bearer {}\" http://{addr}/v1/profiles/user-1",
            keys.admin_key
        );
        println!("Serving until Ctrl-C.");
    }
}

/// The version in one line, for the demo's summary.
pub fn models_line(v: &Value) -> String {
    let e = &v["evaluation"];
    let mut parts = vec![format!(
        "version {} trained in {:.1} s",
        v["version"],
        v["seconds"].as_f64().unwrap_or(0.0)
    )];
    for (name, key) in [
        ("session intent", "purchase_intent_session"),
        ("7-day intent", "purchase_intent_7d"),
    ] {
        if !e[key].is_null() {
            parts.push(format!(
                "{name} AUC {} (recency/frequency {})",
                num(&e[key]["auc"], 2),
                num(&e[key]["baseline"]["auc"], 2)
            ));
        }
    }
    let h = &e["lifetime_value"]["holdout"];
    if !h["predicted_total"].is_null() {
        parts.push(format!(
            "BG/NBD next {} weeks {} orders (actual {})",
            h["weeks"],
            num(&h["predicted_total"], 0),
            num(&h["actual_total"], 0)
        ));
    }
    if !e["next_categories"].is_null() {
        let n = &e["next_categories"];
        parts.push(format!(
            "next categories recall@3 {} (popularity {})",
            num(&n["recall_at_3"], 2),
            num(&n["baseline"]["recall_at_3"], 2)
        ));
    }
    if !e["send_time"]["hit_rate"].is_null() {
        let st = &e["send_time"];
        parts.push(format!(
            "send hour {} (fixed {})",
            num(&st["hit_rate"], 2),
            num(&st["baseline"]["hit_rate"], 2)
        ));
    }
    let f = &e["forecast"];
    if !f["orders_wape"]["model"].is_null() {
        parts.push(format!(
            "4-week category forecast WAPE {} (naive {})",
            percent(&f["orders_wape"]["model"]),
            percent(&f["orders_wape"]["baseline"])
        ));
    }
    if let Some(skipped) = v["skipped"].as_array().filter(|s| !s.is_empty()) {
        let names: Vec<&str> = skipped.iter().filter_map(|s| s["model"].as_str()).collect();
        parts.push(format!("not trained: {}", names.join(", ")));
    }
    parts.join("; ")
}

fn num(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "—".to_string(), |x| format!("{x:.digits$}"))
}

fn percent(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "—".to_string(), |x| format!("{:.1}%", 100.0 * x))
}
