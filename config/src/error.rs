//! User-facing configuration errors.
//!
//! Every problem found in a file is collected (not only the first), sorted by line and
//! printed one per line as `origin:line: key: why`, the way compilers report, so a user
//! can fix a whole file in one pass.

use std::fmt;
use std::ops::Range;

/// Why a configuration was refused. The `Display` text is meant for the user as it is:
/// one line per problem, each starting with `file:line:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    origin: String,
    problems: Vec<Problem>,
}

/// One problem: the 1-based line it was found on (if it has one) and the text after
/// `origin:line: `.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    line: Option<usize>,
    text: String,
}

impl ConfigError {
    /// An error that is not tied to a line (missing file, missing required key).
    pub(crate) fn whole_file(origin: &str, text: String) -> Self {
        ConfigError {
            origin: origin.to_owned(),
            problems: vec![Problem { line: None, text }],
        }
    }

    /// A TOML syntax error, with the offending source line quoted under it.
    pub(crate) fn syntax(origin: &str, source: &str, err: &toml::de::Error) -> Self {
        let message = err.message().trim_end();
        let Some(span) = err.span() else {
            return Self::whole_file(origin, format!("invalid TOML: {message}"));
        };
        let line = line_of(source, span.start);
        let mut text = format!("invalid TOML: {message}");
        if let Some(src_line) = source.lines().nth(line - 1) {
            text.push_str(&format!("\n    {line} | {src_line}"));
        }
        ConfigError {
            origin: origin.to_owned(),
            problems: vec![Problem {
                line: Some(line),
                text,
            }],
        }
    }

    /// Number of distinct problems reported.
    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// Always false: an error has at least one problem. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// The 1-based line numbers of the problems, in report order (`None` for problems
    /// that concern the whole file).
    pub fn lines(&self) -> impl Iterator<Item = Option<usize>> + '_ {
        self.problems.iter().map(|p| p.line)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            match p.line {
                Some(line) => write!(f, "{}:{}: {}", self.origin, line, p.text)?,
                None => write!(f, "{}: {}", self.origin, p.text)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Collects problems while a document is read; turns them into a [`ConfigError`].
pub(crate) struct Problems<'a> {
    source: &'a str,
    /// Offsets of the source's line feeds, made at the first problem: a line is then
    /// a binary search, so a file with a problem on each of its many lines is still
    /// reported in time linear in its size.
    newlines: Option<Vec<usize>>,
    list: Vec<Problem>,
}

impl<'a> Problems<'a> {
    pub(crate) fn new(source: &'a str) -> Self {
        Problems {
            source,
            newlines: None,
            list: Vec::new(),
        }
    }

    /// The 1-based line of byte `offset`.
    fn line(&mut self, offset: usize) -> usize {
        let source = self.source;
        let newlines = self.newlines.get_or_insert_with(|| {
            source
                .bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i)
                .collect()
        });
        // Line feeds before `offset` (the one at `offset` ends that same line).
        newlines.partition_point(|&nl| nl < offset) + 1
    }

    /// Records `key: why` at the line where `span` starts.
    pub(crate) fn at(&mut self, span: &Range<usize>, key: &str, why: impl fmt::Display) {
        let line = self.line(span.start);
        self.list.push(Problem {
            line: Some(line),
            text: format!("{key}: {why}"),
        });
    }

    /// Records a problem with its full text (no `key:` prefix) at the line of `span`.
    pub(crate) fn raw_at(&mut self, span: &Range<usize>, text: String) {
        let line = self.line(span.start);
        self.list.push(Problem {
            line: Some(line),
            text,
        });
    }

    /// Records a problem that has no line.
    pub(crate) fn whole(&mut self, text: String) {
        self.list.push(Problem { line: None, text });
    }

    pub(crate) fn finish(mut self, origin: &str) -> Result<(), ConfigError> {
        if self.list.is_empty() {
            return Ok(());
        }
        // Line-less problems (missing keys) go last; the sort is stable so problems on
        // one line keep the order they were found in.
        self.list.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        Err(ConfigError {
            origin: origin.to_owned(),
            problems: self.list,
        })
    }
}

/// 1-based line number of byte `offset` in `source`.
pub(crate) fn line_of(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source
        .as_bytes()
        .get(..end)
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a
/// plausible typo (at most a third of the word's length, and at most 3 edits).
pub(crate) fn closest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let lower = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance over chars (optimal string alignment: insertions, deletions,
/// substitutions and transpositions of two neighbours each cost 1).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    // d[i * width + j] = distance between a[..i] and b[..j]
    let mut d: Vec<usize> = vec![0; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for (i, ca) in std::iter::once(None).chain(a.iter().map(Some)).enumerate() {
        for (j, cb) in std::iter::once(None).chain(b.iter().map(Some)).enumerate() {
            let v = match (ca, cb) {
                (None, _) => j,
                (_, None) => i,
                (Some(x), Some(y)) => {
                    let get =
                        |ii: usize, jj: usize| d.get(at(ii, jj)).copied().unwrap_or(usize::MAX - 1);
                    let mut best = (get(i - 1, j) + 1)
                        .min(get(i, j - 1) + 1)
                        .min(get(i - 1, j - 1) + usize::from(x != y));
                    let swapped =
                        i > 1 && j > 1 && a.get(i - 2) == Some(y) && b.get(j - 2) == Some(x);
                    if swapped {
                        best = best.min(get(i - 2, j - 2) + 1);
                    }
                    best
                }
            };
            if let Some(slot) = d.get_mut(at(i, j)) {
                *slot = v;
            }
        }
    }
    d.last().copied().unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers() {
        let s = "a\nbb\n\nccc";
        assert_eq!(line_of(s, 0), 1);
        assert_eq!(line_of(s, 1), 1);
        assert_eq!(line_of(s, 2), 2);
        assert_eq!(line_of(s, 6), 4);
        assert_eq!(line_of(s, 1000), 4);
    }

    #[test]
    fn the_line_index_agrees_with_counting() {
        let s = "a\nbb\n\nccc\n";
        let mut p = Problems::new(s);
        for offset in 0..=s.len() + 3 {
            assert_eq!(p.line(offset), line_of(s, offset), "offset {offset}");
        }
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("hots", "host"), 1);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(
            edit_distance("ipfix_udp_colectors", "ipfix_udp_collectors"),
            1
        );
    }

    #[test]
    fn closest_only_when_close() {
        let c = ["ipfix_mtu", "ipfix_dev", "netflow_timeout"];
        assert_eq!(closest("ipfix_mt", &c), Some("ipfix_mtu"));
        assert_eq!(closest("IPFIX_MTU", &c), Some("ipfix_mtu"));
        assert_eq!(closest("netflow_timout", &c), Some("netflow_timeout"));
        assert_eq!(closest("colour", &c), None);
    }
}
