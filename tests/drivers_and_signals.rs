//! End to end: the driver plugins Debian's shared DPDK loads by itself (`net_null`,
//! `net_ring`, `net_af_packet`, `net_pcap`, with no `-d` flag), a clean stop on SIGTERM
//! (counters consistent, `net_pcap` output complete up to what was sent), two bridges on two
//! workers kept apart, and refusals: a port in two bridges, an argument EAL rejects.
//!
//! Every run is one process of the binary, serialised with the other EAL runs (see
//! `common`). Runs that stop by signal are started with [`common::Running`], which collects
//! the output while the process runs.

mod common;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    FinalSummary, Netns, Packet, PortCounts, RunOutput, Running, SummaryLine, TestDir, WorkerStart,
    bridged_hosts, compare_packets, dpdk_lock, eal_args, eal_base, gen_bulk, pcap_vdev,
    read_capture, require_tool, run_args, run_args_idle, run_cmd, run_metaprobe, write_config,
    write_config_bridges, write_pcap, write_pcap_iter,
};

/// The line the binary prints when its (first) worker is launched: the bridge is up.
const WORKER_STARTED: &str = "worker 0 on lcore";
/// How long EAL start-up and port set-up may take before the worker line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a run may take to stop once it got SIGTERM (workers finish a burst, ports are
/// stopped and closed, the summary printed; the main lcore looks for the signal every 50 ms).
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// check-config and runs refused before EAL start must answer quickly.
const QUICK: Duration = Duration::from_secs(60);

/// A finished run that was stopped by SIGTERM.
struct SignalledRun {
    out: RunOutput,
    /// From sending SIGTERM to the end of the process.
    stop_took: Duration,
}

/// Starts `PREFIX… metaprobe ARGS…` (holding the EAL lock), waits for the worker line, lets
/// it run for `run_for`, sends SIGTERM and waits for the end. Returns the run for the caller's
/// assertions; `during` is called while the bridge runs, before `run_for` is waited (e.g. to
/// send traffic through it).
fn run_until_sigterm(
    prefix: &[OsString],
    args: &[OsString],
    run_for: Duration,
    during: impl FnOnce(&Running),
) -> SignalledRun {
    let _guard = dpdk_lock();
    let mut running = Running::spawn_with_prefix(prefix, args);
    running.wait_for_stdout(WORKER_STARTED, STARTUP_TIMEOUT);
    during(&running);
    thread::sleep(run_for);
    let signalled = Instant::now();
    running.signal(libc::SIGTERM);
    let out = running.wait(common::RUN_TIMEOUT);
    let stop_took = signalled.elapsed();
    SignalledRun { out, stop_took }
}

/// The checks of every run stopped by SIGTERM: exit status 0, the stop reason on stdout, a
/// prompt stop, and a final summary that parses.
fn assert_clean_signal_stop(run: &SignalledRun) -> FinalSummary {
    run.out.assert_success();
    run.out.assert_stdout_line("stopping: signal received");
    assert!(
        run.stop_took < STOP_TIMEOUT,
        "metaprobe took {:.1} s to stop after SIGTERM\n{}",
        run.stop_took.as_secs_f64(),
        run.out.describe_short()
    );
    assert!(
        !run.out.stderr.contains("panicked"),
        "{}",
        run.out.describe_short()
    );
    FinalSummary::parse(&run.out.stdout)
        .unwrap_or_else(|e| panic!("final summary: {e}\n{}", run.out.describe_short()))
}

/// Unwraps a summary check, failing with the run's output.
fn check<T>(what: Result<T, String>, out: &RunOutput) -> T {
    what.unwrap_or_else(|e| panic!("{e}\n{}", out.describe_short()))
}

/// The start-up line of port `id` says the device and the driver plugin EAL loaded for it:
/// `port 0 (net_null0, driver net_null): …`.
fn assert_port_driver(out: &RunOutput, id: u32, driver: &str) {
    let head = format!("port {id} ({driver}{id}, driver {driver}):");
    assert!(
        out.stdout.lines().any(|l| l.starts_with(&head)),
        "stdout should have a start-up line beginning {head:?}\n{}",
        out.describe_short()
    );
}

