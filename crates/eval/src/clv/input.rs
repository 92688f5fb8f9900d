//! Reading `tailor eval clv`'s inputs: transaction exports and ready-made calibration
//! summaries. Rows that cannot be read are skipped and counted, with the first one quoted, so
//! one stray line does not sink an export; a file where most rows are unreadable is rejected,
//! since it is almost certainly in another format.
//!
//! Transactions, one purchase line per row, in either format:
//! - whitespace-separated `customer date [quantity] amount` (CDNOW_master.txt; a first line
//!   that does not parse is taken as a header);
//! - CSV with a header naming `customer_id`, `date` and `amount` (any order, other columns
//!   ignored; `customer`/`id`, `value`/`dollar_value`/`revenue` also accepted).
//!
//! CSV is read with the `csv` crate (quoted fields allowed); the whitespace format is split
//! on runs of spaces, which CSV readers do not do.
//!
//! Dates are `YYYYMMDD` or `YYYY-MM-DD` (an ISO timestamp is cut to its date). Customer ids
//! are any text. Rows may come in any order.

use std::collections::HashMap;
use std::path::Path;

use tailor_ml::clv::{CustomerSummary, Transaction};

use crate::error::{Error, Invalid, invalid};

/// What was not used, and why.
#[derive(Debug, Default)]
pub struct Unreadable {
    pub rows: usize,
    pub bad_dates: usize,
    /// "line N: reason" of the first unreadable row.
    pub first: Option<String>,
}

impl Unreadable {
    fn note(&mut self, line: usize, reason: String, is_date: bool) {
        self.rows += 1;
        self.bad_dates += usize::from(is_date);
        self.first
            .get_or_insert_with(|| format!("line {line}: {reason}"));
    }
}

/// Transactions with customers interned as dense numbers, and their original ids.
#[derive(Default)]
pub struct Transactions {
    pub rows: Vec<Transaction>,
    pub customer_ids: Vec<String>,
    pub unreadable: Unreadable,
}

/// Days since 0001-01-01 of a `YYYYMMDD` or `YYYY-MM-DD` date.
pub fn parse_day(text: &str) -> Option<i64> {
    use chrono::Datelike;
    let text = text.trim();
    let date = text
        .get(..10)
        .filter(|d| d.as_bytes().get(4) == Some(&b'-'));
    // The digits of the date (dashes dropped), which must be exactly eight: read straight into
    // a number, since this runs once per transaction line.
    let (digits, dashes) = match date {
        Some(date) => (date, true),
        None => (text, false),
    };
    let (mut number, mut count) = (0i32, 0usize);
    for byte in digits.bytes() {
        if dashes && byte == b'-' {
            continue;
        }
        if !byte.is_ascii_digit() || count == 8 {
            return None;
        }
        number = number * 10 + i32::from(byte - b'0');
        count += 1;
    }
    if count != 8 {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(
        number / 10_000,
        (number / 100 % 100) as u32,
        (number % 100) as u32,
    )?;
    Some(i64::from(date.num_days_from_ce()))
}

pub fn read_transactions(path: &Path) -> Result<Transactions, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::reading(path, e))?;
    parse_transactions(&text).map_err(|e| e.in_file(path))
}

fn parse_transactions(text: &str) -> Result<Transactions, Invalid> {
    let Some(first) = text.lines().map(str::trim).find(|line| !line.is_empty()) else {
        invalid!("empty file: expected transactions (customer, date, amount)");
    };
    let mut rows = Rows::default();
    if first.contains(',') {
        let mut reader = crate::csv_reader().from_reader(text.as_bytes());
        let mut lines = crate::Lines::new(text);
        let mut record = csv::StringRecord::new();
        while reader.read_record(&mut record)? && is_blank(&record) {}
        let header: Vec<String> = record.iter().map(str::to_lowercase).collect();
        let find = |names: &[&str]| header.iter().position(|c| names.contains(&c.as_str()));
        let (Some(customer), Some(date), Some(amount)) = (
            find(&["customer_id", "customer", "id"]),
            find(&["date", "order_date", "timestamp"]),
            find(&["amount", "value", "dollar_value", "revenue"]),
        ) else {
            invalid!("the CSV header must name customer_id, date and amount columns: {first:?}");
        };
        while reader.read_record(&mut record)? {
            if is_blank(&record) {
                continue;
            }
            let line = lines.of(&record) as usize;
            let fields = (record.get(customer), record.get(date), record.get(amount));
            rows.take(line, fields, false);
        }
    } else {
        let lines = text
            .lines()
            .enumerate()
            .map(|(index, line)| (index + 1, line.trim()))
            .filter(|(_, line)| !line.is_empty());
        // One buffer for every line's fields.
        let mut fields: Vec<&str> = Vec::new();
        for (line, text) in lines {
            fields.clear();
            fields.extend(text.split_whitespace());
            // customer date [quantity] amount: the amount is the last field.
            if fields.len() != 3 && fields.len() != 4 {
                rows.total += 1;
                rows.result.unreadable.note(
                    line,
                    format!(
                        "expected 3 or 4 whitespace-separated fields, found {}",
                        fields.len()
                    ),
                    false,
                );
                continue;
            }
            let row = (Some(fields[0]), Some(fields[1]), fields.last().copied());
            rows.take(line, row, true);
        }
    }
    rows.finish()
}

