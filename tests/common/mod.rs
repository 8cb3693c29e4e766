//! Shared harness of the end-to-end tests: temporary directories, running the `metaprobe`
//! binary with a timeout (to its end, or started, signalled and then waited for), reading
//! and writing captures, deterministic packet generators, parsers for the start-up worker
//! lines and the final summary the binary prints, and network namespaces for kernel
//! interfaces (`net_af_packet` on veth pairs).
//!
//! Every DPDK run is its own process (EAL initialises once per process) with its own
//! `--file-prefix`; runs are serialised through [`dpdk_lock`] because the machine has two
//! cores and every run busy-polls one of them.

// Each test crate (`tests/*.rs`) uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use metaprobe_test_support::capture::{self, read_ethernet};
use pcap_file::DataLink;

pub use metaprobe_test_support::capture::Frame;
pub use metaprobe_test_support::fixtures_dir;
pub use metaprobe_test_support::hex::hex_head;
pub use metaprobe_test_support::udp::Datagram;

/// The binary under test.
pub const METAPROBE: &str = env!("CARGO_BIN_EXE_metaprobe");

/// `--idle-exit` given to every forwarding run: the run ends this many seconds after the
/// last packet was received on any port.
pub const IDLE_EXIT_SECS: u32 = 2;

/// A run that has not ended after this long is killed and the test fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(240);

/// The real Ethernet captures the bridge and export tests feed through the
/// probe (DNS, HTTP, TLS, QUIC; VLAN, QinQ, MPLS, PPPoE; IPv4 and IPv6,
/// fragments; pcap and pcapng), in name order.
pub const BRIDGE_CAPTURES: [&str; 11] = [
    "dns_large_responses_ip_fragmented_v4_v6_and_tcp.pcap",
    "dns_udp_google_a_aaaa_mx.pcap",
    "http_301_location.pcapng",
    "http_pipelined_2req_1seg.pcap",
    "mpls_1label_tcp_telnet.pcap",
    "qinq_88a8_8100_arp.pcap",
    "qinq_pppoe_dns.pcapng",
    "quic_v1_ipv6_gstatic_1initial.pcap",
    "tls13_curl_with_dns.pcap",
    "tls13_ech_ipv6.pcapng",
    "vlan_8021q_dns_mx.pcapng",
];

/// [`BRIDGE_CAPTURES`] as paths.
pub fn bridge_capture_files() -> Vec<PathBuf> {
    BRIDGE_CAPTURES
        .iter()
        .map(|n| fixtures_dir().join(n))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Serialisation of DPDK runs
// ---------------------------------------------------------------------------------------

static DPDK_LOCK: Mutex<()> = Mutex::new(());

/// Held while a test runs the binary with EAL. Tests run in parallel threads; two busy-polling
/// workers on a two-core machine would starve each other (and the `--idle-exit` clock), so
/// one EAL run at a time. A panicking test must not block the others: poisoning is ignored.
pub fn dpdk_lock() -> MutexGuard<'static, ()> {
    DPDK_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------------------

/// A directory of its own for one test ([`metaprobe_test_support::TestDir`]), whose name
/// is also the DPDK `--file-prefix` of the runs in it.
pub struct TestDir {
    dir: metaprobe_test_support::TestDir,
}

impl TestDir {
    /// `name` must be unique among the tests of the whole suite.
    pub fn new(name: &str) -> TestDir {
        TestDir {
            dir: metaprobe_test_support::TestDir::new(&format!("e2e-{name}")),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn join(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Unique per test and per process: use as EAL `--file-prefix`.
    pub fn file_prefix(&self) -> &str {
        self.dir.unique_name()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        // EAL's runtime directory of this test's `--file-prefix` (config, fbarrays: a few MB
        // that EAL leaves behind). Ours alone: the prefix is unique to this test and process.
        for base in dpdk_runtime_dirs() {
            let _ = fs::remove_dir_all(base.join(self.file_prefix()));
        }
    }
}

fn dpdk_runtime_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/var/run/dpdk"), PathBuf::from("/tmp/dpdk")];
    if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR") {
        dirs.push(PathBuf::from(xdg).join("dpdk"));
    }
    dirs
}

// ---------------------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------------------

/// What one run of the binary produced.
pub struct RunOutput {
    /// The command that started the binary and `exec`s it (e.g. `ip netns exec NS`); empty
    /// when the binary was started directly.
    pub prefix: Vec<OsString>,
    pub args: Vec<OsString>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl RunOutput {
    /// Command line, exit status and both outputs, for assertion messages.
    pub fn describe(&self) -> String {
        describe_run(
            &self.prefix,
            &self.args,
            &self.status.to_string(),
            self.elapsed,
            &self.stdout,
            &self.stderr,
        )
    }

    /// Exited by itself with status 0.
    pub fn assert_success(&self) {
        assert_eq!(
            self.status.code(),
            Some(0),
            "metaprobe should exit with status 0\n{}",
            self.describe()
        );
    }

    /// Exited by itself (not killed by a signal, e.g. the SIGABRT of a panic) with a status
    /// other than 0.
    pub fn assert_clean_failure(&self) {
        match self.status.code() {
            Some(0) => panic!("metaprobe should fail, but exited 0\n{}", self.describe()),
            Some(_) => {}
            None => panic!(
                "metaprobe should exit with an error status, but was killed by a signal \
                 (a panic or crash is not a clean error)\n{}",
                self.describe()
            ),
        }
    }

    /// `line` is one of the lines of stdout, exactly (surrounding whitespace aside).
    pub fn assert_stdout_line(&self, line: &str) {
        assert!(
            self.stdout.lines().any(|l| l.trim() == line),
            "stdout should have the line {line:?}\n{}",
            self.describe_short()
        );
    }
}

/// Runs the binary with `args`, no stdin, capturing both outputs. Kills it after `timeout`
/// and fails the test.
pub fn run_metaprobe(args: &[OsString], timeout: Duration) -> RunOutput {
    Running::spawn(args).wait(timeout)
}

/// A run of the binary that is still going: its outputs are collected as they come, so a
/// test can wait for a line, send a signal, then wait for the end.
///
/// Dropping it while the process still runs (a failing test) kills the process, so no
/// busy-polling run outlives its test.
pub struct Running {
    prefix: Vec<OsString>,
    args: Vec<OsString>,
    child: Child,
    start: Instant,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<thread::JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Running {
    /// Starts the binary with `args`, no stdin.
    pub fn spawn(args: &[OsString]) -> Running {
        Running::spawn_with_prefix(&[], args)
    }

    /// Starts `PREFIX… METAPROBE ARGS…`: `prefix` is a command that `exec`s the rest
    /// (e.g. `ip netns exec NS`), so the child's pid is the binary's and a signal sent to it
    /// reaches the binary. With an empty prefix, the binary itself.
    pub fn spawn_with_prefix(prefix: &[OsString], args: &[OsString]) -> Running {
        let mut cmd = match prefix.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(METAPROBE);
                c
            }
            None => Command::new(METAPROBE),
        };
        let start = Instant::now();
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {METAPROBE} (prefix {prefix:?}): {e}"));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out_pipe = child.stdout.take().expect("stdout is piped");
        let err_pipe = child.stderr.take().expect("stderr is piped");
        let readers = vec![
            collect_lines(out_pipe, Arc::clone(&stdout)),
            collect_lines(err_pipe, Arc::clone(&stderr)),
        ];
        Running {
            prefix: prefix.to_vec(),
            args: args.to_vec(),
            child,
            start,
            stdout,
            stderr,
            readers,
            status: None,
        }
    }

    /// The process id (of the binary itself: see [`Running::spawn_with_prefix`]).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Command line and both outputs so far, for assertion messages while it runs.
    pub fn describe_so_far(&self) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => "still running".to_owned(),
        };
        cut_text(describe_run(
            &self.prefix,
            &self.args,
            &status,
            self.start.elapsed(),
            &lock_text(&self.stdout),
            &lock_text(&self.stderr),
        ))
    }

    /// What the process printed on stdout so far.
    pub fn stdout_so_far(&self) -> String {
        lock_text(&self.stdout)
    }

    fn output(&self, status: ExitStatus) -> RunOutput {
        RunOutput {
            prefix: self.prefix.clone(),
            args: self.args.clone(),
            status,
            stdout: lock_text(&self.stdout),
            stderr: lock_text(&self.stderr),
            elapsed: self.start.elapsed(),
        }
    }

    /// Waits until stdout has a line containing `needle`. Fails the test when the process
    /// ends first or `timeout` (counted from the start) passes. Returns how long after the
    /// start the line came.
    pub fn wait_for_stdout(&mut self, needle: &str, timeout: Duration) -> Duration {
        self.wait_for_line(false, needle, timeout).0
    }

    /// Like [`Running::wait_for_stdout`] on stderr; returns the line.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) -> String {
        self.wait_for_line(true, needle, timeout).1
    }

    fn wait_for_line(
        &mut self,
        stderr: bool,
        needle: &str,
        timeout: Duration,
    ) -> (Duration, String) {
        loop {
            let text = lock_text(if stderr { &self.stderr } else { &self.stdout });
            if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                return (self.start.elapsed(), line.to_owned());
            }
            if self.status.is_none() {
                self.status = self.child.try_wait().expect("wait for metaprobe");
            }
            if self.status.is_some() {
                // Let the readers take the last output before describing it.
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "metaprobe ended before printing {needle:?}\n{}",
                    self.describe_so_far()
                );
            }
            if self.start.elapsed() > timeout {
                panic!(
                    "metaprobe did not print {needle:?} within {} s\n{}",
                    timeout.as_secs(),
                    self.describe_so_far()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the process. Fails the test if the process
    /// has already ended (and been reaped: its pid may belong to someone else by now).
    pub fn signal(&mut self, signal: libc::c_int) {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("wait for metaprobe");
        }
        if self.status.is_some() {
            panic!(
                "metaprobe ended before it could be sent signal {signal}\n{}",
                self.describe_so_far()
            );
        }
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) with our own child's pid, which is not reaped (checked above), so
        // the pid is still that child's.
        let ret = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            ret,
            0,
            "kill({pid}, {signal}): {}",
            std::io::Error::last_os_error()
        );
    }

    /// Waits for the process to end and returns what it did. Kills it after `timeout`
    /// (counted from its start) and fails the test.
    pub fn wait(mut self, timeout: Duration) -> RunOutput {
        let status = loop {
            if let Some(status) = self.status {
                break status;
            }
            self.status = self.child.try_wait().expect("wait for metaprobe");
            if self.status.is_some() {
                continue;
            }
            if self.start.elapsed() > timeout {
                // Our own child, by its handle.
                let _ = self.child.kill();
                let status = self.child.wait().expect("wait for killed metaprobe");
                self.status = Some(status);
                self.join_readers();
                panic!(
                    "metaprobe did not exit within {} s and was killed\n{}",
                    timeout.as_secs(),
                    self.output(status).describe()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        self.join_readers();
        self.output(status)
    }

    fn join_readers(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.status.is_none() {
            // Our own child, by its handle.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A thread that appends every line `r` gives to `into`, until end of file.
fn collect_lines(
    r: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    into.lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .push_str(&text);
                }
            }
        }
    })
}

