//! The export lcore's loop body, without DPDK: worker rings in, IPFIX
//! messages out to every collector of every stream.
//!
//! ```text
//!  worker 0: RecordSender ──ArrayQueue<Chunk>──┐            ┌─► Session ─► UdpTransport ─► collector
//!     ▲          └────────◄── free chunks ◄────┤  Exporter  ├─► Session ─► TcpTransport ─► collector
//!  worker 1: RecordSender ──ArrayQueue<Chunk>──┘  ::poll    └─► …   (3 streams × their collectors)
//! ```
//!
//! - A worker encodes records into a [`Chunk`] ([`RecordSender::push`]) and
//!   hands full chunks over with [`RecordSender::try_send`]: a full ring
//!   gives the chunk back and counts its records as dropped; the worker
//!   never waits. Chunks come back through a free ring: after start-up
//!   nothing is allocated.
//! - [`Exporter::poll`] runs one send cycle: TCP connections are driven
//!   (connect, reconnect with backoff, templates first), the chunks present
//!   in the rings are drained and every record goes to every collector of
//!   its stream, then every session is flushed. The cycle has a period
//!   ([`ExporterConfig::cycle_period_us`]); a cycle that runs past it skips
//!   the rest of the chunks, and a collector whose socket is full (EAGAIN)
//!   skips the rest of the cycle's records: skipped records are counted and
//!   reported with `[NFLW] very long operation ...` in `fastdpi_alert.log`,
//!   rate-limited. Nothing blocks and nothing queues without bound.
//! - Time comes from a [`Clock`] passed to `poll` (the cycle reads it at its
//!   start, between chunks and at its end), so tests drive it by hand.
//! - Every `netflow_timeout` seconds the cycle statistics of spec §9 go to
//!   `fastdpi_stat.log` (with `dbg_log_mask & 0x80`), and the drop counts go
//!   to each collector as RFC 7011 §4.3 reliability records.
//! - The DNS text log (spec §8, [`ExporterConfig::dns_log`]) is written here,
//!   never by a worker: every DNS record (templates 272/273) the cycle drains
//!   is read back from its encoded bytes ([`DnsRecordView`]) and written as a
//!   line, whether or not the dns stream has collectors, so IPFIX and the log
//!   agree record for record (records of a chunk skipped by an overrun cycle
//!   are skipped by both). The log is polled once a second (time rotation,
//!   lines that waited) and flushed by [`Exporter::shutdown`]; its failures
//!   are `[DNSLOG]` lines in `fastdpi_alert.log` (rate-limited like the
//!   others) and counted drops, never a panic.
//! - Records of a stream without collectors are counted as not exported
//!   ([`StreamStats::not_exported_no_collector`]), without an alert.

use crate::dns_record::DnsRecordView;
use crate::dnslog::{DnsLog, DnsLogConfig, DnsLogError, DnsLogStats};
use crate::encoder::Chunk;
use crate::logs::{self, CycleStats};
use crate::session::{PushError, Reliability, Session, SessionConfig, Transport};
use crate::template::{self, RELIABILITY_TEMPLATE_ID, Record, Stream, TemplateId};
use crate::transport::{
    RECONNECT_MAX_US, RECONNECT_MIN_US, SendOutcome, StartError, TcpEvent, TcpTransport,
    UdpTransport,
};
use crossbeam_queue::ArrayQueue;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Where time comes from: Unix microseconds.
pub trait Clock {
    /// Now, Unix µs.
    fn now_us(&self) -> u64;
}

impl<F: Fn() -> u64> Clock for F {
    fn now_us(&self) -> u64 {
        self()
    }
}

/// The system's real-time clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    }
}

/// One collector of one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CollectorSpec {
    /// The stream it receives (whole).
    pub stream: Stream,
    /// UDP or TCP.
    pub transport: Transport,
    /// Its address.
    pub addr: SocketAddr,
}

impl CollectorSpec {
    /// The configuration key of its list (spec §1).
    pub const fn key(&self) -> &'static str {
        match (self.stream, self.transport) {
            (Stream::Clickstream, Transport::Udp) => "ipfix_udp_collectors",
            (Stream::Clickstream, Transport::Tcp) => "ipfix_tcp_collectors",
            (Stream::Meta, Transport::Udp) => "ipfix_meta_udp_collectors",
            (Stream::Meta, Transport::Tcp) => "ipfix_meta_tcp_collectors",
            (Stream::Dns, Transport::Udp) => "ipfix_dns_udp_collectors",
            (Stream::Dns, Transport::Tcp) => "ipfix_dns_tcp_collectors",
        }
    }
}

impl core::fmt::Display for CollectorSpec {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let t = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        write!(f, "{t} {} ({})", self.addr, self.stream.name())
    }
}

/// How long [`Exporter::shutdown`] waits for congested collectors, µs.
const SHUTDOWN_DRAIN_US: u64 = 200_000;

/// Everything the exporter needs; [`ExporterConfig::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct ExporterConfig {
    /// Every collector (the six `ipfix_*_collectors` lists).
    pub collectors: Vec<CollectorSpec>,
    /// `ipfix_dev`: interface the sockets are bound to; "" none.
    pub ipfix_dev: String,
    /// `ipfix_mtu`: largest IP packet of a message.
    pub mtu: usize,
    /// `ipfix_domain_id`.
    pub domain_id: u32,
    /// exportingProcessId of the reliability records.
    pub exporting_process_id: u32,
    /// `ipfix_udp_template_timer`, seconds.
    pub udp_template_timer: u32,
    /// Worker rings (one [`RecordSender`] each).
    pub workers: usize,
    /// Chunks each worker ring holds.
    pub ring_chunks: usize,
    /// Octets of one chunk (raised to hold at least one record of the limit).
    pub chunk_bytes: usize,
    /// Send cycle period, µs: [`Exporter::run`] polls this often, and a
    /// cycle longer than this skips chunks.
    pub cycle_period_us: u64,
    /// `log_dir`: where `fastdpi_alert.log` and `fastdpi_stat.log` go.
    pub log_dir: PathBuf,
    /// `dbg_log_mask & 0x80`: write `fastdpi_stat.log`.
    pub stat_log: bool,
    /// `netflow_timeout`: statistics period, seconds (also the period of
    /// the reliability records).
    pub stat_period_secs: u32,
    /// Least time between two alert writes, µs.
    pub alert_interval_us: u64,
    /// First TCP reconnect delay, µs.
    pub reconnect_min_us: u64,
    /// Longest TCP reconnect delay, µs.
    pub reconnect_max_us: u64,
    /// `SO_SNDBUF` of the TCP sockets; None: the system's.
    pub tcp_send_buffer: Option<usize>,
    /// The DNS text log (`ajb_save_dns`): `DnsLogConfig::from_config(&cfg)`;
    /// None: off. Independent of the dns stream's collectors.
    pub dns_log: Option<DnsLogConfig>,
}

