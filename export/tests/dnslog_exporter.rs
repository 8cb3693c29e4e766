//! The DNS text log written by the exporter (spec §8, issue 6): DNS records pushed by
//! a worker through a `RecordSender` come out as log lines, with or without an IPFIX
//! collector of the dns stream, and the log and the collector agree record for record;
//! an unwritable `ajb_dns_path` is an alert line and counted drops. Time is driven by
//! hand.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use common::TestClock;
use metaprobe_export::dnslog::LineField;
use metaprobe_export::dnslog::{DnsLogConfig, DnsLogStats};
use metaprobe_export::exporter::{Exporter, ExporterConfig};
use metaprobe_export::logs::ALERT_LOG;
use metaprobe_ipfix::collect::{TemplateCache, Value, decode_message};
use metaprobe_ipfix::dns_text::RdataText;
use metaprobe_ipfix::field::{IpPair, Octets, Text};
use metaprobe_ipfix::ring::RecordSender;
use metaprobe_ipfix::samples;
use metaprobe_ipfix::session::Transport;
use metaprobe_ipfix::template::{Dns, Stream};
use metaprobe_test_support::TestDir;
use std::io::ErrorKind;
use std::net::{IpAddr, UdpSocket};
use std::path::Path;

const TS: u32 = 1_700_000_000;
const SEC: u64 = 1_000_000;

fn log_cfg(path: &Path) -> DnsLogConfig {
    DnsLogConfig {
        path: path.to_path_buf(),
        format: LineField::ALL.to_vec(),
        bufsize: 1 << 20,
        fsize: 1 << 30,
        ftimeout_secs: 0,
    }
}

// RDATA as exported: names uncompressed.
const CNAME: &[u8] = b"\x03www\x01l\x06google\x03com\x00";
const MX: &[u8] = b"\x00\x0a\x05smtp5\x06google\x03com\x00";
const AAAA: [u8; 16] = [
    0x20, 0x01, 0x04, 0xf8, 0x00, 0x04, 0x00, 0x07, 0x02, 0xe0, 0x81, 0xff, 0xfe, 0x52, 0x9a, 0x6b,
];
static TXT: [u8; 300] = [0xab; 300];

fn v6(a: &str, b: &str) -> IpPair {
    IpPair::new(a.parse().unwrap(), b.parse().unwrap())
}

/// The records a worker makes (IPv4 and IPv6 templates, UDP and TCP, names, an
/// address, a 3-octet varlen RDATA, an empty one) and their log lines.
fn records() -> Vec<(Dns<'static>, String)> {
    let tail = |s: &str| format!("{s}\n");
    let mut v = Vec::new();
    v.push((
        samples::dns(TS, false),
        tail(
            "1700000000\t13\tsubscriber-1\t198.18.0.10\t198.19.0.20\t53\t40003\tudp\twww.example.com\t1\t1\t300\t4\t93.184.216.34",
        ),
    ));
    v.push((
        samples::dns(TS + 1, true),
        tail(
            "1700000001\t13\tsubscriber-1\t2001:db8::10\t2001:db8:1::20\t53\t40003\tudp\twww.example.com\t1\t1\t300\t4\t93.184.216.34",
        ),
    ));
    let mut r = samples::dns(TS + 2, true);
    r.addrs = v6("2001:4860:4860::8888", "2001:db8::77");
    r.transport = 1;
    r.session_id = 0x0102_0304_0506_0708;
    r.login = Text::from_str("alice bob");
    r.domain = Text::from_str("www.google.com");
    r.rrtype = 5;
    r.ttl = 633;
    r.rdata = Octets(CNAME);
    v.push((
        r,
        tail(
            "1700000002\t72623859790382856\talice\\032bob\t2001:4860:4860::8888\t2001:db8::77\t53\t40003\ttcp\twww.google.com\t5\t1\t633\t18\twww.l.google.com",
        ),
    ));
    let mut r = samples::dns(TS + 3, false);
    r.domain = Text::from_str("google.com");
    r.rrtype = 15;
    r.ttl = 552;
    r.rdata = Octets(MX);
    r.login = Text::EMPTY;
    v.push((
        r,
        tail(
            "1700000003\t13\t\t198.18.0.10\t198.19.0.20\t53\t40003\tudp\tgoogle.com\t15\t1\t552\t20\t10 smtp5.google.com",
        ),
    ));
    let mut r = samples::dns(TS + 4, false);
    r.domain = Text::from_str("www.netbsd.org");
    r.rrtype = 28;
    r.rrclass = 1;
    r.ttl = 86400;
    r.rdata = Octets(&AAAA);
    v.push((
        r,
        tail(
            "1700000004\t13\tsubscriber-1\t198.18.0.10\t198.19.0.20\t53\t40003\tudp\twww.netbsd.org\t28\t1\t86400\t16\t2001:4f8:4:7:2e0:81ff:fe52:9a6b",
        ),
    ));
    let mut r = samples::dns(TS + 5, true);
    r.domain = Text::from_str("big.example");
    r.rrtype = 16;
    r.rrclass = 3;
    r.ttl = 1;
    r.rdata = Octets(&TXT);
    let line = format!(
        "1700000005\t13\tsubscriber-1\t2001:db8::10\t2001:db8:1::20\t53\t40003\tudp\tbig.example\t16\t3\t1\t300\t{}\n",
        "ab".repeat(300)
    );
    v.push((r, line));
    // A response without answers: the question, TTL 0, empty RDATA.
    let mut r = samples::dns(TS + 6, false);
    r.domain = Text::from_str("www.example.notginh");
    r.rrtype = 28;
    r.ttl = 0;
    r.rdata = Octets(&[]);
    v.push((
        r,
        tail(
            "1700000006\t13\tsubscriber-1\t198.18.0.10\t198.19.0.20\t53\t40003\tudp\twww.example.notginh\t28\t1\t0\t0\t",
        ),
    ));
    v
}

