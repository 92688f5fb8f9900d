//! The engine's layering rule, checked: a module may use only modules of its own layer or
//! the layers below it (ARCHITECTURE.md, "Inside the engine"). Reads every source file's
//! `crate::…` paths; a path through a facade re-export (`crate::catalog`) counts as a use of
//! the module it re-exports, so use the canonical path inside the engine.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Bottom first. Same-line modules are one layer.
const LAYERS: &[&[&str]] = &[
    &["error", "meta"],
    &["profile"],
    &["govern"],
    &["learn"],
    &["live"],
    &["measure"],
    &["ingest"],
    &["decide"],
    &["journeys"],
    &[
        "catalog_admin",
        "export",
        "settings",
        "people",
        "population",
        "segments",
        "boot",
        "lib",
    ],
];

/// Names `lib.rs` re-exports for callers outside the engine, with the module they live in.
const FACADE_ALIASES: &[(&str, &str)] = &[
    ("catalog", "profile"),
    ("registry", "profile"),
    ("consent", "govern"),
    ("keys", "govern"),
    ("privacy", "govern"),
    ("retention", "govern"),
    ("tokens", "govern"),
    ("policies", "learn"),
    ("predictions", "learn"),
    ("recs", "learn"),
    ("session_model", "learn"),
    ("experiments", "measure"),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading the source tree") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file names with `crate::` (in paths and `use crate::{a, b}`),
/// comments skipped.
fn used_modules(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a::b, c}`: the first segment of each item (one level is enough here).
                let inner = group.split('}').next().unwrap_or_default();
                for item in inner.split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        used.insert(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    used.insert(name);
                }
            }
        }
    }
    used
}

#[test]
fn every_module_uses_only_its_own_layer_or_lower_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    assert!(files.len() > 30, "found only {} source files", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative.components().next().expect("a path");
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let Some(own) = layer_of(&module) else {
            problems.push(format!(
                "{}: module `{module}` is in no layer",
                relative.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("reading a source file");
        for used in used_modules(&text) {
            let target = FACADE_ALIASES
                .iter()
                .find(|(alias, _)| *alias == used)
                .map_or(used.as_str(), |(_, canonical)| canonical);
            // Items defined in lib.rs (`crate::Engine`, re-exported types) are the facade.
            let target_layer = layer_of(target).unwrap_or(LAYERS.len() - 1);
            let via_alias = target != used && module != "lib";
            if target_layer > own {
                problems.push(format!(
                    "{}: `{module}` (layer {own}) uses `crate::{used}` (layer {target_layer})",
                    relative.display()
                ));
            } else if via_alias {
                problems.push(format!(
                    "{}: uses the facade re-export `crate::{used}`; write `crate::{target}::{used}`",
                    relative.display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}