/// The same bridge's two ports: what one received is what the other sent, exactly, both
/// ways, and the workers' totals agree with the ports'.
fn assert_crossed_exactly(s: &FinalSummary, out: &RunOutput) {
    let p0 = check(s.port(0), out);
    let p1 = check(s.port(1), out);
    let (rx0, tx0) = (check(p0.u64("rx"), out), check(p0.u64("tx"), out));
    let (rx1, tx1) = (check(p1.u64("rx"), out), check(p1.u64("tx"), out));
    assert_eq!(
        tx1,
        rx0,
        "port 1 should have sent exactly what port 0 received\n{}",
        out.describe_short()
    );
    assert_eq!(
        tx0,
        rx1,
        "port 0 should have sent exactly what port 1 received\n{}",
        out.describe_short()
    );
    let workers = |key: &str| -> u64 {
        s.workers
            .values()
            .map(|w: &SummaryLine| check(w.u64(key), out))
            .sum()
    };
    assert_eq!(workers("rx"), rx0 + rx1, "{}", out.describe_short());
    assert_eq!(workers("tx"), tx0 + tx1, "{}", out.describe_short());
}

// ---------------------------------------------------------------------------------------
// 1. Driver plugins load with no extra flag
// ---------------------------------------------------------------------------------------

/// `net_null` ports receive for ever (an endless stream of empty mbufs), so the run is
/// stopped with SIGTERM after ~2 s. It must exit 0 saying why it stopped, with traffic
/// counted both ways and each port's tx equal to the other's rx.
///
/// The equality is exact, not approximate, also with a burst in flight when the signal
/// comes: a worker checks its stop flag only between two iterations, and within an
/// iteration every received burst is handed to the peer port's TX before the next receive;
/// `net_null` accepts every packet it is given (it frees them and counts them), so nothing
/// is retried or dropped; and the final counters are read after every worker has returned.
#[test]
fn net_null_bridge_runs_until_sigterm_with_exact_counters() {
    let dir = TestDir::new("net-null");
    let config = write_config(&dir, 0, 1, "");
    let mut eal = eal_base(&dir, &["-l", "0-1"]);
    eal.push("--vdev=net_null0".into());
    eal.push("--vdev=net_null1".into());
    assert!(
        !eal.iter().any(|a| a.to_string_lossy().starts_with("-d")),
        "the point is that no -d flag is given"
    );
    let args = run_args_idle(&config, None, eal);
    let run = run_until_sigterm(&[], &args, Duration::from_secs(2), |_| {});
    let s = assert_clean_signal_stop(&run);
    let out = &run.out;
    assert_port_driver(out, 0, "net_null");
    assert_port_driver(out, 1, "net_null");
    assert_eq!(
        s.ports.keys().copied().collect::<Vec<_>>(),
        [0, 1],
        "{}",
        out.describe_short()
    );
    for id in [0, 1] {
        let p = check(s.port(id), out);
        assert_eq!(p.label, format!("net_null{id}"), "{}", p.line);
        for key in ["rx", "tx"] {
            assert!(
                check(p.u64(key), out) > 0,
                "port {id} {key} should be > 0 after 2 s of net_null traffic\n{}",
                out.describe_short()
            );
        }
    }
    check(s.check_no_loss(), out);
    assert_crossed_exactly(&s, out);
    eprintln!(
        "net_null: {} packets each way in ~2 s; stopped {:.2} s after SIGTERM",
        check(check(s.port(0), out).u64("rx"), out),
        run.stop_took.as_secs_f64()
    );
}

/// `net_ring` ports with nothing enqueued receive nothing: `--idle-exit 1` ends the run
/// after one idle second, status 0, every counter 0.
#[test]
fn net_ring_bridge_idles_out_with_zero_counters() {
    let dir = TestDir::new("net-ring");
    let config = write_config(&dir, 0, 1, "");
    let mut eal = eal_base(&dir, &["-l", "0-1"]);
    eal.push("--vdev=net_ring0".into());
    eal.push("--vdev=net_ring1".into());
    let args = run_args_idle(&config, Some(1), eal);
    let out = {
        let _guard = dpdk_lock();
        run_metaprobe(&args, common::RUN_TIMEOUT)
    };
    out.assert_success();
    out.assert_stdout_line("stopping: no packet received for 1s (--idle-exit)");
    assert_port_driver(&out, 0, "net_ring");
    assert_port_driver(&out, 1, "net_ring");
    let s = check(FinalSummary::parse(&out.stdout), &out);
    check(
        s.check_ports(&[
            PortCounts::new(0, "net_ring0", 0, 0),
            PortCounts::new(1, "net_ring1", 0, 0),
        ]),
        &out,
    );
    assert!(
        out.elapsed < Duration::from_secs(30),
        "a 1 s idle exit took {:.1} s\n{}",
        out.elapsed.as_secs_f64(),
        out.describe_short()
    );
}

