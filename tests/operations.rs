//! End to end, what an operator runs the probe with: the metrics endpoint scraped during
//! a real run (`metrics_listen`), SIGHUP during a run (logs reopened, the run goes
//! on), the workers' tables on transparent huge pages. Each run is the real binary on
//! two `net_pcap` ports (`--no-huge --no-pci`), with a corpus DNS capture on port 0, the
//! dns stream exported over UDP to a socket of the test and the DNS text log on.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    FinalSummary, Packet, Running, TestDir, decode_all, dpdk_lock, eal_args, ethernet_frames_of,
    run_args_idle, toml_string, write_pcap,
};
use metaprobe_test_support::capture::read_frames;
use metaprobe_test_support::udp::UdpCollector;

/// How long EAL start-up and port set-up may take before the worker line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// The capture of these runs.
const CAPTURE: &str = "dns_udp_a_aaaa_cname_mx_txt_ptr_srv.pcap";

fn capture() -> Vec<Packet> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("dataplane/tests/fixtures")
        .join(CAPTURE);
    let frames = ethernet_frames_of(&read_frames(&path)).0;
    assert!(!frames.is_empty(), "{CAPTURE}: no packets");
    frames
}

/// A started run: the binary replays `frames` on port 0 and then idles (no
/// `--idle-exit`: it runs until the test signals it).
struct Probe {
    running: Running,
    /// The run's files (removed when the test passes).
    dir: TestDir,
    dns: Option<UdpCollector>,
}

impl Probe {
    /// Starts the run: `stats_interval` seconds between stats lines (0: none), `extra`
    /// configuration lines; the dns stream goes to a collector of the test.
    fn start(tag: &str, frames: &[Packet], stats_interval: u32, extra: &str) -> Probe {
        let dns = UdpCollector::start();
        let addr = dns.addr;
        Probe::start_to(tag, frames, stats_interval, addr, Some(dns), extra)
    }

    /// Starts the run with the dns stream sent to `dns_addr` over UDP.
    fn start_to(
        tag: &str,
        frames: &[Packet],
        stats_interval: u32,
        dns_addr: SocketAddr,
        dns: Option<UdpCollector>,
        extra: &str,
    ) -> Probe {
        let dir = TestDir::new(tag);
        let (in0, in1) = (dir.join("in0.pcap"), dir.join("in1.pcap"));
        write_pcap(&in0, frames);
        write_pcap(&in1, &[]);
        let dns_log = dir.join("dns.log");
        let log_dir = dir.join("log");
        std::fs::create_dir_all(&log_dir).unwrap();
        let config = dir.join("metaprobe.toml");
        let text = format!(
            "bridges = [[0, 1]]\nlog_dir = {}\nstats_interval = {stats_interval}\n\
             ipfix_dns_udp_collectors = [\"{}\"]\nipfix_mtu = 9216\najb_save_dns = 1\n\
             ajb_dns_bufsize = 1\najb_dns_path = {}\n{extra}",
            toml_string(&log_dir.to_string_lossy()),
            dns_addr,
            toml_string(&dns_log.to_string_lossy())
        );
        std::fs::write(&config, text).unwrap();
        let eal = eal_args(
            &dir,
            &in0,
            &dir.join("out0.pcap"),
            &in1,
            &dir.join("out1.pcap"),
        );
        let mut running = Running::spawn(&run_args_idle(&config, None, eal));
        running.wait_for_stdout("worker 0 on lcore", STARTUP_TIMEOUT);
        Probe { running, dir, dns }
    }

    fn dns_log(&self) -> PathBuf {
        self.dir.join("dns.log")
    }

    fn alert_log(&self) -> PathBuf {
        self.dir.join("log").join("fastdpi_alert.log")
    }

    /// Waits until the capture is through (the DNS log has lines and has not
    /// grown for 1.5 s); its lines.
    fn dns_log_settled(&self) -> usize {
        let path = self.dns_log();
        let mut last = (0, Instant::now());
        eventually("the DNS log settles", || {
            let n = lines_of(&path);
            if n != last.0 {
                last = (n, Instant::now());
            }
            n > 0 && last.1.elapsed() > Duration::from_millis(1500)
        });
        last.0
    }

