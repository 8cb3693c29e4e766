//! The export lcore's loop body, without DPDK: worker rings in, IPFIX
//! messages out to every collector of every stream.
//!
//! Its parts, a file each: `config` (what it is told), `collector` (one
//! collector's socket, session and backpressure), `stats` (what it counts
//! and how another thread reads it), `alerts` (the `fastdpi_alert.log`
//! lines), `dns` (driving the DNS text log), `clock`; this file is the loop.
//!
//! ```text
//!  worker 0: RecordSender ──ArrayQueue<Chunk>──┐            ┌─► Session ─► UdpTransport ─► collector
//!     ▲          └────────◄── free chunks ◄────┤  Exporter  ├─► Session ─► TcpTransport ─► collector
//!  worker 1: RecordSender ──ArrayQueue<Chunk>──┘  ::poll    └─► …   (3 streams × their collectors)
//! ```
//!
//! - A worker encodes records into a chunk and hands full chunks over
//!   ([`RecordSender`], the core's [`metaprobe_ipfix::ring`]): a full ring
//!   gives the chunk back and counts its records as dropped; the worker
//!   never waits. Chunks come back through a free ring: after start-up
//!   nothing is allocated.
//! - [`Exporter::poll`] runs one send cycle: TCP connections are driven
//!   (connect, reconnect with backoff, templates first), the chunks present
//!   in the rings are drained and every record goes to every collector of
//!   its stream, then every session is flushed. The cycle has a period
//!   ([`ExporterConfig::cycle_period_us`]); a cycle that runs past it skips
//!   the rest of the chunks, and a collector whose socket is full (EAGAIN;
//!   TCP: and its backlog, `ipfix_tcp_backlog`) skips the rest of the
//!   cycle's records: skipped records are counted and
//!   reported with `[NFLW] very long operation ...` in `fastdpi_alert.log`,
//!   rate-limited. Nothing blocks and nothing queues without bound.
//! - Time comes from a [`Clock`] passed to `poll` (the cycle reads it at its
//!   start, between chunks and at its end), so tests drive it by hand.
//! - Every `netflow_timeout` seconds the cycle statistics of spec §9 go to
//!   `fastdpi_stat.log` (with `dbg_log_mask & 0x80`), and, when they moved,
//!   the drop counts and the probe's counters go to each collector as a
//!   statistics report: an RFC 7011 §4.3 reliability record and a counter
//!   record per counter. The counters are read on this thread from a
//!   [`CounterSource`] (the binary reads the workers' published counters, as
//!   its stats line does): no worker does anything for them. Every template
//!   round ends with the report as last read, and [`Exporter::shutdown`]
//!   sends a last one with the final values.
//! - The DNS text log (spec §8, [`ExporterConfig::dns_log`]) is written here,
//!   never by a worker: every DNS record (templates 272/273) the cycle drains
//!   is read back from its encoded bytes
//!   ([`metaprobe_ipfix::dns_record::DnsRecordView`]) and written as a line,
//!   whether or not the dns stream has collectors, so IPFIX and the log
//!   agree record for record (records of a chunk skipped by an overrun cycle
//!   are skipped by both). The log is polled once a second (time rotation,
//!   lines that waited) and flushed by [`Exporter::shutdown`]; its failures
//!   are `[DNSLOG]` lines in `fastdpi_alert.log` (rate-limited like the
//!   others) and counted drops, never a panic.
//! - Records of a stream without collectors are counted as not exported
//!   ([`StreamStats::not_exported_no_collector`]), without an alert.

mod alerts;
mod clock;
mod collector;
mod config;
mod dns;
mod stats;

pub use clock::{Clock, SystemClock};
pub use config::{CollectorSpec, ExporterConfig};
pub use stats::{CollectorStats, ExportHandle, ExportStats, StreamStats};

