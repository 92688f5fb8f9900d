//! Distinct `(frequency, recency, T)` rows with how many customers share each: the
//! likelihoods are sums over customers, so each distinct row is computed once and weighted.
//!
//! The sums are sequential on purpose: splitting the rows across threads per evaluation
//! (std::thread::scope, 2 chunks) measured 1.5–3× *slower* on the shared 2-core machine, where
//! spawned threads wait for a core hundreds of times per fit.

use super::{ClvError, CustomerSummary};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeightedRow {
    pub frequency: f64,
    pub recency: f64,
    pub age: f64,
    pub weight: f64,
}

/// Checks every summary and groups identical rows.
pub fn group(customers: &[CustomerSummary]) -> Result<Vec<WeightedRow>, ClvError> {
    let mut keys = Vec::with_capacity(customers.len());
    for c in customers {
        if !(c.age.is_finite() && c.recency.is_finite() && c.recency >= 0.0 && c.age > 0.0) {
            return Err(ClvError::InvalidSummary {
                customer: c.customer,
                reason: "recency must be ≥ 0 and T > 0, both finite",
            });
        }
        if c.recency > c.age {
            return Err(ClvError::InvalidSummary {
                customer: c.customer,
                reason: "recency is after T",
            });
        }
        if c.frequency == 0 && c.recency != 0.0 {
            return Err(ClvError::InvalidSummary {
                customer: c.customer,
                reason: "a customer without repeat purchases must have recency 0",
            });
        }
        // Bit patterns are exact keys for finite, non-negative floats.
        keys.push((c.frequency, c.recency.to_bits(), c.age.to_bits()));
    }
    keys.sort_unstable();
    let mut rows: Vec<WeightedRow> = Vec::new();
    let mut previous = None;
    for key in keys {
        if previous == Some(key) {
            if let Some(last) = rows.last_mut() {
                last.weight += 1.0;
            }
            continue;
        }
        previous = Some(key);
        rows.push(WeightedRow {
            frequency: f64::from(key.0),
            recency: f64::from_bits(key.1),
            age: f64::from_bits(key.2),
            weight: 1.0,
        });
    }
    if rows.is_empty() {
        return Err(ClvError::NoData("no customers"));
    }
    Ok(rows)
}

/// Where a row's values sit in the distinct-value lists of [`Distinct`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowIndex {
    pub age: usize,
    pub recency: usize,
    pub count_and_age: usize,
    pub count_and_recency: usize,
}

/// The distinct values of T, t_x, (x, T) and (x, t_x) among the rows, and each row's place in
/// them: a likelihood whose terms depend on one of these (ln(α + T), a ₂F₁ of (x, t_x), …) then
/// computes each once per evaluation instead of once per row. Customers join in a few weeks
/// and are observed at whole days, so there are far fewer such values than rows (CDNOW: 84
/// distinct T for 8,685 rows).
#[derive(Clone, Debug, PartialEq)]
pub struct Distinct {
    pub ages: Vec<f64>,
    pub recencies: Vec<f64>,
    pub counts_and_ages: Vec<(f64, f64)>,
    pub counts_and_recencies: Vec<(f64, f64)>,
    pub rows: Vec<RowIndex>,
}

impl Distinct {
    pub fn of(rows: &[WeightedRow]) -> Self {
        let mut ages = Interner::default();
        let mut recencies = Interner::default();
        let mut counts_and_ages = Interner::default();
        let mut counts_and_recencies = Interner::default();
        let rows = rows
            .iter()
            .map(|row| RowIndex {
                age: ages.index((0.0, row.age)),
                recency: recencies.index((0.0, row.recency)),
                count_and_age: counts_and_ages.index((row.frequency, row.age)),
                count_and_recency: counts_and_recencies.index((row.frequency, row.recency)),
            })
            .collect();
        Distinct {
            ages: ages.values.iter().map(|v| v.1).collect(),
            recencies: recencies.values.iter().map(|v| v.1).collect(),
            counts_and_ages: counts_and_ages.values,
            counts_and_recencies: counts_and_recencies.values,
            rows,
        }
    }
}

/// Numbers distinct (finite) pairs in order of first appearance.
#[derive(Default)]
struct Interner {
    values: Vec<(f64, f64)>,
    seen: std::collections::HashMap<(u64, u64), usize>,
}

impl Interner {
    fn index(&mut self, value: (f64, f64)) -> usize {
        let next = self.values.len();
        let index = *self
            .seen
            .entry((value.0.to_bits(), value.1.to_bits()))
            .or_insert(next);
        if index == next {
            self.values.push(value);
        }
        index
    }
}
