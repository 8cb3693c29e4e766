//! The exporter end to end on 127.0.0.1: worker rings → sessions → UDP and
//! TCP sockets → the decoder of `metaprobe collect`. Time is driven by hand
//! (a clock the test sets); only the kernel's socket work is real.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use common::{T0, TestClock};
use metaprobe_export::exporter::{ExportStats, Exporter, ExporterConfig};
use metaprobe_ipfix::collect::{DecodedMessage, TemplateCache, decode_message, message_len};
use metaprobe_ipfix::ring::RecordSender;
use metaprobe_ipfix::samples;
use metaprobe_ipfix::session::Transport;
use metaprobe_ipfix::template::Stream;
use metaprobe_test_support::TestDir;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// One record of every template of `stream` (both families).
fn push_stream(tx: &mut RecordSender, stream: Stream, ts: u32) -> usize {
    let mut n = 0;
    for v6 in [false, true] {
        let ok = match stream {
            Stream::Clickstream => [
                tx.push(&samples::clickstream(ts, v6)),
                tx.push(&samples::http_reply(ts, v6)),
                tx.push(&samples::tls_reply(ts, v6)),
            ]
            .to_vec(),
            Stream::Meta => [
                tx.push(&samples::sip(ts, v6)),
                tx.push(&samples::ftp(ts, v6)),
                tx.push(&samples::im(ts, v6)),
                tx.push(&samples::mail(ts, v6)),
                tx.push(&samples::raw_meta(ts, v6)),
            ]
            .to_vec(),
            Stream::Dns => [tx.push(&samples::dns(ts, v6))].to_vec(),
        };
        assert!(ok.iter().all(|&b| b));
        n += ok.len();
    }
    n
}

/// Datagrams waiting on `sock` (loopback delivers before `send` returns).
fn recv_all(sock: &UdpSocket) -> Vec<Vec<u8>> {
    sock.set_nonblocking(true).unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => out.push(buf[..n].to_vec()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return out,
            Err(e) => panic!("{e}"),
        }
    }
}

