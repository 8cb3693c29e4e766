//! End to end, the export engine behind a real bridge: the `metaprobe` binary with a real
//! EAL (`--no-huge --no-pci`) bridging two `net_pcap` ports, its workers producing records
//! from real and generated traffic, its export thread sending them to collectors this test
//! owns on 127.0.0.1.
//!
//! * A slow collector (a TCP peer that accepts and never reads) leaves the bridge untouched
//!   (exit 0, exact port counters, byte-identical outputs); the drops are counted in the
//!   final summary, `[NFLW] very long operation` is in `fastdpi_alert.log`, and
//!   `fastdpi_stat.log` has the spec's statistics sections.
//! * The clickstream and dns streams of one run go to a UDP and a TCP collector at once:
//!   both decode (in-process, `metaprobe_ipfix::collect`) to the same data records, with
//!   the templates first on every session. The same run through the strict collector
//!   (`../shared/tools/ipfix_collect.py --strict`) shows no violation — ignored in a plain
//!   `cargo test` like `export/tests/independent.rs`, since the checker lives beside the
//!   repository.
//! * tshark's IPFIX dissector decodes every exported UDP message with no malformed packet
//!   and no expert warning, and counts the data records the run produced.
//! * With `ipfix_udp_template_timer = 1`, a run of several seconds sends the templates again
//!   every second.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{
    BridgeRun, MAC_NET, MAC_SUB, Packet, RUN_TIMEOUT, RunOutput, TestDir, assert_bridge_forwarded,
    bridge_capture_files, dpdk_lock, eal_args, eth, gen_bulk, ipv4_header, read_capture,
    run_args_idle, run_metaprobe, udp_header, write_config, write_pcap,
};
use metaprobe_ipfix::collect::{DecodedRecord, TemplateCache, Value, decode_message, message_len};
use metaprobe_test_support::hex::hex;
use metaprobe_test_support::loopback::write_udp_pcap;
use metaprobe_test_support::strict::{StrictCollector, Verdict};
use metaprobe_test_support::truth::{col, read_tsv};
use metaprobe_test_support::udp::{Datagram, UdpCollector, set_rcvbuf};

// ---------------------------------------------------------------------------------------
// Collectors owned by the test
// ---------------------------------------------------------------------------------------

/// A TCP collector on 127.0.0.1 that reads every connection to its end.
struct TcpCollector {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Vec<(SocketAddr, Vec<u8>)>>,
}

impl TcpCollector {
    fn start() -> TcpCollector {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut readers: Vec<(SocketAddr, thread::JoinHandle<Vec<u8>>)> = Vec::new();
            loop {
                match listener.accept() {
                    Ok((mut s, peer)) => {
                        s.set_nonblocking(false).unwrap();
                        readers.push((
                            peer,
                            thread::spawn(move || {
                                let mut all = Vec::new();
                                // Until the exporter closes the connection (at its exit).
                                let _ = s.read_to_end(&mut all);
                                all
                            }),
                        ));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if flag.load(Ordering::SeqCst) {
                            break;
                        }
                        thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("tcp collector accept: {e}"),
                }
            }
            readers
                .into_iter()
                .map(|(peer, h)| (peer, h.join().unwrap()))
                .collect()
        });
        TcpCollector { addr, stop, thread }
    }

    /// The bytes of every connection, in accept order; call after the exporter has exited
    /// (its connections are closed then).
    fn finish(self) -> Vec<(SocketAddr, Vec<u8>)> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

/// A TCP collector that accepts every connection and never reads from it: once the
/// kernel's buffers are full, the exporter's socket is full.
struct SlowTcpCollector {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Vec<TcpStream>>,
}

impl SlowTcpCollector {
    fn start() -> SlowTcpCollector {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // Small receive buffers (inherited by the accepted sockets): the collector's side
        // holds little, the exporter's socket fills sooner.
        set_rcvbuf(listener.as_raw_fd(), 4096);
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut held = Vec::new();
            loop {
                match listener.accept() {
                    Ok((s, _)) => held.push(s),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if flag.load(Ordering::SeqCst) {
                            break;
                        }
                        thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("slow collector accept: {e}"),
                }
            }
            held
        });
        SlowTcpCollector { addr, stop, thread }
    }

    /// The connections it accepted (still open, never read).
    fn finish(self) -> Vec<TcpStream> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// Decoding what the collectors received
// ---------------------------------------------------------------------------------------

/// One message of a transport session, as decoded.
#[derive(Debug)]
struct Msg {
    export_time: u32,
    /// Ids of the (data) templates this message defines (set 2).
    template_ids: Vec<u16>,
    /// Templates and options templates it defines.
    templates: u32,
    data_records: usize,
}

/// The decoding of one transport session (a UDP source, a TCP connection).
#[derive(Debug, Default)]
struct Session {
    msgs: Vec<Msg>,
    records: Vec<DecodedRecord>,
    problems: Vec<String>,
}