    /// Waits until stdout has `n` lines containing `needle`.
    fn wait_for_lines(&mut self, needle: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.running.stdout_so_far().matches(needle).count() < n {
            assert!(
                Instant::now() < deadline,
                "no {n} lines {needle:?} within 30 s\n{}",
                self.running.describe_so_far()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the whole run's output, the records the test's collector got,
    /// and the run's files (kept while the returned directory lives); checks it
    /// stopped cleanly.
    fn stop(mut self) -> (common::RunOutput, usize, TestDir) {
        self.running.signal(libc::SIGTERM);
        let out = self.running.wait(common::RUN_TIMEOUT);
        out.assert_success();
        out.assert_stdout_line("stopping: signal received");
        let dns = self
            .dns
            .take()
            .map(UdpCollector::finish)
            .unwrap_or_default();
        let (records, problems) = decode_all(&dns);
        assert!(problems.is_empty(), "collector: {problems:?}");
        (out, records.len(), self.dir)
    }
}

/// `http://ADDR/metrics` as printed at start.
fn metrics_addr(stdout: &str) -> SocketAddr {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("metrics: listening on http://"))
        .unwrap_or_else(|| panic!("no metrics line in\n{stdout}"));
    line.strip_suffix("/metrics").unwrap().parse().unwrap()
}

/// One HTTP exchange: (status line, headers, body).
fn http_get(addr: SocketAddr, path: &str) -> (String, Vec<String>, String) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/plain\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    c.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n").map(str::to_owned);
    let status = lines.next().unwrap();
    (status, lines.collect(), body.to_owned())
}

/// The samples of a scrape, `name{labels}` → value; checks every sample's metric has
/// its HELP and TYPE lines first.
fn samples(body: &str) -> BTreeMap<String, u64> {
    let mut typed = Vec::new();
    let mut out = BTreeMap::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.push(rest.split(' ').next().unwrap().to_owned());
        } else if !line.starts_with("# HELP ") {
            let (key, value) = line.rsplit_once(' ').unwrap();
            let name = key.split('{').next().unwrap();
            assert!(typed.iter().any(|t| t == name), "no TYPE for {line:?}");
            out.insert(key.to_owned(), value.parse().unwrap());
        }
    }
    out
}

fn get(s: &BTreeMap<String, u64>, key: &str) -> u64 {
    *s.get(key)
        .unwrap_or_else(|| panic!("no sample {key} in the scrape"))
}

/// The `final export dns:` line's `key value` pairs.
fn export_line(stdout: &str) -> BTreeMap<String, u64> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("final export dns:"))
        .unwrap();
    let words: Vec<String> = line
        .replace(['(', ')'], " ")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    words
        .chunks_exact(2)
        .map(|kv| (kv[0].clone(), kv[1].parse().unwrap()))
        .collect()
}

