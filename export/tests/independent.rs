//! Independent decoding: the messages of every template, with a record of
//! each kind, are checked from the outside by
//! - `ipfix_collect.py --strict` (shared/tools), receiving them over UDP on
//!   127.0.0.1: no violation, every kind received;
//! - tshark's IPFIX dissector on a pcap of the same messages, over UDP
//!   (`-d udp.port==N,cflow`) and over TCP connections cut at arbitrary
//!   points (`-d tcp.port==N,cflow`, reassembled): no malformed packet, no
//!   expert warning or error; over TCP also exactly the records sent.
//!
//! The tshark check stands on its own (tshark is installed by
//! `scripts/setup.sh`). The strict collector is an external checker kept
//! beside the repository (`../shared/tools`), so its test is ignored in a
//! plain `cargo test`; `scripts/test.sh` runs it with `--ignored` whenever the
//! checker is there (as in CI), and then its absence fails loudly.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use metaprobe_ipfix::samples;
use metaprobe_ipfix::session::{SessionConfig, enterprise_elements};
use metaprobe_ipfix::template::Stream;
use metaprobe_test_support::TestDir;
use metaprobe_test_support::hex::hex;
use metaprobe_test_support::loopback::{tcp_frame, write_frames, write_udp_pcap};
use metaprobe_test_support::strict::StrictCollector;
use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// The messages of one stream: its template round, then one record of each
/// of its templates (both families), then a statistics record.
fn stream_messages(stream: Stream, t: u32) -> (Vec<Vec<u8>>, usize) {
    session_messages(SessionConfig::udp(stream, 1500, false, 20), t)
}

/// The messages of one session of `cfg`'s stream (see [`stream_messages`]).
fn session_messages(mut cfg: SessionConfig, t: u32) -> (Vec<Vec<u8>>, usize) {
    cfg.observation_domain = 1;
    cfg.exporting_process_id = 4242;
    samples::session_messages(cfg, t, 1)
}

fn all_messages(t: u32) -> Vec<(Stream, Vec<Vec<u8>>, usize)> {
    Stream::ALL
        .iter()
        .map(|&s| {
            let (m, n) = stream_messages(s, t);
            (s, m, n)
        })
        .collect()
}

#[test]
#[ignore = "needs ../shared/tools/ipfix_collect.py; scripts/test.sh runs it when present"]
fn strict_collector_sees_no_violation() {
    let dir = TestDir::new("export-indep");
    let strict = StrictCollector::start(dir.path(), false, &["--idle", "2"]);
    let port = strict.udp;
    let t = now();
    let mut expected = 0;
    for (_, msgs, n) in all_messages(t) {
        // One socket (one transport session) per stream, as in production.
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        for m in &msgs {
            assert!(m.len() <= 1472);
            sock.send_to(m, ("127.0.0.1", port)).unwrap();
        }
        expected += n;
    }
    let verdict = strict.wait();
    verdict.assert_clean();
    let (sum, data) = (&verdict.summary, &verdict.records);
    assert_eq!(data.len(), expected, "{sum}");
    assert_eq!(expected, 18);
    for kind in [
        "clickstream",
        "http_reply",
        "tls_reply",
        "sip",
        "ftp",
        "im",
        "mail",
        "raw_meta",
        "dns",
    ] {
        for k in [kind.to_string(), format!("{kind}_v6")] {
            let tag = format!("\"kind\":\"{k}\"");
            assert_eq!(
                data.iter().filter(|l| l.contains(&tag)).count(),
                1,
                "kind {k}: {sum}"
            );
        }
    }
    // The counter records of each stream's statistics report, read by the
    // strict collector (its own names for our elements; strings as hex).
    let tls_malformed = format!("\"e43823_4001\":\"{}\"", hex(b"tls-malformed"));
    let counters: Vec<&String> = verdict
        .options
        .iter()
        .filter(|l| l.contains("\"template_id\":282") && l.contains(&tls_malformed))
        .collect();
    assert_eq!(counters.len(), Stream::ALL.len(), "{:?}", verdict.options);
    assert!(
        counters
            .iter()
            .all(|l| l.contains("\"e43823_4002\":\"0000000000000001\"")),
        "{counters:?}"
    );
}

const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// Segment payload lengths, in turn: cuts inside message headers, inside
/// set headers and records, and segments holding the end of one message
/// and the start of the next.
const SEGMENT_LENS: [usize; 10] = [1, 15, 16, 700, 1460, 3, 1000, 1460, 29, 333];