impl ExporterConfig {
    /// Defaults: MTU 1500, template timer 20 s, statistics every 30 s, one
    /// worker, rings of 128 chunks of 16 KiB, a 10 ms cycle, alerts at most
    /// once a second, reconnects 1 s → 30 s.
    pub fn new(log_dir: impl Into<PathBuf>) -> Self {
        ExporterConfig {
            collectors: Vec::new(),
            ipfix_dev: String::new(),
            mtu: 1500,
            domain_id: 0,
            exporting_process_id: std::process::id(),
            udp_template_timer: 20,
            workers: 1,
            ring_chunks: 128,
            chunk_bytes: 16 * 1024,
            cycle_period_us: 10_000,
            log_dir: log_dir.into(),
            stat_log: false,
            stat_period_secs: 30,
            alert_interval_us: 1_000_000,
            reconnect_min_us: RECONNECT_MIN_US,
            reconnect_max_us: RECONNECT_MAX_US,
            tcp_send_buffer: None,
            dns_log: None,
        }
    }

    /// Adds collectors of one list.
    pub fn add(&mut self, stream: Stream, transport: Transport, addrs: &[SocketAddr]) {
        self.collectors
            .extend(addrs.iter().map(|&addr| CollectorSpec {
                stream,
                transport,
                addr,
            }));
    }
}

const fn si(s: Stream) -> usize {
    match s {
        Stream::Clickstream => 0,
        Stream::Meta => 1,
        Stream::Dns => 2,
    }
}

/// Index of the dns stream.
const DNS: usize = si(Stream::Dns);

/// Template id → stream index, for ids 256.. (a small table, built once).
#[derive(Clone, Debug)]
struct Routes(Vec<Option<u8>>);

impl Routes {
    fn new() -> Self {
        let max = template::all().map(|t| t.id().0).max().unwrap_or(255);
        let mut v = vec![None; usize::from(max.saturating_sub(255))];
        for t in template::all() {
            if let Some(slot) = v.get_mut(usize::from(t.id().0.wrapping_sub(256))) {
                *slot = Some(si(t.def.stream) as u8);
            }
        }
        Routes(v)
    }

    #[inline]
    fn stream(&self, id: TemplateId) -> Option<usize> {
        let i = usize::from(id.0.checked_sub(256)?);
        self.0.get(i).copied().flatten().map(usize::from)
    }
}

// --- worker side ---------------------------------------------------------------------

/// Counters a worker updates (atomics: read by the exporter and the binary).
#[derive(Debug, Default)]
struct SenderShared {
    ring_full: [AtomicU64; 3],
    ring_full_octets: [AtomicU64; 3],
    no_chunk: [AtomicU64; 3],
    too_long: [AtomicU64; 3],
    truncated: [AtomicU64; 3],
    chunks_sent: AtomicU64,
}

impl SenderShared {
    /// Counts the records of a chunk refused by a full ring, per stream.
    fn count_ring_full(&self, routes: &Routes, chunk: &Chunk) {
        let mut n = [0u64; 3];
        let mut o = [0u64; 3];
        for (id, rec) in chunk.iter() {
            if let Some(s) = routes.stream(id)
                && let (Some(n), Some(o)) = (n.get_mut(s), o.get_mut(s))
            {
                *n += 1;
                *o += rec.len() as u64;
            }
        }
        for ((c, co), (n, o)) in self
            .ring_full
            .iter()
            .zip(&self.ring_full_octets)
            .zip(n.into_iter().zip(o))
        {
            if n > 0 {
                c.fetch_add(n, Ordering::Relaxed);
                co.fetch_add(o, Ordering::Relaxed);
            }
        }
    }
}

/// A worker's end of its ring to the export lcore. `Send`: move it to the
/// worker; one per worker (the ring is single-producer by ownership).
#[derive(Debug)]
pub struct RecordSender {
    ring: Arc<ArrayQueue<Chunk>>,
    free: Arc<ArrayQueue<Chunk>>,
    shared: Arc<SenderShared>,
    routes: Routes,
    limit: usize,
    cur: Option<Chunk>,
}

impl RecordSender {
    /// The longest data record every collector session can carry: the
    /// `limit` to give [`Chunk::push`].
    pub fn record_limit(&self) -> usize {
        self.limit
    }

    /// A cleared chunk from the free ring; None when every chunk is in
    /// flight (the ring is full of them).
    pub fn take_chunk(&self) -> Option<Chunk> {
        self.free.pop()
    }