/// Pushes the DNS records, with records of the other streams in between (never
/// logged); returns the expected log text.
fn push_all(tx: &mut RecordSender) -> String {
    let mut want = String::new();
    for (i, (r, line)) in records().iter().enumerate() {
        assert!(tx.push(r));
        want.push_str(line);
        if i % 2 == 0 {
            assert!(tx.push(&samples::clickstream(TS, i % 4 == 0)));
            assert!(tx.push(&samples::sip(TS, false)));
        }
    }
    tx.flush();
    want
}

fn read(path: &Path) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn log_without_collectors_has_exactly_the_records() {
    let dir = TestDir::new("dnslog-exporter-only");
    let path = dir.join("dns.log");
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.dns_log = Some(log_cfg(&path));
    let clock = TestClock::new();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    let want = push_all(&mut senders[0]);
    let n = records().len() as u64;

    // Drained and buffered: nothing on disk within the second.
    ex.poll(&clock);
    assert_eq!(read(&path), None);
    clock.advance(SEC / 2);
    ex.poll(&clock);
    assert_eq!(read(&path), None);
    // Written out by the once-a-second poll, without a shutdown.
    clock.advance(SEC / 2);
    ex.poll(&clock);
    assert_eq!(read(&path).as_deref(), Some(want.as_str()));

    let s = ex.stats();
    assert_eq!(
        s.dns_log,
        Some(DnsLogStats {
            lines: n,
            dropped_lines: 0,
            rotations: 0,
            errors: 0,
        })
    );
    assert_eq!(s.dns_log_unreadable, 0);
    let d = s.stream(Stream::Dns);
    assert_eq!((d.produced, d.received, d.exported), (n, n, 0));
    assert_eq!(d.not_exported_no_collector, n);
    assert_eq!(d.dropped_before_export() + d.dropped_down, 0);
    // The other streams have no collector either: counted, not logged, not alerted.
    assert_eq!(s.stream(Stream::Clickstream).not_exported_no_collector, 4);
    assert_eq!(s.stream(Stream::Meta).not_exported_no_collector, 4);
    assert_eq!(s.alert_lines, 0);
    assert!(!dir.join(ALERT_LOG).exists());

    // More records, written at shutdown.
    let (r, line) = &records()[2];
    assert!(senders[0].push(r));
    senders[0].flush();
    ex.shutdown(&clock);
    assert_eq!(read(&path).unwrap(), format!("{want}{line}"));
    assert_eq!(ex.stats().dns_log.unwrap().lines, n + 1);
}

