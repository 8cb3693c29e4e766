//! Truth files: the tab-separated tables beside each fixture capture (`<capture>.truth.tsv`
//! from tshark, and the derived `*.sip_records.tsv`, `*.mail_records.tsv`, …), a header
//! line then one row a line.

use std::collections::HashMap;
use std::path::Path;

/// One row: column name → value (a column a short line lacks is empty).
pub type Row = HashMap<String, String>;

/// Every row of a TSV file with a header line, values as written.
pub fn read_tsv(path: &Path) -> Vec<Row> {
    read_with(path, str::to_owned)
}

/// [`read_tsv`] with the `\\`, `\t`, `\r` and `\n` escapes of the derived tables undone.
pub fn read_tsv_unescaped(path: &Path) -> Vec<Row> {
    read_with(path, unescape)
}

/// [`read_tsv`] without the empty values: a row lacks the columns it has no value in.
pub fn read_tsv_sparse(path: &Path) -> Vec<Row> {
    let mut rows = read_tsv(path);
    for row in &mut rows {
        row.retain(|_, v| !v.is_empty());
    }
    rows
}

fn read_with(path: &Path, value: impl Fn(&str) -> String) -> Vec<Row> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_else(|| panic!("{}: no header line", path.display()))
        .split('\t')
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t').chain(std::iter::repeat("")))
                .map(|(h, v)| (h.to_string(), value(v)))
                .collect()
        })
        .collect()
}

/// A row's value of `column`; empty when the table has no such column.
pub fn col<'a>(row: &'a Row, column: &str) -> &'a str {
    row.get(column).map_or("", String::as_str)
}

/// `v` with `\\`, `\t`, `\r`, `\n` undone (a backslash before any other character stands
/// for that character; a trailing one for itself).
pub fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('t') => '\t',
            Some('r') => '\r',
            Some('n') => '\n',
            Some(other) => other,
            None => '\\',
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_undone() {
        assert_eq!(unescape(r"a\tb\\n\r\n\"), "a\tb\\n\r\n\\");
    }
}
