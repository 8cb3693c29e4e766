//! A table file on the main lcore (the subscriber map, the block list): read
//! at the start (a bad line stops the start), read again on SIGHUP and when
//! its mtime changes (a bad line is an alert and the table in use stays),
//! published to the workers by an atomic swap.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use metaprobe_dataplane::table::{self, Handle, Table};

/// A table file the main lcore reads again on SIGHUP and when it changes
/// (a [`TableFile`], or the subscribers: their map file and RADIUS).
pub trait Reloadable {
    type Table: Table;

    /// Reads the file again and publishes it; on error the table in use stays
    /// and the error (file, line, reason) is returned. `Ok(None)`: no file.
    fn reload(&mut self) -> Result<Option<usize>, String>;

    /// Entries in the table in use.
    fn len(&self) -> usize;
}

pub struct TableFile<T> {
    path: Option<PathBuf>,
    handle: Handle<T>,
    generation: u32,
    mtime: Option<SystemTime>,
}

impl<T: Table> TableFile<T> {
    /// Reads `path` (None: an empty table that never changes). The error names
    /// the file, the line and the reason.
    pub fn open(path: Option<&Path>) -> Result<TableFile<T>, String> {
        let Some(path) = path else {
            return Ok(TableFile {
                path: None,
                handle: table::handle(T::empty(1)),
                generation: 1,
                mtime: None,
            });
        };
        let mtime = mtime(path);
        let table: T = read(path, 1)?;
        println!(
            "{}: {} {} from {}",
            T::NAME,
            table.entries(),
            T::ENTRIES,
            path.display()
        );
        Ok(TableFile {
            path: Some(path.to_owned()),
            handle: table::handle(table),
            generation: 1,
            mtime,
        })
    }

    pub fn handle(&self) -> &Handle<T> {
        &self.handle
    }

    /// True when the file's mtime differs from the one last read.
    pub fn changed(&self) -> bool {
        self.path.as_deref().is_some_and(|p| mtime(p) != self.mtime)
    }
}

impl<T: Table> Reloadable for TableFile<T> {
    type Table = T;

    fn len(&self) -> usize {
        self.handle.load().entries()
    }

    fn reload(&mut self) -> Result<Option<usize>, String> {
        let Some(path) = self.path.clone() else {
            return Ok(None);
        };
        // Taken before the read: a write during it is seen at the next check.
        self.mtime = mtime(&path);
        let generation = self.generation.wrapping_add(1).max(1);
        let table: T = read(&path, generation)?;
        let n = table.entries();
        self.generation = generation;
        table::publish(&self.handle, table);
        Ok(Some(n))
    }
}

pub(crate) fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

pub(crate) fn read<T: Table>(path: &Path, generation: u32) -> Result<T, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read {}: {e}", T::KEY, path.display()))?;
    T::parse(&text, generation)
        .map_err(|e| format!("{} {}:{}: {}", T::KEY, path.display(), e.line, e.reason))
}
