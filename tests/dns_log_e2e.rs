//! End to end, the DNS text log (`ajb_save_dns = 1`, spec §8) against the IPFIX dns stream
//! of the same run: the real binary — EAL with `--no-huge --no-pci`, a bridge of two
//! `net_pcap` ports, a corpus DNS capture on port 0 (the subscriber side), an empty capture
//! on port 1 — exports the dns stream over UDP to a socket this test owns (decoded
//! in-process with `metaprobe_ipfix::collect`, sequence numbers checked) and writes the log
//! under the test's directory.
//!
//! * Every DNS capture of `records_e2e` (UDP, TCP, 802.1Q, QinQ + PPPoE, IP fragments, and
//!   the DNS lookups of a TLS capture), default `ajb_save_dns_format`: as many lines as
//!   records, in the same order, and per line every one of the 14 fields equal to the
//!   record's value as the log renders it. The rendering is this test's own
//!   ([`rdata_text`], [`escaped`]), written from the documented rules, not the exporter's
//!   `dns_text`: TAB between fields (`dnslog::SEPARATOR`), `udp`/`tcp`, octets outside
//!   `!`..`~` and `\` escaped as `\DDD`/`\\` in login and host, RDATA as A/AAAA addresses,
//!   names dotted with the other fields of SOA, MX, SRV, … in decimal, anything else
//!   lowercase hex.
//! * Custom formats give exactly their columns, in their order.
//! * Rotation by size (`ajb_dns_fsize = "2K"`): several files, the closed ones named
//!   `<path>.<YYYYMMDD-HHMMSS>` (UTC, within the run) and `.1`, `.2`, … when the name is
//!   taken; each closed file reached the limit by its last line; all files together, in
//!   name order, are the IPFIX records exactly (none lost, none duplicated). Files already
//!   there under every name the run could pick are left untouched.
//! * Rotation by time (`ajb_dns_ftimeout`, minutes) is not run here: the binary runs the
//!   exporter on the system clock (`SystemClock` in `src/run.rs`) and has no hook for
//!   time, so it would take over a minute per run. It is covered with a test clock by
//!   `export/tests/dnslog.rs` (`rotation_by_time_only_when_non_empty`,
//!   `ftimeout_zero_rotates_by_size_only`, `a_failed_time_rotation_does_not_lose_the_line`)
//!   and `export/tests/dnslog_exporter.rs` (`the_exporter_polls_time_rotation`: the
//!   exporter's own poll closes and renames an idle file after `ftimeout`).
//! * An unwritable `ajb_dns_path` (under `/proc`, which no one can create files in): the
//!   bridge forwards everything byte-identically and exits 0, the IPFIX stream is complete,
//!   `fastdpi_alert.log` has the `[DNSLOG] cannot open …` line, and the final summary's
//!   `final dns log:` line counts every line as dropped.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{
    FinalSummary, Packet, PortCounts, RUN_TIMEOUT, RunOutput, TestDir, assert_same_packets,
    decode_all, dpdk_lock, eal_args, ethernet_frames_of, read_capture, run_args, run_metaprobe,
    toml_string, write_config, write_pcap,
};
use metaprobe_ipfix::collect::render::to_json;
use metaprobe_ipfix::collect::{DecodedRecord, Value};
use metaprobe_test_support::capture::read_frames;
use metaprobe_test_support::fixtures_dir;
use metaprobe_test_support::hex::{hex, unhex};
use metaprobe_test_support::udp::UdpCollector;

/// The DNS captures of `records_e2e`.
const DNS_CAPTURES: [&str; 10] = [
    "dns_udp_a_aaaa_cname_mx_txt_ptr_srv.pcap",
    "dns_udp_cname_chains.pcap",
    "dns_udp_google_a_aaaa_mx.pcap",
    "dns_udp_txt.pcap",
    "vlan_8021q_dns_mx.pcapng",
    "qinq_pppoe_dns.pcapng",
    "dns_tcp_a_with_authority.pcap",
    "dns_tcp_multiple_queries_per_segment.pcap",
    "dns_large_responses_ip_fragmented_v4_v6_and_tcp.pcap",
    "tls13_curl_with_dns.pcap",
];

/// The default `ajb_save_dns_format`.
const DEFAULT_FORMAT: [&str; 14] = [
    "ts",
    "ssid",
    "login",
    "ipsrc",
    "ipdst",
    "psrc",
    "pdst",
    "transport",
    "host",
    "rrtype",
    "rrclass",
    "ttl",
    "rdlen",
    "rdata",
];

/// The capture's packets as Ethernet frames (non-Ethernet link types re-encapsulated).
fn load(name: &str) -> Vec<Packet> {
    let raw = read_frames(&fixtures_dir().join(name));
    assert!(!raw.is_empty(), "{name}: no packets");
    ethernet_frames_of(&raw).0
}