/// `net_af_packet` on kernel interfaces ([`common::bridged_hosts`]): metaprobe runs with one
/// `net_af_packet` port on each of the two bridge-side ends. There is no other path between
/// A and B: a ping fails before the bridge starts, and 5 of 5 pings are answered while it
/// runs.
#[test]
fn af_packet_bridge_carries_ping_between_two_namespaces() {
    require_tool("ping", "iputils-ping");
    let ns = bridged_hosts();
    let (a, br) = (ns.name("a"), ns.name("br"));

    // No path from A to B without the bridge.
    let before = Netns::exec_unchecked(a, "ping", &["-c", "1", "-W", "1", "192.0.2.2"]);
    assert!(
        !before.status.success(),
        "192.0.2.2 answers before the bridge runs: the test topology has another path\n{}",
        String::from_utf8_lossy(&before.stdout)
    );
    // That ping left 192.0.2.2 unresolved in A's neighbour table, still probing for ~3 s:
    // when those probes run out, the kernel fails every packet queued on the entry
    // ("Destination Host Unreachable"), including the first echoes of the ping below.
    // Start the real ping from a clean table.
    run_cmd("ip", &["-n", a, "neigh", "flush", "dev", "hosta"]);

    let dir = TestDir::new("af-packet");
    let config = write_config(&dir, 0, 1, "");
    let mut eal = eal_base(&dir, &["-l", "0-1"]);
    eal.push("--vdev=net_af_packet0,iface=bra".into());
    eal.push("--vdev=net_af_packet1,iface=brb".into());
    let args = run_args_idle(&config, None, eal);
    let prefix: Vec<OsString> = ["ip", "netns", "exec", br].map(OsString::from).to_vec();

    let mut ping = None;
    let run = run_until_sigterm(&prefix, &args, Duration::from_millis(300), |running| {
        // `ip netns exec` execs the command: the pid SIGTERM goes to is metaprobe's.
        let comm =
            std::fs::read_to_string(format!("/proc/{}/comm", running.pid())).unwrap_or_default();
        assert_eq!(
            comm.trim(),
            "metaprobe",
            "the process started through `ip netns exec` should be metaprobe itself\n{}",
            running.describe_so_far()
        );
        ping = Some(Netns::exec_unchecked(
            a,
            "ping",
            &["-c", "5", "-i", "0.2", "-W", "2", "192.0.2.2"],
        ));
    });
    let ping = ping.expect("ping ran while the bridge was up");
    let ping_out = String::from_utf8_lossy(&ping.stdout);
    assert!(
        ping.status.success() && ping_out.contains("5 packets transmitted, 5 received"),
        "ping from namespace a to 192.0.2.2 through the bridge should get 5/5 replies\n\
         --- ping ({}) ---\n{ping_out}{}\n{}",
        ping.status,
        String::from_utf8_lossy(&ping.stderr),
        run.out.describe_short()
    );

    let s = assert_clean_signal_stop(&run);
    let out = &run.out;
    assert_port_driver(out, 0, "net_af_packet");
    assert_port_driver(out, 1, "net_af_packet");
    for id in [0, 1] {
        let p = check(s.port(id), out);
        assert_eq!(p.label, format!("net_af_packet{id}"), "{}", p.line);
        for key in ["rx", "tx"] {
            // 5 echo requests one way, 5 replies the other (plus ARP and IPv6 chatter).
            assert!(
                check(p.u64(key), out) >= 5,
                "port {id} {key} should count at least the 5 pings\n{}",
                out.describe_short()
            );
        }
    }
    check(s.check_no_loss(), out);
    // Exact here too: `net_af_packet` takes every frame it is given into its TX ring and
    // counts it as tx (a failed send would count in tx-errors, checked 0 above).
    assert_crossed_exactly(&s, out);
}

// ---------------------------------------------------------------------------------------
// 2. SIGTERM mid-run: net_pcap output complete up to what was sent
// ---------------------------------------------------------------------------------------