#[test]
fn the_exporter_polls_time_rotation() {
    let dir = TestDir::new("dnslog-exporter-rot");
    let path = dir.join("dns.log");
    let mut cfg = ExporterConfig::new(dir.path());
    let mut lc = log_cfg(&path);
    lc.ftimeout_secs = 60;
    cfg.dns_log = Some(lc);
    let clock = TestClock::new();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    let (r, line) = &records()[0];
    assert!(senders[0].push(r));
    senders[0].flush();
    ex.poll(&clock);
    clock.advance(SEC);
    ex.poll(&clock);
    assert_eq!(read(&path).as_deref(), Some(line.as_str()));
    // No record for a minute: the poll alone closes the file.
    clock.advance(59 * SEC);
    ex.poll(&clock);
    assert_eq!(ex.stats().dns_log.unwrap().rotations, 1);
    assert_eq!(read(&path), None);
    // Named after its first line's time, 2023-11-14 22:13:20 UTC.
    let rotated = dir.join("dns.log.20231114-221320");
    assert_eq!(read(&rotated).as_deref(), Some(line.as_str()));
}

/// The reopen flag (set by the binary on SIGHUP) is taken by the next cycle: the DNS
/// log's buffered lines go to the file logrotate moved, `ajb_dns_path` is created again,
/// the alert log gets a line (so a moved alert log is back at once), the count is kept.
#[test]
fn the_reopen_flag_reopens_the_logs_at_the_next_cycle() {
    let dir = TestDir::new("dnslog-exporter-reopen");
    let path = dir.join("dns.log");
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.dns_log = Some(log_cfg(&path));
    let clock = TestClock::new();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    let flag = ex.reopen_flag();
    let all = records();
    assert!(senders[0].push(&all[0].0));
    senders[0].flush();
    ex.poll(&clock);
    // In place: the buffered line is written, the file stays.
    flag.store(true, std::sync::atomic::Ordering::Relaxed);
    ex.poll(&clock);
    assert_eq!(read(&path), Some(all[0].1.clone()));
    let moved = dir.join("dns.log.1");
    std::fs::rename(&path, &moved).unwrap();
    assert!(senders[0].push(&all[1].0));
    senders[0].flush();
    ex.poll(&clock); // buffered: the line waits in the log's buffer
    flag.store(true, std::sync::atomic::Ordering::Relaxed);
    clock.advance(SEC);
    ex.poll(&clock);
    assert!(!flag.load(std::sync::atomic::Ordering::Relaxed), "taken");
    assert_eq!(
        read(&moved),
        Some(format!("{}{}", all[0].1, all[1].1)),
        "the lines written before the reopen stay in the moved file"
    );
    assert_eq!(read(&path).as_deref(), Some(""), "created again at once");
    let alerts = read(&dir.join(ALERT_LOG)).unwrap();
    assert!(
        alerts.lines().all(|l| l.starts_with(
            "[LOGS] log files reopened (SIGHUP): fastdpi_alert.log, fastdpi_stat.log and the DNS text log ["
        )) && !alerts.is_empty(),
        "{alerts}"
    );
    assert!(senders[0].push(&all[2].0));
    senders[0].flush();
    ex.poll(&clock);
    ex.shutdown(&clock);
    assert_eq!(read(&path), Some(all[2].1.clone()));
    let s = ex.stats();
    assert_eq!(s.log_reopens, 2);
    assert_eq!(s.dns_log.unwrap().lines, 3);
}

/// Escapes as the log does (an independent oracle for the test's strings).
fn esc(s: &str) -> String {
    let mut o = String::new();
    for &b in s.as_bytes() {
        match b {
            b'\\' => o.push_str("\\\\"),
            b'!'..=b'~' => o.push(char::from(b)),
            _ => o.push_str(&format!("\\{b:03}")),
        }
    }
    o
}