// ---------------------------------------------------------------------------------------
// Collecting: a UDP socket of our own, decoded in-process (as in records_e2e)
// ---------------------------------------------------------------------------------------

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------

/// One run of the binary with the DNS text log on.
struct LogRun {
    dir: TestDir,
    /// `ajb_dns_path`.
    path: PathBuf,
    /// The dns stream's records, in arrival order.
    dns: Vec<DecodedRecord>,
    out: RunOutput,
    /// Wall clock (Unix seconds) around the run.
    window: (u64, u64),
}

/// The numbers of a `final …:` line of stdout: every `word number` pair after the colon.
fn final_line(out: &RunOutput, prefix: &str) -> BTreeMap<String, u64> {
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line on stdout\n{}", out.describe_short()));
    let words: Vec<&str> = line[prefix.len()..]
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter_map(|w| Some((w[0].to_string(), w[1].parse().ok()?)))
        .collect()
}

fn counts(out: &RunOutput, prefix: &str, keys: &[&str]) -> Vec<u64> {
    let m = final_line(out, prefix);
    keys.iter()
        .map(|k| {
            *m.get(*k).unwrap_or_else(|| {
                panic!("{prefix:?}: no {k:?} in {m:?}\n{}", out.describe_short())
            })
        })
        .collect()
}

/// Feeds `frames` into port 0 of a bridge (port 1 gets an empty capture), the dns stream
/// to a UDP collector of ours, the text log at `path` (`dir/dns.log` unless given) with
/// `extra` configuration lines. `prepare` runs on the test directory before the start.
/// Checks that the run exited 0, that the frames crossed unchanged, with no loss on any
/// port, and that every dns record produced was exported and received.
fn run_with_log(
    tag: &str,
    frames: &[Packet],
    path: Option<&Path>,
    extra: &str,
    prepare: impl FnOnce(&TestDir, &Path),
) -> LogRun {
    let dir = TestDir::new(tag);
    let path = path.map_or_else(|| dir.join("dns.log"), Path::to_path_buf);
    let (in0, in1) = (dir.join("in0.pcap"), dir.join("in1.pcap"));
    let (out0, out1) = (dir.join("out0.pcap"), dir.join("out1.pcap"));
    write_pcap(&in0, frames);
    write_pcap(&in1, &[]);
    prepare(&dir, &path);
    let dns = UdpCollector::start();
    let extra = format!(
        "ipfix_dns_udp_collectors = [\"{}\"]\nipfix_mtu = 9216\najb_save_dns = 1\n\
         ajb_dns_path = {}\n{extra}",
        dns.addr,
        toml_string(&path.to_string_lossy())
    );
    let config = write_config(&dir, 0, 1, &extra);
    let args = run_args(&config, eal_args(&dir, &in0, &out0, &in1, &out1));
    let (out, window) = {
        let _guard = dpdk_lock();
        let t0 = now_unix();
        let out = run_metaprobe(&args, RUN_TIMEOUT);
        (out, (t0, now_unix()))
    };
    let dns = dns.finish();
    out.assert_success();
    assert_same_packets(
        &format!("{tag}: port 0 -> port 1"),
        frames,
        &read_capture(&out1),
        &out,
    );
    assert_same_packets(
        &format!("{tag}: port 1 -> port 0"),
        &[],
        &read_capture(&out0),
        &out,
    );
    let n = frames.len() as u64;
    FinalSummary::parse(&out.stdout)
        .and_then(|s| {
            s.check_ports(&[
                PortCounts::new(0, "net_pcap0", n, 0),
                PortCounts::new(1, "net_pcap1", 0, n),
            ])
        })
        .unwrap_or_else(|e| panic!("{tag}: {e}\n{}", out.describe_short()));
    let (dns, problems) = decode_all(&dns);
    assert!(
        problems.is_empty(),
        "{tag}: collector problems: {problems:?}\n{}",
        out.describe_short()
    );
    assert!(
        dns.iter()
            .all(|r| matches!(r.kind.as_deref(), Some("dns" | "dns_v6"))),
        "{tag}: a record of another kind on the dns stream"
    );
    let got = dns.len() as u64;
    assert_eq!(
        counts(
            &out,
            "final export dns:",
            &["produced", "exported", "dropped"]
        ),
        [got, got, 0],
        "{tag}: dns produced/exported/dropped vs records received\n{}",
        out.describe_short()
    );
    LogRun {
        dir,
        path,
        dns,
        out,
        window,
    }
}

