//! `metaprobe collect` against the real exporter on 127.0.0.1: every kind of
//! record, sent over UDP and TCP at once, printed once per line (JSON lines,
//! CSV one file per kind, control characters escaped); a hostile datagram
//! does not hold it; a collector killed and restarted gets the templates
//! again.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use metaprobe_export::exporter::{Exporter, ExporterConfig, SystemClock};
use metaprobe_ipfix::ring::RecordSender;
use metaprobe_ipfix::samples;
use metaprobe_ipfix::session::Transport;
use metaprobe_ipfix::template::Stream;

struct Collector {
    child: Child,
    udp: Option<SocketAddr>,
    tcp: Option<SocketAddr>,
    stderr: mpsc::Receiver<String>,
}

/// Starts `metaprobe collect ARGS` and waits for its listening lines.
fn start(args: &[&str]) -> Collector {
    let mut child = Command::new(env!("CARGO_BIN_EXE_metaprobe"))
        .arg("collect")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let want = args
        .iter()
        .filter(|a| **a == "--udp" || **a == "--tcp")
        .count();
    let (mut udp, mut tcp) = (None, None);
    let mut seen = 0;
    while seen < want {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("collect did not start");
        if let Some(a) = line.strip_prefix("metaprobe collect: listening on udp ") {
            udp = Some(a.parse().unwrap());
            seen += 1;
        } else if let Some(a) = line.strip_prefix("metaprobe collect: listening on tcp ") {
            tcp = Some(a.parse().unwrap());
            seen += 1;
        }
    }
    Collector {
        child,
        udp,
        tcp,
        stderr: rx,
    }
}

fn push_all(tx: &mut RecordSender, ts: u32) -> usize {
    let mut n = 0;
    for v6 in [false, true] {
        for ok in [
            tx.push(&samples::clickstream(ts, v6)),
            tx.push(&samples::http_reply(ts, v6)),
            tx.push(&samples::tls_reply(ts, v6)),
            tx.push(&samples::sip(ts, v6)),
            tx.push(&samples::ftp(ts, v6)),
            tx.push(&samples::im(ts, v6)),
            tx.push(&samples::mail(ts, v6)),
            tx.push(&samples::raw_meta(ts, v6)),
            tx.push(&samples::dns(ts, v6)),
        ] {
            assert!(ok);
            n += 1;
        }
    }
    tx.flush();
    n
}

fn exporter_to(udp: Option<SocketAddr>, tcp: Option<SocketAddr>) -> (Exporter, RecordSender) {
    let mut cfg = ExporterConfig::new(std::env::temp_dir());
    for s in Stream::ALL {
        if let Some(a) = udp {
            cfg.add(s, Transport::Udp, &[a]);
        }
        if let Some(a) = tcp {
            cfg.add(s, Transport::Tcp, &[a]);
        }
    }
    let (ex, mut senders) = Exporter::new(cfg).unwrap();
    (ex, senders.pop().unwrap())
}

