//! GrowthBook's targeting-condition language (MongoDB-style): evaluation, exactly as
//! GrowthBook's JavaScript SDK (`mongrule.ts`) evaluates it, and save-time validation.
//!
//! Conditions are JSON. Keys are dotted attribute paths (`"orders.count"`) or the logical
//! operators `$and` `$or` `$nor` `$not`; a path's value is either a literal (implicit
//! equality) or an object of field operators (`{"$gte": 2}`).
//!
//! Evaluation copies the SDK's JavaScript semantics on purpose, coercions included, so a
//! condition means the same here as in every GrowthBook SDK: a missing attribute is
//! `null`, `null` compares like `0` (`{"age": {"$lt": 10}}` holds for a visitor with no
//! age), `"8"` is greater than `5`, `$eq` against an array or object never holds (JS
//! compares those by reference). Where JavaScript would throw, evaluation fails closed
//! and the whole condition is `false`.
//!
//! Known differences from the JS SDK, all outside what GrowthBook's test suite exercises:
//! objects compared by implicit equality ignore key order (JS compares `JSON.stringify`
//! output, which depends on it); `$regex` runs on Rust's `regex` engine after a
//! translation of JS syntax, so lookaround and backreferences are rejected (the condition
//! is then `false`, and [`validate_condition`] refuses it), `.` matches a whole astral
//! character rather than half a UTF-16 surrogate pair, and `$regexi` folds case the
//! Unicode way (`k` also matches the Kelvin sign); a saved group whose value is not an
//! array fails the condition closed. Patterns compile on every evaluation.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use crate::validate::{Problems, ValidationError};

/// Does `attributes` satisfy `condition`? No saved groups: `$inGroup` never holds and
/// `$notInGroup` always does.
pub fn eval_condition(attributes: &Value, condition: &Value) -> bool {
    eval_condition_with_groups(attributes, condition, &Value::Null)
}

/// Does `attributes` satisfy `condition`, with `groups` the saved groups that `$inGroup`
/// and `$notInGroup` name: an object of group id to an array of member values.
pub fn eval_condition_with_groups(attributes: &Value, condition: &Value, groups: &Value) -> bool {
    Evaluator { groups }
        .condition(attributes, condition)
        .unwrap_or(false)
}

/// Where the JavaScript SDK would throw. The evaluation as a whole is then `false`.
struct Throws;

type Eval = Result<bool, Throws>;

struct Evaluator<'g> {
    groups: &'g Value,
}

