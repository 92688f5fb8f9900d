//! `decide` load from outside the process: `wrk` (Debian's package) against the bench's
//! server, with a Lua script cycling through the run's visitors. The client then takes its
//! own share of the 2 cores, as an external load balancer or storefront would.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::error::Error;

/// What wrk measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct WrkResult {
    pub requests_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Responses that were not 2xx or 3xx.
    pub errors: u64,
}

/// Whether `wrk` can be run.
pub fn available() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
}

/// Runs `wrk -t1 -c{connections} -d{duration}` against `base`'s `POST /v1/decide` for
/// `placements`, cycling through `ids` (anonymousIds) with the server key `key`.
pub fn decide_load(
    dir: &Path,
    base: &str,
    key: &str,
    ids: &[String],
    placements: &[&str],
    connections: usize,
    duration: Duration,
) -> Result<WrkResult, Error> {
    let script = dir.join("decide.lua");
    let mut lua = String::from("local ids = {\n");
    for id in ids.iter().take(20_000) {
        lua.push_str(&format!("  {id:?},\n"));
    }
    let placements = serde_json::to_string(placements)?;
    lua.push_str(&format!(
        "}}\nlocal n = 0\nlocal headers = {{[\"Content-Type\"] = \"application/json\", [\"Authorization\"] = \"Bearer {key}\"}}\n\
         request = function()\n  n = n + 1\n  local body = '{{\"anonymousId\":\"' .. ids[(n % #ids) + 1] .. '\",\"placements\":{placements}}}'\n  \
         return wrk.format(\"POST\", \"/v1/decide\", headers, body)\nend\n"
    ));
    std::fs::write(&script, lua)?;
    let output = Command::new("wrk")
        .args([
            "-t1".to_string(),
            format!("-c{connections}"),
            format!("-d{}s", duration.as_secs().max(1)),
            "--latency".to_string(),
            "-s".to_string(),
            script.to_string_lossy().into_owned(),
            base.to_string(),
        ])
        .output()
        .map_err(|e| Error::setup("cannot run wrk", e))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(Error::Failed(format!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    parse(&text).ok_or_else(|| Error::Failed(format!("cannot read wrk's output: {text}")))
}

/// Reads `Requests/sec:`, the 50 % and 99 % latencies and `Non-2xx or 3xx responses:`.
fn parse(text: &str) -> Option<WrkResult> {
    let mut result = WrkResult::default();
    let mut found = false;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", n] => {
                result.requests_per_sec = n.parse().ok()?;
                found = true;
            }
            ["50%", t] => result.p50_us = micros(t)?,
            ["99%", t] => result.p99_us = micros(t)?,
            ["Non-2xx", "or", "3xx", "responses:", n] => result.errors = n.parse().ok()?,
            _ => {}
        }
    }
    found.then_some(result)
}

/// wrk's durations: `812.00us`, `1.25ms`, `2.00s`.
fn micros(t: &str) -> Option<f64> {
    let split = t.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = t.split_at(split);
    let n: f64 = n.parse().ok()?;
    let us = match unit {
        "us" => n,
        "ms" => n * 1e3,
        "s" => n * 1e6,
        "m" => n * 60e6,
        _ => return None,
    };
    // wrk prints two decimals: 4.06ms is 4060 µs, not 4059.9999999999995.
    Some((us * 100.0).round() / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrks_report() {
        let text = "Running 5s test @ http://127.0.0.1:1\n  1 threads and 16 connections\n  Thread Stats   Avg      Stdev     Max   +/- Stdev\n    Latency   812.00us  200us   5.00ms   90%\n  Latency Distribution\n     50%  750.00us\n     75%    1.00ms\n     90%    1.20ms\n     99%    2.50ms\n  100000 requests in 5.00s, 50.00MB read\n  Non-2xx or 3xx responses: 3\nRequests/sec:  20000.50\nTransfer/sec:     10.00MB\n";
        let r = parse(text).unwrap();
        assert_eq!(r.requests_per_sec, 20000.5);
        assert_eq!(r.p50_us, 750.0);
        assert_eq!(r.p99_us, 2500.0);
        assert_eq!(micros("4.06ms"), Some(4060.0));
        assert_eq!(r.errors, 3);
        assert!(parse("nothing").is_none());
    }
}
