//! The decision log's compact rows (`decisions.db`): a decision's body is a few bytes of
//! varints naming *terms* — ids, placement names, kinds and explanation texts, each stored
//! once in the `terms` table — instead of a JSON document. Five placements come to ~60–100
//! bytes of body. Explanations are a handful of templates filled with catalog names, so the
//! dictionary grows with the catalog, not with the traffic.
//!
//! Decision ids (`<random prefix><counter>`) are stored as the prefix's term and the counter.
//!
//! Body, version 1: `1`, flags (1 personalized, 2 profile, 4 reason, 8 product), model
//! version, [profile], [reason], [product], cart, then per placement: placement, kind, flags
//! (1 chosen, 2 counted, 4 propensity ≠ 1, 8 experiment, 16 features, 32 candidates),
//! [chosen], shown, [propensity f64], [experiment, variation], [features f64…],
//! [candidates], explanation. Lists are a count and their items; integers are LEB128.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension};

use crate::{DecisionRecord, LoggedPlacement, Result, StoreError};

const VERSION: u8 = 1;
/// Terms kept in memory both ways; past it the cache starts over (the table keeps them all).
const CACHED_TERMS: usize = 200_000;

/// The terms dictionary's cache in front of its table.
#[derive(Default)]
pub(super) struct Terms {
    by_text: HashMap<String, i64>,
    by_id: HashMap<i64, String>,
}

impl Terms {
    /// The term of `text`, added to the table if new.
    pub fn id(&mut self, conn: &Connection, text: &str) -> Result<i64> {
        if let Some(id) = self.by_text.get(text) {
            return Ok(*id);
        }
        conn.prepare_cached("INSERT OR IGNORE INTO terms (text) VALUES (?1)")?
            .execute([text])?;
        let id: i64 = conn
            .prepare_cached("SELECT id FROM terms WHERE text = ?1")?
            .query_row([text], |r| r.get(0))?;
        self.remember(id, text);
        Ok(id)
    }