/// Distinct packets of each side's input in the mid-run test; the input is this block
/// written [`MID_RUN_REPEAT`] times over (generating a million distinct packets would take
/// most of the test's time). A prime, so no block boundary falls on a 32-packet burst
/// boundary.
const MID_RUN_BLOCK: usize = 100_003;
/// Times the block is repeated: ~1 M packets per side, far more than the bridge forwards
/// before the signal arrives (~80 000 per side here, in ~0.25 s: the signal comes
/// [`MID_RUN_SIGNAL_AFTER`] after the worker started, and the main lcore looks for it every
/// 50 ms).
const MID_RUN_REPEAT: usize = 10;
/// How long after the worker started SIGTERM is sent.
const MID_RUN_SIGNAL_AFTER: Duration = Duration::from_millis(200);

/// A bridge of two `net_pcap` ports replaying large captures is stopped by SIGTERM while
/// both captures are still being read. It must exit 0, and each port's `tx_pcap` file must
/// be a valid capture holding exactly as many packets as the port counted as tx: the first
/// packets of the other side's input, byte-identical and in order (closing the ports
/// flushed what `net_pcap` had buffered).
#[test]
fn sigterm_mid_run_leaves_complete_net_pcap_output() {
    let dir = TestDir::new("sigterm-pcap");
    let block0 = gen_bulk(MID_RUN_BLOCK, 0, 0x5eed_0101);
    let block1 = gen_bulk(MID_RUN_BLOCK, 1, 0x5eed_0102);
    let total = MID_RUN_BLOCK * MID_RUN_REPEAT;
    let (in0, in1) = (dir.join("in0.pcap"), dir.join("in1.pcap"));
    let (out0, out1) = (dir.join("out0.pcap"), dir.join("out1.pcap"));
    write_pcap_iter(&in0, block0.iter().cycle().take(total));
    write_pcap_iter(&in1, block1.iter().cycle().take(total));
    let config = write_config(&dir, 0, 1, "");
    // --idle-exit stays on as a safety net: had the signal no effect, the run would still
    // end (and fail the stop-reason check) instead of hanging.
    let args = run_args(&config, eal_args(&dir, &in0, &out0, &in1, &out1));
    let run = run_until_sigterm(&[], &args, MID_RUN_SIGNAL_AFTER, |_| {});
    let s = assert_clean_signal_stop(&run);
    let out = &run.out;
    check(s.check_no_loss(), out);
    assert_crossed_exactly(&s, out);

    for (port, input, output, block) in
        [(1u32, "in0", &out1, &block0), (0u32, "in1", &out0, &block1)]
    {
        let tx = check(check(s.port(port), out).u64("tx"), out);
        let tx = usize::try_from(tx).expect("count fits usize");
        assert!(
            tx > 0,
            "port {port} sent nothing before the signal: the test did not test a mid-run stop\n{}",
            out.describe_short()
        );
        assert!(
            tx < total,
            "port {port} sent all {total} packets of {input} before the signal: the stop was \
             not mid-run (the bridge is faster than this test assumes: raise MID_RUN_REPEAT)\n{}",
            out.describe_short()
        );
        let sent: Vec<Packet> = block.iter().cycle().take(tx).cloned().collect();
        let got = read_capture(output);
        if let Err(e) = compare_packets(&sent, &got) {
            panic!(
                "port {port}'s tx_pcap should hold exactly its {tx} tx packets, the first \
                 {tx} of {input} in order: {e}\n{}",
                out.describe_short()
            );
        }
    }
    eprintln!(
        "sigterm mid-run: port 0 rx {} of {total}, port 1 rx {} of {total}; \
         stopped {:.2} s after SIGTERM",
        check(check(s.port(0), out).u64("rx"), out),
        check(check(s.port(1), out).u64("rx"), out),
        run.stop_took.as_secs_f64()
    );
}

// ---------------------------------------------------------------------------------------
// 3. Two bridges, two workers
// ---------------------------------------------------------------------------------------

