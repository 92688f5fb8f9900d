//! Tailor's offline evaluations, the library behind `tailor eval`: each command reads its
//! files, fits Tailor's models and their baselines, and returns a report that prints as a
//! table or as one JSON object. The models and protocols live in `tailor-ml`; this crate
//! owns the file formats, the splits and the reports.
//!
//! - [`recs`]: next-item recommendations from session clicks (session-rec's protocol).
//! - [`rank`]: the ranking placement's order of a category's list against popularity and
//!   catalog order, on the same click files (NDCG@10, MRR).
//! - [`ope`]: off-policy estimates from logged bandit feedback (Open Bandit format).
//! - [`intent`]: purchase propensity, next category, send time and forecast on an event log.
//! - [`clv`]: BG/NBD, Pareto/NBD and Gamma-Gamma on a transaction export.
//!
//! Errors are one [`Error`]: a message for the person who ran the command, with its causes.

pub mod clv;
mod error;
pub mod intent;
pub mod ope;
pub mod rank;
pub mod recs;

pub use error::{Error, Invalid, chain};

/// A reader for the comma-separated files: a header line, fields trimmed, rows of any
/// length (each reader checks the count and says which line is short).
fn csv_reader() -> csv::ReaderBuilder {
    let mut builder = csv::ReaderBuilder::new();
    builder
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All);
    builder
}

/// The same for tab-separated files (session-rec's click files).
fn tsv_reader() -> csv::ReaderBuilder {
    let mut builder = csv_reader();
    builder.delimiter(b'\t');
    builder
}

/// The 1-based lines records start on, for error messages. The `csv` crate's own line
/// numbers (`Position::line`) fall one behind after every `\r\n`, so lines are counted here
/// from the records' byte offsets in the text. Records must be asked for in order.
struct Lines<'a> {
    text: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            text: text.as_bytes(),
            offset: 0,
            line: 1,
        }
    }

    fn of(&mut self, record: &csv::StringRecord) -> u64 {
        let Some(position) = record.position() else {
            return 0;
        };
        // A record's offset can point at the `\n` of the `\r\n` before it, or at blank lines
        // the reader skipped: its text starts after them.
        let mut start =
            usize::try_from(position.byte()).map_or(self.text.len(), |b| b.min(self.text.len()));
        while matches!(self.text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if start > self.offset {
            let newlines = self.text[self.offset..start]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.line += newlines as u64;
            self.offset = start;
        }
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_counted_whatever_the_line_endings() {
        for text in [
            "h\n1\n\n2\n3\n",
            "h\r\n1\r\n\r\n2\r\n3\r\n",
            "h\n1\r\n\n2\r\n3",
        ] {
            let mut reader = csv_reader().from_reader(text.as_bytes());
            let mut lines = Lines::new(text);
            let mut record = csv::StringRecord::new();
            let mut seen = Vec::new();
            while reader.read_record(&mut record).expect("valid") {
                seen.push((record[0].to_string(), lines.of(&record)));
            }
            let expected =
                [("h", 1), ("1", 2), ("2", 4), ("3", 5)].map(|(f, l)| (f.to_string(), l));
            assert_eq!(seen, expected, "{text:?}");
        }
    }
}