    /// Hands `chunk` to the export lcore. A full ring gives it back (`Err`),
    /// its records counted as dropped (ring full): clear it and reuse it.
    /// An empty chunk goes straight back to the free ring.
    pub fn try_send(&self, chunk: Chunk) -> Result<(), Chunk> {
        if chunk.is_empty() {
            let _ = self.free.push(chunk);
            return Ok(());
        }
        match self.ring.push(chunk) {
            Ok(()) => {
                self.shared.chunks_sent.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(chunk) => {
                self.shared.count_ring_full(&self.routes, &chunk);
                Err(chunk)
            }
        }
    }

    /// Encodes `r` into the current chunk; a full chunk is sent first.
    /// Returns false when the record was dropped (counted: ring full, no
    /// free chunk, or a record that cannot fit the limit).
    pub fn push<R: Record>(&mut self, r: &R) -> bool {
        let s = si(r.template().def.stream);
        let limit = self.limit;
        for _ in 0..2 {
            let Some(chunk) = self.current() else {
                if let Some(c) = self.shared.no_chunk.get(s) {
                    c.fetch_add(1, Ordering::Relaxed);
                }
                return false;
            };
            match chunk.push(r, limit) {
                Ok(pushed) => {
                    // Cut to fit the MTU: exported, but said so.
                    if pushed.truncated
                        && let Some(c) = self.shared.truncated.get(s)
                    {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                    return true;
                }
                Err(crate::encoder::EncodeError::NoRoom { .. }) if !chunk.is_empty() => {
                    self.flush();
                }
                Err(_) => break,
            }
        }
        if let Some(c) = self.shared.too_long.get(s) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        false
    }

    fn current(&mut self) -> Option<&mut Chunk> {
        if self.cur.is_none() {
            self.cur = self.free.pop();
        }
        self.cur.as_mut()
    }

    /// Sends the current chunk if it holds records (call at the end of a
    /// burst or when idle, so records do not wait for a chunk to fill).
    pub fn flush(&mut self) {
        let Some(chunk) = self.cur.take() else { return };
        if chunk.is_empty() {
            self.cur = Some(chunk);
            return;
        }
        if let Err(mut chunk) = self.try_send(chunk) {
            chunk.clear();
            self.cur = Some(chunk);
        }
    }
}

/// The exporter's end of one worker ring.
#[derive(Debug)]
struct WorkerRing {
    ring: Arc<ArrayQueue<Chunk>>,
    free: Arc<ArrayQueue<Chunk>>,
    shared: Arc<SenderShared>,
}

// --- statistics ------------------------------------------------------------------------

/// Record counts of one stream. Records reach every collector of their
/// stream: `exported`, `dropped_backpressure` and `dropped_down` count
/// (record, collector) deliveries, summed over the stream's collectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Records the workers made: received + ring full + no chunk + too long.
    pub produced: u64,
    /// Records drained from the rings by the export lcore.
    pub received: u64,
    /// Deliveries written to a collector.
    pub exported: u64,
    /// Records dropped by a worker because its ring was full.
    pub dropped_ring_full: u64,
    /// Records dropped by a worker with no free chunk.
    pub dropped_no_chunk: u64,
    /// Records longer than the record limit.
    pub dropped_too_long: u64,
    /// Records exported with a variable-length field cut to fit the MTU.
    pub truncated: u64,
    /// Records of chunks skipped by a cycle that ran past its period.
    pub dropped_skipped: u64,
    /// Deliveries skipped because a collector's socket was full.
    pub dropped_backpressure: u64,
    /// Deliveries dropped because a collector was down (TCP) or a send failed.
    pub dropped_down: u64,
    /// Records received for a stream that has no collector (not exported over
    /// IPFIX; DNS records may still go to the text log). Not a drop: no alert.
    pub not_exported_no_collector: u64,
}

impl StreamStats {
    /// Records that never reached the export lcore's sessions (for every
    /// collector of the stream).
    pub fn dropped_before_export(&self) -> u64 {
        self.dropped_ring_full
            + self.dropped_no_chunk
            + self.dropped_too_long
            + self.dropped_skipped
    }
}

/// Counts of one collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CollectorStats {
    /// Which collector.
    pub spec: CollectorSpec,
    /// Connected (always true for UDP).
    pub up: bool,
    /// Data records written.
    pub exported: u64,
    /// Data records skipped: socket buffer full.
    pub dropped_backpressure: u64,
    /// Data records dropped: collector down or send failed.
    pub dropped_down: u64,
    /// Messages written (templates included).
    pub messages: u64,
    /// Template messages that could not be written.
    pub templates_lost: u64,
    /// TCP connections established.
    pub connects: u64,
    /// TCP connections lost.
    pub losses: u64,
}

/// Everything the exporter counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Per stream, in [`Stream::ALL`] order.
    pub streams: [StreamStats; 3],
    /// Per collector, in configuration order.
    pub collectors: Vec<CollectorStats>,
    /// Send cycles run.
    pub cycles: u64,
    /// Cycles longer than the period.
    pub cycles_over: u64,
    /// Chunks skipped by those cycles.
    pub chunks_skipped: u64,
    /// Records with a template of no stream (a worker's bug).
    pub invalid_records: u64,
    /// Lines written to `fastdpi_alert.log`.
    pub alert_lines: u64,
    /// Sections written to `fastdpi_stat.log`.
    pub stat_sections: u64,
    /// Log writes that failed.
    pub log_errors: u64,
    /// The DNS text log's counters (lines, dropped lines, rotations, errors);
    /// None when the log is off.
    pub dns_log: Option<DnsLogStats>,
    /// DNS records the log could not read (not the DNS template's layout: a
    /// worker's bug); not written to the log.
    pub dns_log_unreadable: u64,
}

impl ExportStats {
    /// The counts of `s`.
    pub fn stream(&self, s: Stream) -> &StreamStats {
        let [c, m, d] = &self.streams;
        match s {
            Stream::Clickstream => c,
            Stream::Meta => m,
            Stream::Dns => d,
        }
    }
}

/// A handle to read the exporter's counters from another thread.
#[derive(Clone, Debug)]
pub struct ExportHandle {
    published: Arc<Mutex<ExportStats>>,
    senders: Vec<Arc<SenderShared>>,
}

impl ExportHandle {
    /// The counters now: the exporter's as of its last cycle, the workers'
    /// as of now.
    pub fn snapshot(&self) -> ExportStats {
        let mut s = self
            .published
            .lock()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        for w in &self.senders {
            for (i, st) in s.streams.iter_mut().enumerate() {
                let get = |a: &[AtomicU64; 3]| a.get(i).map_or(0, |x| x.load(Ordering::Relaxed));
                st.dropped_ring_full += get(&w.ring_full);
                st.dropped_no_chunk += get(&w.no_chunk);
                st.dropped_too_long += get(&w.too_long);
                st.truncated += get(&w.truncated);
            }
        }
        for st in &mut s.streams {
            st.produced =
                st.received + st.dropped_ring_full + st.dropped_no_chunk + st.dropped_too_long;
        }
        s
    }
}