fn lock_text(text: &Mutex<String>) -> String {
    text.lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// The command line, the exit status (or what stands for it) and both outputs.
fn describe_run(
    prefix: &[OsString],
    args: &[OsString],
    status: &str,
    elapsed: Duration,
    stdout: &str,
    stderr: &str,
) -> String {
    let mut s = String::from("command:");
    for a in prefix {
        let _ = write!(s, " {}", a.to_string_lossy());
    }
    let _ = write!(s, " {}", METAPROBE);
    for a in args {
        let _ = write!(s, " {}", a.to_string_lossy());
    }
    let _ = write!(
        s,
        "\nstatus: {status} (after {:.1} s)\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n---",
        elapsed.as_secs_f64(),
    );
    s
}

/// `text` cut to 8000 bytes (at a character boundary), with a mark when cut.
fn cut_text(text: String) -> String {
    const MAX: usize = 8000;
    if text.len() <= MAX {
        return text;
    }
    let mut cut = MAX;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… (cut)", text.get(..cut).unwrap_or_default())
}

/// `s` as a TOML basic string, quotes included.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The minimal configuration of a test: one bridge of ports `a` and `b`, logs in the test's
/// directory, no periodic statistics. `extra` is appended verbatim (more TOML lines).
pub fn write_config(dir: &TestDir, a: u16, b: u16, extra: &str) -> PathBuf {
    write_config_bridges(dir, &[(a, b)], extra)
}

/// Like [`write_config`] with any list of bridges (subscriber port, internet port), written
/// as given (so a bad list reaches the configuration check as it is).
pub fn write_config_bridges(dir: &TestDir, bridges: &[(u16, u16)], extra: &str) -> PathBuf {
    let log_dir = dir.join("log");
    fs::create_dir_all(&log_dir).expect("create log dir");
    let list: Vec<String> = bridges.iter().map(|(a, b)| format!("[{a}, {b}]")).collect();
    let text = format!(
        "bridges = [{}]\nlog_dir = {}\nstats_interval = 0\n{extra}",
        list.join(", "),
        toml_string(&log_dir.to_string_lossy())
    );
    let path = dir.join("metaprobe.toml");
    fs::write(&path, text).expect("write config");
    path
}

/// The EAL arguments every test run has: no hugepages, no PCI, 512 MB, the test's own
/// `--file-prefix`, EAL's own log at warning. `lcores` is how the lcores are given (e.g.
/// `["-l", "0-1"]`); the devices (`--vdev=…`) come after these.
pub fn eal_base(dir: &TestDir, lcores: &[&str]) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["--no-huge".into(), "--no-pci".into()];
    args.extend(lcores.iter().map(OsString::from));
    args.extend([
        "-m".into(),
        "512".into(),
        "--file-prefix".into(),
        dir.file_prefix().into(),
        "--log-level=lib.eal:warning".into(),
    ]);
    args
}

/// `--vdev=net_pcapN,rx_pcap=RX,tx_pcap=TX`.
pub fn pcap_vdev(n: u32, rx: &Path, tx: &Path) -> OsString {
    for p in [rx, tx] {
        let s = p.to_string_lossy();
        assert!(
            !s.contains(',') && !s.contains('='),
            "a path given to net_pcap must not contain ',' or '=': {s}"
        );
    }
    format!(
        "--vdev=net_pcap{n},rx_pcap={},tx_pcap={}",
        rx.display(),
        tx.display()
    )
    .into()
}

/// EAL arguments of a test: [`eal_base`] with lcores 0-1 (main and one worker) and two
/// `net_pcap` ports (port 0 = subscriber side reads `in0` and writes `out0`, port 1 =
/// internet side reads `in1`, writes `out1`).
pub fn eal_args(dir: &TestDir, in0: &Path, out0: &Path, in1: &Path, out1: &Path) -> Vec<OsString> {
    let mut args = eal_base(dir, &["-l", "0-1"]);
    args.push(pcap_vdev(0, in0, out0));
    args.push(pcap_vdev(1, in1, out1));
    args
}

/// `metaprobe run -c CONFIG --idle-exit SECS -- EAL...` with [`IDLE_EXIT_SECS`].
pub fn run_args(config: &Path, eal: Vec<OsString>) -> Vec<OsString> {
    run_args_idle(config, Some(IDLE_EXIT_SECS), eal)
}

