//! Temporary directories of tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

static DIR_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A directory of its own for one test, under the system temp dir, named
/// `mp-<name>-<pid>-<n>` (unique per process and call). Removed when dropped, unless the
/// test is failing or `KEEP` is set in the environment: then it is kept for inspection
/// and its path printed.
pub struct TestDir {
    path: PathBuf,
    name: String,
}

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        let n = DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
        let unique = format!("mp-{name}-{}-{n}", std::process::id());
        let path = std::env::temp_dir().join(&unique);
        if path.exists() {
            fs::remove_dir_all(&path).expect("remove stale test dir");
        }
        fs::create_dir_all(&path).expect("create test dir");
        TestDir { path, name: unique }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, file: impl AsRef<Path>) -> PathBuf {
        self.path.join(file)
    }

    /// The directory's own name: unique per test and process.
    pub fn unique_name(&self) -> &str {
        &self.name
    }
}

impl AsRef<Path> for TestDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("test failed; its files are kept in {}", self.path.display());
        } else if std::env::var_os("KEEP").is_some() {
            eprintln!("KEEP: the test's files are kept in {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