/// A scrape during the run sees the capture forwarded and its records exported, with
/// the numbers the final summary prints at the end; every sample has HELP and TYPE.
#[test]
fn metrics_are_scraped_during_a_run_and_agree_with_the_final_summary() {
    let frames = capture();
    let n = frames.len() as u64;
    let _guard = dpdk_lock();
    let probe = Probe::start("metrics", &frames, 0, "metrics_listen = \"127.0.0.1:0\"\n");
    let addr = metrics_addr(&probe.running.stdout_so_far());

    // The replay takes a moment: scrape until the capture is through and exported.
    let deadline = Instant::now() + Duration::from_secs(30);
    let dns = "{stream=\"dns\"}";
    let scrape = loop {
        let (status, headers, body) = http_get(addr, "/metrics");
        assert_eq!(status, "HTTP/1.0 200 OK", "{body}");
        assert!(
            headers
                .iter()
                .any(|h| h == "Content-Type: text/plain; version=0.0.4; charset=utf-8"),
            "{headers:?}"
        );
        let s = samples(&body);
        let rx = get(
            &s,
            "metaprobe_port_rx_packets_total{port=\"0\",device=\"net_pcap0\"}",
        );
        let produced = get(&s, &format!("metaprobe_export_produced_records_total{dns}"));
        let exported = get(&s, &format!("metaprobe_export_exported_records_total{dns}"));
        if rx == n && produced > 0 && exported == produced {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the scrapes never showed the capture through: rx {rx} of {n}, dns produced \
             {produced} exported {exported}\n{body}"
        );
        thread::sleep(Duration::from_millis(200));
    };
    let (status, _, body) = http_get(addr, "/");
    assert!(status.starts_with("HTTP/1.0 404"), "{status}");
    assert!(body.contains("/metrics"), "{body}");
    // The counters are read again after a second: this scrape counts the ones before.
    thread::sleep(Duration::from_millis(1100));
    let later = samples(&http_get(addr, "/metrics").2);
    assert!(get(&later, "metaprobe_metrics_responses_total{code=\"200\"}") >= 1);
    assert_eq!(
        get(&later, "metaprobe_metrics_responses_total{code=\"404\"}"),
        1
    );
    let responses = get(&later, "metaprobe_metrics_responses_total{code=\"200\"}");

    let (out, received, _dir) = probe.stop();
    let summary = FinalSummary::parse(&out.stdout).unwrap();
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("final metrics: responses 200 "))
        .unwrap_or_else(|| panic!("no final metrics line\n{}", out.describe_short()));
    let served: u64 = line.split(' ').nth(4).unwrap().parse().unwrap();
    assert!(served > responses, "{line}: every scrape counted");
    assert!(line.contains(" 404 1 "), "{line}");
    let port = |id: u32, key: &str| summary.port(id).unwrap().u64(key).unwrap();
    for (id, dev) in [(0, "net_pcap0"), (1, "net_pcap1")] {
        for (key, metric) in [
            ("rx", "port_rx_packets_total"),
            ("tx", "port_tx_packets_total"),
            ("tx-dropped", "port_tx_dropped_packets_total"),
            ("rx-missed", "port_rx_missed_packets_total"),
        ] {
            assert_eq!(
                get(
                    &scrape,
                    &format!("metaprobe_{metric}{{port=\"{id}\",device=\"{dev}\"}}")
                ),
                port(id, key),
                "port {id} {key}: the scrape and the final summary\n{}",
                out.describe_short()
            );
        }
    }
    let worker = summary.worker(0).unwrap();
    assert_eq!(
        get(
            &scrape,
            "metaprobe_worker_rx_packets_total{worker=\"0\",lcore=\"1\"}"
        ),
        worker.u64("rx").unwrap()
    );
    let export = export_line(&out.stdout);
    assert_eq!(export["produced"], received as u64);
    for (key, metric) in [
        ("produced", "export_produced_records_total"),
        ("exported", "export_exported_records_total"),
    ] {
        assert_eq!(
            get(&scrape, &format!("metaprobe_{metric}{dns}")),
            export[key],
            "{key}\n{}",
            out.describe_short()
        );
    }
    for reason in ["ring-full", "backpressure", "collector-down"] {
        assert_eq!(
            get(
                &scrape,
                &format!(
                    "metaprobe_export_dropped_records_total{{stream=\"dns\",reason=\"{reason}\"}}"
                )
            ),
            export[reason]
        );
    }
    let collector = scrape
        .iter()
        .find(|(k, _)| {
            k.starts_with(
                "metaprobe_collector_exported_records_total{stream=\"dns\",transport=\"udp\"",
            )
        })
        .map(|(_, v)| *v);
    assert_eq!(collector, Some(export["exported"]));
    assert!(get(&scrape, "metaprobe_flows_created_total{worker=\"0\"}") > 0);
    assert_eq!(
        get(&scrape, "metaprobe_dns_log_lines_total"),
        received as u64,
        "every DNS record is a log line"
    );
}