impl Evaluator<'_> {
    /// `evalCondition`: every entry of the condition object must hold.
    fn condition(&self, obj: &Value, condition: &Value) -> Eval {
        for (key, value) in js_entries(condition)? {
            let holds = match key.as_ref() {
                "$or" => self.or(obj, &value)?,
                "$nor" => !self.or(obj, &value)?,
                "$and" => self.and(obj, &value)?,
                "$not" => !self.condition(obj, &value)?,
                path => self.value(&value, &get_path(obj, path), false)?,
            };
            if !holds {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn or(&self, obj: &Value, conditions: &Value) -> Eval {
        // `if (!conditions.length) return true`: an empty list, or no list at all.
        let Some(list) = js_indexed(conditions)? else {
            return Ok(true);
        };
        if list.is_empty() {
            return Ok(true);
        }
        for condition in &list {
            if self.condition(obj, condition)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn and(&self, obj: &Value, conditions: &Value) -> Eval {
        for condition in js_indexed(conditions)?.unwrap_or_default() {
            if !self.condition(obj, &condition)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `evalConditionValue`: one attribute value against a literal or an operator object.
    fn value(&self, condition: &Value, actual: &Value, insensitive: bool) -> Eval {
        Ok(match condition {
            Value::String(expected) if insensitive => {
                js::to_string(actual).to_lowercase() == expected.to_lowercase()
            }
            Value::String(expected) => js::to_string(actual) == *expected,
            Value::Number(expected) => js::to_number(actual) == js::number(expected),
            Value::Bool(expected) => !actual.is_null() && js::truthy(actual) == *expected,
            Value::Null => actual.is_null(),
            Value::Object(ops) if is_operator_object(ops) => {
                for (op, expected) in ops {
                    if !self.operator(op, actual, expected)? {
                        return Ok(false);
                    }
                }
                true
            }
            Value::Array(_) | Value::Object(_) => js::json_equal(actual, condition),
        })
    }

    /// `evalOperatorCondition`.
    fn operator(&self, op: &str, actual: &Value, expected: &Value) -> Eval {
        let versions = |holds: fn(Ordering) -> bool| {
            holds(js::str_cmp(
                &version::padded(actual),
                &version::padded(expected),
            ))
        };
        let list = || expected.as_array().map(Vec::as_slice);
        Ok(match op {
            "$veq" => versions(Ordering::is_eq),
            "$vne" => versions(Ordering::is_ne),
            "$vgt" => versions(Ordering::is_gt),
            "$vgte" => versions(Ordering::is_ge),
            "$vlt" => versions(Ordering::is_lt),
            "$vlte" => versions(Ordering::is_le),
            "$eq" => js::strict_equal(actual, expected),
            "$ne" => !js::strict_equal(actual, expected),
            "$lt" => js::compare(actual, expected).is_some_and(Ordering::is_lt),
            "$lte" => js::compare(actual, expected).is_some_and(Ordering::is_le),
            "$gt" => js::compare(actual, expected).is_some_and(Ordering::is_gt),
            "$gte" => js::compare(actual, expected).is_some_and(Ordering::is_ge),
            "$exists" => js::truthy(expected) != actual.is_null(),
            "$in" => list().is_some_and(|l| is_in(actual, l, false)),
            "$ini" => list().is_some_and(|l| is_in(actual, l, true)),
            "$nin" => list().is_some_and(|l| !is_in(actual, l, false)),
            "$nini" => list().is_some_and(|l| !is_in(actual, l, true)),
            "$inGroup" => is_in(actual, self.group(expected)?, false),
            "$notInGroup" => !is_in(actual, self.group(expected)?, false),
            "$not" => !self.value(expected, actual, false)?,
            "$size" => match actual {
                Value::Array(items) => {
                    self.value(expected, &Value::Number(Number::from(items.len())), false)?
                }
                _ => false,
            },
            "$elemMatch" => self.elem_match(actual, expected)?,
            "$all" => match list() {
                Some(l) => self.is_in_all(actual, l, false)?,
                None => false,
            },
            "$alli" => match list() {
                Some(l) => self.is_in_all(actual, l, true)?,
                None => false,
            },
            "$regex" | "$regexi" => match expected {
                Value::String(pattern) => regex_js::compiled(pattern, op == "$regexi")
                    .is_some_and(|re| re.is_match(&js::to_string(actual))),
                _ => false,
            },
            "$type" => expected.as_str() == Some(js_type(actual)),
            _ => false,
        })
    }

    /// At least one truthy element of the array matches (falsy elements are skipped, as
    /// in the SDK).
    fn elem_match(&self, actual: &Value, expected: &Value) -> Eval {
        let Value::Array(items) = actual else {
            return Ok(false);
        };
        let operators = match expected {
            Value::Null => return Err(Throws), // `Object.keys(null)`
            Value::Object(ops) => is_operator_object(ops),
            _ => false,
        };
        for item in items.iter().filter(|item| js::truthy(item)) {
            let holds = if operators {
                self.value(expected, item, false)?
            } else {
                self.condition(item, expected)?
            };
            if holds {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Every expected value matches at least one element of the array.
    fn is_in_all(&self, actual: &Value, expected: &[Value], insensitive: bool) -> Eval {
        let Value::Array(items) = actual else {
            return Ok(false);
        };
        for condition in expected {
            let mut passed = false;
            for item in items {
                if self.value(condition, item, insensitive)? {
                    passed = true;
                    break;
                }
            }
            if !passed {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `savedGroups[id] || []`.
    fn group(&self, id: &Value) -> Result<&[Value], Throws> {
        let found = match self.groups {
            Value::Object(groups) => groups.get(js::to_string(id).as_ref()),
            _ => None,
        };
        match found {
            Some(Value::Array(members)) => Ok(members),
            Some(v) if js::truthy(v) => Err(Throws),
            _ => Ok(&[]),
        }
    }
}

/// One `[key, value]` of `Object.entries`.
type Entry<'a> = (Cow<'a, str>, Cow<'a, Value>);

/// `Object.entries(condition)`, for the shapes JSON can take.
fn js_entries(condition: &Value) -> Result<Vec<Entry<'_>>, Throws> {
    Ok(match condition {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cow::Borrowed(v)))
            .collect(),
        Value::Null => return Err(Throws),
        other => js_indexed(other)?
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, v)| (Cow::Owned(i.to_string()), v))
            .collect(),
    })
}

/// The elements `x[0]..x[x.length]` of an array or string; `None` where `x.length` is
/// undefined (objects, numbers, booleans).
fn js_indexed(value: &Value) -> Result<Option<Vec<Cow<'_, Value>>>, Throws> {
    Ok(match value {
        Value::Null => return Err(Throws),
        Value::Array(items) => Some(items.iter().map(Cow::Borrowed).collect()),
        Value::String(s) => Some(
            s.encode_utf16()
                .map(|unit| Cow::Owned(Value::String(String::from_utf16_lossy(&[unit]))))
                .collect(),
        ),
        _ => None,
    })
}

/// The value at a dot-separated path, `null` when any step is missing. Array steps take
/// an index (`"items.0.sku"`) or `length`, as JavaScript's `in` allows.
pub(crate) fn get_path<'a>(obj: &'a Value, path: &str) -> Cow<'a, Value> {
    let mut current = Cow::Borrowed(obj);
    for part in path.split('.') {
        let next = match current {
            Cow::Borrowed(Value::Object(map)) => map.get(part).map(Cow::Borrowed),
            Cow::Borrowed(Value::Array(items)) if part == "length" => {
                Some(Cow::Owned(Value::Number(Number::from(items.len()))))
            }
            Cow::Borrowed(Value::Array(items)) => array_index(part)
                .and_then(|i| items.get(i))
                .map(Cow::Borrowed),
            _ => None,
        };
        match next {
            Some(value) => current = value,
            None => return Cow::Owned(Value::Null),
        }
    }
    current
}

/// A canonical array index: `"0"` or digits without a leading zero.
fn array_index(part: &str) -> Option<usize> {
    let canonical = part == "0"
        || (!part.is_empty() && !part.starts_with('0') && part.bytes().all(|b| b.is_ascii_digit()));
    if canonical { part.parse().ok() } else { None }
}

/// An object whose keys all start with `$` (and that has at least one).
fn is_operator_object(map: &Map<String, Value>) -> bool {
    !map.is_empty() && map.keys().all(|k| k.starts_with('$'))
}

/// `$in` semantics: membership, or a non-empty intersection when the attribute is an
/// array. Equality is JavaScript's strict equality (objects and arrays never match).
fn is_in(actual: &Value, expected: &[Value], insensitive: bool) -> bool {
    fn fold(v: &Value, insensitive: bool) -> Cow<'_, Value> {
        match v {
            Value::String(s) if insensitive => Cow::Owned(Value::String(s.to_lowercase())),
            other => Cow::Borrowed(other),
        }
    }
    let contains = |el: &Value| {
        let el = fold(el, insensitive);
        expected
            .iter()
            .any(|e| js::strict_equal(&el, &fold(e, insensitive)))
    };
    match actual {
        Value::Array(items) => items.iter().any(contains),
        other => contains(other),
    }
}

/// The SDK's `getType`.
fn js_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// JavaScript's coercions and comparisons on JSON values. Experiment assignment uses
/// them too, so a hash attribute is stringified as the SDKs stringify it.
pub(crate) mod js {
    use std::borrow::Cow;
    use std::cmp::Ordering;

    use serde_json::{Number, Value};

    pub fn number(n: &Number) -> f64 {
        n.as_f64().unwrap_or(f64::NAN)
    }

    /// `!!v`.
    pub fn truthy(v: &Value) -> bool {
        match v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => {
                let n = number(n);
                n != 0.0 && !n.is_nan()
            }
            Value::String(s) => !s.is_empty(),
            Value::Array(_) | Value::Object(_) => true,
        }
    }

    /// `a === b`: same type and value; arrays and objects are never equal (by reference
    /// in JS, and two JSON values are never the same reference).
    pub fn strict_equal(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => number(a) == number(b),
            (Value::String(a), Value::String(b)) => a == b,
            _ => false,
        }
    }

    /// `JSON.stringify(a) === JSON.stringify(b)`, except that object key order does not
    /// matter (serde_json keeps keys sorted).
    pub fn json_equal(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(a, b)| json_equal(a, b))
            }
            (Value::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((ka, va), (kb, vb))| ka == kb && json_equal(va, vb))
            }
            _ => strict_equal(a, b),
        }
    }

    /// `String(v)`.
    pub fn to_string(v: &Value) -> Cow<'_, str> {
        match v {
            Value::Null => Cow::Borrowed("null"),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::Number(n) => Cow::Owned(number_to_string(number(n))),
            Value::String(s) => Cow::Borrowed(s),
            Value::Array(items) => Cow::Owned(
                items
                    .iter()
                    .map(|item| match item {
                        Value::Null => Cow::Borrowed(""),
                        other => to_string(other),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            Value::Object(_) => Cow::Borrowed("[object Object]"),
        }
    }

    /// `Number(v)`.
    pub fn to_number(v: &Value) -> f64 {
        match v {
            Value::Null => 0.0,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Number(n) => number(n),
            Value::String(s) => string_to_number(s),
            Value::Array(_) => string_to_number(&to_string(v)),
            Value::Object(_) => f64::NAN,
        }
    }

    /// The relational comparison behind `<` `<=` `>` `>=`: two strings compare by UTF-16
    /// code units, anything else as numbers. `None` when a side is `NaN`.
    pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
        match (primitive_string(a), primitive_string(b)) {
            (Some(a), Some(b)) => Some(str_cmp(&a, &b)),
            (sa, sb) => {
                let num = |s: Option<Cow<'_, str>>, v| {
                    s.map_or_else(|| to_number(v), |s| string_to_number(&s))
                };
                num(sa, a).partial_cmp(&num(sb, b))
            }
        }
    }

    /// ToPrimitive: arrays and objects become strings; `None` for the values that stay
    /// as they are (null, booleans, numbers).
    fn primitive_string(v: &Value) -> Option<Cow<'_, str>> {
        match v {
            Value::String(_) | Value::Array(_) | Value::Object(_) => Some(to_string(v)),
            _ => None,
        }
    }

    /// JavaScript string order: by UTF-16 code units.
    pub fn str_cmp(a: &str, b: &str) -> Ordering {
        a.encode_utf16().cmp(b.encode_utf16())
    }

    /// JavaScript's `WhiteSpace` and `LineTerminator`, which `Number("…")` trims.
    fn is_js_space(c: char) -> bool {
        matches!(
            c,
            '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200A}'
                    | '\u{2028}'
                    | '\u{2029}'
                    | '\u{202F}'
                    | '\u{205F}'
                    | '\u{3000}'
                    | '\u{FEFF}'
        )
    }

    /// `Number(s)`: trimmed, empty is 0, decimal literals (with exponent), `Infinity`,
    /// and unsigned `0x` `0o` `0b` integers; anything else is `NaN`.
    pub fn string_to_number(s: &str) -> f64 {
        let s = s.trim_matches(is_js_space);
        if s.is_empty() {
            return 0.0;
        }
        let radix = match s.get(..2) {
            Some("0x" | "0X") => Some(16),
            Some("0o" | "0O") => Some(8),
            Some("0b" | "0B") => Some(2),
            _ => None,
        };
        if let Some(radix) = radix {
            let digits = &s[2..];
            if digits.is_empty() {
                return f64::NAN;
            }
            return digits
                .chars()
                .try_fold(0.0_f64, |acc, c| {
                    c.to_digit(radix)
                        .map(|d| acc * f64::from(radix) + f64::from(d))
                })
                .unwrap_or(f64::NAN);
        }
        let (sign, unsigned) = match s.as_bytes()[0] {
            b'-' => (-1.0, &s[1..]),
            b'+' => (1.0, &s[1..]),
            _ => (1.0, s),
        };
        if unsigned == "Infinity" {
            return sign * f64::INFINITY;
        }
        if is_decimal_literal(unsigned) {
            unsigned.parse::<f64>().map_or(f64::NAN, |n| sign * n)
        } else {
            f64::NAN
        }
    }

    /// `digits [. digits] [e [+-] digits]` or `. digits [e …]`, at least one mantissa digit.
    fn is_decimal_literal(s: &str) -> bool {
        let b = s.as_bytes();
        let mut i = 0;
        let digits = |i: &mut usize| {
            let start = *i;
            while *i < b.len() && b[*i].is_ascii_digit() {
                *i += 1;
            }
            *i - start
        };
        let mut mantissa = digits(&mut i);
        if i < b.len() && b[i] == b'.' {
            i += 1;
            mantissa += digits(&mut i);
        }
        if mantissa == 0 {
            return false;
        }
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                i += 1;
            }
            if digits(&mut i) == 0 {
                return false;
            }
        }
        i == b.len()
    }

    /// `Number.prototype.toString()`: the shortest round-tripping digits, written plainly
    /// for exponents in [-7, 21) and as `1.5e+21` outside.
    pub fn number_to_string(n: f64) -> String {
        if n.is_nan() {
            return "NaN".into();
        }
        if n.is_infinite() {
            return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
        }
        if n == 0.0 {
            return "0".into();
        }
        let sign = if n < 0.0 { "-" } else { "" };
        // `{:e}` gives the shortest round-tripping digits: "1.2345e-7".
        let sci = format!("{:e}", n.abs());
        let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let k = digits.len() as i32;
        let n = exponent + 1; // the decimal point sits after `n` digits
        let body = if k <= n && n <= 21 {
            format!("{digits}{}", "0".repeat((n - k) as usize))
        } else if 0 < n && n <= 21 {
            format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
        } else if -6 < n && n <= 0 {
            format!("0.{}{digits}", "0".repeat((-n) as usize))
        } else {
            let e = n - 1;
            let e = if e >= 0 {
                format!("+{e}")
            } else {
                e.to_string()
            };
            if k == 1 {
                format!("{digits}e{e}")
            } else {
                format!("{}.{}e{e}", &digits[..1], &digits[1..])
            }
        };
        format!("{sign}{body}")
    }
}