/// `final dns log:` as (lines, dropped, rotations, errors).
fn log_totals(out: &RunOutput) -> (u64, u64, u64, u64) {
    let v = counts(
        out,
        "final dns log:",
        &["lines", "dropped", "rotations", "errors"],
    );
    (v[0], v[1], v[2], v[3])
}

// ---------------------------------------------------------------------------------------
// The log's rendering, written from the documented rules
// ---------------------------------------------------------------------------------------

/// Octets outside `!`..`~` as `\DDD`, `\` as `\\` (login, host).
fn escaped(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'!'..=b'~' => s.push(char::from(b)),
            _ => {
                let _ = write!(s, "\\{b:03}");
            }
        }
    }
    s
}

/// A label octet inside RDATA: `.` and `\` escaped with a backslash, octets outside
/// `!`..`~` as `\DDD`.
fn label_octet(b: u8, s: &mut String) {
    match b {
        b'.' | b'\\' => {
            s.push('\\');
            s.push(char::from(b));
        }
        b'!'..=b'~' => s.push(char::from(b)),
        _ => {
            let _ = write!(s, "\\{b:03}");
        }
    }
}

/// One piece of the RDATA of a type that holds names.
#[derive(Clone, Copy)]
enum Piece {
    /// Octets as decimal numbers of this width (2, or 4 for SOA), this many in all.
    Num(usize, usize),
    Name,
    CharString,
}

/// RFC 1035 §3.3 and the name-holding types decoders meet compressed (RFC 3597 §4, SRV,
/// NAPTR, DNAME, KX, PX).
fn layout(rrtype: u16) -> Option<Vec<Piece>> {
    use Piece::{CharString, Name, Num};
    Some(match rrtype {
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => vec![Name],
        6 => vec![Name, Name, Num(4, 20)],
        14 | 17 => vec![Name, Name],
        15 | 18 | 21 | 36 => vec![Num(2, 2), Name],
        26 => vec![Num(2, 2), Name, Name],
        33 => vec![Num(2, 6), Name],
        35 => vec![Num(2, 4), CharString, CharString, CharString, Name],
        _ => return None,
    })
}

/// An uncompressed wire name at the start of `b`, dotted (`.` for the root), and what
/// follows it; `None` when it is not one.
fn wire_name(mut b: &[u8]) -> Option<(String, &[u8])> {
    let mut s = String::new();
    loop {
        let (&n, rest) = b.split_first()?;
        if n == 0 {
            if s.is_empty() {
                s.push('.');
            }
            return Some((s, rest));
        }
        if n > 63 || rest.len() < usize::from(n) {
            return None;
        }
        if !s.is_empty() {
            s.push('.');
        }
        let (label, rest) = rest.split_at(usize::from(n));
        for &c in label {
            label_octet(c, &mut s);
        }
        b = rest;
    }
}

fn render_layout(pieces: &[Piece], mut b: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    for p in pieces {
        match *p {
            Piece::Num(width, total) => {
                if b.len() < total {
                    return None;
                }
                let (num, rest) = b.split_at(total);
                for c in num.chunks(width) {
                    parts.push(
                        c.iter()
                            .fold(0u64, |v, &x| v << 8 | u64::from(x))
                            .to_string(),
                    );
                }
                b = rest;
            }
            Piece::Name => {
                let (name, rest) = wire_name(b)?;
                parts.push(name);
                b = rest;
            }
            Piece::CharString => {
                let (&n, rest) = b.split_first()?;
                if rest.len() < usize::from(n) {
                    return None;
                }
                let (text, rest) = rest.split_at(usize::from(n));
                let mut s = String::from("\"");
                for &c in text {
                    match c {
                        b'"' | b'\\' => {
                            s.push('\\');
                            s.push(char::from(c));
                        }
                        b' '..=b'~' => s.push(char::from(c)),
                        _ => {
                            let _ = write!(s, "\\{c:03}");
                        }
                    }
                }
                s.push('"');
                parts.push(s);
                b = rest;
            }
        }
    }
    b.is_empty().then(|| parts.join(" "))
}

/// RDATA as the log writes it: A and AAAA as addresses, types with names as their fields
/// (names dotted, numbers in decimal, space-separated), the rest — or RDATA that does not
/// follow its type's layout — lowercase hex.
fn rdata_text(rrtype: u16, rdata: &[u8]) -> String {
    if let (1, Ok(a)) = (rrtype, <[u8; 4]>::try_from(rdata)) {
        return Ipv4Addr::from(a).to_string();
    }
    if let (28, Ok(a)) = (rrtype, <[u8; 16]>::try_from(rdata)) {
        return Ipv6Addr::from(a).to_string();
    }
    layout(rrtype)
        .and_then(|l| render_layout(&l, rdata))
        .unwrap_or_else(|| hex(rdata))
}

