//! What the exporter counts, per stream and per collector, and how another
//! thread reads it: the export lcore publishes its counters once per cycle
//! (never waiting for a reader), the workers' counters are read live.

use super::Exporter;
use super::config::CollectorSpec;
use crate::dnslog::{DnsLog, DnsLogStats};
use metaprobe_ipfix::ring::SenderCounters;
use metaprobe_ipfix::template::Stream;
use std::sync::{Arc, Mutex};

/// Record counts of one stream. Records reach every collector of their
/// stream: `exported` and the collector drops (`dropped_backpressure`,
/// `dropped_down`, `dropped_unreachable`, `dropped_refused`,
/// `dropped_unacked`) count (record, collector) deliveries, summed over the
/// stream's collectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Records the workers made: received + ring full + no chunk + too long.
    pub produced: u64,
    /// Records drained from the rings by the export lcore.
    pub received: u64,
    /// Deliveries written to a UDP collector, or acknowledged by a TCP one.
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
    /// Deliveries dropped because a collector could not be reached (no route,
    /// host or net unreachable).
    pub dropped_unreachable: u64,
    /// Deliveries dropped because nothing listened on a UDP collector's port
    /// (ICMP port unreachable).
    pub dropped_refused: u64,
    /// Deliveries written to a TCP connection and never acknowledged by the
    /// collector before it died (or before the probe stopped).
    pub dropped_unacked: u64,
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
    /// Data records written (UDP) or acknowledged (TCP).
    pub exported: u64,
    /// Data records skipped: socket buffer (TCP: and backlog) full.
    pub dropped_backpressure: u64,
    /// Data records dropped: collector down or send failed.
    pub dropped_down: u64,
    /// Data records dropped: the collector could not be reached.
    pub dropped_unreachable: u64,
    /// Data records dropped: nothing listened on its UDP port.
    pub dropped_refused: u64,
    /// Data records written to its TCP connection, never acknowledged.
    pub dropped_unacked: u64,
    /// Data records written to its TCP connection, not acknowledged yet (a
    /// gauge: they become exported or unacked).
    pub unacked: u64,
    /// Octets waiting in its TCP backlog for the socket (a gauge).
    pub backlog_octets: u64,
    /// Messages written (templates included).
    pub messages: u64,
    /// Template messages that could not be written.
    pub templates_lost: u64,
    /// Records cut again to fit its (UDP) messages: encoded whole for the
    /// stream's TCP collectors.
    pub refitted: u64,
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
    /// Times the log files were reopened ([`Exporter::reopen_flag`], SIGHUP).
    pub log_reopens: u64,
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
    pub(super) published: Arc<Mutex<ExportStats>>,
    pub(super) senders: Vec<SenderCounters>,
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
            let n = w.load();
            for (st, k) in s.streams.iter_mut().zip(Stream::ALL) {
                st.dropped_ring_full += k.of(&n.ring_full);
                st.dropped_no_chunk += k.of(&n.no_chunk);
                st.dropped_too_long += k.of(&n.too_long);
                st.truncated += k.of(&n.truncated);
            }
        }
        for st in &mut s.streams {
            st.produced =
                st.received + st.dropped_ring_full + st.dropped_no_chunk + st.dropped_too_long;
        }
        s
    }
}

impl Exporter {
    /// Copies the counters where [`ExportHandle`] reads them (never waits:
    /// skipped when a reader holds the lock).
    pub(super) fn publish(&self) {
        let Ok(mut g) = self.published.try_lock() else {
            return;
        };
        for (st, k) in g.streams.iter_mut().zip(Stream::ALL) {
            let own = k.of(&self.streams);
            let mut sum = StreamStats {
                received: own.received,
                dropped_skipped: own.skipped,
                not_exported_no_collector: own.no_collector,
                ..StreamStats::default()
            };
            for &c in self
                .by_stream
                .get(k.index())
                .map_or(&[][..], |v| v.as_slice())
            {
                if let Some(c) = self.collectors.get(c) {
                    sum.exported += c.c.exported;
                    sum.dropped_backpressure += c.c.backpressure;
                    sum.dropped_down += c.c.down;
                    sum.dropped_unreachable += c.c.unreachable;
                    sum.dropped_refused += c.c.refused;
                    sum.dropped_unacked += c.c.unacked;
                    sum.truncated += c.c.refitted;
                }
            }
            *st = sum;
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
        g.log_reopens = self.log_reopens;
        g.dns_log = self.dns.log.as_ref().map(DnsLog::stats);
        g.dns_log_unreadable = self.dns.unreadable;
    }
}
