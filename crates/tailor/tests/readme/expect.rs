//! How a quoted output matches what a command printed.
//!
//! - A `text` block is the output's lines. `...` alone on a line stands for any number of
//!   lines; `[..]` within a line for any text (snapbox's and trycmd's wildcards).
//! - A `json` block is one or more JSON values, matched in order with the JSON values the
//!   command printed (curl prints one per call): every field a quoted object shows must be
//!   in the answer with a matching value (fields not shown are not checked); a quoted array
//!   matches an answer's array whose elements match it in order, others may come between;
//!   the string `"[..]"` matches any value, and `[..]` inside a string any text.

use serde_json::Value;

/// `Ok` when `actual` matches the quoted `expected` text; else what differs.
pub fn text(expected: &str, actual: &str) -> Result<(), String> {
    let want: Vec<&str> = expected.lines().collect();
    let got: Vec<&str> = actual.lines().collect();
    if lines(&want, &got) {
        Ok(())
    } else {
        Err(format!(
            "the quoted output\n{expected}\ndoes not match what the command printed\n{actual}"
        ))
    }
}

fn lines(want: &[&str], got: &[&str]) -> bool {
    match want.split_first() {
        None => got.is_empty(),
        Some((&"...", rest)) => (0..=got.len()).any(|skip| lines(rest, &got[skip..])),
        Some((first, rest)) => !got.is_empty() && line(first, got[0]) && lines(rest, &got[1..]),
    }
}

/// One line with `[..]` wildcards.
pub fn line(pattern: &str, actual: &str) -> bool {
    let parts: Vec<&str> = pattern.split("[..]").collect();
    if parts.len() == 1 {
        return pattern == actual;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !actual.starts_with(first) || actual.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &actual[first.len()..];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// `Ok` when the JSON values printed match the quoted ones.
pub fn json(expected: &str, actual: &str) -> Result<(), String> {
    let want = values(expected).map_err(|e| format!("the quoted JSON does not parse: {e}"))?;
    let got =
        values(actual).map_err(|e| format!("the command printed no JSON ({e}):\n{actual}"))?;
    if want.len() != got.len() {
        return Err(format!(
            "{} JSON values quoted, {} printed:\n{actual}",
            want.len(),
            got.len()
        ));
    }
    for (w, g) in want.iter().zip(&got) {
        value(w, g, "").map_err(|e| format!("{e}\nprinted: {g}"))?;
    }
    Ok(())
}

pub fn values(text: &str) -> Result<Vec<Value>, serde_json::Error> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .collect()
}

fn value(want: &Value, got: &Value, at: &str) -> Result<(), String> {
    match (want, got) {
        (Value::String(w), _) if w == "[..]" => Ok(()),
        (Value::String(w), Value::String(g)) if line(w, g) => Ok(()),
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let path = format!("{at}/{k}");
                let gv = g
                    .get(k)
                    .ok_or_else(|| format!("{path}: not in the answer"))?;
                value(wv, gv, &path)?;
            }
            Ok(())
        }
        (Value::Array(w), Value::Array(g)) => {
            let mut from = 0;
            for (i, wv) in w.iter().enumerate() {
                let found = (from..g.len()).find(|&j| value(wv, &g[j], "").is_ok());
                match found {
                    Some(j) => from = j + 1,
                    None => return Err(format!("{at}/{i}: no element matches {wv}")),
                }
            }
            Ok(())
        }
        (Value::Number(w), Value::Number(g)) if w.as_f64() == g.as_f64() => Ok(()),
        _ if want == got => Ok(()),
        _ => Err(format!("{at}: quoted {want}, answered {got}")),
    }
}

#[test]
fn text_wildcards() {
    assert!(text("a [..] c\n...\nend\n", "a b c\nx\ny\nend\n").is_ok());
    assert!(text("a\n...\n", "a\n").is_ok());
    assert!(text("a [..] c\n", "a b d\n").is_err());
    assert!(
        text("a\nb\n", "a\nb\nc\n").is_err(),
        "a line more is a difference"
    );
    assert!(
        line("[..]", "anything")
            && line("x[..]", "x")
            && !line("x[..]y", "xy-")
            && line("[..]-[..]", "a-b")
    );
}

#[test]
fn json_fields_shown_must_match_and_others_are_free() {
    let printed = r#"{"success":true}{"a":1,"b":{"c":"hello world","d":[1,2,3]},"id":"d-1"}"#;
    assert!(
        json(
            r#"{"success": true} {"b": {"c": "hello [..]", "d": [1, 3]}, "id": "[..]"}"#,
            printed
        )
        .is_ok()
    );
    assert!(
        json(r#"{"success": true} {"b": {"d": [3, 1]}}"#, printed).is_err(),
        "order counts"
    );
    assert!(json(r#"{"success": true} {"a": 2}"#, printed).is_err());
    assert!(json(r#"{"success": true} {"z": 1}"#, printed).is_err());
    assert!(
        json(r#"{"success": true}"#, printed).is_err(),
        "every value printed is quoted"
    );
}