/// Lines of the file at `path`, 0 when it is not there.
fn lines_of(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// Waits until `f` holds, at most 10 s.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within 10 s");
        thread::sleep(Duration::from_millis(20));
    }
}

/// SIGHUP during a run, after the logs were moved away as logrotate does: the probe
/// goes on (a stats line comes after it, a second SIGHUP is taken too), the DNS text
/// log and the alert log are back at their paths at once, the moved files keep what
/// was written to them, and SIGTERM ends the run with its final summary. The stats
/// lines carry each stream's produced/exported/dropped of their period.
#[test]
fn sighup_reopens_the_logs_and_the_run_goes_on() {
    let frames = capture();
    let _guard = dpdk_lock();
    let mut probe = Probe::start("sighup", &frames, 1, "");
    let (dns_log, alert_log) = (probe.dns_log(), probe.alert_log());
    let before = probe.dns_log_settled();
    let moved_dns = probe.dir.join("dns.log.rotated");
    std::fs::rename(&dns_log, &moved_dns).unwrap();
    let moved_alert = probe.dir.join("log").join("fastdpi_alert.log.1");
    if alert_log.exists() {
        std::fs::rename(&alert_log, &moved_alert).unwrap();
    }

    probe.running.signal(libc::SIGHUP);
    probe.wait_for_lines("SIGHUP: reopening the log files", 1);
    eventually("dns.log is created again", || dns_log.exists());
    eventually("fastdpi_alert.log is created again", || {
        std::fs::read_to_string(&alert_log)
            .is_ok_and(|t| t.contains("[LOGS] log files reopened (SIGHUP)"))
    });
    assert_eq!(
        lines_of(&moved_dns),
        before,
        "the moved DNS log keeps its lines"
    );
    assert_eq!(lines_of(&dns_log), 0, "no line written twice");

    // Still running: the next stats lines come, and a second SIGHUP is taken.
    let stats_lines = probe.running.stdout_so_far().matches("\nstats ").count();
    probe.wait_for_lines("\nstats ", stats_lines + 2);
    probe.running.signal(libc::SIGHUP);
    probe.wait_for_lines("SIGHUP: reopening the log files", 2);

    let (out, received, _dir) = probe.stop();
    FinalSummary::parse(&out.stdout).unwrap();
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("final logs: reopened 2 ")),
        "{}",
        out.describe_short()
    );
    let export = export_line(&out.stdout);
    assert_eq!(export["produced"], received as u64);
    assert_eq!(
        before, received,
        "every DNS record was a line of the moved log"
    );
    // The stats lines' dns counts are of their periods: together, the whole run.
    let mut sums = [0u64; 3];
    for line in out.stdout.lines().filter(|l| l.starts_with("stats ")) {
        let part = line
            .split(" | ")
            .find_map(|p| p.strip_prefix("dns "))
            .unwrap_or_else(|| panic!("no dns part in {line:?}"));
        let words: Vec<&str> = part.split(' ').collect();
        assert_eq!(
            [words[0], words[2], words[4]],
            ["produced", "exported", "dropped"],
            "{line}"
        );
        for (sum, i) in sums.iter_mut().zip([1, 3, 5]) {
            *sum += words[i].parse::<u64>().unwrap();
        }
    }
    assert_eq!(
        sums,
        [export["produced"], export["exported"], export["dropped"]],
        "the stats lines' dns counts add up to the final ones\n{}",
        out.describe_short()
    );
}

