//! Plain-text output of `ctl`: aligned tables, `key  value` blocks, and the cell text of JSON
//! values and timestamps.

use serde_json::Value;

/// Columns separated by two spaces, each as wide as its widest cell; no trailing spaces.
#[derive(Debug, Clone, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles (printed upper case).
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_uppercase()).collect(),
            rows: Vec::new(),
        }
    }

    /// A table without a title line (for `key  value` blocks).
    pub fn headless() -> Table {
        Table::default()
    }

    /// Adds a row; missing cells are empty, extra cells are kept.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows
            .push(cells.into_iter().map(|c| clean(&c.into())).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines ending in `\n`.
    pub fn render(&self) -> String {
        let lines: Vec<&Vec<String>> = if self.header.is_empty() {
            self.rows.iter().collect()
        } else {
            std::iter::once(&self.header).chain(&self.rows).collect()
        };
        let columns = lines.iter().map(|l| l.len()).max().unwrap_or(0);
        let mut widths = vec![0; columns];
        for line in &lines {
            for (i, cell) in line.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for line in lines {
            let mut text = String::new();
            for (i, cell) in line.iter().enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                text.push_str(cell);
                let pad = widths[i] - cell.chars().count();
                text.extend(std::iter::repeat_n(' ', pad));
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Control characters from the server would break the alignment or drive the terminal.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The text of a JSON value in a cell: `-` for null, absent or empty; lists comma-joined;
/// objects by their `name` or `id` (else compact JSON).
pub fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) if s.is_empty() => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.into(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(items)) if items.is_empty() => "-".into(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| cell(Some(i)))
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(o)) => match o.get("name").or_else(|| o.get("id")) {
            Some(Value::String(s)) => s.clone(),
            _ => Value::Object(o.clone()).to_string(),
        },
    }
}

/// The length of a JSON list (`0` when absent).
pub fn count(v: Option<&Value>) -> usize {
    v.and_then(Value::as_array).map_or(0, Vec::len)
}

/// A duration in a unit that keeps the number small: `45s`, `12m`, `5h`, `3d`.
pub fn span(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{}m", secs / 60),
        7200..=172_799 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// `at` relative to `now` (both unix seconds): `12s ago`, `in 59m`, `now`.
pub fn relative(at: i64, now: i64) -> String {
    let d = now - at;
    match d {
        0 => "now".into(),
        d if d > 0 => format!("{} ago", span(d.unsigned_abs())),
        d => format!("in {}", span(d.unsigned_abs())),
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SSZ` (UTC).
pub fn utc(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A unix-seconds field as `2025-01-02 03:04:05Z (12s ago)`, or `-`.
pub fn when(v: Option<&Value>, now: i64) -> String {
    match v.and_then(Value::as_i64) {
        Some(0) | None => "-".into(),
        Some(t) => format!("{} ({})", utc(t), relative(t, now)),
    }
}

/// Now, in unix seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut t = Table::new(&["name", "balance", "apps"]);
        t.row(["dc-east", "p2c", "wiki,hello"]);
        t.row(["dc-west-backup", "round_robin", "-"]);
        assert_eq!(
            t.render(),
            "NAME            BALANCE      APPS\n\
             dc-east         p2c          wiki,hello\n\
             dc-west-backup  round_robin  -\n"
        );
    }

    #[test]
    fn wide_characters_count_once_and_lines_have_no_trailing_spaces() {
        let mut t = Table::new(&["a", "b"]);
        t.row(["é", ""]);
        t.row(["xyz", "1"]);
        assert_eq!(t.render(), "A    B\né\nxyz  1\n");
    }

    #[test]
    fn headless_tables_align_keys() {
        let mut t = Table::headless();
        t.row(["name:", "dc-east"]);
        t.row(["connectors:", "east-1,east-2"]);
        assert_eq!(
            t.render(),
            "name:        dc-east\nconnectors:  east-1,east-2\n"
        );
        assert_eq!(Table::headless().render(), "");
        assert_eq!(Table::new(&["x"]).render(), "X\n");
    }

    #[test]
    fn ragged_rows_and_control_characters() {
        let mut t = Table::new(&["a"]);
        t.row(["1", "extra"]);
        t.row(["evil\u{1b}[2J\nline"]);
        assert_eq!(t.render(), "A\n1              extra\nevil?[2J?line\n");
    }

    #[test]
    fn cells_of_json_values() {
        assert_eq!(cell(None), "-");
        assert_eq!(cell(Some(&json!(null))), "-");
        assert_eq!(cell(Some(&json!(""))), "-");
        assert_eq!(cell(Some(&json!("x"))), "x");
        assert_eq!(cell(Some(&json!(true))), "yes");
        assert_eq!(cell(Some(&json!(3))), "3");
        assert_eq!(cell(Some(&json!([]))), "-");
        assert_eq!(cell(Some(&json!(["a", "b"]))), "a,b");
        assert_eq!(cell(Some(&json!([{"id": "c1"}, {"name": "g"}]))), "c1,g");
        assert_eq!(cell(Some(&json!({"cookie": "sid"}))), r#"{"cookie":"sid"}"#);
        assert_eq!(count(Some(&json!([1, 2]))), 2);
        assert_eq!(count(None), 0);
    }

    #[test]
    fn times() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20Z");
        assert_eq!(utc(-1), "1969-12-31 23:59:59Z");
        assert_eq!(relative(100, 100), "now");
        assert_eq!(relative(88, 100), "12s ago");
        assert_eq!(relative(100 + 3540, 100), "in 59m");
        assert_eq!(relative(0, 3 * 86_400), "3d ago");
        assert_eq!(relative(0, 7200), "2h ago");
        assert_eq!(
            when(Some(&json!(1_700_000_000)), 1_700_000_012),
            "2023-11-14 22:13:20Z (12s ago)"
        );
        assert_eq!(when(Some(&json!(null)), 5), "-");
    }
}