/// Ids of the templates defined in the template sets (set id 2) of `msg`.
fn template_ids(msg: &[u8]) -> Vec<u16> {
    let be16 = |at: usize| {
        msg.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let mut ids = Vec::new();
    let mut at = 16;
    while let (Some(set_id), Some(set_len)) = (be16(at), be16(at + 2)) {
        let set_len = usize::from(set_len);
        if set_len < 4 {
            break;
        }
        let end = (at + set_len).min(msg.len());
        if set_id == 2 {
            let mut p = at + 4;
            while p + 4 <= end {
                let (Some(id), Some(count)) = (be16(p), be16(p + 2)) else {
                    break;
                };
                ids.push(id);
                p += 4;
                for _ in 0..count {
                    let Some(ie) = be16(p) else { break };
                    p += if ie & 0x8000 != 0 { 8 } else { 4 };
                }
            }
        }
        at += set_len;
    }
    ids
}

/// Decodes the messages of one session in order: data records, the templates each message
/// defines, and every problem (undecodable message, data before its template, a gap in the
/// sequence numbers).
fn decode_session<'a>(msgs: impl IntoIterator<Item = &'a [u8]>) -> Session {
    let mut cache = TemplateCache::new();
    let mut next_seq: HashMap<u32, u32> = HashMap::new();
    let mut s = Session::default();
    for (i, m) in msgs.into_iter().enumerate() {
        match decode_message(&mut cache, m) {
            Ok(d) => {
                if let Some(want) = next_seq.get(&d.odid)
                    && *want != d.seq
                {
                    s.problems.push(format!(
                        "message {i}: sequence {} where {want} was expected",
                        d.seq
                    ));
                }
                // The sequence number counts every data record, options records too.
                next_seq.insert(d.odid, d.seq.wrapping_add(d.records.len() as u32));
                if d.unknown_sets > 0 {
                    s.problems.push(format!(
                        "message {i}: {} data sets before their template",
                        d.unknown_sets
                    ));
                }
                let data: Vec<DecodedRecord> =
                    d.records.into_iter().filter(|r| !r.options).collect();
                s.msgs.push(Msg {
                    export_time: d.export_time,
                    template_ids: template_ids(m),
                    templates: d.templates,
                    data_records: data.len(),
                });
                s.records.extend(data);
            }
            Err(e) => s.problems.push(format!("message {i}: {e}")),
        }
    }
    s
}

/// The datagrams of a UDP collector, one session per source address, in arrival order.
fn udp_sessions(dgrams: &[Datagram]) -> BTreeMap<SocketAddr, Session> {
    let mut by_src: BTreeMap<SocketAddr, Vec<&[u8]>> = BTreeMap::new();
    for d in dgrams {
        by_src.entry(d.from).or_default().push(&d.data);
    }
    by_src
        .into_iter()
        .map(|(src, msgs)| (src, decode_session(msgs)))
        .collect()
}

/// The byte stream of a TCP connection cut into messages (IPFIX header length); a stream
/// that ends inside a message is a problem.
fn tcp_session(bytes: &[u8]) -> Session {
    let mut msgs = Vec::new();
    let mut at = 0;
    let mut cut = None;
    while at < bytes.len() {
        let len = message_len(&bytes[at..]).unwrap_or(0);
        if len < 16 || at + len > bytes.len() {
            cut = Some(format!(
                "stream ends inside a message at octet {at} ({} left)",
                bytes.len() - at
            ));
            break;
        }
        msgs.push(&bytes[at..at + len]);
        at += len;
    }
    let mut s = decode_session(msgs);
    s.problems.extend(cut);
    s
}

/// A data record without what belongs to its message (sequence number, export time): what
/// must be equal between two collectors of the same records.
fn record_key(r: &DecodedRecord) -> String {
    format!("{} {:?} {:?}", r.template_id, r.kind, r.fields)
}

/// The records of `sessions` as sorted keys.
fn sorted_keys<'a>(sessions: impl IntoIterator<Item = &'a Session>) -> Vec<String> {
    let mut keys: Vec<String> = sessions
        .into_iter()
        .flat_map(|s| s.records.iter().map(record_key))
        .collect();
    keys.sort();
    keys
}

/// What `a` has more of than `b`, and the reverse (both sorted).
fn multiset_diff(a: &[String], b: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut i, mut j) = (0, 0);
    let (mut only_a, mut only_b) = (Vec::new(), Vec::new());
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                only_a.push(x.clone());
                i += 1;
            }
            (Some(_), Some(y)) => {
                only_b.push(y.clone());
                j += 1;
            }
            (Some(x), None) => {
                only_a.push(x.clone());
                i += 1;
            }
            (None, Some(y)) => {
                only_b.push(y.clone());
                j += 1;
            }
            (None, None) => break,
        }
    }
    (only_a, only_b)
}

/// Every problem of `sessions`, each prefixed with its session's name.
fn problems_of<'a>(sessions: impl IntoIterator<Item = (String, &'a Session)>) -> Vec<String> {
    sessions
        .into_iter()
        .flat_map(|(name, s)| s.problems.iter().map(move |p| format!("{name}: {p}")))
        .collect()
}