/// The dns stream to a UDP port nothing listens on: the final summary counts its
/// records `refused` (none as backpressure, the misnaming of before), the metrics
/// and the alert log say so, and everything produced is accounted for.
#[test]
fn a_closed_udp_collector_is_counted_refused_end_to_end() {
    let frames = capture();
    let closed = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let _guard = dpdk_lock();
    let probe = Probe::start_to(
        "refused",
        &frames,
        0,
        closed,
        None,
        "metrics_listen = \"127.0.0.1:0\"\n",
    );
    let addr = metrics_addr(&probe.running.stdout_so_far());
    let alert_log = probe.alert_log();
    let lines = probe.dns_log_settled();
    let scrape = samples(&http_get(addr, "/metrics").2);
    let (out, _, _dir) = probe.stop();
    let export = export_line(&out.stdout);
    assert!(export["refused"] > 0, "{}", out.describe_short());
    assert_eq!(export["backpressure"], 0, "{}", out.describe_short());
    assert_eq!(
        export["exported"] + export["refused"],
        export["produced"],
        "{}",
        out.describe_short()
    );
    assert_eq!(
        export["produced"], lines as u64,
        "every record was a DNS log line"
    );
    assert_eq!(
        get(
            &scrape,
            "metaprobe_export_dropped_records_total{stream=\"dns\",reason=\"refused\"}"
        ),
        export["refused"]
    );
    let text = std::fs::read_to_string(&alert_log).unwrap();
    assert!(
        text.contains(&format!(
            "[NFLW] collector udp {closed} (dns) refused: nothing listens on its port (ICMP port unreachable)"
        )),
        "{text}"
    );
    assert!(!text.contains("is not keeping up"), "{text}");
}

/// The login field (the third of the default format, tab-separated) of the
/// DNS text log's last line.
fn last_login(path: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().last()?;
    line.split('\t').nth(2).map(str::to_owned)
}

/// The subscriber map read again during a run (SIGHUP): port 0 replays the
/// capture without end (`infinite_rx`), so its flows stay open and keep making
/// records. The first map's login is in the DNS text log; a bad map is an alert
/// and the first login stays; a good map makes the same flows' records carry
/// the new login. The run goes on and ends with its final summary.
/// A run whose port 0 replays the capture without end (`infinite_rx`), so that its
/// flows stay open and keep making records (the DNS text log `dns.log` of `dir`,
/// the logs in `dir/log`), with `extra` configuration lines.
fn looping_probe(dir: &TestDir, extra: &str) -> Running {
    let (in0, in1) = (dir.join("in0.pcap"), dir.join("in1.pcap"));
    write_pcap(&in0, &capture());
    write_pcap(&in1, &[]);
    let (log_dir, dns_log) = (dir.join("log"), dir.join("dns.log"));
    std::fs::create_dir_all(&log_dir).unwrap();
    let config = dir.join("metaprobe.toml");
    std::fs::write(
        &config,
        format!(
            "bridges = [[0, 1]]\nlog_dir = {}\nstats_interval = 0\najb_save_dns = 1\n\
             ajb_dns_bufsize = \"64K\"\najb_dns_path = {}\n{extra}",
            toml_string(&log_dir.to_string_lossy()),
            toml_string(&dns_log.to_string_lossy()),
        ),
    )
    .unwrap();
    let mut eal = common::eal_base(dir, &["-l", "0-1"]);
    eal.push(format!("--vdev=net_pcap0,rx_pcap={},infinite_rx=1", in0.display()).into());
    eal.push(common::pcap_vdev(1, &in1, &dir.join("out1.pcap")));
    let mut running = Running::spawn(&run_args_idle(&config, None, eal));
    running.wait_for_stdout("worker 0 on lcore", STARTUP_TIMEOUT);
    running
}

