//! The Open Bandit Dataset's file formats, read as obp's `OpenBanditDataset` reads them: the
//! logs (`all.csv`), the item features (`item_context.csv`) and a target policy's action
//! distribution (`item_id,pos0,pos1,…`), and obp's default feature engineering on top.
//!
//! Files are read with the `csv` crate: quoted fields are allowed, fields are trimmed.

use std::collections::BTreeSet;

use tailor_ml::ope::LoggedRound;

use crate::error::{Invalid, ensure, invalid};

/// Logged impressions with their raw context.
pub struct OpenBanditLogs {
    pub items: Vec<usize>,
    /// 0-based, as obp's dense rank of the logged positions (1, 2, 3 → 0, 1, 2).
    pub positions: Vec<usize>,
    pub n_positions: usize,
    pub clicks: Vec<f64>,
    pub propensities: Vec<f64>,
    /// One column of hashed categorical values per `user_feature_*` column.
    pub user_features: Vec<Vec<String>>,
    /// `user-item_affinity_<item>` values, `[round][item]`; empty if the file has none.
    pub affinities: Vec<f64>,
    pub affinity_items: usize,
    /// Rounds per value of a `logging_policy` column (Tailor's export has one); empty
    /// without the column.
    pub logging_policies: std::collections::BTreeMap<String, usize>,
}

impl OpenBanditLogs {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn mean_click(&self) -> f64 {
        self.clicks.iter().sum::<f64>() / self.len() as f64
    }

    pub fn rounds(&self) -> Vec<LoggedRound> {
        (0..self.len())
            .map(|i| LoggedRound {
                action: self.items[i],
                position: self.positions[i],
                reward: self.clicks[i],
                propensity: self.propensities[i],
            })
            .collect()
    }
}

/// A CSV file read row by row with the `csv` crate, its header kept for looking fields up
/// by name.
struct Table<'a> {
    columns: Vec<String>,
    reader: csv::Reader<&'a [u8]>,
    lines: crate::Lines<'a>,
    /// The current row, after [`Table::advance`].
    record: csv::StringRecord,
}

impl<'a> Table<'a> {
    fn parse(text: &'a str, expected: &str) -> Result<Self, Invalid> {
        let mut reader = crate::csv_reader().from_reader(text.as_bytes());
        let mut record = csv::StringRecord::new();
        if !reader.read_record(&mut record)? {
            invalid!("empty file: expected a header line {expected}");
        }
        let columns = record.iter().map(str::to_string).collect();
        Ok(Self {
            columns,
            reader,
            lines: crate::Lines::new(text),
            record,
        })
    }

    fn column(&self, name: &str) -> Result<usize, Invalid> {
        self.columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| Invalid::new(format!("the header line has no `{name}` column")))
    }

    /// Reads the next row that is not blank into `record`, checks it has a field per column,
    /// and returns its line number; `None` at the end.
    fn advance(&mut self) -> Result<Option<usize>, Invalid> {
        while self.reader.read_record(&mut self.record)? {
            if self.record.iter().all(str::is_empty) {
                continue;
            }
            let line = self.lines.of(&self.record) as usize;
            ensure!(
                self.record.len() == self.columns.len(),
                "line {line}: expected {} comma-separated fields, found {}",
                self.columns.len(),
                self.record.len()
            );
            return Ok(Some(line));
        }
        Ok(None)
    }
}

/// Parses one field as `T`, saying which line and column held what when it is not one.
fn field<T: std::str::FromStr>(
    fields: &csv::StringRecord,
    column: usize,
    line: usize,
    name: &str,
) -> Result<T, Invalid> {
    let value = fields.get(column).unwrap_or_default();
    value.parse().ok().ok_or_else(|| {
        Invalid::new(format!(
            "line {line}: {name} {value:?} is not a valid value"
        ))
    })
}