/// `Ok` when the first message of the session starts the template round (options
/// templates, type records, data templates: no data record) and no data record came
/// before the template it needs (the decoder reports such data sets as unknown).
fn templates_first(name: &str, s: &Session) -> Result<(), String> {
    let Some(first) = s.msgs.first() else {
        return Err(format!("{name}: no message"));
    };
    if first.templates == 0 || first.data_records > 0 {
        return Err(format!(
            "{name}: the first message should be templates only, it has {} templates (data templates {:?}) and {} data records",
            first.templates, first.template_ids, first.data_records
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The final summary's export lines, the logs
// ---------------------------------------------------------------------------------------

/// `final export STREAM: produced N exported N dropped N (ring-full N no-chunk N too-long N
/// skipped N backpressure N collector-down N)` as key → value.
fn export_line(stdout: &str, stream: &str) -> Result<BTreeMap<String, u64>, String> {
    let prefix = format!("final export {stream}:");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .ok_or_else(|| format!("no '{prefix}' line"))?;
    let body = line[prefix.len()..].replace(['(', ')'], " ");
    let words: Vec<&str> = body.split_whitespace().collect();
    if !words.len().is_multiple_of(2) {
        return Err(format!("odd key/value list: {line:?}"));
    }
    let mut map = BTreeMap::new();
    for kv in words.chunks_exact(2) {
        let v: u64 = kv[1]
            .parse()
            .map_err(|_| format!("{} is not a count in {line:?}", kv[0]))?;
        map.insert(kv[0].to_string(), v);
    }
    for k in [
        "produced",
        "exported",
        "dropped",
        "ring-full",
        "no-chunk",
        "too-long",
        "skipped",
        "backpressure",
        "collector-down",
    ] {
        if !map.contains_key(k) {
            return Err(format!("no '{k}' in {line:?}"));
        }
    }
    Ok(map)
}

fn export_line_of(out: &RunOutput, stream: &str) -> BTreeMap<String, u64> {
    export_line(&out.stdout, stream).unwrap_or_else(|e| panic!("{e}\n{}", out.describe_short()))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One section of `fastdpi_stat.log`.
#[derive(Debug)]
struct StatSection {
    /// Unix seconds of the time in its header.
    unix: i64,
    cycles: u64,
    over: u64,
    longest_us: u64,
    period_us: u64,
}

/// `[STAT    ][YYYY/MM/DD-HH:MM:SS:micro] Statistics on NFLW_export :`, then
/// `{a/b/c%/dus/eus}` with c = 100·b/a with two decimals — every line of the file in such
/// pairs, nothing else.
fn parse_stat_log(text: &str) -> Result<Vec<StatSection>, String> {
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() || !lines.len().is_multiple_of(2) {
        return Err(format!(
            "expected header/value line pairs, got {} lines",
            lines.len()
        ));
    }
    let mut out = Vec::new();
    for pair in lines.chunks_exact(2) {
        let (head, body) = (pair[0], pair[1]);
        let bad = |why: &str| format!("{why}: {head:?} / {body:?}");
        let time = head
            .strip_prefix("[STAT    ][")
            .and_then(|r| r.strip_suffix("] Statistics on NFLW_export :"))
            .ok_or_else(|| bad("header not in the spec's form"))?;
        // YYYY/MM/DD-HH:MM:SS:micro
        let b = time.as_bytes();
        let shape_ok = time.len() == 26
            && b.iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'/',
                10 => *c == b'-',
                13 | 16 | 19 => *c == b':',
                _ => c.is_ascii_digit(),
            });
        if !shape_ok {
            return Err(bad("time not YYYY/MM/DD-HH:MM:SS:micro"));
        }
        let num = |r: std::ops::Range<usize>| time[r].parse::<i64>().unwrap();
        let (y, mo, d, h, mi, s) = (
            num(0..4),
            num(5..7),
            num(8..10),
            num(11..13),
            num(14..16),
            num(17..19),
        );
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
            return Err(bad("time out of range"));
        }
        let unix = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
        let inner = body
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
            .ok_or_else(|| bad("values not in braces"))?;
        let parts: Vec<&str> = inner.split('/').collect();
        let [a, bb, c, dd, e] = parts.as_slice() else {
            return Err(bad("not five values a/b/c%/dus/eus"));
        };
        let int = |v: &str| v.parse::<u64>().map_err(|_| bad("not a count"));
        let cycles = int(a)?;
        let over = int(bb)?;
        let pct = c.strip_suffix('%').ok_or_else(|| bad("c without %"))?;
        let longest_us = int(dd.strip_suffix("us").ok_or_else(|| bad("d without us"))?)?;
        let period_us = int(e.strip_suffix("us").ok_or_else(|| bad("e without us"))?)?;
        let want = if cycles == 0 {
            0.0
        } else {
            100.0 * over as f64 / cycles as f64
        };
        if pct != format!("{want:.2}") {
            return Err(bad(&format!("c is {pct}, 100·b/a is {want:.2}")));
        }
        if over > cycles {
            return Err(bad("more long cycles than cycles"));
        }
        out.push(StatSection {
            unix,
            cycles,
            over,
            longest_us,
            period_us,
        });
    }
    Ok(out)
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

// ---------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------

/// The committed Ethernet captures with DNS, HTTP, TLS and QUIC
/// ([`BRIDGE_CAPTURES`]), one after the other.
fn mixed_capture() -> Vec<Packet> {
    bridge_capture_files()
        .iter()
        .flat_map(|f| read_capture(f))
        .collect()
}

/// `n` DNS responses (internet side → subscriber side, UDP from port 53), each with
/// `answers` A records whose names point to a long question name: many dns records from
/// few packets (one record per answer).
fn gen_dns_responses(n: usize, answers: usize) -> Vec<Packet> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut dns = Vec::with_capacity(1500);
        dns.extend_from_slice(&(i as u16).to_be_bytes());
        dns.extend_from_slice(&[0x81, 0x80]); // response, RD, RA, no error
        dns.extend_from_slice(&1u16.to_be_bytes());
        dns.extend_from_slice(&(answers as u16).to_be_bytes());
        dns.extend_from_slice(&[0, 0, 0, 0]);
        for label in [
            format!("host-{i:06}"),
            "slow-collector-backpressure-test-with-a-long-label".to_string(),
            "example".to_string(),
            "test".to_string(),
        ] {
            dns.push(label.len() as u8);
            dns.extend_from_slice(label.as_bytes());
        }
        dns.push(0);
        dns.extend_from_slice(&[0, 1, 0, 1]); // A, IN
        for k in 0..answers {
            dns.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
            dns.extend_from_slice(&300u32.to_be_bytes());
            dns.extend_from_slice(&[0, 4, 10, (i >> 8) as u8, i as u8, k as u8]);
        }
        let udp_len = (8 + dns.len()) as u16;
        let mut f = eth(MAC_SUB, MAC_NET, 0x0800);
        f.extend(ipv4_header(
            [198, 19, 0, 53],
            [198, 18, (i >> 8) as u8, i as u8],
            17,
            20 + udp_len,
            i as u16,
        ));
        f.extend(udp_header(53, 20000 + (i % 40000) as u16, udp_len));
        f.extend(dns);
        out.push(Packet::whole(f));
    }
    out
}

/// Runs a bridge of ports 0 and 1 on the two inputs with `extra` configuration, to its
/// `--idle-exit`; asserts exit 0.
fn run_bridge_with(
    dir: &TestDir,
    sent0: &[Packet],
    sent1: &[Packet],
    extra: &str,
    idle_exit: u32,
) -> BridgeRun {
    let (in0, in1) = (dir.join("in0.pcap"), dir.join("in1.pcap"));
    let (out0, out1) = (dir.join("out0.pcap"), dir.join("out1.pcap"));
    write_pcap(&in0, sent0);
    write_pcap(&in1, sent1);
    let config = write_config(dir, 0, 1, extra);
    let args = run_args_idle(
        &config,
        Some(idle_exit),
        eal_args(dir, &in0, &out0, &in1, &out1),
    );
    let out = {
        let _guard = dpdk_lock();
        run_metaprobe(&args, RUN_TIMEOUT)
    };
    out.assert_success();
    BridgeRun { out, out0, out1 }
}

// ---------------------------------------------------------------------------------------
// 1. A slow collector
// ---------------------------------------------------------------------------------------

/// A TCP collector that accepts and never reads gets the dns stream of ~100 000 records
/// (far more than the kernel buffers of a loopback connection hold). The bridge does not
/// notice: exit 0, port counters equal to the inputs, outputs byte-identical. The export
/// side drops and counts: the final summary's dns line has drops by backpressure, skipped
/// cycles or collector down, and every record produced is either exported or counted as
/// dropped; `fastdpi_alert.log` has `[NFLW] very long operation`; `fastdpi_stat.log`
/// (`dbg_log_mask = 0x80`, `netflow_timeout = 1`) has sections in the spec's form.
#[test]
fn slow_tcp_collector_leaves_the_bridge_untouched() {
    let dir = TestDir::new("exp-slow");
    let slow = SlowTcpCollector::start();
    let responses = gen_dns_responses(1200, 80);
    // The internet side: DNS responses between bulk frames; the subscriber side: bulk.
    let bulk1 = gen_bulk(6000, 1, 0x5eed_0e01);
    let mut sent1 = Vec::with_capacity(responses.len() + bulk1.len());
    let mut bulk_iter = bulk1.into_iter();
    for r in responses {
        sent1.push(r);
        sent1.extend(bulk_iter.by_ref().take(5));
    }
    sent1.extend(bulk_iter);
    let sent0 = gen_bulk(20_000, 0, 0x5eed_0e00);
    // A backlog of 64 KiB: it fills as soon as the kernel's buffers do.
    let extra = format!(
        "ipfix_dns_tcp_collectors = [\"{}\"]\nipfix_tcp_backlog = \"64K\"\n\
         dbg_log_mask = 0x80\nnetflow_timeout = 1\n",
        slow.addr
    );
    let t0 = now_unix();
    let run = run_bridge_with(&dir, &sent0, &sent1, &extra, 2);
    let t1 = now_unix();
    let held = slow.finish();
    let out = &run.out;
    eprintln!(
        "slow collector: {} + {} packets in {:.1} s",
        sent0.len(),
        sent1.len(),
        out.elapsed.as_secs_f64()
    );

    // The bridge: untouched.
    assert_bridge_forwarded(&run, &sent0, &sent1);
    assert!(
        !held.is_empty(),
        "the exporter never connected to the slow collector\n{}",
        out.describe_short()
    );

    // The export side: drops counted, nothing lost without a count.
    let dns = export_line_of(out, "dns");
    eprintln!("final export dns: {dns:?}");
    let drops = dns["backpressure"] + dns["skipped"] + dns["collector-down"];
    assert!(
        drops > 0,
        "a collector that never reads must cause drops by backpressure, skipped cycles or \
         collector down: {dns:?}\n{}",
        out.describe_short()
    );
    let sum: u64 = [
        "ring-full",
        "no-chunk",
        "too-long",
        "skipped",
        "backpressure",
        "collector-down",
        "unreachable",
        "refused",
        "unacked",
    ]
    .iter()
    .map(|k| dns[*k])
    .sum();
    assert_eq!(
        dns["dropped"], sum,
        "dropped is the sum of its causes: {dns:?}"
    );
    assert!(
        dns["produced"] >= 1200 * 80,
        "every answer of the generated responses is a record: {dns:?}"
    );
    assert!(
        dns["exported"] > 0,
        "some records reach the collector: {dns:?}"
    );

    // fastdpi_alert.log
    let log_dir = dir.join("log");
    let alert = fs::read_to_string(log_dir.join("fastdpi_alert.log")).unwrap_or_else(|e| {
        panic!(
            "{}/fastdpi_alert.log: {e}\n{}",
            log_dir.display(),
            out.describe_short()
        )
    });
    assert!(
        alert
            .lines()
            .any(|l| l.starts_with("[NFLW] very long operation")),
        "fastdpi_alert.log has no '[NFLW] very long operation' line:\n{alert}"
    );

    // fastdpi_stat.log
    let stat = fs::read_to_string(log_dir.join("fastdpi_stat.log")).unwrap_or_else(|e| {
        panic!(
            "{}/fastdpi_stat.log: {e}\n{}",
            log_dir.display(),
            out.describe_short()
        )
    });
    let sections =
        parse_stat_log(&stat).unwrap_or_else(|e| panic!("fastdpi_stat.log: {e}\n{stat}"));
    assert!(!sections.is_empty(), "no section in fastdpi_stat.log");
    for s in &sections {
        assert!(
            (t0 - 1..=t1 + 1).contains(&s.unix),
            "section time {} (UTC) is not within the run ({t0}..{t1}): {s:?}\n{stat}",
            s.unix
        );
        assert!(
            s.cycles > 0 && s.period_us >= 1_000_000,
            "a section covers at least netflow_timeout = 1 s of send cycles: {s:?}\n{stat}"
        );
        assert!(
            s.longest_us <= s.period_us,
            "the longest cycle is within the period measured: {s:?}"
        );
    }

    // Last, so that a failure here does not hide the checks above. One collector for
    // the stream: every record produced is delivered to it once, or
    // dropped once (ring full, no chunk, too long, skipped cycle: before any collector;
    // backpressure, collector down: that collector's delivery).
    assert_eq!(
        dns["produced"],
        dns["exported"] + dns["dropped"],
        "produced = exported + dropped for the dns stream (one collector): {dns:?}\n{}",
        out.describe_short()
    );
}

// ---------------------------------------------------------------------------------------
// 2. UDP and TCP at once
// ---------------------------------------------------------------------------------------

/// The mixed capture on the subscriber side (an empty capture on the other), with the
/// clickstream and dns streams each exported to a UDP and a TCP collector of the test (and,
/// with `strict`, to the strict collector's UDP and TCP listeners too). Checks everything
/// the in-process collectors can see; returns the strict collector's verdict to check.
fn udp_and_tcp_at_once(name: &str, with_strict: bool) -> Option<(Verdict, u64)> {
    let dir = TestDir::new(name);
    let strict =
        with_strict.then(|| StrictCollector::start(dir.path(), true, &["--duration", "200"]));
    let udp = UdpCollector::start();
    let tcp = TcpCollector::start();
    let list = |ours: SocketAddr, theirs: Option<u16>| {
        let mut v = vec![format!("\"{ours}\"")];
        if let Some(p) = theirs {
            v.push(format!("\"127.0.0.1:{p}\""));
        }
        format!("[{}]", v.join(", "))
    };
    let (su, st) = (
        strict.as_ref().map(|s| s.udp),
        strict.as_ref().and_then(|s| s.tcp),
    );
    let extra = format!(
        "ipfix_udp_collectors = {u}\nipfix_tcp_collectors = {t}\n\
         ipfix_dns_udp_collectors = {u}\nipfix_dns_tcp_collectors = {t}\n\
         ssl_parse_reply = 1\nhttp_parse_reply = 1\nipfix_domain_id = 7\n",
        u = list(udp.addr, su),
        t = list(tcp.addr, st),
    );
    let sent0 = mixed_capture();
    let run = run_bridge_with(&dir, &sent0, &[], &extra, 2);
    let dgrams = udp.finish();
    let conns = tcp.finish();
    let out = &run.out;
    assert_bridge_forwarded(&run, &sent0, &[]);

    let udp_s = udp_sessions(&dgrams);
    let tcp_s: Vec<(SocketAddr, Session)> = conns
        .iter()
        .map(|(peer, bytes)| (*peer, tcp_session(bytes)))
        .collect();
    assert_eq!(
        udp_s.len(),
        2,
        "one UDP session per stream (clickstream, dns): {:?}\n{}",
        udp_s.keys().collect::<Vec<_>>(),
        out.describe_short()
    );
    assert_eq!(
        tcp_s.len(),
        2,
        "one TCP connection per stream (clickstream, dns), never lost\n{}",
        out.describe_short()
    );
    let problems = problems_of(
        udp_s
            .iter()
            .map(|(a, s)| (format!("udp from {a}"), s))
            .chain(tcp_s.iter().map(|(a, s)| (format!("tcp from {a}"), s))),
    );
    assert!(
        problems.is_empty(),
        "collector problems: {problems:#?}\n{}",
        out.describe_short()
    );
    for (a, s) in &udp_s {
        templates_first(&format!("udp from {a}"), s).unwrap();
    }
    for (a, s) in &tcp_s {
        templates_first(&format!("tcp from {a}"), s).unwrap();
    }
    for (_, s) in udp_s.iter().chain(tcp_s.iter().map(|(a, s)| (a, s))) {
        for r in &s.records {
            assert_eq!(r.odid, 7, "ipfix_domain_id");
        }
    }

    let by_udp = sorted_keys(udp_s.values());
    let by_tcp = sorted_keys(tcp_s.iter().map(|(_, s)| s));
    if by_udp != by_tcp {
        let (only_udp, only_tcp) = multiset_diff(&by_udp, &by_tcp);
        let export: Vec<String> = ["clickstream", "dns"]
            .iter()
            .map(|s| format!("{s}: {:?}", export_line_of(out, s)))
            .collect();
        panic!(
            "UDP and TCP collectors received different records: {} over UDP, {} over TCP \
             (per TCP connection: {:?}); final export {export:?}; \
             only over UDP: {only_udp:#?}; only over TCP: {only_tcp:#?}",
            by_udp.len(),
            by_tcp.len(),
            tcp_s
                .iter()
                .map(|(a, s)| (a, s.msgs.len(), s.records.len()))
                .collect::<Vec<_>>(),
        );
    }
    // Kinds the mixed capture must give.
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for s in udp_s.values() {
        for r in &s.records {
            *kinds
                .entry(
                    r.kind
                        .clone()
                        .unwrap_or_else(|| format!("?{}", r.template_id)),
                )
                .or_default() += 1;
        }
    }
    eprintln!("records by kind (each over UDP and over TCP): {kinds:?}");
    for k in ["clickstream", "http_reply", "tls_reply", "dns"] {
        assert!(
            kinds.keys().any(|x| x == k || *x == format!("{k}_v6")),
            "no {k} record from the mixed capture: {kinds:?}"
        );
    }
    let collectors_per_stream = if strict.is_some() { 4 } else { 2 };
    let mut produced_total = 0;
    for stream in ["clickstream", "dns"] {
        let e = export_line_of(out, stream);
        produced_total += e["produced"];
        assert_eq!(e["dropped"], 0, "{stream}: {e:?}\n{}", out.describe_short());
        assert_eq!(
            e["exported"],
            collectors_per_stream * e["produced"],
            "{stream}: every record to each of its {collectors_per_stream} collectors: {e:?}"
        );
    }
    assert_eq!(
        by_udp.len() as u64,
        produced_total,
        "every record produced reached the UDP collector"
    );
    strict.map(|s| (s.stop(), produced_total))
}

/// The clickstream and dns streams of one run of the mixed capture go to a UDP and a TCP
/// collector at once: both receive the same data records, every session starts with its
/// templates, no sequence gap, nothing dropped.
#[test]
fn udp_and_tcp_collectors_decode_the_same_records() {
    udp_and_tcp_at_once("exp-udptcp", false);
}

/// The same run, also exported to `../shared/tools/ipfix_collect.py --strict` on UDP and
/// TCP: no violation, and it receives every record over each transport.
#[test]
#[ignore = "needs ../shared/tools/ipfix_collect.py; scripts/test.sh runs it when present"]
fn strict_collector_sees_no_violation_over_udp_and_tcp() {
    let (verdict, produced) = udp_and_tcp_at_once("exp-strict", true).unwrap();
    verdict.assert_clean();
    let summary = &verdict.summary;
    assert_eq!(
        verdict.records.len() as u64,
        2 * produced,
        "every record once over UDP and once over TCP: {summary}"
    );
    // The counter records (options template 282) reach it over both transports, the last
    // report of each stream's session with the final `records` count: every record the
    // workers handed over (the strict collector writes our strings and integers as hex).
    let records_counter = format!("\"e43823_4001\":\"{}\"", hex(b"records"));
    let last_values: BTreeMap<String, String> = verdict
        .options
        .iter()
        .filter(|l| l.contains("\"template_id\":282") && l.contains(&records_counter))
        .map(|l| {
            let field = |k: &str| {
                let (_, rest) = l.split_once(&format!("\"{k}\":\"")).unwrap();
                rest.split('"').next().unwrap().to_owned()
            };
            (field("exporter"), field("e43823_4002"))
        })
        .collect();
    assert_eq!(
        last_values.len(),
        4,
        "a UDP and a TCP session of clickstream and dns: {last_values:?}"
    );
    for (session, value) in &last_values {
        assert_eq!(
            u64::from_str_radix(value, 16).ok(),
            Some(produced),
            "{session}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 3. tshark
// ---------------------------------------------------------------------------------------

/// `tshark -r PCAP -d udp.port==PORT,cflow -Y FILTER -T fields -e …`: its stdout.
fn tshark_fields(pcap: &Path, port: u16, filter: &str, fields: &[&str]) -> String {
    common::require_tool("tshark", "tshark");
    let mut c = Command::new("tshark");
    c.arg("-r").arg(pcap).args([
        "-d",
        &format!("udp.port=={port},cflow"),
        "-Y",
        filter,
        "-T",
        "fields",
    ]);
    for f in fields {
        c.args(["-e", f]);
    }
    let o = c
        .output()
        .expect("tshark must be installed (Debian package tshark)");
    assert!(
        o.status.success(),
        "tshark -Y {filter:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The UDP export of a run of the mixed capture, written as a pcap, is decoded by tshark's
/// IPFIX dissector: every frame an IPFIX message, no malformed packet, no expert warning or
/// error, and as many data records as the run produced.
#[test]
fn tshark_decodes_the_exported_messages() {
    let dir = TestDir::new("exp-tshark");
    let udp = UdpCollector::start();
    let extra = format!(
        "ipfix_udp_collectors = [\"{a}\"]\nipfix_dns_udp_collectors = [\"{a}\"]\n\
         ssl_parse_reply = 1\nhttp_parse_reply = 1\n",
        a = udp.addr
    );
    let sent0 = mixed_capture();
    let port = udp.addr.port();
    let run = run_bridge_with(&dir, &sent0, &[], &extra, 2);
    let dgrams = udp.finish();
    let out = &run.out;
    assert_bridge_forwarded(&run, &sent0, &[]);
    let sessions = udp_sessions(&dgrams);
    let problems = problems_of(sessions.iter().map(|(a, s)| (a.to_string(), s)));
    assert!(problems.is_empty(), "{problems:#?}");
    let data_records: usize = sessions.values().map(|s| s.records.len()).sum();
    let produced: u64 = ["clickstream", "dns"]
        .iter()
        .map(|s| export_line_of(out, s)["produced"])
        .sum();
    assert_eq!(data_records as u64, produced, "{}", out.describe_short());
    assert!(data_records > 0);

    let packets: Vec<(u16, &[u8])> = dgrams
        .iter()
        .map(|d| (d.from.port(), d.data.as_slice()))
        .collect();
    let pcap = dir.join("export.pcap");
    write_udp_pcap(&pcap, &packets, port, now_unix() as u32);

    // Every frame is an IPFIX message, version 10.
    let decoded = tshark_fields(&pcap, port, "cflow.version == 10", &["frame.number"]);
    assert_eq!(
        decoded.lines().count(),
        packets.len(),
        "frames decoded as IPFIX"
    );
    // No malformed packet, no expert warning or error.
    let bad = tshark_fields(
        &pcap,
        port,
        "_ws.malformed || _ws.expert.severity >= 0x00600000",
        &["frame.number", "_ws.expert.message"],
    );
    assert!(bad.trim().is_empty(), "tshark complaints:\n{bad}");
    // The data records tshark decodes: every data template of ours has
    // sourceMacAddress (56) once, the options templates do not.
    let macs = tshark_fields(&pcap, port, "cflow.srcmac", &["cflow.srcmac"]);
    let tshark_records: usize = macs
        .lines()
        .map(|l| l.split(',').filter(|x| !x.is_empty()).count())
        .sum();
    assert_eq!(
        tshark_records, data_records,
        "data records decoded by tshark vs by the in-process decoder"
    );
    // The counter records (options template 282) decode too: tshark reads the scope of
    // each, meteringProcessId, as the in-process decoder does.
    let mut caches: HashMap<SocketAddr, TemplateCache> = HashMap::new();
    let counters = dgrams
        .iter()
        .filter_map(|d| decode_message(caches.entry(d.from).or_default(), &d.data).ok())
        .flat_map(|m| m.records)
        .filter(|r| r.kind.as_deref() == Some("counter"))
        .count();
    assert!(counters > 0, "the final statistics report");
    let scopes = tshark_fields(&pcap, port, "cflow.mp_id", &["cflow.mp_id"]);
    let tshark_counters: usize = scopes
        .lines()
        .map(|l| l.split(',').filter(|x| !x.is_empty()).count())
        .sum();
    assert_eq!(
        tshark_counters, counters,
        "counter records decoded by tshark"
    );
}

// ---------------------------------------------------------------------------------------
// 4. The UDP template timer over the bridge
// ---------------------------------------------------------------------------------------

/// `ipfix_udp_template_timer = 1` and a run of more than 3 s (`--idle-exit 3`): each UDP
/// session (clickstream, dns) gets its templates at least 3 times, about a second apart.
#[test]
fn udp_templates_repeat_on_the_timer() {
    let dir = TestDir::new("exp-timer");
    let udp = UdpCollector::start();
    let extra = format!(
        "ipfix_udp_collectors = [\"{a}\"]\nipfix_dns_udp_collectors = [\"{a}\"]\n\
         ipfix_udp_template_timer = 1\nssl_parse_reply = 1\n",
        a = udp.addr
    );
    let sent0 = mixed_capture();
    let run = run_bridge_with(&dir, &sent0, &[], &extra, 3);
    let dgrams = udp.finish();
    let out = &run.out;
    assert_bridge_forwarded(&run, &sent0, &[]);
    assert!(
        out.elapsed >= Duration::from_secs(3),
        "the run must last 3 s at least"
    );
    let sessions = udp_sessions(&dgrams);
    assert_eq!(sessions.len(), 2, "clickstream and dns sessions");
    let problems = problems_of(sessions.iter().map(|(a, s)| (a.to_string(), s)));
    assert!(problems.is_empty(), "{problems:#?}");
    for (src, s) in &sessions {
        // A template round starts with the message that defines the stream's first
        // template (256 clickstream, 272 dns); it may take several messages.
        let first_id = s
            .msgs
            .iter()
            .find_map(|m| m.template_ids.first().copied())
            .unwrap_or_else(|| panic!("{src}: no template at all"));
        let rounds: Vec<u32> = s
            .msgs
            .iter()
            .filter(|m| m.template_ids.contains(&first_id))
            .map(|m| m.export_time)
            .collect();
        // When each arrived, for the message.
        let arrivals: Vec<Instant> = dgrams
            .iter()
            .filter(|d| d.from == *src && template_ids(&d.data).contains(&first_id))
            .map(|d| d.at)
            .collect();
        let gaps: Vec<f64> = arrivals
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        eprintln!(
            "{src}: template {first_id} sent {} times, export times {rounds:?}, gaps {gaps:.2?} s",
            rounds.len()
        );
        assert!(
            rounds.len() >= 3,
            "{src}: templates sent {} times in a run of {:.1} s with a 1 s timer\n{}",
            rounds.len(),
            out.elapsed.as_secs_f64(),
            out.describe_short()
        );
        for w in rounds.windows(2) {
            let d = w[1].saturating_sub(w[0]);
            assert!(
                (1..=2).contains(&d),
                "{src}: template rounds {} s apart with a 1 s timer: {rounds:?}",
                d
            );
        }
    }
}

/// The harness itself: the stat log parser reads the spec's example and refuses a wrong
/// percentage and a wrong header.
#[test]
fn stat_log_parser_reads_the_spec_form() {
    let ok = "[STAT    ][2026/11/21-21:02:42:123456] Statistics on NFLW_export :\n\
              {7/0/0.00%/45297us/30008163us}\n\
              [STAT    ][2026/11/21-21:03:12:000001] Statistics on NFLW_export :\n\
              {3/1/33.33%/12us/5us}\n";
    let s = parse_stat_log(ok).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(
        s[0].unix,
        days_from_civil(2026, 11, 21) * 86_400 + 21 * 3600 + 2 * 60 + 42
    );
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    assert_eq!(
        (s[1].cycles, s[1].over, s[1].longest_us, s[1].period_us),
        (3, 1, 12, 5)
    );
    assert!(parse_stat_log(&ok.replace("33.33%", "33.3%")).is_err());
    assert!(parse_stat_log(&ok.replace("[STAT    ]", "[STAT]")).is_err());
    assert!(parse_stat_log(&ok.replace(":123456]", ":12345]")).is_err());
    assert!(parse_stat_log("").is_err());
    let line = "final export dns: produced 10 exported 7 dropped 3 (ring-full 1 no-chunk 0 \
                too-long 0 skipped 0 backpressure 2 collector-down 0)\n";
    let e = export_line(line, "dns").unwrap();
    assert_eq!(
        (e["produced"], e["backpressure"], e["ring-full"]),
        (10, 2, 1)
    );
    assert!(export_line(line, "clickstream").is_err());
}

/// The requests of a corpus capture whose paths run to 1486 octets, to a UDP and a TCP
/// clickstream collector: the TCP collector gets every PATH whole (as tshark shows it),
/// the UDP collector the long ones cut to fit `ipfix_mtu` 1500, each cut counted in the
/// stream's `truncated`.
#[test]
fn tcp_collectors_get_long_paths_whole() {
    let capture = common::fixtures_dir().join("http_headers_split_2seg_cookies_37req.pcapng");
    let mut want: Vec<String> = read_tsv(&capture.with_extension("pcapng.truth.tsv"))
        .iter()
        .map(|row| col(row, "http.request.uri"))
        .filter(|uri| !uri.is_empty())
        .map(str::to_owned)
        .collect();
    want.sort();
    assert_eq!(want.len(), 37);

    let dir = TestDir::new("exp-whole");
    let (udp, tcp) = (UdpCollector::start(), TcpCollector::start());
    let extra = format!(
        "ipfix_udp_collectors = [\"{}\"]\nipfix_tcp_collectors = [\"{}\"]\n",
        udp.addr, tcp.addr
    );
    let sent = read_capture(&capture);
    let run = run_bridge_with(&dir, &sent, &[], &extra, 2);
    let paths = |s: &Session| -> Vec<String> {
        let mut v: Vec<String> = s
            .records
            .iter()
            .filter_map(|r| match r.get("PATH") {
                Some(Value::Str(p)) => Some(p.clone()),
                _ => None,
            })
            .collect();
        v.sort();
        v
    };
    let over_udp: Vec<String> = udp_sessions(&udp.finish())
        .values()
        .flat_map(paths)
        .collect();
    let conns = tcp.finish();
    let over_tcp: Vec<String> = conns
        .iter()
        .flat_map(|(_, bytes)| paths(&tcp_session(bytes)))
        .collect();
    assert_eq!(over_tcp, want, "TCP: every PATH whole");
    assert_eq!(over_udp.len(), 37);
    let cut = over_udp.iter().filter(|p| !want.contains(p)).count();
    assert!(cut > 0, "some paths are longer than a UDP record holds");
    for p in &over_udp {
        assert!(want.iter().any(|w| w.starts_with(p.as_str())), "{p}");
    }
    let e = export_line_of(&run.out, "clickstream");
    assert_eq!(e["truncated"], cut as u64, "{e:?}");
    assert_eq!(e["dropped"], 0, "{e:?}");
}