#[test]
fn the_subscriber_map_is_reloaded_during_a_run() {
    let _guard = dpdk_lock();
    let dir = TestDir::new("subscribers-reload");
    let (map, log_dir, dns_log) = (dir.join("subs.txt"), dir.join("log"), dir.join("dns.log"));
    std::fs::write(&map, "0.0.0.0/0 first\n::/0 first\n").unwrap();
    let mut running = looping_probe(
        &dir,
        &format!(
            "subscribers_file = {}\n",
            toml_string(&map.to_string_lossy())
        ),
    );
    eventually("records with the first login", || {
        last_login(&dns_log).as_deref() == Some("first")
    });

    // A bad map: an alert, the first map stays.
    std::fs::write(&map, "0.0.0.0/0 second\nnot-an-address x\n").unwrap();
    running.signal(libc::SIGHUP);
    let alert = log_dir.join("fastdpi_alert.log");
    eventually("the refused reload is an alert", || {
        std::fs::read_to_string(&alert).is_ok_and(|t| {
            t.contains("[SUBSCRIBERS][")
                && t.contains("the previous map (2 prefixes) stays")
                && t.contains("subs.txt:2: not an IPv4 or IPv6 address or prefix")
        })
    });
    let lines = lines_of(&dns_log);
    eventually("more records", || lines_of(&dns_log) > lines + 100);
    assert_eq!(last_login(&dns_log).as_deref(), Some("first"));

    // A good map: the same flows carry the new login from now on.
    std::fs::write(&map, "0.0.0.0/0 third\n::/0 third\n").unwrap();
    running.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !running.stdout_so_far().contains("2 prefixes loaded") {
        assert!(Instant::now() < deadline, "{}", running.describe_so_far());
        thread::sleep(Duration::from_millis(20));
    }
    eventually("records with the new login", || {
        last_login(&dns_log).as_deref() == Some("third")
    });
    running.signal(libc::SIGTERM);
    let out = running.wait(common::RUN_TIMEOUT);
    out.assert_success();
    FinalSummary::parse(&out.stdout).unwrap();
    let text = std::fs::read_to_string(&dns_log).unwrap();
    let logins: Vec<&str> = text.lines().filter_map(|l| l.split('\t').nth(2)).collect();
    let switched = logins.iter().position(|l| *l == "third").unwrap();
    assert!(
        logins[..switched].iter().all(|l| *l == "first"),
        "before the reload"
    );
    assert!(
        logins[switched..].iter().all(|l| *l == "third"),
        "after the reload"
    );
}

/// An Accounting-Request Start for `framed` and `user`, signed with `secret` as a
/// BRAS signs it (RFC 2866 §3).
fn signed_start(id: u8, framed: [u8; 4], user: &str, secret: &[u8]) -> Vec<u8> {
    use md5::{Digest, Md5};
    let mut m = vec![4, id, 0, 0];
    m.extend_from_slice(&[0; 16]);
    m.extend_from_slice(&[40, 6, 0, 0, 0, 1, 8, 6]);
    m.extend_from_slice(&framed);
    m.extend_from_slice(&[1, user.len() as u8 + 2]);
    m.extend_from_slice(user.as_bytes());
    let len = (m.len() as u16).to_be_bytes();
    m[2..4].copy_from_slice(&len);
    let d = Md5::new().chain_update(&m).chain_update(secret).finalize();
    m[4..20].copy_from_slice(&d);
    m
}

/// `radius_accounting_listen`: a request with a wrong authenticator is dropped
/// unanswered; a signed Start is answered with a signed Accounting-Response and
/// the flows of its address carry its login from then on.
#[test]
fn the_accounting_listener_answers_and_binds() {
    use md5::{Digest, Md5};
    let _guard = dpdk_lock();
    let dir = TestDir::new("radius-listener");
    let dns_log = dir.join("dns.log");
    let mut running = looping_probe(
        &dir,
        "radius_accounting_listen = \"127.0.0.1:0\"\nradius_secret = \"s3cret\"\n",
    );
    let out = running.stdout_so_far();
    let addr: SocketAddr = out
        .lines()
        .find_map(|l| l.strip_prefix("radius: accounting listener on "))
        .unwrap_or_else(|| panic!("no listener line\n{out}"))
        .trim()
        .parse()
        .unwrap();
    eventually("records without a login", || {
        last_login(&dns_log).as_deref() == Some("")
    });
    let nas = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    nas.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];

    let forged = signed_start(1, [192, 168, 170, 8], "mallory", b"not-the-secret");
    nas.send_to(&forged, addr).unwrap();
    assert!(
        nas.recv_from(&mut buf).is_err(),
        "a forged request is not answered"
    );

    let start = signed_start(2, [192, 168, 170, 8], "carol", b"s3cret");
    nas.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    nas.send_to(&start, addr).unwrap();
    let (n, _) = nas.recv_from(&mut buf).unwrap();
    assert_eq!(n, 20, "an Accounting-Response without attributes");
    assert_eq!(&buf[..4], &[5, 2, 0, 20]);
    let mut check = buf[..20].to_vec();
    check[4..20].copy_from_slice(&start[4..20]);
    let want = Md5::new()
        .chain_update(&check)
        .chain_update(b"s3cret")
        .finalize();
    assert_eq!(&buf[4..20], want.as_slice(), "the Response Authenticator");

    eventually("records with the listener's login", || {
        last_login(&dns_log).as_deref() == Some("carol")
    });
    running.signal(libc::SIGTERM);
    let out = running.wait(common::RUN_TIMEOUT);
    out.assert_success();
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("final subscribers:"))
        .unwrap_or_else(|| panic!("{}", out.describe()));
    assert!(
        line.contains("radius-bindings 1 radius-bound 1 ")
            && line.ends_with(
                "listener-requests 1 listener-responses 1 listener-bad-authenticator 1 \
                 listener-malformed 0 listener-errors 0"
            ),
        "{line}"
    );
}