/// Whole IPFIX messages read from a TCP stream.
struct TcpPeer {
    s: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl TcpPeer {
    fn new(s: TcpStream) -> Self {
        s.set_nonblocking(true).unwrap();
        TcpPeer {
            s,
            buf: Vec::new(),
            eof: false,
        }
    }
    fn read(&mut self) -> Vec<Vec<u8>> {
        let mut tmp = vec![0u8; 1 << 16];
        loop {
            match self.s.read(&mut tmp) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let mut msgs = Vec::new();
        while let Some(len) = message_len(&self.buf) {
            assert!(len >= 16, "framing");
            if self.buf.len() < len {
                break;
            }
            msgs.push(self.buf.drain(..len).collect());
        }
        msgs
    }
}

fn decode_all(cache: &mut TemplateCache, msgs: &[Vec<u8>]) -> Vec<DecodedMessage> {
    msgs.iter()
        .map(|m| decode_message(cache, m).expect("valid message"))
        .collect()
}

fn data_kinds(d: &[DecodedMessage]) -> Vec<String> {
    let mut v: Vec<String> = d
        .iter()
        .flat_map(|m| m.records.iter())
        .filter(|r| !r.options)
        .map(|r| r.kind.clone().unwrap_or_default())
        .collect();
    v.sort();
    v
}

/// Polls (time standing still) until `f` holds, the kernel doing its part.
fn poll_until(
    ex: &mut Exporter,
    clock: &TestClock,
    mut f: impl FnMut(&ExportStats) -> bool,
) -> ExportStats {
    let t = Instant::now();
    loop {
        ex.poll(clock);
        let s = ex.stats();
        if f(&s) {
            return s;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "timed out: {s:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn accept(l: &TcpListener) -> TcpStream {
    l.set_nonblocking(false).unwrap();
    let (s, _) = l.accept().unwrap();
    s
}

#[test]
fn every_kind_over_udp_and_tcp_is_decoded() {
    let dir = TestDir::new("exporter-kinds");
    let mut cfg = ExporterConfig::new(dir.path());
    let mut udp = Vec::new();
    let mut tcp = Vec::new();
    for s in Stream::ALL {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        cfg.add(s, Transport::Udp, &[u.local_addr().unwrap()]);
        cfg.add(s, Transport::Tcp, &[l.local_addr().unwrap()]);
        udp.push(u);
        tcp.push(l);
    }
    cfg.workers = 2;
    let clock = TestClock::new();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    poll_until(&mut ex, &clock, |s| s.collectors.iter().all(|c| c.up));
    let mut peers: Vec<TcpPeer> = tcp.iter().map(|l| TcpPeer::new(accept(l))).collect();
    let ts = (T0 / 1_000_000) as u32;
    // Worker 0 makes clickstream and DNS, worker 1 meta.
    let mut want = [0usize; 3];
    want[0] = push_stream(&mut senders[0], Stream::Clickstream, ts);
    want[2] = push_stream(&mut senders[0], Stream::Dns, ts);
    want[1] = push_stream(&mut senders[1], Stream::Meta, ts);
    for tx in &mut senders {
        tx.flush();
    }
    clock.advance(1_000_000);
    ex.poll(&clock);
    let stats = poll_until(&mut ex, &clock, |s| {
        s.collectors.iter().map(|c| c.exported).sum::<u64>() == 2 * 18
    });
    for (i, s) in Stream::ALL.iter().enumerate() {
        let st = stats.stream(*s);
        assert_eq!(st.produced, want[i] as u64);
        assert_eq!(st.received, want[i] as u64);
        assert_eq!(st.exported, 2 * want[i] as u64, "{s:?} to 2 collectors");
        assert_eq!(
            st.dropped_before_export() + st.dropped_backpressure + st.dropped_down,
            0
        );
    }
    for (i, s) in Stream::ALL.iter().enumerate() {
        let mut expect: Vec<String> = s
            .templates()
            .flat_map(|d| [d.kind.to_string(), format!("{}_v6", d.kind)])
            .collect();
        expect.sort();
        // UDP: templates first (sequence 0), then the data.
        let mut cache = TemplateCache::new();
        let d = decode_all(&mut cache, &recv_all(&udp[i]));
        assert!(d[0].templates > 0 && d[0].seq == 0);
        assert!(d.iter().all(|m| m.unknown_sets == 0));
        assert_eq!(data_kinds(&d), expect, "udp {s:?}");
        // TCP: the same.
        let t = Instant::now();
        let mut msgs = Vec::new();
        while data_kinds(&decode_all(&mut TemplateCache::new(), &msgs)).len() < expect.len() {
            msgs.extend(peers[i].read());
            assert!(t.elapsed() < Duration::from_secs(10));
        }
        let mut cache = TemplateCache::new();
        let d = decode_all(&mut cache, &msgs);
        assert!(d[0].templates > 0 && d[0].seq == 0);
        assert!(d.iter().all(|m| m.unknown_sets == 0));
        assert_eq!(data_kinds(&d), expect, "tcp {s:?}");
        // Sequence numbers count the data records before each message.
        let mut seq = 0u32;
        for m in &d {
            assert_eq!(m.seq, seq);
            seq += m.records.len() as u32;
        }
    }
}

/// Each stream's messages carry its own observation domain when the
/// configuration gives one (nfcapd keys sessions on address + domain).
#[test]
fn each_stream_carries_its_own_domain_id() {
    let dir = TestDir::new("exporter-domains");
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cfg = ExporterConfig::new(dir.path());
    for s in Stream::ALL {
        cfg.add(s, Transport::Udp, &[u.local_addr().unwrap()]);
    }
    cfg.domain_ids = [10, 20, 30];
    assert_eq!(cfg.domain_id(Stream::Meta), 20);
    let clock = TestClock::new();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    let tx = &mut senders[0];
    for s in Stream::ALL {
        push_stream(tx, s, (T0 / 1_000_000) as u32);
    }
    tx.flush();
    ex.poll(&clock);
    let msgs = recv_all(&u);
    let mut cache = TemplateCache::new();
    let mut seen = std::collections::BTreeMap::new();
    for d in decode_all(&mut cache, &msgs) {
        for r in d.records.iter().filter(|r| !r.options) {
            let kind = r.kind.clone().unwrap();
            seen.insert(kind, d.odid);
        }
    }
    assert_eq!(seen.len(), 18, "{seen:?}");
    for (kind, odid) in &seen {
        let want = match kind.trim_end_matches("_v6") {
            "clickstream" | "http_reply" | "tls_reply" => 10,
            "dns" => 30,
            _ => 20,
        };
        assert_eq!(*odid, want, "{kind}");
    }
}

#[test]
fn udp_templates_repeat_on_the_configured_period() {
    let dir = TestDir::new("exporter-timer");
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.add(Stream::Dns, Transport::Udp, &[u.local_addr().unwrap()]);
    cfg.udp_template_timer = 20;
    let clock = TestClock::new();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    let tx = &mut senders[0];
    let mut cache = TemplateCache::new();
    let mut round_at = Vec::new();
    for sec in 0..=61u64 {
        clock.set(T0 + sec * 1_000_000);
        push_stream(tx, Stream::Dns, (T0 / 1_000_000 + sec) as u32);
        tx.flush();
        ex.poll(&clock);
        let d = decode_all(&mut cache, &recv_all(&u));
        if d.iter().any(|m| m.templates > 0) {
            round_at.push(sec);
        }
        // Every second's two records arrive, after the templates when due.
        assert_eq!(data_kinds(&d), ["dns", "dns_v6"], "second {sec}");
        if sec % 20 == 0 {
            assert!(
                d[0].templates > 0,
                "templates before the data, second {sec}"
            );
        }
    }
    assert_eq!(round_at, [0, 20, 40, 60]);
    let s = ex.stats();
    assert_eq!(s.stream(Stream::Dns).exported, 62 * 2);
}

#[test]
fn tcp_collector_killed_and_restarted() {
    let dir = TestDir::new("exporter-restart");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = l.local_addr().unwrap();
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.add(Stream::Meta, Transport::Tcp, &[addr]);
    let clock = TestClock::new();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    let ts = (T0 / 1_000_000) as u32;
    poll_until(&mut ex, &clock, |s| s.collectors[0].up);
    let mut peer = TcpPeer::new(accept(&l));
    let n = push_stream(&mut senders[0], Stream::Meta, ts) as u64;
    senders[0].flush();
    poll_until(&mut ex, &clock, |s| s.collectors[0].exported == n);
    let t = Instant::now();
    let mut msgs = Vec::new();
    while data_kinds(&decode_all(&mut TemplateCache::new(), &msgs)).len() < n as usize {
        msgs.extend(peer.read());
        assert!(t.elapsed() < Duration::from_secs(10));
    }
    let d = decode_all(&mut TemplateCache::new(), &msgs);
    assert!(d[0].templates > 0 && d[0].seq == 0, "templates first");

    // The collector dies.
    drop(peer);
    drop(l);
    let s = poll_until(&mut ex, &clock, |s| !s.collectors[0].up);
    assert_eq!(s.collectors[0].losses, 1);
    let before = s.collectors[0].dropped_down;
    // While it is down, records are dropped and counted.
    let m = push_stream(&mut senders[0], Stream::Meta, ts) as u64;
    senders[0].flush();
    ex.poll(&clock);
    let s = ex.stats();
    assert_eq!(s.collectors[0].dropped_down, before + m);
    assert_eq!(s.stream(Stream::Meta).dropped_down, before + m);
    assert_eq!(s.stream(Stream::Meta).received, n + m);

    // Back on the same port: no reconnect before the backoff (1 s).
    let l = TcpListener::bind(addr).unwrap();
    clock.advance(999_000);
    for _ in 0..20 {
        ex.poll(&clock);
    }
    assert!(!ex.stats().collectors[0].up);
    clock.advance(1_000);
    let s = poll_until(&mut ex, &clock, |s| s.collectors[0].up);
    assert_eq!(s.collectors[0].connects, 2);
    let mut peer = TcpPeer::new(accept(&l));
    push_stream(&mut senders[0], Stream::Meta, ts);
    senders[0].flush();
    poll_until(&mut ex, &clock, |s| s.collectors[0].exported == 2 * n);
    let t = Instant::now();
    let mut msgs = Vec::new();
    while data_kinds(&decode_all(&mut TemplateCache::new(), &msgs)).len() < n as usize {
        msgs.extend(peer.read());
        assert!(t.elapsed() < Duration::from_secs(10));
    }
    let mut cache = TemplateCache::new();
    let d = decode_all(&mut cache, &msgs);
    // Templates first again, sequence restarted, nothing undecodable.
    assert!(d[0].templates > 0 && d[0].seq == 0);
    assert!(d.iter().all(|m| m.unknown_sets == 0));
    // The reliability record of the new round carries the drops.
    let rel = d
        .iter()
        .flat_map(|m| m.records.iter())
        .find(|r| r.kind.as_deref() == Some("reliability"))
        .expect("reliability record with the templates");
    let Some(metaprobe_ipfix::collect::Value::Unsigned(not_sent)) =
        rel.get("notSentFlowTotalCount")
    else {
        panic!("{rel:?}")
    };
    assert_eq!(*not_sent, before + m);
    // The alert log tells the story.
    poll_until(&mut ex, &clock, |_| true);
    clock.advance(2_000_000);
    ex.poll(&clock);
    let alert = std::fs::read_to_string(dir.join("fastdpi_alert.log")).unwrap();
    assert!(alert.contains("connection lost"), "{alert}");
    assert_eq!(alert.matches(": connected").count(), 2, "{alert}");
}

/// A TCP listener on loopback whose connections have a 4 KiB receive buffer: a
/// collector that does not read fills up soon.
fn small_listener() -> TcpListener {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    sock.listen(4).unwrap();
    sock.into()
}

#[test]
fn slow_tcp_peer_never_blocks_the_exporter() {
    let dir = TestDir::new("exporter-slow");
    // A collector that accepts and never reads, with small buffers.
    let l = small_listener();
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.add(Stream::Dns, Transport::Tcp, &[l.local_addr().unwrap()]);
    cfg.tcp_send_buffer = Some(4096);
    cfg.ring_chunks = 64;
    let clock = TestClock::new();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    poll_until(&mut ex, &clock, |s| s.collectors[0].up);
    let conn = accept(&l);
    let ts = (T0 / 1_000_000) as u32;
    let mut produced = 0u64;
    let mut longest = Duration::ZERO;
    for _ in 0..200 {
        for _ in 0..50 {
            produced += push_stream(&mut senders[0], Stream::Dns, ts) as u64;
        }
        senders[0].flush();
        clock.advance(10_000);
        let t = Instant::now();
        ex.poll(&clock);
        longest = longest.max(t.elapsed());
    }
    // A record counts as exported once the peer's kernel acknowledged it; on a
    // loaded machine the acknowledgements can trail the last send a little.
    for _ in 0..200 {
        if ex.stats().stream(Stream::Dns).exported > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        clock.advance(10_000);
        ex.poll(&clock);
    }
    let s = ex.stats();
    let st = *s.stream(Stream::Dns);
    assert!(
        longest < Duration::from_millis(500),
        "poll took {longest:?}"
    );
    assert!(st.dropped_backpressure > 0, "{st:?}");
    assert!(st.exported > 0, "{st:?}");
    assert_eq!(st.produced, produced);
    assert!(s.collectors[0].up, "a slow collector is not a lost one");
    // The alert line, once per interval however many skips.
    clock.advance(1_000_000);
    ex.poll(&clock);
    let alert = std::fs::read_to_string(dir.join("fastdpi_alert.log")).unwrap();
    let lines: Vec<&str> = alert
        .lines()
        .filter(|l| l.starts_with("[NFLW] very long operation"))
        .collect();
    assert!(!lines.is_empty(), "{alert}");
    assert!(lines.len() <= 3, "rate-limited: {alert}");
    assert!(
        lines[0].contains("tcp ") && lines[0].contains("(dns)") && lines[0].contains("skipped"),
        "{}",
        lines[0]
    );
    // The collector reads again: whole messages only, as many records as exported.
    let mut peer = TcpPeer::new(conn);
    let mut msgs = Vec::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        ex.poll(&clock);
        msgs.extend(peer.read());
        let got: usize = decode_all(&mut TemplateCache::new(), &msgs)
            .iter()
            .map(|m| m.records.iter().filter(|r| !r.options).count())
            .sum();
        if got as u64 == ex.stats().stream(Stream::Dns).exported {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let d = decode_all(&mut TemplateCache::new(), &msgs);
    let got: u64 = d
        .iter()
        .map(|m| m.records.iter().filter(|r| !r.options).count() as u64)
        .sum();
    let st = *ex.stats().stream(Stream::Dns);
    assert_eq!(got, st.exported);
    assert!(d.iter().all(|m| m.unknown_sets == 0));
    // Every record is accounted for: exported, skipped, or dropped.
    assert_eq!(
        st.exported + st.dropped_backpressure + st.dropped_down + st.dropped_before_export(),
        produced,
        "{st:?}"
    );
}

/// A TCP collector that stops reading for a second (a disk flush, a garbage
/// collection) with `backlog` octets of backlog, then reads again: its stats,
/// what was produced, the messages it read, and the octets that waited in the
/// backlog when the stall ended.
fn stalled_tcp_collector(
    name: &str,
    backlog: usize,
) -> (ExportStats, u64, Vec<DecodedMessage>, u64) {
    let dir = TestDir::new(name);
    let l = small_listener();
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.add(Stream::Dns, Transport::Tcp, &[l.local_addr().unwrap()]);
    cfg.tcp_send_buffer = Some(4096);
    cfg.tcp_backlog = backlog;
    let clock = TestClock::new();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    poll_until(&mut ex, &clock, |s| s.collectors[0].up);
    let mut peer = TcpPeer::new(accept(&l));
    let ts = (T0 / 1_000_000) as u32;
    let mut produced = 0u64;
    // 100 cycles of 10 ms, 100 records each: the collector reads nothing.
    for _ in 0..100 {
        for _ in 0..50 {
            produced += push_stream(&mut senders[0], Stream::Dns, ts) as u64;
        }
        senders[0].flush();
        clock.advance(10_000);
        ex.poll(&clock);
    }
    let waited = ex.stats().collectors[0].backlog_octets;
    // It reads again.
    let mut msgs = Vec::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        clock.advance(10_000);
        ex.poll(&clock);
        msgs.extend(peer.read());
        let st = *ex.stats().stream(Stream::Dns);
        if st.exported + st.dropped_backpressure == produced
            && ex.stats().collectors[0].unacked == 0
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(20));
    msgs.extend(peer.read());
    let d = decode_all(&mut TemplateCache::new(), &msgs);
    (ex.stats(), produced, d, waited)
}

#[test]
fn a_tcp_collector_that_stalls_loses_nothing_its_backlog_holds() {
    let (s, produced, d, waited) = stalled_tcp_collector("exporter-stall-backlog", 4 << 20);
    assert!(
        waited > 100_000,
        "the stall filled the backlog: {waited} octets"
    );
    let st = *s.stream(Stream::Dns);
    assert_eq!(st.exported, produced, "{st:?}");
    assert_eq!(st.dropped_backpressure, 0, "{st:?}");
    assert_eq!(
        s.collectors[0].backlog_octets, 0,
        "written out: {:?}",
        s.collectors[0]
    );
    let data: u64 = d
        .iter()
        .map(|m| m.records.iter().filter(|r| !r.options).count() as u64)
        .sum();
    assert_eq!(data, produced);
    // Whole messages, in order: each sequence number follows the last message's.
    for w in d.windows(2) {
        let next = w[0].seq.wrapping_add(w[0].records.len() as u32);
        assert_eq!(w[1].seq, next, "a gap in the sequence");
    }

    // The same stall with a backlog of one message skips records, and counts them.
    let (s, produced, _, _) = stalled_tcp_collector("exporter-stall-no-backlog", 0);
    let st = *s.stream(Stream::Dns);
    assert!(st.dropped_backpressure > 0, "{st:?}");
    assert_eq!(st.exported + st.dropped_backpressure, produced, "{st:?}");
}

#[test]
fn a_cycle_past_its_period_skips_the_remaining_chunks() {
    let dir = TestDir::new("exporter-overrun");
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.add(Stream::Dns, Transport::Udp, &[u.local_addr().unwrap()]);
    cfg.cycle_period_us = 10_000;
    cfg.chunk_bytes = 256;
    cfg.ring_chunks = 16;
    let clock = TestClock::new();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    ex.poll(&clock);
    let tx = &mut senders[0];
    let fill = |tx: &mut RecordSender, n: usize| {
        for _ in 0..n {
            let mut c = tx.take_chunk().unwrap();
            c.push(&samples::dns(1, false), tx.record_limit()).unwrap();
            tx.try_send(c).unwrap();
        }
    };
    // A slow cycle with room in the ring: one record per chunk, each clock read
    // takes 3 ms; chunks at +3, +6, +9 ms are sent, the rest wait for the next
    // cycle: nothing is lost.
    fill(tx, 10);
    clock.step.set(3_000);
    ex.poll(&clock);
    clock.step.set(0);
    let st = *ex.stats().stream(Stream::Dns);
    assert_eq!((st.received, st.exported, st.dropped_skipped), (3, 3, 0));
    ex.poll(&clock);
    let s = ex.stats();
    assert_eq!(s.chunks_skipped, 0);
    assert_eq!(s.cycles_over, 1);
    let st = s.stream(Stream::Dns);
    assert_eq!((st.received, st.exported, st.dropped_skipped), (10, 10, 0));

    // A slow cycle with the ring full (16 chunks): 3 sent, then skipped down to
    // three quarters (12), the 12 left for the next cycle. (Later than the alert
    // interval: a line of its own.)
    clock.advance(2_000_000);
    fill(tx, 16);
    clock.step.set(3_000);
    ex.poll(&clock);
    clock.step.set(0);
    let s = ex.stats();
    assert_eq!(s.chunks_skipped, 1);
    let st = s.stream(Stream::Dns);
    assert_eq!((st.received, st.exported, st.dropped_skipped), (14, 13, 1));
    ex.poll(&clock);
    let st = *ex.stats().stream(Stream::Dns);
    assert_eq!((st.received, st.exported, st.dropped_skipped), (26, 25, 1));
    let alert = std::fs::read_to_string(dir.join("fastdpi_alert.log")).unwrap();
    let lines: Vec<&str> = alert.lines().collect();
    assert_eq!(lines.len(), 2, "{alert}");
    assert!(
        lines[0].contains("skipped 0 chunk(s) = 0 records"),
        "{alert}"
    );
    assert!(
        lines[1].contains("skipped 1 chunk(s) = 1 records (clickstream 0, meta 0, dns 1) ["),
        "{alert}"
    );
    // The workers' chunks all came back.
    let mut n = 0;
    while tx.take_chunk().is_some() {
        n += 1;
    }
    assert_eq!(n, 16 + 2);
}

/// Parses one section of `fastdpi_stat.log`.
fn parse_section(l1: &str, l2: &str) -> (String, [u64; 2], String, [u64; 2]) {
    let rest = l1.strip_prefix("[STAT    ][").expect(l1);
    let (time, tail) = rest.split_once(']').unwrap();
    assert_eq!(tail, " Statistics on NFLW_export :");
    // YYYY/MM/DD-HH:MM:SS:micro
    let b = time.as_bytes();
    assert_eq!(time.len(), 26, "{time}");
    for (i, c) in [
        (4, b'/'),
        (7, b'/'),
        (10, b'-'),
        (13, b':'),
        (16, b':'),
        (19, b':'),
    ] {
        assert_eq!(b[i], c, "{time}");
    }
    let inner = l2
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .expect(l2);
    let f: Vec<&str> = inner.split('/').collect();
    assert_eq!(f.len(), 5, "{l2}");
    let pct = f[2].strip_suffix('%').expect(l2).to_string();
    let us = |s: &str| s.strip_suffix("us").expect(l2).parse::<u64>().unwrap();
    (
        time.to_string(),
        [f[0].parse().unwrap(), f[1].parse().unwrap()],
        pct,
        [us(f[3]), us(f[4])],
    )
}

#[test]
fn stat_log_format() {
    let dir = TestDir::new("exporter-stat");
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.stat_log = true;
    cfg.stat_period_secs = 1;
    cfg.cycle_period_us = 10_000;
    let clock = TestClock::new();
    let (mut ex, _senders) = Exporter::new(cfg).unwrap();
    for q in 0..4 {
        clock.set(T0 + q * 250_000);
        ex.poll(&clock);
    }
    assert!(
        !dir.join("fastdpi_stat.log").exists(),
        "not before the period"
    );
    // A cycle of 15 ms (two clock reads 15 ms apart) against a 10 ms period.
    clock.set(T0 + 1_000_000);
    clock.step.set(15_000);
    ex.poll(&clock);
    clock.step.set(0);
    // The second period: 3 cycles of 0 µs.
    for q in 1..=3 {
        clock.set(T0 + 1_015_000 + q * 400_000);
        ex.poll(&clock);
    }
    let text = std::fs::read_to_string(dir.join("fastdpi_stat.log")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(text.ends_with('\n'));
    let (time, ab, pct, de) = parse_section(lines[0], lines[1]);
    assert_eq!(time, metaprobe_export::logs::format_time(T0 + 1_015_000));
    assert_eq!(time, "2023/11/14-22:13:21:015000");
    assert_eq!(
        (ab, pct.as_str(), de),
        ([5, 1], "20.00", [15_000, 1_015_000])
    );
    assert_eq!(
        lines[1], "{5/1/20.00%/15000us/1015000us}",
        "exactly as spec §9"
    );
    let (_, ab, pct, de) = parse_section(lines[2], lines[3]);
    assert_eq!((ab, pct.as_str(), de), ([3, 0], "0.00", [0, 1_200_000]));
    assert_eq!(ex.stats().stat_sections, 2);
    // Without dbg_log_mask 0x80: no file.
    let dir2 = TestDir::new("exporter-nostat");
    let mut cfg = ExporterConfig::new(dir2.path());
    cfg.stat_period_secs = 1;
    let (mut ex, _senders) = Exporter::new(cfg).unwrap();
    for q in 0..5 {
        clock.set(T0 + q * 500_000);
        ex.poll(&clock);
    }
    assert!(!dir2.join("fastdpi_stat.log").exists());
}

#[test]
fn a_missing_device_is_a_start_error() {
    let mut cfg = ExporterConfig::new(std::env::temp_dir());
    cfg.ipfix_dev = "mp-nosuch0".into();
    cfg.add(
        Stream::Dns,
        Transport::Udp,
        &["127.0.0.1:4739".parse().unwrap()],
    );
    let e = Exporter::new(cfg).unwrap_err().to_string();
    assert!(
        e.starts_with("ipfix_dev: ") && e.contains("\"mp-nosuch0\""),
        "{e}"
    );
    // An MTU that cannot carry the templates names ipfix_mtu.
    let mut cfg = ExporterConfig::new(std::env::temp_dir());
    cfg.mtu = 200;
    cfg.add(
        Stream::Clickstream,
        Transport::Tcp,
        &["127.0.0.1:4739".parse().unwrap()],
    );
    let e = Exporter::new(cfg).unwrap_err().to_string();
    assert!(e.starts_with("ipfix_mtu: "), "{e}");
}

#[test]
fn bound_to_lo_when_ipfix_dev_is_set() {
    if metaprobe_export::transport::check_device("lo").is_err() {
        eprintln!("skipped: SO_BINDTODEVICE needs CAP_NET_RAW");
        return;
    }
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cfg = ExporterConfig::new(std::env::temp_dir());
    cfg.ipfix_dev = "lo".into();
    cfg.add(Stream::Dns, Transport::Udp, &[u.local_addr().unwrap()]);
    cfg.add(Stream::Dns, Transport::Tcp, &[l.local_addr().unwrap()]);
    let clock = TestClock::new();
    let (mut ex, _senders) = Exporter::new(cfg).unwrap();
    poll_until(&mut ex, &clock, |s| s.collectors[1].up);
    let d = decode_all(&mut TemplateCache::new(), &recv_all(&u));
    assert!(d[0].templates > 0);
}

/// A request with a 20 000-octet cookie, to a TCP and a UDP collector of the
/// clickstream stream: the TCP collector gets it whole (one message of its own),
/// the UDP collector a record cut to its MTU, counted as truncated.
#[test]
fn tcp_collectors_get_fields_whole_and_udp_ones_cut_to_the_mtu() {
    use metaprobe_ipfix::collect::Value;
    use metaprobe_ipfix::field::Text;
    use metaprobe_ipfix::template::Clickstream;
    let dir = TestDir::new("exporter-whole");
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.add(
        Stream::Clickstream,
        Transport::Udp,
        &[u.local_addr().unwrap()],
    );
    cfg.add(
        Stream::Clickstream,
        Transport::Tcp,
        &[l.local_addr().unwrap()],
    );
    let clock = TestClock::new();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    poll_until(&mut ex, &clock, |s| s.collectors.iter().all(|c| c.up));
    let mut peer = TcpPeer::new(accept(&l));
    let cookie = "k=".to_string() + &"v".repeat(20_000);
    let ts = (T0 / 1_000_000) as u32;
    let long = Clickstream {
        cookie: Text::from_str(&cookie),
        ..samples::clickstream(ts, false)
    };
    assert!(senders[0].push(&long));
    assert!(senders[0].push(&samples::clickstream(ts, false)));
    senders[0].flush();
    clock.advance(1_000_000);
    let stats = poll_until(&mut ex, &clock, |s| {
        s.collectors.iter().map(|c| c.exported).sum::<u64>() == 4
    });
    let cookies = |d: &[DecodedMessage]| -> Vec<usize> {
        d.iter()
            .flat_map(|m| m.records.iter())
            .filter(|r| !r.options)
            .map(|r| match r.get("COOKIE") {
                Some(Value::Str(s)) => s.len(),
                other => panic!("COOKIE {other:?}"),
            })
            .collect()
    };
    let short = samples::clickstream(ts, false).cookie.len();
    let over_udp = cookies(&decode_all(&mut TemplateCache::new(), &recv_all(&u)));
    assert_eq!(over_udp.len(), 2);
    assert!(over_udp[0] < 1500 && over_udp[0] > 1000, "{over_udp:?}");
    assert_eq!(over_udp[1], short);
    let t = Instant::now();
    let mut msgs = Vec::new();
    while cookies(&decode_all(&mut TemplateCache::new(), &msgs)).len() < 2 {
        msgs.extend(peer.read());
        assert!(t.elapsed() < Duration::from_secs(10));
    }
    assert_eq!(
        cookies(&decode_all(&mut TemplateCache::new(), &msgs)),
        vec![cookie.len(), short],
        "TCP: whole"
    );
    assert_eq!(stats.stream(Stream::Clickstream).truncated, 1);
    let udp = stats
        .collectors
        .iter()
        .find(|c| c.spec.transport == Transport::Udp)
        .unwrap();
    assert_eq!(udp.refitted, 1);
}

/// The counters of the source, as (name, value) of the counter records in `d`.
fn counter_records(d: &[DecodedMessage]) -> Vec<(String, u64)> {
    use metaprobe_ipfix::collect::Value;
    d.iter()
        .flat_map(|m| m.records.iter())
        .filter(|r| r.kind.as_deref() == Some("counter"))
        .map(|r| match (r.get("COUNTER_NAME"), r.get("COUNTER_VALUE")) {
            (Some(Value::Str(n)), Some(Value::Unsigned(v))) => (n.clone(), *v),
            _ => panic!("{r:?}"),
        })
        .collect()
}

/// The counters of the source reach the collector in a statistics report
/// when a statistics period ends and they moved (not when they stood
/// still), and once more with their final values at shutdown.
#[test]
fn counters_are_reported_each_period_they_moved_and_at_shutdown() {
    use metaprobe_ipfix::session::NamedCount;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = TestDir::new("exporter-counters");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.add(Stream::Meta, Transport::Udp, &[sock.local_addr().unwrap()]);
    cfg.stat_period_secs = 5;
    cfg.udp_template_timer = 0;
    let clock = TestClock::new();
    let (mut ex, _senders) = Exporter::new(cfg).unwrap();
    let malformed = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let (m, r) = (Arc::clone(&malformed), Arc::clone(&reads));
    ex.set_counter_source(Box::new(move |out| {
        r.fetch_add(1, Ordering::Relaxed);
        out.push(NamedCount {
            family: "analysis",
            name: "tls-malformed",
            value: m.load(Ordering::Relaxed),
        });
    }));
    let mut cache = TemplateCache::new();
    ex.poll(&clock);
    let round = decode_all(&mut cache, &recv_all(&sock));
    assert!(round[0].templates > 0);
    assert_eq!(counter_records(&round), [], "nothing read yet");
    assert_eq!(reads.load(Ordering::Relaxed), 0, "not read between periods");
    // A period ends with the counter moved: a report.
    malformed.store(1, Ordering::Relaxed);
    clock.advance(5_000_000);
    ex.poll(&clock);
    let d = decode_all(&mut cache, &recv_all(&sock));
    assert_eq!(counter_records(&d), [("tls-malformed".to_string(), 1)]);
    assert!(d.iter().all(|m| m.templates == 0));
    // A period with nothing moved: no report.
    clock.advance(5_000_000);
    ex.poll(&clock);
    assert!(recv_all(&sock).is_empty());
    assert_eq!(reads.load(Ordering::Relaxed), 2);
    // Shutdown reports the final values whatever the period.
    malformed.store(3, Ordering::Relaxed);
    clock.advance(1_000_000);
    ex.shutdown(&clock);
    let d = decode_all(&mut cache, &recv_all(&sock));
    assert_eq!(counter_records(&d), [("tls-malformed".to_string(), 3)]);
    let r = d
        .iter()
        .flat_map(|m| m.records.iter())
        .find(|r| r.kind.as_deref() == Some("counter"))
        .unwrap();
    assert_eq!(
        r.get("meteringProcessId"),
        Some(&metaprobe_ipfix::collect::Value::Unsigned(u64::from(
            std::process::id()
        )))
    );
    assert_eq!(
        r.get("COUNTER_FAMILY"),
        Some(&metaprobe_ipfix::collect::Value::Str("analysis".into()))
    );
    assert_eq!(ex.stats().stream(Stream::Meta).exported, 0, "options only");
}