/// GrowthBook's `paddedVersionString`: versions become strings that compare correctly
/// as plain strings.
mod version {
    use serde_json::Value;

    use super::js;

    /// `v1.2.3-rc.1+build` → `"    1-    2-    3-rc-    1"`: the leading `v` and build
    /// metadata dropped, split on `.` and `-`, numeric parts left-padded to 5 with spaces,
    /// and `~` appended to a bare `x.y.z` so it sorts after its own pre-releases.
    pub fn padded(input: &Value) -> String {
        let raw = match input {
            Value::Number(n) => js::number_to_string(js::number(n)),
            Value::String(s) if !s.is_empty() => s.clone(),
            _ => "0".into(),
        };
        let trimmed = strip_build(raw.strip_prefix('v').unwrap_or(&raw));
        let mut parts: Vec<&str> = trimmed.split(['-', '.']).collect();
        if parts.len() == 3 {
            parts.push("~");
        }
        parts
            .iter()
            .map(|p| {
                if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
                    format!("{p:>5}")
                } else {
                    (*p).to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("-")
    }

    /// Removes `\+.*$`: from the first `+` that has no line terminator after it.
    fn strip_build(s: &str) -> &str {
        let is_terminator = |c: char| matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}');
        for (i, c) in s.char_indices() {
            if c == '+' && !s[i..].contains(is_terminator) {
                return &s[..i];
            }
        }
        s
    }
}

/// JavaScript regular-expression syntax (no flags but `i`) translated for Rust's `regex`
/// crate: `\d \w \s \b` and `.` keep their JavaScript meaning, literal `{` `}` `]` stay
/// literal, and what Rust cannot run (lookaround, backreferences) is an error.
mod regex_js {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, OnceLock};