pub fn parse_logs(text: &str) -> Result<OpenBanditLogs, Invalid> {
    let mut header = Table::parse(
        text,
        "naming item_id, position, click, propensity_score and user_feature_* columns",
    )?;
    let item_column = header.column("item_id")?;
    let position_column = header.column("position")?;
    let click_column = header.column("click")?;
    let propensity_column = header.column("propensity_score")?;
    let policy_column = header.columns.iter().position(|c| c == "logging_policy");
    let user_columns: Vec<usize> = (0..header.columns.len())
        .filter(|&c| header.columns[c].contains("user_feature"))
        .collect();
    // `user-item_affinity_<item>`: the column for item a, if the file has one per item.
    let mut affinity_columns: Vec<(usize, usize)> = Vec::new();
    for (column, name) in header.columns.iter().enumerate() {
        if let Some(item) = name.strip_prefix("user-item_affinity_") {
            let item: usize = item.parse().map_err(|e| {
                Invalid::caused(format!("column {name:?} does not end in an item id"), e)
            })?;
            affinity_columns.push((item, column));
        }
    }
    affinity_columns.sort_unstable();
    let affinity_items = affinity_columns.len();
    ensure!(
        affinity_columns
            .iter()
            .enumerate()
            .all(|(i, &(item, _))| i == item),
        "the user-item_affinity_* columns must number the items 0, 1, 2, … without gaps"
    );

    let mut logs = OpenBanditLogs {
        items: Vec::new(),
        positions: Vec::new(),
        n_positions: 0,
        clicks: Vec::new(),
        propensities: Vec::new(),
        user_features: vec![Vec::new(); user_columns.len()],
        affinities: Vec::new(),
        affinity_items,
        logging_policies: std::collections::BTreeMap::new(),
    };
    let mut raw_positions: Vec<i64> = Vec::new();
    while let Some(line) = header.advance()? {
        let fields = &header.record;
        logs.items
            .push(field(fields, item_column, line, "item_id")?);
        raw_positions.push(field(fields, position_column, line, "position")?);
        let click: u8 = field(fields, click_column, line, "click")?;
        ensure!(click <= 1, "line {line}: click {click} is neither 0 nor 1");
        logs.clicks.push(f64::from(click));
        let propensity: f64 = field(fields, propensity_column, line, "propensity_score")?;
        ensure!(
            propensity > 0.0 && propensity <= 1.0,
            "line {line}: propensity_score {propensity} is not in (0, 1]; importance weighting divides by it"
        );
        logs.propensities.push(propensity);
        if let Some(column) = policy_column {
            *logs
                .logging_policies
                .entry(fields[column].to_string())
                .or_default() += 1;
        }
        for (values, &column) in logs.user_features.iter_mut().zip(&user_columns) {
            values.push(fields[column].to_string());
        }
        for &(_, column) in &affinity_columns {
            let value: f64 = field(fields, column, line, &header.columns[column])?;
            ensure!(
                value.is_finite(),
                "line {line}: {} is not finite",
                header.columns[column]
            );
            logs.affinities.push(value);
        }
    }
    ensure!(
        !logs.items.is_empty(),
        "no logged rounds after the header line"
    );
    // obp: position = rankdata(position, "dense") − 1.
    let distinct: Vec<i64> = raw_positions
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    logs.n_positions = distinct.len();
    logs.positions = raw_positions
        .iter()
        .map(|p| distinct.binary_search(p).unwrap_or_default())
        .collect();
    Ok(logs)
}

/// Item features as obp's `pre_process` builds its `action_context`: every column but
/// `item_feature_0` label-encoded (its distinct values sorted, replaced by their rank), then
/// `item_feature_0` as a number; one row per item id.
pub struct ItemContext {
    pub features: Vec<f64>,
    pub dim: usize,
    pub n_items: usize,
}

