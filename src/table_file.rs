//! The subscriber map file on the main lcore: read at the start (a bad line
//! stops the start), read again on SIGHUP and when its mtime changes (a bad
//! line is an alert and the map in use stays), published to the workers by an
//! atomic swap.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use metaprobe_dataplane::subscribers::{self, SubscriberHandle, SubscriberMap};

pub struct MapFile {
    path: Option<PathBuf>,
    handle: SubscriberHandle,
    generation: u32,
    mtime: Option<SystemTime>,
}

impl MapFile {
    /// Reads `path` (None: an empty map that never changes). The error names
    /// the file, the line and the reason.
    pub fn open(path: Option<&Path>) -> Result<MapFile, String> {
        let Some(path) = path else {
            return Ok(MapFile {
                path: None,
                handle: subscribers::handle(SubscriberMap::empty(1)),
                generation: 1,
                mtime: None,
            });
        };
        let mtime = mtime(path);
        let map = read(path, 1)?;
        println!(
            "subscribers: {} prefixes from {}",
            map.len(),
            path.display()
        );
        Ok(MapFile {
            path: Some(path.to_owned()),
            handle: subscribers::handle(map),
            generation: 1,
            mtime,
        })
    }

    pub fn handle(&self) -> &SubscriberHandle {
        &self.handle
    }

    /// Prefixes in the map in use.
    pub fn len(&self) -> usize {
        self.handle.load().len()
    }

    /// True when the file's mtime differs from the one last read.
    pub fn changed(&self) -> bool {
        self.path.as_deref().is_some_and(|p| mtime(p) != self.mtime)
    }

    /// Reads the file again and publishes it; on error the map in use stays
    /// and the error (file, line, reason) is returned. `Ok(None)`: no file.
    pub fn reload(&mut self) -> Result<Option<usize>, String> {
        let Some(path) = self.path.clone() else {
            return Ok(None);
        };
        // Taken before the read: a write during it is seen at the next check.
        self.mtime = mtime(&path);
        let generation = self.generation.wrapping_add(1).max(1);
        let map = read(&path, generation)?;
        let n = map.len();
        self.generation = generation;
        subscribers::publish(&self.handle, map);
        Ok(Some(n))
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn read(path: &Path, generation: u32) -> Result<SubscriberMap, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("subscribers_file: cannot read {}: {e}", path.display()))?;
    SubscriberMap::parse(&text, generation).map_err(|e| {
        format!(
            "subscribers_file {}:{}: {}",
            path.display(),
            e.line,
            e.reason
        )
    })
}