/// A CSV row without a value (a line of spaces).
fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(str::is_empty)
}

/// The transactions read so far, with customers interned as they come.
#[derive(Default)]
struct Rows {
    customers: HashMap<String, u64>,
    result: Transactions,
    /// Rows seen (readable or not), header excepted.
    total: usize,
}

impl Rows {
    fn intern(&mut self, id: &str) -> u64 {
        // Look up before inserting: most lines are a customer already seen, and the entry API
        // would allocate the key for every line.
        if let Some(&number) = self.customers.get(id) {
            return number;
        }
        let number = self.result.customer_ids.len() as u64;
        self.result.customer_ids.push(id.to_string());
        self.customers.insert(id.to_string(), number);
        number
    }

    /// One row's customer, date and amount. `may_be_header`: a whitespace file's first row is
    /// its header when its date is not a date.
    fn take(
        &mut self,
        line: usize,
        fields: (Option<&str>, Option<&str>, Option<&str>),
        may_be_header: bool,
    ) {
        self.total += 1;
        let (Some(customer), Some(date), Some(amount)) = fields else {
            self.result
                .unreadable
                .note(line, "missing fields".into(), false);
            return;
        };
        let Some(day) = parse_day(date) else {
            if may_be_header && self.total == 1 {
                self.total = 0;
                return;
            }
            self.result.unreadable.note(
                line,
                format!("date {date:?} is not YYYYMMDD or YYYY-MM-DD"),
                true,
            );
            return;
        };
        let Some(amount) = amount.parse::<f64>().ok().filter(|a| a.is_finite()) else {
            self.result
                .unreadable
                .note(line, format!("amount {amount:?} is not a number"), false);
            return;
        };
        if customer.is_empty() {
            self.result
                .unreadable
                .note(line, "empty customer id".into(), false);
            return;
        }
        let customer = self.intern(customer);
        self.result.rows.push(Transaction {
            customer,
            day,
            amount,
        });
    }

    fn finish(self) -> Result<Transactions, Invalid> {
        let Rows { result, total, .. } = self;
        if result.rows.is_empty() {
            match &result.unreadable.first {
                Some(first) => invalid!("no readable transactions; the first problem: {first}"),
                None => invalid!("no transactions"),
            }
        }
        if result.unreadable.rows > result.rows.len() {
            invalid!(
                "{} of {} rows are unreadable, which looks like another format; the first problem: {}",
                result.unreadable.rows,
                total,
                result.unreadable.first.as_deref().unwrap_or("?")
            );
        }
        Ok(result)
    }
}

/// A ready-made calibration summary: CSV with a header naming the id (`ID`, `id`,
/// `customer_id`), `frequency`/`x`, `recency`/`t_x`, `T` and optionally
/// `monetary_value`/`zbar` (lifetimes' and the CDNOW files' names). Unlike transactions,
/// every row must be valid: a summary is derived data, so a bad row means a bad export.
pub fn read_summary(path: &Path) -> Result<(Vec<CustomerSummary>, Vec<String>, bool), Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::reading(path, e))?;
    parse_summary(&text).map_err(|e| e.in_file(path))
}