    use regex::{Regex, RegexBuilder};

    /// The longest pattern a condition may hold.
    pub const MAX_PATTERN: usize = 1_000;
    /// Compiled program and lazy-DFA budgets: a counted repetition such as `(a{1,999}){1,999}`
    /// is refused when saved instead of costing seconds on every decision.
    const SIZE_LIMIT: usize = 256 * 1024;
    const DFA_SIZE_LIMIT: usize = 2 * 1024 * 1024;
    /// Compiled patterns kept; the cache starts over past this (conditions are few).
    const CACHED: usize = 1_024;

    type Cache = HashMap<(String, bool), Result<Regex, String>>;

    /// Patterns compiled since the process started (see [`super::regex_compilations`]).
    pub static COMPILATIONS: AtomicU64 = AtomicU64::new(0);

    /// The pattern compiled once and kept (`None`: it does not compile, the condition fails
    /// closed). Conditions are evaluated on every decision; compiling there made the cost
    /// of a decision the pattern's, not the input's.
    pub fn compiled(pattern: &str, insensitive: bool) -> Option<Regex> {
        cached(pattern, insensitive).ok()
    }

    /// The pattern compiled once and kept, or why it does not compile. Validation (when a
    /// condition is saved) goes through here too, so the decisions after it find the
    /// pattern compiled.
    pub fn cached(pattern: &str, insensitive: bool) -> Result<Regex, String> {
        static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
        let key = (pattern.to_string(), insensitive);
        if let Some(found) = cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return found;
        }
        let made = compile(pattern, insensitive);
        if let Ok(mut cache) = cache.lock() {
            if cache.len() >= CACHED {
                cache.clear();
            }
            cache.insert(key, made.clone());
        }
        made
    }

    const WORD: &str = "0-9A-Za-z_";
    const SPACE: &str = "\\t\\n\\x0B\\x0C\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}";

    pub fn compile(pattern: &str, insensitive: bool) -> Result<Regex, String> {
        COMPILATIONS.fetch_add(1, Ordering::Relaxed);
        if pattern.len() > MAX_PATTERN {
            return Err(format!("patterns are at most {MAX_PATTERN} bytes"));
        }
        let translated = translate(pattern)?;
        RegexBuilder::new(&translated)
            .case_insensitive(insensitive)
            .size_limit(SIZE_LIMIT)
            .dfa_size_limit(DFA_SIZE_LIMIT)
            .build()
            .map_err(|e| match e {
                regex::Error::Syntax(msg) => msg
                    .lines()
                    .rev()
                    .find(|l| l.starts_with("error:"))
                    .map_or_else(|| "invalid regular expression".to_string(), str::to_string),
                regex::Error::CompiledTooBig(_) => {
                    "the pattern is too large once compiled (a counted repetition?)".to_string()
                }
                other => other.to_string(),
            })
    }

    fn translate(pattern: &str) -> Result<String, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut out = String::with_capacity(pattern.len() + 16);
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '\\' => i = escape(&chars, i, false, &mut out)?,
                '[' => i = class(&chars, i, &mut out)?,
                '.' => out.push_str("[^\\n\\r\\x{2028}\\x{2029}]"),
                '(' if chars.get(i) == Some(&'?') => i = group(&chars, i + 1, &mut out)?,
                '{' => match quantifier(&chars, i) {
                    Some(end) => {
                        out.extend(&chars[i - 1..end]);
                        i = end;
                    }
                    None => out.push_str("\\{"),
                },
                '}' => out.push_str("\\}"),
                ']' => out.push_str("\\]"),
                other => out.push(other),
            }
        }
        Ok(out)
    }

    /// `{n}` `{n,}` `{n,m}` starting after the `{` at `i - 1`; the index after `}`.
    fn quantifier(chars: &[char], mut i: usize) -> Option<usize> {
        let digits = |i: &mut usize| {
            let start = *i;
            while chars.get(*i).is_some_and(char::is_ascii_digit) {
                *i += 1;
            }
            *i > start
        };
        if !digits(&mut i) {
            return None;
        }
        if chars.get(i) == Some(&',') {
            i += 1;
            digits(&mut i);
        }
        (chars.get(i) == Some(&'}')).then_some(i + 1)
    }

    /// After `(?`: non-capturing and named groups pass; lookaround is unsupported.
    fn group(chars: &[char], i: usize, out: &mut String) -> Result<usize, String> {
        match (chars.get(i), chars.get(i + 1)) {
            (Some(':'), _) => {
                out.push_str("(?:");
                Ok(i + 1)
            }
            (Some('=' | '!'), _) | (Some('<'), Some('=' | '!')) => {
                Err("lookahead and lookbehind assertions are not supported".into())
            }
            (Some('<'), _) => {
                out.push_str("(?P<");
                Ok(i + 1)
            }
            _ => Err("invalid group: `(?` must be followed by `:`, `<name>`, `=` or `!`".into()),
        }
    }

    /// A character class after its `[`; the index after its `]`.
    fn class(chars: &[char], mut i: usize, out: &mut String) -> Result<usize, String> {
        let negated = chars.get(i) == Some(&'^');
        if negated {
            i += 1;
        }
        if chars.get(i) == Some(&']') {
            // `[]` matches nothing, `[^]` anything.
            out.push_str(if negated {
                "(?s:.)"
            } else {
                "[^\\x{0}-\\x{10FFFF}]"
            });
            return Ok(i + 1);
        }
        out.push_str(if negated { "[^" } else { "[" });
        while let Some(&c) = chars.get(i) {
            i += 1;
            match c {
                ']' => {
                    out.push(']');
                    return Ok(i);
                }
                '\\' => i = escape(chars, i, true, out)?,
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                other => out.push(other),
            }
        }
        Err("unterminated character class".into())
    }

    /// An escape after its `\`; the index after it.
    fn escape(chars: &[char], i: usize, in_class: bool, out: &mut String) -> Result<usize, String> {
        let Some(&c) = chars.get(i) else {
            return Err("pattern ends with a lone `\\`".into());
        };
        let next = i + 1;
        let hex = |len: usize| {
            let digits = chars.get(next..next + len)?;
            digits
                .iter()
                .all(char::is_ascii_hexdigit)
                .then(|| digits.iter().collect::<String>())
        };
        let set = |body: &str, negated: bool| format!("[{}{body}]", if negated { "^" } else { "" });
        match c {
            'd' | 'D' => out.push_str(&set("0-9", c == 'D')),
            'w' | 'W' if in_class => out.push_str(&set(WORD, c == 'W')),
            'w' | 'W' => out.push_str(&format!("(?-i:{})", set(WORD, c == 'W'))),
            's' | 'S' => out.push_str(&set(SPACE, c == 'S')),
            'b' if in_class => out.push_str("\\x08"),
            'b' | 'B' if !in_class => {
                out.push_str(if c == 'b' { "(?-u:\\b)" } else { "(?-u:\\B)" })
            }
            'f' | 'n' | 'r' | 't' | 'v' => {
                out.push('\\');
                out.push(c);
            }
            '0' if !chars.get(next).is_some_and(char::is_ascii_digit) => out.push_str("\\x00"),
            '0'..='9' => return Err("backreferences and octal escapes are not supported".into()),
            'x' => match hex(2) {
                Some(h) => {
                    out.push_str(&format!("\\x{{{h}}}"));
                    return Ok(next + 2);
                }
                None => out.push('x'),
            },
            'u' => match hex(4) {
                Some(h) => {
                    out.push_str(&format!("\\x{{{h}}}"));
                    return Ok(next + 4);
                }
                None => out.push('u'),
            },
            'c' => match chars.get(next) {
                Some(l) if l.is_ascii_alphabetic() => {
                    out.push_str(&format!("\\x{{{:X}}}", u32::from(*l) % 32));
                    return Ok(next + 1);
                }
                _ => out.push_str("\\\\c"),
            },
            'k' if chars.windows(3).any(|w| w == ['(', '?', '<']) => {
                return Err("named backreferences are not supported".into());
            }
            // Everything else escapes itself.
            other => push_literal(other, out),
        }
        Ok(next)
    }

    fn push_literal(c: char, out: &mut String) {
        out.push_str(&regex::escape(c.encode_utf8(&mut [0; 4])));
    }
}

