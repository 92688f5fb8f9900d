//! The GrowthBook condition language and its JavaScript-regex translation: validation,
//! what a condition reads, and evaluation against attributes and saved groups.
//!
//! Input: byte 0 even: the rest is raw JSON `{"c": condition, "a": attributes, "g":
//! groups}`; odd: the rest drives a generator (`arbitrary`) that builds conditions from
//! the language's own operators, attribute paths and regex syntax, which reaches the
//! operators' corners far sooner than raw bytes do.
//!
//! Beyond "no panic": evaluation is deterministic; a condition that validates evaluates
//! without failing closed, so `{"$nor": [c]}` is exactly its negation (JavaScript would
//! have thrown otherwise); a pattern that validates compiles; each call stays within the
//! work budget.

use arbitrary::{Result as AResult, Unstructured};
use serde_json::{Map, Value, json};
use tailor_core::condition::FIELD_OPERATORS as OPERATORS;
use tailor_core::condition::{eval_condition_with_groups, fields_read, reads, validate_condition};

const PATHS: [&str; 10] = [
    "country",
    "age",
    "tags",
    "orders.count",
    "cart.items",
    "items.0.sku",
    "name",
    "v",
    "traits.plan",
    "predictions.churn",
];
const REGEX_ATOMS: [&str; 40] = [
    "a", "b", "Z", "0", "9", ".", "*", "+", "?", "*?", "(", ")", "(?:", "(?<n>", "(?=", "(?!", "[",
    "]", "[^", "-", "{", "}", "{2}", "{1,3}", "{2,}", "^", "$", "|", "\\", "\\d", "\\w", "\\s",
    "\\b", "\\B", "\\u00e9", "\\x41", "\\cA", "\\k<n>", "\\1", "é",
];
const STRINGS: [&str; 12] = [
    "",
    "US",
    "fr",
    "1.2.3",
    "1.2.3-beta.1",
    "v2",
    "10",
    "8",
    " ",
    "true",
    "null",
    "ÄÖ",
];

pub fn run(input: &[u8]) {
    let [mode, rest @ ..] = input else {
        return;
    };
    let (condition, attributes, groups) = if mode & 1 == 0 {
        let Ok(Value::Object(mut doc)) = serde_json::from_slice::<Value>(rest) else {
            return;
        };
        (
            doc.remove("c").unwrap_or(Value::Null),
            doc.remove("a").unwrap_or(Value::Null),
            doc.remove("g").unwrap_or(Value::Null),
        )
    } else {
        let mut u = Unstructured::new(rest);
        let Ok(generated) = generate(&mut u) else {
            return;
        };
        generated
    };
    check(&condition, &attributes, &groups);
}

pub fn check(condition: &Value, attributes: &Value, groups: &Value) {
    let valid = crate::within_budget("validate", || validate_condition(condition)).is_ok();
    let _ = fields_read(condition, "");
    let _ = reads(condition, "predictions.");
    let holds = crate::within_budget("eval", || {
        eval_condition_with_groups(attributes, condition, groups)
    });
    assert_eq!(
        holds,
        eval_condition_with_groups(attributes, condition, groups),
        "evaluation is not deterministic"
    );
    // Saved groups are arrays (the engine keeps them so); with them, a valid condition
    // never fails closed, so its `$nor` is its negation.
    let groups_are_arrays = match groups {
        Value::Object(g) => g.values().all(Value::is_array),
        _ => true,
    };
    if valid && groups_are_arrays {
        let negated = json!({ "$nor": [condition] });
        let not_holds = eval_condition_with_groups(attributes, &negated, groups);
        assert_ne!(
            holds, not_holds,
            "a valid condition failed closed: {condition} on {attributes}"
        );
    }
}

pub fn generate(u: &mut Unstructured<'_>) -> AResult<(Value, Value, Value)> {
    let condition = gen_condition(u, 0)?;
    let mut attributes = Map::new();
    for _ in 0..u.int_in_range(0..=5)? {
        let path = *u.choose(&PATHS)?;
        let value = gen_value(u, 0)?;
        insert_path(&mut attributes, path, value);
    }
    let mut groups = Map::new();
    for _ in 0..u.int_in_range(0..=2)? {
        let members = (0..u.int_in_range(0..=3)?)
            .map(|_| gen_scalar(u))
            .collect::<AResult<Vec<_>>>()?;
        groups.insert(
            format!("g{}", u.int_in_range(0..=2)?),
            Value::Array(members),
        );
    }
    Ok((condition, Value::Object(attributes), Value::Object(groups)))
}

