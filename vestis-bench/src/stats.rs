//! Medians and the printed tables (Markdown, so `BENCHMARKS.md` can quote
//! them as they are).

use std::fmt;

/// The median of `values` (the mean of the middle two for an even count);
/// `NaN` for none.
///
/// # Examples
///
/// ```
/// assert_eq!(vestis_bench::stats::median(&[3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(vestis_bench::stats::median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
/// ```
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// `a / b` written with both sides, e.g. `0.85 (102 000 / 120 000)`.
///
/// # Examples
///
/// ```
/// let text = vestis_bench::stats::ratio(50.0, 100.0, |v| format!("{v:.0}"));
/// assert_eq!(text, "0.50 (50 / 100)");
/// ```
pub fn ratio(a: f64, b: f64, show: impl Fn(f64) -> String) -> String {
    format!("{:.2} ({} / {})", a / b, show(a), show(b))
}

/// A Markdown table with a title line.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Printed as a bold line above the table.
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// One `Vec` per row, as many cells as the header.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(title: &str, header: &[&str]) -> Table {
        Table {
            title: title.to_owned(),
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "**{}**\n", self.title)?;
        writeln!(f, "| {} |", self.header.join(" | "))?;
        writeln!(f, "|{}", "---|".repeat(self.header.len()))?;
        for row in &self.rows {
            writeln!(f, "| {} |", row.join(" | "))?;
        }
        Ok(())
    }
}

/// A rate with thousands separated by a thin space: `123 456`.
pub fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Microseconds for people: `812.0 µs`, or `1.52 ms` from a millisecond up.
pub fn micros(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

/// Bytes as MiB with one decimal.
pub fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / 1_048_576.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_written_for_people() {
        assert_eq!(thousands(1_234_567.4), "1 234 567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(mib(3.0 * 1_048_576.0), "3.0 MiB");
        assert_eq!(
            (micros(812.04), micros(1520.0)),
            ("812.0 µs".into(), "1.52 ms".into())
        );
        assert!(median(&[]).is_nan());
        let mut table = Table::new("t", &["a", "b"]);
        table.row(vec!["1".into(), "2".into()]);
        assert_eq!(
            table.to_string(),
            "**t**\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
        );
    }
}