fn unsigned(r: &DecodedRecord, name: &str) -> u64 {
    match r.get(name) {
        Some(Value::Unsigned(n)) => *n,
        v => panic!("{name}: {v:?} in {}", to_json(r)),
    }
}

fn text_of(r: &DecodedRecord, name: &str) -> Vec<u8> {
    match r.get(name) {
        Some(Value::Str(s)) => s.as_bytes().to_vec(),
        Some(Value::Bytes(b)) => b.clone(),
        v => panic!("{name}: {v:?} in {}", to_json(r)),
    }
}

fn address(r: &DecodedRecord, v4: &str, v6: &str) -> String {
    match (r.get(v4), r.get(v6)) {
        (Some(Value::Ipv4(a)), None) => a.to_string(),
        (None, Some(Value::Ipv6(a))) => a.to_string(),
        v => panic!("{v4}/{v6}: {v:?} in {}", to_json(r)),
    }
}

fn rdata_of(r: &DecodedRecord) -> Vec<u8> {
    match r.get("RDATA") {
        Some(Value::Bytes(b)) => b.clone(),
        v => panic!("RDATA: {v:?} in {}", to_json(r)),
    }
}

/// The value of one log field for an IPFIX record, rendered as the log renders it.
fn field_text(r: &DecodedRecord, field: &str) -> String {
    match field {
        "ts" => unsigned(r, "TIME_STAMP").to_string(),
        "ssid" => unsigned(r, "SESSION_ID").to_string(),
        "login" => escaped(&text_of(r, "LOGIN")),
        "ipsrc" => address(r, "IP_SOURCE", "IP_SOURCE_V6"),
        "ipdst" => address(r, "IP_DESTINATION", "IP_DESTINATION_V6"),
        "psrc" => unsigned(r, "PORT_SOURCE").to_string(),
        "pdst" => unsigned(r, "PORT_DESTINATION").to_string(),
        "transport" => match unsigned(r, "TRANSPORT") {
            0 => "udp".into(),
            1 => "tcp".into(),
            t => panic!("TRANSPORT {t} in {}", to_json(r)),
        },
        "host" => escaped(&text_of(r, "DOMAIN")),
        "rrtype" => unsigned(r, "RRTYPE").to_string(),
        "rrclass" => unsigned(r, "RRCLASS").to_string(),
        "ttl" => unsigned(r, "TTL").to_string(),
        "rdlen" => rdata_of(r).len().to_string(),
        "rdata" => rdata_text(unsigned(r, "RRTYPE") as u16, &rdata_of(r)),
        f => panic!("unknown log field {f}"),
    }
}

/// Lines of a log file's text: every line ends with `\n`, none is empty.
fn lines_of(what: &str, text: &str) -> Vec<String> {
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{what}: the last line is not terminated"
    );
    text.lines().map(str::to_string).collect()
}

/// The log's lines agree with the records: same count, and line by line every field of
/// `format` (TAB-separated, nothing else on the line) is the record's value. Returns the
/// differences, empty when they agree.
fn compare_lines(lines: &[String], records: &[DecodedRecord], format: &[&str]) -> Vec<String> {
    let mut diffs = Vec::new();
    if lines.len() != records.len() {
        diffs.push(format!(
            "{} log lines for {} IPFIX records",
            lines.len(),
            records.len()
        ));
    }
    for (i, (line, r)) in lines.iter().zip(records).enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() != format.len() {
            diffs.push(format!(
                "line {}: {} columns, format {format:?} has {}: {line:?}",
                i + 1,
                cols.len(),
                format.len()
            ));
            continue;
        }
        for (f, got) in format.iter().zip(&cols) {
            let want = field_text(r, f);
            if *got != want {
                diffs.push(format!(
                    "line {} field {f}: log {got:?}, IPFIX {want:?} (record {})",
                    i + 1,
                    to_json(r)
                ));
            }
        }
    }
    diffs
}