fn insert_path(map: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_string(), value);
        }
        Some((head, tail)) => {
            let entry = map
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = entry {
                insert_path(inner, tail, value);
            }
        }
    }
}

fn gen_condition(u: &mut Unstructured<'_>, depth: u32) -> AResult<Value> {
    let mut map = Map::new();
    for _ in 0..u.int_in_range(0..=3)? {
        let logical = depth < 4 && u.ratio(1, 4)?;
        if logical {
            let op = *u.choose(&["$and", "$or", "$nor", "$not"])?;
            let value = if op == "$not" {
                gen_condition(u, depth + 1)?
            } else {
                Value::Array(
                    (0..u.int_in_range(0..=3)?)
                        .map(|_| gen_condition(u, depth + 1))
                        .collect::<AResult<_>>()?,
                )
            };
            map.insert(op.to_string(), value);
        } else {
            let path = u.choose(&PATHS)?.to_string();
            let value = if u.ratio(2, 3)? {
                gen_operators(u, depth)?
            } else {
                gen_value(u, depth + 1)?
            };
            map.insert(path, value);
        }
    }
    Ok(Value::Object(map))
}

fn gen_operators(u: &mut Unstructured<'_>, depth: u32) -> AResult<Value> {
    let mut ops = Map::new();
    for _ in 0..u.int_in_range(1..=2)? {
        let op = *u.choose(&OPERATORS)?;
        let value = match op {
            "$regex" | "$regexi" if u.ratio(3, 4)? => Value::String(gen_pattern(u)?),
            "$elemMatch" if depth < 4 && u.ratio(1, 2)? => gen_operators(u, depth + 1)?,
            "$elemMatch" | "$not" if depth < 4 => gen_condition(u, depth + 1)?,
            "$in" | "$nin" | "$ini" | "$nini" | "$all" | "$alli" if u.ratio(3, 4)? => Value::Array(
                (0..u.int_in_range(0..=3)?)
                    .map(|_| gen_value(u, depth + 1))
                    .collect::<AResult<_>>()?,
            ),
            "$type" if u.ratio(3, 4)? => json!(*u.choose(&[
                "string",
                "number",
                "boolean",
                "object",
                "array",
                "null",
                "undefined"
            ])?),
            "$size" if u.ratio(1, 2)? && depth < 4 => gen_operators(u, depth + 1)?,
            "$inGroup" | "$notInGroup" if u.ratio(3, 4)? => {
                json!(format!("g{}", u.int_in_range(0..=3)?))
            }
            _ => gen_value(u, depth + 1)?,
        };
        ops.insert(op.to_string(), value);
    }
    Ok(Value::Object(ops))
}

fn gen_pattern(u: &mut Unstructured<'_>) -> AResult<String> {
    let mut p = String::new();
    for _ in 0..u.int_in_range(0..=12)? {
        p.push_str(u.choose(&REGEX_ATOMS)?);
    }
    Ok(p)
}

fn gen_scalar(u: &mut Unstructured<'_>) -> AResult<Value> {
    Ok(match u.int_in_range(0..=6)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => json!(u.int_in_range(-3i64..=12)?),
        3 => serde_json::Number::from_f64(u.arbitrary::<f64>()?).map_or(Value::Null, Value::Number),
        4 => json!(i64::from(u.arbitrary::<i32>()?)),
        5 => Value::String(u.arbitrary::<String>()?),
        _ => Value::String(u.choose(&STRINGS)?.to_string()),
    })
}

fn gen_value(u: &mut Unstructured<'_>, depth: u32) -> AResult<Value> {
    if depth >= 4 {
        return gen_scalar(u);
    }
    Ok(match u.int_in_range(0..=9)? {
        0 | 1 => Value::Array(
            (0..u.int_in_range(0..=3)?)
                .map(|_| gen_value(u, depth + 1))
                .collect::<AResult<_>>()?,
        ),
        2 => {
            let mut m = Map::new();
            for _ in 0..u.int_in_range(0..=2)? {
                let key = if u.ratio(1, 2)? {
                    u.choose(&PATHS)?.to_string()
                } else {
                    u.choose(&OPERATORS)?.to_string()
                };
                m.insert(key, gen_value(u, depth + 1)?);
            }
            Value::Object(m)
        }
        _ => gen_scalar(u)?,
    })
}