// --- collectors ------------------------------------------------------------------------

#[derive(Debug)]
enum Tx {
    Udp(UdpTransport),
    Tcp(TcpTransport),
}

#[derive(Clone, Copy, Debug, Default)]
struct CollectorCounters {
    exported: u64,
    backpressure: u64,
    down: u64,
    octets_dropped: u64,
    messages: u64,
    templates_lost: u64,
    first_drop: u32,
    last_drop: u32,
}

impl CollectorCounters {
    fn drop_at(&mut self, now_s: u32) {
        if self.first_drop == 0 {
            self.first_drop = now_s;
        }
        self.last_drop = now_s;
    }
}

#[derive(Debug)]
struct Collector {
    spec: CollectorSpec,
    tx: Tx,
    session: Session,
    /// The socket was full this cycle: the rest of the cycle's records are skipped.
    congested: bool,
    c: CollectorCounters,
    /// Records skipped for backpressure since the last alert.
    alert_skipped: u64,
    /// Events to log (connect, loss).
    events: Vec<String>,
    last_failed: bool,
    reported_not_sent: u64,
}

/// True when `msg` carries only options records (a template round message
/// or a reliability report).
fn options_only(msg: &[u8], templates: bool) -> bool {
    templates
        || msg
            .get(16..18)
            .is_some_and(|b| b == RELIABILITY_TEMPLATE_ID.0.to_be_bytes())
}

impl Collector {
    fn is_up(&self) -> bool {
        match &self.tx {
            Tx::Udp(_) => true,
            Tx::Tcp(t) => t.is_up(),
        }
    }

    /// Start of a cycle: drive the connection.
    fn maintain(&mut self, now_us: u64) {
        let now_s = (now_us / 1_000_000) as u32;
        let Tx::Tcp(t) = &mut self.tx else {
            self.congested = false;
            return;
        };
        let ev = t.maintain(now_us);
        self.congested = t.has_tail();
        if let Some(ev) = ev {
            self.event(now_us, now_s, ev);
        }
    }

    fn event(&mut self, now_us: u64, now_s: u32, ev: TcpEvent) {
        let who = self.spec;
        match ev {
            TcpEvent::Connected => {
                // Templates first, sequence from 0 (RFC 7011 §10.4.2.1).
                let n = self.session.restart();
                if n > 0 {
                    self.c.down += u64::from(n);
                    self.c.drop_at(now_s);
                }
                self.congested = false;
                self.last_failed = false;
                self.events
                    .push(format!("[NFLW] collector {who}: connected"));
            }
            TcpEvent::Lost { reason, retry_at } => {
                self.last_failed = false;
                self.events.push(format!(
                    "[NFLW] collector {who}: connection lost ({reason}); records dropped until it is back, next attempt in {} ms",
                    retry_at.saturating_sub(now_us) / 1000
                ));
            }
            TcpEvent::ConnectFailed { reason, retry_at } => {
                if !self.last_failed {
                    self.events.push(format!(
                        "[NFLW] collector {who}: cannot connect ({reason}); retrying with backoff, next attempt in {} ms",
                        retry_at.saturating_sub(now_us) / 1000
                    ));
                }
                self.last_failed = true;
            }
        }
    }

    /// One record for this collector.
    #[inline]
    fn deliver(&mut self, now_s: u32, now_us: u64, id: TemplateId, rec: &[u8], buf: &mut Vec<u8>) {
        if !self.is_up() {
            self.c.down += 1;
            self.c.octets_dropped += rec.len() as u64;
            self.c.drop_at(now_s);
            return;
        }
        for _ in 0..3 {
            if self.congested {
                break;
            }
            match self.session.push_record(now_s, id, rec) {
                Ok(()) => return,
                Err(PushError::Blocked) => self.transmit(now_s, now_us, buf),
                Err(PushError::WrongTemplate(_) | PushError::TooLong { .. }) => break,
            }
            if !self.is_up() {
                self.c.down += 1;
                self.c.octets_dropped += rec.len() as u64;
                self.c.drop_at(now_s);
                return;
            }
        }
        self.skip(now_s, 1, rec.len());
    }

    fn skip(&mut self, now_s: u32, records: u64, octets: usize) {
        self.c.backpressure += records;
        self.c.octets_dropped += octets as u64;
        self.alert_skipped += records;
        self.c.drop_at(now_s);
    }

    /// Sends every message the session has, until the socket is full.
    fn transmit(&mut self, now_s: u32, now_us: u64, buf: &mut Vec<u8>) {
        while self.is_up() && !self.congested {
            let Some(t) = self.session.poll_transmit(now_s, buf) else {
                break;
            };
            let opts = options_only(buf, t.templates);
            let (outcome, ev) = match &mut self.tx {
                Tx::Udp(u) => (u.send(buf), None),
                Tx::Tcp(tcp) => tcp.send(now_us, buf),
            };
            match outcome {
                SendOutcome::Sent | SendOutcome::Partial => {
                    self.c.messages += 1;
                    if !opts {
                        self.c.exported += u64::from(t.records);
                    }
                    if outcome == SendOutcome::Partial {
                        self.congested = true;
                    }
                }
                SendOutcome::WouldBlock => {
                    self.congested = true;
                    if t.templates {
                        self.c.templates_lost += 1;
                        if let Tx::Tcp(tcp) = &mut self.tx {
                            // A collector that cannot take the templates is
                            // of no use: reconnect (templates first again).
                            if let Some(ev) =
                                tcp.reset(now_us, "the collector does not take the templates")
                            {
                                self.event(now_us, now_s, ev);
                            }
                        }
                    } else if !opts {
                        self.skip(now_s, u64::from(t.records), t.len);
                    }
                }
                SendOutcome::Failed => {
                    if t.templates {
                        self.c.templates_lost += 1;
                    } else if !opts {
                        self.c.down += u64::from(t.records);
                        self.c.octets_dropped += t.len as u64;
                        self.c.drop_at(now_s);
                    }
                    if ev.is_none() {
                        // UDP send error: give up for this cycle.
                        self.congested = true;
                    }
                }
            }
            if let Some(ev) = ev {
                self.event(now_us, now_s, ev);
            }
        }
    }