/// Where each connection's byte stream is cut into segments: `(start, end)`
/// offsets, consecutive, covering the stream.
fn segments(len: usize, turn: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut k = turn;
    while at < len {
        let end = (at + SEGMENT_LENS[k % SEGMENT_LENS.len()]).min(len);
        out.push((at, end));
        at = end;
        k += 1;
    }
    out
}

/// One TCP connection per stream (client port `40000 + i` to `dport`), in
/// a classic pcap file: the three handshakes, then the streams' bytes in
/// data segments (taken in turn from each connection, each acknowledged by
/// the collector), then the closing handshakes.
fn write_tcp_pcap(path: &Path, streams: &[Vec<u8>], dport: u16, t: u32) {
    let mut frames = Vec::new();
    let conns: Vec<((u16, u16), u32, u32)> = (0..streams.len())
        .map(|i| {
            let c = 40000 + i as u16;
            // Initial sequence numbers near 2^32: the stream wraps.
            (
                (c, dport),
                u32::MAX - 5000 + i as u32 * 1000,
                7_000_000 * (i as u32 + 1),
            )
        })
        .collect();
    for &(p, cisn, sisn) in &conns {
        let r = (p.1, p.0);
        frames.push(tcp_frame(p, cisn, 0, SYN, &[]));
        frames.push(tcp_frame(r, sisn, cisn.wrapping_add(1), SYN | ACK, &[]));
        frames.push(tcp_frame(
            p,
            cisn.wrapping_add(1),
            sisn.wrapping_add(1),
            ACK,
            &[],
        ));
    }
    let cuts: Vec<Vec<(usize, usize)>> = streams
        .iter()
        .enumerate()
        .map(|(i, s)| segments(s.len(), i))
        .collect();
    let most = cuts.iter().map(Vec::len).max().unwrap_or(0);
    for k in 0..most {
        for (i, &(p, cisn, sisn)) in conns.iter().enumerate() {
            let Some(&(a, b)) = cuts[i].get(k) else {
                continue;
            };
            let seq = cisn.wrapping_add(1).wrapping_add(a as u32);
            let next = cisn.wrapping_add(1).wrapping_add(b as u32);
            let sack = sisn.wrapping_add(1);
            frames.push(tcp_frame(p, seq, sack, PSH | ACK, &streams[i][a..b]));
            frames.push(tcp_frame((p.1, p.0), sack, next, ACK, &[]));
        }
    }
    for (i, &(p, cisn, sisn)) in conns.iter().enumerate() {
        let fin = cisn.wrapping_add(1).wrapping_add(streams[i].len() as u32);
        let r = (p.1, p.0);
        let sack = sisn.wrapping_add(1);
        frames.push(tcp_frame(p, fin, sack, FIN | ACK, &[]));
        frames.push(tcp_frame(r, sack, fin.wrapping_add(1), FIN | ACK, &[]));
        frames.push(tcp_frame(
            p,
            fin.wrapping_add(1),
            sack.wrapping_add(1),
            ACK,
            &[],
        ));
    }
    write_frames(path, t, &frames);
}