/// The number before `unit` in the first line of `stdout` that starts with `prefix`.
fn number_before(stdout: &str, prefix: &str, unit: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in\n{stdout}"));
    let head = &line[..line
        .find(unit)
        .unwrap_or_else(|| panic!("no {unit:?} in {line}"))];
    let digits = head
        .rsplit(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty());
    digits
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no number in {line}"))
}

/// The Rss, in KiB, of the process's mappings advised for huge pages
/// (`hg` among their VmFlags in /proc/PID/smaps).
fn advised_rss_kib(pid: u32) -> u64 {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let (mut total, mut rss) = (0, 0);
    for line in smaps.lines() {
        if let Some(v) = line.strip_prefix("Rss:") {
            rss = v.trim().trim_end_matches(" kB").parse().unwrap();
        } else if let Some(flags) = line.strip_prefix("VmFlags:")
            && flags.split_whitespace().any(|f| f == "hg")
        {
            total += rss;
        }
    }
    total
}

#[test]
fn the_workers_tables_are_advised_for_huge_pages_and_resident_from_start() {
    let frames = capture();
    let _guard = dpdk_lock();
    let metrics = "metrics_listen = \"127.0.0.1:0\"\n";
    let mut probe = Probe::start("huge-tables", &frames, 0, metrics);
    probe.wait_for_lines("huge pages: ", 1);
    let stdout = probe.running.stdout_so_far();
    let table_mib = number_before(&stdout, "flow table of worker 0:", " MiB; analysis pools");
    let pools_mib = number_before(&stdout, "flow table of worker 0:", " MiB (reassembly");
    let advised_mib = number_before(&stdout, "huge pages: ", " MiB of tables");
    assert!(
        advised_mib >= table_mib + pools_mib && table_mib > 0,
        "advised {advised_mib} MiB, tables {table_mib} + {pools_mib} MiB:\n{stdout}"
    );
    // The same figure for whoever watches the probe.
    let (_, _, body) = http_get(metrics_addr(&stdout), "/metrics");
    let advised_gauge = get(&samples(&body), "metaprobe_memory_huge_page_advised_octets");
    assert_eq!(advised_gauge >> 20, advised_mib, "{body}");
    if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
        // Nothing to advise, nothing marked: the line says so.
        assert!(
            stdout.contains("this kernel has no transparent huge pages"),
            "{stdout}"
        );
        probe.stop();
        return;
    }
    // Faulted in before the worker ran, not page by page as packets touch them.
    let resident_mib = advised_rss_kib(probe.running.pid()) >> 10;
    assert!(
        resident_mib >= advised_mib,
        "{resident_mib} MiB of the advised {advised_mib} MiB resident"
    );
    probe.stop();
}