/// `metaprobe run -c CONFIG [--idle-exit SECS] -- EAL...`
pub fn run_args_idle(config: &Path, idle_exit: Option<u32>, eal: Vec<OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["run".into(), "-c".into(), config.into()];
    if let Some(secs) = idle_exit {
        args.push("--idle-exit".into());
        args.push(secs.to_string().into());
    }
    args.push("--".into());
    args.extend(eal);
    args
}

/// One finished bridge run over two `net_pcap` ports.
pub struct BridgeRun {
    pub out: RunOutput,
    pub out0: PathBuf,
    pub out1: PathBuf,
}

/// Runs a bridge of ports 0 and 1 with the given captures as the two receive sides, waits
/// until it exits by `--idle-exit`, and asserts that it exited with status 0.
pub fn run_bridge(dir: &TestDir, in0: &Path, in1: &Path) -> BridgeRun {
    let config = write_config(dir, 0, 1, "");
    let out0 = dir.join("out0.pcap");
    let out1 = dir.join("out1.pcap");
    let args = run_args(&config, eal_args(dir, in0, &out0, in1, &out1));
    let out = {
        let _guard = dpdk_lock();
        run_metaprobe(&args, RUN_TIMEOUT)
    };
    out.assert_success();
    BridgeRun { out, out0, out1 }
}

/// The checks every bridge test makes: each side's input came out of the other side
/// byte-identical, packet for packet, in order, and the final counters equal the packet
/// counts, with nothing dropped or in error.
pub fn assert_bridge_forwarded(run: &BridgeRun, sent0: &[Packet], sent1: &[Packet]) {
    let got1 = read_capture(&run.out1);
    let got0 = read_capture(&run.out0);
    assert_same_packets("port 0 -> port 1 (out1 vs in0)", sent0, &got1, &run.out);
    assert_same_packets("port 1 -> port 0 (out0 vs in1)", sent1, &got0, &run.out);
    let summary = FinalSummary::parse(&run.out.stdout)
        .unwrap_or_else(|e| panic!("final summary: {e}\n{}", run.out.describe()));
    summary.assert_bridge_counts(sent0.len() as u64, sent1.len() as u64, &run.out);
}

// ---------------------------------------------------------------------------------------
// Captures
// ---------------------------------------------------------------------------------------

/// One packet of a capture: the captured bytes and the length on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Packet {
    pub data: Vec<u8>,
    pub orig_len: u32,
}

impl Packet {
    /// A whole frame (caplen == len).
    pub fn whole(data: Vec<u8>) -> Packet {
        let orig_len = u32::try_from(data.len()).expect("frame length fits u32");
        Packet { data, orig_len }
    }
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Packet {{ len {}, caplen {}, {} }}",
            self.orig_len,
            self.data.len(),
            hex_head(&self.data, 64)
        )
    }
}

/// Reads every packet of an Ethernet capture (classic pcap or pcapng), in file order.
pub fn read_capture(path: &Path) -> Vec<Packet> {
    read_ethernet(path)
        .into_iter()
        .map(|f| Packet {
            data: f.data,
            orig_len: f.orig_len,
        })
        .collect()
}

/// Writes whole frames as a classic little-endian µs pcap, link type Ethernet (1), with
/// deterministic timestamps 1 ms apart.
pub fn write_pcap(path: &Path, packets: &[Packet]) {
    write_pcap_iter(path, packets);
}

/// [`write_pcap`] from any sequence of packets (e.g. a block repeated with `cycle`), without
/// collecting it first.
pub fn write_pcap_iter<'a>(path: &Path, packets: impl IntoIterator<Item = &'a Packet>) {
    let frames = packets.into_iter().map(|p| (&p.data[..], p.orig_len));
    capture::write_pcap(
        path,
        Duration::from_secs(1_700_000_000),
        Duration::from_millis(1),
        frames,
    );
}

/// `Ok` when `got` is exactly `sent`: same count, same bytes, same wire length, same order.
/// Otherwise says which packet differs and how.
pub fn compare_packets(sent: &[Packet], got: &[Packet]) -> Result<(), String> {
    let first_diff = sent.iter().zip(got.iter()).position(|(a, b)| a != b);
    if let Some(i) = first_diff {
        let (Some(a), Some(b)) = (sent.get(i), got.get(i)) else {
            return Err(format!("packet {i} differs"));
        };
        let offset = a.data.iter().zip(&b.data).position(|(x, y)| x != y);
        // Is the sent packet somewhere else (reordering) or missing?
        let elsewhere = got.iter().position(|p| p == a);
        return Err(format!(
            "packet {i} differs (sent {} packets, got {}).\n sent {a:?}\n got  {b:?}\n \
             first differing byte offset: {offset:?}; sent packet {i} found in output at {elsewhere:?}",
            sent.len(),
            got.len(),
        ));
    }
    if got.len() != sent.len() {
        return Err(format!(
            "{} packets sent, {} came out (the first {} are identical)",
            sent.len(),
            got.len(),
            sent.len().min(got.len()),
        ));
    }
    Ok(())
}

/// Asserts [`compare_packets`]; `what` names the direction in the failure message.
pub fn assert_same_packets(what: &str, sent: &[Packet], got: &[Packet], run: &RunOutput) {
    if let Err(e) = compare_packets(sent, got) {
        panic!("{what}: {e}\n{}", run.describe_short());
    }
}

impl RunOutput {
    /// Like [`RunOutput::describe`] but cuts long outputs.
    pub fn describe_short(&self) -> String {
        cut_text(self.describe())
    }
}

// ---------------------------------------------------------------------------------------
// Final summary
// ---------------------------------------------------------------------------------------

/// One `final …` line: `final port 0 (net_pcap0): rx 1000 tx 400 …`.
#[derive(Debug, Clone)]
pub struct SummaryLine {
    /// `port` or `worker`.
    pub kind: String,
    pub id: u32,
    /// What is in the parentheses: the device name of a port, `lcore N` of a worker.
    pub label: String,
    pub values: BTreeMap<String, String>,
    pub line: String,
}

impl SummaryLine {
    /// Parses one line; `None` when it is not a `final port|worker` line at all.
    pub fn parse(line: &str) -> Option<Result<SummaryLine, String>> {
        let rest = line.trim().strip_prefix("final ")?;
        let (kind, rest) = rest.split_once(' ')?;
        if kind != "port" && kind != "worker" {
            return None;
        }
        Some(Self::parse_body(kind, rest, line))
    }

    fn parse_body(kind: &str, rest: &str, line: &str) -> Result<SummaryLine, String> {
        let bad = |why: &str| format!("malformed summary line ({why}): {line:?}");
        let (head, body) = rest.split_once(':').ok_or_else(|| bad("no ':'"))?;
        let (id, label) = head.split_once(' ').ok_or_else(|| bad("no label"))?;
        let id: u32 = id.parse().map_err(|_| bad("id is not a number"))?;
        let label = label
            .trim()
            .strip_prefix('(')
            .and_then(|l| l.strip_suffix(')'))
            .ok_or_else(|| bad("label not in parentheses"))?
            .to_string();
        let words: Vec<&str> = body.split_whitespace().collect();
        if !words.len().is_multiple_of(2) {
            return Err(bad("odd number of words after ':'"));
        }
        let mut values = BTreeMap::new();
        for pair in words.chunks_exact(2) {
            if let [k, v] = pair
                && values.insert((*k).to_string(), (*v).to_string()).is_some()
            {
                return Err(bad("key repeated"));
            }
        }
        Ok(SummaryLine {
            kind: kind.to_string(),
            id,
            label,
            values,
            line: line.to_string(),
        })
    }

    /// The value of `key` as an unsigned decimal.
    pub fn u64(&self, key: &str) -> Result<u64, String> {
        let v = self
            .values
            .get(key)
            .ok_or_else(|| format!("no '{key}' in {:?}", self.line))?;
        v.parse()
            .map_err(|_| format!("'{key}' is not an unsigned number in {:?}", self.line))
    }

