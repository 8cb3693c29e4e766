//! End to end, what an operator runs the probe with: the metrics endpoint scraped during
//! a real run (`metrics_listen`), and SIGHUP during a run (logs reopened, the run goes
//! on). Each run is the real binary on two `net_pcap` ports (`--no-huge --no-pci`), with a
//! corpus DNS capture on port 0, the dns stream exported over UDP to a socket of the test
//! and the DNS text log on.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    FinalSummary, Packet, Running, TestDir, UdpCollector, decode_all, dpdk_lock, eal_args,
    ethernet_frames_of, read_capture_links, run_args_idle, toml_string, write_config, write_pcap,
};

/// How long EAL start-up and port set-up may take before the worker line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// The capture of these runs.
const CAPTURE: &str = "dns_udp_a_aaaa_cname_mx_txt_ptr_srv.pcap";

fn capture() -> Vec<Packet> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("dataplane/tests/fixtures")
        .join(CAPTURE);
    let frames = ethernet_frames_of(&read_capture_links(&path)).0;
    assert!(!frames.is_empty(), "{CAPTURE}: no packets");
    frames
}

/// A started run: the binary replays `frames` on port 0 and then idles (no
/// `--idle-exit`: it runs until the test signals it).
struct Probe {
    running: Running,
    /// Kept for the run's files (removed when the test passes).
    _dir: TestDir,
    dns: Option<UdpCollector>,
}

impl Probe {
    fn start(tag: &str, frames: &[Packet], extra: &str) -> Probe {
        let dir = TestDir::new(tag);
        let (in0, in1) = (dir.join("in0.pcap"), dir.join("in1.pcap"));
        write_pcap(&in0, frames);
        write_pcap(&in1, &[]);
        let dns = UdpCollector::start();
        let dns_log = dir.join("dns.log");
        let extra = format!(
            "ipfix_dns_udp_collectors = [\"{}\"]\nipfix_mtu = 9216\najb_save_dns = 1\n\
             ajb_dns_bufsize = 1\najb_dns_path = {}\n{extra}",
            dns.addr,
            toml_string(&dns_log.to_string_lossy())
        );
        let config = write_config(&dir, 0, 1, &extra);
        let eal = eal_args(
            &dir,
            &in0,
            &dir.join("out0.pcap"),
            &in1,
            &dir.join("out1.pcap"),
        );
        let mut running = Running::spawn(&run_args_idle(&config, None, eal));
        running.wait_for_stdout("worker 0 on lcore", STARTUP_TIMEOUT);
        Probe {
            running,
            _dir: dir,
            dns: Some(dns),
        }
    }

    /// SIGTERM, then the whole run's output; checks it stopped cleanly.
    fn stop(mut self) -> (common::RunOutput, usize) {
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
        (out, records.len())
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
    let probe = Probe::start("metrics", &frames, "metrics_listen = \"127.0.0.1:0\"\n");
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

    let (out, received) = probe.stop();
    let summary = FinalSummary::parse(&out.stdout).unwrap();
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