    fn stats(&self) -> CollectorStats {
        let (connects, losses) = match &self.tx {
            Tx::Udp(_) => (0, 0),
            Tx::Tcp(t) => (t.connects(), t.losses()),
        };
        CollectorStats {
            spec: self.spec,
            up: self.is_up(),
            exported: self.c.exported,
            dropped_backpressure: self.c.backpressure,
            dropped_down: self.c.down,
            messages: self.c.messages,
            templates_lost: self.c.templates_lost,
            connects,
            losses,
        }
    }
}

// --- the exporter ----------------------------------------------------------------------

#[derive(Clone, Copy, Debug, Default)]
struct StreamCounters {
    received: u64,
    skipped: u64,
    skipped_octets: u64,
    /// Worker-side drops seen at the last cycle (to date drops).
    worker_drops_seen: u64,
    no_collector: u64,
    first_drop: u32,
    last_drop: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct AlertAccum {
    overrun_cycles: u64,
    longest_us: u64,
    chunks: u64,
    records: [u64; 3],
}

/// The export lcore: owns the sessions and sockets of every collector and
/// the exporter's ends of the worker rings.
#[derive(Debug)]
pub struct Exporter {
    cfg: ExporterConfig,
    collectors: Vec<Collector>,
    by_stream: [Vec<usize>; 3],
    rings: Vec<WorkerRing>,
    left: Vec<usize>,
    routes: Routes,
    buf: Vec<u8>,
    streams: [StreamCounters; 3],
    invalid: u64,
    cycle: CycleStats,
    cycles_total: u64,
    over_total: u64,
    chunks_skipped: u64,
    stat_start: Option<u64>,
    stat_sections: u64,
    alert: AlertAccum,
    last_alert: Option<u64>,
    alert_lines: u64,
    log_errors: u64,
    dns: DnsLogState,
    published: Arc<Mutex<ExportStats>>,
}

/// The DNS text log as the exporter drives it.
#[derive(Debug, Default)]
struct DnsLogState {
    log: Option<DnsLog>,
    /// The second of the last [`DnsLog::poll`].
    polled: Option<u32>,
    /// Records not of the DNS layout.
    unreadable: u64,
    /// The last failure since the last alert line.
    pending: Option<DnsLogError>,
    /// The log's error and dropped-line counts at the last alert line.
    reported_errors: u64,
    reported_dropped: u64,
}

impl DnsLogState {
    /// Writes the line of one DNS record.
    #[inline]
    fn write(&mut self, now_s: u32, id: TemplateId, rec: &[u8]) {
        let Some(log) = self.log.as_mut() else { return };
        let Some(v) = DnsRecordView::parse(id, rec) else {
            self.unreadable += 1;
            return;
        };
        let rdata = v.rdata_text();
        if let Err(e) = log.write(now_s, &v.log_line(&rdata)) {
            self.pending = Some(e);
        }
    }

    /// Timers, about once a second.
    fn poll(&mut self, now_s: u32) {
        let Some(log) = self.log.as_mut() else { return };
        if self.polled == Some(now_s) {
            return;
        }
        self.polled = Some(now_s);
        if let Err(e) = log.poll(now_s) {
            self.pending = Some(e);
        }
    }

    fn flush(&mut self) {
        if let Some(Err(e)) = self.log.as_mut().map(DnsLog::flush) {
            self.pending = Some(e);
        }
    }

    /// The alert line of the failures since the last one, if any.
    fn alert(&mut self, when: &str) -> Option<String> {
        let e = self.pending.take()?;
        let st = self.log.as_ref().map(DnsLog::stats).unwrap_or_default();
        let errors = st.errors.saturating_sub(self.reported_errors);
        let dropped = st.dropped_lines.saturating_sub(self.reported_dropped);
        self.reported_errors = st.errors;
        self.reported_dropped = st.dropped_lines;
        Some(if errors > 1 {
            format!(
                "{e}; {errors} failures, {dropped} lines dropped since the last report [{when}]\n"
            )
        } else {
            format!("{e} [{when}]\n")
        })
    }
}

impl Exporter {
    /// Opens a socket per UDP collector, prepares the TCP ones (connected
    /// by the first `poll`), checks `ipfix_dev` and the MTU, and makes one
    /// ring (and its [`RecordSender`]) per worker.
    pub fn new(cfg: ExporterConfig) -> Result<(Exporter, Vec<RecordSender>), StartError> {
        crate::transport::check_device(&cfg.ipfix_dev)?;
        let cfg_dns_log = cfg.dns_log.clone();
        let mut collectors = Vec::with_capacity(cfg.collectors.len());
        let mut by_stream: [Vec<usize>; 3] = Default::default();
        for spec in &cfg.collectors {
            let v6 = spec.addr.is_ipv6();
            let mut scfg = match spec.transport {
                Transport::Udp => {
                    SessionConfig::udp(spec.stream, cfg.mtu, v6, cfg.udp_template_timer)
                }
                Transport::Tcp => SessionConfig::tcp(spec.stream, cfg.mtu, v6),
            };
            scfg.observation_domain = cfg.domain_id;
            scfg.exporting_process_id = cfg.exporting_process_id;
            let session = Session::new(scfg).map_err(|e| StartError {
                key: "ipfix_mtu",
                message: e.to_string(),
            })?;
            let tx = match spec.transport {
                Transport::Udp => {
                    Tx::Udp(UdpTransport::new(spec.addr, &cfg.ipfix_dev, spec.key())?)
                }
                Transport::Tcp => {
                    let mut t = TcpTransport::new(
                        spec.addr,
                        &cfg.ipfix_dev,
                        spec.key(),
                        scfg.max_message_len,
                    )?;
                    t.set_backoff(cfg.reconnect_min_us, cfg.reconnect_max_us);
                    t.set_send_buffer(cfg.tcp_send_buffer);
                    Tx::Tcp(t)
                }
            };
            if let Some(v) = by_stream.get_mut(si(spec.stream)) {
                v.push(collectors.len());
            }
            collectors.push(Collector {
                spec: *spec,
                tx,
                session,
                congested: false,
                c: CollectorCounters::default(),
                alert_skipped: 0,
                events: Vec::new(),
                last_failed: false,
                reported_not_sent: 0,
            });
        }
        let limit = collectors
            .iter()
            .map(|c| c.session.max_record_len())
            .min()
            .unwrap_or_else(|| crate::encoder::record_limit_for_mtu(cfg.mtu));
        let chunk_bytes = cfg.chunk_bytes.max(limit + 4);
        let ring_chunks = cfg.ring_chunks.max(1);
        let routes = Routes::new();
        let mut rings = Vec::with_capacity(cfg.workers);
        let mut senders = Vec::with_capacity(cfg.workers);
        for _ in 0..cfg.workers {
            let ring = Arc::new(ArrayQueue::new(ring_chunks));
            // Chunks in flight: the ring's, one being filled, one being drained.
            let pool = ring_chunks + 2;
            let free = Arc::new(ArrayQueue::new(pool));
            for _ in 0..pool {
                let _ = free.push(Chunk::with_capacity(chunk_bytes));
            }
            let shared = Arc::new(SenderShared::default());
            rings.push(WorkerRing {
                ring: Arc::clone(&ring),
                free: Arc::clone(&free),
                shared: Arc::clone(&shared),
            });
            senders.push(RecordSender {
                ring,
                free,
                shared,
                routes: routes.clone(),
                limit,
                cur: None,
            });
        }
        let max_msg = collectors
            .iter()
            .map(|c| c.session.config().max_message_len)
            .max()
            .unwrap_or(0);
        let published = Arc::new(Mutex::new(ExportStats {
            collectors: collectors.iter().map(Collector::stats).collect(),
            ..Default::default()
        }));
        let exporter = Exporter {
            left: vec![0; rings.len()],
            cfg,
            collectors,
            by_stream,
            rings,
            routes,
            buf: Vec::with_capacity(max_msg),
            streams: Default::default(),
            invalid: 0,
            cycle: CycleStats::default(),
            cycles_total: 0,
            over_total: 0,
            chunks_skipped: 0,
            stat_start: None,
            stat_sections: 0,
            alert: AlertAccum::default(),
            last_alert: None,
            alert_lines: 0,
            log_errors: 0,
            dns: DnsLogState {
                log: cfg_dns_log.map(DnsLog::new),
                ..DnsLogState::default()
            },
            published,
        };
        Ok((exporter, senders))
    }