// ---------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------

/// Every operator a field's condition may use (the fuzz target draws from it).
pub const FIELD_OPERATORS: [&str; 27] = [
    "$eq",
    "$ne",
    "$lt",
    "$lte",
    "$gt",
    "$gte",
    "$veq",
    "$vne",
    "$vgt",
    "$vgte",
    "$vlt",
    "$vlte",
    "$in",
    "$nin",
    "$ini",
    "$nini",
    "$all",
    "$alli",
    "$exists",
    "$type",
    "$regex",
    "$regexi",
    "$elemMatch",
    "$size",
    "$not",
    "$inGroup",
    "$notInGroup",
];

const TYPES: [&str; 6] = ["string", "number", "boolean", "object", "array", "null"];

/// How many `$regex` patterns this process has compiled. Each is compiled once, when the
/// condition holding it is validated (saved) or first evaluated, and kept: the count does
/// not grow with decisions, whatever their input (the adversarial tests read it).
pub fn regex_compilations() -> u64 {
    regex_js::COMPILATIONS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Refuses a condition that is malformed or cannot mean what it seems to (an unknown
/// operator, `$in` without an array, a regex that does not compile, `$eq` against an
/// object, …). Every problem is reported, each naming where it is.
pub fn validate_condition(condition: &Value) -> Result<(), ValidationError> {
    let mut problems = Problems::default();
    check_condition(condition, "", &mut problems);
    problems.into_result(())
}

fn here(loc: &str) -> &str {
    if loc.is_empty() { "the condition" } else { loc }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn join(loc: &str, next: &str) -> String {
    if loc.is_empty() {
        next.to_string()
    } else {
        format!("{loc}.{next}")
    }
}

fn check_condition(condition: &Value, loc: &str, problems: &mut Problems) {
    let Value::Object(entries) = condition else {
        problems.push(format!(
            "{}: a condition must be an object of attribute paths and operators, got {}",
            here(loc),
            kind(condition)
        ));
        return;
    };
    for (key, value) in entries {
        let at = join(loc, key);
        match key.as_str() {
            "$and" | "$or" | "$nor" => match value {
                Value::Array(list) => {
                    for (i, item) in list.iter().enumerate() {
                        check_condition(item, &format!("{at}[{i}]"), problems);
                    }
                }
                other => problems.push(format!(
                    "{at}: `{key}` needs an array of conditions, got {}",
                    kind(other)
                )),
            },
            "$not" => check_condition(value, &at, problems),
            op if FIELD_OPERATORS.contains(&op) => problems.push(format!(
                "{}: `{op}` applies to an attribute; write {{\"attribute\": {{\"{op}\": …}}}}",
                here(loc)
            )),
            op if op.starts_with('$') => problems.push(format!(
                "{}: unknown operator `{op}` (attribute names may not start with `$`)",
                here(loc)
            )),
            path if path.split('.').any(str::is_empty) => problems.push(format!(
                "{at}: `{path}` is not an attribute path (dot-separated names, none empty)"
            )),
            _ => check_value(value, &at, problems),
        }
    }
}

/// A path's value: a literal, or an object of field operators.
fn check_value(value: &Value, loc: &str, problems: &mut Problems) {
    let Value::Object(map) = value else {
        check_literal(value, loc, problems);
        return;
    };
    let operators = map.keys().filter(|k| k.starts_with('$')).count();
    if operators == 0 {
        check_literal(value, loc, problems);
    } else if operators < map.len() {
        problems.push(format!(
            "{loc}: mixes operators and plain keys, so it would be compared as a literal \
             object; use only operators, or a dotted path for nested attributes"
        ));
    } else {
        for (op, expected) in map {
            check_operator(op, expected, &join(loc, op), problems);
        }
    }
}

/// A literal is compared whole; an operator-like key inside one is almost surely a
/// nested condition written in the wrong place.
fn check_literal(value: &Value, loc: &str, problems: &mut Problems) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key.starts_with('$') {
                    problems.push(format!(
                        "{loc}: literal value has the key `{key}`; operators only apply \
                         directly under an attribute (use a dotted path such as `a.b`)"
                    ));
                } else {
                    check_literal(inner, &join(loc, key), problems);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_literal(item, &format!("{loc}[{i}]"), problems);
            }
        }
        _ => {}
    }
}