/// Two bridges of `net_pcap` ports ([0, 1] and [2, 3]) and three lcores on the machine's two
/// CPUs (`--lcores=0@0,1@1,2@1`: the main lcore, and two workers sharing CPU 1). Each worker
/// gets one bridge; each bridge's captures cross byte-identical both ways, and nothing
/// crosses from one bridge to the other (every output is exactly its peer's input, and
/// every input is distinguishable: its own side byte and seed).
#[test]
fn two_bridges_on_two_workers_forward_separately() {
    let dir = TestDir::new("two-bridges");
    let counts = [3000usize, 2000, 2500, 1500];
    let mut sent: Vec<Vec<Packet>> = Vec::new();
    let mut inputs: Vec<PathBuf> = Vec::new();
    let mut outputs: Vec<PathBuf> = Vec::new();
    let mut eal = eal_base(&dir, &["--lcores=0@0,1@1,2@1"]);
    for (side, &n) in counts.iter().enumerate() {
        let packets = gen_bulk(n, side as u8, 0x5eed_0200 + side as u64);
        let input = dir.join(&format!("in{side}.pcap"));
        let output = dir.join(&format!("out{side}.pcap"));
        write_pcap(&input, &packets);
        eal.push(pcap_vdev(side as u32, &input, &output));
        sent.push(packets);
        inputs.push(input);
        outputs.push(output);
    }
    let config = write_config_bridges(&dir, &[(0, 1), (2, 3)], "");
    let args = run_args(&config, eal);
    let out = {
        let _guard = dpdk_lock();
        run_metaprobe(&args, common::RUN_TIMEOUT)
    };
    out.assert_success();

    // Start-up: two workers, one bridge each, on lcores 1 and 2.
    let starts = check(WorkerStart::parse_all(&out.stdout), &out);
    assert_eq!(
        starts.len(),
        2,
        "two 'worker N on lcore' lines expected\n{}",
        out.describe_short()
    );
    let mut bridges = BTreeSet::new();
    let mut lcores = BTreeSet::new();
    let mut bridge_of_worker = Vec::new();
    for (i, w) in starts.iter().enumerate() {
        assert_eq!(w.worker, i as u32, "{}", w.line);
        assert_eq!(
            w.sets.len(),
            1,
            "each worker should poll exactly one bridge: {}",
            w.line
        );
        let (bridge, queue) = w.sets.first().copied().expect("one set");
        assert_eq!(queue, 0, "net_pcap has one queue: {}", w.line);
        bridges.insert(bridge);
        lcores.insert(w.lcore);
        bridge_of_worker.push((w.worker, w.lcore, bridge));
    }
    assert_eq!(
        bridges,
        BTreeSet::from([0, 1]),
        "the two workers should have one bridge each\n{}",
        out.describe_short()
    );
    assert_eq!(
        lcores,
        BTreeSet::from([1, 2]),
        "workers on lcores 1 and 2\n{}",
        out.describe_short()
    );

    // Each bridge's captures crossed, byte-identical, and nothing else.
    for (from, to) in [(0usize, 1usize), (1, 0), (2, 3), (3, 2)] {
        let got = read_capture(outputs.get(to).expect("output"));
        let want = sent.get(from).expect("input");
        if let Err(e) = compare_packets(want, &got) {
            panic!(
                "port {from} -> port {to} (out{to} vs in{from}): {e}\n{}",
                out.describe_short()
            );
        }
    }

    // Counters: every port exactly, and each worker exactly its bridge's packets.
    let s = check(FinalSummary::parse(&out.stdout), &out);
    let n = |i: usize| counts.get(i).copied().expect("count") as u64;
    check(
        s.check_ports(&[
            PortCounts::new(0, "net_pcap0", n(0), n(1)),
            PortCounts::new(1, "net_pcap1", n(1), n(0)),
            PortCounts::new(2, "net_pcap2", n(2), n(3)),
            PortCounts::new(3, "net_pcap3", n(3), n(2)),
        ]),
        &out,
    );
    for (worker, lcore, bridge) in bridge_of_worker {
        let line = check(s.worker(worker), &out);
        assert_eq!(line.label, format!("lcore {lcore}"), "{}", line.line);
        let total = if bridge == 0 {
            n(0) + n(1)
        } else {
            n(2) + n(3)
        };
        check(line.expect("rx", total), &out);
        check(line.expect("tx", total), &out);
    }
}

// ---------------------------------------------------------------------------------------
// 4. Refusals
// ---------------------------------------------------------------------------------------

/// A port in two bridges (`[[0, 1], [1, 2]]`) is refused by `check-config` naming the second
/// bridge, `bridges[1]`; `run` refuses the same file the same way, with three real ports
/// there, before any bridge starts.
#[test]
fn port_in_two_bridges_is_refused_naming_the_second() {
    let dir = TestDir::new("port-twice");
    let config = write_config_bridges(&dir, &[(0, 1), (1, 2)], "");
    let check_args: Vec<OsString> = vec!["check-config".into(), "-c".into(), config.clone().into()];
    let checked = run_metaprobe(&check_args, QUICK);
    assert_refused_with(&checked, "metaprobe: ", "bridges[1]");
    assert!(
        checked.stdout.trim().is_empty(),
        "check-config must not print a configuration for a bad file\n{}",
        checked.describe()
    );

    let mut eal = eal_base(&dir, &["-l", "0-1"]);
    for n in 0..3 {
        eal.push(format!("--vdev=net_ring{n}").into());
    }
    let ran = {
        let _guard = dpdk_lock();
        run_metaprobe(&run_args(&config, eal), QUICK)
    };
    assert_refused_with(&ran, "metaprobe: ", "bridges[1]");
    assert!(
        !ran.stdout.contains("final port") && !ran.stdout.contains(WORKER_STARTED),
        "run must refuse the file before starting a bridge\n{}",
        ran.describe()
    );
}

