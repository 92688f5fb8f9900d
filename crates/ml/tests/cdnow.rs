//! Reading the shared CDNOW files for the tests; `None` (with a message) unless external
//! tests are on (`TAILOR_EXTERNAL_TESTS=1`) and the shared data is beside the project, so
//! the suite still runs elsewhere. CI has the data.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::path::PathBuf;

use tailor_ml::clv::{CustomerSummary, Transaction};

fn data_file(name: &str) -> Option<PathBuf> {
    let path = tailor_testkit::shared_data()?.join("cdnow").join(name);
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (the shared data sets live beside the project)",
            path.display()
        );
        None
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn day_number(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `cdnow_customers_summary_with_transactions.csv`: `ID,x,t_x,T,zbar`, by ID.
pub fn published_summary() -> Option<Vec<CustomerSummary>> {
    let text = std::fs::read_to_string(data_file("cdnow_customers_summary_with_transactions.csv")?)
        .expect("readable summary");
    let customers = text
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<f64> = line
                .split(',')
                .map(|f| f.trim().parse().expect("numeric field"))
                .collect();
            CustomerSummary {
                customer: fields[0] as u64,
                frequency: fields[1] as u32,
                recency: fields[2],
                age: fields[3],
                monetary_value: fields[4],
            }
        })
        .collect();
    Some(customers)
}

/// `CDNOW_sample.txt`: master id, sample id, date, CDs, dollars; keyed by the sample id, the
/// `ID` of the summary files.
pub fn sample_transactions() -> Option<Vec<Transaction>> {
    let text = std::fs::read_to_string(data_file("CDNOW_sample.txt")?).expect("readable sample");
    let transactions = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let date: i64 = fields[2].parse().expect("date");
            Transaction {
                customer: fields[1].parse().expect("sample id"),
                day: day_number(date / 10_000, date / 100 % 100, date % 100),
                amount: fields[4].parse().expect("amount"),
            }
        })
        .collect();
    Some(transactions)
}