fn is_primitive(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn check_operator(op: &str, expected: &Value, loc: &str, problems: &mut Problems) {
    let mut problem = |text: String| problems.push(format!("{loc}: {text}"));
    match op {
        "$eq" | "$ne" if !is_primitive(expected) => problem(format!(
            "`{op}` compares by identity and never equals {}; use implicit equality",
            kind(expected)
        )),
        "$lt" | "$lte" | "$gt" | "$gte"
            if !matches!(expected, Value::Number(_) | Value::String(_)) =>
        {
            problem(format!(
                "`{op}` needs a number or a string, got {}",
                kind(expected)
            ))
        }
        "$veq" | "$vne" | "$vgt" | "$vgte" | "$vlt" | "$vlte" => match expected {
            Value::String(s) if !s.trim().is_empty() => {}
            Value::Number(_) => {}
            other => problem(format!(
                "`{op}` needs a version string, got {}",
                kind(other)
            )),
        },
        "$in" | "$nin" | "$ini" | "$nini" => match expected {
            Value::Array(items) => {
                if items.iter().any(|item| !is_primitive(item)) {
                    problem(format!(
                        "`{op}` lists must hold only strings, numbers, booleans or null \
                         (arrays and objects never match)"
                    ));
                }
            }
            other => problem(format!("`{op}` needs an array, got {}", kind(other))),
        },
        "$all" | "$alli" => match expected {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_value(item, &format!("{loc}[{i}]"), problems);
                }
            }
            other => problem(format!("`{op}` needs an array, got {}", kind(other))),
        },
        "$exists" if !expected.is_boolean() => problem(format!(
            "`$exists` needs true or false, got {}",
            kind(expected)
        )),
        "$type" if !expected.as_str().is_some_and(|t| TYPES.contains(&t)) => problem(format!(
            "`$type` must be one of {}, got {expected}",
            TYPES.join(", ")
        )),
        "$regex" | "$regexi" => match expected {
            Value::String(pattern) => {
                if let Err(e) = regex_js::cached(pattern, op == "$regexi") {
                    problem(format!("`{op}` pattern {pattern:?} does not compile: {e}"));
                }
            }
            other => problem(format!(
                "`{op}` needs a pattern string, got {}",
                kind(other)
            )),
        },
        "$elemMatch" => match expected {
            Value::Object(map) if !map.is_empty() && map.keys().all(|k| k.starts_with('$')) => {
                check_value(expected, loc, problems)
            }
            Value::Object(_) => check_condition(expected, loc, problems),
            other => problem(format!(
                "`$elemMatch` needs an object (operators or a condition), got {}",
                kind(other)
            )),
        },
        "$size" => match expected {
            Value::Number(n) if n.as_u64().is_some() => {}
            Value::Object(map) if !map.is_empty() && map.keys().all(|k| k.starts_with('$')) => {
                check_value(expected, loc, problems)
            }
            other => problem(format!(
                "`$size` needs a whole number or operators such as {{\"$gt\": 2}}, got {}",
                kind(other)
            )),
        },
        "$not" => check_value(expected, loc, problems),
        "$inGroup" | "$notInGroup" => match expected {
            Value::String(id) if !id.is_empty() => {}
            other => problem(format!(
                "`{op}` needs a saved group id, got {}",
                kind(other)
            )),
        },
        "$and" | "$or" | "$nor" => problem(format!(
            "`{op}` combines conditions and cannot apply to an attribute; \
             write {{\"{op}\": [{{\"attribute\": …}}, …]}}"
        )),
        known if FIELD_OPERATORS.contains(&known) => {}
        unknown => problem(format!("unknown operator `{unknown}`")),
    }
}

/// The attribute paths under `prefix` that a condition reads, at any depth: with prefix
/// `predictions`, `predictions.churn_risk` gives `churn_risk` and the whole
/// `predictions` object gives `""`. Lets a caller compute costly attributes only for the
/// conditions that look at them.
pub fn fields_read<'a>(condition: &'a Value, prefix: &str) -> Vec<&'a str> {
    fn walk<'a>(v: &'a Value, prefix: &str, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == prefix {
                        out.push("");
                    } else if let Some(name) = k
                        .strip_prefix(prefix)
                        .and_then(|rest| rest.strip_prefix('.'))
                    {
                        out.push(name);
                    }
                    walk(v, prefix, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, prefix, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(condition, prefix, &mut out);
    out
}