    /// `Ok` when `key` is the unsigned decimal `want`.
    pub fn expect(&self, key: &str, want: u64) -> Result<(), String> {
        let got = self.u64(key)?;
        if got == want {
            Ok(())
        } else {
            Err(format!("{key} is {got}, expected {want}: {}", self.line))
        }
    }

    /// The value of `key` as a decimal number (e.g. `cycles/pkt 123.4`).
    pub fn f64(&self, key: &str) -> Result<f64, String> {
        let v = self
            .values
            .get(key)
            .ok_or_else(|| format!("no '{key}' in {:?}", self.line))?;
        v.parse()
            .map_err(|_| format!("'{key}' is not a number in {:?}", self.line))
    }
}

/// The final summary printed at exit: every `final port …` and `final worker …` line.
#[derive(Debug)]
pub struct FinalSummary {
    pub ports: BTreeMap<u32, SummaryLine>,
    pub workers: BTreeMap<u32, SummaryLine>,
}

pub const PORT_KEYS: [&str; 7] = [
    "rx",
    "tx",
    "tx-dropped",
    "rx-missed",
    "rx-nombuf",
    "rx-errors",
    "tx-errors",
];
/// The port counters that must be 0 when nothing was lost.
pub const LOSS_KEYS: [&str; 5] = [
    "tx-dropped",
    "rx-missed",
    "rx-nombuf",
    "rx-errors",
    "tx-errors",
];

/// What one port's final line must say: device name, exact rx and tx counts.
#[derive(Debug, Clone)]
pub struct PortCounts {
    pub id: u32,
    pub name: String,
    pub rx: u64,
    pub tx: u64,
}

impl PortCounts {
    pub fn new(id: u32, name: &str, rx: u64, tx: u64) -> PortCounts {
        PortCounts {
            id,
            name: name.to_string(),
            rx,
            tx,
        }
    }
}

pub const WORKER_KEYS: [&str; 4] = ["rx", "tx", "tx-dropped", "cycles/pkt"];

impl FinalSummary {
    pub fn parse(stdout: &str) -> Result<FinalSummary, String> {
        let mut ports = BTreeMap::new();
        let mut workers = BTreeMap::new();
        for line in stdout.lines() {
            let Some(parsed) = SummaryLine::parse(line) else {
                continue;
            };
            let parsed = parsed?;
            let keys: &[&str] = if parsed.kind == "port" {
                &PORT_KEYS
            } else {
                &WORKER_KEYS
            };
            for k in keys {
                if !parsed.values.contains_key(*k) {
                    return Err(format!("'{k}' missing in {:?}", parsed.line));
                }
            }
            let map = if parsed.kind == "port" {
                &mut ports
            } else {
                &mut workers
            };
            let id = parsed.id;
            if map.insert(id, parsed).is_some() {
                return Err(format!("two final lines for the same {id}"));
            }
        }
        if ports.is_empty() {
            return Err("no 'final port' line on stdout".into());
        }
        if workers.is_empty() {
            return Err("no 'final worker' line on stdout".into());
        }
        Ok(FinalSummary { ports, workers })
    }

    /// The line of port `id`.
    pub fn port(&self, id: u32) -> Result<&SummaryLine, String> {
        self.ports
            .get(&id)
            .ok_or_else(|| format!("no 'final port {id}' line"))
    }

    /// The line of worker `id` (the worker's number, not its lcore).
    pub fn worker(&self, id: u32) -> Result<&SummaryLine, String> {
        self.workers
            .get(&id)
            .ok_or_else(|| format!("no 'final worker {id}' line"))
    }

    /// `Ok` when nothing was dropped, missed or in error on any port or worker.
    pub fn check_no_loss(&self) -> Result<(), String> {
        for p in self.ports.values() {
            for k in LOSS_KEYS {
                p.expect(k, 0)?;
            }
        }
        for w in self.workers.values() {
            w.expect("tx-dropped", 0)?;
            let cycles = w.f64("cycles/pkt")?;
            if !(cycles.is_finite() && cycles >= 0.0) {
                return Err(format!("worker cycles/pkt is not a count: {}", w.line));
            }
        }
        Ok(())
    }

    /// `Ok` when the summary has exactly the ports of `expected`, each with its device name
    /// and exact rx and tx counts, the workers together received and sent the sum of them,
    /// and nothing was dropped, missed or in error anywhere.
    pub fn check_ports(&self, expected: &[PortCounts]) -> Result<(), String> {
        let ids: Vec<u32> = self.ports.keys().copied().collect();
        let want_ids: Vec<u32> = expected.iter().map(|p| p.id).collect();
        if ids != want_ids {
            return Err(format!(
                "final summary should have exactly ports {want_ids:?}, has {ids:?}"
            ));
        }
        for e in expected {
            let p = self.port(e.id)?;
            if p.label != e.name {
                return Err(format!("port {} should be {}: {}", e.id, e.name, p.line));
            }
            p.expect("rx", e.rx)?;
            p.expect("tx", e.tx)?;
        }
        self.check_no_loss()?;
        let (mut rx, mut tx) = (0, 0);
        for w in self.workers.values() {
            rx += w.u64("rx")?;
            tx += w.u64("tx")?;
        }
        let want_rx: u64 = expected.iter().map(|p| p.rx).sum();
        let want_tx: u64 = expected.iter().map(|p| p.tx).sum();
        if rx != want_rx || tx != want_tx {
            return Err(format!(
                "the workers together received {rx} and sent {tx}, expected {want_rx} and {want_tx}"
            ));
        }
        Ok(())
    }

    /// `Ok` when port 0 (`net_pcap0`) received `n0` and sent `n1`, port 1 the reverse, the
    /// workers together received and sent `n0 + n1`, and nothing was dropped, missed or in
    /// error anywhere.
    pub fn check_bridge_counts(&self, n0: u64, n1: u64) -> Result<(), String> {
        self.check_ports(&[
            PortCounts::new(0, "net_pcap0", n0, n1),
            PortCounts::new(1, "net_pcap1", n1, n0),
        ])
    }