#[test]
fn tshark_decodes_every_message_cleanly() {
    let t = now();
    let all = all_messages(t);
    let mut packets = Vec::new();
    for (i, (_, msgs, _)) in all.iter().enumerate() {
        for m in msgs {
            packets.push((40000 + i as u16, m.as_slice()));
        }
    }
    let dir = TestDir::new("export-tshark");
    let pcap = dir.join("export.pcap");
    write_udp_pcap(&pcap, &packets, 4739, t);
    let run = |filter: &str, fields: &[&str]| -> String {
        let mut c = Command::new("tshark");
        c.arg("-r")
            .arg(&pcap)
            .args(["-d", "udp.port==4739,cflow", "-Y", filter, "-T", "fields"]);
        for f in fields {
            c.args(["-e", f]);
        }
        let o = c
            .output()
            .expect("tshark must be installed (Debian package tshark)");
        assert!(
            o.status.success(),
            "tshark: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // Every frame is an IPFIX message, version 10.
    let decoded = run("cflow.version == 10", &["frame.number"]);
    assert_eq!(decoded.lines().count(), packets.len());
    // No malformed packet, no expert warning or error.
    let bad = run(
        "_ws.malformed || _ws.expert.severity >= 0x00600000",
        &["frame.number", "_ws.expert.message"],
    );
    assert!(bad.trim().is_empty(), "tshark complaints:\n{bad}");
    // Exactly the data records sent, one of each data template: counted per
    // set (a set length off by a few octets is not flagged as malformed, but
    // it loses the records after it).
    let mut verbose = Command::new("tshark");
    verbose.arg("-r").arg(&pcap).args([
        "-d",
        "udp.port==4739,cflow",
        "-Y",
        "cflow",
        "-O",
        "cflow",
        "-V",
    ]);
    let verbose = verbose
        .output()
        .expect("tshark must be installed (Debian package tshark)");
    let counts = records_per_set(&String::from_utf8_lossy(&verbose.stdout));
    for id in 256..=273u16 {
        assert_eq!(counts.get(&id), Some(&1), "records of template {id}");
    }
}

/// The whole pipeline (worker ring → exporter → UDP and TCP sockets) into
/// the strict collector: every stream to a UDP and a TCP collector at once,
/// a record of every kind, no violation, each record received twice.
#[test]
#[ignore = "needs ../shared/tools/ipfix_collect.py; scripts/test.sh runs it when present"]
fn strict_collector_sees_no_violation_over_udp_and_tcp() {
    use metaprobe_export::exporter::{Exporter, ExporterConfig, SystemClock};
    use metaprobe_ipfix::session::Transport;
    let dir = TestDir::new("export-indep-tcp");
    let strict = StrictCollector::start(dir.path(), true, &["--idle", "2"]);
    let (udp, tcp) = (strict.udp, strict.tcp.expect("a TCP port"));
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.set_domain_id(1);
    for s in Stream::ALL {
        cfg.add(s, Transport::Udp, &[([127, 0, 0, 1], udp).into()]);
        cfg.add(s, Transport::Tcp, &[([127, 0, 0, 1], tcp).into()]);
    }
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    let tx = &mut senders[0];
    let t0 = Instant::now();
    while !ex.stats().collectors.iter().all(|c| c.up) {
        ex.poll(&SystemClock);
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(2));
    }
    let t = now();
    for v6 in [false, true] {
        assert!(tx.push(&samples::clickstream(t, v6)));
        assert!(tx.push(&samples::http_reply(t, v6)));
        assert!(tx.push(&samples::tls_reply(t, v6)));
        assert!(tx.push(&samples::sip(t, v6)));
        assert!(tx.push(&samples::ftp(t, v6)));
        assert!(tx.push(&samples::im(t, v6)));
        assert!(tx.push(&samples::mail(t, v6)));
        assert!(tx.push(&samples::raw_meta(t, v6)));
        assert!(tx.push(&samples::dns(t, v6)));
    }
    tx.flush();
    while ex
        .stats()
        .collectors
        .iter()
        .map(|c| c.exported)
        .sum::<u64>()
        < 36
    {
        ex.poll(&SystemClock);
        assert!(t0.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(2));
    }
    let verdict = strict.wait();
    drop(ex);
    verdict.assert_clean();
    let (sum, data) = (&verdict.summary, &verdict.records);
    assert_eq!(data.len(), 36, "{sum}");
    for kind in [
        "clickstream",
        "http_reply",
        "tls_reply",
        "sip",
        "ftp",
        "im",
        "mail",
        "raw_meta",
        "dns",
    ] {
        for k in [kind.to_string(), format!("{kind}_v6")] {
            let tag = format!("\"kind\":\"{k}\"");
            let tag2 = format!("\"kind\": \"{k}\"");
            assert_eq!(
                data.iter()
                    .filter(|l| l.contains(&tag) || l.contains(&tag2))
                    .count(),
                2,
                "kind {k} once per transport: {sum}"
            );
        }
    }
}

/// Per data set id, the records tshark decoded (its `Flow n` subtrees under
/// each `Set k [id=X]` of `tshark -V -O cflow`).
fn records_per_set(verbose: &str) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    let mut set = None;
    for line in verbose.lines() {
        if let Some(rest) = line.strip_prefix("    Set ") {
            set = rest
                .split_once("[id=")
                .and_then(|(_, r)| r.split_once(']'))
                .and_then(|(id, _)| id.parse::<u16>().ok());
        } else if !line.starts_with("    ") {
            set = None;
        } else if let (Some(id), Some(rest)) = (set, line.strip_prefix("        Flow "))
            && rest.starts_with(|c: char| c.is_ascii_digit())
        {
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}

/// The messages of one TCP session per stream (templates first, then a
/// record of each of its templates, then a statistics record) in a pcap of
/// TCP connections on 127.0.0.1 (handshake, data segments with their
/// acknowledgements, close; IPv4 and TCP checksums verified by tshark), the
/// byte streams cut at arbitrary points (inside message headers, set
/// headers and records), read by tshark's IPFIX dissector through TCP
/// reassembly: no malformed packet, no expert warning or error, every
/// message and exactly the records sent decoded.
#[test]
fn tshark_decodes_every_message_over_tcp_cleanly() {
    const PORT: u16 = 47390; // not a default cflow port: `-d` does the decoding
    let t = now();
    let mut streams = Vec::new();
    let mut messages = 0;
    let mut data_records = 0;
    let (mut mid_header, mut mid_message, mut spanning) = (0, 0, 0);
    for (i, s) in Stream::ALL.into_iter().enumerate() {
        let (msgs, n) = session_messages(SessionConfig::tcp(s, 1500, false), t);
        let mut bytes = Vec::new();
        let mut starts = Vec::new();
        for m in &msgs {
            assert!(m.len() <= 1460);
            starts.push(bytes.len());
            bytes.extend_from_slice(m);
        }
        assert_eq!(
            &bytes[2..4],
            &(msgs[0].len() as u16).to_be_bytes(),
            "templates first: the stream opens on a message header"
        );
        // The cuts of this stream really fall inside messages.
        for (a, b) in segments(bytes.len(), i) {
            let last = starts.iter().rposition(|&m| m <= b).unwrap();
            if starts[last] != b && b != bytes.len() {
                mid_message += 1;
                if b - starts[last] < 16 {
                    mid_header += 1;
                }
            }
            if starts.iter().any(|&m| a < m && m < b) {
                spanning += 1;
            }
        }
        messages += msgs.len();
        data_records += n;
        streams.push(bytes);
    }
    assert_eq!(data_records, 18);
    assert!(mid_header > 0 && mid_message > mid_header && spanning > 0);
    let dir = TestDir::new("export-tshark-tcp");
    let pcap = dir.join("export-tcp.pcap");
    write_tcp_pcap(&pcap, &streams, PORT, t);
    let decode = format!("tcp.port=={PORT},cflow");
    let tshark = |args: &[&str]| -> String {
        let o = Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args(["-d", &decode])
            .args(["-o", "tcp.desegment_tcp_streams:TRUE"])
            .args(["-o", "cflow.desegment:TRUE"])
            .args(["-o", "tcp.analyze_sequence_numbers:TRUE"])
            .args(["-o", "tcp.check_checksum:TRUE"])
            .args(["-o", "ip.check_checksum:TRUE"])
            .args(args)
            .output()
            .expect("tshark must be installed (Debian package tshark, scripts/setup.sh)");
        assert!(
            o.status.success(),
            "tshark: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let fields = |filter: &str, fields: &[&str]| -> String {
        let mut a = vec!["-Y", filter, "-T", "fields", "-E", "occurrence=a"];
        for f in fields {
            a.extend(["-e", f]);
        }
        tshark(&a)
    };
    // Every frame checked and good: both checksums, so no segment is
    // dropped from reassembly for a bad one.
    let frames = fields("frame", &["frame.number"]).lines().count();
    let good = fields(
        "tcp.checksum.status == 1 && ip.checksum.status == 1",
        &["frame.number"],
    );
    assert_eq!(good.lines().count(), frames);
    // No malformed packet, no expert warning or error (TCP analysis
    // included: no lost, retransmitted or out-of-order segment).
    let bad = fields(
        "_ws.malformed || _ws.expert.severity >= 0x00600000",
        &["frame.number", "_ws.expert.message"],
    );
    assert!(bad.trim().is_empty(), "tshark complaints:\n{bad}");
    // Every message reassembled and decoded as IPFIX version 10.
    let versions = fields("cflow", &["cflow.version"]);
    let versions: Vec<&str> = versions
        .split([',', '\n'])
        .filter(|v| !v.is_empty())
        .collect();
    assert!(versions.iter().all(|&v| v == "10"), "{versions:?}");
    assert_eq!(versions.len(), messages);
    // Exactly the data records sent: one of each data template.
    let verbose = tshark(&["-Y", "cflow", "-O", "cflow", "-V"]);
    let counts = records_per_set(&verbose);
    for id in 256..=273u16 {
        assert_eq!(counts.get(&id), Some(&1), "records of template {id}");
    }
    let data: usize = (256..=273u16).filter_map(|id| counts.get(&id)).sum();
    assert_eq!(data, data_records);
    // And every RFC 5610 type record, a statistics record per session.
    let types: usize = Stream::ALL
        .into_iter()
        .map(|s| enterprise_elements(s).len())
        .sum();
    assert_eq!(counts.get(&280), Some(&types));
    assert!(counts.get(&281).copied().unwrap_or(0) >= Stream::ALL.len());
    // The counter records of each session's statistics report.
    assert_eq!(
        counts.get(&282),
        Some(&(samples::COUNTERS.len() * Stream::ALL.len()))
    );
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        (256..=273).chain([280, 281, 282]).collect::<Vec<u16>>()
    );
}

/// `ipfixDump` (libfixbuf-tools, installed by `scripts/setup.sh`), or None
/// with a loud line when it is not there.
fn ipfix_dump() -> Option<&'static str> {
    let found = Command::new("ipfixDump")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        eprintln!(
            "SKIPPED: ipfixDump is not installed (apt-get install libfixbuf-tools; scripts/setup.sh does)"
        );
    }
    found.then_some("ipfixDump")
}

