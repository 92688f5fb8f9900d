//! The calibration summary of each customer — repeat purchases, recency, age and mean repeat
//! spend — from raw transactions, with exactly the semantics of `lifetimes`'
//! `summary_data_from_transaction_data(…, freq="D")` divided into periods (7 days for the
//! CDNOW convention): transactions on one day are one purchase (amounts summed), the first
//! purchase is not a repeat, and time runs from each customer's first purchase.

/// One purchase line, as exported by a shop. Several lines on one day are one purchase.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transaction {
    pub customer: u64,
    /// Day number (any epoch; only differences matter).
    pub day: i64,
    /// Amount paid. Zero is a purchase (CDNOW has 80 free orders, and lifetimes and the
    /// published summaries count them); negative or non-finite lines are skipped and counted
    /// (refunds and corrections are not purchases).
    pub amount: f64,
}

/// What the models know about one customer at the end of calibration (lifetimes' `frequency`,
/// `recency`, `T`, `monetary_value`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CustomerSummary {
    pub customer: u64,
    /// Repeat purchases: distinct purchase days after the first.
    pub frequency: u32,
    /// Periods from the first to the last purchase (0 without repeats).
    pub recency: f64,
    /// Periods from the first purchase to the end of calibration (the customer's age).
    pub age: f64,
    /// Mean value of the repeat purchases (0 without repeats); the first purchase is left out
    /// because it is typically different (Fader & Hardie 2013).
    pub monetary_value: f64,
}

/// The calibration summary and what was left out of it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// One row per customer with a purchase on or before the calibration end, by customer id.
    pub customers: Vec<CustomerSummary>,
    /// Transactions skipped because their amount was negative or not a number.
    pub skipped_negative_amounts: usize,
    /// Transactions kept with a zero amount (purchases that count, worth nothing).
    pub zero_amounts: usize,
    /// Transactions after the calibration end (the hold-out period and beyond).
    pub after_calibration: usize,
}

/// Summarises `transactions` (any order) for calibration through `calibration_end` (a day,
/// inclusive) in periods of `period_days` days.
pub fn summarize(transactions: &[Transaction], calibration_end: i64, period_days: f64) -> Summary {
    let mut summary = Summary::default();
    let mut purchases: Vec<(u64, i64, f64)> = Vec::with_capacity(transactions.len());
    for t in transactions {
        if !(t.amount.is_finite() && t.amount >= 0.0) {
            summary.skipped_negative_amounts += 1;
        } else if t.day > calibration_end {
            summary.after_calibration += 1;
        } else {
            summary.zero_amounts += usize::from(t.amount == 0.0);
            purchases.push((t.customer, t.day, t.amount));
        }
    }
    // Input order does not matter: sorting groups each customer's days.
    purchases.sort_unstable_by_key(|&(customer, day, _)| (customer, day));

    let mut index = 0;
    while index < purchases.len() {
        let customer = purchases[index].0;
        let first_day = purchases[index].1;
        let mut last_day = first_day;
        let mut repeat_days = 0u32;
        let mut repeat_total = 0.0;
        while index < purchases.len() && purchases[index].0 == customer {
            let (_, day, amount) = purchases[index];
            if day != last_day {
                repeat_days += 1;
                last_day = day;
            }
            if day != first_day {
                repeat_total += amount;
            }
            index += 1;
        }
        summary.customers.push(CustomerSummary {
            customer,
            frequency: repeat_days,
            recency: (last_day - first_day) as f64 / period_days,
            age: (calibration_end - first_day) as f64 / period_days,
            monetary_value: if repeat_days == 0 {
                0.0
            } else {
                repeat_total / f64::from(repeat_days)
            },
        });
    }
    summary
}

/// The distinct purchase histories (x, t_x, T) of a cohort: customers who share one get the
/// same purchase predictions, so models predict once per history (CDNOW: 8,685 histories for
/// 23,570 customers).
#[derive(Clone, Debug, PartialEq)]
pub struct Histories {
    /// One customer per history, in (x, t_x, T) order.
    pub distinct: Vec<CustomerSummary>,
    /// How many customers have each history.
    pub counts: Vec<f64>,
    /// The history of each customer, by index into `distinct`, in the order of the customers.
    pub of_customer: Vec<usize>,
}