/// Polls the exporter until the collector exits (it stops on --count).
fn run_until_exit(ex: &mut Exporter, c: &mut Collector) -> (String, Vec<String>) {
    let t = Instant::now();
    loop {
        ex.poll(&SystemClock);
        if c.child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "collect did not stop"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = c.child.wait().unwrap();
    assert!(status.success());
    let mut out = String::new();
    c.child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = Vec::new();
    // Until its stderr closes (it has exited).
    while let Ok(l) = c.stderr.recv_timeout(Duration::from_secs(5)) {
        err.push(l);
    }
    (out, err)
}

const KINDS: [&str; 9] = [
    "clickstream",
    "http_reply",
    "tls_reply",
    "sip",
    "ftp",
    "im",
    "mail",
    "raw_meta",
    "dns",
];

fn now_s() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

#[test]
fn every_kind_over_udp_and_tcp_as_json_lines() {
    let mut c = start(&[
        "--udp",
        "127.0.0.1:0",
        "--tcp",
        "127.0.0.1:0",
        "--count",
        "36",
        "--idle",
        "20",
    ]);
    let (mut ex, mut tx) = exporter_to(c.udp, c.tcp);
    // Let the TCP sessions connect: their templates come before the data.
    let t = Instant::now();
    while !ex.stats().collectors.iter().all(|c| c.up) {
        ex.poll(&SystemClock);
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(push_all(&mut tx, now_s()), 18);
    let (out, err) = run_until_exit(&mut ex, &mut c);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 36, "{out}\n{err:?}");
    for l in &lines {
        assert!(l.starts_with("{\"odid\":0,") && l.ends_with("}}"), "{l}");
        assert!(!l.contains("\"options\""), "{l}");
    }
    for k in KINDS {
        for kind in [k.to_string(), format!("{k}_v6")] {
            let tag = format!("\"kind\":\"{kind}\"");
            assert_eq!(
                lines.iter().filter(|l| l.contains(&tag)).count(),
                2,
                "{kind} once over UDP, once over TCP"
            );
        }
    }
    // Field names of the spec, values decoded.
    assert!(out.contains("\"DOMAIN\":\"www.example.com\""));
    assert!(out.contains("\"MAIL_SUBJECT\":\"Привет, test\""));
    assert!(out.contains("\"IP_SOURCE_V6\":\"2001:db8::10\""));
    let errors: Vec<&String> = err
        .iter()
        .filter(|l| {
            !l.contains("connected")
                && !l.contains("closed")
                && !l.contains(" data records, ")
                && !l.contains(" limits: 0 templates refused")
        })
        .collect();
    assert!(errors.is_empty(), "stderr: {errors:?}");
    assert!(
        err.iter()
            .any(|l| l.contains(": 36 data records, ") && l.ends_with(", 0 errors")),
        "{err:?}"
    );
}

/// A fresh directory under the system's temp dir.
fn out_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mp-collect-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn every_kind_as_csv_one_file_each() {
    let dir = out_dir("csv");
    let dir_s = dir.to_str().unwrap();
    let mut c = start(&[
        "--udp",
        "127.0.0.1:0",
        "--format",
        "csv",
        "--out-dir",
        dir_s,
        "--count",
        "18",
        "--idle",
        "20",
    ]);
    let (mut ex, mut tx) = exporter_to(c.udp, None);
    ex.poll(&SystemClock);
    push_all(&mut tx, now_s());
    let (out, err) = run_until_exit(&mut ex, &mut c);
    assert!(out.is_empty(), "{out}");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut want: Vec<String> = KINDS.iter().map(|k| format!("{k}.csv")).collect();
    want.sort();
    assert_eq!(files, want, "{err:?}");
    for k in KINDS {
        let text = std::fs::read_to_string(dir.join(format!("{k}.csv"))).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Exactly one header, then the IPv4 and the IPv6 record.
        assert_eq!(lines.len(), 3, "{k}: {text}");
        assert!(
            lines[0].starts_with("kind,template_id,export_time,"),
            "{text}"
        );
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("kind,")).count(),
            1,
            "{text}"
        );
        assert!(lines[1].starts_with(&format!("{k},")), "{text}");
        assert!(lines[2].starts_with(&format!("{k}_v6,")), "{text}");
        let cols = lines[0].split(',').count();
        assert!(
            lines[1..].iter().all(|l| l.split(',').count() >= cols),
            "{text}"
        );
        assert!(
            lines[0].contains(",IP_SOURCE,IP_DESTINATION,IP_SOURCE_V6,IP_DESTINATION_V6,"),
            "{text}"
        );
    }
    let dns = std::fs::read_to_string(dir.join("dns.csv")).unwrap();
    assert!(
        dns.lines()
            .next()
            .unwrap()
            .contains(",DOMAIN,RRCLASS,RRTYPE,TTL,RDATA,"),
        "{dns}"
    );
    assert!(dns.contains(",www.example.com,1,1,300,5db8d822,"), "{dns}");
    // The IPv4 record leaves the IPv6 columns empty, and the other way round.
    assert!(dns.contains(",198.18.0.10,198.19.0.20,,,"), "{dns}");
    assert!(dns.contains(",,,2001:db8::10,2001:db8:1::20,"), "{dns}");
    // RAW_DATA's CRLF is escaped: a record is one line.
    let raw = std::fs::read_to_string(dir.join("raw_meta.csv")).unwrap();
    assert!(raw.contains(",USER anonymous\\r\\n,"), "{raw}");
    assert!(err.iter().any(|l| l.ends_with("dns.csv")), "{err:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// CSV on stdout is one table: the first kind's records, one header; the
/// other kinds are counted, not printed.
#[test]
fn csv_on_stdout_holds_one_kind() {
    let mut c = start(&[
        "--udp",
        "127.0.0.1:0",
        "--format",
        "csv",
        "--count",
        "18",
        "--idle",
        "20",
    ]);
    let (mut ex, mut tx) = exporter_to(c.udp, None);
    ex.poll(&SystemClock);
    push_all(&mut tx, now_s());
    let (out, err) = run_until_exit(&mut ex, &mut c);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("kind,template_id,export_time,"));
    let kind = lines[1].split(',').next().unwrap();
    assert!(lines[2].starts_with(&format!("{kind}_v6,")), "{out}");
    assert!(
        err.iter()
            .any(|l| l.contains(&format!("stdout holds the {kind} records only"))),
        "{err:?}"
    );
    assert!(
        err.iter()
            .any(|l| l.contains(", 16 records of other kinds not printed,")),
        "{err:?}"
    );
}

