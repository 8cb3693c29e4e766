//! A table read from a file on the main lcore and published to the workers:
//! the subscriber map and the block list. Both are rebuilt whole on reload
//! and swapped atomically (a worker sees the old table or the new one, never
//! a mix); workers take the new one at their next housekeeping, so the fast
//! path reads a plain `Arc` with no lock.

use std::sync::Arc;

use arc_swap::ArcSwap;

/// Where workers find the current table; the main lcore stores a new one.
pub type Handle<T> = Arc<ArcSwap<T>>;

/// A handle holding `table`, for the workers.
pub fn handle<T>(table: T) -> Handle<T> {
    Arc::new(ArcSwap::from_pointee(table))
}

/// Replaces the table the workers read (they take it at their next housekeeping).
pub fn publish<T>(handle: &Handle<T>, table: T) {
    handle.store(Arc::new(table));
}

/// Why a line of a table's file was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    pub reason: &'static str,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// A table built from the text of its file.
pub trait Table: Sized {
    /// What it is called in messages (`subscribers`), and in alert lines (`SUBSCRIBERS`).
    const NAME: &'static str;
    const ALERT: &'static str;
    /// What kind of table it is (`map`, `list`).
    const KIND: &'static str;
    /// The configuration key that names the file (in errors).
    const KEY: &'static str;
    /// What its entries are called (`prefixes`, `patterns`).
    const ENTRIES: &'static str;

    /// A table with no entries.
    fn empty(generation: u32) -> Self;

    /// The table of a file's text. `generation` must differ from the previous
    /// table's (0 is reserved for "not looked up").
    fn parse(text: &str, generation: u32) -> Result<Self, LineError>;

    /// Entries in the table.
    fn entries(&self) -> usize;
}