use crate::dnslog::DnsLog;
use crate::logs::{self, CycleStats};
use crate::transport::{StartError, TcpTransport, UdpTransport};
use alerts::AlertAccum;
use collector::{Collector, Tx};
use dns::DnsLogState;
use metaprobe_ipfix::encoder::record_limit_for_mtu;
use metaprobe_ipfix::ring::{RecordReceiver, RecordSender, RingConfig, ring};
use metaprobe_ipfix::session::{NamedCount, Reliability, Session, SessionConfig, Transport};
use metaprobe_ipfix::template::{Routes, Stream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How long [`Exporter::shutdown`] waits for a congested collector that
/// takes nothing, µs: the wait goes on while collectors take what waits for
/// them (a TCP backlog), up to [`SHUTDOWN_DRAIN_MAX_US`].
const SHUTDOWN_DRAIN_US: u64 = 200_000;
/// The longest [`Exporter::shutdown`] waits for collectors, µs.
const SHUTDOWN_DRAIN_MAX_US: u64 = 10_000_000;

/// Fills a list with the probe's counters (see the module's notes); called
/// on the export thread at each statistics period and at the end of a run.
pub type CounterSource = Box<dyn FnMut(&mut Vec<NamedCount>) + Send>;

/// The probe's counters for the statistics reports.
#[derive(Default)]
struct ProbeCounters {
    source: Option<CounterSource>,
    /// As last read: what the sessions report.
    current: Vec<NamedCount>,
    /// The read before it is compared (its buffer kept).
    read: Vec<NamedCount>,
}

impl ProbeCounters {
    /// Reads the source; true when a counter moved since the last read.
    fn refresh(&mut self) -> bool {
        let Some(source) = &mut self.source else {
            return false;
        };
        self.read.clear();
        source(&mut self.read);
        if self.read == self.current {
            return false;
        }
        core::mem::swap(&mut self.read, &mut self.current);
        true
    }
}

impl core::fmt::Debug for ProbeCounters {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ProbeCounters")
            .field("source", &self.source.is_some())
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

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

/// The export lcore: owns the sessions and sockets of every collector and
/// the exporter's ends of the worker rings.
#[derive(Debug)]
pub struct Exporter {
    cfg: ExporterConfig,
    collectors: Vec<Collector>,
    by_stream: [Vec<usize>; 3],
    rings: Vec<RecordReceiver>,
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
    /// Set by another thread (SIGHUP) to have the log files reopened; polled by
    /// every cycle, never waited on.
    reopen: Arc<AtomicBool>,
    log_reopens: u64,
    counters: ProbeCounters,
    published: Arc<Mutex<ExportStats>>,
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
            scfg.observation_domain = cfg.domain_id(spec.stream);
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
                        scfg.record_message_len(),
                        cfg.tcp_backlog,
                    )?;
                    t.set_backoff(cfg.reconnect_min_us, cfg.reconnect_max_us);
                    t.set_send_buffer(cfg.tcp_send_buffer);
                    Tx::Tcp(t)
                }
            };
            if let Some(v) = by_stream.get_mut(spec.stream.index()) {
                v.push(collectors.len());
            }
            collectors.push(Collector::new(*spec, tx, session));
        }
        // The longest any collector takes: TCP collectors get fields whole,
        // UDP collectors' records are cut again to their MTU on delivery.
        let record_limit = collectors
            .iter()
            .map(|c| c.session.max_record_len())
            .max()
            .unwrap_or_else(|| record_limit_for_mtu(cfg.mtu));
        let ring_cfg = RingConfig {
            ring_chunks: cfg.ring_chunks,
            chunk_bytes: cfg.chunk_bytes,
            record_limit,
        };
        let (senders, rings): (Vec<_>, Vec<_>) = (0..cfg.workers).map(|_| ring(ring_cfg)).unzip();
        let max_msg = collectors
            .iter()
            .map(|c| c.session.config().record_message_len())
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
            routes: Routes::new(),
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
            reopen: Arc::new(AtomicBool::new(false)),
            log_reopens: 0,
            counters: ProbeCounters::default(),
            published,
        };
        Ok((exporter, senders))
    }

    /// A handle for reading the counters from another thread.
    pub fn handle(&self) -> ExportHandle {
        ExportHandle {
            published: Arc::clone(&self.published),
            senders: self.rings.iter().map(RecordReceiver::counters).collect(),
        }
    }

    /// The flag that has the next cycle reopen the log files (set it on SIGHUP): the
    /// DNS text log is written out and `ajb_dns_path` opened again (created anew when
    /// logrotate moved it away); `fastdpi_alert.log` and `fastdpi_stat.log` are opened
    /// for every write already, and an alert line says the logs were reopened, so a
    /// moved alert log is back at once.
    pub fn reopen_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.reopen)
    }

    /// Where the statistics reports read the probe's counters (none: the
    /// reports carry the reliability record alone).
    pub fn set_counter_source(&mut self, source: CounterSource) {
        self.counters.source = Some(source);
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
        if self.reopen.swap(false, Ordering::Relaxed) {
            self.dns.reopen();
            self.log_reopens += 1;
            self.alert.reopened = true;
        }
        for c in &mut self.collectors {
            c.maintain(start);
        }

        // Drain: at most the chunks present now, one per ring in turn.
        let high_water = (self.cfg.ring_chunks * 3 / 4).max(1);
        for (l, r) in self.left.iter_mut().zip(&self.rings) {
            *l = r.len();
        }
        let mut overrun = false;
        loop {
            let mut any = false;
            for (w, r) in self.rings.iter().enumerate() {
                let Some(l) = self.left.get_mut(w) else { break };
                if *l == 0 {
                    continue;
                }
                if !overrun && clock.now_us().saturating_sub(start) > period {
                    overrun = true;
                }
                // Past the period, a ring with room keeps its chunks for the next
                // cycle (nothing is lost to a slow cycle alone); a ring near full
                // is skipped down to its high-water mark, so the workers keep room.
                if overrun && r.len() <= high_water {
                    *l = 0;
                    continue;
                }
                *l -= 1;
                let Some(chunk) = r.pop() else {
                    *l = 0;
                    continue;
                };
                any = true;
                if overrun {
                    self.chunks_skipped += 1;
                    self.alert.chunks += 1;
                    for (id, rec) in chunk.iter() {
                        if let Some(s) = self.routes.stream(id)
                            && let Some(st) = self.streams.get_mut(s.index())
                        {
                            st.received += 1;
                            st.skipped += 1;
                            st.skipped_octets += rec.len() as u64;
                            st.last_drop = now_s;
                            if st.first_drop == 0 {
                                st.first_drop = now_s;
                            }
                            if let Some(a) = self.alert.records.get_mut(s.index()) {
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
                        let to = self
                            .by_stream
                            .get(s.index())
                            .map_or(&[][..], |v| v.as_slice());
                        if let Some(st) = self.streams.get_mut(s.index()) {
                            st.received += 1;
                            if to.is_empty() {
                                st.no_collector += 1;
                            }
                        }
                        if s == Stream::Dns {
                            self.dns.write(now_s, id, rec);
                        }
                        for &i in to {
                            if let Some(c) = self.collectors.get_mut(i) {
                                c.deliver(now_s, start, id, rec, &mut self.buf);
                            }
                        }
                    }
                }
                r.recycle(chunk);
            }
            if !any {
                break;
            }
        }

        self.dns.poll(now_s);

        // Worker-side drops since the last cycle date the reliability records.
        let mut seen = [0u64; 3];
        for r in &self.rings {
            let n = r.counts();
            for (acc, s) in seen.iter_mut().zip(Stream::ALL) {
                *acc += n.dropped(s);
            }
        }
        for (st, seen) in self.streams.iter_mut().zip(seen) {
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
        let counters_moved = stat_due && self.counters.refresh();
        for c in &mut self.collectors {
            let st = c.spec.stream.of(&self.streams);
            let not_sent = st.worker_drops_seen + st.skipped + c.c.not_sent();
            let r = Reliability {
                not_sent_records: not_sent,
                not_sent_packets: not_sent,
                not_sent_octets: st.skipped_octets + c.c.octets_dropped,
                first_drop: match (st.first_drop, c.c.first_drop) {
                    (0, b) => b,
                    (a, 0) => a,
                    (a, b) => a.min(b),
                },
                last_drop: st.last_drop.max(c.c.last_drop),
            };
            c.session.set_reliability(r);
            if counters_moved {
                c.session.set_counters(&self.counters.current);
            }
            if stat_due && (counters_moved || r.not_sent_records != c.reported_not_sent) {
                c.reported_not_sent = r.not_sent_records;
                c.session.report_statistics();
            }
            if c.is_up() && !c.held(start) {
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
    /// drained and sent, without blocking, with a last statistics report of
    /// the final counters; the DNS text log is flushed and the pending alert
    /// lines are written.
    pub fn shutdown(&mut self, clock: &impl Clock) {
        // The final counters (the workers have stopped) go to every collector.
        self.counters.refresh();
        for c in &mut self.collectors {
            c.session.set_counters(&self.counters.current);
            c.session.report_statistics();
        }
        self.poll(clock);
        // Give congested collectors a while to take what is held, and TCP
        // collectors to acknowledge what they were sent (their backlogs),
        // as long as they make progress; then count what is left as dropped:
        // nothing is lost uncounted at exit.
        let waiting = |ex: &Self| -> u64 {
            ex.collectors
                .iter()
                .filter(|c| c.is_up())
                .map(|c| u64::from(c.session.held()) + c.unacked())
                .sum()
        };
        let start = clock.now_us();
        let mut deadline = start + SHUTDOWN_DRAIN_US;
        let mut left = waiting(self);
        while left > 0 && clock.now_us() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
            self.poll(clock);
            let now_left = waiting(self);
            if now_left < left {
                deadline = (clock.now_us() + SHUTDOWN_DRAIN_US).min(start + SHUTDOWN_DRAIN_MAX_US);
            }
            left = now_left;
        }
        let now_s = (clock.now_us() / 1_000_000) as u32;
        for c in &mut self.collectors {
            let held = c.session.held();
            if held > 0 {
                c.c.backpressure += u64::from(held);
                c.alert_skipped += u64::from(held);
                c.c.drop_at(now_s);
            }
            let unacked = c.unacked();
            if unacked > 0 {
                c.c.unacked += unacked;
                c.events.push(format!(
                    "[NFLW] collector {}: {unacked} records written to it were not acknowledged when the probe stopped (counted unacked)",
                    c.spec
                ));
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
    use crate::dnslog::{DnsLogConfig, LineField};
    use metaprobe_ipfix::field::Text;
    use metaprobe_ipfix::samples;
    use metaprobe_ipfix::template::{Clickstream, TemplateId};

    #[test]
    fn exporter_and_senders_move_to_their_threads() {
        fn is_send<T: Send>() {}
        is_send::<Exporter>();
        is_send::<RecordSender>();
        is_send::<ExportHandle>();
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
            format: LineField::ALL.to_vec(),
            bufsize: 1,
            fsize: 1 << 20,
            ftimeout_secs: 0,
        });
        let (mut ex, _senders) = Exporter::new(cfg).unwrap();
        let mut rec = Vec::with_capacity(1024);
        metaprobe_ipfix::encoder::encode(&samples::dns(5, false), 1024, &mut rec).unwrap();
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

    /// What the workers count (ring full, cut to fit) reaches the handle's
    /// snapshot, per stream.
    #[test]
    fn worker_counts_reach_the_snapshot() {
        let mut cfg = ExporterConfig::new(std::env::temp_dir());
        cfg.ring_chunks = 1;
        let (ex, mut senders) = Exporter::new(cfg).unwrap();
        let mut tx = senders.pop().unwrap();
        for _ in 0..2 {
            let mut c = tx.take_chunk().unwrap();
            c.push(&samples::dns(1, false), tx.record_limit()).unwrap();
            let _ = tx.try_send(c);
        }
        let long_path = "/p".repeat(3000);
        let record = Clickstream {
            path: Text::new(long_path.as_bytes()),
            ..samples::clickstream(1, false)
        };
        assert!(tx.push(&record), "a long field is cut, the record kept");
        let s = ex.handle().snapshot();
        assert_eq!(s.stream(Stream::Dns).dropped_ring_full, 1);
        assert_eq!(s.stream(Stream::Dns).produced, 1);
        assert_eq!(s.stream(Stream::Clickstream).truncated, 1);
        assert_eq!(s.stream(Stream::Meta), &StreamStats::default());
    }
}