/// Packet data with terminal controls (ESC, BEL, NUL, DEL, a C1 CSI) in a
/// Host and a DNS name is written escaped by every format.
#[test]
fn control_characters_are_escaped_in_every_format() {
    use metaprobe_ipfix::field::Text;
    let nasty = "ev\u{1b}[2Jil\u{7}.ex\0am\u{7f}ple\u{9b}1m.com";
    for (format, file) in [
        ("jsonl", "clickstream.jsonl"),
        ("csv", "clickstream.csv"),
        ("clickhouse", "clickstream.ndjson"),
    ] {
        let dir = out_dir(&format!("ctl-{format}"));
        let mut c = start(&[
            "--udp",
            "127.0.0.1:0",
            "--format",
            format,
            "--out-dir",
            dir.to_str().unwrap(),
            "--count",
            "2",
            "--idle",
            "20",
        ]);
        let (mut ex, mut tx) = exporter_to(c.udp, None);
        ex.poll(&SystemClock);
        let host = metaprobe_ipfix::template::Clickstream {
            hostname: Text::from_str(nasty),
            ..samples::clickstream(now_s(), false)
        };
        let dns = metaprobe_ipfix::template::Dns {
            domain: Text::from_str(nasty),
            ..samples::dns(now_s(), true)
        };
        assert!(tx.push(&host) && tx.push(&dns));
        tx.flush();
        let (_out, err) = run_until_exit(&mut ex, &mut c);
        for f in [file.to_string(), file.replace("clickstream", "dns")] {
            let text = std::fs::read_to_string(dir.join(&f))
                .unwrap_or_else(|e| panic!("{f}: {e} {err:?}"));
            let body = text.trim_end_matches('\n');
            assert!(
                !body.chars().any(|c| c.is_control() && c != '\n'),
                "{format} {f}: raw control character in {text:?}"
            );
            assert!(
                body.contains(r"ev\u001b[2Jil\u0007.ex\u0000am\u007fple\u009b1m.com"),
                "{format} {f}: {text}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Issue 18: one 40-octet datagram (a template whose only field has length
/// 0, and a data set of it) grew the collector to 23 GB. Now it is a bad
/// message, and the collector goes on: the next exporter's records come out.
#[test]
fn a_hostile_datagram_does_not_hold_the_collector() {
    let mut c = start(&[
        "--udp",
        "127.0.0.1:0",
        "--count",
        "2",
        "--idle",
        "20",
        "--max-sessions",
        "1",
    ]);
    let mut m: Vec<u8> = vec![0, 10, 0, 40];
    m.extend_from_slice(&now_s().to_be_bytes());
    m.extend_from_slice(&[0; 8]);
    m.extend_from_slice(&[0, 2, 0, 12, 1, 0, 0, 1, 0, 1, 0, 0]);
    m.extend_from_slice(&[1, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(m.len(), 40);
    let hostile = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = Instant::now();
    hostile.send_to(&m, c.udp.unwrap()).unwrap();
    let mut cfg = ExporterConfig::new(std::env::temp_dir());
    cfg.add(Stream::Dns, Transport::Udp, &[c.udp.unwrap()]);
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    let tx = &mut senders[0];
    ex.poll(&SystemClock);
    tx.push(&samples::dns(now_s(), false));
    tx.push(&samples::dns(now_s(), true));
    tx.flush();
    let (out, err) = run_until_exit(&mut ex, &mut c);
    assert!(t.elapsed() < Duration::from_secs(15));
    assert_eq!(out.lines().count(), 2, "{out} {err:?}");
    assert!(
        err.iter().any(|l| l.contains(
            "bad message: template 256: its records would have no octets (every field of length 0)"
        )),
        "{err:?}"
    );
    // --max-sessions 1: the hostile source's session made room for the exporter's.
    assert!(
        err.iter().any(|l| l.contains(" 1 udp sessions forgotten,")),
        "{err:?}"
    );
}

#[test]
fn tcp_collector_killed_and_restarted_gets_templates_first() {
    let mut c = start(&["--tcp", "127.0.0.1:0", "--idle", "20"]);
    let addr = c.tcp.unwrap();
    let mut cfg = ExporterConfig::new(std::env::temp_dir());
    cfg.add(Stream::Dns, Transport::Tcp, &[addr]);
    cfg.reconnect_min_us = 50_000;
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    let tx = &mut senders[0];
    let t = Instant::now();
    while ex.stats().collectors[0].exported < 2 {
        if ex.stats().collectors[0].up && ex.stats().stream(Stream::Dns).received == 0 {
            tx.push(&samples::dns(now_s(), false));
            tx.push(&samples::dns(now_s(), true));
            tx.flush();
        }
        ex.poll(&SystemClock);
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(2));
    }
    // Killed (no clean close of anything).
    c.child.kill().unwrap();
    c.child.wait().unwrap();
    let t = Instant::now();
    while ex.stats().collectors[0].up {
        ex.poll(&SystemClock);
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(2));
    }
    for _ in 0..5 {
        tx.push(&samples::dns(now_s(), false));
    }
    tx.flush();
    ex.poll(&SystemClock);
    assert_eq!(ex.stats().stream(Stream::Dns).dropped_down, 5);
    // Restarted on the same port: the exporter reconnects after its backoff,
    // templates first: every record decodes, no unknown template.
    let addr_s = addr.to_string();
    let mut c = start(&["--tcp", &addr_s, "--count", "2", "--idle", "20"]);
    let t = Instant::now();
    let mut pushed = false;
    loop {
        let s = ex.stats();
        if s.collectors[0].up && !pushed {
            tx.push(&samples::dns(now_s(), false));
            tx.push(&samples::dns(now_s(), true));
            tx.flush();
            pushed = true;
        }
        ex.poll(&SystemClock);
        if c.child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{s:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
    let (out, err) = run_until_exit(&mut ex, &mut c);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains("\"kind\":\"dns\"") && out.contains("\"kind\":\"dns_v6\""));
    assert!(
        !err.iter()
            .any(|l| l.contains("unknown template") || l.contains("sequence")),
        "{err:?}"
    );
    let s = ex.stats();
    assert_eq!(s.collectors[0].connects, 2);
    assert!(s.collectors[0].losses >= 1);
}
