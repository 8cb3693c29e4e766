//! Independent decoding: the messages of every template, with a record of
//! each kind, are checked from the outside by
//! - `ipfix_collect.py --strict` (shared/tools), receiving them over UDP on
//!   127.0.0.1: no violation, every kind received;
//! - tshark's IPFIX dissector (`-d udp.port==N,cflow`) on a pcap of the same
//!   messages: no malformed packet, no expert warning or error.
//!
//! The tshark check stands on its own (tshark is installed by
//! `scripts/setup.sh`). The strict collector is an external checker kept
//! beside the repository (`../shared/tools`), so its test is ignored in a
//! plain `cargo test`; `scripts/test.sh` runs it with `--ignored` whenever the
//! checker is there (as in CI), and then its absence fails loudly.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use metaprobe_export::samples;
use metaprobe_export::session::{PushError, Session, SessionConfig};
use metaprobe_export::template::Stream;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn tools() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/tools");
    assert!(
        p.join("ipfix_collect.py").is_file(),
        "the independent checker is missing: {} (clone shared/ beside the repository)",
        p.display()
    );
    p
}

fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// The messages of one stream: its template round, then one record of each
/// of its templates (both families), then a statistics record.
fn stream_messages(stream: Stream, t: u32) -> (Vec<Vec<u8>>, usize) {
    let mut cfg = SessionConfig::udp(stream, 1500, false, 20);
    cfg.observation_domain = 1;
    cfg.exporting_process_id = 4242;
    let mut s = Session::new(cfg).unwrap();
    let mut msgs = Vec::new();
    let mut buf = Vec::new();
    let mut records = Vec::new();
    samples::for_each_encoded(t, s.max_record_len(), |tpl, rec| {
        if tpl.def.stream == stream {
            records.push((tpl.id(), rec));
        }
    });
    for (id, rec) in &records {
        loop {
            match s.push_record(t, *id, rec) {
                Ok(()) => break,
                Err(PushError::Blocked) => {
                    s.poll_transmit(t, &mut buf).unwrap();
                    msgs.push(buf.clone());
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
    s.report_reliability();
    s.flush();
    while s.poll_transmit(t, &mut buf).is_some() {
        msgs.push(buf.clone());
    }
    (msgs, records.len())
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
    let tools = tools();
    let dir = std::env::temp_dir().join(format!("mp-export-indep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ready = dir.join("ready.json");
    let summary = dir.join("summary.json");
    let out = dir.join("records.jsonl");
    let _ = std::fs::remove_file(&ready);
    let child = Command::new("python3")
        .arg(tools.join("ipfix_collect.py"))
        .args(["--udp", "127.0.0.1:0", "--idle", "2", "--strict"])
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
    let port = loop {
        let text = std::fs::read_to_string(&ready).unwrap_or_default();
        let port = text.split_once("\"127.0.0.1\", ").and_then(|(_, rest)| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<u16>().ok()
        });
        if let Some(p) = port.filter(|_| text.contains('}')) {
            break p;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "collector did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
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
    let output = child.wait_with_output().unwrap();
    let sum = std::fs::read_to_string(&summary).unwrap_or_default();
    assert!(
        output.status.success(),
        "strict collector failed: {}\n{}",
        sum,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(sum.contains("\"violations\": {}"), "violations: {sum}");
    let lines = std::fs::read_to_string(&out).unwrap();
    let data: Vec<&str> = lines
        .lines()
        .filter(|l| !l.contains("\"options\": true") && !l.contains("\"options\":true"))
        .collect();
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
    if std::env::var_os("KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Ethernet/IPv4/UDP around each message, in a classic pcap file.
fn write_pcap(path: &Path, packets: &[(u16, &[u8])], dport: u16, t: u32) {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
    for (i, (sport, msg)) in packets.iter().enumerate() {
        let udp_len = 8 + msg.len();
        let ip_len = 20 + udp_len;
        let mut p = Vec::with_capacity(14 + ip_len);
        p.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        let mut sum: u32 = ip
            .chunks(2)
            .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        p.extend_from_slice(&ip);
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&(udp_len as u16).to_be_bytes());
        p.extend_from_slice(&[0, 0]); // no UDP checksum (IPv4)
        p.extend_from_slice(msg);
        f.extend_from_slice(&t.to_le_bytes());
        f.extend_from_slice(&(i as u32).to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(&p);
    }
    std::fs::write(path, f).unwrap();
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
    let dir = std::env::temp_dir().join(format!("mp-export-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("export.pcap");
    write_pcap(&pcap, &packets, 4739, t);
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
    // The data templates' ids all appear, every data record decoded.
    let ids = run("cflow.template_id", &["cflow.template_id"]);
    for id in 256..=273u16 {
        assert!(
            ids.split(|c: char| !c.is_ascii_digit())
                .any(|x| x == id.to_string()),
            "template {id}"
        );
    }
    if std::env::var_os("KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The port after `"KEY": [["127.0.0.1", ` in the collector's ready file.
fn ready_port(text: &str, key: &str) -> Option<u16> {
    let pat = format!("\"{key}\": [[\"127.0.0.1\", ");
    let (_, rest) = text.split_once(&pat)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The whole pipeline (worker ring → exporter → UDP and TCP sockets) into
/// the strict collector: every stream to a UDP and a TCP collector at once,
/// a record of every kind, no violation, each record received twice.
#[test]
#[ignore = "needs ../shared/tools/ipfix_collect.py; scripts/test.sh runs it when present"]
fn strict_collector_sees_no_violation_over_udp_and_tcp() {
    use metaprobe_export::exporter::{Exporter, ExporterConfig, SystemClock};
    use metaprobe_export::session::Transport;
    let tools = tools();
    let dir = std::env::temp_dir().join(format!("mp-export-indep-tcp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ready = dir.join("ready.json");
    let summary = dir.join("summary.json");
    let out = dir.join("records.jsonl");
    let _ = std::fs::remove_file(&ready);
    let child = Command::new("python3")
        .arg(tools.join("ipfix_collect.py"))
        .args([
            "--udp",
            "127.0.0.1:0",
            "--tcp",
            "127.0.0.1:0",
            "--idle",
            "2",
            "--strict",
        ])
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
        let text = std::fs::read_to_string(&ready).unwrap_or_default();
        if let (Some(u), Some(t)) = (ready_port(&text, "udp"), ready_port(&text, "tcp")) {
            break (u, t);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "collector did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut cfg = ExporterConfig::new(&dir);
    cfg.domain_id = 1;
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
    let output = child.wait_with_output().unwrap();
    drop(ex);
    let sum = std::fs::read_to_string(&summary).unwrap_or_default();
    assert!(
        output.status.success(),
        "strict collector failed: {}\n{}",
        sum,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(sum.contains("\"violations\": {}"), "violations: {sum}");
    let lines = std::fs::read_to_string(&out).unwrap();
    let data: Vec<&str> = lines
        .lines()
        .filter(|l| !l.contains("\"options\": true") && !l.contains("\"options\":true"))
        .collect();
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
    if std::env::var_os("KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