fn read_text(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------
// 1. Log and IPFIX agree, record for record
// ---------------------------------------------------------------------------------------

/// Every DNS capture, default format: one file (nothing rotated), as many lines as IPFIX
/// records, field for field equal, in order. Over all captures every rendering of RDATA
/// is met: addresses (v4 and v6), names, hex, empty (responses without answers), and both
/// transports and address families.
#[test]
fn log_agrees_with_ipfix_record_for_record() {
    let mut rendered: BTreeSet<&str> = BTreeSet::new();
    let mut failures = Vec::new();
    let mut total = 0;
    for name in DNS_CAPTURES {
        let frames = load(name);
        let tag = format!("log-{}", name.split('.').next().unwrap());
        let run = run_with_log(&tag, &frames, None, "", |_, _| {});
        let n = run.dns.len() as u64;
        assert!(
            n > 0,
            "{name}: no dns records\n{}",
            run.out.describe_short()
        );
        total += n;
        assert_eq!(
            log_totals(&run.out),
            (n, 0, 0, 0),
            "{name}: final dns log (lines, dropped, rotations, errors)\n{}",
            run.out.describe_short()
        );
        let names: Vec<String> = fs::read_dir(run.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.starts_with("dns.log"))
            .collect();
        assert_eq!(names, ["dns.log"], "{name}: log files");
        let alerts = fs::read_to_string(run.dir.join("log/fastdpi_alert.log")).unwrap_or_default();
        assert!(
            !alerts.contains("[DNSLOG]"),
            "{name}: DNS log alerts: {alerts}"
        );
        let lines = lines_of(name, &read_text(&run.path));
        eprintln!("{name}: {n} records, {} log lines", lines.len());
        let diffs = compare_lines(&lines, &run.dns, &DEFAULT_FORMAT);
        if !diffs.is_empty() {
            failures.push(format!(
                "{name}: {} differences:\n  {}",
                diffs.len(),
                diffs
                    .iter()
                    .take(20)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n  ")
            ));
        }
        for r in &run.dns {
            let t = unsigned(r, "RRTYPE") as u16;
            let rd = rdata_of(r);
            let text = rdata_text(t, &rd);
            rendered.insert(match t {
                _ if rd.is_empty() => "empty",
                1 if rd.len() == 4 => "ipv4",
                28 if rd.len() == 16 => "ipv6",
                _ if text != hex(&rd) => "fields",
                _ => "hex",
            });
            rendered.insert(match unsigned(r, "TRANSPORT") {
                0 => "udp",
                _ => "tcp",
            });
            rendered.insert(if r.get("IP_SOURCE_V6").is_some() {
                "v6 template"
            } else {
                "v4 template"
            });
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        rendered,
        BTreeSet::from([
            "empty",
            "fields",
            "hex",
            "ipv4",
            "ipv6",
            "tcp",
            "udp",
            "v4 template",
            "v6 template"
        ])
    );
    assert!(total >= 150, "{total} records in all");
}

/// Custom formats: exactly their columns, in their order (one over UDP, one over TCP and
/// IPv6).
#[test]
fn custom_format_gives_exactly_its_columns() {
    for (tag, capture, format) in [
        (
            "fmt-host-rrtype-rdata",
            "dns_udp_a_aaaa_cname_mx_txt_ptr_srv.pcap",
            &["host", "rrtype", "rdata"][..],
        ),
        (
            "fmt-reordered",
            "dns_large_responses_ip_fragmented_v4_v6_and_tcp.pcap",
            &["rdata", "transport", "ipdst", "ts", "rdlen", "host"][..],
        ),
    ] {
        let frames = load(capture);
        let extra = format!("ajb_save_dns_format = {}\n", toml_string(&format.join(":")));
        let run = run_with_log(tag, &frames, None, &extra, |_, _| {});
        let n = run.dns.len() as u64;
        assert!(n > 0, "{tag}: no dns records");
        assert_eq!(log_totals(&run.out), (n, 0, 0, 0), "{tag}");
        let lines = lines_of(tag, &read_text(&run.path));
        let diffs = compare_lines(&lines, &run.dns, format);
        assert!(diffs.is_empty(), "{tag}:\n  {}", diffs.join("\n  "));
    }
}

// ---------------------------------------------------------------------------------------
// 2. Rotation by size
// ---------------------------------------------------------------------------------------

/// `YYYYMMDD-HHMMSS` (UTC) as Unix seconds; `None` when it is not one.
fn suffix_secs(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 15
        || b[8] != b'-'
        || !s[..8]
            .bytes()
            .chain(s[9..].bytes())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
    let (y, mo, d) = (n(0..4), n(4..6), n(6..8));
    let (h, mi, sec) = (n(9..11), n(11..13), n(13..15));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    // Days from 1970-01-01 (H. Hinnant's days_from_civil).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + sec).ok()
}

/// Unix seconds as `YYYYMMDD-HHMMSS` (UTC); checked against [`suffix_secs`].
fn suffix_of(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil from days (H. Hinnant).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let s = format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    assert_eq!(suffix_secs(&s), Some(secs), "date conversions disagree");
    s
}

/// One file of the log: `dns.log` (the current one) or a closed one.
#[derive(Debug)]
struct LogFile {
    name: String,
    /// (time suffix as Unix seconds, collision number: 0 for none); `None` for the current
    /// file.
    rotated: Option<(u64, u32)>,
    text: String,
}

/// Every file of the log at `path` (named `path`, `path.<suffix>` or `path.<suffix>.N`),
/// closed ones in the order they were closed, then the current one; `skip` names are left
/// out. Fails on any other file starting with the log's name.
fn log_files(path: &Path, skip: &BTreeSet<String>) -> Vec<LogFile> {
    let dir = path.parent().unwrap();
    let base = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if !name.starts_with(&base) || skip.contains(&name) {
            continue;
        }
        let rotated = if name == base {
            None
        } else {
            let rest = name
                .strip_prefix(&format!("{base}."))
                .unwrap_or_else(|| panic!("unexpected file {name}"));
            let (suffix, n) = match rest.split_once('.') {
                Some((s, n)) => {
                    let n: u32 = n
                        .parse()
                        .unwrap_or_else(|_| panic!("unexpected file {name}"));
                    assert!(n >= 1, "collision number {n} in {name}");
                    (s, n)
                }
                None => (rest, 0),
            };
            let secs = suffix_secs(suffix).unwrap_or_else(|| panic!("{name}: not a time suffix"));
            Some((secs, n))
        };
        out.push(LogFile {
            text: read_text(&dir.join(&name)),
            name,
            rotated,
        });
    }
    // Closed files by (time, collision number); the current file last.
    out.sort_by_key(|f| f.rotated.map_or((u64::MAX, u32::MAX), |r| r));
    out
}

/// Checks the files of a run rotated by size at `fsize` octets: each closed file reached
/// `fsize` with its last line (and not before), the current one is below it, the time
/// suffixes lie within the run, and all lines together are the IPFIX records. Returns
/// the files.
fn check_rotated(run: &LogRun, fsize: usize, skip: &BTreeSet<String>) -> Vec<LogFile> {
    let files = log_files(&run.path, skip);
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    eprintln!("{} records, files {names:?}", run.dns.len());
    let closed = files.iter().filter(|f| f.rotated.is_some()).count() as u64;
    let n = run.dns.len() as u64;
    assert_eq!(
        log_totals(&run.out),
        (n, 0, closed, 0),
        "final dns log (lines, dropped, rotations, errors); files {names:?}\n{}",
        run.out.describe_short()
    );
    assert!(closed >= 3, "only {closed} rotations: {names:?}");
    let (t0, t1) = run.window;
    for f in &files {
        let lines = lines_of(&f.name, &f.text);
        assert!(!lines.is_empty(), "{}: empty file", f.name);
        match f.rotated {
            Some((secs, _)) => {
                assert!(
                    (t0..=t1).contains(&secs),
                    "{}: time suffix {secs} outside the run {t0}..={t1}",
                    f.name
                );
                let last = lines.last().unwrap().len() + 1;
                assert!(
                    f.text.len() >= fsize && f.text.len() - last < fsize,
                    "{}: {} octets, last line {last}: should reach {fsize} with its last line",
                    f.name,
                    f.text.len()
                );
            }
            None => assert!(
                f.text.len() < fsize,
                "{}: the current file has {} octets, at least {fsize}",
                f.name,
                f.text.len()
            ),
        }
    }
    let all: Vec<String> = files
        .iter()
        .flat_map(|f| lines_of(&f.name, &f.text))
        .collect();
    let diffs = compare_lines(&all, &run.dns, &DEFAULT_FORMAT);
    assert!(
        diffs.is_empty(),
        "all files {names:?} together vs IPFIX:\n  {}",
        diffs.join("\n  ")
    );
    files
}

const ROTATION_CAPTURE: &str = "dns_large_responses_ip_fragmented_v4_v6_and_tcp.pcap";

/// `ajb_dns_fsize = "2K"`: several files; closed ones named with the UTC time of their
/// first line, `.1`, `.2`, … for the files closed within the same second; nothing lost or
/// duplicated.
#[test]
fn rotation_by_size_through_the_binary() {
    let fsize = 2048;
    let frames = load(ROTATION_CAPTURE);
    let run = run_with_log(
        "rot-size",
        &frames,
        None,
        "ajb_dns_fsize = \"2K\"\n",
        |_, _| {},
    );
    let files = check_rotated(&run, fsize, &BTreeSet::new());
    // Per time suffix: the plain name first, then .1, .2, … with no gap.
    let mut per_second: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for f in &files {
        if let Some((secs, n)) = f.rotated {
            per_second.entry(secs).or_default().push(n);
        }
    }
    for (secs, ns) in &per_second {
        let want: Vec<u32> = (0..ns.len() as u32).collect();
        assert_eq!(ns, &want, "collision numbers of second {secs}");
    }
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert!(
        per_second.values().any(|ns| ns.len() > 1),
        "no two files closed within one second, so no `.1` name was exercised: {names:?}"
    );
}

/// Files already present under every name the run could give a closed file (each second
/// of the run's possible span) are not overwritten: the closed files get `.1`, `.2`, ….
#[test]
fn rotation_never_overwrites_an_existing_file() {
    let fsize = 2048;
    let frames = load(ROTATION_CAPTURE);
    let start = now_unix();
    let span = start - 2..=start + RUN_TIMEOUT.as_secs() + 60;
    let mut sentinels: BTreeMap<String, String> = BTreeMap::new();
    let run = run_with_log(
        "rot-keep",
        &frames,
        None,
        "ajb_dns_fsize = \"2K\"\n",
        |_, path| {
            for secs in span.clone() {
                let mut name = path.as_os_str().to_owned();
                name.push(format!(".{}", suffix_of(secs)));
                let p = PathBuf::from(name);
                let text = format!("sentinel {secs}\n");
                fs::write(&p, &text).unwrap();
                sentinels.insert(p.file_name().unwrap().to_string_lossy().into_owned(), text);
            }
        },
    );
    assert!(span.contains(&run.window.1), "run outlasted the sentinels");
    for (name, text) in &sentinels {
        let got = fs::read_to_string(run.dir.join(name)).unwrap_or_default();
        assert_eq!(&got, text, "{name} was changed");
    }
    let skip: BTreeSet<String> = sentinels.keys().cloned().collect();
    let files = check_rotated(&run, fsize, &skip);
    for f in &files {
        if let Some((_, n)) = f.rotated {
            assert!(n >= 1, "{}: the taken name was reused", f.name);
        }
    }
}

// ---------------------------------------------------------------------------------------
// 3. An unwritable path
// ---------------------------------------------------------------------------------------

/// `ajb_dns_path` under `/proc` (a directory that does not exist and cannot be created):
/// the bridge forwards everything unchanged, exits 0, exports the whole dns stream; the
/// alert log has the log's error line and the final summary counts every line dropped.
#[test]
fn unwritable_path_drops_lines_and_alerts_but_bridges() {
    let frames = load(ROTATION_CAPTURE);
    let path = PathBuf::from(format!(
        "/proc/metaprobe-dnslog-{}/dns.log",
        std::process::id()
    ));
    let run = run_with_log("unwritable", &frames, Some(&path), "", |_, _| {});
    let n = run.dns.len() as u64;
    assert!(n > 0);
    let (lines, dropped, rotations, errors) = log_totals(&run.out);
    assert_eq!(
        (lines, dropped, rotations),
        (0, n, 0),
        "final dns log (lines, dropped, rotations)\n{}",
        run.out.describe_short()
    );
    assert!(errors >= 1, "final dns log: errors {errors}");
    assert!(!path.exists());
    let alert_path = run.dir.join("log/fastdpi_alert.log");
    let alerts = fs::read_to_string(&alert_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\n{}",
            alert_path.display(),
            run.out.describe_short()
        )
    });
    let dns_alerts: Vec<&str> = alerts
        .lines()
        .filter(|l| l.starts_with("[DNSLOG]"))
        .collect();
    let prefix = format!("[DNSLOG] cannot open {}: ", path.display());
    assert!(
        !dns_alerts.is_empty() && dns_alerts.iter().all(|l| l.starts_with(&prefix)),
        "alert lines should start with {prefix:?}:\n{alerts}"
    );
    // Each line counts the lines dropped since the previous one: one failure
    // "(K lines dropped)", several "…; E failures, K lines dropped since the last report".
    let reported: u64 = dns_alerts
        .iter()
        .map(|l| {
            let number_before = |marker: &str| -> Option<u64> {
                let head = &l[..l.find(marker)?];
                head.rsplit(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            };
            number_before(" lines dropped since the last report")
                .or_else(|| number_before(" lines dropped)"))
                .unwrap_or_else(|| panic!("no dropped count in {l:?}"))
        })
        .sum();
    eprintln!("{n} records; alerts {dns_alerts:#?}");
    assert_eq!(reported, n, "dropped lines reported in {dns_alerts:#?}");
}