/// An argument EAL rejects (a device whose driver does not exist) makes `run` exit non-zero
/// with an error that starts `metaprobe: EAL:` on stderr, and no bridge starts.
#[test]
fn eal_rejecting_an_argument_is_a_clean_error() {
    let dir = TestDir::new("bad-eal-arg");
    let config = write_config(&dir, 0, 1, "");
    let mut eal = eal_base(&dir, &["-l", "0-1"]);
    eal.push("--vdev=net_ring0".into());
    eal.push("--vdev=net_ring1".into());
    eal.push("--vdev=net_doesnotexist0".into());
    let out = {
        let _guard = dpdk_lock();
        run_metaprobe(&run_args(&config, eal), QUICK)
    };
    assert_refused_with(&out, "metaprobe: EAL:", "net_doesnotexist0");
    assert!(
        !out.stdout.contains("final port") && !out.stdout.contains(WORKER_STARTED),
        "no bridge may start when EAL refused its arguments\n{}",
        out.describe()
    );
}

/// Exited cleanly with a non-zero status, with a stderr line that starts with `start` and
/// contains `needle`, and no panic.
fn assert_refused_with(out: &RunOutput, start: &str, needle: &str) {
    out.assert_clean_failure();
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with(start) && l.contains(needle)),
        "stderr should have a line starting {start:?} that names {needle:?}\n{}",
        out.describe()
    );
    assert!(
        !out.stderr.contains("panicked"),
        "an error must be a message, not a panic\n{}",
        out.describe()
    );
}

// ---------------------------------------------------------------------------------------
// The harness itself
// ---------------------------------------------------------------------------------------

/// The start-up line parser reads the documented shape (one or several sets) and refuses a
/// line it cannot read, so the two-worker checks cannot pass vacuously.
#[test]
fn worker_start_parser_reads_the_documented_lines() {
    let stdout = "port 0 (net_pcap0, driver net_pcap): mac 00:00:00:00:00:00, link up\n\
        bridge 0: port 0 (subscriber side) <-> port 1 (internet side)\n\
        worker 0 on lcore 1: bridge 0 queue 0\n\
        worker 1 on lcore 2: bridge 1 queue 0, bridge 0 queue 1\n\
        stopping: signal received\n\
        final worker 0 (lcore 1): rx 1 tx 1 tx-dropped 0 cycles/pkt 1.0\n";
    let starts = WorkerStart::parse_all(stdout).expect("documented shape");
    assert_eq!(starts.len(), 2);
    let w1 = starts.get(1).expect("worker 1");
    assert_eq!((w1.worker, w1.lcore), (1, 2));
    assert_eq!(w1.sets, [(1, 0), (0, 1)]);
    assert!(WorkerStart::parse_all("worker 0 on lcore x: bridge 0 queue 0\n").is_err());
    assert!(WorkerStart::parse_all("worker 0 on lcore 1: bridge 0\n").is_err());
    assert!(WorkerStart::parse_all("worker 0 at lcore 1: bridge 0 queue 0\n").is_err());
    assert_eq!(WorkerStart::parse_all("nothing\n"), Ok(Vec::new()));
}

/// The prefix check of the mid-run test catches an output that is not the first `tx`
/// packets of the input.
#[test]
fn prefix_comparison_catches_a_gap_and_a_short_file() {
    let sent = gen_bulk(50, 0, 7);
    let prefix = |n: usize| sent.get(..n).unwrap_or_default().to_vec();
    assert!(compare_packets(&prefix(20), &prefix(20)).is_ok());
    // A packet skipped in the middle.
    let mut gap = prefix(21);
    gap.remove(10);
    assert!(compare_packets(&prefix(20), &gap).is_err());
    // Fewer packets in the file than counted as tx (a lost flush).
    assert!(compare_packets(&prefix(20), &prefix(19)).is_err());
}
