//! What the test trees of metaprobe share (`tests/`, `dataplane/tests/`, `export/tests/`,
//! the benches): reading and writing capture files, the committed fixtures and their truth
//! files, hex, temporary directories and a UDP collector. Test code: it panics with a
//! message that names the file on anything unexpected. It depends on no crate of ours, so
//! every crate can take it as a dev-dependency.

pub mod capture;
pub mod hex;
pub mod loopback;
pub mod strict;
pub mod truth;
pub mod udp;

mod dir;

pub use dir::TestDir;

use std::path::{Path, PathBuf};

/// The folder of the committed captures and their truth files, one for every test tree
/// (sources and licenses in its `SOURCES.md`).
pub fn fixtures_dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dataplane/tests/fixtures"
    ))
    .to_path_buf()
}
