//! The strict IPFIX collector of `../shared/tools` (`ipfix_collect.py --strict`), an
//! independent decoder the export tests send to: it writes every record it decodes as a
//! JSON line and counts every violation of the RFCs in its summary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The shared tools beside the repository (`../shared/tools`); fails the test when the
/// checker is not there.
pub fn shared_tools() -> PathBuf {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/tools")).to_path_buf();
    assert!(
        p.join("ipfix_collect.py").is_file(),
        "the independent checker is missing: {} (clone shared/ beside the repository)",
        p.display()
    );
    p
}

/// A running strict collector on 127.0.0.1.
pub struct StrictCollector {
    child: Child,
    pub udp: u16,
    /// Its TCP port, when it listens on TCP too.
    pub tcp: Option<u16>,
    summary: PathBuf,
    out: PathBuf,
}

/// What the strict collector made of what it received.
pub struct Verdict {
    pub status: ExitStatus,
    /// Its summary (JSON): counts, and `"violations": {}` when there were none.
    pub summary: String,
    /// Every data record it decoded, one JSON line each…
    pub records: Vec<String>,
    /// …and every options record.
    pub options: Vec<String>,
    pub stderr: String,
}

impl StrictCollector {
    /// Starts it listening on UDP (and TCP when `tcp`), its files in `dir`; `until` says
    /// when it stops on its own (`["--idle", "2"]`, `["--duration", "200"]`).
    pub fn start(dir: &Path, tcp: bool, until: &[&str]) -> StrictCollector {
        let ready = dir.join("strict-ready.json");
        let summary = dir.join("strict-summary.json");
        let out = dir.join("strict-records.jsonl");
        let _ = fs::remove_file(&ready);
        let mut cmd = Command::new("python3");
        cmd.arg(shared_tools().join("ipfix_collect.py"))
            .args(["--udp", "127.0.0.1:0"]);
        if tcp {
            cmd.args(["--tcp", "127.0.0.1:0"]);
        }
        let child = cmd
            .args(until)
            .arg("--strict")
            .arg("--ready-file")
            .arg(&ready)
            .arg("--summary")
            .arg(&summary)
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 must be installed to run the independent checker");
        let start = Instant::now();
        let (udp, tcp) = loop {
            let text = fs::read_to_string(&ready).unwrap_or_default();
            if let Some(udp) = ready_port(&text, "udp")
                && (!tcp || ready_port(&text, "tcp").is_some())
            {
                break (udp, ready_port(&text, "tcp"));
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the strict collector did not start"
            );
            thread::sleep(Duration::from_millis(50));
        };
        StrictCollector {
            child,
            udp,
            tcp,
            summary,
            out,
        }
    }

    /// Waits for it to stop on its own and reads its verdict.
    pub fn wait(self) -> Verdict {
        let StrictCollector {
            child,
            summary,
            out,
            ..
        } = self;
        let output = child
            .wait_with_output()
            .expect("wait for the strict collector");
        let lines = fs::read_to_string(&out).unwrap_or_default();
        let (options, records) = lines
            .lines()
            .map(str::to_owned)
            .partition(|l| l.contains("\"options\": true") || l.contains("\"options\":true"));
        Verdict {
            status: output.status,
            summary: fs::read_to_string(&summary).unwrap_or_default(),
            records,
            options,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Stops it (SIGTERM: what has arrived is still decoded) and reads its verdict.
    pub fn stop(self) -> Verdict {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: kill(2) of our own child, not yet waited for.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        self.wait()
    }
}

impl Verdict {
    /// Fails the test unless the collector exited cleanly and saw no violation.
    pub fn assert_clean(&self) {
        assert!(
            self.status.success(),
            "strict collector failed: {}\n{}",
            self.summary,
            self.stderr
        );
        assert!(
            self.summary.contains("\"violations\": {}"),
            "violations: {}",
            self.summary
        );
    }
}

/// The port after `"KEY": [["127.0.0.1", ` in the collector's ready file.
fn ready_port(text: &str, key: &str) -> Option<u16> {
    let pat = format!("\"{key}\": [[\"127.0.0.1\", ");
    let (_, rest) = text.split_once(&pat)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