    /// Asserts [`FinalSummary::check_bridge_counts`].
    pub fn assert_bridge_counts(&self, n0: u64, n1: u64, run: &RunOutput) {
        if let Err(e) = self.check_bridge_counts(n0, n1) {
            panic!("final counters: {e}\n{}", run.describe_short());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Start-up output
// ---------------------------------------------------------------------------------------

/// One `worker 0 on lcore 1: bridge 0 queue 0, bridge 1 queue 0` line of the start-up
/// output: which (bridge, queue) sets a worker polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStart {
    pub worker: u32,
    pub lcore: u32,
    /// (bridge, queue) of each set, in the order printed.
    pub sets: Vec<(u32, u32)>,
    pub line: String,
}

impl WorkerStart {
    /// Every `worker N on lcore L: …` line of `stdout`, in order. A line that starts so but
    /// cannot be read is an error (so a changed format cannot pass a check vacuously).
    pub fn parse_all(stdout: &str) -> Result<Vec<WorkerStart>, String> {
        let mut out = Vec::new();
        for line in stdout.lines() {
            let Some(rest) = line.trim().strip_prefix("worker ") else {
                continue;
            };
            let bad = |why: &str| format!("malformed worker start line ({why}): {line:?}");
            let (worker, rest) = rest
                .split_once(" on lcore ")
                .ok_or_else(|| bad("no 'on lcore'"))?;
            let (lcore, sets) = rest.split_once(':').ok_or_else(|| bad("no ':'"))?;
            let worker = worker.parse().map_err(|_| bad("worker is not a number"))?;
            let lcore = lcore
                .trim()
                .parse()
                .map_err(|_| bad("lcore is not a number"))?;
            let mut parsed = Vec::new();
            for set in sets.split(',') {
                let words: Vec<&str> = set.split_whitespace().collect();
                let [b_word, b, q_word, q] = words.as_slice() else {
                    return Err(bad("a set is not 'bridge B queue Q'"));
                };
                if *b_word != "bridge" || *q_word != "queue" {
                    return Err(bad("a set is not 'bridge B queue Q'"));
                }
                let b = b.parse().map_err(|_| bad("bridge is not a number"))?;
                let q = q.parse().map_err(|_| bad("queue is not a number"))?;
                parsed.push((b, q));
            }
            out.push(WorkerStart {
                worker,
                lcore,
                sets: parsed,
                line: line.to_string(),
            });
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------
// Commands and network namespaces
// ---------------------------------------------------------------------------------------

/// Runs `program args…` to its end and returns its output. Fails the test with the command
/// line and both outputs when it cannot start or exits non-zero.
pub fn run_cmd(program: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{program} {}`: {e} (is it installed? scripts/setup.sh installs \
                 the test tools)",
                args.join(" ")
            )
        });
    assert!(
        out.status.success(),
        "`{program} {}` failed: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Fails the test, saying what to install, when `program` is not on `PATH`.
pub fn require_tool(program: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    assert!(
        found,
        "`{program}` is not installed; this test needs it (Debian package {package})"
    );
}

static NETNS_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Network namespaces of one test, named `mpt-<pid>-<n>-<suffix>` (unique per process and
/// test), deleted when dropped, also when the test fails. Deleting a namespace destroys the
/// interfaces in it, and a veth pair goes with either of its ends.
pub struct Netns {
    names: Vec<String>,
}

impl Netns {
    /// Creates one namespace per suffix, with `lo` up. Fails the test with the kernel's
    /// answer when namespaces cannot be created (not root, no CAP_SYS_ADMIN, no netns
    /// support): the tests that need them must not pass without running.
    pub fn create(suffixes: &[&str]) -> Netns {
        require_tool("ip", "iproute2");
        let n = NETNS_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut ns = Netns { names: Vec::new() };
        for suffix in suffixes {
            let name = format!("mpt-{}-{n}-{suffix}", std::process::id());
            let out = Command::new("ip")
                .args(["netns", "add", &name])
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("cannot run `ip netns add {name}`: {e}"));
            assert!(
                out.status.success(),
                "cannot create network namespace {name}: `ip netns add` failed ({}): {}\n\
                 this test needs network namespaces: run it as root (or with CAP_SYS_ADMIN \
                 and CAP_NET_ADMIN) on a kernel with network namespace support",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
            ns.names.push(name.clone());
            run_cmd("ip", &["-n", &name, "link", "set", "lo", "up"]);
        }
        ns
    }

    /// The full name of the namespace created for `suffix`.
    pub fn name(&self, suffix: &str) -> &str {
        let end = format!("-{suffix}");
        self.names
            .iter()
            .find(|n| n.ends_with(&end))
            .unwrap_or_else(|| panic!("no namespace for {suffix:?} in {:?}", self.names))
    }

    /// Runs `program args…` inside namespace `ns` (`ip netns exec`) to its end; fails the
    /// test when it exits non-zero.
    pub fn exec(ns: &str, program: &str, args: &[&str]) -> std::process::Output {
        let mut all = vec!["netns", "exec", ns, program];
        all.extend_from_slice(args);
        run_cmd("ip", &all)
    }

    /// Like [`Netns::exec`] but returns the output whatever the exit status.
    pub fn exec_unchecked(ns: &str, program: &str, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run `ip netns exec {ns} {program}`: {e}"))
    }
}

/// Two hosts on one bridge, the topology of the `net_af_packet` tests: host A (namespace
/// `a`, 192.0.2.1/24 on `hosta`) and host B (namespace `b`, 192.0.2.2/24 on `hostb`) are each
/// linked by a veth pair to namespace `br` (its ends `bra` and `brb`), where metaprobe runs
/// with one port on each. Offloads are off on every end, so the frames are what the wire
/// would carry (no oversized GSO frames, no checksums left to the NIC).
pub fn bridged_hosts() -> Netns {
    require_tool("ethtool", "ethtool");
    let ns = Netns::create(&["a", "b", "br"]);
    let (a, b, br) = (ns.name("a"), ns.name("b"), ns.name("br"));
    // Interface names live in their namespaces; only the namespace names need be unique.
    Netns::veth(br, "bra", a, "hosta");
    Netns::veth(br, "brb", b, "hostb");
    run_cmd(
        "ip",
        &["-n", a, "addr", "add", "192.0.2.1/24", "dev", "hosta"],
    );
    run_cmd(
        "ip",
        &["-n", b, "addr", "add", "192.0.2.2/24", "dev", "hostb"],
    );
    for (n, dev) in [(a, "hosta"), (b, "hostb"), (br, "bra"), (br, "brb")] {
        Netns::wire_like_up(n, dev);
    }
    ns
}

impl Netns {
    /// A veth pair: `bridge_if` in namespace `br`, its peer `host_if` in `host`.
    pub fn veth(br: &str, bridge_if: &str, host: &str, host_if: &str) {
        run_cmd(
            "ip",
            &[
                "-n", br, "link", "add", bridge_if, "type", "veth", "peer", "name", host_if,
                "netns", host,
            ],
        );
    }

    /// Turns the offloads of `dev` in namespace `ns` off (the frames are what the wire
    /// would carry, and their checksums filled in) and brings it up.
    pub fn wire_like_up(ns: &str, dev: &str) {
        Netns::exec(
            ns,
            "ethtool",
            &[
                "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off",
            ],
        );
        run_cmd("ip", &["-n", ns, "link", "set", dev, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for name in self.names.iter().rev() {
            let ok = Command::new("ip")
                .args(["netns", "del", name])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("warning: could not delete network namespace {name}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Packet generators (deterministic)
// ---------------------------------------------------------------------------------------

/// SplitMix64: a tiny deterministic generator, so generated captures are the same on every
/// run and machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        let span = (hi - lo + 1) as u64;
        lo + (self.next_u64() % span) as usize
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let r = self.next_u64().to_le_bytes();
            for (d, s) in chunk.iter_mut().zip(r) {
                *d = s;
            }
        }
    }
}

pub const MAC_SUB: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
pub const MAC_NET: [u8; 6] = [0x02, 0x00, 0x5e, 0x20, 0x00, 0x02];

/// Ethernet header: destination, source, ethertype.
pub fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// RFC 1071 checksum of `data`.
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        if let [a, b] = c {
            sum += u32::from(u16::from_be_bytes([*a, *b]));
        }
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A 20-byte IPv4 header with a correct checksum.
pub fn ipv4_header(src: [u8; 4], dst: [u8; 4], proto: u8, total_len: u16, id: u16) -> Vec<u8> {
    let mut h = vec![0x45, 0x00];
    h.extend_from_slice(&total_len.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&[0x40, 0x00, 64, proto, 0, 0]); // DF, TTL 64, checksum 0 for now
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let ck = inet_checksum(&h).to_be_bytes();
    if let Some(slot) = h.get_mut(10..12) {
        slot.copy_from_slice(&ck);
    }
    h
}

/// A 40-byte IPv6 header.
pub fn ipv6_header(src: [u8; 16], dst: [u8; 16], next: u8, payload_len: u16) -> Vec<u8> {
    let mut h = vec![0x60, 0x00, 0x00, 0x00];
    h.extend_from_slice(&payload_len.to_be_bytes());
    h.push(next);
    h.push(64);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h
}

/// A 20-byte TCP header (checksum left 0: nothing on the path verifies it).
pub fn tcp_header(sport: u16, dport: u16, seq: u32, flags: u8) -> Vec<u8> {
    let mut h = Vec::with_capacity(20);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&seq.to_be_bytes());
    h.extend_from_slice(&0u32.to_be_bytes());
    h.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    h
}

/// An 8-byte UDP header.
pub fn udp_header(sport: u16, dport: u16, len: u16) -> Vec<u8> {
    let mut h = Vec::with_capacity(8);
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&len.to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h
}

fn v6(last: u16) -> [u8; 16] {
    let [a, b] = last.to_be_bytes();
    [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, a, b]
}

/// `n` well-formed frames of mixed kinds and sizes (60..=1514 bytes): IPv4 and IPv6 with TCP
/// and UDP, 802.1Q-tagged IPv4, ARP. Every frame carries `side` and its sequence number in
/// its payload (in the padding of ARP), so any loss, duplication, reordering or crossing of sides shows.
/// Addresses are from 198.18.0.0/15 and 2001:db8::/32 (benchmarking and documentation
/// ranges). Deterministic for a given `seed`.
pub fn gen_bulk(n: usize, side: u8, seed: u64) -> Vec<Packet> {
    let mut rng = Rng::new(seed);
    let (src_mac, dst_mac) = if side == 0 {
        (MAC_SUB, MAC_NET)
    } else {
        (MAC_NET, MAC_SUB)
    };
    let mut out = Vec::with_capacity(n);
    for seq in 0..n {
        // Size: mostly small, like real traffic, some full-size.
        let wanted = match rng.range(0, 9) {
            0..=4 => rng.range(60, 128),
            5..=7 => rng.range(129, 600),
            _ => rng.range(601, 1514),
        };
        let host = (rng.next_u64() & 0xffff) as u16;
        let [h0, h1] = host.to_be_bytes();
        let sport = 1024 + (rng.next_u64() % 60000) as u16;
        let kind = rng.range(0, 9);
        // (ethernet + tags, L3 + L4 header length) of each kind; 9 payload bytes at least.
        let (l2_len, l34_len) = match kind {
            0..=3 => (14, 40),
            4..=5 => (14, 28),
            6 => (14, 60),
            7 => (14, 48),
            8 => (18, 28),
            _ => (14, 28),
        };
        let size = wanted.max(l2_len + l34_len + 9);
        let l3_len = (size - l2_len) as u16;
        let mut f = match kind {
            // IPv4/TCP
            0..=3 => {
                let mut f = eth(dst_mac, src_mac, 0x0800);
                f.extend(ipv4_header(
                    [198, 18, h0, h1],
                    [198, 19, 0, 1],
                    6,
                    l3_len,
                    seq as u16,
                ));
                f.extend(tcp_header(sport, 443, seq as u32, 0x18));
                f
            }
            // IPv4/UDP
            4..=5 => {
                let mut f = eth(dst_mac, src_mac, 0x0800);
                f.extend(ipv4_header(
                    [198, 18, h0, h1],
                    [198, 19, 0, 2],
                    17,
                    l3_len,
                    seq as u16,
                ));
                f.extend(udp_header(sport, 53, l3_len - 20));
                f
            }
            // IPv6/TCP
            6 => {
                let mut f = eth(dst_mac, src_mac, 0x86dd);
                f.extend(ipv6_header(v6(host), v6(1), 6, l3_len - 40));
                f.extend(tcp_header(sport, 80, seq as u32, 0x10));
                f
            }
            // IPv6/UDP
            7 => {
                let mut f = eth(dst_mac, src_mac, 0x86dd);
                f.extend(ipv6_header(v6(host), v6(2), 17, l3_len - 40));
                f.extend(udp_header(sport, 443, l3_len - 40));
                f
            }
            // 802.1Q VLAN 100, IPv4/UDP
            8 => {
                let mut f = eth(dst_mac, src_mac, 0x8100);
                f.extend_from_slice(&[0x00, 0x64, 0x08, 0x00]);
                f.extend(ipv4_header(
                    [198, 18, h0, h1],
                    [198, 19, 0, 3],
                    17,
                    l3_len,
                    seq as u16,
                ));
                f.extend(udp_header(sport, 4500, l3_len - 20));
                f
            }
            // ARP request, padded to the 60-byte minimum
            _ => {
                let mut f = eth([0xff; 6], src_mac, 0x0806);
                f.extend_from_slice(&[0, 1, 0x08, 0, 6, 4, 0, 1]);
                f.extend_from_slice(&src_mac);
                f.extend_from_slice(&[198, 18, h0, h1]);
                f.extend_from_slice(&[0; 6]);
                f.extend_from_slice(&[198, 19, 0, 1]);
                // In the padding: side and sequence number, like the payload of the others.
                f.push(side);
                f.extend_from_slice(&(seq as u64).to_be_bytes());
                f.resize(60, 0);
                out.push(Packet::whole(f));
                continue;
            }
        };
        debug_assert_eq!(f.len(), l2_len + l34_len);
        // Payload: side, sequence number, then random bytes.
        f.push(side);
        f.extend_from_slice(&(seq as u64).to_be_bytes());
        let start = f.len();
        f.resize(size, 0);
        if let Some(rest) = f.get_mut(start..) {
            rng.fill(rest);
        }
        out.push(Packet::whole(f));
    }
    out
}

/// A frame of exactly `len` bytes: `head`, then a deterministic filler.
fn frame_of(head: &[u8], len: usize) -> Vec<u8> {
    let mut f = head.to_vec();
    let mut i: u8 = 0;
    while f.len() < len {
        f.push(i);
        i = i.wrapping_add(37);
    }
    f.truncate(len);
    f
}

/// IPv4 header of [`ipv4_header`] with some bytes overwritten afterwards (the checksum is
/// not recomputed: bogus headers are the point).
fn ipv4_patched(proto: u8, total_len: u16, patch: &[(usize, u8)]) -> Vec<u8> {
    let mut h = ipv4_header([198, 18, 0, 9], [198, 19, 0, 9], proto, total_len, 0x4242);
    for &(at, v) in patch {
        if let Some(b) = h.get_mut(at) {
            *b = v;
        }
    }
    h
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Well-formed IPv4/UDP frame of `size` bytes (lengths consistent), for jumbo frames.
fn ipv4_udp_frame(size: usize, dport: u16) -> Vec<u8> {
    let l3 = (size - 14) as u16;
    let head = cat(&[
        &eth(MAC_NET, MAC_SUB, 0x0800),
        &ipv4_header([198, 18, 1, 1], [198, 19, 1, 1], 17, l3, 7),
        &udp_header(40000, dport, l3 - 20),
    ]);
    frame_of(&head, size)
}

/// Frames a probe must forward unchanged although it cannot (fully) decode them: runts,
/// truncated headers, bogus length fields, odd tag stacks, non-IP ethertypes, garbage
/// application payloads on well-known ports, and jumbo frames (~9000 bytes). Every frame is
/// whole (caplen == len). Deterministic. The comment of each names what is wrong with it.
pub fn gen_malformed() -> Vec<Packet> {
    let e4 = eth(MAC_NET, MAC_SUB, 0x0800);
    let e6 = eth(MAC_NET, MAC_SUB, 0x86dd);
    let v4 = |proto, total| ipv4_header([198, 18, 0, 9], [198, 19, 0, 9], proto, total, 0x4242);
    let a6 = v6(9);
    let b6 = v6(10);
    let mut frames: Vec<Vec<u8>> = vec![
        // --- runts and truncated Ethernet headers ---
        Vec::new(),                              // 0 bytes (net_pcap carries it)
        vec![0x5a],                              // 1 byte
        MAC_NET.to_vec(),                        // destination MAC only
        frame_of(&MAC_NET, 13),                  // ethertype cut in half
        eth(MAC_NET, MAC_SUB, 0x0800),           // header only, IPv4, no IP header
        eth(MAC_NET, MAC_SUB, 0x86dd),           // header only, IPv6, no IP header
        frame_of(&cat(&[&e4, &v4(17, 60)]), 59), // 59 B: below the 60 B minimum
        // --- IPv4 headers ---
        frame_of(&e4, 14 + 10), // IPv4 header cut at 10 bytes
        frame_of(&cat(&[&e4, &ipv4_patched(6, 46, &[(0, 0x43)])]), 60), // IHL 3 (< 5)
        frame_of(&cat(&[&e4, &ipv4_patched(6, 46, &[(0, 0x4f)])]), 60), // IHL 15: 60 B header, 46 B there
        frame_of(&cat(&[&e4, &v4(17, 0xffff)]), 60), // total length 65535 > frame
        frame_of(&cat(&[&e4, &v4(17, 8)]), 60),      // total length 8 < header
        frame_of(&cat(&[&e4, &v4(17, 0)]), 60),      // total length 0
        frame_of(&cat(&[&e4, &ipv4_patched(17, 46, &[(0, 0x75)])]), 60), // version 7 under 0x0800
        frame_of(
            &cat(&[&e4, &ipv4_patched(17, 46, &[(10, 0xde), (11, 0xad)])]),
            60,
        ), // bad checksum
        cat(&[&e4, &v4(6, 40)]),                     // TCP announced, no TCP header
        frame_of(&cat(&[&e4, &v4(6, 40), &[0x13, 0x88]]), 14 + 20 + 6), // TCP header cut at 6 bytes
        // TCP data offset 15 (60 B header) in a 20-byte segment
        cat(&[&e4, &v4(6, 40), &{
            let mut t = tcp_header(40001, 80, 1, 0x18);
            if let Some(b) = t.get_mut(12) {
                *b = 0xf0;
            }
            t
        }]),
        // TCP data offset 2 (< 5)
        cat(&[&e4, &v4(6, 40), &{
            let mut t = tcp_header(40002, 80, 1, 0x02);
            if let Some(b) = t.get_mut(12) {
                *b = 0x20;
            }
            t
        }]),
        // TCP with every flag set, offset 5
        frame_of(
            &cat(&[&e4, &v4(6, 46), &tcp_header(40003, 443, 7, 0xff)]),
            60,
        ),
        frame_of(&cat(&[&e4, &v4(17, 46), &udp_header(40004, 53, 0)]), 60), // UDP length 0
        frame_of(&cat(&[&e4, &v4(17, 46), &udp_header(40005, 53, 3)]), 60), // UDP length 3 (< 8)
        frame_of(
            &cat(&[&e4, &v4(17, 46), &udp_header(40006, 53, 0xffff)]),
            60,
        ), // UDP length 65535
        // IPv4 fragment: MF set and the largest offset, UDP/53
        frame_of(
            &cat(&[&e4, &ipv4_patched(17, 46, &[(6, 0x3f), (7, 0xff)])]),
            60,
        ),
        // IPv4 with options (IHL 6, one NOP-padded option word) and UDP
        frame_of(
            &cat(&[
                &e4,
                &ipv4_patched(17, 50, &[(0, 0x46)]),
                &[1, 1, 1, 0],
                &udp_header(40007, 123, 30),
            ]),
            64,
        ),
        // --- IPv6 headers ---
        frame_of(&e6, 14 + 20), // IPv6 header cut at 20 bytes
        frame_of(&cat(&[&e6, &ipv6_header(a6, b6, 17, 0xffff)]), 70), // payload length 65535
        frame_of(&cat(&[&e6, &ipv6_header(a6, b6, 17, 0)]), 70), // payload length 0, data follows
        // hop-by-hop extension header claiming 255 * 8 + 8 bytes
        frame_of(
            &cat(&[
                &e6,
                &ipv6_header(a6, b6, 0, 16),
                &[17, 255, 0, 0, 0, 0, 0, 0],
            ]),
            70,
        ),
        // chain of extension headers: hop-by-hop, destination options, routing, fragment, none
        frame_of(
            &cat(&[
                &e6,
                &ipv6_header(a6, b6, 0, 40),
                &[60, 0, 0, 0, 0, 0, 0, 0],
                &[43, 0, 0, 0, 0, 0, 0, 0],
                &[44, 0, 0, 0, 0, 0, 0, 0],
                &[59, 0, 0, 1, 0, 0, 0, 1],
            ]),
            94,
        ),
        // fragment header with a non-first fragment of UDP
        frame_of(
            &cat(&[
                &e6,
                &ipv6_header(a6, b6, 44, 24),
                &[17, 0, 0x05, 0x01, 0, 0, 0, 9],
            ]),
            78,
        ),
        // --- VLAN, QinQ, MPLS, PPPoE ---
        frame_of(&eth(MAC_NET, MAC_SUB, 0x8100), 16), // 802.1Q tag cut after the TCI
        // ten stacked 802.1Q tags, then IPv4/UDP
        {
            let mut f = eth(MAC_NET, MAC_SUB, 0x8100);
            for i in 0..10u8 {
                let next: u16 = if i == 9 { 0x0800 } else { 0x8100 };
                f.extend_from_slice(&[0x00, i + 1]);
                f.extend_from_slice(&next.to_be_bytes());
            }
            f.extend(v4(17, 28));
            f.extend(udp_header(40008, 53, 8));
            f
        },
        // 802.1ad S-tag, 802.1Q C-tag, then nothing
        cat(&[
            &eth(MAC_NET, MAC_SUB, 0x88a8),
            &[0x00, 0xc8, 0x81, 0x00, 0x07, 0xd1, 0x08, 0x00],
        ]),
        // MPLS: 20 labels, none with bottom-of-stack, frame ends
        {
            let mut f = eth(MAC_NET, MAC_SUB, 0x8847);
            for i in 0..20u8 {
                f.extend_from_slice(&[0x00, i, 0x10, 0x40]);
            }
            f
        },
        // MPLS bottom-of-stack, then a nibble 0xf "IP" packet
        frame_of(
            &cat(&[
                &eth(MAC_NET, MAC_SUB, 0x8847),
                &[0x00, 0x01, 0xd1, 0x40, 0xf5, 0x00],
            ]),
            60,
        ),
        // PPPoE session, length 65535, PPP IPv4, IPv4 header cut
        frame_of(
            &cat(&[
                &eth(MAC_NET, MAC_SUB, 0x8864),
                &[0x11, 0x00, 0x00, 0x2d, 0xff, 0xff, 0x00, 0x21, 0x45],
            ]),
            40,
        ),
        // PPPoE discovery (PADI), length 0
        frame_of(
            &cat(&[
                &eth([0xff; 6], MAC_SUB, 0x8863),
                &[0x11, 0x09, 0x00, 0x00, 0x00, 0x00],
            ]),
            60,
        ),
        // --- non-IP ethertypes ---
        frame_of(&eth(MAC_NET, MAC_SUB, 0x0806), 24), // ARP cut at 10 bytes
        frame_of(&eth([0x01, 0x80, 0xc2, 0, 0, 0x0e], MAC_SUB, 0x88cc), 60), // LLDP
        // IEEE 802.3 length field + LLC (STP BPDU)
        frame_of(
            &cat(&[
                &eth([0x01, 0x80, 0xc2, 0, 0, 0], MAC_SUB, 0x0026),
                &[0x42, 0x42, 0x03],
            ]),
            60,
        ),
        frame_of(&eth(MAC_NET, MAC_SUB, 0x05dc), 60), // 802.3 length 1500 in a 60 B frame
        frame_of(&eth(MAC_NET, MAC_SUB, 0x0600), 60), // first ethertype value
        frame_of(&eth(MAC_NET, MAC_SUB, 0x8137), 60), // IPX
        frame_of(&eth(MAC_NET, MAC_SUB, 0x88b5), 60), // local experimental
        frame_of(&eth(MAC_NET, MAC_SUB, 0x0000), 60),
        frame_of(&eth(MAC_NET, MAC_SUB, 0xffff), 60),
        vec![0u8; 60],    // all zero
        vec![0xffu8; 60], // all ones (broadcast, ethertype 0xffff)
        // --- garbage application payloads on well-known ports ---
        // DNS: 65535 questions, the first name a compression pointer to itself
        {
            let dns: &[u8] = &[
                0x12, 0x34, 0x01, 0x00, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1,
            ];
            let ulen = (8 + dns.len()) as u16;
            cat(&[&e4, &v4(17, 20 + ulen), &udp_header(40009, 53, ulen), dns])
        },
        // HTTP request cut inside the headers, negative Content-Length
        {
            let http: &[u8] = b"GET /a HTTP/1.1\r\nContent-Length: -1\r\nHost: exa";
            let l3 = (20 + 20 + http.len()) as u16;
            cat(&[&e4, &v4(6, l3), &tcp_header(40010, 80, 1, 0x18), http])
        },
        // TLS handshake record claiming a 16 MiB ClientHello
        {
            let tls: &[u8] = &[
                0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0xff, 0xff, 0xff, 0x03, 0x03,
            ];
            let l3 = (20 + 20 + tls.len()) as u16;
            cat(&[&e4, &v4(6, l3), &tcp_header(40011, 443, 1, 0x18), tls])
        },
        // QUIC v1 long header with a 255-byte connection id (max is 20)
        {
            let quic: &[u8] = &[0xc3, 0x00, 0x00, 0x00, 0x01, 0xff, 0xaa, 0xbb];
            let ulen = (8 + quic.len()) as u16;
            frame_of(
                &cat(&[&e4, &v4(17, 20 + ulen), &udp_header(40012, 443, ulen), quic]),
                60,
            )
        },
        // --- sizes around the standard maximum ---
        ipv4_udp_frame(1514, 9),
        ipv4_udp_frame(1515, 9),
        ipv4_udp_frame(1518, 9),
        // --- jumbo frames ---
        ipv4_udp_frame(9000, 9),
        ipv4_udp_frame(9014, 9),
        {
            let pl = 9000 - 14 - 40;
            let head = cat(&[
                &e6,
                &ipv6_header(a6, b6, 17, pl as u16),
                &udp_header(40013, 9, pl as u16),
            ]);
            frame_of(&head, 9000)
        },
    ];
    // A jumbo frame whose IPv4 total length says 1500.
    frames.push({
        let head = cat(&[&e4, &v4(17, 1500), &udp_header(40014, 9, 1480)]);
        frame_of(&head, 9000)
    });
    frames.into_iter().map(Packet::whole).collect()
}

// ---------------------------------------------------------------------------------------
// Captures of any link type, re-encapsulated in Ethernet
// ---------------------------------------------------------------------------------------

/// Source MAC of re-encapsulated frames sent by the capture's first IP source ("side A");
/// the destination MAC of the others.
pub const MAC_REENCAP_A: [u8; 6] = [0x02, 0x00, 0x5e, 0x0a, 0x00, 0x0a];
/// Source MAC of re-encapsulated frames of the other side.
pub const MAC_REENCAP_B: [u8; 6] = [0x02, 0x00, 0x5e, 0x0b, 0x00, 0x0b];

/// The IP packet a non-Ethernet frame carries: raw IP (DLT_RAW 101/12, IPV4 228, IPV6 229),
/// BSD loopback (NULL 0, LOOP 108: a 4-octet address family first), Linux cooked
/// (SLL 113: 16-octet header, SLL2 276: 20-octet header). `None` for other link types and
/// for cooked frames that do not carry IPv4 or IPv6.
pub fn ip_of_link(link: DataLink, data: &[u8]) -> Option<&[u8]> {
    let be16 = |at: usize| {
        data.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    match link {
        DataLink::RAW | DataLink::Unknown(12) | DataLink::IPV4 | DataLink::IPV6 => Some(data),
        DataLink::NULL | DataLink::LOOP => data.get(4..),
        DataLink::LINUX_SLL => match be16(14)? {
            0x0800 | 0x86dd => data.get(16..),
            _ => None,
        },
        DataLink::LINUX_SLL2 => match be16(0)? {
            0x0800 | 0x86dd => data.get(20..),
            _ => None,
        },
        _ => None,
    }
}

/// The packets of `capture` as Ethernet frames, in file order, one per packet: Ethernet
/// frames as they are; the IP packet of any other link type ([`ip_of_link`]) behind an
/// Ethernet header with fixed MACs — [`MAC_REENCAP_A`] as source for packets from the
/// capture's first IP source address, [`MAC_REENCAP_B`] for the others (destination the
/// other one) — and ethertype 0x0800/0x86dd from the IP version. Returns the frames and
/// the original link type when it was not Ethernet. Fails on a packet it cannot convert.
pub fn ethernet_frames_of(capture: &[Frame]) -> (Vec<Packet>, Option<DataLink>) {
    let mut side_a: Option<Vec<u8>> = None;
    let mut other = None;
    let mut out = Vec::with_capacity(capture.len());
    for (i, p) in capture.iter().enumerate() {
        if p.link == DataLink::ETHERNET {
            out.push(Packet {
                data: p.data.clone(),
                orig_len: p.orig_len,
            });
            continue;
        }
        other = Some(p.link);
        let ip = ip_of_link(p.link, &p.data)
            .unwrap_or_else(|| panic!("packet {i}: link type {:?} not convertible", p.link));
        let (ethertype, src) = match ip.first().map(|b| b >> 4) {
            Some(4) => (0x0800, ip.get(12..16)),
            Some(6) => (0x86dd, ip.get(8..24)),
            _ => panic!("packet {i}: not IPv4 or IPv6 behind {:?}", p.link),
        };
        let src = src
            .unwrap_or_else(|| panic!("packet {i}: IP header cut"))
            .to_vec();
        let from_a = side_a.get_or_insert_with(|| src.clone()) == &src;
        let (s, d) = if from_a {
            (MAC_REENCAP_A, MAC_REENCAP_B)
        } else {
            (MAC_REENCAP_B, MAC_REENCAP_A)
        };
        let mut f = eth(d, s, ethertype);
        f.extend_from_slice(ip);
        let header = (p.data.len() - ip.len()) as u32;
        let orig_len = p.orig_len.saturating_sub(header) + 14;
        out.push(Packet { data: f, orig_len });
    }
    (out, other)
}

// ---------------------------------------------------------------------------------------
// Collecting IPFIX over UDP in the test process
// ---------------------------------------------------------------------------------------

use std::collections::HashMap;
use std::net::SocketAddr;

use metaprobe_ipfix::collect::{DecodedRecord, TemplateCache, decode_message};

/// Decodes the datagrams of one stream: data records in arrival order, and every protocol
/// problem (undecodable message, unknown template, a gap in the sequence numbers).
pub fn decode_all(dgrams: &[Datagram]) -> (Vec<DecodedRecord>, Vec<String>) {
    let mut sessions: HashMap<SocketAddr, (TemplateCache, HashMap<u32, u32>)> = HashMap::new();
    let mut records = Vec::new();
    let mut problems = Vec::new();
    for Datagram { from, data, .. } in dgrams {
        let (cache, next) = sessions.entry(*from).or_default();
        match decode_message(cache, data) {
            Ok(d) => {
                if let Some(want) = next.get(&d.odid)
                    && *want != d.seq
                {
                    problems.push(format!(
                        "{from}: sequence {} where {want} was expected",
                        d.seq
                    ));
                }
                // The sequence number counts every data record, options records too.
                next.insert(d.odid, d.seq.wrapping_add(d.records.len() as u32));
                let data: Vec<DecodedRecord> =
                    d.records.into_iter().filter(|r| !r.options).collect();
                if d.unknown_sets > 0 {
                    problems.push(format!(
                        "{from}: {} sets of unknown templates",
                        d.unknown_sets
                    ));
                }
                records.extend(data);
            }
            Err(e) => problems.push(format!("{from}: bad message: {e}")),
        }
    }
    (records, problems)
}
