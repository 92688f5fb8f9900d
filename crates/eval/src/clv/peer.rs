//! `--lifetimes PYTHON`: the same split fitted by the Python package `lifetimes` in the same
//! run, so the table shows its numbers beside Tailor's. The script
//! (`scripts/clv/lifetimes_holdout.py`) is built into the binary and fed to PYTHON on stdin,
//! so the command needs no checkout; PYTHON must have lifetimes 0.11.3.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Error, Invalid};

const SCRIPT: &str = include_str!("../../../../scripts/clv/lifetimes_holdout.py");

/// lifetimes' BG/NBD and MBG/NBD fits and hold-out scores on `transactions` calibrated
/// through `calibration_end` (the script's JSON).
pub fn lifetimes_holdout(
    python: &Path,
    transactions: &Path,
    calibration_end: &str,
) -> Result<serde_json::Value, Error> {
    let step = || format!("running lifetimes with {}", python.display());
    let mut child = Command::new(python)
        .arg("-")
        .arg(transactions)
        .arg(calibration_end)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::step(step(), e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(SCRIPT.as_bytes())
            .map_err(|e| Error::step(step(), e))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| Error::step(step(), e))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("no message").to_string();
        return Err(Error::step(
            step(),
            Invalid::new(format!("it failed: {last}")),
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| Error::step(step(), e))
}