impl Histories {
    pub fn of(customers: &[CustomerSummary]) -> Self {
        // Bit patterns are exact keys for finite floats.
        let key = |c: &CustomerSummary| (c.frequency, c.recency.to_bits(), c.age.to_bits());
        let mut order: Vec<usize> = (0..customers.len()).collect();
        order.sort_unstable_by_key(|&i| key(&customers[i]));
        let mut histories = Histories {
            distinct: Vec::new(),
            counts: Vec::new(),
            of_customer: vec![0; customers.len()],
        };
        for i in order {
            let c = &customers[i];
            match histories.distinct.last() {
                Some(last) if key(last) == key(c) => {
                    if let Some(count) = histories.counts.last_mut() {
                        *count += 1.0;
                    }
                }
                _ => {
                    histories.distinct.push(*c);
                    histories.counts.push(1.0);
                }
            }
            histories.of_customer[i] = histories.distinct.len() - 1;
        }
        histories
    }
}

/// For each customer of `customers` (in that order), the distinct days with a purchase in the
/// hold-out period `(calibration_end, holdout_end]`, as periods after `calibration_end`.
/// Customers first seen in the hold-out are not part of the cohort and are ignored.
pub fn holdout_purchases(
    transactions: &[Transaction],
    customers: &[CustomerSummary],
    calibration_end: i64,
    holdout_end: i64,
    period_days: f64,
) -> Vec<Vec<f64>> {
    let mut days: Vec<(u64, i64)> = transactions
        .iter()
        .filter(|t| t.amount.is_finite() && t.amount >= 0.0)
        .filter(|t| t.day > calibration_end && t.day <= holdout_end)
        .map(|t| (t.customer, t.day))
        .collect();
    days.sort_unstable();
    days.dedup();
    customers
        .iter()
        .map(|c| {
            let start = days.partition_point(|&(customer, _)| customer < c.customer);
            days[start..]
                .iter()
                .take_while(|&&(customer, _)| customer == c.customer)
                .map(|&(_, day)| (day - calibration_end) as f64 / period_days)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purchase(customer: u64, day: i64, amount: f64) -> Transaction {
        Transaction {
            customer,
            day,
            amount,
        }
    }

    #[test]
    fn same_day_lines_are_one_purchase_and_the_first_is_not_a_repeat() {
        let transactions = [
            // Out of order on purpose.
            purchase(7, 14, 30.0),
            purchase(7, 0, 100.0),
            purchase(7, 7, 10.0),
            purchase(7, 7, 5.0),
            purchase(7, 0, 1.0),
            purchase(3, 21, 9.0),
            purchase(9, 40, 9.0), // after the calibration end
            purchase(3, 5, -4.0), // a refund
            purchase(3, 21, 0.0), // free, same day: still one purchase
        ];
        let summary = summarize(&transactions, 28, 7.0);
        assert_eq!(summary.skipped_negative_amounts, 1);
        assert_eq!(summary.zero_amounts, 1);
        assert_eq!(summary.after_calibration, 1);
        let expected = [
            CustomerSummary {
                customer: 3,
                frequency: 0,
                recency: 0.0,
                age: 1.0,
                monetary_value: 0.0,
            },
            CustomerSummary {
                customer: 7,
                frequency: 2,
                recency: 2.0,
                age: 4.0,
                monetary_value: 22.5,
            },
        ];
        assert_eq!(summary.customers, expected);

        let holdout = holdout_purchases(&transactions, &summary.customers, 28, 50, 7.0);
        assert_eq!(holdout, vec![Vec::<f64>::new(), Vec::new()]);
        let later = [
            purchase(7, 35, 1.0),
            purchase(7, 35, 2.0),
            purchase(7, 42, 1.0),
        ];
        let holdout = holdout_purchases(&later, &summary.customers, 28, 50, 7.0);
        assert_eq!(holdout, vec![vec![], vec![1.0, 2.0]]);
    }
}