// ---------------------------------------------------------------------------------------
// The test's own oracle
// ---------------------------------------------------------------------------------------

/// The renderer on real RDATA (the vectors of the dataplane's and the exporter's unit
/// tests, whose expected text is the documented one) and the time suffix on known dates.
#[test]
fn oracle_renders_as_documented() {
    assert_eq!(rdata_text(1, &unhex("cc98be0c")), "204.152.190.12");
    assert_eq!(
        rdata_text(28, &unhex("200104f80004000702e081fffe529a6b")),
        "2001:4f8:4:7:2e0:81ff:fe52:9a6b"
    );
    assert_eq!(rdata_text(1, &[1, 2, 3]), "010203");
    assert_eq!(
        rdata_text(5, &unhex("03777777016c06676f6f676c6503636f6d00")),
        "www.l.google.com"
    );
    assert_eq!(
        rdata_text(15, &unhex("000a 05736d747035 06676f6f676c65 03636f6d 00")),
        "10 smtp5.google.com"
    );
    assert_eq!(
        rdata_text(
            6,
            &unhex(
                "076e73312d323035 09617a7572652d646e73 03636f6d 00
                 13617a757265646e732d686f73746d6173746572 096d6963726f736f6674 03636f6d 00
                 00000001 00000e10 0000012c 0024ea00 0000012c"
            )
        ),
        "ns1-205.azure-dns.com azuredns-hostmaster.microsoft.com 1 3600 300 2419200 300"
    );
    assert_eq!(
        rdata_text(
            33,
            &unhex("0000 0005 13c4 03736970 076578616d706c65 03636f6d 00")
        ),
        "0 5 5060 sip.example.com"
    );
    assert_eq!(
        rdata_text(16, &unhex("0f763d7370663120707472203f616c6c")),
        "0f763d7370663120707472203f616c6c"
    );
    assert_eq!(rdata_text(5, &unhex("03 612e62 00")), "a\\.b");
    assert_eq!(rdata_text(5, &unhex("00")), ".");
    assert_eq!(rdata_text(5, &unhex("03 6162")), "036162");
    assert_eq!(rdata_text(5, &unhex("01 61 00 ff")), "016100ff");
    assert_eq!(rdata_text(5, &unhex("40 00")), "4000");
    assert_eq!(
        rdata_text(35, &unhex("0064 000a 0155 07452e3249552b73 00 01 61 00")),
        "100 10 \"U\" \"E.2IU+s\" \"\" a"
    );
    assert_eq!(rdata_text(1, &[]), "");
    assert_eq!(escaped(b"a b\t\\\xff."), "a\\032b\\009\\\\\\255.");
    assert_eq!(suffix_secs("20231114-221320"), Some(1_700_000_000));
    assert_eq!(suffix_of(0), "19700101-000000");
    assert_eq!(suffix_of(951_782_400), "20000229-000000");
    assert_eq!(suffix_secs("20231114-2213"), None);
    assert_eq!(suffix_secs("20231314-221320"), None);
}