/// Whether a condition reads any attribute under `prefix` (see [`fields_read`]).
pub fn reads(condition: &Value, prefix: &str) -> bool {
    !fields_read(condition, prefix).is_empty()
}

/// The attribute under which a person's predictions reach conditions.
pub const PREDICTIONS: &str = "predictions";

/// Whether a condition reads a prediction: computing them costs ~15 µs a person, so
/// attribute documents carry them only for the conditions that look at them.
pub fn reads_predictions(condition: &Value) -> bool {
    reads(condition, PREDICTIONS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fields_read_finds_paths_under_a_prefix_at_any_depth() {
        let c = serde_json::json!({"$or": [{"predictions.churn_risk": {"$gt": 0.5}},
            {"$not": {"predictions": {"$exists": true}}}], "predictionsx": 1, "orders.count": 2});
        assert_eq!(fields_read(&c, "predictions"), vec!["churn_risk", ""]);
        assert!(reads(&c, "orders"));
        assert!(!reads(&c, "traits"));
    }

    use serde_json::json;

    use super::*;

    fn problems(condition: Value) -> Vec<String> {
        validate_condition(&condition)
            .err()
            .map(|e| e.problems)
            .unwrap_or_default()
    }

    #[test]
    fn tailor_repeat_customers() {
        let c = json!({"lifecycleStage": "repeat", "orders.count": {"$gte": 2}});
        assert!(validate_condition(&c).is_ok());
        let repeat = json!({"lifecycleStage": "repeat", "orders": {"count": 3}});
        assert!(eval_condition(&repeat, &c));
        let one_order = json!({"lifecycleStage": "repeat", "orders": {"count": 1}});
        assert!(!eval_condition(&one_order, &c));
        let new = json!({"lifecycleStage": "new", "orders": {"count": 5}});
        assert!(!eval_condition(&new, &c));
        assert!(!eval_condition(&json!({}), &c));
    }

    #[test]
    fn tailor_cart_value() {
        let c = json!({"cart.value": {"$gt": 50}});
        assert!(validate_condition(&c).is_ok());
        assert!(eval_condition(&json!({"cart": {"value": 50.01}}), &c));
        assert!(!eval_condition(&json!({"cart": {"value": 50}}), &c));
        assert!(!eval_condition(&json!({"cart": null}), &c));
        // JS coercion: a numeric string compares as a number.
        assert!(eval_condition(&json!({"cart": {"value": "75"}}), &c));
    }

    #[test]
    fn tailor_segments_and_versions() {
        let c = json!({
            "$or": [{"segments": {"$in": ["vip", "loyal"]}}, {"cart.items.0.sku": "sku-1"}],
            "app.version": {"$vgte": "2.4.0"},
            "country": {"$ini": ["de", "at"]}
        });
        assert!(validate_condition(&c).is_ok());
        let person = json!({
            "segments": ["browsers"], "cart": {"items": [{"sku": "sku-1"}]},
            "app": {"version": "2.10.1"}, "country": "DE"
        });
        assert!(eval_condition(&person, &c));
        let old_app = json!({"segments": ["vip"], "app": {"version": "2.3.9"}, "country": "DE"});
        assert!(!eval_condition(&old_app, &c));
    }

    #[test]
    fn missing_attributes_coerce_like_javascript() {
        assert!(eval_condition(&json!({}), &json!({"age": {"$lt": 10}})));
        assert!(eval_condition(&json!({}), &json!({"age": 0})));
        assert!(eval_condition(&json!({}), &json!({"age": "null"})));
        assert!(!eval_condition(&json!({}), &json!({"age": {"$eq": 0}})));
    }

    #[test]
    fn path_steps_into_arrays() {
        let attrs = json!({"items": [{"sku": "a"}, {"sku": "b"}]});
        assert!(eval_condition(&attrs, &json!({"items.1.sku": "b"})));
        assert!(eval_condition(&attrs, &json!({"items.length": 2})));
        assert!(!eval_condition(&attrs, &json!({"items.01.sku": "b"})));
    }

    #[test]
    fn malformed_conditions_fail_closed() {
        assert!(!eval_condition(&json!({}), &Value::Null));
        assert!(!eval_condition(&json!({}), &json!({"$or": null})));
        assert!(!eval_condition(
            &json!({"a": [1]}),
            &json!({"a": {"$elemMatch": null}})
        ));
        let throws = json!({"$not": {"a": {"$elemMatch": null}}});
        assert!(!eval_condition(&json!({"a": [1]}), &throws));
        // Not an array: the SDK returns false before it would throw.
        assert!(eval_condition(&json!({"a": 1}), &throws));
    }

    #[test]
    fn groups() {
        let groups = json!({"vips": ["u1", "u2"], "broken": 5});
        let c = json!({"id": {"$inGroup": "vips"}});
        assert!(eval_condition_with_groups(
            &json!({"id": "u2"}),
            &c,
            &groups
        ));
        assert!(!eval_condition(&json!({"id": "u2"}), &c));
        let broken = json!({"id": {"$notInGroup": "broken"}});
        assert!(!eval_condition_with_groups(
            &json!({"id": "u2"}),
            &broken,
            &groups
        ));
    }

    #[test]
    fn numbers_print_like_javascript() {
        for (n, s) in [
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (123456789012345680000.0, "123456789012345680000"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.25e-7, "1.25e-7"),
            (-0.0, "0"),
        ] {
            assert_eq!(js::number_to_string(n), s, "{n}");
        }
    }

    #[test]
    fn strings_parse_like_javascript() {
        for (s, n) in [
            ("  8 ", 8.0),
            ("", 0.0),
            ("0x1F", 31.0),
            ("-1e3", -1000.0),
            (".5", 0.5),
            ("5.", 5.0),
        ] {
            assert_eq!(js::string_to_number(s), n, "{s:?}");
        }
        for s in ["abc", "1_000", "inf", "NaN", "-0x10", "1e", "."] {
            assert!(js::string_to_number(s).is_nan(), "{s:?}");
        }
        assert_eq!(js::string_to_number("-Infinity"), f64::NEG_INFINITY);
    }

    #[test]
    fn versions_pad() {
        assert_eq!(
            version::padded(&json!("v1.2.3+build")),
            "    1-    2-    3-~"
        );
        assert_eq!(
            version::padded(&json!("1.0.0-rc.1")),
            "    1-    0-    0-rc-    1"
        );
        assert_eq!(version::padded(&json!(2)), "    2");
        assert_eq!(version::padded(&Value::Null), "    0");
    }

    #[test]
    fn regexes_are_bounded_and_compiled_once() {
        let huge = "(a{1,999}){1,999}";
        assert!(regex_js::compile(huge, false).is_err());
        let problems = validate_condition(&json!({"ua": {"$regex": huge}}))
            .unwrap_err()
            .to_string();
        assert!(problems.contains("too large"), "{problems}");
        assert!(validate_condition(&json!({"ua": {"$regex": "a".repeat(1_001)}})).is_err());
        // The same pattern is compiled once, whatever the input.
        let ua = "Mozilla/5.0 ".repeat(3_000);
        let condition = json!({"ua": {"$regex": "Mozilla.*Safari"}});
        assert!(!eval_condition(&json!({"ua": ua}), &condition));
        let first = regex_js::compiled("Mozilla.*Safari", false).unwrap();
        let again = regex_js::compiled("Mozilla.*Safari", false).unwrap();
        assert_eq!(first.as_str(), again.as_str());
        assert!(!eval_condition(
            &json!({"ua": "aaa"}),
            &json!({"ua": {"$regex": huge}})
        ));
    }

    #[test]
    fn regexes_keep_javascript_meaning() {
        let m = |p: &str, s: &str| regex_js::compile(p, false).map(|r| r.is_match(s));
        assert_eq!(m(r"^\d+$", "١٢"), Ok(false)); // \d is ASCII-only in JS
        assert_eq!(m(r"^\w+$", "é"), Ok(false));
        assert_eq!(m("^a.b$", "a\rb"), Ok(false));
        assert_eq!(m("{foo}", "x{foo}"), Ok(true));
        assert_eq!(m("a{2}", "aa"), Ok(true));
        assert_eq!(m(r"[\b]", "\u{8}"), Ok(true));
        assert_eq!(m(r"\/path\/", "/path/"), Ok(true));
        assert_eq!(m("[^]", "\n"), Ok(true));
        assert_eq!(m("[]", "x"), Ok(false));
        assert_eq!(m(r"[a[]", "["), Ok(true));
        assert_eq!(m(r"\u0041\x42", "AB"), Ok(true));
        assert_eq!(m("(?<year>\\d{4})", "1999"), Ok(true));
        assert!(m("(?=a)", "a").is_err());
        assert!(m(r"(a)\1", "aa").is_err());
        assert!(m("/???***[)", "x").is_err());
        assert!(regex_js::compile("MOBILE", true).is_ok_and(|r| r.is_match("mobile")));
    }

    #[test]
    fn accepts_well_formed_conditions() {
        for c in [
            json!({}),
            json!({"a": [1, 2], "b": {"c": 1}, "d": null}),
            json!({"$and": [{"a": 1}], "$or": [], "$nor": [{"b": {"$exists": true}}], "$not": {"c": 2}}),
            json!({"tags": {"$all": ["x", {"$regex": "^y"}], "$size": {"$gte": 2}}}),
            json!({"hobbies": {"$elemMatch": {"name": {"$regexi": "^ping"}}}}),
            json!({"n": {"$elemMatch": {"$gt": 10}}, "t": {"$type": "array"}}),
            json!({"id": {"$inGroup": "vips"}, "v": {"$vlt": "2.0.0", "$vgte": 1}}),
        ] {
            assert_eq!(validate_condition(&c), Ok(()), "{c}");
        }
    }

    #[test]
    fn rejects_malformed_conditions_with_every_problem() {
        let p = problems(json!({
            "name": {"$regx": "hello"},
            "num": {"$in": 1},
            "ua": {"$regex": "/???***[)"},
            "$and": {"a": 1},
            "$in": [1],
            "$AND": [],
            "age": {"$gt": 1, "max": 3},
            "t": {"$type": "int"},
            "e": {"$exists": "yes"},
            "list": {"$eq": [1, 2]},
            "a": {"b": {"$gt": 1}},
            "x..y": 1,
            "s": {"$size": "3"},
            "m": {"$elemMatch": 4},
            "o": {"$or": []},
            "g": {"$inGroup": 3},
            "l": {"$nin": [[1]]},
            "r": {"$regex": "(?<=a)b"}
        }));
        let expect = [
            "name.$regx: unknown operator `$regx`",
            "num.$in: `$in` needs an array, got a number",
            "ua.$regex: `$regex` pattern \"/???***[)\" does not compile",
            "$and: `$and` needs an array of conditions, got an object",
            "the condition: `$in` applies to an attribute",
            "the condition: unknown operator `$AND`",
            "age: mixes operators and plain keys",
            "t.$type: `$type` must be one of",
            "e.$exists: `$exists` needs true or false",
            "list.$eq: `$eq` compares by identity",
            "a.b: literal value has the key `$gt`",
            "x..y: `x..y` is not an attribute path",
            "s.$size: `$size` needs a whole number",
            "m.$elemMatch: `$elemMatch` needs an object",
            "o.$or: `$or` combines conditions",
            "g.$inGroup: `$inGroup` needs a saved group id",
            "l.$nin: `$nin` lists must hold only",
            "r.$regex: `$regex` pattern \"(?<=a)b\" does not compile: lookahead and lookbehind",
        ];
        for e in expect {
            assert!(
                p.iter().any(|p| p.starts_with(e)),
                "missing {e:?} in {p:#?}"
            );
        }
        assert_eq!(p.len(), expect.len(), "{p:#?}");
    }

    #[test]
    fn nested_problems_name_their_place() {
        let p = problems(json!({"$or": [{"a": 1}, {"b": {"$not": {"$in": "x"}}}]}));
        assert_eq!(
            p,
            vec!["$or[1].b.$not.$in: `$in` needs an array, got a string"]
        );
        assert_eq!(
            problems(json!([1])),
            vec![
                "the condition: a condition must be an object of attribute paths and operators, got an array"
            ]
        );
    }
}