/// Runs `ipfixDump --in FILE [--rfc5610]` over `msgs` written as an IPFIX
/// file (messages back to back).
fn ipfix_dump_text(tool: &str, msgs: &[Vec<u8>], rfc5610: bool, tag: &str) -> String {
    let path = std::env::temp_dir().join(format!(
        "mp-export-ipfixdump-{tag}-{}.ipfix",
        std::process::id()
    ));
    std::fs::write(&path, msgs.concat()).unwrap();
    let mut cmd = Command::new(tool);
    cmd.arg("--in").arg(&path);
    if rfc5610 {
        cmd.arg("--rfc5610");
    }
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_file(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{tag}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// libfixbuf learns our elements from the RFC 5610 type records — they carry
/// the units and range fields it requires and come before the first data
/// template — so `ipfixDump --rfc5610` names every enterprise field of every
/// template on first sight (the first template round of a session). Without
/// `--rfc5610` the same fields are `_alienInformationElement`: the names
/// come from our records.
#[test]
fn ipfix_dump_names_our_elements_on_first_sight() {
    let Some(tool) = ipfix_dump() else { return };
    for stream in Stream::ALL {
        let (msgs, records) = stream_messages(stream, now());
        let text = ipfix_dump_text(tool, &msgs, true, stream.name());
        assert!(!text.contains("_alien"), "{}: {text}", stream.name());
        let mut named = 0;
        for line in text.lines().filter(|l| l.contains("ent: 43823")) {
            let (id, name) = line
                .split_once("id:")
                .and_then(|(_, r)| {
                    let mut w = r.split_whitespace();
                    Some((w.next()?.parse::<u16>().ok()?, w.last()?))
                })
                .unwrap();
            let e = metaprobe_ipfix::ie::lookup(id, 43823).unwrap();
            assert_eq!(name, e.name, "{line}");
            named += 1;
        }
        let fields: usize = metaprobe_ipfix::template::all()
            .filter(|t| t.def.stream == stream)
            .map(|t| t.elements().filter(|e| e.is_enterprise()).count())
            .sum();
        let options_fields = metaprobe_ipfix::template::OPTIONS_TEMPLATES
            .iter()
            .flat_map(|o| o.fields)
            .filter(|e| e.is_enterprise())
            .count();
        assert_eq!(
            named,
            fields + options_fields,
            "{}: every enterprise field of every template",
            stream.name()
        );
        // The counter records decode with their names.
        let counter = text
            .lines()
            .find(|l| l.contains("(43823/4001)") && l.contains("tls-malformed"));
        assert!(counter.is_some(), "{text}");
        // The data records decode with the names too.
        let data = text.matches("--- data record").count();
        assert!(data >= records, "{}: {data} records: {text}", stream.name());
        assert!(
            text.contains("(43823/1001)                  TIME_STAMP : "),
            "{text}"
        );
        let plain = ipfix_dump_text(tool, &msgs, false, stream.name());
        assert!(plain.contains("_alienInformationElement"), "{plain}");
    }
}