    /// A handle for reading the counters from another thread.
    pub fn handle(&self) -> ExportHandle {
        ExportHandle {
            published: Arc::clone(&self.published),
            senders: self.rings.iter().map(|r| Arc::clone(&r.shared)).collect(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ExporterConfig {
        &self.cfg
    }

    /// The counters as of now (on the exporter's thread).
    pub fn stats(&self) -> ExportStats {
        self.publish();
        self.handle().snapshot()
    }

    /// Runs one send cycle; returns when the next should start (Unix µs).
    pub fn poll(&mut self, clock: &impl Clock) -> u64 {
        let start = clock.now_us();
        let now_s = (start / 1_000_000) as u32;
        let period = self.cfg.cycle_period_us;
        for c in &mut self.collectors {
            c.maintain(start);
        }

        // Drain: at most the chunks present now, one per ring in turn.
        for (l, r) in self.left.iter_mut().zip(&self.rings) {
            *l = r.ring.len();
        }
        let mut overrun = false;
        loop {
            let mut any = false;
            for (w, r) in self.rings.iter().enumerate() {
                let Some(l) = self.left.get_mut(w) else { break };
                if *l == 0 {
                    continue;
                }
                *l -= 1;
                let Some(mut chunk) = r.ring.pop() else {
                    *l = 0;
                    continue;
                };
                any = true;
                if !overrun && clock.now_us().saturating_sub(start) > period {
                    overrun = true;
                }
                if overrun {
                    self.chunks_skipped += 1;
                    self.alert.chunks += 1;
                    for (id, rec) in chunk.iter() {
                        if let Some(s) = self.routes.stream(id)
                            && let Some(st) = self.streams.get_mut(s)
                        {
                            st.received += 1;
                            st.skipped += 1;
                            st.skipped_octets += rec.len() as u64;
                            st.last_drop = now_s;
                            if st.first_drop == 0 {
                                st.first_drop = now_s;
                            }
                            if let Some(a) = self.alert.records.get_mut(s) {
                                *a += 1;
                            }
                        } else {
                            self.invalid += 1;
                        }
                    }
                } else {
                    for (id, rec) in chunk.iter() {
                        let Some(s) = self.routes.stream(id) else {
                            self.invalid += 1;
                            continue;
                        };
                        let to = self.by_stream.get(s).map_or(&[][..], |v| v.as_slice());
                        if let Some(st) = self.streams.get_mut(s) {
                            st.received += 1;
                            if to.is_empty() {
                                st.no_collector += 1;
                            }
                        }
                        if s == DNS {
                            self.dns.write(now_s, id, rec);
                        }
                        for &i in to {
                            if let Some(c) = self.collectors.get_mut(i) {
                                c.deliver(now_s, start, id, rec, &mut self.buf);
                            }
                        }
                    }
                }
                chunk.clear();
                let _ = r.free.push(chunk);
            }
            if !any {
                break;
            }
        }

        self.dns.poll(now_s);

        // Worker-side drops since the last cycle date the reliability records.
        for (s, st) in self.streams.iter_mut().enumerate() {
            let seen: u64 = self
                .rings
                .iter()
                .map(|r| {
                    let get =
                        |a: &[AtomicU64; 3]| a.get(s).map_or(0, |x| x.load(Ordering::Relaxed));
                    get(&r.shared.ring_full) + get(&r.shared.no_chunk) + get(&r.shared.too_long)
                })
                .sum();
            if seen > st.worker_drops_seen {
                st.worker_drops_seen = seen;
                st.last_drop = now_s;
                if st.first_drop == 0 {
                    st.first_drop = now_s;
                }
            }
        }

        // Flush every session.
        let stat_due = self.stat_start.is_some_and(|t0| {
            start.saturating_sub(t0) >= u64::from(self.cfg.stat_period_secs) * 1_000_000
        });
        for c in &mut self.collectors {
            let st = self
                .streams
                .get(si(c.spec.stream))
                .copied()
                .unwrap_or_default();
            let r = Reliability {
                not_sent_records: st.worker_drops_seen + st.skipped + c.c.backpressure + c.c.down,
                not_sent_packets: st.worker_drops_seen + st.skipped + c.c.backpressure + c.c.down,
                not_sent_octets: st.skipped_octets + c.c.octets_dropped,
                first_drop: match (st.first_drop, c.c.first_drop) {
                    (0, b) => b,
                    (a, 0) => a,
                    (a, b) => a.min(b),
                },
                last_drop: st.last_drop.max(c.c.last_drop),
            };
            c.session.set_reliability(r);
            if stat_due && r.not_sent_records != c.reported_not_sent {
                c.reported_not_sent = r.not_sent_records;
                c.session.report_reliability();
            }
            if c.is_up() {
                c.session.flush();
                c.transmit(now_s, start, &mut self.buf);
            }
        }

        let end = clock.now_us();
        let took = end.saturating_sub(start);
        self.cycle.record(took, period);
        self.cycles_total += 1;
        if took > period {
            self.over_total += 1;
        }
        if overrun {
            self.alert.overrun_cycles += 1;
            self.alert.longest_us = self.alert.longest_us.max(took);
        }
        self.statistics(end);
        self.alerts(end, false);
        self.publish();
        start.saturating_add(period)
    }

    /// Writes the statistics section when its period is over.
    fn statistics(&mut self, now: u64) {
        let Some(t0) = self.stat_start else {
            self.stat_start = Some(now);
            return;
        };
        let elapsed = now.saturating_sub(t0);
        if elapsed < u64::from(self.cfg.stat_period_secs) * 1_000_000 {
            return;
        }
        if self.cfg.stat_log {
            let text = logs::stat_section(now, &self.cycle, elapsed);
            match logs::append(&self.cfg.log_dir, logs::STAT_LOG, &text) {
                Ok(()) => self.stat_sections += 1,
                Err(_) => self.log_errors += 1,
            }
        }
        self.cycle = CycleStats::default();
        self.stat_start = Some(now);
    }

    /// Writes the pending alert lines, at most once per alert interval
    /// (`force`: now, at shutdown).
    fn alerts(&mut self, now: u64, force: bool) {
        let pending = self.alert.overrun_cycles > 0
            || self.dns.pending.is_some()
            || self
                .collectors
                .iter()
                .any(|c| c.alert_skipped > 0 || !c.events.is_empty());
        if !pending {
            return;
        }
        if !force
            && self
                .last_alert
                .is_some_and(|t| now.saturating_sub(t) < self.cfg.alert_interval_us)
        {
            return;
        }
        let when = logs::format_time(now);
        let mut text = String::new();
        let mut lines = 0;
        let a = core::mem::take(&mut self.alert);
        if a.overrun_cycles > 0 {
            let [c, m, d] = a.records;
            text.push_str(&format!(
                "[NFLW] very long operation: {} send cycle(s) ran past the {}us period (longest {}us): skipped {} chunk(s) = {} records (clickstream {c}, meta {m}, dns {d}) [{when}]\n",
                a.overrun_cycles,
                self.cfg.cycle_period_us,
                a.longest_us,
                a.chunks,
                c + m + d,
            ));
            lines += 1;
        }
        for c in &mut self.collectors {
            for e in c.events.drain(..) {
                text.push_str(&format!("{e} [{when}]\n"));
                lines += 1;
            }
            if c.alert_skipped > 0 {
                text.push_str(&format!(
                    "[NFLW] very long operation: collector {} is not keeping up (socket buffer full): skipped {} records [{when}]\n",
                    c.spec, c.alert_skipped
                ));
                c.alert_skipped = 0;
                lines += 1;
            }
        }
        if let Some(line) = self.dns.alert(&when) {
            text.push_str(&line);
            lines += 1;
        }
        match logs::append(&self.cfg.log_dir, logs::ALERT_LOG, &text) {
            Ok(()) => self.alert_lines += lines,
            Err(_) => self.log_errors += 1,
        }
        self.last_alert = Some(now);
    }

    /// Copies the counters where [`ExportHandle`] reads them (never waits:
    /// skipped when a reader holds the lock).
    fn publish(&self) {
        let Ok(mut g) = self.published.try_lock() else {
            return;
        };
        for (i, st) in g.streams.iter_mut().enumerate() {
            let own = self.streams.get(i).copied().unwrap_or_default();
            let (mut exported, mut bp, mut down) = (0, 0, 0);
            for &c in self.by_stream.get(i).map_or(&[][..], |v| v.as_slice()) {
                if let Some(c) = self.collectors.get(c) {
                    exported += c.c.exported;
                    bp += c.c.backpressure;
                    down += c.c.down;
                }
            }
            *st = StreamStats {
                received: own.received,
                dropped_skipped: own.skipped,
                exported,
                dropped_backpressure: bp,
                dropped_down: down,
                not_exported_no_collector: own.no_collector,
                ..StreamStats::default()
            };
        }
        for (g, c) in g.collectors.iter_mut().zip(&self.collectors) {
            *g = c.stats();
        }
        g.cycles = self.cycles_total;
        g.cycles_over = self.over_total;
        g.chunks_skipped = self.chunks_skipped;
        g.invalid_records = self.invalid;
        g.alert_lines = self.alert_lines;
        g.stat_sections = self.stat_sections;
        g.log_errors = self.log_errors;
        g.dns_log = self.dns.log.as_ref().map(DnsLog::stats);
        g.dns_log_unreadable = self.dns.unreadable;
    }

    /// The export loop for a thread or an lcore: polls every cycle period
    /// until `stop`, then drains and flushes once more.
    pub fn run(&mut self, clock: &impl Clock, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            let next = self.poll(clock);
            let now = clock.now_us();
            if next > now {
                std::thread::sleep(std::time::Duration::from_micros(
                    (next - now).min(self.cfg.cycle_period_us),
                ));
            }
        }
        self.shutdown(clock);
    }

    /// Polls until every TCP collector is connected (templates sent), at most
    /// `max_us`; returns the collectors still not up. Called before the workers
    /// start, so that the first records find their collectors connected.
    pub fn wait_for_collectors(&mut self, clock: &impl Clock, max_us: u64) -> Vec<CollectorSpec> {
        let deadline = clock.now_us() + max_us;
        loop {
            self.poll(clock);
            let down: Vec<CollectorSpec> = self
                .collectors
                .iter()
                .filter(|c| !c.is_up())
                .map(|c| c.spec)
                .collect();
            if down.is_empty() || clock.now_us() >= deadline {
                return down;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// A last cycle: what the workers handed over (stop them first) is
    /// drained and sent, without blocking; the DNS text log is flushed and
    /// the pending alert lines are written.
    pub fn shutdown(&mut self, clock: &impl Clock) {
        self.poll(clock);
        // Give congested collectors a short while to take what is held, then
        // count what is left as dropped: nothing is lost uncounted at exit.
        let deadline = clock.now_us() + SHUTDOWN_DRAIN_US;
        while self
            .collectors
            .iter()
            .any(|c| c.is_up() && c.session.held() > 0)
            && clock.now_us() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
            self.poll(clock);
        }
        let now_s = (clock.now_us() / 1_000_000) as u32;
        for c in &mut self.collectors {
            let held = c.session.held();
            if held > 0 {
                c.c.backpressure += u64::from(held);
                c.alert_skipped += u64::from(held);
                c.c.drop_at(now_s);
            }
        }
        self.dns.flush();
        self.alerts(clock.now_us(), true);
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Text;
    use crate::samples;
    use crate::template::Clickstream;

    #[test]
    fn exporter_and_senders_move_to_their_threads() {
        fn is_send<T: Send>() {}
        is_send::<Exporter>();
        is_send::<RecordSender>();
        is_send::<ExportHandle>();
    }

    #[test]
    fn routes_cover_every_template() {
        let r = Routes::new();
        for t in template::all() {
            assert_eq!(r.stream(t.id()), Some(si(t.def.stream)));
        }
        assert_eq!(r.stream(TemplateId(255)), None);
        assert_eq!(r.stream(TemplateId(280)), None);
        assert_eq!(r.stream(TemplateId(9999)), None);
    }

    #[test]
    fn keys_match_the_spec() {
        let spec = |stream, transport| CollectorSpec {
            stream,
            transport,
            addr: "127.0.0.1:1".parse().unwrap(),
        };
        assert_eq!(
            spec(Stream::Dns, Transport::Tcp).key(),
            "ipfix_dns_tcp_collectors"
        );
        assert_eq!(
            spec(Stream::Clickstream, Transport::Udp).key(),
            "ipfix_udp_collectors"
        );
        assert_eq!(
            spec(Stream::Meta, Transport::Udp).to_string(),
            "udp 127.0.0.1:1 (meta)"
        );
    }

    #[test]
    fn a_dns_record_the_log_cannot_read_is_counted_not_written() {
        let dir =
            std::env::temp_dir().join(format!("mp-exporter-unreadable-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dns.log");
        let mut cfg = ExporterConfig::new(&dir);
        cfg.dns_log = Some(DnsLogConfig {
            path: path.clone(),
            format: metaprobe_config::DnsLogField::ALL.to_vec(),
            bufsize: 1,
            fsize: 1 << 20,
            ftimeout_secs: 0,
        });
        let (mut ex, _senders) = Exporter::new(cfg).unwrap();
        let mut rec = Vec::with_capacity(1024);
        crate::encoder::encode(&samples::dns(5, false), 1024, &mut rec).unwrap();
        // Cut short, and as the other family: unreadable.
        ex.dns.write(5, TemplateId(272), &rec[..rec.len() - 1]);
        ex.dns.write(5, TemplateId(273), &rec);
        assert_eq!(ex.stats().dns_log_unreadable, 2);
        assert!(!path.exists());
        // Whole: one line (bufsize 1: written at once).
        ex.dns.write(5, TemplateId(272), &rec);
        let s = ex.stats();
        assert_eq!(s.dns_log_unreadable, 2);
        assert_eq!(s.dns_log.unwrap().lines, 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with("\twww.example.com\t1\t1\t300\t4\t93.184.216.34\n"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn full_ring_gives_the_chunk_back_and_counts() {
        let dir = std::env::temp_dir();
        let mut cfg = ExporterConfig::new(&dir);
        cfg.ring_chunks = 2;
        cfg.chunk_bytes = 256;
        let (ex, mut senders) = Exporter::new(cfg).unwrap();
        let tx = senders.pop().unwrap();
        let mut sent = 0;
        let mut refused = None;
        for _ in 0..3 {
            let mut c = tx.take_chunk().unwrap();
            c.push(&samples::dns(1, false), tx.record_limit()).unwrap();
            match tx.try_send(c) {
                Ok(()) => sent += 1,
                Err(c) => refused = Some(c),
            }
        }
        assert_eq!(sent, 2);
        let c = refused.expect("third chunk refused");
        assert_eq!(c.records(), 1);
        let s = ex.handle().snapshot();
        assert_eq!(s.stream(Stream::Dns).dropped_ring_full, 1);
        assert_eq!(s.stream(Stream::Dns).produced, 1);
        // Pool: ring 2 + 2; two in the ring, one refused in hand: one left.
        assert!(tx.take_chunk().is_some());
        assert!(tx.take_chunk().is_none());
    }

    #[test]
    fn records_cut_to_fit_the_mtu_are_counted() {
        let (ex, mut senders) = Exporter::new(ExporterConfig::new(std::env::temp_dir())).unwrap();
        let mut tx = senders.pop().unwrap();
        let long_path = "/p".repeat(3000);
        let record = Clickstream {
            path: Text::new(long_path.as_bytes()),
            ..samples::clickstream(1, false)
        };
        assert!(tx.push(&samples::clickstream(1, false)));
        assert!(tx.push(&record), "a long field is cut, the record kept");
        let s = ex.handle().snapshot();
        assert_eq!(s.stream(Stream::Clickstream).truncated, 1);
    }
}
