//! Where `metaprobe collect` writes the records: stdout or one file per
//! table (`--out-dir`), as JSON lines, CSV or ClickHouse `JSONEachRow`.
//!
//! A CSV or ClickHouse stream has the columns of one table (record kind), so:
//! - with `--out-dir DIR`, every table is its own file, `DIR/<table>.csv`
//!   (`.ndjson` for ClickHouse, `.jsonl` for JSON lines), with exactly one
//!   header line for CSV. A file that exists is appended to when its header
//!   is ours; otherwise (another column list under the same name: a foreign
//!   template redefined) the records go to `<table>_2.csv`, `_3`, …;
//! - on stdout, CSV and ClickHouse rows are those of one table: `--kind`, or
//!   else the table of the first record. Records of other tables are not
//!   printed; they are counted, and stderr says so once per table.
//!
//! At most [`MAX_TABLES`] files are open: records of further tables are
//! counted as not written.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use metaprobe_ipfix::collect::DecodedRecord;
use metaprobe_ipfix::collect::clickhouse::to_clickhouse;
use metaprobe_ipfix::collect::render::{Table, csv_header, table_of, to_csv, to_json};

/// Most tables (files) one run writes.
pub const MAX_TABLES: usize = 256;

/// Output format of the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line (every kind on one stream).
    Jsonl,
    /// CSV, one table per record kind (one file each with --out-dir).
    Csv,
    /// ClickHouse JSONEachRow rows matching docs/clickhouse.sql, one table
    /// per record kind (one file each with --out-dir).
    Clickhouse,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Clickhouse => "ndjson",
        }
    }

    /// The line of `r` in table `t`.
    fn line(self, r: &DecodedRecord, t: &Table) -> String {
        match self {
            Format::Jsonl => to_json(r),
            Format::Csv => to_csv(r, t),
            Format::Clickhouse => to_clickhouse(r, t),
        }
    }

    /// The first line of a new stream of table `t`, if the format has one.
    fn header(self, t: &Table) -> Option<String> {
        (self == Format::Csv).then(|| csv_header(t))
    }
}

/// Counts of what was not written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotWritten {
    /// Records of a table other than stdout's one.
    pub other_kind: u64,
    /// Records of tables past [`MAX_TABLES`].
    pub too_many_tables: u64,
}

struct TableFile {
    table: Table,
    path: PathBuf,
    w: BufWriter<File>,
}

/// The records' destination.
pub struct Output {
    format: Format,
    kind: Option<String>,
    dir: Option<PathBuf>,
    files: Vec<TableFile>,
    /// Table name → indices into `files` (one per column list).
    by_name: HashMap<String, Vec<usize>>,
    /// stdout: the one table of a CSV/ClickHouse stream, once known.
    stdout_table: Option<Table>,
    /// stdout: tables already reported as not printed.
    refused_tables: Vec<String>,
    not_written: NotWritten,
}

impl Output {
    /// `dir`: one file per table there (created if missing); `kind`: only
    /// records of that table.
    pub fn new(format: Format, dir: Option<PathBuf>, kind: Option<String>) -> io::Result<Self> {
        if let Some(d) = &dir {
            std::fs::create_dir_all(d)?;
        }
        Ok(Output {
            format,
            kind,
            dir,
            files: Vec::new(),
            by_name: HashMap::new(),
            stdout_table: None,
            refused_tables: Vec::new(),
            not_written: NotWritten::default(),
        })
    }

    pub fn not_written(&self) -> NotWritten {
        self.not_written
    }

    /// The files written so far.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|f| f.path.as_path())
    }

    /// Writes one record; false when a `--kind` filter leaves it out.
    pub fn record(&mut self, r: &DecodedRecord) -> io::Result<bool> {
        let t = table_of(r);
        if self.kind.as_ref().is_some_and(|k| *k != t.name) {
            return Ok(false);
        }
        if self.dir.is_some() {
            self.write_to_file(r, t)?;
            return Ok(true);
        }
        let mut out = io::stdout().lock();
        if self.format == Format::Jsonl {
            writeln!(out, "{}", to_json(r))?;
            out.flush()?;
            return Ok(true);
        }
        match &self.stdout_table {
            None => {
                if let Some(h) = self.format.header(&t) {
                    writeln!(out, "{h}")?;
                }
                writeln!(out, "{}", self.format.line(r, &t))?;
                self.stdout_table = Some(t);
            }
            Some(one) if *one == t => writeln!(out, "{}", self.format.line(r, one))?,
            Some(one) => {
                self.not_written.other_kind += 1;
                if !self.refused_tables.contains(&t.name) {
                    eprintln!(
                        "metaprobe collect: stdout holds the {} records only: {} records are not printed (use --out-dir DIR for a file per kind, or --kind)",
                        one.name, t.name
                    );
                    self.refused_tables.push(t.name);
                }
                return Ok(true);
            }
        }
        out.flush()?;
        Ok(true)
    }

    fn write_to_file(&mut self, r: &DecodedRecord, t: Table) -> io::Result<()> {
        let known = self.by_name.get(&t.name).and_then(|v| {
            v.iter()
                .copied()
                .find(|&i| self.files.get(i).is_some_and(|f| f.table == t))
        });
        let i = match known {
            Some(i) => i,
            None => {
                if self.files.len() >= MAX_TABLES {
                    self.not_written.too_many_tables += 1;
                    return Ok(());
                }
                self.open(t)?
            }
        };
        let format = self.format;
        if let Some(f) = self.files.get_mut(i) {
            writeln!(f.w, "{}", format.line(r, &f.table))?;
        }
        Ok(())
    }

    /// Opens the file of a new table: `<name>.<ext>`, or with `_2`, `_3`, …
    /// when a file of that name has another header.
    fn open(&mut self, t: Table) -> io::Result<usize> {
        let dir = self.dir.clone().unwrap_or_default();
        let ext = self.format.extension();
        let header = self.format.header(&t);
        let taken = self.by_name.get(&t.name).map_or(0, Vec::len);
        for n in taken + 1..=taken + MAX_TABLES {
            let stem = if n == 1 {
                t.name.clone()
            } else {
                format!("{}_{n}", t.name)
            };
            let path = dir.join(format!("{stem}.{ext}"));
            let ours = self.files.iter().any(|f| f.path == path);
            if !ours && let Some(w) = open_for(&path, header.as_deref())? {
                let i = self.files.len();
                self.by_name.entry(t.name.clone()).or_default().push(i);
                self.files.push(TableFile {
                    table: t,
                    path,
                    w: BufWriter::new(w),
                });
                return Ok(i);
            }
        }
        Err(io::Error::other(format!(
            "no free file name for table {} in {}",
            t.name,
            dir.display()
        )))
    }

    /// Writes out what is buffered (after every message).
    pub fn flush(&mut self) -> io::Result<()> {
        for f in &mut self.files {
            f.w.flush()?;
        }
        Ok(())
    }
}

/// `path` opened for appending when it is new or empty (the header written)
/// or when its first line is `header`; None when it holds something else.
fn open_for(path: &Path, header: Option<&str>) -> io::Result<Option<File>> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)?;
    if f.metadata()?.len() == 0 {
        if let Some(h) = header {
            writeln!(f, "{h}")?;
        }
        return Ok(Some(f));
    }
    let Some(h) = header else {
        return Ok(Some(f));
    };
    let mut first = String::new();
    BufReader::new(File::open(path)?).read_line(&mut first)?;
    Ok((first.trim_end_matches('\n') == h).then_some(f))
}
