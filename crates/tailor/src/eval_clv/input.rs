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
//! Dates are `YYYYMMDD` or `YYYY-MM-DD` (an ISO timestamp is cut to its date). Customer ids
//! are any text. Rows may come in any order.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, bail};
use tailor_ml::clv::{CustomerSummary, Transaction};

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

pub fn read_transactions(path: &Path) -> anyhow::Result<Transactions> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_transactions(&text).with_context(|| format!("in {}", path.display()))
}

fn parse_transactions(text: &str) -> anyhow::Result<Transactions> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty())
        .peekable();
    let Some(&(_, first)) = lines.peek() else {
        bail!("empty file: expected transactions (customer, date, amount)");
    };
    let mut customers: HashMap<String, u64> = HashMap::new();
    let mut result = Transactions {
        rows: Vec::new(),
        customer_ids: Vec::new(),
        unreadable: Unreadable::default(),
    };
    let mut intern = |id: &str, result: &mut Transactions| -> u64 {
        // Look up before inserting: most lines are a customer already seen, and the entry API
        // would allocate the key for every line.
        if let Some(&number) = customers.get(id) {
            return number;
        }
        let number = result.customer_ids.len() as u64;
        result.customer_ids.push(id.to_string());
        customers.insert(id.to_string(), number);
        number
    };

    let (columns, separator): (Option<[usize; 3]>, Option<char>) = if first.contains(',') {
        lines.next();
        let header: Vec<String> = first.split(',').map(|c| c.trim().to_lowercase()).collect();
        let find = |names: &[&str]| header.iter().position(|c| names.contains(&c.as_str()));
        let (Some(customer), Some(date), Some(amount)) = (
            find(&["customer_id", "customer", "id"]),
            find(&["date", "order_date", "timestamp"]),
            find(&["amount", "value", "dollar_value", "revenue"]),
        ) else {
            bail!("the CSV header must name customer_id, date and amount columns: {first:?}");
        };
        (Some([customer, date, amount]), Some(','))
    } else {
        (None, None)
    };

    let mut total = 0usize;
    // One buffer for every line's fields.
    let mut fields: Vec<&str> = Vec::new();
    for (line_number, line) in lines {
        total += 1;
        fields.clear();
        match separator {
            Some(separator) => fields.extend(line.split(separator).map(str::trim)),
            None => fields.extend(line.split_whitespace()),
        }
        let [customer, date, amount] = match columns {
            Some(columns) => columns,
            // Whitespace: customer date [quantity] amount — the amount is the last field.
            None if fields.len() == 3 || fields.len() == 4 => [0, 1, fields.len() - 1],
            None => {
                result.unreadable.note(
                    line_number,
                    format!(
                        "expected 3 or 4 whitespace-separated fields, found {}",
                        fields.len()
                    ),
                    false,
                );
                continue;
            }
        };
        let (Some(customer), Some(date), Some(amount)) =
            (fields.get(customer), fields.get(date), fields.get(amount))
        else {
            result
                .unreadable
                .note(line_number, "missing fields".into(), false);
            continue;
        };
        let Some(day) = parse_day(date) else {
            // A whitespace file's first line is its header when its date is not a date.
            if separator.is_none() && total == 1 {
                total = 0;
                continue;
            }
            result.unreadable.note(
                line_number,
                format!("date {date:?} is not YYYYMMDD or YYYY-MM-DD"),
                true,
            );
            continue;
        };
        let Some(amount) = amount.parse::<f64>().ok().filter(|a| a.is_finite()) else {
            result.unreadable.note(
                line_number,
                format!("amount {amount:?} is not a number"),
                false,
            );
            continue;
        };
        if customer.is_empty() {
            result
                .unreadable
                .note(line_number, "empty customer id".into(), false);
            continue;
        }
        let customer = intern(customer, &mut result);
        result.rows.push(Transaction {
            customer,
            day,
            amount,
        });
    }
    if result.rows.is_empty() {
        match &result.unreadable.first {
            Some(first) => bail!("no readable transactions; the first problem: {first}"),
            None => bail!("no transactions"),
        }
    }
    if result.unreadable.rows > result.rows.len() {
        bail!(
            "{} of {} rows are unreadable, which looks like another format; the first problem: {}",
            result.unreadable.rows,
            total,
            result.unreadable.first.as_deref().unwrap_or("?")
        );
    }
    Ok(result)
}

/// A ready-made calibration summary: CSV with a header naming the id (`ID`, `id`,
/// `customer_id`), `frequency`/`x`, `recency`/`t_x`, `T` and optionally
/// `monetary_value`/`zbar` (lifetimes' and the CDNOW files' names). Unlike transactions,
/// every row must be valid: a summary is derived data, so a bad row means a bad export.
pub fn read_summary(path: &Path) -> anyhow::Result<(Vec<CustomerSummary>, Vec<String>, bool)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_summary(&text).with_context(|| format!("in {}", path.display()))
}

/// Returns the summaries, their ids, and whether the file had a monetary column.
fn parse_summary(text: &str) -> anyhow::Result<(Vec<CustomerSummary>, Vec<String>, bool)> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        bail!("empty file: expected a header line such as `ID,frequency,recency,T`");
    };
    let header: Vec<String> = header.split(',').map(|c| c.trim().to_string()).collect();
    let find = |names: &[&str]| header.iter().position(|c| names.contains(&c.as_str()));
    let (Some(id), Some(frequency), Some(recency), Some(age)) = (
        find(&["ID", "id", "customer_id"]),
        find(&["frequency", "x"]),
        find(&["recency", "t_x"]),
        find(&["T"]),
    ) else {
        bail!("the header must name ID, frequency (or x), recency (or t_x) and T: {header:?}");
    };
    let monetary = find(&["monetary_value", "zbar"]);
    let mut customers = Vec::new();
    let mut ids = Vec::new();
    for (index, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let number = |column: usize, what: &str| -> anyhow::Result<f64> {
            fields
                .get(column)
                .and_then(|f| f.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .with_context(|| format!("line {}: {what} is not a non-negative number", index + 1))
        };
        let count = number(frequency, "frequency")?;
        if count.fract() != 0.0 || count > f64::from(u32::MAX) {
            bail!(
                "line {}: frequency {count} is not a whole number",
                index + 1
            );
        }
        let (recency, age) = (number(recency, "recency")?, number(age, "T")?);
        if recency > age {
            bail!("line {}: recency {recency} is after T {age}", index + 1);
        }
        ids.push(fields.get(id).copied().unwrap_or_default().to_string());
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
        bail!("no customers");
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
        assert!(format!("{error:#}").contains("unreadable"), "{error:#}");
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