pub fn parse_item_context(text: &str) -> Result<ItemContext, Invalid> {
    let mut header = Table::parse(text, "naming item_id and item_feature_* columns")?;
    let item_column = header.column("item_id")?;
    let numeric_column = header.column("item_feature_0")?;
    // item_id is an integer column, which LabelEncoder maps to itself; the rest are strings.
    let categorical_columns: Vec<usize> = (0..header.columns.len())
        .filter(|&c| c != numeric_column && header.columns[c].starts_with("item_feature"))
        .collect();
    let mut items: Vec<usize> = Vec::new();
    let mut categorical: Vec<Vec<String>> = vec![Vec::new(); categorical_columns.len()];
    let mut numeric: Vec<f64> = Vec::new();
    while let Some(line) = header.advance()? {
        let fields = &header.record;
        items.push(field(fields, item_column, line, "item_id")?);
        for (values, &column) in categorical.iter_mut().zip(&categorical_columns) {
            values.push(fields[column].to_string());
        }
        let value: f64 = field(fields, numeric_column, line, "item_feature_0")?;
        ensure!(
            value.is_finite(),
            "line {line}: item_feature_0 is not finite"
        );
        numeric.push(value);
    }
    let n_items = items.len();
    ensure!(n_items > 0, "no items after the header line");
    let mut sorted = items.clone();
    sorted.sort_unstable();
    ensure!(
        sorted.iter().enumerate().all(|(i, &item)| i == item),
        "item ids must be 0, 1, …, {} each exactly once",
        n_items - 1
    );
    let dim = categorical_columns.len() + 2;
    let mut features = vec![0.0; n_items * dim];
    for &item in &items {
        features[item * dim] = item as f64;
    }
    for (c, values) in categorical.iter().enumerate() {
        let c = c + 1;
        // obp's LabelEncoder compares strings, so "10" sorts before "2" — as here.
        let codes: Vec<&String> = values.iter().collect::<BTreeSet<_>>().into_iter().collect();
        for (row, value) in values.iter().enumerate() {
            let code = codes.binary_search(&value).unwrap_or_default();
            features[items[row] * dim + c] = code as f64;
        }
    }
    for (row, value) in numeric.iter().enumerate() {
        features[items[row] * dim + dim - 1] = *value;
    }
    Ok(ItemContext {
        features,
        dim,
        n_items,
    })
}

/// A target policy's distribution `item_id,pos0,pos1,…`: one row per item, one column per
/// position. Returns `(n_items, [position][item] probabilities)`.
pub fn parse_target_distribution(
    text: &str,
    n_positions: usize,
) -> Result<(usize, Vec<f64>), Invalid> {
    let mut header = Table::parse(text, "`item_id,pos0,pos1,…`")?;
    let item_column = header.column("item_id")?;
    let position_columns: Vec<usize> = (0..)
        .map_while(|k| header.column(&format!("pos{k}")).ok())
        .collect();
    ensure!(
        position_columns.len() == n_positions,
        "the target distribution has {} position columns (pos0, pos1, …), the logs {n_positions} positions",
        position_columns.len()
    );
    let mut by_item: Vec<(usize, Vec<f64>)> = Vec::new();
    while let Some(line) = header.advance()? {
        let fields = &header.record;
        let item: usize = field(fields, item_column, line, "item_id")?;
        let probabilities = position_columns
            .iter()
            .enumerate()
            .map(|(k, &column)| field::<f64>(fields, column, line, &format!("pos{k}")))
            .collect::<Result<Vec<f64>, Invalid>>()?;
        by_item.push((item, probabilities));
    }
    by_item.sort_by_key(|(item, _)| *item);
    let n_items = by_item.len();
    ensure!(n_items > 0, "no items after the header line");
    ensure!(
        by_item.iter().enumerate().all(|(i, (item, _))| i == *item),
        "item ids must be 0, 1, …, {} each exactly once",
        n_items - 1
    );
    let mut table = vec![0.0; n_positions * n_items];
    for (item, probabilities) in &by_item {
        for (position, p) in probabilities.iter().enumerate() {
            table[position * n_items + item] = *p;
        }
    }
    Ok((n_items, table))
}