#[test]
fn log_and_udp_collector_agree_record_for_record() {
    let dir = TestDir::new("dnslog-exporter-udp");
    let path = dir.join("dns.log");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.add(Stream::Dns, Transport::Udp, &[sock.local_addr().unwrap()]);
    cfg.dns_log = Some(log_cfg(&path));
    cfg.workers = 2;
    let clock = TestClock::new();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    // Two workers, twice over: the order across rings is the exporter's.
    let mut want = push_all(&mut senders[0]);
    want.push_str(&push_all(&mut senders[1]));
    let n = 2 * records().len() as u64;
    ex.poll(&clock);
    clock.advance(SEC);
    ex.shutdown(&clock);

    let s = ex.stats();
    let d = s.stream(Stream::Dns);
    assert_eq!((d.received, d.exported), (n, n));
    assert_eq!(d.not_exported_no_collector, 0);
    assert_eq!(s.dns_log.unwrap().lines, n);
    let log = read(&path).unwrap();
    // Every record once (the ring order may interleave the two workers' chunks).
    let mut got_sorted: Vec<&str> = log.lines().collect();
    let mut want_sorted: Vec<&str> = want.lines().collect();
    got_sorted.sort_unstable();
    want_sorted.sort_unstable();
    assert_eq!(got_sorted, want_sorted);

    // What the collector decoded, rendered field by field, is the log, in order.
    sock.set_nonblocking(true).unwrap();
    let mut cache = TemplateCache::new();
    let mut buf = vec![0u8; 65536];
    let mut decoded = Vec::new();
    loop {
        match sock.recv(&mut buf) {
            Ok(k) => {
                let m = decode_message(&mut cache, &buf[..k]).unwrap();
                assert_eq!(m.unknown_sets, 0);
                decoded.extend(m.records.into_iter().filter(|r| !r.options));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(decoded.len() as u64, n);
    let num = |r: &metaprobe_ipfix::collect::DecodedRecord, k: &str| match r.get(k) {
        Some(Value::Unsigned(v)) => *v,
        other => panic!("{k}: {other:?}"),
    };
    let text = |r: &metaprobe_ipfix::collect::DecodedRecord, k: &str| match r.get(k) {
        Some(Value::Str(v)) => v.clone(),
        other => panic!("{k}: {other:?}"),
    };
    let mut families = [0; 2];
    let rendered: Vec<String> = decoded
        .iter()
        .map(|r| {
            let (src, dst) = match (r.template_id, r.get("IP_SOURCE"), r.get("IP_DESTINATION")) {
                (272, Some(Value::Ipv4(a)), Some(Value::Ipv4(b))) => {
                    families[0] += 1;
                    (IpAddr::V4(*a), IpAddr::V4(*b))
                }
                (273, _, _) => match (r.get("IP_SOURCE_V6"), r.get("IP_DESTINATION_V6")) {
                    (Some(Value::Ipv6(a)), Some(Value::Ipv6(b))) => {
                        families[1] += 1;
                        (IpAddr::V6(*a), IpAddr::V6(*b))
                    }
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            };
            let Some(Value::Bytes(rdata)) = r.get("RDATA") else {
                panic!("RDATA");
            };
            let rrtype = num(r, "RRTYPE") as u16;
            format!(
                "{}\t{}\t{}\t{src}\t{dst}\t{}\t{}\t{}\t{}\t{rrtype}\t{}\t{}\t{}\t{}",
                num(r, "TIME_STAMP"),
                num(r, "SESSION_ID"),
                esc(&text(r, "LOGIN")),
                num(r, "PORT_SOURCE"),
                num(r, "PORT_DESTINATION"),
                ["udp", "tcp"][num(r, "TRANSPORT") as usize],
                esc(&text(r, "DOMAIN")),
                num(r, "RRCLASS"),
                num(r, "TTL"),
                rdata.len(),
                RdataText { rrtype, rdata },
            )
        })
        .collect();
    assert_eq!(families, [8, 6]);
    assert_eq!(rendered, log.lines().collect::<Vec<_>>());
}

#[test]
fn unwritable_path_is_an_alert_and_counted_drops() {
    let dir = TestDir::new("dnslog-exporter-unwritable");
    let sub = dir.join("missing");
    let path = sub.join("dns.log");
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.dns_log = Some(log_cfg(&path));
    cfg.alert_interval_us = 10 * SEC;
    let clock = TestClock::new();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    let all = records();
    let tx = &mut senders[0];
    let mut push = |ex: &mut Exporter, k: usize| {
        for (r, _) in all.iter().take(k) {
            assert!(tx.push(r));
        }
        tx.flush();
        ex.poll(&clock);
    };
    let alerts = || {
        read(&dir.join(ALERT_LOG))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };

    // Three lines buffered, then the flush fails: one alert line at once.
    push(&mut ex, 3);
    clock.advance(SEC);
    ex.poll(&clock);
    let a = alerts();
    assert_eq!(a.len(), 1, "{a:?}");
    let shown = path.display().to_string();
    assert!(
        a[0].starts_with(&format!("[DNSLOG] cannot open {shown}: ")),
        "{a:?}"
    );
    assert!(a[0].contains("(3 lines dropped) ["), "{a:?}");
    let s = ex.stats();
    assert_eq!(
        s.dns_log,
        Some(DnsLogStats {
            lines: 0,
            dropped_lines: 3,
            rotations: 0,
            errors: 1,
        })
    );
    assert_eq!(s.alert_lines, 1);

    // Two more failures within the alert interval: held, then one line for both.
    clock.advance(SEC);
    push(&mut ex, 2);
    clock.advance(SEC);
    ex.poll(&clock);
    push(&mut ex, 1);
    clock.advance(SEC);
    ex.poll(&clock);
    assert_eq!(alerts().len(), 1);
    assert_eq!(ex.stats().dns_log.unwrap().errors, 3);
    clock.advance(10 * SEC);
    ex.poll(&clock);
    let a = alerts();
    assert_eq!(a.len(), 2, "{a:?}");
    assert!(
        a[1].starts_with(&format!("[DNSLOG] cannot open {shown}: ")),
        "{a:?}"
    );
    assert!(
        a[1].contains("(1 lines dropped); 2 failures, 3 lines dropped since the last report ["),
        "{a:?}"
    );
    let s = ex.stats();
    assert_eq!(s.dns_log.unwrap().dropped_lines, 6);
    assert_eq!(s.dns_log.unwrap().lines, 0);
    assert_eq!(s.alert_lines, 2);
    // IPFIX-side counts are untouched by the log's failures.
    assert_eq!(s.stream(Stream::Dns).received, 6);
    assert_eq!(s.stream(Stream::Dns).not_exported_no_collector, 6);

    // The path becomes writable: the next flush reopens it.
    std::fs::create_dir_all(&sub).unwrap();
    push(&mut ex, 1);
    ex.shutdown(&clock);
    assert_eq!(read(&path).unwrap(), all[0].1);
    let s = ex.stats();
    assert_eq!(s.dns_log.unwrap().lines, 1);
    assert_eq!(s.dns_log.unwrap().errors, 3);
    assert_eq!(alerts().len(), 2);
}

#[test]
fn a_failure_at_shutdown_is_alerted_at_once() {
    let dir = TestDir::new("dnslog-exporter-shutdown");
    let path = dir.join("missing").join("dns.log");
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.dns_log = Some(log_cfg(&path));
    cfg.alert_interval_us = 3600 * SEC;
    let clock = TestClock::new();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    // A first alert, so that the rate limit is running.
    let (r, _) = &records()[0];
    assert!(senders[0].push(r));
    senders[0].flush();
    ex.poll(&clock);
    clock.advance(SEC);
    ex.poll(&clock);
    assert_eq!(ex.stats().alert_lines, 1);
    assert!(senders[0].push(r));
    assert!(senders[0].push(r));
    senders[0].flush();
    ex.shutdown(&clock);
    let a = read(&dir.join(ALERT_LOG)).unwrap();
    let lines: Vec<&str> = a.lines().collect();
    assert_eq!(lines.len(), 2, "{a}");
    assert!(lines[1].contains("(2 lines dropped) ["), "{a}");
    assert_eq!(ex.stats().dns_log.unwrap().dropped_lines, 3);
}

#[test]
fn no_log_and_no_collector_counts_and_stays_quiet() {
    let dir = TestDir::new("dnslog-exporter-off");
    let cfg = ExporterConfig::new(dir.path());
    let clock = TestClock::new();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    push_all(&mut senders[0]);
    ex.poll(&clock);
    clock.advance(SEC);
    ex.shutdown(&clock);
    let s = ex.stats();
    let n = records().len() as u64;
    let d = s.stream(Stream::Dns);
    assert_eq!((d.received, d.not_exported_no_collector), (n, n));
    assert_eq!(
        d.dropped_before_export() + d.dropped_backpressure + d.dropped_down,
        0
    );
    assert_eq!(s.dns_log, None);
    assert_eq!((s.alert_lines, s.log_errors), (0, 0));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "no file made");
}