/// The comparison finds a wrong value, a missing or extra column, and a missing line.
#[test]
fn comparison_finds_differences() {
    let r = DecodedRecord {
        odid: 0,
        seq: 0,
        export_time: 0,
        template_id: 272,
        kind: Some("dns".into()),
        options: false,
        fields: vec![
            ("TIME_STAMP".into(), Value::Unsigned(7)),
            ("LOGIN".into(), Value::Str(String::new())),
            ("IP_SOURCE".into(), Value::Ipv4(Ipv4Addr::new(10, 0, 0, 1))),
            (
                "IP_DESTINATION".into(),
                Value::Ipv4(Ipv4Addr::new(10, 0, 0, 2)),
            ),
            ("PORT_SOURCE".into(), Value::Unsigned(53)),
            ("PORT_DESTINATION".into(), Value::Unsigned(40000)),
            ("SESSION_ID".into(), Value::Unsigned(9)),
            ("TRANSPORT".into(), Value::Unsigned(1)),
            ("DOMAIN".into(), Value::Str("a b.example".into())),
            ("RRCLASS".into(), Value::Unsigned(1)),
            ("RRTYPE".into(), Value::Unsigned(1)),
            ("TTL".into(), Value::Unsigned(60)),
            ("RDATA".into(), Value::Bytes(vec![192, 0, 2, 1])),
        ],
    };
    let good =
        "7\t9\t\t10.0.0.1\t10.0.0.2\t53\t40000\ttcp\ta\\032b.example\t1\t1\t60\t4\t192.0.2.1";
    let recs = [r];
    assert!(compare_lines(&[good.into()], &recs, &DEFAULT_FORMAT).is_empty());
    for bad in [
        good.replace("tcp", "udp"),
        good.replace("192.0.2.1", "c0000201"),
        good.replace("a\\032b", "a b"),
        format!("{good}\t"),
        good.replacen("7\t", "", 1),
    ] {
        assert!(
            !compare_lines(std::slice::from_ref(&bad), &recs, &DEFAULT_FORMAT).is_empty(),
            "{bad:?}"
        );
    }
    assert!(!compare_lines(&[], &recs, &DEFAULT_FORMAT).is_empty());
    assert!(
        compare_lines(
            &["a\\032b.example\t1\t192.0.2.1".into()],
            &recs,
            &["host", "rrtype", "rdata"]
        )
        .is_empty()
    );
}