/// obp's context: `pd.get_dummies(user_feature_*, drop_first=True)` — each column one-hot over
/// its distinct values in sorted order, the first value dropped. `[round][dim]`.
pub fn user_dummies(logs: &OpenBanditLogs) -> (Vec<f64>, usize) {
    let vocabularies: Vec<Vec<&String>> = logs
        .user_features
        .iter()
        .map(|values| {
            values
                .iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .skip(1)
                .collect()
        })
        .collect();
    let dim: usize = vocabularies.iter().map(Vec::len).sum();
    let mut features = vec![0.0; logs.len() * dim];
    for round in 0..logs.len() {
        let mut offset = 0;
        for (values, vocabulary) in logs.user_features.iter().zip(&vocabularies) {
            if let Ok(code) = vocabulary.binary_search(&&values[round]) {
                features[round * dim + offset + code] = 1.0;
            }
            offset += vocabulary.len();
        }
    }
    (features, dim)
}

/// One-hot item ids, `[item][item]`: obp's `action_context` when none is given.
pub fn one_hot_items(n_items: usize) -> (Vec<f64>, usize) {
    let mut features = vec![0.0; n_items * n_items];
    for item in 0..n_items {
        features[item * n_items + item] = 1.0;
    }
    (features, n_items)
}

/// The user–item affinity of each round's user for each item, `[round][item][1]`, or no pair
/// features when the logs carry none for these items.
pub fn affinity_pairs(logs: &OpenBanditLogs, n_items: usize) -> (Vec<f64>, usize) {
    if logs.affinity_items != n_items {
        return (Vec::new(), 0);
    }
    (logs.affinities.clone(), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGS: &str = ",timestamp,item_id,position,click,propensity_score,user_feature_0,user-item_affinity_0,user-item_affinity_1\n\
        0,2019-11-24 00:00:34+00:00,1,3,0,0.5,b,0.0,1.0\n\
        1,2019-11-24 00:00:35+00:00,0,1,1,0.5,a,0.0,0.0\r\n\n";

    #[test]
    fn reads_logs_as_obp_does() {
        let logs = parse_logs(LOGS).expect("valid logs");
        assert_eq!(logs.items, vec![1, 0]);
        // Positions 3 and 1 become dense ranks 1 and 0.
        assert_eq!((logs.positions.clone(), logs.n_positions), (vec![1, 0], 2));
        assert_eq!(logs.clicks, vec![0.0, 1.0]);
        assert_eq!(logs.affinities, vec![0.0, 1.0, 0.0, 0.0]);
        // Values a, b: `a` dropped, `b` is the one dummy.
        assert_eq!(user_dummies(&logs), (vec![1.0, 0.0], 1));
    }

    #[test]
    fn says_what_is_wrong_and_where() {
        let error = |text: &str| crate::chain(&parse_logs(text).err().expect("an error"));
        assert!(error("").contains("header"));
        assert!(error("item_id,position,click\n").contains("propensity_score"));
        let header = "item_id,position,click,propensity_score\n";
        assert!(error(&format!("{header}1,1,0,0.0\n")).contains("line 2: propensity_score 0"));
        assert!(error(&format!("{header}1,1,0\n")).contains("line 2"));
        assert!(error(&format!("{header}1,1,2,0.5\n")).contains("click 2"));
        assert!(error(&format!("{header}x,1,0,0.5\n")).contains("item_id \"x\""));
        assert!(error(header).contains("no logged rounds"));
    }

    #[test]
    fn reads_target_distributions_by_item_and_position() {
        let text = "item_id,pos0,pos1\n1,0.75,0.5\n0,0.25,0.5\n";
        let (n_items, table) = parse_target_distribution(text, 2).expect("valid");
        assert_eq!((n_items, table), (2, vec![0.25, 0.75, 0.5, 0.5]));
        assert!(parse_target_distribution(text, 3).is_err());
        assert!(parse_target_distribution("item_id,pos0\n0,1\n2,0\n", 1).is_err());
        assert!(parse_target_distribution("item_id,pos0\n0,abc\n", 1).is_err());
    }

    #[test]
    fn label_encodes_item_features_as_obp() {
        let text = ",item_id,item_feature_0,item_feature_1\n0,0,-0.5,zz\n1,1,2.0,aa\n";
        let context = parse_item_context(text).expect("valid");
        assert_eq!(context.dim, 3);
        // [item_id code, item_feature_1 code, item_feature_0]
        assert_eq!(context.features, vec![0.0, 1.0, -0.5, 1.0, 0.0, 2.0]);
    }
}