    /// The text of term `id`.
    pub fn text(&mut self, conn: &Connection, id: i64) -> Result<String> {
        if let Some(text) = self.by_id.get(&id) {
            return Ok(text.clone());
        }
        let text: String = conn
            .prepare_cached("SELECT text FROM terms WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| StoreError::Corrupt(format!("decision log: no term {id}")))?;
        self.remember(id, &text);
        Ok(text)
    }

    fn remember(&mut self, id: i64, text: &str) {
        if self.by_text.len() >= CACHED_TERMS {
            self.by_text.clear();
            self.by_id.clear();
        }
        self.by_text.insert(text.to_string(), id);
        self.by_id.insert(id, text.to_string());
    }

    /// Forgets everything (after a transaction that added terms rolled back).
    pub fn clear(&mut self) {
        *self = Terms::default();
    }
}

/// A decision id as (prefix, counter): the trailing digits are the counter unless they have
/// a leading zero (then the whole id is the prefix and the counter is -1), so the split is
/// reversible by [`join_id`].
pub(super) fn split_id(id: &str) -> (&str, i64) {
    let digits = id.len() - id.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (prefix, counter) = id.split_at(id.len() - digits);
    match counter.parse::<i64>() {
        Ok(n) if !(counter.starts_with('0') && counter.len() > 1) => (prefix, n),
        _ => (id, -1),
    }
}

pub(super) fn join_id(prefix: &str, n: i64) -> String {
    if n < 0 {
        prefix.to_string()
    } else {
        format!("{prefix}{n}")
    }
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Encodes everything of `d` but its id, time and person ids, interning strings with `term`.
pub(super) fn encode(
    d: &DecisionRecord,
    term: &mut dyn FnMut(&str) -> Result<i64>,
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(96);
    let mut put_term = |out: &mut Vec<u8>, text: &str| -> Result<()> {
        put_varint(out, term(text)? as u64);
        Ok(())
    };
    out.push(VERSION);
    let flags = u8::from(d.personalized)
        | (u8::from(d.profile.is_some()) << 1)
        | (u8::from(d.reason.is_some()) << 2)
        | (u8::from(d.product.is_some()) << 3);
    out.push(flags);
    put_term(&mut out, &d.model_version)?;
    if let Some(p) = d.profile {
        put_varint(&mut out, p);
    }
    if let Some(r) = &d.reason {
        put_term(&mut out, r)?;
    }
    if let Some(p) = &d.product {
        put_term(&mut out, p)?;
    }
    put_varint(&mut out, d.cart.len() as u64);
    for c in &d.cart {
        put_term(&mut out, c)?;
    }
    put_varint(&mut out, d.placements.len() as u64);
    for p in &d.placements {
        put_term(&mut out, &p.placement)?;
        put_term(&mut out, &p.kind)?;
        let flags = u8::from(p.chosen.is_some())
            | (u8::from(p.counted) << 1)
            | (u8::from(p.propensity != 1.0) << 2)
            | (u8::from(p.experiment.is_some()) << 3)
            | (u8::from(!p.features.is_empty()) << 4)
            | (u8::from(!p.candidates.is_empty()) << 5);
        out.push(flags);
        if let Some(c) = &p.chosen {
            put_term(&mut out, c)?;
        }
        put_varint(&mut out, p.shown.len() as u64);
        for s in &p.shown {
            put_term(&mut out, s)?;
        }
        if p.propensity != 1.0 {
            out.extend_from_slice(&p.propensity.to_le_bytes());
        }
        if let Some((experiment, variation)) = &p.experiment {
            put_term(&mut out, experiment)?;
            put_term(&mut out, variation)?;
        }
        if !p.features.is_empty() {
            put_varint(&mut out, p.features.len() as u64);
            for f in &p.features {
                out.extend_from_slice(&f.to_le_bytes());
            }
        }
        if !p.candidates.is_empty() {
            put_varint(&mut out, p.candidates.len() as u64);
            for c in &p.candidates {
                put_term(&mut out, c)?;
            }
        }
        put_term(&mut out, &p.explanation)?;
    }
    Ok(out)
}

/// Reads a body [`encode`] wrote into `d` (all but id, time and person ids).
pub(super) fn decode(
    bytes: &[u8],
    d: &mut DecisionRecord,
    text: &mut dyn FnMut(i64) -> Result<String>,
) -> Result<()> {
    let mut r = Reader { bytes, at: 0 };
    if r.byte()? != VERSION {
        return Err(corrupt());
    }
    let flags = r.byte()?;
    d.personalized = flags & 1 != 0;
    d.model_version = text(r.varint()? as i64)?;
    d.profile = if flags & 2 != 0 {
        Some(r.varint()?)
    } else {
        None
    };
    d.reason = if flags & 4 != 0 {
        Some(text(r.varint()? as i64)?)
    } else {
        None
    };
    d.product = if flags & 8 != 0 {
        Some(text(r.varint()? as i64)?)
    } else {
        None
    };
    d.cart = r.terms(text)?;
    let placements = r.count()?;
    d.placements = Vec::with_capacity(placements);
    for _ in 0..placements {
        let mut p = LoggedPlacement {
            placement: text(r.varint()? as i64)?,
            kind: text(r.varint()? as i64)?,
            propensity: 1.0,
            ..LoggedPlacement::default()
        };
        let flags = r.byte()?;
        p.counted = flags & 2 != 0;
        if flags & 1 != 0 {
            p.chosen = Some(text(r.varint()? as i64)?);
        }
        p.shown = r.terms(text)?;
        if flags & 4 != 0 {
            p.propensity = r.f64()?;
        }
        if flags & 8 != 0 {
            let experiment = text(r.varint()? as i64)?;
            p.experiment = Some((experiment, text(r.varint()? as i64)?));
        }
        if flags & 16 != 0 {
            let n = r.count()?;
            p.features = (0..n).map(|_| r.f64()).collect::<Result<_>>()?;
        }
        if flags & 32 != 0 {
            p.candidates = r.terms(text)?;
        }
        p.explanation = text(r.varint()? as i64)?;
        d.placements.push(p);
    }
    Ok(())
}

fn corrupt() -> StoreError {
    StoreError::Corrupt("a decision log row does not decode".into())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8> {
        let b = *self.bytes.get(self.at).ok_or_else(corrupt)?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(corrupt())
    }

    /// A list length, which cannot exceed the bytes left.
    fn count(&mut self) -> Result<usize> {
        let n = self.varint()? as usize;
        if n > self.bytes.len() - self.at {
            return Err(corrupt());
        }
        Ok(n)
    }

    fn f64(&mut self) -> Result<f64> {
        let end = self.at + 8;
        let raw: [u8; 8] = self
            .bytes
            .get(self.at..end)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(corrupt)?;
        self.at = end;
        Ok(f64::from_le_bytes(raw))
    }

    fn terms(&mut self, text: &mut dyn FnMut(i64) -> Result<String>) -> Result<Vec<String>> {
        let n = self.count()?;
        (0..n).map(|_| text(self.varint()? as i64)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_and_join_back() {
        for id in [
            "d_abc123",
            "d_ab0",
            "d_ab05",
            "d1",
            "nope",
            "0",
            "00",
            "d_x9223372036854775808",
        ] {
            let (prefix, n) = split_id(id);
            assert_eq!(join_id(prefix, n), id);
        }
        assert_eq!(split_id("d_abcd12"), ("d_abcd", 12));
    }

    #[test]
    fn a_decision_round_trips_and_stays_small() {
        let mut dictionary: Vec<String> = Vec::new();
        let d = DecisionRecord {
            personalized: true,
            model_version: "rules-2".into(),
            profile: Some(123_456),
            product: Some("sku-1".into()),
            cart: vec!["sku-2".into()],
            placements: vec![
                LoggedPlacement {
                    placement: "home.hero".into(),
                    kind: "hero".into(),
                    chosen: Some("hero-1".into()),
                    shown: vec!["hero-1".into()],
                    propensity: 1.0,
                    explanation: "Because you like Shoes".into(),
                    counted: true,
                    ..Default::default()
                },
                LoggedPlacement {
                    placement: "promo.banner".into(),
                    kind: "promotion".into(),
                    chosen: Some("promo-a".into()),
                    shown: vec!["promo-a".into()],
                    candidates: vec!["promo-a".into(), "promo-b".into()],
                    propensity: 0.25,
                    experiment: Some(("exp".into(), "b".into())),
                    features: vec![1.0, 0.5],
                    explanation: "Exploring".into(),
                    counted: true,
                },
                LoggedPlacement {
                    placement: "recs.home".into(),
                    kind: "recommendations".into(),
                    shown: (0..8).map(|i| format!("sku-{i}")).collect(),
                    propensity: 1.0,
                    explanation: "Popular".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let bytes = encode(&d, &mut |t| {
            Ok(match dictionary.iter().position(|x| x == t) {
                Some(i) => i as i64,
                None => {
                    dictionary.push(t.to_string());
                    dictionary.len() as i64 - 1
                }
            })
        })
        .unwrap();
        assert!(bytes.len() < 80, "{} bytes", bytes.len());
        let mut back = DecisionRecord::default();
        decode(&bytes, &mut back, &mut |i| {
            Ok(dictionary[i as usize].clone())
        })
        .unwrap();
        assert_eq!(back, d);
        for cut in 0..bytes.len() {
            let mut partial = DecisionRecord::default();
            assert!(
                decode(&bytes[..cut], &mut partial, &mut |i| {
                    dictionary.get(i as usize).cloned().ok_or_else(corrupt)
                })
                .is_err()
            );
        }
    }
}