/// Returns the summaries, their ids, and whether the file had a monetary column.
fn parse_summary(text: &str) -> Result<(Vec<CustomerSummary>, Vec<String>, bool), Invalid> {
    let mut reader = crate::csv_reader().from_reader(text.as_bytes());
    let mut lines = crate::Lines::new(text);
    let mut record = csv::StringRecord::new();
    let mut has_header = false;
    while reader.read_record(&mut record)? {
        if !is_blank(&record) {
            has_header = true;
            break;
        }
    }
    if !has_header {
        invalid!("empty file: expected a header line such as `ID,frequency,recency,T`");
    }
    let header: Vec<String> = record.iter().map(str::to_string).collect();
    let find = |names: &[&str]| header.iter().position(|c| names.contains(&c.as_str()));
    let (Some(id), Some(frequency), Some(recency), Some(age)) = (
        find(&["ID", "id", "customer_id"]),
        find(&["frequency", "x"]),
        find(&["recency", "t_x"]),
        find(&["T"]),
    ) else {
        invalid!("the header must name ID, frequency (or x), recency (or t_x) and T: {header:?}");
    };
    let monetary = find(&["monetary_value", "zbar"]);
    let mut customers = Vec::new();
    let mut ids = Vec::new();
    while reader.read_record(&mut record)? {
        if is_blank(&record) {
            continue;
        }
        let line = lines.of(&record);
        let number = |column: usize, what: &str| -> Result<f64, Invalid> {
            record
                .get(column)
                .and_then(|f| f.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    Invalid::new(format!("line {line}: {what} is not a non-negative number"))
                })
        };
        let count = number(frequency, "frequency")?;
        if count.fract() != 0.0 || count > f64::from(u32::MAX) {
            invalid!("line {line}: frequency {count} is not a whole number");
        }
        let (recency, age) = (number(recency, "recency")?, number(age, "T")?);
        if recency > age {
            invalid!("line {line}: recency {recency} is after T {age}");
        }
        ids.push(record.get(id).unwrap_or_default().to_string());
        customers.push(CustomerSummary {
            customer: customers.len() as u64,
            frequency: count as u32,
            recency,
            age,
            monetary_value: match monetary {
                Some(column) => number(column, "monetary value")?,
                None => 0.0,
            },
        });
    }
    if customers.is_empty() {
        invalid!("no customers");
    }
    Ok((customers, ids, monetary.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cdnow_master_and_csv_exports() {
        let cdnow = " customer_id  date number_of_cds  dollar_value\n 00001 19970101  1   11.77\n 00002 19970112  1   12.00\n00002 19970112 5 77.00\n";
        let read = parse_transactions(cdnow).expect("CDNOW format");
        assert_eq!(read.rows.len(), 3);
        assert_eq!(read.customer_ids, ["00001", "00002"]);
        assert_eq!(read.rows[2].amount, 77.0);
        assert_eq!(read.unreadable.rows, 0);

        let csv =
            "order,amount,customer_id,date\n1,5.5,alice,2024-01-31\n2,3,bob,2024-02-01T10:00:00Z\n";
        let read = parse_transactions(csv).expect("CSV format");
        assert_eq!(read.rows[1].day - read.rows[0].day, 1);
        assert_eq!(read.customer_ids, ["alice", "bob"]);
    }

    #[test]
    fn dates_are_eight_digits_with_or_without_dashes() {
        let day = parse_day("19970101").expect("YYYYMMDD");
        assert_eq!(parse_day(" 1997-01-01 "), Some(day));
        assert_eq!(parse_day("1997-01-02T10:00:00Z"), Some(day + 1));
        for bad in [
            "1997010",
            "199701011",
            "1997-0101x",
            "19970231",
            "+1997010",
            "",
            "1997-01-0",
        ] {
            assert_eq!(parse_day(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn skips_and_counts_bad_rows_but_rejects_a_file_of_them() {
        let text = "1 19970101 1 10\n1 19970231 1 10\ngarbage\n2 19970105 1 abc\n2 19970105 1 3\n3 19970106 2 4\n";
        let read = parse_transactions(text).expect("mostly readable");
        assert_eq!(read.rows.len(), 3);
        assert_eq!((read.unreadable.rows, read.unreadable.bad_dates), (3, 1));
        assert!(
            read.unreadable
                .first
                .as_deref()
                .is_some_and(|f| f.starts_with("line 2")),
            "{:?}",
            read.unreadable.first
        );
        let error = parse_transactions("a b\nc d\ne f\n1 19970101 1 2\n")
            .err()
            .expect("bad format");
        let error = crate::chain(&error);
        assert!(error.contains("unreadable"), "{error}");
        assert!(parse_transactions("").is_err());
        assert!(parse_transactions("a,b\n1,2\n").is_err());
    }

    #[test]
    fn summaries_must_be_consistent() {
        let (customers, ids, monetary) =
            parse_summary("ID,frequency,recency,T\n7,2,30.43,38.86\n8,0,0,38.86\n").expect("valid");
        assert_eq!(
            (customers.len(), ids[0].as_str(), monetary),
            (2, "7", false)
        );
        assert!(parse_summary("ID,frequency,recency,T\n7,2,40,38.86\n").is_err());
        assert!(parse_summary("ID,frequency,recency,T\n7,-1,0,38.86\n").is_err());
        assert!(parse_summary("ID,x,T\n").is_err());
    }
}
